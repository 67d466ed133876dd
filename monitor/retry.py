"""One retry schedule for everything that talks to the outside: feeds and webhooks.

Exponential backoff: 1 s after the first failure, then twice as long each time, at most a
minute, so a source that is down for an hour is asked about once a minute, not hammered.
"""
from __future__ import annotations

from collections.abc import Iterator

FIRST_DELAY = 1.0
MAX_DELAY = 60.0


def attempts(retries: int, first: float = FIRST_DELAY,
             cap: float = MAX_DELAY) -> Iterator[tuple[int, float | None]]:
    """``(attempt, delay)`` for 1 + ``retries`` attempts: ``delay`` is how long to wait before
    the next attempt if this one fails, ``None`` after the last."""
    delay = first
    for attempt in range(1, retries + 2):
        yield attempt, (delay if attempt <= retries else None)
        delay = min(delay * 2, cap)
