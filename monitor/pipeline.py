"""Two processes for a long ``monitor import``: a worker reads, validates, resolves and judges
the next batches while the importing process records the previous ones. The importing process
judges the first pieces itself (:data:`OWN_PIECES`), while the worker starts.

What the worker does is a function of the file and the pack alone (no ledger): it loads the
same pack from the same configuration. Recording (duplicates, corroboration, supersession,
the hash chain) stays in the importing process, in the same transactions as without the
worker, so a crash at any moment neither loses nor repeats a record, and the ledger is the one
a single process writes (a test compares them).

The worker is a fresh interpreter (``spawn``: forking a process holding an open SQLite
connection is unsafe). It dies with the importing process (``PR_SET_PDEATHSIG`` where Linux
offers it; elsewhere it notices at its next hand-over), and the importing process ends it on
any error of its own.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import multiprocessing
import os
import queue
import signal
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .crashpoints import crash_point
from .errors import MonitorError
from .ledger.compact import full_explanation
from .models import Finding, IncidentReport, Resolution
from .staged import stored_explanations

# Files of this many lines or more are imported with the worker, on a machine of 2+ cores (a
# worker costs a second start-up and pack load, about a second, spent alongside the first one).
PIPELINE_MIN_LINES = 20_000
_AHEAD = 4  # pieces the worker may be ahead of the recording
# An import's first transaction is this many reports at most, the rest ``batch`` each:
# recording starts as soon as a few are judged, not once a whole batch is (measured on 62,000
# generated rows through the worker, the first 5,000 were handed over 2.0 s after the start and
# the importing process, ready at 1.1 s, waited; 500 are ready when it is).
FIRST_BATCH = 500
# Reports handed over by the worker, and recorded by one submit, at a time: a transaction of
# more is recorded in pieces of this many, each a savepoint of it. What is pickled, read back
# and held at once is a piece (handing over 20,000 at a time, reading them back took 5.5 ->
# 9.9 s on 400,000 generated rows), and what is said again is shared within a piece, so a
# transaction's size does not change what is recorded.
PIECE = 5000
# Pieces the importing process judges itself, at the start: while the worker starts and its
# memos are cold, the importing process would wait for it (measured on 62,000 generated rows,
# ~1.5 s of waiting in the first 3.5 s); the worker reads past them and judges from the next.
OWN_PIECES = 2


def transaction_sizes(batch: int) -> Iterator[int]:
    """The size of each transaction of an import, in order: the first one capped at
    :data:`FIRST_BATCH`, then ``batch``."""
    yield min(batch, FIRST_BATCH)
    while True:
        yield batch


def piece_sizes(batch: int, piece: int = PIECE) -> Iterator[int]:
    """The size of each piece of an import, in order: each of :func:`transaction_sizes` cut
    into pieces of ``piece`` at most. One process or two, an import cuts its file alike."""
    for size in transaction_sizes(batch):
        while size > 0:
            yield min(size, piece)
            size -= piece


def pieces(items: Iterable[Any], batch: int, piece: int = PIECE) -> Iterator[list[Any]]:
    """An import's ``items`` in lists of :func:`piece_sizes` (the last one what is left)."""
    sizes = piece_sizes(batch, piece)
    cut: list[Any] = []
    size = next(sizes)
    for item in items:
        cut.append(item)
        if len(cut) >= size:
            yield cut
            cut, size = [], next(sizes)
    if cut:
        yield cut


@dataclass
class Prepared:
    """One piece of an import, ready to record: the validated items in file order (reports and
    rejections) and, item by item, a report's resolution and findings, its body and its
    findings' explanations as the ledger stores them (None for a rejection)."""

    items: list[Any]
    judged: list[tuple[Resolution, list[Finding]] | None]
    bodies: list[str | None]
    explanations: list[dict[str, str] | None]


# New container objects (allocated less freed) between two runs of the collector while batches
# are judged and recorded (an import, the daemon's feeds). A run walks every young object still
# alive, and while a batch is being judged or recorded that is the whole batch (hundreds of
# thousands of objects): at 50,000 the collector ran ~700 times in an import of 400,000
# generated rows and took 5.5 s of the importing process's 59 s of CPU, and about as much of
# the worker's. At this threshold it does not run at all in that import (the batches' objects
# are freed by reference counting, so the count never reaches it); cyclic garbage, were some
# made, is still collected within 500,000 objects.
BATCH_GC_THRESHOLD = 500_000


