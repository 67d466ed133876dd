"""Where things are and what ``config/monitor.yaml`` says: the settings every command reads
first, and what read commands need of a pack without loading it (its names, its time zone).

This is the only module that reads environment variables (``MONITOR_CONFIG``, ``MONITOR_DB``,
``MONITOR_PACK``), but for the tests' crash hook ``MONITOR_CRASH_AT``, read by
:mod:`monitor.crashpoints`. It builds no model but the settings' own, so a command that only
reads the ledger starts without the pack's models (:mod:`.config` loads a pack).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError

from .filemodel import FileModel
from .problems import ProblemsError, from_validation, read_yaml
from .webhooks import WebhookSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = "monitor.yaml"


class BriefsSpec(FileModel):
    """The daemon's daily brief (``monitor report --daily`` on a schedule)."""

    output_dir: str = Field(default="var/briefs", description="where the briefs are written")
    format: Literal["html", "md"] = "html"
    cutoff: str = Field(default="19:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
                        description="the daily cut-off, local time of the pack")


class Settings(FileModel):
    """``config/monitor.yaml``."""

    pack: str = Field(description="the agreement pack in force: a folder of config/")
    db: str = Field(default="var/ledger.db", description="the ledger file")
    checkpoints: str | None = Field(
        default="checkpoints.txt",
        description="where the daemon writes the ledger's head after every run, outside the "
                    "ledger file: relative to the ledger's folder, or absolute (another disk "
                    "is better); null: nowhere")
    feeds: str = Field(default="feeds", description="folder of feed definitions")
    webhooks: list[WebhookSpec] = Field(default_factory=list,
                                        description="where alerts are POSTed")
    briefs: BriefsSpec | None = Field(default=None, description="daily briefs by the daemon")
    day_cutoff: str = Field(
        default="19:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$",
        description="the daily cut-off, local time of the pack: every day, period and count "
                    "(briefs, findings --since/--until, Datasette) runs from cut-off to cut-off")


@dataclass(frozen=True)
class Paths:
    """Where things are, decided once from flags, environment and settings."""

    config: Path
    db: Path
    feeds: Path
    settings: Settings


def resolve_paths(config: str | Path | None = None, db: str | Path | None = None,
                  env: Mapping[str, str] | None = None, pack: str | None = None) -> Paths:
    """Work out the config folder, pack and ledger path: flag, then environment, then settings.

    The config folder defaults to ``./config`` when it exists, else the installed project's.
    ``pack`` (``--pack``, ``MONITOR_PACK``) replaces the settings' pack.
    """
    env = os.environ if env is None else env
    if config is None:
        config = env.get("MONITOR_CONFIG")
    if config is None:
        config = Path("config") if (Path("config") / SETTINGS_FILE).exists() else (
            PROJECT_ROOT / "config")
    config_dir = Path(config)
    settings = load_settings(config_dir)
    pack = pack or env.get("MONITOR_PACK")
    if pack:
        settings = settings.model_copy(update={"pack": pack})
    db_path = Path(db or env.get("MONITOR_DB") or settings.db)
    feeds = Path(settings.feeds)
    if not feeds.is_absolute():
        feeds = config_dir.resolve().parent / feeds
    return Paths(config=config_dir, db=db_path, feeds=feeds, settings=settings)


def environment() -> Mapping[str, str]:
    """The process environment (for ``${VAR}`` in feed files): read here and nowhere else."""
    return os.environ


def load_settings(config_dir: Path) -> Settings:
    """Read and validate ``monitor.yaml``; raise :class:`ProblemsError` listing every problem."""
    path = config_dir / SETTINGS_FILE
    data, problems = read_yaml(path)
    if problems:
        raise ProblemsError(problems)
    try:
        return Settings.model_validate(data or {})
    except ValidationError as exc:
        raise ProblemsError(from_validation(str(path), exc)) from None


def pack_timezone(config_dir: Path, name: str) -> ZoneInfo | None:
    """The time zone of pack ``name`` read from its pack.yaml alone (None when that file does
    not give a valid one): what read commands need to turn local dates into UTC, without
    loading the zones, actors and rules that :func:`load_pack` checks."""
    data, problems = read_yaml(config_dir / name / "pack.yaml")
    zone = data.get("timezone") if isinstance(data, dict) and not problems else None
    try:
        return ZoneInfo(zone) if isinstance(zone, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


@dataclass(frozen=True)
class PackNames:
    """The ids a pack's filters are checked against: its terms, sides and instruments."""

    name: str
    terms: tuple[str, ...]
    sides: tuple[str, ...]
    instruments: tuple[str, ...]

    @classmethod
    def of(cls, pack: Any) -> PackNames:
        """The names of a loaded :class:`~.config.Pack` (not imported here: config imports
        this module)."""
        return cls(pack.spec.name, tuple(sorted({r.spec.term for r in pack.rules})),
                   tuple(pack.sides), tuple(sorted(pack.instruments)))


def pack_names(config_dir: Path, name: str) -> PackNames | None:
    """The ids of pack ``name`` read from its pack.yaml, instruments file and rule files alone
    (None when one of them does not read: :func:`load_pack` reports why): what read commands
    check a filter against, in a few milliseconds instead of loading zones, places and the
    classifier (a second)."""
    folder = config_dir / name
    data, problems = read_yaml(folder / "pack.yaml")
    if problems or not isinstance(data, dict):
        return None
    try:
        sides = tuple(s["id"] for s in data["sides"])
        files = data.get("files") or {}
        found, problems = read_yaml(folder / files.get("instruments", "instruments.yaml"))
        instruments = tuple(sorted(i["id"] for i in found["instruments"]))
        terms: set[str] = set()
        for rule in sorted((folder / data["rules"]).resolve().glob("*/rule.yaml")):
            spec, errs = read_yaml(rule)
            problems += errs
            terms.add(spec["term"])
    except (KeyError, TypeError, OSError):
        return None
    return None if problems else PackNames(name, tuple(sorted(terms)), sides, instruments)
