"""Adapters turn source records into incident reports. A registry maps format names to readers.

A reader takes a path (and options) and yields, per source record, either a raw report dict
(validated later by the one service path) or a :class:`~monitor.service.Rejection` naming the
file and line and the reason.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..files import open_regular

# The csv module's 128 KiB field limit would make one long field (a 200 kB ACLED note) a
# csv.Error that ends the whole file's import. Every adapter module imports this package
# first, so the limit is raised before any file is read: a long field is read, and the
# report's own limits reject its row alone.
csv.field_size_limit(2**31 - 1)

from . import acled, jsonl  # noqa: E402

Record = tuple[str, dict[str, Any]]  # (where, raw report) — where = "file line N"
Reader = Callable[..., Iterator[Record | Any]]

READERS: dict[str, Reader] = {
    "acled": acled.read_csv,
    "jsonl": jsonl.read_file,
}
# read on first use: the UCDP module brings httpx, which the other imports do not need
LAZY_READERS = {"ucdp": ("monitor.adapters.ucdp", "read_csv")}
# how far each format's source is graded by default (Admiralty scale; `--reliability`)
DEFAULT_RELIABILITY = {"acled": "B", "ucdp": "B"}


def reader(name: str) -> Reader:
    """The reader for a format name; KeyError names the known formats. A reader takes the
    file, then ``feed``, ``date_format`` and ``reliability`` by name."""
    if name in LAZY_READERS:
        import importlib

        module, function = LAZY_READERS[name]
        return getattr(importlib.import_module(module), function)  # type: ignore[no-any-return]
    try:
        return READERS[name]
    except KeyError:
        known = ", ".join(sorted([*READERS, *LAZY_READERS]))
        raise KeyError(f"unknown format {name!r}; known: {known}") from None


def count_lines(path: Path) -> int:
    """Lines in a file (for progress bars), counted in binary chunks."""
    with open_regular(path) as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