@contextlib.contextmanager
def batch_collector() -> Iterator[None]:
    """While batches of reports are judged and recorded: Python's cycle collector runs every
    :data:`BATCH_GC_THRESHOLD` new objects rather than every 700; as before on leaving."""
    thresholds = gc.get_threshold()
    gc.set_threshold(BATCH_GC_THRESHOLD, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """For an import's batches, once the pack is loaded: keep Python's cycle collector off the
    objects that exist now (the pack's, which live as long as the import) and run it as
    :func:`batch_collector` does; as before on leaving. Each report of a batch makes hundreds
    of objects, and each run of the collector walked the whole pack: measured on 30,000
    generated rows, about 8 % of the import's CPU (unpickling a batch's reports went from ~90
    to ~18 µs a report)."""
    gc.freeze()
    try:
        with batch_collector():
            yield
    finally:
        gc.unfreeze()


def share_strings(judged: list[tuple[Resolution, list[Finding]] | None]) -> None:
    """Make the equal notes of a batch's resolutions one object each, in place, before the
    batch is pickled: pickle writes an object it has written already as a reference, so the
    importing process reads each text once. Most notes repeat ("platform=unknown (not stated;
    ...)", an actor's alias): measured on 30,000 generated rows, the resolutions and findings
    of a batch pickled to ~700 rather than ~1,200 bytes a report (their explanations' strings
    shared as well, before they were handed over as text)."""
    seen: dict[str, str] = {}
    for made in judged:
        if made is not None:
            made[0].notes = [seen.setdefault(n, n) for n in made[0].notes]


def hand_over(judged: list[tuple[Resolution, list[Finding]] | None]
              ) -> list[dict[str, str] | None]:
    """In the worker, before a piece is pickled: each report's findings' explanations as the
    ledger stores them (:func:`.staged.stored_explanations`, made here rather than by the
    importing process), taken out of the findings, which the importing process gives back
    (:func:`taken_over`); and the equal notes of the piece made one object each
    (:func:`share_strings`). An explanation is a tree of ~20 dicts, its text one string:
    on 5,000 generated rows (1,340 findings) the findings pickled in 6.8 ms rather than 11.8
    and read back in 7.5 ms rather than 15.9, and the text, which the importing process made
    from the tree, is made here."""
    texts: list[dict[str, str] | None] = []
    for made in judged:
        if made is None:
            texts.append(None)
            continue
        res, findings = made
        texts.append(stored_explanations(res, findings))
        for finding in findings:
            finding.__dict__["explanation"] = None  # (not validated: it is put back as it was)
    share_strings(judged)
    return texts


def taken_over(judged: list[tuple[Resolution, list[Finding]] | None],
               explanations: list[dict[str, str] | None]) -> None:
    """In the importing process, once a piece is read back: each finding's explanation put back
    from its text (:func:`hand_over`), as every reader of the ledger rebuilds it
    (:func:`.ledger.compact.full_explanation`, the text read by :mod:`json` as the ledger's
    readers read it: orjson would read an integer past 64 bits as a float): the judge's,
    value for value."""
    for made, texts in zip(judged, explanations, strict=True):
        if made is None or texts is None:
            continue
        res, findings = made
        for finding in findings:
            finding.__dict__["explanation"] = full_explanation(
                json.loads(texts[finding.finding_id]), res.notes)


def wanted(requested: bool | None, lines: int) -> bool:
    """Whether to import with the worker: as requested, else for big files on 2+ cores."""
    if requested is not None:
        return requested
    return lines >= PIPELINE_MIN_LINES and (os.cpu_count() or 1) >= 2


class PipelineError(MonitorError, RuntimeError):
    """The worker ended without finishing (killed, out of memory): the message says what to do."""


class Worker:
    """The worker process, started at once (its pack loads while the caller loads its own).
    Iterate over it for the file's pieces (:func:`piece_sizes` of ``batch`` and ``piece``) in
    file order, but for the first ``skip`` (the caller judges those); an error of the worker
    (an unreadable file, a pack that does not load) is raised there. Leaving the ``with``
    block ends it, whether the import finished or stopped early."""

    def __init__(self, config: Path, pack_name: str, fmt: str, path: Path, feed: str,
                 batch: int, date_format: str | None = None,
                 reliability: str | None = None, piece: int = PIECE, skip: int = 0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._channel = ctx.Queue(maxsize=_AHEAD)
        self._process = ctx.Process(
            target=_work, name="monitor-import-worker", daemon=True,
            args=(self._channel, os.getpid(), str(config), pack_name, fmt, str(path), feed,
                  batch, date_format, reliability, piece, skip))
        self._process.start()
        # The worker now holds the channel's only write end: if it dies half-way through
        # writing a batch, reading ends (EOFError) instead of waiting forever for the rest.
        self._channel._writer.close()  # type: ignore[attr-defined]

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Prepared]:
        while True:
            try:
                kind, payload = self._channel.get(timeout=1)
            except (queue.Empty, EOFError, OSError) as exc:
                if not isinstance(exc, queue.Empty):  # its end closed, maybe mid-batch: it died
                    self._process.join(10)
                if not self._process.is_alive():
                    raise PipelineError(
                        "the import's worker process ended unexpectedly (exit code "
                        f"{self._process.exitcode}); the batches before are recorded. Run the "
                        "same import again (what is recorded is skipped), or add "
                        "--no-pipeline.") from None
                continue
            if kind == "batch":
                taken_over(payload.judged, payload.explanations)
                yield payload
            elif kind == "error":
                raise payload
            else:  # "done"
                return

    def close(self) -> None:
        """End the worker (if it still runs) and free the channel."""
        if self._process.is_alive():
            self._process.kill()  # an error here, or the caller stopped: the rest is unneeded
        self._process.join()
        self._channel.close()
        self._channel.cancel_join_thread()


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); elsewhere, or if the
    parent is already gone, the hand-overs check."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:
        os._exit(1)


