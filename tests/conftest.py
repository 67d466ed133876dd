"""Shared fixtures: the real default pack (loaded once), a fixed clock, a real ledger file."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from monitor.config import PROJECT_ROOT, Pack, load_pack
from monitor.ledger import Ledger
from monitor.service import Monitor

# The zone geometries' cache (monitor.zones.cache) of the test runs: a folder of their own, not
# the user's; shared by the suite's processes (an entry is keyed by content and written whole)
os.environ.setdefault("MONITOR_CACHE", str(Path(tempfile.gettempdir()) / "ceasefire-monitor-tests"))

CONFIG = PROJECT_ROOT / "config"
SHARED = PROJECT_ROOT.parent / "shared"


def copy_project(folder: Path, feeds: bool = False) -> Path:
    """The project's configuration and rules copied into ``folder`` (with ``feeds``, its feed
    files too, without their data), for a test that edits them; returns the copy's config
    folder (the rules sit beside it, where pack.yaml looks for them)."""
    shutil.copytree(PROJECT_ROOT / "config", folder / "config")
    shutil.copytree(PROJECT_ROOT / "rules", folder / "rules")
    if feeds:
        shutil.copytree(PROJECT_ROOT / "feeds", folder / "feeds",
                        ignore=shutil.ignore_patterns("data", "drop", "samples"))
    return folder / "config"


class FixedClock:
    """A clock that advances one second per reading, from a fixed instant."""

    def __init__(self, start: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)):
        self.now = start

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.fixture(scope="session")
def pack() -> Pack:
    return load_pack(CONFIG, "syria-2016")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def ledger(tmp_path: Path, clock: FixedClock) -> Ledger:
    led = Ledger.open(tmp_path / "ledger.db", clock=clock)
    yield led
    led.close()


@pytest.fixture
def monitor(pack: Pack, ledger: Ledger, clock: FixedClock) -> Monitor:
    return Monitor(pack, ledger, clock=clock)
