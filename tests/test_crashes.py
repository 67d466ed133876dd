"""Crashes at chosen points (monitor/crashpoints.py): the real command line killed with SIGKILL
in the middle of a batch, with a feed's cursor written but not committed, and right after the
last batch committed, before the pattern refresh. Each time the ledger verifies, and running
again without the crash records every report exactly once and leaves the ledger a run that
never crashed leaves. (The import's worker killed at a hand-over: test_pipeline.py.)"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.crashpoints import ENV, POINTS
from monitor.ledger import Ledger

sys.path.insert(0, str(Path(__file__).parent))
from procs import wait_until, with_env  # noqa: E402
from test_daemon import MONITOR, env_for, ucdp_subset  # noqa: E402
from test_pipeline import content  # noqa: E402

FEED_ROWS, FEED_BATCH = 500, 50  # the daemon: 10 batches, each with its cursor
IMPORT_LINES, IMPORT_BATCH = 1500, 500  # monitor import: 3 batches (--batch-size)
# Commits before a run's first batch: the migrations' transaction when the ledger is opened.
OPENING_COMMITS = 1
# A run's own account of itself, not data: a crashed run writes none, the run after it one
# with that run's counts.
RUN_TABLES = {"feed_health"}


def monitor(args: list[str], env: dict[str, str], cwd: Path, crash_at: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in env.items() if k != ENV}
    if crash_at is not None:
        env[ENV] = crash_at
    return subprocess.run(MONITOR + args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def assert_crashed_at(run: subprocess.CompletedProcess[str], crash_at: str) -> None:
    assert run.returncode == -signal.SIGKILL, (
        f"expected the crash {crash_at}, got exit status {run.returncode}:\n{run.stderr}")
    assert f"monitor: crash injected at {crash_at}" in run.stderr


def assert_verifies(env: dict[str, str], cwd: Path) -> None:
    verify = monitor(["ledger", "verify"], env, cwd)
    assert verify.returncode == 0 and "hash chain intact" in verify.stdout, verify.stderr


def reports(db: Path) -> tuple[int, int]:
    """How many reports the ledger holds, and how many distinct (feed, source id)."""
    [row] = Ledger.open(db, readonly=True).query(
        "SELECT count(*) AS n, count(DISTINCT feed || '/' || source_id) AS d FROM reports")
    return row["n"], row["d"]


def patterns_owed(db: Path) -> bool:
    """Whether recorded reports wait for their patterns (escalations, calm days) to be
    brought up to date: a crash before a run's pattern refresh leaves them owed."""
    return Ledger.open(db, readonly=True).pattern_work()[0] > 0


def data(db: Path) -> dict[str, list[tuple]]:
    return {t: rows for t, rows in content(db).items() if t not in RUN_TABLES}


# --- the daemon: `monitor run --once` on a UCDP file -------------------------------------


def daemon_project(folder: Path) -> dict[str, str]:
    env = env_for(folder)
    ucdp_subset(folder / "feeds" / "ucdp.csv", FEED_ROWS)
    (folder / "feeds" / "ucdp.yaml").write_text(
        f"name: ucdp\nadapter: ucdp\nsource: ucdp.csv\noptions: {{batch_size: {FEED_BATCH}}}\n")
    return env


@pytest.fixture(scope="module")
def daemon_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    """The ledger of one run that never crashed."""
    folder = tmp_path_factory.mktemp("daemon-reference")
    run = monitor(["run", "--once"], daemon_project(folder), folder)
    assert run.returncode == 0, run.stderr
    return data(folder / "l.db")


LAST_BATCH_COMMIT = OPENING_COMMITS + FEED_ROWS // FEED_BATCH


@pytest.mark.parametrize(("crash_at", "kept"), [
    ("service.record:120", 100),  # 120th report: the 3rd batch is rolled back whole
    ("service.cursor:3", 100),  # the 3rd batch and its cursor, written and not committed
    (f"ledger.commit:{LAST_BATCH_COMMIT}", FEED_ROWS),  # every batch, not the pattern refresh
], ids=["mid-batch", "cursor written not committed",
        "after the last batch before the pattern refresh"])
