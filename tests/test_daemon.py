"""The daemon: feeds polled through the one service path, failures contained, crashes safe."""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from monitor.daemon import Daemon
from monitor.feeds import FeedSpec
from monitor.ledger import Ledger, LedgerError
from monitor.service import Monitor

sys.path.insert(0, str(Path(__file__).parent))
from procs import wait_until  # noqa: E402
from servers import serve  # noqa: E402

UCDP = Path(__file__).resolve().parents[1] / "feeds" / "data" / "ged_syria_2016.csv"
MONITOR = [sys.executable, "-m", "monitor"]


def ucdp_subset(path: Path, rows: int) -> Path:
    """The first ``rows`` real UCDP events of 27 Feb – 31 Oct 2016."""
    with UCDP.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        kept = [r for r in reader if "2016-02-27" <= r["date_start"] <= "2016-10-31"][:rows]
        fields = reader.fieldnames
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fields)  # type: ignore[arg-type]
        writer.writeheader()
        writer.writerows(kept)
    return path


def feed(name: str, adapter: str, source: str, **extra) -> FeedSpec:
    return FeedSpec.model_validate({"name": name, "adapter": adapter, "source": source,
                                    "reliability": "B", "allow_private_network": True, **extra})


def partner_line(i: int) -> str:
    return json.dumps({"source_id": f"p{i}", "occurred": "2016-09-15",
                       "attacker": "Syrian or Russian jets", "target": "civilians",
                       "event_type": "air_strike",
                       "location": {"lat": 36.136, "lon": 36.830},
                       "notes": "Warplanes struck a bakery"})


def test_run_once_records_every_feed_and_a_second_run_adds_nothing(pack, ledger, clock,
                                                                    tmp_path):
    ucdp_subset(tmp_path / "ucdp.csv", 300)
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "a.jsonl").write_text(partner_line(1) + "\n" + partner_line(2) + "\n")
    specs = [feed("ucdp", "ucdp", "ucdp.csv", options={"batch_size": 100}),
             feed("partners", "jsonl", "drop")]
    daemon = Daemon(Monitor(pack, ledger, clock), specs, tmp_path, sleep=lambda s: False)
    runs = {r.feed: r for r in daemon.run_once()}
    assert runs["ucdp"].ok and runs["ucdp"].new == 300 and runs["ucdp"].batches == 3
    assert runs["partners"].new == 2 and runs["partners"].findings >= 2
    assert ledger.counts()["reports"] == 302
    again = daemon.run_once()
    assert [r.new for r in again] == [0, 0]
    assert ledger.counts()["reports"] == 302
    health = ledger.feed_health()
    assert [h["feed"] for h in health] == ["partners", "ucdp"] * 2 and all(h["ok"] for h in health)
    assert ledger.verify().ok


class _Node:
    """An object that can be in a cycle and be watched by a weak reference."""


def test_feeds_run_with_the_batch_collector_and_a_run_leaves_no_cycles(pack, ledger, clock,
                                                                        tmp_path):
    import gc
    import weakref

    from monitor.pipeline import BATCH_GC_THRESHOLD

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.jsonl").write_text(partner_line(ord(name)) + "\n")
    seen: list[tuple[str, int, list[bool]]] = []
    left: list[weakref.ref] = []

    def on_batch(feed: str, n: int) -> None:
        # what the collector runs at, and whether the cycles of the runs before are gone
        seen.append((feed, gc.get_threshold()[0], [ref() is None for ref in left]))
        node = _Node()
        node.me = node  # cyclic garbage made during the run
        left.append(weakref.ref(node))

    daemon = Daemon(Monitor(pack, ledger, clock),
                    [feed("a", "jsonl", "a"), feed("b", "jsonl", "b")], tmp_path,
                    on_batch=on_batch, sleep=lambda s: False)
    before = gc.get_threshold()
    runs = daemon.run_once()
    assert [r.new for r in runs] == [1, 1]
    # in batches the collector is rare; the cycles a feed's run left are collected at its end
    assert seen == [("a", BATCH_GC_THRESHOLD, []), ("b", BATCH_GC_THRESHOLD, [True])]
    assert gc.get_threshold() == before  # and it is as it was once the runs are over


def never_answers(release: threading.Event):
    """A route that answers only once ``release`` is set (the test sets it when done): the
    client's timeout, not this server, ends the request."""
    def route(path, query):
        release.wait(60)
        return 200, b"{}", {}
    return route


