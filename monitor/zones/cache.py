"""Zone geometries kept on disk between runs, by content: every command that loads a pack reads
the OCHA boundaries (5 MB of GeoJSON: ~0.14 s to parse) and unions their polygons into the
pack's zone rows (~0.1 s), a third of a hand-entered incident's time. What they make depends
only on the boundaries file's bytes, the zone rows' geometry fields and the GEOS that made it,
so it is stored under the SHA-256 of those (:func:`key`) as well-known binary (WKB, exact) with
a JSON header, and read back when the same key comes again. A changed file, row or GEOS is a
new key; a missing, unreadable or damaged entry is made again; a folder that cannot be written
leaves the pack loading as before, uncached.

The folder: ``MONITOR_CACHE`` when set (empty: no cache), else ``$XDG_CACHE_HOME`` (default
``~/.cache``) ``/ceasefire-monitor``. Entries are a few MB each; the newest :data:`KEEP` of each
kind are kept, and any of them may be deleted at any time.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from pathlib import Path
from typing import Any

import shapely

FORMAT = 1  # bumped when what an entry holds changes (the code that makes one is in every key)
ENV = "MONITOR_CACHE"
KEEP = 8  # entries kept of each kind (a few MB each), the newest
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


def key(kind: str, *parts: str | bytes) -> str:
    """The entry name for ``kind`` made from ``parts``: their SHA-256 with this format and the
    shapely and GEOS versions (a union made by another GEOS may differ in its last digits)."""
    digest = hashlib.sha256()
    for part in (str(FORMAT), shapely.__version__, shapely.geos_version_string, *parts):
        data = part.encode() if isinstance(part, str) else part
        digest.update(_HEADER.pack(len(data)) + data)
    return f"{kind}-{digest.hexdigest()}"


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
    others (each edit of a zone file makes a new one)."""
    kind = written.split("-")[0]
    others = sorted((p for p in where.glob(f"{kind}-*.bin") if p.stem != written),
                    key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in others[KEEP - 1:]:
        old.unlink(missing_ok=True)


def wkb(geoms: Any) -> list[bytes]:
    """Geometries as WKB (exact: every coordinate's 64 bits)."""
    return [bytes(b) for b in shapely.to_wkb(geoms)]
