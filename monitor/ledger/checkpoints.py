"""Checkpoints: the ledger's head written down outside the file, one line a time.

A line is ``<UTC time> <SEQ>:<HASH>``. The daemon appends one after every run; anyone may
keep a copy elsewhere. :func:`read_checkpoints` reads them back for ``monitor ledger verify
--checkpoints``, which checks that the file still holds every head it once had.
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from .errors import LedgerError
from .integrity import parse_head


def append_checkpoint(path: Path, head: str, when: dt.datetime) -> None:
    """Add ``head`` to the checkpoint file (created with its folder), flushed to disk."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = f"{when.astimezone(dt.timezone.utc).isoformat(timespec='seconds')} {head}\n"
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_checkpoints(path: Path) -> list[tuple[int, str]]:
    """(line number, head) of every checkpoint in ``path``; LedgerError names a bad line."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise LedgerError(f"{path}: cannot read the checkpoints ({exc.strerror or exc})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        head = line.split()[-1]
        try:
            parse_head(head)
        except ValueError as exc:
            raise LedgerError(f"{path} line {number}: {exc}") from None
        out.append((number, head))
    return out