def huge(path, query):
    return 200, b"x" * 3_000_000, {"Content-Type": "application/json"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("route", "reason"), [
    ("refused", "ConnectError"),
    ("/500", "HTTP 500"),
    ("/slow", "timed out"),
    ("/garbage", "not JSON"),
    ("/huge", "over the feed's max_bytes"),
], ids=["connection refused", "HTTP 500", "timeout", "garbage", "oversized response"])
def test_a_failing_source_is_retried_recorded_and_does_not_stop_the_others(
        pack, ledger, clock, tmp_path, route, reason):
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "a.jsonl").write_text(partner_line(1) + "\n")
    release = threading.Event()
    routes = {"/500": (500, b"oops", {}), "/slow": never_answers(release),
              "/garbage": (200, b"<html>", {}), "/huge": huge}
    waits: list[float] = []
    with serve(routes) as base:
        url = (f"http://127.0.0.1:{closed_port()}/x" if route == "refused" else base + route)
        # a server that never answers: any timeout shows it; a short one keeps the test short
        timeout = 0.2 if route == "/slow" else 1
        specs = [feed("broken", "ucdp", url, timeout_seconds=timeout, retries=2,
                      max_bytes=1_000_000),
                 feed("partners", "jsonl", "drop")]
        daemon = Daemon(Monitor(pack, ledger, clock), specs, tmp_path,
                        sleep=lambda s: waits.append(s) or False)
        try:
            runs = {r.feed: r for r in daemon.run_once()}
        finally:
            release.set()
    assert not runs["broken"].ok and reason in runs["broken"].reason
    assert runs["broken"].attempts == 3 and waits == [1.0, 2.0]  # exponential backoff
    assert runs["partners"].ok and runs["partners"].new == 1
    failure = [h for h in ledger.feed_health() if h["feed"] == "broken"][0]
    assert failure["ok"] == 0 and reason in failure["reason"]


def test_a_revision_supersedes_and_a_retraction_withdraws(pack, ledger, clock, tmp_path):
    monitor = Monitor(pack, ledger, clock)
    base = {"feed": "acled", "source_id": "SYR1", "occurred": "2016-08-10",
            "attacker": "Military Forces of Syria (2000-)", "target": "Civilians (Syria)",
            "event_type": "air_strike", "location": {"lat": 35.614, "lon": 36.562},
            "notes": "helicopters dropped barrel bombs on the market"}
    first = monitor.submit([("r1", {**base, "revision": "100"})])
    assert {f.term for f in first.findings} == {"MAY-CIV", "JIG-SAAF"}
    # the source corrects the record: it was artillery, not helicopters
    second = monitor.submit([("r2", {**base, "revision": "200", "event_type": "shelling",
                                     "notes": "artillery shells hit the market"})])
    assert {f.term for f in second.findings} == {"MAY-CIV"}
    current = {f["term"]: f for f in ledger.findings() if f["status"] != "superseded"}
    assert set(current) == {"MAY-CIV"} and current["MAY-CIV"]["revision"] == "200"
    assert current["MAY-CIV"]["supersedes"] == next(
        f.finding_id for f in first.findings if f.term == "MAY-CIV")
    assert {f["status"] for f in ledger.findings() if f["revision"] == "100"} == {"superseded"}
    third = monitor.submit([], feed="acled", retractions=["SYR1"])
    assert third.retracted == 1
    assert ledger.finding(current["MAY-CIV"]["finding_id"])["status"] == "retracted"
    assert len(ledger.findings()) == 3  # nothing was rewritten or removed
    assert ledger.verify().ok


