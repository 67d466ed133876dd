"""The daemon: polls every feed on its schedule through the one service path.

The only module that knows APScheduler (3.x). One job per feed (``max_instances=1``,
``coalesce=True``, an explicit misfire grace). A feed's run reads batches from its adapter and
hands each to :meth:`Monitor.submit` with the batch's cursor, so records and cursor land in one
transaction. A failing source is retried with backoff, recorded as a feed-health entry, and
never stops the daemon or the other feeds. First SIGTERM/SIGINT: finish the current batch and
exit; second: exit at once (as rq's worker does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime as dt
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from .feeds import FeedSpec, HttpFetcher, SourceError, adapter_for
from .ledger import iso
from .ledger.checkpoints import append_checkpoint
from .models import charged_set
from .pipeline import batch_collector
from .retry import attempts
from .service import Monitor

log = logging.getLogger("monitor.daemon")
# Patterns (escalations, cycles of excuses) are recomputed over the event-time windows a run
# touched. A live feed touches a day or two, and is refreshed after every run. Replaying years
# of history through the daemon touches the whole span on every run, so a refresh that took r
# seconds defers the next one by REFRESH_SPACING × r: patterns then take at most a fifth of the
# daemon's time. What is deferred stays queued in the ledger and is paid by the next feed run
# or by the main loop once due.
REFRESH_SPACING = 4.0


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere: musl, macOS)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def give_back_memory() -> bool:
    """Free the garbage a run left and return the C heap's free pages to the system; whether
    the pages could be asked for.

    The daemon's cycle collector runs rarely (:func:`~monitor.pipeline.batch_collector`; at
    Python's default, every 700 new objects, each run walked the live batch: ~20 % of the CPU
    of importing 20,000 rows in one process), so the cycles a run leaves are collected here,
    at once (a full collection over the pack's and the daemon's objects takes ~5-10 ms).

    A run that reads a month of a big ledger (a pattern refresh, SQLite's row buffers, decoded
    JSON) frees what it used, but glibc keeps freed pages below the top of its heap, so a
    daemon's resident memory would ratchet up to its largest run and stay there for months.
    Called after each feed run (its pattern refresh included) and after a refresh the main
    loop pays; costs milliseconds."""
    gc.collect()
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


@dataclass
class FeedRun:
    """What one run of one feed did (also recorded as a feed-health entry)."""

    feed: str
    ok: bool = True
    new: int = 0
    duplicates: int = 0
    rejected: int = 0
    retracted: int = 0
    findings: int = 0
    batches: int = 0
    attempts: int = 1
    reason: str | None = None
    lag_seconds: float | None = None
    terms: dict[str, int] = field(default_factory=dict)
    parties: dict[str, int] = field(default_factory=dict)  # per charged set (TERMS.md §4)

    def summary(self) -> str:
        if not self.ok:
            return f"{self.feed}: FAILED after {self.attempts} attempt(s): {self.reason}"
        return (f"{self.feed}: {self.new} new, {self.duplicates} already recorded, "
                f"{self.rejected} rejected, {self.retracted} retracted; "
                f"{self.findings} finding(s) in {self.batches} batch(es)")


class Daemon:
    """Runs feeds once (``run_once``) or on their schedules (``serve``)."""

    def __init__(self, monitor: Monitor, feeds: list[FeedSpec], base: Path,
                 on_batch: Callable[[str, int], None] | None = None,
                 sleep: Callable[[float], bool] | None = None,
                 reload: Callable[[], Any] | None = None,
                 watch: Callable[[], Any] | None = None, checkpoints: Path | None = None):
        self.monitor = monitor
        # the ledger's head is written here after every run (monitor.ledger.checkpoints)
        self.checkpoints = checkpoints
        self.feeds = {f.name: f for f in feeds if f.enabled}
        self.base = base
        self.stop = threading.Event()
        self.on_batch = on_batch
        # waits between retries; returns True when asked to stop (so shutdown is not delayed)
        self.sleep = sleep or self.stop.wait
        self._signals = 0
        # configuration hot reload: ``watch`` fingerprints the pack's files, ``reload`` loads
        # and checks them (raising on any problem, which keeps the last good rules)
        self.reload, self.watch = reload, watch
        self._fingerprint = watch() if watch else None
        # daily jobs at a local time (name, "HH:MM", time zone, function), e.g. the brief
        self.daily: list[tuple[str, str, Any, Callable[[], Any]]] = []
        self._refresh_lock = threading.Lock()
        self._refresh_due = 0.0  # time.monotonic() before which a refresh is deferred
        self._refresh_owed = False

    def check_config(self) -> bool:
        """Reload the pack if its files changed; keep the last good one if they are broken.
        Returns whether new rules are in force."""
        if self.watch is None or self.reload is None:
            return False
        fingerprint = self.watch()
        if fingerprint == self._fingerprint:
            return False
        self._fingerprint = fingerprint
        try:
            pack = self.reload()
            self.monitor.use_pack(pack)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last good rules
            log.error("configuration changed but is broken; keeping the last good rules "
                      "(the daemon will refuse to start with it):\n%s", exc)
            return False
        log.info("configuration changed: now judging with %d rule(s) of pack %s",
                 len(pack.rules), pack.spec.name)
        return True

    # --- one run of one feed -------------------------------------------------------------

    def run_feed(self, name: str) -> FeedRun:
        """Poll one feed: every new batch through the service path, retrying a failing
        source with exponential backoff, then record the feed's health."""
        spec = self.feeds[name]
        run = FeedRun(feed=name)
        started = self.monitor.clock()
        for attempt, delay in attempts(spec.retries):
            run.attempts = attempt
            try:
                self._poll(spec, run)
                run.ok, run.reason = True, None
                if run.lag_seconds is None and not self.stop.is_set():
                    # a source that does not say how far ahead it is (a file, a page): a whole
                    # poll has read everything it had, so the feed is caught up
                    run.lag_seconds = 0.0
                break
            except SourceError as exc:
                run.ok, run.reason = False, str(exc)
            except Exception as exc:  # noqa: BLE001 - a broken adapter must not stop the daemon
                log.exception("feed %s: unexpected error", name)
                run.ok, run.reason = False, f"{type(exc).__name__}: {exc}"
            log.warning("feed %s: attempt %d failed: %s", name, attempt, run.reason)
            if delay is not None and self.sleep(delay):
                break  # asked to stop while waiting
        self.monitor.record_feed_health(name, run, started)
        self.checkpoint()
        give_back_memory()
        if not run.ok:
            self.monitor.notify("feed_failure", f"{name}@{iso(started)}",
                                {"feed": name, "attempts": run.attempts, "reason": run.reason})
        log.info("%s", run.summary())
        return run

    def checkpoint(self) -> str:
        """Write the ledger's head outside it (the checkpoint file) and hand it to the
        webhooks that asked for ``checkpoint`` events: a cut-off tail or a rolled-back file
        can then be shown against a copy no one can rewrite with the ledger."""
        assert self.monitor.ledger is not None
        head = self.monitor.ledger.head()
        if self.checkpoints is not None:
            append_checkpoint(self.checkpoints, head, self.monitor.clock())
        self.monitor.notify("checkpoint", head, {"head": head})
        return head

    def _poll(self, spec: FeedSpec, run: FeedRun) -> None:
        adapter = adapter_for(spec, self.base)
        fetch = HttpFetcher(spec, self.base)
        cursor = self.monitor.feed_cursor(spec.name)
        for batch in adapter.batches(cursor, fetch):
            # patterns are refreshed once the run is over (_refresh), not after every batch
            result = self.monitor.submit(batch.items, feed=spec.name, cursor=batch.cursor,
                                         retractions=batch.retractions, refresh=False)
            run.batches += 1
            run.new += result.new
            run.duplicates += result.duplicates
            run.rejected += len(result.rejections)
            run.retracted += result.retracted
            run.findings += len(result.findings)
            for f in result.findings:
                run.terms[f.term] = run.terms.get(f.term, 0) + 1
                if f.instrument_status != "context":  # CTX-CIV: never among violations
                    party = charged_set(f.charged_to, f.attribution)  # one row per finding
                    run.parties[party] = run.parties.get(party, 0) + 1
            for rejection in result.rejections:
                log.warning("feed %s: rejected %s", spec.name, rejection)
            if batch.source_lag_seconds is not None:
                run.lag_seconds = batch.source_lag_seconds
            if self.on_batch:
                self.on_batch(spec.name, len(batch.items))
            if self.stop.is_set():
                log.info("feed %s: stopping after the current batch", spec.name)
                break
        # escalations and cycles of excuses over what the run added (and anything an earlier,
        # interrupted run left queued)
        self.refresh_patterns()

    def refresh_patterns(self, force: bool = False) -> bool:
        """Bring the patterns up to date unless an expensive last refresh defers this one
        (REFRESH_SPACING); ``force`` refreshes regardless. Returns whether it refreshed."""
        with self._refresh_lock:
            started = time.monotonic()
            if not force and started < self._refresh_due:
                self._refresh_owed = True
                return False
            self._refresh_owed = False
            self.monitor.refresh_patterns()
            finished = time.monotonic()
            took = finished - started
            self._refresh_due = finished + REFRESH_SPACING * took
            if took > 1.0:
                log.info("patterns refreshed in %.1f s; the next refresh waits %.0f s",
                         took, REFRESH_SPACING * took)
            return True

    def run_once(self) -> list[FeedRun]:
        """Every enabled feed once, in name order (for tests and cron)."""
        runs = []
        with batch_collector():
            for name in sorted(self.feeds):
                if self.stop.is_set():
                    break
                runs.append(self.run_feed(name))
        return runs

    # --- the scheduler -------------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: finish the current batch, then exit; second: exit now."""
        def handler(signum: int, frame: Any) -> None:
            self._signals += 1
            if self._signals >= 2:
                log.warning("second signal: exiting at once")
                os._exit(130)
            log.warning("signal %d: finishing the current batch, then exiting "
                        "(send it again to exit at once)", signum)
            self.stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def serve(self, first_run_done: Callable[[list[FeedRun]], None] | None = None) -> None:
        """Run every feed now, then on its schedule, until stopped."""
        with batch_collector():  # for the daemon's life: its feeds run in threads of it
            self._serve(first_run_done)

    def _serve(self, first_run_done: Callable[[list[FeedRun]], None] | None) -> None:
        first = self.run_once()
        if first_run_done:
            first_run_done(first)
        if self.stop.is_set():
            return
        scheduler = BackgroundScheduler(timezone=dt.timezone.utc)

        def listener(event: JobExecutionEvent) -> None:
            if event.code == EVENT_JOB_MAX_INSTANCES:
                log.warning("feed %s: previous run still going; this run skipped", event.job_id)
            else:
                log.error("feed %s: job failed: %s", event.job_id, event.exception)

        scheduler.add_listener(listener, EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
        now = self.monitor.clock()
        for spec in self.feeds.values():
            every = spec.schedule.every_seconds
            scheduler.add_job(self.run_feed, IntervalTrigger(seconds=every), args=[spec.name],
                              id=spec.name, name=f"feed {spec.name}", max_instances=1,
                              coalesce=True,
                              misfire_grace_time=spec.schedule.misfire_grace_seconds,
                              next_run_time=now + dt.timedelta(seconds=every))
            log.info("feed %s: every %d s, next at %s", spec.name, every,
                     iso(now + dt.timedelta(seconds=every)))
        for name, at, tz, fn in self.daily:
            hour, minute = (int(x) for x in at.split(":"))
            scheduler.add_job(fn, CronTrigger(hour=hour, minute=minute, timezone=tz), id=name,
                              name=name, max_instances=1, coalesce=True,
                              misfire_grace_time=3600)
            log.info("%s: daily at %s (%s)", name, at, tz)
        scheduler.start()
        try:
            while not self.stop.wait(1.0):
                self.check_config()
                if self._refresh_owed and time.monotonic() >= self._refresh_due:
                    self.refresh_patterns()
                    give_back_memory()
        finally:
            scheduler.shutdown(wait=True)
            log.info("daemon stopped")
