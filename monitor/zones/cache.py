"""Zone geometries kept on disk between runs, by content: every command that loads a pack reads
the OCHA boundaries (5 MB of GeoJSON: ~0.14 s to parse) and unions their polygons into the
pack's zone rows (~0.1 s), a third of a hand-entered incident's time. What they make depends
only on the boundaries file's bytes, the zone rows' geometry fields and the GEOS that made it,
so it is stored under the SHA-256 of those (:func:`key`) as well-known binary (WKB, exact) with
a JSON header, and read back when the same key comes again. A changed file, row or GEOS is a
new key; a missing, unreadable or damaged entry is made again; a folder that cannot be written
leaves the pack loading as before, uncached.

Where entries are kept, and how they are named, written and read: :mod:`monitor.diskcache`.
Entries of this kind are a few MB each.
"""

from __future__ import annotations

from typing import Any

import shapely

from ..diskcache import ENV, KEEP, folder, load, save
from ..diskcache import digest as _digest

__all__ = ["ENV", "FORMAT", "KEEP", "folder", "key", "load", "save", "wkb"]

FORMAT = 1  # bumped when what an entry holds changes (the code that makes one is in every key)


def key(kind: str, *parts: str | bytes) -> str:
    """The entry name for ``kind`` made from ``parts``: their SHA-256 with this format and the
    shapely and GEOS versions (a union made by another GEOS may differ in its last digits)."""
    return _digest(kind, str(FORMAT), shapely.__version__, shapely.geos_version_string, *parts)


def wkb(geoms: Any) -> list[bytes]:
    """Geometries as WKB (exact: every coordinate's 64 bits)."""
    return [bytes(b) for b in shapely.to_wkb(geoms)]
