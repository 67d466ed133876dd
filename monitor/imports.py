"""Importing a file of reports (``monitor import``): batch after batch through the one path,
:meth:`Monitor.submit`, with a second process reading, resolving and judging ahead for long
files (:mod:`monitor.pipeline`).

A batch is one ledger transaction, recorded in pieces (:data:`~monitor.pipeline.PIECE`), each
a savepoint of it. A failure part-way (a full disk) rolls back the batch in progress and leaves
every batch before it recorded, so the same import run again completes it: what is recorded is
skipped as a duplicate. Either way of importing (one process or two) records the same ledger.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import pipeline as two_processes
from .errors import MonitorError

if TYPE_CHECKING:
    from .service import Monitor, Rejection

# Reports per ledger transaction (``monitor import --batch-size``). A commit writes every page
# the batch changed, and in a big ledger the indexes keyed by event time and by incident id
# change pages all over the file: a commit writes (and a checkpoint copies) much the same pages
# whatever the batch's size, so fewer commits write less. Measured on 1,000,000 generated
# rows: 500 reports a batch took 454-463 s and 5,000 took 350 s (sys time 93 -> 63 s); at
# e3c773e, in two runs each, 5,000 took 153 and 170 s and 20,000 (in pieces of 5,000) 142 and
# 152 s, the bytes written to the disk 41-54 GB -> 18.5 GB; 400,000 rows 57.6 -> 53.1 s. A
# crash loses at most the batch in progress (re-importing records it); what is held in memory
# is a piece (:data:`~monitor.pipeline.PIECE`), not a batch.
BATCH = 20_000
# Files of this many lines or more, imported into an empty ledger, have the indexes that only
# queries read built at the end (:meth:`~monitor.ledger.Ledger.indexes_at_end`).
INDEXES_AT_END_MIN_LINES = 20_000


class ImportStopped(MonitorError):
    """The ledger could not be written part-way; the batches before are recorded."""


@dataclass
class ImportResult:
    """What an import did. Outcomes are counted, not kept (a file may hold a million rows)."""

    new: int = 0
    duplicates: int = 0
    by_term: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)

    def add(self, other: ImportResult) -> None:
        """Count ``other``'s outcomes in this one too."""
        self.new += other.new
        self.duplicates += other.duplicates
        self.by_term.update(other.by_term)
        self.rejections.extend(other.rejections)

    @property
    def findings(self) -> int:
        return sum(self.by_term.values())


def _ignore(_: Any) -> None:
    return None


def import_file(path: Path, fmt: str, open_monitor: Callable[[], Monitor], *, config: Path,
                pack: str, feed: str | None = None, pipeline: bool | None = None,
                date_format: str | None = None, reliability: str | None = None,
                batch_size: int = BATCH, piece: int = two_processes.PIECE,
                on_start: Callable[[int], None] = _ignore,
                on_batch: Callable[[int], None] = _ignore,
                on_note: Callable[[str], None] = _ignore) -> ImportResult:
    """Import ``path`` (format ``fmt``: ``acled`` or ``jsonl``) as feed ``feed`` (default: the
    format's name); escalations and cycles of excuses are brought up to date once, at the end.
    ``date_format`` reads an ACLED file's numeric dates (:func:`monitor.adapters.acled.parse_date`);
    ``reliability`` grades the file's source (default: the format's, ``DEFAULT_RELIABILITY``).
    ``batch_size`` reports are recorded per transaction (:data:`BATCH`; the first batch is
    :data:`~monitor.pipeline.FIRST_BATCH` at most), ``piece`` at a time
    (:func:`~monitor.pipeline.piece_sizes`).

    ``pipeline`` asks for the second process (None: for big files on 2+ cores); it loads pack
    ``pack`` of folder ``config`` while ``open_monitor`` loads this process's (called once the
    worker has started). ``on_start`` gets the file's line count before the first batch,
    ``on_batch`` each recorded piece's size, ``on_note`` why the import runs in one process
    when a second one was wanted but could not start. Raises :class:`ImportStopped` when the
    ledger cannot be written, :class:`~monitor.pipeline.PipelineError` when the worker dies.
    """
    from .adapters import DEFAULT_RELIABILITY, count_lines, reader

    feed = feed or fmt
    reliability = reliability or DEFAULT_RELIABILITY.get(fmt)
    lines = count_lines(path)
    result = ImportResult()
    with contextlib.ExitStack() as stack:  # the worker, if any, ends with the import
        worker = None
        if two_processes.wanted(pipeline, lines):  # its pack loads alongside this one's
            try:
                worker = stack.enter_context(two_processes.Worker(
                    config, pack, fmt, path, feed, batch_size, date_format, reliability,
                    piece, skip=two_processes.OWN_PIECES))  # judged here while it starts
            except OSError as exc:  # no second process here: one does it all
                on_note(f"importing in one process ({exc})")
        own = None if worker is None else two_processes.OWN_PIECES
        monitor = open_monitor()
        stack.enter_context(two_processes.settled_heap())
        stack.enter_context(monitor.ledger.bulk_cache())
        on_start(lines)
        try:
            # a big file into an empty ledger: the indexes that only queries read are built
            # once, at the end, not entry by entry (Ledger.indexes_at_end)
            build_indexes = stack.enter_context(monitor.ledger.indexes_at_end(
                lines >= INDEXES_AT_END_MIN_LINES))
            # the file's pieces, judged here (all of them, or the first ``own``) ...
            pieces: Iterator[Any] = ((items, None, None, None) for items in itertools.islice(
                stack.enter_context(contextlib.closing(two_processes.pieces(
                    reader(fmt)(path, feed=feed, date_format=date_format,
                                reliability=reliability), batch_size, piece))), own))
            if worker is not None:  # ... and the rest by the worker
                pieces = itertools.chain(pieces, ((p.items, p.judged, p.bodies,
                                                   p.explanations) for p in worker))
            sizes = two_processes.transaction_sizes(batch_size)
            got = next(pieces, None)
            while got is not None:
                size, taken, batch = next(sizes), 0, ImportResult()
                with monitor.transaction():  # its pieces land together, or none does
                    while True:
                        items, judged, bodies, explanations = got
                        done = monitor.submit(items, refresh=False, judged=judged,
                                              bodies=bodies, explanations=explanations)
                        batch.add(ImportResult(done.new, done.duplicates,
                                               Counter(f.term for f in done.findings),
                                               done.rejections))
                        taken += len(items)
                        on_batch(len(items))
                        # the piece after a full batch is read once the batch is committed
                        if taken >= size or (got := next(pieces, None)) is None:
                            break
                result.add(batch)  # committed
                if taken >= size:
                    got = next(pieces, None)
            build_indexes()  # the patterns read them
            # escalations and cycles of excuses: once, over everything the import touched
            monitor.refresh_patterns()
        except (sqlite3.OperationalError, OSError) as exc:
            raise ImportStopped(
                f"the ledger could not be written ({exc}). The batch in progress was rolled "
                f"back; the {result.new} report(s) before it are recorded and verified. Free "
                "space (or fix the cause) and run the same import again: what is recorded is "
                "skipped.") from None
    return result

