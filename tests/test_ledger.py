"""The ledger: append-only tables sharing one hash chain, which verify() recomputes."""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import io
import json
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlite_utils import Migrations

from ledger_helpers import has_report, report_keys_of_feed, reports_judged_in, reviews
from monitor import geo
from monitor.keys import report_key
from monitor.adapters import reader
from monitor.config import PROJECT_ROOT, Pack
from monitor.errors import MonitorError
from monitor.ledger import (
    CHARGED_SET_SQL,
    GENESIS_HASH,
    MAX_WINDOW,
    DuplicateEntryError,
    Ledger,
    LedgerError,
    VerifyResult,
    canonical_entry,
    canonical_json,
    chained_table_migration,
    entry_hash,
    iso,
)
from monitor.ledger import schema, verify
from monitor.models import charged_set
from monitor.output import write_json_texts
from monitor.service import Monitor

T0 = datetime(2026, 11, 22, 4, 0, tzinfo=timezone.utc)


class SteppingClock:
    """A fixed clock that moves one millisecond per reading: deterministic, entries distinct."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        current, self.now = self.now, self.now + timedelta(milliseconds=1)
        return current


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "ledger.db"  # the directory does not exist yet


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    opened = Ledger.open(path, clock=SteppingClock())
    yield opened
    opened.close()


def report(n: int, feed: str = "acled") -> dict[str, Any]:
    return {"report_key": f"{feed}:{n}:1", "feed": feed, "source_id": str(n), "revision": "1",
            "incident_id": f"inc-{n}",
            "body": {"notes": f"report {n} — Idlib", "attacker": ["SAA"]}}


def incident(n: int) -> dict[str, Any]:
    return {"incident_id": f"inc-{n}", "report_key": f"acled:{n}:1",
            "occurred_start": f"2016-09-{n:02d}T00:00:00+00:00",
            "occurred_end": f"2016-09-{n + 1:02d}T00:00:00+00:00", "lat": 35.93, "lon": 36.63,
            "location_precision": 1, "place": "Idlib", "event_type": "air_strike",
            "attacker_sides": ["syrian_government"], "target_sides": ["opposition"],
            "zones": ["coh_area"], "resolution": {"notes": ["platform from 'warplanes'"]}}


def finding(n: int, **changes: Any) -> dict[str, Any]:
    row = {"finding_id": f"f-{n}", "incident_id": f"inc-{n}", "term": "COH-AIR",
           "instrument": "COH", "instrument_status": "agreed",
           "charged_to": ["syrian_government"], "severity": "major", "confidence": "medium",
           "attribution": "single", "rule_id": "coh-air", "rule_version": "abc123",
           "explanation": [{"fact": "platform", "value": "fixed_wing"}],
           "occurred": f"2016-09-{n:02d}T00:00:00+00:00",
           "occurred_end": f"2016-09-{n + 1:02d}T00:00:00+00:00", "feed": "acled",
           "source_id": str(n), "revision": "1", "supersedes": None}
    return row | changes


def record(ledger: Ledger, n: int, **finding_changes: Any) -> None:
    """One report, its incident and one finding: three entries."""
    with ledger.transaction():
        ledger.append("reports", report(n))
        ledger.append("incidents", incident(n))
        ledger.append("findings", finding(n, **finding_changes))


def tamper(path: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """What a user with the sqlite3 shell could do: drop the triggers, change rows, and put
    the triggers back (a trigger left out is itself named by verify)."""
    conn = sqlite3.connect(path)
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                            ).fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    for sql, params in statements:
        conn.execute(sql, params)
    for _, sql in triggers:
        conn.execute(sql)
    conn.commit()
    conn.close()


# --- appending and the chain ---------------------------------------------------------------


def test_append_fills_in_the_chain(ledger: Ledger, path: Path) -> None:
    with ledger.transaction():
        first = ledger.append("reports", report(1))
        second = ledger.append("incidents", incident(1))
    assert path.is_file()
    assert (first["seq"], first["prev_hash"]) == (1, GENESIS_HASH)
    assert first["recorded_at"] == "2026-11-22T04:00:00.000000+00:00"
    assert first["body"] == {"notes": "report 1 — Idlib", "attacker": ["SAA"]}  # decoded
    assert (second["seq"], second["prev_hash"]) == (2, first["hash"])
    assert second["recorded_at"] == "2026-11-22T04:00:00.001000+00:00"
    assert ledger.verify() == VerifyResult(True, 2, head_hash=second["hash"])


def test_canonical_form_is_the_documented_contract(ledger: Ledger, path: Path) -> None:
    with ledger.transaction():
        ledger.append("reports", report(1))
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    stored = dict(conn.execute("SELECT * FROM reports").fetchone())
    conn.close()
    assert stored["body"] == '{"attacker":["SAA"],"notes":"report 1 — Idlib"}'
    body = {k: v for k, v in stored.items() if k != "hash"}
    canonical = json.dumps({"table": "reports", **body}, sort_keys=True, separators=(",", ":"),
                           ensure_ascii=False)
    # Pinned: if either of these changes, every ledger ever written stops verifying.
    assert canonical == (
        '{"body":"{\\"attacker\\":[\\"SAA\\"],\\"notes\\":\\"report 1 — Idlib\\"}",'
        '"feed":"acled","incident_id":"inc-1","prev_hash":"' + "0" * 64 + '",'
        '"recorded_at":"2026-11-22T04:00:00.000000+00:00","report_key":"acled:1:1",'
        '"revision":"1","seq":1,"source_id":"1","table":"reports"}')
    assert canonical_entry("reports", stored) == canonical  # the ledger's one definition
    digest = hashlib.sha256((GENESIS_HASH + canonical).encode("utf-8")).hexdigest()
    assert stored["hash"] == digest == (
        "5529266766889e8bad6d33f1690c1d5a1d91b9066a584a8fe9567286f416d3f6")


def test_values_are_stored_exactly_as_they_were_hashed(ledger: Ledger, path: Path) -> None:
    with ledger.transaction():
        row = ledger.append("incidents", incident(1) | {
            "lat": 35, "lon": -0.0, "location_precision": True, "zones": ("a", "b")})
        ledger.append("incidents", incident(2) | {"lat": 1 / 3, "lon": 1e-05})
    assert (row["lat"], row["lon"], row["location_precision"], row["zones"]) == (
        35.0, 0.0, 1, ["a", "b"])
    assert ledger.query("SELECT lat, typeof(lat) AS t FROM incidents WHERE seq = 1") == [
        {"lat": 35.0, "t": "real"}]
    assert ledger.verify().ok


@pytest.mark.parametrize("table, row, message", [
    ("findings", {"finding_id": "f", "colour": "red"}, "findings has no column colour"),
    ("incidents", {"incident_id": "i", "lat": "35.9"}, "incidents.lat: cannot record '35.9'"),
    ("incidents", {"incident_id": "i", "lat": float("nan")}, "incidents.lat"),
    ("incidents", {"incident_id": "i", "location_precision": 1.5}, "location_precision"),
    ("findings", {"finding_id": "f", "occurred": date(2016, 9, 12)}, "ISO 8601 string"),
    ("findings", {"finding_id": "f", "explanation": [{1, 2}]}, "not JSON-serialisable"),
    ("verdicts", {"x": 1}, "'verdicts' is not a chained table"),
], ids=["unknown column", "text for REAL", "NaN", "float for INTEGER", "date object",
        "set in JSON", "unknown table"])
def test_wrong_rows_are_refused(ledger: Ledger, table: str, row: dict[str, Any],
                                message: str) -> None:
    with ledger.transaction():
        with pytest.raises(LedgerError, match=message):
            ledger.append(table, row)
    assert sum(ledger.counts().values()) == 0


def test_append_outside_a_transaction_is_refused(ledger: Ledger) -> None:
    with pytest.raises(LedgerError, match="inside `with ledger.transaction"):
        ledger.append("reports", report(1))


def test_ledger_errors_are_monitor_errors() -> None:
    assert issubclass(LedgerError, MonitorError) and issubclass(DuplicateEntryError, LedgerError)


def test_another_thread_cannot_append_into_an_open_transaction(ledger: Ledger) -> None:
    errors: list[Exception] = []

    def intruder() -> None:
        try:
            ledger.append("reports", report(2))
        except LedgerError as exc:
            errors.append(exc)

    with ledger.transaction():
        ledger.append("reports", report(1))
        thread = threading.Thread(target=intruder)
        thread.start()
        thread.join()
    assert len(errors) == 1 and ledger.counts()["reports"] == 1


def test_a_naive_clock_is_refused(path: Path) -> None:
    naive = Ledger.open(path, clock=lambda: datetime(2026, 11, 22, 4, 0))
    with naive.transaction(), pytest.raises(LedgerError, match="naive"):
        naive.append("reports", report(1))
    naive.close()


# --- transactions --------------------------------------------------------------------------


def test_rollback_leaves_nothing_and_the_chain_continues(ledger: Ledger) -> None:
    record(ledger, 1)
    with pytest.raises(RuntimeError), ledger.transaction():
        ledger.append("reports", report(2))
        ledger.append("incidents", incident(2))
        raise RuntimeError("the feed went away half-way")
    assert {k: v for k, v in ledger.counts().items() if v} == {
        "findings": 1, "incidents": 1, "reports": 1}
    record(ledger, 3)
    assert [r["seq"] for r in ledger.findings()] == [3, 6]
    assert ledger.verify().ok


def test_a_nested_transaction_rolls_back_only_its_own_rows(ledger: Ledger) -> None:
    with ledger.transaction():
        ledger.append("reports", report(1))
        with pytest.raises(DuplicateEntryError), ledger.transaction():
            ledger.append("reviews", {"kind": "unknown_actor", "detail": "Jaish X"})
            ledger.append("reports", report(1))  # the same key again
        ledger.append("reports", report(2))
    assert [r["report_key"] for r in ledger.query("SELECT * FROM reports ORDER BY seq")] == [
        "acled:1:1", "acled:2:1"]
    assert reviews(ledger) == []
    assert ledger.verify() == VerifyResult(
        True, 2, head_hash=ledger.query("SELECT hash FROM reports WHERE seq = 2")[0]["hash"])


def test_rows_appended_in_a_deferred_block_are_there_for_what_follows(path: Path) -> None:
    deferred, plain = Ledger.open(path, clock=SteppingClock()), Ledger.open(
        path.with_name("plain.db"), clock=SteppingClock())
    for ledger in (deferred, plain):
        with ledger.transaction():
            block = ledger.deferred() if ledger is deferred else contextlib.nullcontext()
            with block:
                for n in (1, 2):
                    ledger.append("reports", report(n))
                    ledger.append("incidents", incident(n))
                    ledger.append("findings", finding(n))
                    # a read (here of a view over two tables and a derived one) sees them all
                    assert ledger.query("SELECT count(*) AS n FROM finding_status")[0]["n"] == n
                    assert len(ledger.findings(party="syrian_government")) == n
                ledger.append("status_changes", {"finding_id": "f-1", "status": "confirmed",
                                                 "by": "analyst", "note": "seen"})
            assert ledger.findings(status="confirmed")[0]["finding_id"] == "f-1"
    rows = "SELECT * FROM {} ORDER BY 1"
    for table in ("reports", "incidents", "findings", "status_changes", "finding_state",
                  "finding_parties", "scorecard_counts"):  # the same rows, the same hashes
        assert deferred.query(rows.format(table)) == plain.query(rows.format(table)), table
    assert deferred.verify().ok


def test_a_read_that_names_its_tables_has_only_theirs_inserted_first(path: Path) -> None:
    """Inside a deferred block a read that names the tables it reads (the incident's reports,
    a finding's history: what carrying a revised finding's support over reads for each one)
    has only their rows inserted before it; a finding and its status change, with the
    derived tables they bring up to date, wait for a statement that needs them. The ledger
    is the one that reads inserting everything first give."""
    ledgers = {}
    for way in ("named", "everything"):
        ledger = ledgers[way] = Ledger.open(path.with_name(f"{way}.db"), clock=SteppingClock())
        with ledger.transaction(), ledger.deferred():
            ledger.append("reports", report(1))
            ledger.append("incidents", incident(1))
            ledger.append("findings", finding(1))
            ledger.append("status_changes", {"finding_id": "f-1", "status": "confirmed",
                                             "by": "analyst", "note": "seen"})
            ledger.append("finding_support", {"finding_id": "f-1", "report_key": "acled:1:1",
                                              "independent": 1, "note": "the same event"})
            if way == "everything":
                ledger.query("SELECT 1")  # any other statement inserts every row first
            assert [r["report_key"] for r in ledger.reports_now_in("inc-1")] == ["acled:1:1"]
            assert [s["report_key"] for s in ledger.history("finding_support", "f-1")] == [
                "acled:1:1"]
            if way == "named":
                assert set(ledger._unwritten or {}) == {"findings", "status_changes"}
            assert [s["status"] for s in ledger.history("status_changes", "f-1")] == [
                "confirmed"]
            if way == "named":  # the status change's derived rows went in, the finding waits
                assert set(ledger._unwritten or {}) == {"findings"}
            ledger.append("reports", report(2))
            ledger.append("incidents", incident(2))
            ledger.append("findings", finding(2))
        assert ledger.findings(status="confirmed")[0]["finding_id"] == "f-1"
    named, everything = ledgers["named"], ledgers["everything"]
    for table in ("reports", "incidents", "findings", "status_changes", "finding_support",
                  "finding_state", "finding_parties", "scorecard_counts"):
        # finding_parties in the order it was written (verify's fast check reads it so)
        rows = f"SELECT {'rowid, ' * (table == 'finding_parties')}* FROM {table} ORDER BY 1"
        assert named.query(rows) == everything.query(rows), table
    assert named.verify().ok and everything.verify().ok


def test_a_duplicate_in_a_deferred_block_is_refused_at_its_end_with_the_whole_transaction(
        ledger: Ledger) -> None:
    record(ledger, 1)
    with pytest.raises(DuplicateEntryError, match="reports: already recorded"), \
            ledger.transaction(), ledger.deferred():
        ledger.append("reports", report(2))
        ledger.append("reports", report(1))  # the same key again: refused when written
    assert ledger.counts()["reports"] == 1
    with ledger.transaction(), ledger.deferred():
        ledger.append("reports", report(3))
        with pytest.raises(RuntimeError), ledger.transaction():  # a savepoint rolled back
            ledger.append("reports", report(4))
            raise RuntimeError("stop")
        ledger.append("reports", report(5))
    assert [r["report_key"] for r in ledger.query("SELECT * FROM reports ORDER BY seq")] == [
        "acled:1:1", "acled:3:1", "acled:5:1"]
    assert ledger.verify().ok
    with pytest.raises(LedgerError, match="inside `with ledger.transaction"), \
            ledger.deferred():
        pass


def test_append_many_is_all_or_nothing(ledger: Ledger) -> None:
    with ledger.transaction():
        assert ledger.append_many("reports", [report(n) for n in range(1, 101)]) == 100
        with pytest.raises(DuplicateEntryError, match="reports: already recorded"):
            ledger.append_many("reports", [report(n) for n in range(101, 111)] + [report(5)])
        ledger.append("reviews", {"kind": "note", "detail": "after the failed batch"})
    assert ledger.counts()["reports"] == 100
    assert reviews(ledger)[0]["seq"] == 101
    assert ledger.verify().ok


def test_two_ledgers_on_one_file_in_two_threads_keep_one_chain(path: Path) -> None:
    writers = [Ledger.open(path, clock=SteppingClock()) for _ in range(2)]
    start, errors = threading.Barrier(2), []

    def write(who: int) -> None:
        try:
            start.wait()
            for i in range(40):
                with writers[who].transaction():
                    for part in ("first", "second"):
                        writers[who].append("reviews",
                                            {"kind": f"w{who}", "detail": f"{i} {part}"})
        except Exception as exc:  # e.g. 'database is locked'
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(who,)) for who in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = reviews(writers[0])
    assert [r["seq"] for r in rows] == list(range(1, 161))
    # Each transaction's two rows are adjacent: no writer ever slipped in between.
    assert all(a["kind"] == b["kind"] and a["detail"].split()[0] == b["detail"].split()[0]
               for a, b in zip(rows[::2], rows[1::2]))
    assert writers[1].verify() == VerifyResult(True, 160, head_hash=rows[-1]["hash"])
    for writer in writers:
        writer.close()


def test_one_ledger_shared_by_threads_keeps_one_chain(ledger: Ledger) -> None:
    def write(who: int) -> None:
        for i in range(25):
            with ledger.transaction():
                ledger.append("reviews", {"kind": f"t{who}", "detail": str(i)})

    threads = [threading.Thread(target=write, args=(who,)) for who in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.verify() == VerifyResult(
        True, 100, head_hash=reviews(ledger)[-1]["hash"])


# --- append-only and verification ----------------------------------------------------------


@pytest.mark.parametrize("table", ["reports", "incidents", "findings", "status_changes",
                                   "reviews"])
@pytest.mark.parametrize("statement, verb", [
    ("UPDATE {} SET recorded_at = 'yesterday'", "updated"),
    ("DELETE FROM {}", "deleted"),
])
def test_rows_cannot_be_updated_or_deleted(ledger: Ledger, path: Path, table: str,
                                           statement: str, verb: str) -> None:
    record(ledger, 1)
    with ledger.transaction():
        ledger.append("status_changes", {"finding_id": "f-1", "status": "confirmed"})
        ledger.append("reviews", {"kind": "note", "detail": "x"})
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError,
                       match=f"ledger is append-only: {table} rows cannot be {verb}"):
        conn.execute(statement.format(table))
    conn.close()
    assert ledger.verify().ok


def test_verify_names_an_edited_row(ledger: Ledger, path: Path) -> None:
    for n in range(1, 5):
        record(ledger, n)
    tamper(path, ("UPDATE findings SET severity = 'minor' WHERE finding_id = 'f-3'", ()))
    result = ledger.verify()
    assert (result.ok, result.table, result.seq, result.entries) == (False, "findings", 9, 8)
    assert result.problem == ("findings row seq 9 (finding_id f-3) was altered: its hash does "
                              "not match its contents")


def test_verify_names_a_deleted_row(ledger: Ledger, path: Path) -> None:
    for n in range(1, 4):
        record(ledger, n)
    tamper(path, ("DELETE FROM incidents WHERE seq = 5", ()))
    result = ledger.verify()
    assert (result.ok, result.seq, result.entries) == (False, 5, 4)
    assert result.problem == "entry seq 5 is missing (deleted?)"


def test_verify_detects_two_rows_swapping_contents(ledger: Ledger, path: Path) -> None:
    record(ledger, 1)
    record(ledger, 2)
    # Every column but seq changes places (finding_id is unique: go through a spare seq).
    tamper(path, ("UPDATE findings SET seq = 99 WHERE seq = 3", ()),
           ("UPDATE findings SET seq = 3 WHERE seq = 6", ()),
           ("UPDATE findings SET seq = 6 WHERE seq = 99", ()))
    assert [r["finding_id"] for r in ledger.query("SELECT * FROM findings ORDER BY seq")] == [
        "f-2", "f-1"]
    result = ledger.verify()
    assert (result.ok, result.table, result.seq) == (False, "findings", 3)
    assert "was altered" in str(result.problem)


def test_verify_detects_a_row_rewritten_with_a_fresh_hash(ledger: Ledger, path: Path) -> None:
    record(ledger, 1)
    record(ledger, 2)
    forged = ledger.query("SELECT * FROM findings WHERE seq = 3")[0] | {"severity": "minor"}
    tamper(path, ("UPDATE findings SET severity = 'minor', hash = ? WHERE seq = 3",
                  (entry_hash("findings", forged),)))
    result = ledger.verify()
    assert (result.ok, result.table, result.seq) == (False, "reports", 4)
    assert "does not follow entry seq 3" in str(result.problem)


def test_verify_detects_renumbered_rows(ledger: Ledger, path: Path) -> None:
    record(ledger, 1)
    with ledger.transaction():
        ledger.append("reviews", {"kind": "note", "detail": "seq 4"})
    tamper(path, ("UPDATE reviews SET seq = 3 WHERE seq = 4", ()))
    assert ledger.verify().problem == "entry seq 3 appears twice (in findings and reviews)"
    tamper(path, ("UPDATE reviews SET seq = 5 WHERE seq = 3", ()))
    assert ledger.verify().problem == "entry seq 4 is missing (deleted?)"
    tamper(path, ("UPDATE findings SET seq = 4 WHERE seq = 3", ()),  # swap the last two
           ("UPDATE reviews SET seq = 3 WHERE seq = 5", ()))
    result = ledger.verify()
    assert (result.ok, result.table, result.seq, result.entries) == (False, "reviews", 3, 2)


def forged(ledger: Ledger, seq: int, **changes: Any) -> tuple[str, tuple[Any, ...]]:
    """A findings row rewritten with a hash that matches its new contents."""
    row = ledger.query("SELECT * FROM findings WHERE seq = ?", [seq])[0] | changes
    sets = ", ".join(f"{k} = ?" for k in changes)
    return (f"UPDATE findings SET {sets}, hash = ? WHERE seq = {seq}",
            (*changes.values(), entry_hash("findings", row)))


@pytest.mark.parametrize("statements", [
    [],
    [("UPDATE findings SET severity = 'minor' WHERE seq = 27", ())],  # in the upper half
    [("UPDATE findings SET severity = 'minor' WHERE seq = 6", ())],  # in the lower half
    [("DELETE FROM incidents WHERE seq = 17", ())],  # the upper half's first entry
    [("DELETE FROM incidents WHERE seq = 29", ())],
    "forge 15",  # the last entry of the lower half: the upper one does not follow it
    "forge 18",
    [("UPDATE reports SET seq = 15 WHERE seq = 16", ())],  # twice, at the boundary
    [("UPDATE findings SET seq = 99 WHERE seq = 15", ()),  # contents swapped across it
     ("UPDATE findings SET seq = 15 WHERE seq = 18", ()),
     ("UPDATE findings SET seq = 18 WHERE seq = 99", ())],
], ids=["intact", "edited-upper", "edited-lower", "deleted-first-upper", "deleted-upper",
        "forged-boundary", "forged-upper", "renumbered-boundary", "swapped-across"])
@pytest.mark.parametrize("apart", [False, True], ids=["lower-here", "lower-apart"])
def test_verify_in_two_processes_finds_what_one_pass_finds(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch, statements: Any,
        apart: bool) -> None:
    for n in range(1, 11):  # 30 entries
        record(ledger, n)
    if isinstance(statements, str):
        statements = [forged(ledger, int(statements.split()[1]), severity="minor")]
    tamper(path, *statements)
    one_pass = ledger.verify()
    # the lower part is 1..15 (the derived tables cost nothing), 1..10 (they cost 10
    # entries) or none of the chain (they cost more than all of it)
    for derived_cost, boundary in ((0, 15), (10, 10), (10**6, 0)):
        split_verify(monkeypatch, derived_cost, apart)
        assert verify._boundary(30, derived_cost) == boundary
        assert ledger.verify() == one_pass
        reader = Ledger.open(path, readonly=True)
        assert reader.verify() == one_pass
        reader.close()
    assert one_pass.ok == (statements == [])


def split_verify(monkeypatch: pytest.MonkeyPatch, derived_cost: int = 0,
                 apart: bool = False) -> None:
    """Verify a ledger of a few entries in two processes, as it does a big one: the second
    process's start and the derived tables weigh ``derived_cost`` entries in all; with
    ``apart``, the lower part in a process of its own too (sqlean.py installed: as on the
    machines it has wheels for), else here."""
    from monitor.ledger import store

    if apart:
        pytest.importorskip("sqlean")
    monkeypatch.setattr(verify, "PARALLEL_VERIFY_MIN", 2)
    monkeypatch.setattr(verify, "_START_ENTRIES", 0)
    # an entry costs both processes (almost) alike
    monkeypatch.setattr(verify, "_SQLEAN_COST", 0.999 if apart else 1.0)
    monkeypatch.setattr(store, "_DERIVED_FIXED_ENTRIES", derived_cost)
    monkeypatch.setattr(store, "_DERIVED_ENTRIES_PER_FINDING", 0)


def test_the_second_process_is_weighed_by_the_sqlite_it_reads_with(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert verify._upper_costs() == (1.0, 1.0)  # the standard library's SQLite, as here
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object() if name == "sqlean"
                        else None)
    assert verify._upper_costs() == (verify._SQLEAN_COST, verify._SQLEAN_THEN_COST)
    assert verify._SQLEAN_COST < 1 and verify._SQLEAN_THEN_COST <= 1


def test_the_derived_check_moves_the_boundary_and_runs_after_the_chain_holds(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.ledger import integrity, store

    for n in range(1, 11):
        record(ledger, n)
    monkeypatch.setattr(verify, "PARALLEL_VERIFY_MIN", 2)
    # with no derived check, this process takes the second process's start more than half
    assert verify._boundary(1_000_000, 0) == 510_000
    assert verify._boundary(1_000_000, 520_000) == 250_000  # the derived check: a half-process
    assert verify._boundary(100, 10**9) == 0 and verify._boundary(100, -10**9) == 100
    # a second process whose entries cost less (sqlean's SQLite) takes more of the chain, so
    # that both end together: this one's part (and the derived check) as long as its start
    # and its part at 0.88 of an entry each
    mid = verify._boundary(1_000_000, 0, 0.88)
    assert mid == 478_723
    assert abs(mid - (20_000 + (1_000_000 - mid) * 0.88)) < 2
    mid = verify._boundary(1_000_000, 520_000, 0.88)
    assert abs(mid + 520_000 - (20_000 + (1_000_000 - mid) * 0.88)) < 2
    # the derived check run by the second process, at 0.61 of its cost here: it takes less of
    # the chain
    mid = verify._boundary(1_000_000, 520_000, 0.88, 0.61)
    assert mid == 647_446
    assert abs(mid - (20_000 + (1_000_000 - mid) * 0.88 + 520_000 * 0.61)) < 2
    assert verify._boundary(100, 10**9, 1.0, 1.0) == 100  # all of the chain here
    # the lower part in a process like the second one: the chain split by the same cost, the
    # derived check's weight moved to the lower part, neither start counted
    mid = verify._boundary(1_000_000, 520_000, 0.88, 0.61, apart=True)
    assert abs(mid * 0.88 - (1_000_000 - mid) * 0.88 - 520_000 * 0.61) < 2
    # a finding of finding_parties (counted by scorecard_counts) weighs 0.2 of an entry, the
    # schema a constant
    (rows,) = ledger.query("SELECT count(*) AS n FROM finding_parties")
    (counted,) = ledger.query("SELECT sum(findings) AS n FROM scorecard_counts")
    assert rows["n"] == counted["n"] == 10
    assert store._derived_entries(ledger._conn) == store._DERIVED_FIXED_ENTRIES + 2
    checked: list[int] = []
    real = integrity.derived_problems
    # a function the second process cannot import by name runs here, after the whole chain
    monkeypatch.setattr(integrity, "derived_problems", lambda conn: checked.append(1) or real(
        conn))
    split_verify(monkeypatch, 10)
    assert ledger.verify().ok and checked == [1]  # once, through verify's own snapshot
    tamper(path, ("UPDATE findings SET severity = 'minor' WHERE seq = 6", ()))
    result = ledger.verify()
    assert (result.ok, result.seq) == (False, 6) and checked == [1]  # not after a broken chain


def test_verify_in_two_processes_names_an_edited_derived_table(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(1, 11):
        record(ledger, n)
    tamper(path, ("UPDATE finding_parties SET party = 'isil' WHERE finding_id = 'f-3'", ()))
    one_pass = ledger.verify()
    assert "finding_parties does not match the chain" in str(one_pass.problem)
    split_verify(monkeypatch, 10)
    assert ledger.verify() == one_pass


def spy_on_the_second_process(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """What each second process verify starts is asked to run after its part (its ``then``)."""
    asked: list[str | None] = []
    start = verify._start_part

    def spied(path: Path, lo: int | None, hi: int, n: int, then: str | None = None,
              last_hash: str | None = None) -> Any:
        if lo is not None:  # the upper part (the lower one, apart, runs nothing after it)
            asked.append(then)
        return start(path, lo, hi, n, then, last_hash)

    monkeypatch.setattr(verify, "_start_part", spied)
    return asked


@pytest.mark.parametrize("apart", [False, True], ids=["lower-here", "lower-apart"])
@pytest.mark.parametrize("seq", [3, 27], ids=["lower", "upper"])
def test_the_second_process_checks_the_derived_tables_once_its_part_holds(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch, seq: int,
        apart: bool) -> None:
    """The derived tables are compared by the second process (its SQLite, its snapshot) after
    its part of the chain: an edited finding_parties is named as in one pass, and nothing of
    it when the chain is broken, below the boundary or above it."""
    for n in range(1, 11):
        record(ledger, n)
    tamper(path, ("UPDATE finding_parties SET party = 'isil' WHERE finding_id = 'f-3'", ()))
    one_pass = ledger.verify()
    split_verify(monkeypatch, 10, apart)
    asked = spy_on_the_second_process(monkeypatch)
    assert ledger.verify() == one_pass
    assert "finding_parties does not match the chain" in str(one_pass.problem)
    assert asked == ["monitor.ledger.integrity:derived_problems"]
    # what that process writes back: its span, and the derived tables' problems
    proc = verify._start_part(path, 16, 30, 15, asked[0])
    assert proc is not None
    out = json.loads(proc.communicate()[0])
    assert out["ok"] and "; ".join(out["then"]) == one_pass.problem  # the schema is intact
    tamper(path, (f"UPDATE findings SET severity = 'minor' WHERE seq = {seq}", ()))
    broken = ledger.verify()
    assert (broken.ok, broken.seq) == (False, seq) and "finding_parties" not in str(
        broken.problem)
    assert len(asked) == 3  # verify started one more (and this test one, above)


@pytest.mark.parametrize("second", ["none", "fails"])
def test_without_a_second_process_the_derived_tables_are_checked_here(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch, second: str) -> None:
    for n in range(1, 11):
        record(ledger, n)
    tamper(path, ("UPDATE finding_parties SET party = 'isil' WHERE finding_id = 'f-3'", ()))
    one_pass = ledger.verify()
    split_verify(monkeypatch, 10)
    failing = [sys.executable, "-c", "import sys; sys.exit(1)"]
    monkeypatch.setattr(verify, "_start_part", lambda *args: None if second == "none" else
                        subprocess.Popen(failing, stdout=subprocess.PIPE))
    assert ledger.verify() == one_pass
    assert "finding_parties does not match the chain" in str(one_pass.problem)


def test_the_second_process_reads_without_sqlean_statement_cache(path: Path) -> None:
    """sqlean.py's statement cache slows verify's reads down; the standard library's is kept."""
    asked: list[dict[str, Any]] = []

    class Engine:  # a module like sqlite3 that says how it was asked to connect
        @staticmethod
        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            asked.append(kwargs)
            return sqlite3.connect(*args, **kwargs)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    verify._reader(path, Engine).close()
    verify._reader(path).close()
    assert asked == [{"uri": True, "timeout": 30, "isolation_level": None,
                      "check_same_thread": False, "cached_statements": 0}]


