"""Crash injection for tests: kill the process at a chosen point, as a power cut would.

The code marks the moments a crash matters with ``crash_point(name)``. The environment
variable ``MONITOR_CRASH_AT=NAME:N`` (``NAME`` alone means ``NAME:1``) makes the N-th pass of
that point in this process kill it with SIGKILL at once: no ``finally``, no ``atexit``, no
flush, no rollback, exactly what ``kill -9`` or the OOM killer does. The process says which
point killed it on stderr first (one unbuffered ``write``), so a test can tell the crash it
asked for from any other death. Unset, every point is a comparison with None and a return.

    MONITOR_CRASH_AT=service.record:120 monitor run --once  # killed at the 120th new report

The points (``POINTS``):

``ledger.commit``
    right after a ledger transaction commits (not a savepoint): what it wrote is durable, and
    nothing after it ran (the next batch, the pattern refresh, the feed-health entry).
``service.record``
    before each new report of a batch is recorded: a crash in the middle of a batch, inside
    its transaction, which must leave none of the batch behind.
``service.cursor``
    right after a feed's cursor is written with its batch, before the transaction commits:
    the daemon's checkpoint of where a feed is, half made. (The ledger never checkpoints its
    WAL itself: SQLite does, inside a commit, and a crash there is WAL mode's to survive.)
``pipeline.hand_over``
    in the worker of a two-process import, right after it hands a judged batch over: the
    channel may still be writing it (or an earlier one) to the importing process.

The variable is read here, once, at import, not through :mod:`monitor.config` (which reads
every other one): the ledger imports this module, and it must stay light enough to start
``monitor ledger verify``'s second process without pydantic and the rest of the configuration.
"""

from __future__ import annotations

import os
import signal

POINTS = ("ledger.commit", "service.record", "service.cursor", "pipeline.hand_over")
ENV = "MONITOR_CRASH_AT"


def _target(value: str | None) -> tuple[str, int] | None:
    """``"NAME:N"`` as ``(NAME, N)``; None when unset."""
    if not value:
        return None
    name, _, nth = value.partition(":")
    if name not in POINTS or not (nth or "1").isdigit() or int(nth or "1") < 1:
        raise ValueError(f"{ENV}={value!r}: expected NAME or NAME:N with N >= 1 and NAME one "
                         f"of {', '.join(POINTS)}")
    return name, int(nth or "1")


_TARGET = _target(os.environ.get(ENV))
_passes = 0


def crash_point(name: str) -> None:
    """Kill this process now if ``MONITOR_CRASH_AT`` names this pass of point ``name``."""
    if _TARGET is None or name != _TARGET[0]:
        return
    global _passes
    _passes += 1
    if _passes == _TARGET[1]:
        os.write(2, f"monitor: crash injected at {name}:{_passes}\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)