def _hand_over(channel: Any, parent: int, message: tuple[str, Any]) -> None:
    while True:
        try:
            channel.put(message, timeout=1)
            return
        except queue.Full:
            if os.getppid() != parent:  # the importing process is gone: so is the import
                os._exit(1)


def _work(channel: Any, parent: int, config: str, pack_name: str, fmt: str, path: str,
          feed: str, batch: int, date_format: str | None = None,
          reliability: str | None = None, piece: int = PIECE, skip: int = 0) -> None:
    """The worker: read, validate, resolve and judge, a piece at a time, from the piece after
    the first ``skip`` (read and passed over: the importing process judges those)."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the importing process's to handle
    try:
        from .adapters import reader
        from .config import load_pack
        from .service import Evaluator, validated
        from .staged import body_json

        monitor = Evaluator(load_pack(Path(config), pack_name))  # judges, records nothing
        with settled_heap():
            for items in itertools.islice(pieces(reader(fmt)(
                    Path(path), feed=feed, date_format=date_format, reliability=reliability),
                    batch, piece), skip, None):
                ready = [validated(i) for i in items]
                made = iter(monitor.judge_many([i for i in ready
                                                if isinstance(i, IncidentReport)]))
                judged = [next(made) if isinstance(i, IncidentReport) else None for i in ready]
                explanations = hand_over(judged)
                bodies = [str(body_json(i)) if isinstance(i, IncidentReport) else None
                          for i in ready]
                _hand_over(channel, parent, ("batch", Prepared(ready, judged, bodies,
                                                               explanations)))
                crash_point("pipeline.hand_over")
        _hand_over(channel, parent, ("done", None))
    except BaseException as exc:  # noqa: BLE001 - every failure goes to the importing process
        try:
            _hand_over(channel, parent, ("error", exc))
        except Exception:  # noqa: BLE001 - an exception that does not pickle: its text
            _hand_over(channel, parent, ("error", RuntimeError(
                f"the import's worker failed: {type(exc).__name__}: {exc}")))
