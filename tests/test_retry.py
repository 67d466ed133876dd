"""One retry schedule: feeds and webhooks back off alike."""

from __future__ import annotations

from monitor.retry import MAX_DELAY, attempts


def test_each_failure_doubles_the_wait_up_to_a_minute() -> None:
    assert list(attempts(3)) == [(1, 1.0), (2, 2.0), (3, 4.0), (4, None)]
    delays = [d for _, d in attempts(10)]
    assert delays[-1] is None and max(d for d in delays if d) == MAX_DELAY == 60.0


def test_no_retries_is_one_attempt_and_no_wait() -> None:
    assert list(attempts(0)) == [(1, None)]
