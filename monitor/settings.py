"""Where things are and what ``config/monitor.yaml`` says: the settings every command reads
first, and what read commands need of a pack without loading it (its names, its time zone).

This is the only module that reads environment variables (``MONITOR_CONFIG``, ``MONITOR_DB``,
``MONITOR_PACK``), but for the tests' crash hook ``MONITOR_CRASH_AT``, read by
:mod:`monitor.crashpoints`, and the cache folder's (:mod:`monitor.diskcache`). It builds no
model but the settings' own (:mod:`.settingsfile`), so a command that only reads the ledger
starts without the pack's models (:mod:`.config` loads a pack).

**Settings validated once.** A read command's start-up was mostly pydantic's: importing it and
building the settings' models took ~0.1 s of ~0.17 s, to validate a file that rarely changes.
What a command needs of it to find its ledger and pack (:data:`_NEEDED`) is kept in the disk
cache under the SHA-256 of the file's bytes and of the model's code (:func:`_entry`), taken
from the model that validated those bytes. The same bytes again give the same values without
pydantic; a changed file or model is validated again (and its problems reported, every time
until fixed). The whole model (webhooks, briefs) is validated when a command asks for it
(:attr:`Paths.settings`): the daemon and the commands that record do.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import diskcache
from .problems import ProblemsError, from_validation, read_yaml

if TYPE_CHECKING:
    from .settingsfile import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = "monitor.yaml"
# what resolve_paths needs of the settings (kept validated in the disk cache)
_NEEDED = ("pack", "db", "feeds", "day_cutoff")
# the code whose model decides what a settings file means (in every cache entry's name)
_MODEL_CODE = ("settingsfile.py", "webhooks.py", "filemodel.py")


def __getattr__(name: str) -> Any:
    """``Settings`` and ``BriefsSpec`` (their module imports pydantic: only when asked for)."""
    if name in ("Settings", "BriefsSpec"):
        from . import settingsfile

        return getattr(settingsfile, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Paths:
    """Where things are, decided once from flags, environment and settings: the config folder,
    the ledger, the feeds' folder, the pack in force (``--pack`` or ``MONITOR_PACK`` first) and
    the daily cut-off. :attr:`settings` is the whole of ``monitor.yaml``, validated on first
    use."""

    config: Path
    db: Path
    feeds: Path
    pack: str
    day_cutoff: str

    @cached_property
    def settings(self) -> Settings:
        """``monitor.yaml`` validated by its model, with the pack in force."""
        settings = load_settings(self.config)
        return settings if settings.pack == self.pack else settings.model_copy(
            update={"pack": self.pack})


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
    values, validated = _needed(config_dir)
    pack = pack or env.get("MONITOR_PACK") or values["pack"]
    db_path = Path(db or env.get("MONITOR_DB") or values["db"])
    feeds = Path(values["feeds"])
    if not feeds.is_absolute():
        feeds = config_dir.resolve().parent / feeds
    paths = Paths(config=config_dir, db=db_path, feeds=feeds, pack=pack,
                  day_cutoff=values["day_cutoff"])
    if validated is not None and validated.pack == pack:
        paths.__dict__["settings"] = validated  # validated just now: not twice
    return paths


def _needed(config_dir: Path) -> tuple[dict[str, str], Settings | None]:
    """What :func:`resolve_paths` needs of ``monitor.yaml``: from the disk cache when these
    bytes were validated before (and no model, None), else from the model that validates them
    now (and that model)."""
    try:
        entry = _entry((config_dir / SETTINGS_FILE).read_bytes())
    except OSError:
        entry = None  # load_settings says what is wrong with the file
    if entry is not None:
        found = diskcache.load(entry)
        if found is not None and isinstance(found[0], dict) and all(
                isinstance(found[0].get(k), str) for k in _NEEDED):
            return {k: found[0][k] for k in _NEEDED}, None
    settings = load_settings(config_dir)
    values = {k: getattr(settings, k) for k in _NEEDED}
    if entry is not None:
        diskcache.save(entry, values, [])
    return values, settings


def _entry(text: bytes, code: Path = Path(__file__).parent) -> str:
    """The cache entry of a settings file's bytes under the model's code (in ``code``) as it
    is now."""
    return diskcache.digest("settings", ",".join(_NEEDED), text,
                            *diskcache.files(code, _MODEL_CODE))


def environment() -> Mapping[str, str]:
    """The process environment (for ``${VAR}`` in feed files): read here and nowhere else."""
    return os.environ


def load_settings(config_dir: Path) -> Settings:
    """Read and validate ``monitor.yaml``; raise :class:`ProblemsError` listing every problem."""
    from pydantic import ValidationError

    from .settingsfile import Settings

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
    zone = _pack_facts(config_dir, name)["timezone"]
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
    names = _pack_facts(config_dir, name)["names"]
    return None if names is None else PackNames(name, *(tuple(names[k]) for k in (
        "terms", "sides", "instruments")))


# --- what read commands need of a pack, kept in the disk cache -------------------------------
#
# Its names and time zone come from 2 + one per rule YAML files (16 in the default pack): ~12
# ms of parsing and ~10 of importing PyYAML, in a read command that otherwise takes ~0.1 s. An
# entry is named by pack.yaml's bytes and this code (:func:`_pack_entry`); it says which other
# files the names were read from and holds the SHA-256 of their paths and bytes, checked on
# every read (:func:`_read_from`), so an edited, added or removed rule file is read again.

_PACK_CODE = ("settings.py", "problems.py")  # the code that decides what the files give


def _pack_facts(config_dir: Path, name: str) -> dict[str, Any]:
    """``timezone`` (pack.yaml's, unchecked) and ``names`` (terms, sides and instruments, or
    None when a file does not read) of pack ``name``: from the disk cache when its files are
    those read before, else read now (and kept)."""
    folder = config_dir / name
    try:
        entry = _pack_entry(name, (folder / "pack.yaml").read_bytes())
    except OSError:
        entry = None  # read_yaml says what is wrong with the file
    if entry is not None:
        found = diskcache.load(entry)
        meta = found[0] if found is not None else {}
        read_from = meta.get("read_from")
        if (isinstance(read_from, list) and isinstance(meta.get("names"), dict)
                and meta.get("sha256") == _read_from(folder, read_from)):
            return meta
    facts = _read_pack_facts(folder)
    if entry is not None and facts["names"] is not None and facts["sha256"] is not None:
        diskcache.save(entry, facts, [])
    return facts


def _pack_entry(name: str, text: bytes, code: Path = Path(__file__).parent) -> str:
    """The cache entry of pack ``name`` whose pack.yaml holds ``text``, under this code."""
    return diskcache.digest("pack", name, text, *diskcache.files(code, _PACK_CODE))


def _read_from(folder: Path, read_from: list[str]) -> str | None:
    """The SHA-256 of the files the names were read from: ``read_from`` holds the instruments
    file and the rules folder, relative to the pack's ``folder``; every ``*/rule.yaml`` of that
    folder, with its path, is in it (None when one cannot be read)."""
    try:
        instruments, rules = (folder / p for p in read_from)
        sha = hashlib.sha256(instruments.read_bytes())
        for rule in sorted(rules.resolve().glob("*/rule.yaml")):
            text = rule.read_bytes()
            sha.update(diskcache.digest(rule.parent.name, text).encode())
    except (OSError, ValueError):
        return None
    return sha.hexdigest()


def _read_pack_facts(folder: Path) -> dict[str, Any]:
    """What :func:`_pack_facts` gives, read from the YAML files; ``sha256`` of those files is
    taken before they are read (one edited meanwhile is read again next time)."""
    facts: dict[str, Any] = {"timezone": None, "names": None, "read_from": None,
                             "sha256": None}
    data, problems = read_yaml(folder / "pack.yaml")
    if problems or not isinstance(data, dict):
        return facts
    facts["timezone"] = data.get("timezone")
    try:
        sides = [s["id"] for s in data["sides"]]
        files = data.get("files") or {}
        read_from = [files.get("instruments", "instruments.yaml"), data["rules"]]
        sha = _read_from(folder, read_from) if all(isinstance(f, str) for f in read_from) \
            else None
        found, problems = read_yaml(folder / read_from[0])
        instruments = sorted(i["id"] for i in found["instruments"])
        terms: set[str] = set()
        for rule in sorted((folder / read_from[1]).resolve().glob("*/rule.yaml")):
            spec, errs = read_yaml(rule)
            problems += errs
            terms.add(spec["term"])
    except (KeyError, TypeError, OSError):
        return facts
    if not problems and all(isinstance(v, str) for v in [*sides, *instruments, *terms,
                                                           *read_from]):
        facts["names"] = {"terms": sorted(terms), "sides": sides, "instruments": instruments}
        facts["read_from"], facts["sha256"] = read_from, sha
    return facts