def test_the_daemon_killed_at_a_chosen_point_loses_and_repeats_nothing(
        tmp_path, daemon_reference, crash_at, kept):
    env = daemon_project(tmp_path)
    db = tmp_path / "l.db"
    crashed = monitor(["run", "--once"], env, tmp_path, crash_at=crash_at)
    assert_crashed_at(crashed, crash_at)
    assert reports(db) == (kept, kept)
    assert Ledger.open(db, readonly=True).feed_cursor("ucdp").get("rows_done", 0) == kept
    assert patterns_owed(db)
    assert_verifies(env, tmp_path)
    again = monitor(["run", "--once"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"ucdp: {FEED_ROWS - kept} new, 0 already recorded" in again.stdout
    assert reports(db) == (FEED_ROWS, FEED_ROWS) and not patterns_owed(db)
    assert Ledger.open(db, readonly=True).verify().ok
    # the same reports, incidents, findings, cursors, calm days and alerts
    assert data(db) == daemon_reference


# --- `monitor import` of a JSON Lines file, in one process and in two -------------------


def jsonl_project(folder: Path, lines: int = IMPORT_LINES) -> tuple[dict[str, str], Path]:
    """The environment of a project in ``folder``, and a JSON Lines file of ``lines`` air
    strikes on civilians, one point each, all within 0.2 degrees."""
    env = env_for(folder)
    source = folder / "drop.jsonl"
    with source.open("w") as fh:
        for i in range(lines):
            fh.write(json.dumps({"source_id": f"k{i}", "occurred": "2016-08-10",
                                 "attacker": "Syrian air force", "target": "civilians",
                                 "event_type": "air_strike",
                                 "location": {"lat": 35.0 + i / max(10_000, 5 * lines),
                                              "lon": 36.5},
                                 "notes": "barrel bombs on the market"}) + "\n")
    return env, source


def import_args(source: Path, mode: str) -> list[str]:
    return ["import", str(source), "--format", "jsonl", mode, "--batch-size", str(IMPORT_BATCH)]


@pytest.fixture(scope="module")
def import_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    folder = tmp_path_factory.mktemp("import-reference")
    env, source = jsonl_project(folder)
    run = monitor(import_args(source, "--no-pipeline"), env, folder)
    assert run.returncode == 0, run.stderr
    return data(folder / "l.db")


@pytest.mark.parametrize(("mode", "crash_at", "kept"), [
    # the 700th report: the 2nd batch is rolled back; the worker, still handing batches
    # over, must die with the import
    ("--pipeline", "service.record:700", 500),
    ("--no-pipeline", f"ledger.commit:{OPENING_COMMITS + IMPORT_LINES // IMPORT_BATCH}",
     IMPORT_LINES),  # every batch, not the pattern refresh
], ids=["two processes mid-batch", "one process after the last batch before the pattern refresh"])
def test_an_import_killed_at_a_chosen_point_loses_and_repeats_nothing(
        tmp_path, import_reference, mode, crash_at, kept):
    env, source = jsonl_project(tmp_path)
    db = tmp_path / "l.db"
    crashed = monitor(import_args(source, mode), env, tmp_path, crash_at=crash_at)
    assert_crashed_at(crashed, crash_at)
    # the worker of a two-process import dies with it (it must not go on reading, or hold
    # the file): no process with this test's ledger in its environment is left
    assert wait_until(lambda: not with_env(f"MONITOR_DB={db}"), 30), (
        f"processes outlived the import: {with_env(f'MONITOR_DB={db}')}")
    assert reports(db) == (kept, kept) and patterns_owed(db)
    assert_verifies(env, tmp_path)
    again = monitor(import_args(source, mode), env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{IMPORT_LINES - kept} new report(s), {kept} already recorded" in again.stdout
    assert reports(db) == (IMPORT_LINES, IMPORT_LINES) and not patterns_owed(db)
    assert Ledger.open(db, readonly=True).verify().ok
    assert data(db) == import_reference


# --- the hook itself ----------------------------------------------------------------------


def test_every_crash_point_is_placed_in_the_code_and_a_test_crashes_there():
    root = Path(__file__).parents[1]
    code = "".join(p.read_text() for p in (root / "monitor").rglob("*.py"))
    tests = "".join(p.read_text() for p in (root / "tests").glob("test_*.py"))
    for point in POINTS:
        assert f'crash_point("{point}")' in code, f"{point} is not placed in monitor/"
        assert f'"{point}:' in tests, f"no test crashes at {point}"


@pytest.mark.parametrize("value", ["ledger.comit:3", "ledger.commit:0", "ledger.commit:x"])
def test_a_misspelt_crash_point_is_refused_rather_than_never_reached(tmp_path, value):
    run = monitor(["ledger", "verify"], env_for(tmp_path), tmp_path, crash_at=value)
    assert run.returncode != 0 and f"{ENV}={value!r}" in run.stderr
