"""The patterns' work queue: event-time windows whose patterns (:mod:`monitor.timeline`) await
recomputation. Written with the batch that made them stale, emptied by the refresh that
recomputed them, in the same transactions. Not chained: derived bookkeeping, like an index
(table ``pattern_queue``, migration m002).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .chain import Chain
from .queries import iso


class PatternQueue(Chain):
    """Noting stale windows (:meth:`queue_patterns`), taking them (:meth:`pattern_work`) and
    dropping them once done (:meth:`pattern_done`)."""

    def queue_patterns(self, windows: Iterable[tuple[datetime, datetime]] | None) -> None:
        """Note event-time windows whose patterns must be recomputed (None: all of them), in
        the caller's transaction, for :meth:`pattern_work`."""
        self._writable("reports")  # inside a transaction, like an append
        rows = [(None, None)] if windows is None else [(iso(a), iso(b))
                                                        for a, b in windows]
        self._conn.executemany("INSERT INTO pattern_queue (start, end) VALUES (?, ?)", rows)

    def pattern_work(self) -> tuple[int, list[tuple[datetime, datetime]] | None]:
        """The queue: its last id (0 when empty) and its windows (None: recompute all)."""
        with self._lock:
            rows = self._conn.execute("SELECT id, start, end FROM pattern_queue").fetchall()
        if any(start is None for _, start, _ in rows):
            return max(r[0] for r in rows), None
        return max((r[0] for r in rows), default=0), [
            (datetime.fromisoformat(a), datetime.fromisoformat(b)) for _, a, b in rows]

    def pattern_done(self, last: int) -> None:
        """Drop the queue up to ``last`` (in the transaction that recorded the refresh)."""
        self._writable("reports")
        self._conn.execute("DELETE FROM pattern_queue WHERE id <= ?", [last])