def test_only_a_function_of_the_package_runs_in_the_second_process() -> None:
    from monitor.ledger import integrity

    def nested(conn: Any) -> None:
        return None

    assert verify._importable(integrity.derived_problems) == (
        "monitor.ledger.integrity:derived_problems")
    assert verify._importable(lambda conn: None) is None
    assert verify._importable(nested) is None
    assert verify._importable(json.loads) is None  # not the package's


def test_the_upper_part_is_checked_by_a_second_process(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # verify falls back to checking the upper part itself: see that the second process runs.
    for n in range(1, 5):
        record(ledger, n)
    monkeypatch.chdir(path.parent)  # it finds the monitor package wherever it runs
    monkeypatch.delenv("PYTHONPATH", raising=False)
    started: list[dict[str, Any]] = []
    with monkeypatch.context() as m:  # installed or not: its path leads to this package
        m.setattr(verify.subprocess, "Popen", lambda *args, **kwargs: started.append(kwargs))
        verify._start_part(path, 7, 12, 6)
    assert (Path(started[0]["env"]["PYTHONPATH"]) / "monitor" / "ledger" / "verify.py"
            ).samefile(verify.__file__)
    proc = verify._start_part(path, 7, 12, 6)
    assert proc is not None
    out, _ = proc.communicate()
    assert proc.returncode == 0
    (last,) = ledger.query("SELECT hash FROM findings WHERE seq = 12")
    (first,) = ledger.query("SELECT prev_hash FROM reports WHERE seq = 7")
    span = json.loads(out)
    assert (span["ok"], span["n"], span["last_hash"]) == (True, 12, last["hash"])
    assert span["first"] == [7, "reports", first["prev_hash"]]


def test_verify_trusts_python_when_sqlite_builds_a_different_string(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    record(ledger, 1)
    # Pretend this SQLite formats REALs differently: only the slow path can vouch for the row.
    monkeypatch.setattr(verify, "_sql_canonical_json", lambda value: "1.0e+00")
    assert ledger.verify().ok
    with ledger.transaction():  # inside a transaction verify reads through the ledger's own
        ledger._conn.create_function("canonical_json", 1, lambda value: "1.0e+00")
        assert ledger.verify().ok


def real_ledger(path: Path, pack: Pack) -> Ledger:
    """A ledger as the monitor writes it: the sample feed, a strike told by two feeds
    (corroboration), an analyst's verdict, a feed run."""
    ledger = Ledger.open(path, clock=SteppingClock())
    monitor = Monitor(pack, ledger, clock=SteppingClock())
    sample = PROJECT_ROOT / "feeds" / "samples" / "acled_syria_2016_sample.csv"
    monitor.submit(list(reader("acled")(sample, feed="acled")))
    strike = {"occurred": "2016-09-20", "event_type": "air_strike", "target": "Civilians",
              "attacker": "Syrian or Russian jets", "notes": "warplanes struck the market",
              "location": {"lat": 35.614, "lon": 36.562, "precision": 1, "place": "Kafr Nabl"}}
    monitor.submit([("ucdp", {**strike, "feed": "ucdp", "source_id": "U1", "sources": ["SOHR"]})])
    monitor.submit([("by hand", {**strike, "feed": "manual", "source_id": "hand-1",
                                 "sources": ["an interview"]})])
    monitor.verdict(ledger.findings()[0]["finding_id"], "confirm", "analyst", "seen")
    with ledger.transaction():
        ledger.append("feed_health", {"feed": "acled", "ok": 1, "new": 11, "lag_seconds": 12.5,
                                      "started_at": "2026-11-22T04:00:00+00:00"})
    return ledger


@pytest.mark.parametrize("engine", ["sqlean", "sqlite3"])
def test_verify_sql_builds_the_canonical_form_of_every_real_entry(
        path: Path, pack: Pack, engine: str) -> None:
    """verify's fast path, SQLite's json_object, writes for each entry of a real ledger the
    very text canonical_entry writes: re-checking in Python is for rare REALs only."""
    module = pytest.importorskip(engine)
    ledger = real_ledger(path, pack)
    tables = list(ledger._tables.values())
    rows = {(t.name, row["seq"]): row for t in tables
            for row in ledger.query(f"SELECT * FROM {t.name}")}
    entries = ledger.verify().entries
    ledger.close()  # sqlean reads a file no other SQLite of this process has open
    conn = verify._reader(path, module)
    checked: dict[str, int] = {}
    for seq, index, payload, digest, prev in conn.execute(verify.chain_sql(tables)):
        t = tables[index]
        row = rows[t.name, seq]
        assert payload.decode() == prev + canonical_entry(t.name, row), (t.name, seq)
        assert hashlib.sha256(payload).hexdigest() == digest == entry_hash(t.name, row)
        checked[t.name] = checked.get(t.name, 0) + 1
    conn.close()
    assert set(checked) >= {"reports", "incidents", "findings", "status_changes", "reviews",
                            "links", "finding_support", "confidence_changes", "calm_counts",
                            "feed_health"}
    assert sum(checked.values()) == entries


def test_verify_second_process_reads_with_sqlean_and_finds_what_this_one_finds(
        ledger: Ledger, path: Path) -> None:
    """The upper part of a large ledger is checked by a second process, with sqlean.py where
    it is installed: on an intact and on an altered chain it finds what this process does."""
    for n in range(1, 11):
        record(ledger, n)

    def both() -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        here = ledger.verify()
        proc = verify._start_part(path, 1, 30, 0)
        assert proc is not None
        out, _ = proc.communicate()
        assert proc.returncode == 0
        there = verify._Span.from_fields(json.loads(out)).result()
        return ((here.ok, here.entries, here.table, here.seq, here.problem, here.head_hash),
                (there.ok, there.entries, there.table, there.seq, there.problem,
                 there.head_hash))

    intact = both()
    assert intact[0] == intact[1] and intact[0][:2] == (True, 30)
    tamper(path, ("UPDATE findings SET severity = 'minor' WHERE seq = 18", ()))
    altered = both()
    assert altered[0] == altered[1] and altered[0][:4] == (False, 17, "findings", 18)
    assert "findings row seq 18" in altered[0][4] and "altered" in altered[0][4]


def test_verify_second_process_uses_sqlean_where_installed() -> None:
    pytest.importorskip("sqlean")
    assert verify._sqlite_module().__name__ == "sqlean"


# Run as a script by the test below: verify's reader in one thread while this process's own
# sqlite3 opens, writes and closes connections to the same WAL file in another.
_TWO_SQLITES = """
import sqlite3, sys, threading
from pathlib import Path
from monitor.ledger import verify
path = sys.argv[1]
with sqlite3.connect(path, isolation_level=None) as w:
    w.execute("PRAGMA journal_mode=WAL")
    w.execute("CREATE TABLE t(x)")
    w.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(20000)])
w.close()
stop = False
def read():
    while not stop:
        r = verify._reader(Path(path))
        for _ in range(20):
            r.execute("SELECT count(*), sum(x) FROM t").fetchone()
        r.close()
reader = threading.Thread(target=read)
reader.start()
try:
    for _ in range(400):
        c = sqlite3.connect(path, isolation_level=None)
        c.execute("INSERT INTO t VALUES (1)")
        c.close()
finally:
    stop = True
    reader.join()
print(type(verify._reader(Path(path))).__module__)
"""


def test_verify_in_a_process_that_writes_reads_with_its_own_sqlite(tmp_path: Path) -> None:
    """verify reads, in the process that runs it, through the SQLite every other connection
    of that process uses: with sqlean's beside the standard library's, the standard library's
    next connection truncated the -shm file sqlean had mapped, and this script died of a Bus
    error or of "database disk image is malformed" in 5 runs of 5."""
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", _TWO_SQLITES, str(tmp_path / "t.db")],
                          capture_output=True, text=True, timeout=120, cwd=PROJECT_ROOT)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.split() == ["sqlite3"]


def test_an_empty_ledger_verifies(ledger: Ledger) -> None:
    assert ledger.verify() == VerifyResult(True, 0, head_hash=GENESIS_HASH)


# --- reading -------------------------------------------------------------------------------


def test_findings_filters(ledger: Ledger) -> None:
    record(ledger, 10)
    record(ledger, 12, term="MAY-CIV", instrument="MAY",
           charged_to=["russia", "syrian_government"])
    record(ledger, 13, charged_to=["opposition"], explanation=[{"fact": "zone", "value": "x"}])

    def ids(**filters: Any) -> list[str]:
        return [f["finding_id"] for f in ledger.findings(**filters)]

    assert ids() == ["f-10", "f-12", "f-13"]
    assert ids(term="MAY-CIV") == ["f-12"]
    assert ids(instrument="COH") == ["f-10", "f-13"]
    # TERMS.md §4 "Counting": a party's own row holds what is charged to it alone
    assert ids(party="syrian_government") == ["f-10"]
    assert ids(party="russia") == []
    assert ids(party="russia or syrian_government") == ["f-12"]
    assert ids(party="syria") == []  # whole sets, not substrings
    assert ids(since="2016-09-12") == ["f-12", "f-13"]  # inclusive
    assert ids(until="2016-09-12") == ["f-10"]  # exclusive
    assert ids(since=date(2016, 9, 11), until=date(2016, 9, 13)) == ["f-12"]
    at_noon_damascus = datetime(2016, 9, 12, 3, 0, tzinfo=timezone(timedelta(hours=3)))
    assert ids(since=at_noon_damascus) == ["f-12", "f-13"]  # 00:00 UTC, inclusive
    assert ids(since="2016-09-12T00:00:01+00:00") == ["f-13"]
    assert ids(incident_id="inc-13") == ["f-13"]
    assert ids(limit=2) == ["f-10", "f-12"]
    assert ids(term="COH-AIR", party="opposition", since="2016-09-01") == ["f-13"]
    f13 = ledger.finding("f-13")
    assert f13 is not None and f13["explanation"] == [{"fact": "zone", "value": "x"}]
    assert (f13["status"], f13["charged_to"], f13["recorded_at"]) == (
        "alleged", ["opposition"], "2026-11-22T04:00:00.008000+00:00")
    assert ledger.finding("f-99") is None
    with pytest.raises(LedgerError, match="no UTC offset"):
        ledger.findings(since="2016-09-12T00:00:00")


def test_a_finding_takes_the_status_of_its_latest_change(ledger: Ledger) -> None:
    record(ledger, 1)
    record(ledger, 2)
    with ledger.transaction():
        ledger.append("status_changes", {"finding_id": "f-1", "status": "corroborated",
                                         "by": "analyst", "note": "second source"})
        ledger.append("status_changes", {"finding_id": "f-1", "status": "confirmed", "by": "lead"})
        ledger.append("status_changes", {"finding_id": "f-2", "status": "disputed"})
    assert (ledger.finding("f-1") or {}).get("status") == "confirmed"
    assert [f["finding_id"] for f in ledger.findings(status="confirmed")] == ["f-1"]
    assert [f["finding_id"] for f in ledger.findings(status="alleged")] == []
    assert [f["finding_id"] for f in ledger.findings(status="disputed")] == ["f-2"]
    assert [s["status"] for s in ledger.history("status_changes", "f-1")] == [
        "corroborated", "confirmed"]
    assert ledger.verify().ok


# The views read straight from the chained tables (a correlated subquery per finding; each
# finding in one row, its charged set, TERMS.md §4 "Counting"; context findings in none): the
# derived tables of m003/m004 must give the same rows.
_SET = CHARGED_SET_SQL
M001_VIEWS = {
    "finding_status": "SELECT f.*, COALESCE((SELECT c.confidence FROM confidence_changes c "
                      "WHERE c.finding_id = f.finding_id ORDER BY c.seq DESC LIMIT 1), "
                      "f.confidence) AS confidence_now, COALESCE((SELECT s.status FROM "
                      "status_changes s WHERE s.finding_id = f.finding_id ORDER BY s.seq DESC "
                      "LIMIT 1), 'alleged') AS status FROM findings f ORDER BY f.seq",
    "findings_per_party_day": "SELECT date(julianday(f.occurred) + (julianday(f.occurred_end) "
                              f"- julianday(f.occurred)) / 2) AS day, {_SET} AS party, f.term, "
                              "f.severity, count(*) AS findings FROM current_findings f WHERE "
                              "f.instrument_status IS NOT 'context' GROUP BY day, party, f.term, "
                              "f.severity",
    "scorecard": f"SELECT {_SET} AS party, f.instrument, f.term, f.severity, count(*) AS "
                 "findings, min(f.occurred) AS first, max(f.occurred) AS last FROM "
                 "current_findings f WHERE f.status NOT IN ('disputed', 'discounted') AND "
                 "f.instrument_status IS NOT 'context' GROUP BY party, f.instrument, f.term, "
                 "f.severity",
}


def changes(ledger: Ledger) -> None:
    """Findings charged to one, two (one twice) or no side; status and confidence changes,
    one of them recorded before its finding."""
    record(ledger, 1)
    record(ledger, 2, charged_to=["russia", "syrian_government"], term="MAY-CIV",
           instrument="MAY", severity="critical")
    record(ledger, 3, charged_to=[])
    with ledger.transaction():
        ledger.append("status_changes", {"finding_id": "f-5", "status": "retracted"})
        ledger.append("status_changes", {"finding_id": "f-1", "status": "disputed"})
        ledger.append("status_changes", {"finding_id": "f-1", "status": "confirmed"})
        ledger.append("confidence_changes", {"finding_id": "f-2", "confidence": "high"})
        ledger.append_many("status_changes", [{"finding_id": "f-2", "status": "retracted"},
                                              {"finding_id": "f-2", "status": "discounted"}])
    record(ledger, 4, charged_to=["opposition", "opposition"])
    record(ledger, 5)  # retracted before it was recorded
    with ledger.transaction():
        ledger.append("status_changes", {"finding_id": "f-4", "status": "corroborated"})


def view_rows(ledger: Ledger, view: str) -> list[dict[str, Any]]:
    if view == "finding_status":
        rows = ledger.query("SELECT * FROM finding_status ORDER BY seq")
        return [{**r, "confidence_now": r["confidence"], "confidence": f["confidence"]}
                for r, f in zip(rows, ledger.query("SELECT * FROM findings ORDER BY seq"))]
    return ledger.query(f"SELECT * FROM {view}")


@pytest.mark.parametrize("view", sorted(M001_VIEWS))
def test_the_views_over_derived_tables_give_what_the_chained_tables_say(
        ledger: Ledger, view: str) -> None:
    changes(ledger)
    expected = ledger.query(M001_VIEWS[view])
    assert expected and view_rows(ledger, view) == expected
    assert "finding_state" not in ledger.counts()  # derived: not chained, not verified
    assert ledger.verify().entries == sum(ledger.counts().values())


def test_m003_fills_the_derived_tables_of_an_existing_ledger(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    older = Migrations("monitor.ledger")  # the ledger as the code before m003 left it
    older(name="m001_chained_tables")(schema._m001_chained_tables)
    older(name="m002_pattern_queue")(schema._m002_pattern_queue)
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", older)
        old = Ledger.open(path, clock=SteppingClock())
        changes(old)
        expected = {view: old.query(sql) for view, sql in M001_VIEWS.items()}
        assert [f["finding_id"] for f in old.findings(party="opposition")] == ["f-4"]
        old.close()
    new = Ledger.open(path, clock=SteppingClock())
    assert {view: view_rows(new, view) for view in M001_VIEWS} == expected
    assert new.verify().ok


def scorecard_counted(ledger: Ledger) -> list[dict[str, Any]]:
    """The scorecard counted from finding_parties, as the view counted it before m006."""
    return ledger.query("SELECT party, instrument, term, severity, count(*) AS findings, "
                        "min(occurred) AS first, max(occurred) AS last FROM finding_parties "
                        "WHERE status NOT IN ('superseded', 'retracted', 'disputed', "
                        "'discounted') GROUP BY party, instrument, term, severity")


def test_the_scorecard_counts_follow_every_change_of_finding_parties(ledger: Ledger) -> None:
    changes(ledger)
    assert ledger.query("SELECT * FROM scorecard") == scorecard_counted(ledger)
    for n in range(6, 10):  # one group: its first and last move as findings come and go
        record(ledger, n)
    steps = [("f-6", "disputed"), ("f-9", "retracted"), ("f-6", "confirmed"),
             ("f-1", "discounted"), ("f-7", "superseded"), ("f-8", "disputed"),
             ("f-6", "retracted"), ("f-9", "corroborated")]
    for finding_id, status in steps:
        with ledger.transaction():
            ledger.append("status_changes", {"finding_id": finding_id, "status": status})
        assert ledger.query("SELECT * FROM scorecard") == scorecard_counted(ledger), status
    assert ledger.verify().ok
    ledger.rebuild()
    assert ledger.query("SELECT * FROM scorecard") == scorecard_counted(ledger)
    with ledger.transaction():  # every finding set aside: the group is gone, not zero
        ledger.append_many("status_changes", [{"finding_id": f"f-{n}", "status": "disputed"}
                                              for n in range(1, 10)])
    assert ledger.query("SELECT * FROM scorecard") == scorecard_counted(ledger) == []
    assert ledger.query("SELECT count(*) AS n FROM scorecard_counts") == [{"n": 0}]


def migrations_without(*steps: str) -> Migrations:
    """The migrations but ``steps``: a ledger as the code before those steps left it."""
    older = Migrations("monitor.ledger")
    for name, fn in schema.MIGRATIONS._steps:
        if name not in steps:
            older(name=name)(fn)
    return older


def names_in(ledger: Ledger) -> set[str]:
    """The names of the tables, views, indexes and triggers of a ledger's file."""
    return {n for (n,) in ledger._conn.execute("SELECT name FROM sqlite_master")}


def written_without(path: Path, step: str, write: Callable[[Ledger], None]) -> set[str]:
    """A ledger at ``path`` written by ``write`` as the code before migration ``step`` left
    it; the names in its file (:func:`names_in`)."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(schema, "MIGRATIONS", migrations_without(step))
        old = Ledger.open(path, clock=SteppingClock())
        write(old)
        names = names_in(old)
        old.close()
    return names


def changed_without(path: Path, *steps: str) -> tuple[list[dict[str, Any]],
                                                     list[dict[str, Any]]]:
    """A ledger at ``path`` with :func:`changes` written as the code before migrations
    ``steps`` left it; its scorecard and its finding_parties rows (by finding) as that code
    read them."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(schema, "MIGRATIONS", migrations_without(*steps))
        old = Ledger.open(path, clock=SteppingClock())
        changes(old)
        read = (old.query("SELECT * FROM scorecard"),
                old.query("SELECT * FROM finding_parties ORDER BY finding_id"))
        old.close()
    return read


def test_m006_counts_the_scorecard_of_an_existing_ledger(path: Path) -> None:
    # (the code before m006 had none of the steps after it either: m012 renumbers the rows
    # m006 counts)
    expected, _ = changed_without(path, "m006_scorecard_counts", "m012_parties_by_seq")
    new = Ledger.open(path, clock=SteppingClock())
    assert expected and new.query("SELECT * FROM scorecard") == expected
    assert new.verify().ok


def test_m012_numbers_finding_parties_by_seq_and_keeps_the_scorecard(path: Path) -> None:
    from monitor.ledger import integrity

    expected, rows = changed_without(path, "m012_parties_by_seq")
    # as the code before m012 numbered them: one after the other, from 1
    tamper(path, ("CREATE TEMP TABLE t AS SELECT * FROM finding_parties ORDER BY rowid", ()),
           ("DELETE FROM finding_parties", ()), ("INSERT INTO finding_parties SELECT * FROM t", ()))
    assert not integrity._parties_by_seq(sqlite3.connect(path))
    new = Ledger.open(path, clock=SteppingClock())
    assert expected and new.query("SELECT * FROM scorecard") == expected
    assert new.query("SELECT * FROM finding_parties ORDER BY finding_id") == rows
    assert integrity._parties_by_seq(new._conn) and new.verify().ok
    # its triggers are back: a status change still moves the scorecard's counts
    names = {n for (n,) in new._conn.execute(
        "SELECT name FROM sqlite_master WHERE tbl_name = 'finding_parties'")}
    assert {"finding_parties_counted", "finding_parties_recounted", "finding_parties_uncounted",
            "idx_finding_parties_finding", "idx_finding_parties_scored"} <= names
    new.close()


def test_findings_of_a_term_in_a_period_are_one_range_of_an_index(ledger: Ledger) -> None:
    changes(ledger)
    bounds = {"since": "2016-09-01", "until": "2016-09-03"}
    calls: list[str] = []
    ledger._conn.set_trace_callback(calls.append)
    try:
        found = ledger.findings(term="COH-AIR", **bounds)
    finally:
        ledger._conn.set_trace_callback(None)
    assert [f["finding_id"] for f in found] == ["f-1", "f-2"] or found
    sql = next(c for c in calls if "FROM finding_status" in c)
    plan = " ".join(str(r) for r in ledger._conn.execute("EXPLAIN QUERY PLAN " + sql))
    assert "idx_findings_term_occurred (term=? AND occurred>? AND occurred<?)" in plan


def test_a_calm_series_reads_only_the_windows_that_reach_day_d_and_is_what_all_give(
        ledger: Ledger) -> None:
    """calm_findings(ending_from=Day D) leaves out the windows that ended before Day D, and
    the series made of what it gives is the one made of every finding of the MAX_WINDOW
    before: around Day D, an instant, a window ending on it, one a second either side, a
    missing end and one before its start."""
    from monitor.patterns import calm_series

    day_d = datetime(2016, 9, 12, 16, tzinfo=timezone.utc)
    second, hour = timedelta(seconds=1), timedelta(hours=1)
    windows = [(day_d - 30 * 24 * hour, day_d - second), (day_d - 30 * 24 * hour, day_d),
               (day_d - 30 * 24 * hour, day_d + second), (day_d - hour, day_d),
               (day_d, day_d), (day_d - second, day_d - second), (day_d + hour, None),
               (day_d - hour, None), (day_d + hour, day_d - hour), (day_d - 2 * hour, day_d - hour),
               (day_d + 3 * 24 * hour, day_d + 4 * 24 * hour), (day_d - 40 * 24 * hour, day_d)]
    with ledger.transaction():
        for n, (begin, end) in enumerate(windows, start=1):
            ledger.append("findings", finding(n, occurred=iso(begin),
                                              occurred_end=iso(end) if end else None))
    since, until = iso(day_d - MAX_WINDOW), iso(day_d + 7 * 24 * hour)
    every = ledger.calm_findings(since, until, ["COH"])
    reaching = ledger.calm_findings(since, until, ["COH"], ending_from=iso(day_d))
    assert [f["finding_id"] for f in reaching] == [
        f["finding_id"] for f in every if f["finding_id"] not in ("f-1", "f-6", "f-8", "f-10")]

    def series(findings: list[dict[str, Any]]) -> list[Any]:
        return calm_series(findings, day_d=day_d, end=day_d + 7 * 24 * hour, instruments=["COH"],
                           needed=7)

    assert series(reaching) == series(every)
    assert series(every)[0].breaches and not series(every)[5].breaches
    assert len(every) == len(windows) - 1  # (the last began more than MAX_WINDOW before)


def test_corroboration_finds_every_overlapping_window_through_the_two_indexes(
        ledger: Ledger) -> None:
    """nearby_reports reads two days back by time and further back only the long windows
    (m009): around those boundaries (a day and a half, two days, MAX_WINDOW, a second either
    side) it gives exactly the rows whose window overlaps, as reading 32 days did; the plan
    uses both indexes."""
    start = datetime(2016, 9, 10, 21, tzinfo=timezone.utc)
    end = start + timedelta(days=1)
    hour, second = timedelta(hours=1), timedelta(seconds=1)
    offsets = [timedelta(0), hour, 24 * hour, 36 * hour, 48 * hour, 54 * hour, 20 * 24 * hour,
               MAX_WINDOW]
    starts = [start - o + d for o in offsets for d in (-second, timedelta(0), second)]
    starts += [end - second, end, start - MAX_WINDOW - 24 * hour]
    lengths = [hour, 24 * hour, 36 * hour - second, 36 * hour, 36 * hour + second, 48 * hour,
               48 * hour + second, 60 * hour, 72 * hour, 31 * 24 * hour,
               MAX_WINDOW + 24 * hour]
    made = []
    with ledger.transaction():
        for n, (begin, length) in enumerate(
                [(b, length) for b in starts for length in lengths], start=1):
            key = f"acled:{n}:1"
            ledger.append("reports", {**report(n), "body": {"sources": [f"src {n}"]}})
            ledger.append("incidents", {**incident(n), "occurred_start": iso(begin),
                                        "occurred_end": iso(begin + length)})
            if begin < end and begin + length > start and begin >= start - MAX_WINDOW:
                made.append(key)
    found = ledger.nearby_reports(start, end, 35.93, 36.63, 10.0, exclude_feed="ucdp")
    assert [r["report_key"] for r in found] == made
    assert 40 < len(made) < len(starts) * len(lengths)
    # what matching reads of a candidate (its body, which it does not read, is not unpacked)
    assert found[0]["incident_id"] == "inc-" + made[0].split(":")[1]
    assert (found[0]["attacker_sides"], found[0]["target_sides"]) == (
        ["syrian_government"], ["opposition"])
    assert ledger.nearby_reports(start, end, 35.93, 36.63, 10.0, exclude_feed="acled") == []
    assert ledger.nearby_reports(start, end, 36.5, 36.63, 10.0, exclude_feed="ucdp") == []
    plan = " ".join(str(r) for r in ledger._conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM incidents i WHERE i.occurred_start >= ? AND "
        f"i.occurred_start < ? AND {schema.long_window_sql('i')}", ["2016", "2017"]))
    assert "idx_incidents_long_window" in plan


def test_corroboration_of_a_batch_reads_its_candidates_at_once_and_finds_what_each_search_does(
        ledger: Ledger) -> None:
    """nearby_reports_many: for 250 searches (three statements' worth and a part) the rows each
    search alone finds, each against a plain reading of the definition (another feed, the
    windows overlap, the point in the box, the window's start at most MAX_WINDOW back and,
    beyond two days back, a window longer than a day and a half); in a few statements, not one
    a search; a report found by several searches read once."""
    import random

    rng = random.Random(2016)
    base, hour = datetime(2016, 9, 1, tzinfo=timezone.utc), timedelta(hours=1)
    # the feed is read from the key: "a" and "a:b" are two feeds, and a ":" in a source id
    # ("a:b" record "1" and "a" record "b:1" are two keys) changes neither
    feeds = ["acled", "ucdp", "rss", "a", "a:b"]
    made = []
    with ledger.transaction():
        for n in range(1, 401):
            feed = rng.choice(feeds)
            source_id = rng.choice([str(n), f"b:{n}", f"{n}:x%"])
            key = report_key(feed, source_id, "1")
            begin = base + rng.randrange(40 * 24) * hour
            window = rng.choice([1, 24, 36, 37, 48, 24 * 9, 24 * 33]) * hour
            lat, lon = 35.93 + rng.uniform(-0.3, 0.3), 36.63 + rng.uniform(-0.3, 0.3)
            ledger.append("reports", {**report(n, feed), "report_key": key,
                                      "source_id": source_id,
                                      "body": {"sources": [f"src {n % 7}"]}})
            ledger.append("incidents", {**incident(n), "report_key": key,
                                        "occurred_start": iso(begin),
                                        "occurred_end": iso(begin + window),
                                        "lat": lat, "lon": lon})
            made.append((key, feed, begin, begin + window, lat, lon))
    searches = []
    for _ in range(250):
        start = base + rng.randrange(40 * 24) * hour
        searches.append((start, start + rng.choice([1, 24, 72]) * hour,
                         35.93 + rng.uniform(-0.3, 0.3), 36.63 + rng.uniform(-0.3, 0.3),
                         rng.choice([5.0, 10.0, 25.0]), rng.choice(feeds)))

    def plainly(start: datetime, end: datetime, lat: float, lon: float, km: float,
                feed: str) -> list[str]:
        lat_lo, lat_hi, lon_lo, lon_hi = geo.bounding_box(lat, lon, km)
        return [key for key, other, begin, finish, y, x in made
                if other != feed and begin < end and finish > start
                and lat_lo <= y <= lat_hi and lon_lo <= x <= lon_hi
                and begin >= start - MAX_WINDOW
                and (begin >= start - timedelta(days=2) or finish - begin > timedelta(days=1.5))]

    statements: list[str] = []
    ledger._conn.set_trace_callback(statements.append)
    try:
        found = ledger.nearby_reports_many(searches)
    finally:
        ledger._conn.set_trace_callback(None)
    keys = [[r["report_key"] for r in rows] for rows in found]
    assert keys == [plainly(*s) for s in searches]
    assert sum(map(len, keys)) > 500 and sum(not k for k in keys) > 5  # many found, some none
    assert keys[:20] == [[r["report_key"] for r in ledger.nearby_reports(*s)]
                         for s in searches[:20]]
    assert len(statements) <= 3 + 1 + 1  # 99 searches a statement, 500 reports read a statement
    rows = {id(r): r for rows in found for r in rows}
    assert len(rows) == len({k for k_ in keys for k in k_}) < sum(map(len, keys))
    assert {r["feed"] for rows in found for r in rows} == set(feeds)
    assert all(r["feed"] == next(m[1] for m in made if m[0] == r["report_key"])
               for rows in found for r in rows)
    assert any(s[5] == "a" and any(r["feed"] == "a:b" for r in rows)
               for s, rows in zip(searches, found))  # a feed that starts like another's
    some = next(r for rows in found for r in rows)
    assert some["incident_id"] == "inc-" + str(1 + next(
        i for i, m in enumerate(made) if m[0] == some["report_key"]))


def test_no_index_is_the_first_columns_of_another(ledger: Ledger) -> None:
    """An index whose columns lead another index of its table costs bytes and a write each
    row, and serves no query the longer one does not (m007 dropped three such). A partial
    index (m009: the long windows) holds other rows, so it is not compared."""
    indexes: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for name, table in ledger._conn.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND "
            "(sql IS NULL OR sql NOT LIKE '% WHERE %')").fetchall():
        columns = tuple(r[2] for r in ledger._conn.execute(f"PRAGMA index_info('{name}')"))
        indexes.setdefault(table, []).append((name, columns))
    assert "incidents" in indexes and "reports" in indexes
    prefixes = [(a, b) for table in indexes.values() for a, ca in table for b, cb in table
                if a != b and a.startswith("idx_") and cb[:len(ca)] == ca]
    assert prefixes == []
    plan = " ".join(str(r) for r in ledger._conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM incidents WHERE occurred_start > ?", ["2016"]))
    assert "idx_incidents_time_lat" in plan


def test_m007_drops_the_prefix_indexes_of_an_existing_ledger(path: Path) -> None:
    names = written_without(path, "m007_no_prefix_indexes", lambda old: record(old, 1))
    assert "idx_reports_feed" in names
    new = Ledger.open(path, clock=SteppingClock())
    now = names_in(new)
    assert names - now == {"idx_incidents_occurred_start", "idx_reports_feed",
                           "idx_links_report_key"}
    assert new.verify().ok and new.verify().entries == 3
    new.close()


def test_m009_indexes_the_long_windows_of_an_existing_ledger(path: Path) -> None:
    def write(old: Ledger) -> None:
        record(old, 1)  # a day
        with old.transaction():
            old.append("reports", report(2))
            old.append("incidents", {**incident(2), "occurred_end": "2016-09-05T00:00:00+00:00"})

    names = written_without(path, "m009_long_windows", write)
    new = Ledger.open(path, clock=SteppingClock())
    now = names_in(new)
    assert now - names == {"idx_incidents_long_window"}
    assert new._conn.execute("SELECT report_key FROM incidents INDEXED BY "
                             "idx_incidents_long_window WHERE occurred_start > '2016' AND "
                             f"{schema.long_window_sql()}").fetchall() == [("acled:2:1",)]
    assert new.verify().ok and new.verify().entries == 5
    new.close()


def test_m010_drops_the_second_index_of_incident_ids_and_reports_are_found_without_it(
        path: Path) -> None:
    before: list[str] = []

    def write(old: Ledger) -> None:
        record(old, 1)
        record(old, 2)
        before.extend(r["report_key"] for r in old.reports_now_in("inc-2"))

    names = written_without(path, "m010_no_reports_incident_index", write)
    new = Ledger.open(path, clock=SteppingClock())
    now = names_in(new)
    assert names - now == {"idx_reports_incident_id"} and now - names == set()
    assert before == [r["report_key"] for r in new.reports_now_in("inc-2")] == ["acled:2:1"]
    statements: list[str] = []  # what reports_now_in runs, its values in place
    new._conn.set_trace_callback(statements.append)
    new.reports_now_in("inc-2")
    new._conn.set_trace_callback(None)
    [sql] = [s for s in statements if "FROM reports r" in s]
    plan = [r[-1] for r in new._conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    assert any("idx_incidents_incident_id" in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan  # no table read whole
    assert new.verify().ok and new.verify().entries == 6
    new.close()


def test_m008_shares_notes_in_a_ledger_written_before(
        path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ledger written before shared_texts: its resolutions read as stored, and those recorded
    after it refer to shared notes; the views put them back for both."""
    with monkeypatch.context() as m:
        # (and before m011, which rebuilds the views m008 made)
        m.setattr(schema, "MIGRATIONS", migrations_without(
            "chained_table_shared_texts", "m008_shared_texts", "chained_table_dictionaries",
            "m011_packed_views"))
        old = Ledger.open(path, clock=SteppingClock())
        record(old, 1)
        assert "shared_texts" not in schema.table_names(old._conn)
        old.close()
    reader = Ledger.open(path, readonly=True)  # not migrated: no SQL may name shared_texts
    [text] = reader.findings(as_json=True)
    assert json.loads(text)["explanation"] == reader.findings()[0]["explanation"]
    assert [f["finding_id"] for f in reader.serious_findings()] == ["f-1"]
    reader.close()
    new = Ledger.open(path, clock=SteppingClock())
    with new.transaction():
        shared = new.share_texts(["platform from 'warplanes'"] * 2)
        new.append("incidents", {**incident(2), "resolution": {"notes": [
            shared["platform from 'warplanes'"], "said once"]}})
    assert [json.loads(r["resolution"])["notes"] for r in new.query(
        "SELECT resolution FROM incidents_resolved ORDER BY seq")] == [
        ["platform from 'warplanes'"], ["platform from 'warplanes'", "said once"]]
    assert [new.incident(i)["resolution"]["notes"] for i in ("inc-1", "inc-2")] == [
        ["platform from 'warplanes'"], ["platform from 'warplanes'", "said once"]]
    assert new.verify().ok and new.verify().entries == 5
    new.close()


def test_findings_as_json_text_are_the_findings(ledger: Ledger) -> None:
    changes(ledger)
    for filters in ({}, {"party": "russia"}, {"term": "COH-AIR", "since": "2016-09-02"},
                    {"status": "confirmed"}, {"limit": 2}):
        texts = ledger.findings(**filters, as_json=True)
        rows = ledger.findings(**filters)
        assert all(isinstance(t, bytes) for t in texts)  # written out as SQLite made them
        assert [json.loads(t) for t in texts] == rows
        assert [list(json.loads(t)) for t in texts] == [list(r) for r in rows]  # same order
        assert json.loads(json_texts(ledger, filters, "json")) == rows
        assert [json.loads(line) for line in json_texts(ledger, filters, "jsonl").splitlines()
                ] == rows


def json_texts(ledger: Ledger, filters: dict[str, Any], fmt: str, chunk: int = 2) -> bytes:
    out = io.BytesIO()
    write_json_texts(ledger.finding_chunks(**filters, as_json=True, chunk=chunk), fmt, out)
    return out.getvalue()


def test_findings_are_read_and_written_a_chunk_at_a_time(ledger: Ledger) -> None:
    changes(ledger)
    rows = ledger.findings()
    assert len(rows) >= 3
    for chunk in (1, 2, len(rows), len(rows) + 1):
        chunks = list(ledger.finding_chunks(chunk=chunk))
        assert [len(c) for c in chunks] == [min(chunk, len(rows) - i)
                                            for i in range(0, len(rows), chunk)]
        assert [r for c in chunks for r in c] == rows == list(ledger.each_finding(chunk=chunk))
        for fmt in ("json", "jsonl"):  # the same text whatever the chunks
            assert json_texts(ledger, {}, fmt, chunk) == json_texts(ledger, {}, fmt, 1000)
    assert json_texts(ledger, {}, "json").startswith(b"[\n{") and json_texts(
        ledger, {}, "json").endswith(b"}\n]\n")
    # the lock is let go between chunks: the ledger can be asked more meanwhile
    for row in ledger.each_finding(chunk=1):
        assert ledger.finding(row["finding_id"])["finding_id"] == row["finding_id"]
    # without the explanation, the same rows less that column; and how many there are
    assert ledger.findings(explained=False) == [
        {k: v for k, v in r.items() if k != "explanation"} for r in rows]
    for filters in ({}, {"party": "russia"}, {"status": "confirmed"}, {"term": "COH-AIR"}):
        assert ledger.count_findings(**filters) == len(ledger.findings(**filters))
    with pytest.raises(TypeError, match="'terms'"):  # a misspelt filter is not ignored
        ledger.count_findings(terms="COH-AIR")
    from monitor.ledger import queries  # the filters they check are findings()' arguments
    assert set(inspect.signature(Ledger.findings).parameters) - {"self"} == \
        queries._FINDINGS_ARGUMENTS
    empty = {"since": "2030-01-01"}
    assert json_texts(ledger, empty, "json") == b"[]\n" and json_texts(
        ledger, empty, "jsonl") == b""


def test_reports_incidents_reviews_and_counts(ledger: Ledger) -> None:
    record(ledger, 1)
    with ledger.transaction():
        ledger.append("reports", report(1) | {"report_key": "acled:1:2", "revision": "2"})
        ledger.append("reports", report(7, feed="ucdp"))
        ledger.append("reviews", {"incident_id": "inc-7", "report_key": "ucdp:7:1",
                                  "kind": "unknown_actor", "detail": "Liwa X"})
    assert has_report(ledger, "acled:1:1") and not has_report(ledger, "acled:1:3")
    assert report_keys_of_feed(ledger, "acled") == {"acled:1:1", "acled:1:2"}
    assert report_keys_of_feed(ledger, "nothing") == set()
    assert [r["revision"] for r in reports_judged_in(ledger, "inc-1")] == ["1", "2"]
    stored = ledger.incident("inc-1")
    assert stored is not None and stored["zones"] == ["coh_area"] and stored["lat"] == 35.93
    assert stored["resolution"] == {"notes": ["platform from 'warplanes'"]}
    assert ledger.incident("inc-404") is None
    assert [(r["kind"], r["detail"]) for r in reviews(ledger)] == [("unknown_actor", "Liwa X")]
    assert {k: v for k, v in ledger.counts().items() if v} == {
        "findings": 1, "incidents": 1, "reports": 3, "reviews": 1}


def test_a_linked_report_is_now_in_the_incident_it_was_linked_to(ledger: Ledger) -> None:
    with ledger.transaction():  # each report with its incident row, as the monitor writes
        ledger.append_many("reports", [report(1), report(7, feed="ucdp")])
        ledger.append_many("incidents", [incident(1), {**incident(7),
                                                       "report_key": "ucdp:7:1"}])
        ledger.append("links", {"report_key": "ucdp:7:1", "incident_id": "inc-1",
                                "action": "link", "by": "corroboration"})
    assert [r["report_key"] for r in reports_judged_in(ledger, "inc-1")] == ["acled:1:1"]
    now_in = ledger.reports_now_in("inc-1")
    assert [(r["report_key"], r["own_incident"]) for r in now_in] == [
        ("acled:1:1", "inc-1"), ("ucdp:7:1", "inc-7")]
    assert now_in[1]["body"] == report(7)["body"]  # decoded
    assert ledger.reports_now_in("inc-7") == []
    linked = ledger.incidents_of_report("ucdp:7:1")
    assert linked is not None
    assert (linked["own_incident"], linked["incident_id"]) == ("inc-7", "inc-1")
    assert ledger.incidents_of_report("ucdp:404:1") is None


def test_query_is_read_only(ledger: Ledger) -> None:
    record(ledger, 1)
    assert ledger.query("SELECT count(*) AS n FROM findings WHERE term = ?", ["COH-AIR"]) == [
        {"n": 1}]
    assert ledger.query("SELECT term FROM findings WHERE finding_id = :id", {"id": "f-1"}) == [
        {"term": "COH-AIR"}]
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        ledger.query("INSERT INTO reviews (seq, recorded_at, prev_hash, hash) "
                     "VALUES (99, 'x', 'y', 'z')")
    record(ledger, 2)  # still writable afterwards
    assert ledger.verify().ok


# --- opening -------------------------------------------------------------------------------


def test_a_reader_maps_the_file_and_a_writer_reads_through_the_cache(ledger: Ledger,
                                                                       path: Path) -> None:
    """A read-only connection maps the ledger (no page copied into the cache to be read); the
    writer's connection does not."""
    record(ledger, 1)
    reader = Ledger.open(path, readonly=True)
    try:
        [(mapped,)] = reader._conn.execute("PRAGMA mmap_size")
        assert mapped >= 1 << 30  # SQLite caps it (2 GiB here)
        assert reader.finding("f-1") is not None
    finally:
        reader.close()
    assert ledger._conn.execute("PRAGMA mmap_size").fetchone() == (0,)


def test_a_readonly_ledger_reads_and_refuses_writes(ledger: Ledger, path: Path) -> None:
    record(ledger, 1)
    reader = Ledger.open(path, readonly=True)
    assert reader.verify().ok and reader.finding("f-1") is not None
    with pytest.raises(LedgerError, match="read-only"):
        with reader.transaction():
            pass
    with pytest.raises(sqlite3.OperationalError):
        reader.query("DELETE FROM reviews")
    record(ledger, 2)  # the writer goes on; the reader sees it
    assert reader.counts()["findings"] == 2
    reader.close()


def test_a_readonly_ledger_needs_an_existing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ledger.db"
    with pytest.raises(FileNotFoundError, match="no ledger file here"):
        Ledger.open(missing, readonly=True)
    assert not missing.parent.exists()


def test_a_file_without_chained_tables_is_not_a_ledger(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(LedgerError, match="is not a ledger"):
        Ledger.open(other, readonly=True)


def test_opening_sets_wal_and_migrations_are_idempotent(path: Path) -> None:
    first = Ledger.open(path, clock=SteppingClock())
    record(first, 1)
    first.close()
    again = Ledger.open(path, clock=SteppingClock())
    assert again.query("PRAGMA journal_mode") == [{"journal_mode": "wal"}]
    assert sorted(m["name"] for m in again.query("SELECT name FROM _sqlite_migrations")) == [
        "chained_table_calm_counts", "chained_table_dictionaries", "chained_table_shared_texts",
        "m001_chained_tables",
        "m002_pattern_queue", "m003_finding_state", "m004_charged_sets", "m005_full_views",
        "m006_scorecard_counts", "m007_no_prefix_indexes", "m008_shared_texts",
        "m009_long_windows", "m010_no_reports_incident_index", "m011_packed_views",
        "m012_parties_by_seq"]
    assert sum(again.counts().values()) == 3
    record(again, 2)
    assert again.verify().entries == 6
    again.close()


def test_a_new_chained_table_is_one_line(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keep the module's registry and migration set as they were for the other tests.
    monkeypatch.setattr(schema, "CHAINED_TABLES", dict(schema.CHAINED_TABLES))
    fresh = Migrations("monitor.ledger")
    fresh(name="m001_chained_tables")(schema._m001_chained_tables)
    monkeypatch.setattr(schema, "MIGRATIONS", fresh)
    old = Ledger.open(path, clock=SteppingClock())
    record(old, 1)
    old.close()

    chained_table_migration("corrections", {"finding_id": str, "detail": dict, "weight": float},
                            not_null=("finding_id",), indexes=("finding_id",))

    new = Ledger.open(path, clock=SteppingClock())
    with new.transaction():
        row = new.append("corrections", {"finding_id": "f-1", "detail": {"severity": "minor"},
                                         "weight": 2})
    assert (row["seq"], row["detail"], row["weight"]) == (4, {"severity": "minor"}, 2.0)
    assert new.verify().entries == 4
    with pytest.raises(sqlite3.IntegrityError, match="corrections rows cannot be deleted"):
        sqlite3.connect(path).execute("DELETE FROM corrections")
    with pytest.raises(ValueError, match="taken or invalid"):
        chained_table_migration("corrections", {"x": str})
    with pytest.raises(ValueError, match=r"\['hash'\]"):
        chained_table_migration("bad", {"hash": str})
    new.close()


def test_canonical_json_is_compact_sorted_and_utf8() -> None:
    assert canonical_json({"b": [1, 2.5], "a": "é"}) == '{"a":"é","b":[1,2.5]}'
    with pytest.raises(ValueError):
        canonical_json(float("inf"))


@pytest.mark.parametrize(("charged_to", "attribution"), [
    (["syrian_government"], "single"), (["syrian_government", "russia"], "ambiguous"),
    ([], "undetermined"), (["unattributed"], "single"), (["opposition", "opposition"], "single"),
    (["syrian_government", "coh_opposition"], "joint"),
])
def test_the_charged_set_in_sql_is_the_one_in_python(ledger: Ledger, charged_to: list[str],
                                                     attribution: str) -> None:
    """The ledger's fast path (SQL) and the plain one (models.charged_set) agree."""
    record(ledger, 1, charged_to=charged_to, attribution=attribution)
    (row,) = ledger.query(f"SELECT {CHARGED_SET_SQL} AS s FROM findings f")
    assert row["s"] == charged_set(charged_to, attribution)


def test_the_patterns_readers_decode_each_list_once_and_give_what_a_row_holds(
        ledger: Ledger) -> None:
    """pattern_incidents and serious_findings decode a list of sides or zones once per distinct
    text (most of a refresh's time on a big ledger was decoding the same few hundred lists):
    each row's value is still the list its row holds, and rows holding the same text share it."""
    for n in (1, 2, 3):
        with ledger.transaction():
            ledger.append("incidents", {**incident(n), "attribution": "single"})
            ledger.append("findings", finding(n, **({"charged_to": ["russia"]} if n == 3
                                                    else {})))
    with ledger.transaction():
        ledger.append("incidents", {**incident(4), "attribution": "single",
                                    "attacker_sides": ["russia"], "zones": []})
    rows = {r["report_key"]: r for r in ledger.pattern_incidents()}
    stored = {r["report_key"]: r for r in ledger._rows(
        "SELECT report_key, attacker_sides, target_sides, zones FROM incidents", (),
        "incidents")}
    assert len(rows) == 4
    for key, row in rows.items():
        for column in ("attacker_sides", "target_sides", "zones"):
            assert row[column] == stored[key][column]
    assert rows["acled:1:1"]["attacker_sides"] is rows["acled:2:1"]["attacker_sides"]
    assert rows["acled:4:1"]["attacker_sides"] == ["russia"]
    assert rows["acled:4:1"]["zones"] == []
    charged = {f["finding_id"]: f["charged_to"] for f in ledger.serious_findings()}
    assert charged == {"f-1": ["syrian_government"], "f-2": ["syrian_government"],
                       "f-3": ["russia"]}
    assert charged["f-1"] is charged["f-2"]


def test_escalations_read_no_aggregate_and_no_context_finding(ledger: Ledger) -> None:
    record(ledger, 1)
    record(ledger, 2, explanation=[{"finding": {"aggregate": True, "parties": []}}])
    record(ledger, 3, term="CTX-CIV", instrument="CTX", instrument_status="context")
    record(ledger, 4, explanation=[{"finding": {"aggregate": False, "parties": []}}])
    with ledger.transaction():  # the explanations of 5 and 6, shared (said twice)
        aggregate = canonical_json([{"finding": {"aggregate": True, "parties": []}}])
        plain = canonical_json([{"finding": {"aggregate": False, "parties": []}}])
        texts = ledger.share_texts([aggregate, aggregate, plain, plain])
    record(ledger, 5, explanation=texts[aggregate])
    record(ledger, 6, explanation=texts[plain])
    rows = ledger.serious_findings()
    assert [r["finding_id"] for r in rows] == ["f-1", "f-4", "f-6"]
    assert {r["charged_set"] for r in rows} == {"syrian_government"}
    assert ledger.finding("f-5")["explanation"] == json.loads(aggregate)


def test_a_new_ledger_has_16_kib_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """Rows of 1-1.5 KB leave a fifth of each 4 KiB page empty: a new file gets 16 KiB pages;
    a file made with SQLite's default keeps its pages (changing them would mean a VACUUM)."""
    new = Ledger.open(tmp_path / "new.db")
    new.close()
    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as conn:
        conn.execute("PRAGMA page_size=4096")
        conn.execute("VACUUM")
    old = Ledger.open(old_path)
    old.close()
    sizes = {}
    for name in ("new.db", "old.db"):
        with sqlite3.connect(tmp_path / name) as conn:
            sizes[name] = conn.execute("PRAGMA page_size").fetchone()[0]
    assert sizes == {"new.db": 16384, "old.db": 4096}
    assert Ledger.open(old_path, readonly=True).verify().ok


def test_verify_read_only_of_a_ledger_an_older_version_wrote(tmp_path: Path) -> None:
    """A file with the newest migration still pending (written before it; opened read-only
    since) is checked against the schema of the migrations it has had; a step missing in the
    middle is not pending, so the record of m001 removed still shows the dropped trigger."""
    path = tmp_path / "old.db"
    # the file as the version before the newest migration wrote it: every step but the last
    import sqlite_utils

    older = sqlite_utils.Database(sqlite3.connect(path))
    older.enable_wal()
    schema.MIGRATIONS.apply(older, only=frozenset(schema.MIGRATIONS.names[:-1]))
    older.conn.close()
    with sqlite3.connect(path) as conn:
        assert schema.MIGRATIONS.names[-1] not in {
            r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")}
    assert Ledger.open(path, readonly=True).verify().ok

    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm001_chained_tables'")
        conn.execute("DROP TRIGGER reports_no_update")
    result = Ledger.open(path, readonly=True).verify()
    assert not result.ok and "reports_no_update is missing" in (result.problem or "")


_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.text(),
                     st.floats(allow_nan=True, allow_infinity=True),
                     st.floats(min_value=-1e-3, max_value=1e-3),
                     st.floats(min_value=1e15, max_value=1e18))


# The two property tests below run twice: a few hundred examples in `make test`, ten times as
# many with the slow tests (CI runs both; 1,500 each in `make test` were ~13 s of its CPU).
_QUICK = settings(max_examples=300, deadline=None, database=None)
_THOROUGH = settings(max_examples=3000, deadline=None, database=None)
_SCALAR_ROWS = (st.dictionaries(st.text(min_size=1, max_size=12), _SCALARS, max_size=8),
                st.text(min_size=1, max_size=12))


def _scalar_row_hashes_as_the_contract_says(row: dict[str, Any], table: str) -> None:
    """The hash is taken over orjson's text where it writes what the contract (json.dumps)
    writes; anything else — floats json writes with an exponent, NaN, huge integers, lone
    surrogates, non-ASCII keys — gives the contract's text, or the contract's error."""
    row = {**row, "prev_hash": GENESIS_HASH}
    try:
        expected = (row["prev_hash"] + canonical_entry(table, row)).encode()
    except (ValueError, UnicodeEncodeError) as exc:
        with pytest.raises(type(exc)):
            entry_hash(table, row)
        return
    assert entry_hash(table, row) == hashlib.sha256(expected).hexdigest()


@_QUICK
@given(*_SCALAR_ROWS)
def test_the_fast_canonical_form_is_the_contracts_text_for_any_scalar_row(row, table) -> None:
    _scalar_row_hashes_as_the_contract_says(row, table)


@pytest.mark.slow
@_THOROUGH
@given(*_SCALAR_ROWS)
def test_the_fast_canonical_form_is_the_contracts_text_for_any_scalar_row_thoroughly(
        row, table) -> None:
    _scalar_row_hashes_as_the_contract_says(row, table)


_STORED_FLOATS = st.one_of(st.floats(allow_nan=False, allow_infinity=False),
                           st.floats(min_value=-1e-3, max_value=1e-3),
                           st.floats(min_value=1e15, max_value=1e18))


def _hashes_as_the_contract_says_when_appended(kinds: list[type], values: list[Any]) -> None:
    """``values``, a row of a table whose own columns are of ``kinds`` (``list``: a JSON
    column) as appending stores it, hash by appending's path (:func:`_stored_hash`) as by
    :func:`entry_hash`, or are refused by both alike; the row is left as it was."""
    from monitor.ledger.chain import _stored_hash
    from monitor.ledger.schema import COMMON_COLUMNS, ChainedTable

    columns = (*COMMON_COLUMNS, *(f"c{i}_{k.__name__}" for i, k in enumerate(kinds)))
    t = ChainedTable("t", columns, tuple(str if k is list else k for k in kinds),
                     frozenset(c for c, k in zip(columns[4:], kinds) if k is list))
    given = list(values)
    try:
        expected = entry_hash("t", dict(zip(columns, values)))
    except (ValueError, UnicodeEncodeError) as exc:
        with pytest.raises(type(exc)):
            _stored_hash(t, values)
    else:
        assert _stored_hash(t, values) == expected
    assert values == given


@settings(max_examples=400, deadline=None, database=None)
@given(st.lists(st.tuples(st.sampled_from([str, int, float, list]), st.data()), min_size=1,
                max_size=8), st.integers(min_value=1, max_value=2**70), st.text(max_size=30))
def test_a_row_as_appending_stores_it_hashes_as_the_contract_says(kinds, seq, text) -> None:
    """Appending hashes its stored row by a faster path than :func:`entry_hash` (keys sorted
    once per table, only the numeric columns tested): the same hash for any row of any
    table's columns as stored (TEXT and JSON columns str or None, INTEGER any int, REAL a
    finite float), or the same refusal (a lone surrogate)."""
    strategy = {str: st.none() | st.text(), int: st.none() | st.integers(),
                float: st.none() | _STORED_FLOATS, list: st.none() | st.text()}
    values: list[Any] = [seq, text, GENESIS_HASH, None,
                         *(data.draw(strategy[kind]) for kind, data in kinds)]
    _hashes_as_the_contract_says_when_appended([kind for kind, _ in kinds], values)


@pytest.mark.parametrize("value", [1e-05, 1e16, -4.2e-05, 3.5e-08, 0.0001, -0.0, 2**64, 1.5,
                                   "\x00\x1f\x7f\u2028\"\\/é𝄞", True])
def test_values_the_two_encoders_write_differently_hash_as_the_contract_says(value) -> None:
    row = {"prev_hash": GENESIS_HASH, "seq": 1, "value": value}
    expected = hashlib.sha256((GENESIS_HASH + canonical_entry("t", row)).encode()).hexdigest()
    assert entry_hash("t", row) == expected


@pytest.mark.parametrize(("kind", "value"), [
    (float, 1e-05), (float, 1e16), (float, -4.2e-05), (float, 0.0001), (float, -0.0),
    (float, 1.5), (int, 2**64), (int, 2**63), (int, -(2**63) - 1), (int, -(2**63)),
    (str, "\x00\u2028\"é𝄞"), (str, "\ud800"), (list, "[1e-05]")])
def test_a_value_the_two_encoders_write_differently_hashes_as_the_contract_says_when_appended(
        kind, value) -> None:
    """The edge values of :func:`entry_hash`'s test, through appending's own path."""
    _hashes_as_the_contract_says_when_appended(
        [kind], [7, "2026-01-01T00:00:00.000000+00:00", GENESIS_HASH, None, value])


_JSONISH = st.recursive(
    _SCALARS | st.tuples(st.integers(), st.text(max_size=3)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(max_size=6) | st.integers(0, 9), inner, max_size=4),
    max_leaves=20)


def _json_column_is_jsons_text(value: Any) -> None:
    """canonical_json (a JSON column's stored text) is json.dumps's text for any nesting of
    values, through orjson or not; where json refuses, so does it."""
    from monitor.ledger.chain import _CANONICAL

    try:
        expected = _CANONICAL.encode(value)
    except (ValueError, TypeError) as exc:  # NaN; keys of mixed types json cannot sort
        with pytest.raises(type(exc)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


@_QUICK
@given(_JSONISH)
def test_json_columns_are_written_as_the_contract_writes_them(value) -> None:
    _json_column_is_jsons_text(value)


@pytest.mark.slow
@_THOROUGH
@given(_JSONISH)
def test_json_columns_are_written_as_the_contract_writes_them_thoroughly(value) -> None:
    _json_column_is_jsons_text(value)


def test_a_body_given_as_its_canonical_json_is_stored_and_hashed_as_the_value(
        tmp_path: Path) -> None:
    from monitor.ledger import CanonicalJSON, canonical_json

    stored = []
    for name, body in (("value.db", report(1)["body"]),
                       ("text.db", CanonicalJSON(canonical_json(report(1)["body"])))):
        ledger = Ledger.open(tmp_path / name, clock=SteppingClock())
        with ledger.transaction():
            row = ledger.append("reports", {**report(1), "body": body})
        assert row["body"] == body  # the value given (the text, when text was given)
        stored.append(ledger.query("SELECT * FROM reports")[0])
        assert ledger.verify().ok
    assert stored[0] == stored[1]