def env_for(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "config"
    if not config.exists():
        import shutil

        root = Path(__file__).resolve().parents[1]
        shutil.copytree(root / "config", config)
        shutil.copytree(root / "rules", tmp_path / "rules")
        (tmp_path / "feeds").mkdir()
    return {**os.environ, "MONITOR_CONFIG": str(config), "MONITOR_DB": str(tmp_path / "l.db"),
            "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_and_repeats_nothing(tmp_path):
    """A smoke test beside the crashes at chosen points (test_crashes.py): the daemon killed
    at random moments, as many of them as land before it finishes on this machine."""
    env = env_for(tmp_path)
    rows = 4000
    ucdp_subset(tmp_path / "feeds" / "ucdp.csv", rows)
    (tmp_path / "feeds" / "ucdp.yaml").write_text(
        "name: ucdp\nadapter: ucdp\nsource: ucdp.csv\noptions: {batch_size: 50}\n")
    rng = random.Random(2016)
    for _ in range(20):
        proc = subprocess.Popen(MONITOR + ["run", "--once"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(rng.uniform(0.5, 2.0))  # the random moment is the point of this test
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    final = subprocess.run(MONITOR + ["run", "--once"], env=env, cwd=tmp_path,
                           capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    ledger = Ledger.open(tmp_path / "l.db", readonly=True)
    reports = ledger.query("SELECT source_id, count(*) AS n FROM reports GROUP BY source_id")
    assert len(reports) == rows and all(r["n"] == 1 for r in reports)
    assert ledger.verify().ok
    verify = subprocess.run(MONITOR + ["ledger", "verify"], env=env, cwd=tmp_path,
                            capture_output=True, text=True)
    assert verify.returncode == 0 and "hash chain intact" in verify.stdout


def test_first_sigterm_finishes_the_batch_and_exits_cleanly(tmp_path):
    env = env_for(tmp_path)
    ucdp_subset(tmp_path / "feeds" / "ucdp.csv", 2000)
    (tmp_path / "feeds" / "ucdp.yaml").write_text(
        "name: ucdp\nadapter: ucdp\nsource: ucdp.csv\noptions: {batch_size: 50}\n")
    proc = subprocess.Popen(MONITOR + ["run"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    db = tmp_path / "l.db"

    def three_batches_recorded() -> bool:
        try:
            return db.exists() and Ledger.open(db, readonly=True).counts().get(
                "feed_cursors", 0) > 2
        except LedgerError:
            return False  # the daemon is still creating the ledger

    assert wait_until(three_batches_recorded, 120), "the daemon recorded no batch"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "finishing the current batch" in out
    ledger = Ledger.open(db, readonly=True)
    assert ledger.verify().ok
    # it stopped early: not every record was taken, and what was taken is whole batches
    assert 0 < ledger.counts()["reports"] < 2000
    assert ledger.counts()["reports"] % 50 == 0


def test_the_daemon_writes_the_daily_brief_of_the_day_that_ended(tmp_path, monkeypatch):
    from monitor.cli.common import Context
    from monitor.cli.run import daily_brief
    from monitor.config import BriefsSpec

    env = env_for(tmp_path)
    monkeypatch.setenv("MONITOR_CONFIG", env["MONITOR_CONFIG"])
    context = Context(None, str(tmp_path / "l.db"))
    monitor = Monitor(context.pack, Ledger.open(tmp_path / "l.db"))
    spec = BriefsSpec(output_dir=str(tmp_path / "briefs"), format="md")
    daily_brief(context, monitor, spec)
    written = sorted(p.name for p in (tmp_path / "briefs").iterdir())
    assert len(written) == 2 and all(n.startswith("brief-") and n.endswith(".md")
                                     for n in written)


def test_an_expensive_refresh_defers_the_next_and_the_queue_keeps_what_is_owed(
        pack, ledger, clock, tmp_path, monkeypatch):
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "a.jsonl").write_text(partner_line(1) + "\n")
    daemon = Daemon(Monitor(pack, ledger, clock), [feed("partners", "jsonl", "drop")], tmp_path,
                    sleep=lambda s: False)
    daemon.run_once()
    assert ledger.pattern_work() == (0, [])  # a cheap refresh: done after the run
    # as if the last refresh had taken an hour: the next runs only queue their windows
    daemon._refresh_due = time.monotonic() + 3600
    lines = "".join(partner_line(i) + "\n" for i in range(2, 8))
    (tmp_path / "drop" / "b.jsonl").write_text(lines)
    [run] = daemon.run_once()
    assert run.new == 6
    assert ledger.pattern_work()[0] > 0 and ledger.alerts("escalation") == []
    assert daemon.refresh_patterns() is False  # still deferred
    # once due, the owed refresh is paid; what it records is what refreshing at once gives
    daemon._refresh_due = 0.0
    assert daemon.refresh_patterns() is True
    assert ledger.pattern_work() == (0, [])
    deferred = [(a["kind"], a["party"], a["start"]) for a in ledger.alerts("escalation")]
    assert deferred, "seven air strikes on one town in a day are an escalation"
    other = Ledger.open(tmp_path / "other.db", clock=clock)
    (tmp_path / "drop2").mkdir()
    (tmp_path / "drop2" / "a.jsonl").write_text(
        "".join(partner_line(i) + "\n" for i in range(1, 8)))
    Daemon(Monitor(pack, other, clock), [feed("partners", "jsonl", "drop2")], tmp_path,
           sleep=lambda s: False).run_once()
    assert [(a["kind"], a["party"], a["start"]) for a in other.alerts("escalation")] == deferred
    assert ledger.verify().ok


def test_memory_a_run_freed_goes_back_to_the_system():
    # What a long daemon must not do: keep, for months, the peak of its largest run. Buffers of
    # 4 KiB come from the C heap (not Python's arenas); keeping the last one pins the heap's top,
    # so without malloc_trim glibc would keep every freed page below it.
    if sys.platform != "linux" or not os.path.exists("/proc/self/status"):
        pytest.skip("resident memory is read from /proc on Linux")

    def rss_mib() -> float:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024

    from monitor.daemon import give_back_memory
    before = rss_mib()
    buffers = [bytearray(4096) for _ in range(50_000)]  # ~200 MiB, each page touched
    peak = rss_mib()
    keep = buffers[-1]
    del buffers
    assert peak - before > 150
    assert give_back_memory() is True  # glibc (Debian) can be asked
    after = rss_mib()
    assert after - before < 50, (before, peak, after)
    assert len(keep) == 4096
