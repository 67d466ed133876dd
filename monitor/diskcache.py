"""Entries kept on disk between runs, by content: what a command would otherwise make again from
the same bytes (the zone geometries of a pack, :mod:`monitor.zones.cache`; the validated
``monitor.yaml``, :mod:`monitor.settings`). An entry is named by the SHA-256 of everything it
is made from (:func:`digest`), so a changed input is a new name; one is written whole, then
renamed into place, and read back only when its bytes are those written (their SHA-256 is in
its header). A missing, unreadable or damaged entry is made again; a folder that cannot be
written leaves the caller working as before, uncached.

The folder: ``MONITOR_CACHE`` when set (empty: no cache), else ``$XDG_CACHE_HOME`` (default
``~/.cache``) ``/ceasefire-monitor``. The newest :data:`KEEP` entries of each kind are kept,
and any of them may be deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ENV = "MONITOR_CACHE"
KEEP = 8  # entries kept of each kind, the newest
_HEADER = struct.Struct("<Q")  # the JSON header's length, then the header, then the blobs


def folder() -> Path | None:
    """Where entries are kept, or None when the cache is off (``MONITOR_CACHE`` empty, or no
    home folder to put it in)."""
    configured = os.environ.get(ENV)
    if configured is not None:
        return Path(configured) if configured else None
    try:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    except RuntimeError:  # no home folder known
        return None
    return Path(base) / "ceasefire-monitor"


def digest(kind: str, *parts: str | bytes) -> str:
    """The entry name for ``kind`` made from ``parts``: their SHA-256, each part's length
    first (so that no two lists of parts give the same bytes)."""
    sha = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        sha.update(_HEADER.pack(len(data)) + data)
    return f"{kind}-{sha.hexdigest()}"


def files(root: Path, names: Iterable[str]) -> list[str]:
    """Parts for :func:`digest` naming files by their path under ``root`` and their content's
    SHA-256 (the code an entry is made by: an edit of it is a new name). OSError when one
    cannot be read."""
    return [part for name in names for part in (
        name, hashlib.sha256((root / name).read_bytes()).hexdigest())]


def load(name: str) -> tuple[dict[str, Any], list[bytes]] | None:
    """The entry ``name``: its header and its blobs, or None when there is none that reads."""
    where = folder()
    if where is None:
        return None
    try:
        data = (where / f"{name}.bin").read_bytes()
        (size,) = _HEADER.unpack_from(data)
        header = json.loads(data[_HEADER.size:_HEADER.size + size])
        blobs, at = [], _HEADER.size + size
        for length in header["lengths"]:
            blobs.append(data[at:at + length])
            at += length
        if (at != len(data) or header.get("name") != name
                or hashlib.sha256(data[_HEADER.size + size:]).hexdigest() != header["sha256"]):
            return None  # cut short, written for another key, or changed since
        return header["meta"], blobs
    except (OSError, ValueError, KeyError, TypeError, struct.error):
        return None


def save(name: str, meta: dict[str, Any], blobs: list[bytes]) -> None:
    """Keep an entry (written whole, then renamed into place: a reader never sees half of it);
    a folder that cannot be written is left alone."""
    where = folder()
    if where is None:
        return
    header = json.dumps({"name": name, "meta": meta, "lengths": [len(b) for b in blobs],
                         "sha256": hashlib.sha256(b"".join(blobs)).hexdigest()},
                        separators=(",", ":")).encode()
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_HEADER.pack(len(header)) + header)
                for blob in blobs:
                    fh.write(blob)
            os.replace(tmp, where / f"{name}.bin")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(where, name)
    except OSError:
        pass


def _prune(where: Path, written: str) -> None:
    """Keep :data:`KEEP` entries of the kind of the entry just ``written``: it and the newest
    others (each edit of what an entry is made from makes a new one)."""
    kind = written.split("-")[0]
    others = sorted((p for p in where.glob(f"{kind}-*.bin") if p.stem != written),
                    key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in others[KEEP - 1:]:
        old.unlink(missing_ok=True)
