"""verify's fast path (a chunk of entries checked through one query, :func:`verify._fast_chunk`)
gives, for any ledger, the verdict of the row-by-row check, which names the first problem."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_ledger import SteppingClock, forged, record, tamper

from monitor.ledger import Ledger, verify


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(path: Path) -> Iterator[Ledger]:
    opened = Ledger.open(path, clock=SteppingClock())
    yield opened
    opened.close()


Statements = list[tuple[str, tuple[Any, ...]]]


def split_hashes(ledger: Ledger, path: Path) -> Statements:
    """The hashes of entries 6 and 7 cut at another place: joined, the two texts are the same."""
    conn = sqlite3.connect(path)
    (h6,), (h7,) = conn.execute("SELECT hash FROM findings WHERE seq = 6 UNION ALL SELECT hash "
                                "FROM reports WHERE seq = 7").fetchall()
    conn.close()
    return [("UPDATE findings SET hash = ? WHERE seq = 6", (h6[:63],)),
            ("UPDATE reports SET hash = ? WHERE seq = 7", (h6[63:] + h7,))]


def forge_9(ledger: Ledger, path: Path) -> Statements:
    """Entry 9 rewritten with a hash that matches its new contents."""
    return [forged(ledger, 9, severity="minor")]


TAMPERED: dict[str, Any] = {
    "intact": [],
    "edited": [("UPDATE findings SET severity = 'minor' WHERE seq = 9", ())],
    "edited-first": [("UPDATE reports SET feed = 'x' WHERE seq = 1", ())],
    "edited-last": [("UPDATE findings SET severity = 'minor' WHERE seq = 18", ())],
    "deleted": [("DELETE FROM incidents WHERE seq = 5", ())],
    "deleted-two": [("DELETE FROM incidents WHERE seq = 5", ()),
                    ("DELETE FROM findings WHERE seq = 6", ())],
    "deleted-last": [("DELETE FROM findings WHERE seq = 18", ())],
    "deleted-run": [(f"DELETE FROM {t} WHERE seq BETWEEN 4 AND 12", ())
                    for t in ("reports", "incidents", "findings")],
    "twice": [("UPDATE reports SET seq = 6 WHERE seq = 7", ())],
    "moved-up": [("UPDATE findings SET seq = 40 WHERE seq = 9", ())],
    "swapped": [("UPDATE findings SET seq = 99 WHERE seq = 9", ()),
                ("UPDATE findings SET seq = 9 WHERE seq = 12", ()),
                ("UPDATE findings SET seq = 12 WHERE seq = 99", ())],
    "forged": forge_9,
    "prev-edited": [("UPDATE incidents SET prev_hash = 'x' || prev_hash WHERE seq = 8", ())],
    "hash-longer": [("UPDATE reports SET hash = hash || ',' WHERE seq = 10", ())],
    "split-hashes": split_hashes,
    "blob": [("UPDATE findings SET severity = CAST('major' AS BLOB) WHERE seq = 12", ())],
    "blob-after-edit": [("UPDATE findings SET severity = CAST('major' AS BLOB) WHERE seq = 12",
                         ()), ("UPDATE reports SET feed = 'x' WHERE seq = 4", ())],
    "blob-after-delete": [("UPDATE findings SET severity = CAST('major' AS BLOB) WHERE seq = 12",
                           ()), ("DELETE FROM reports WHERE seq = 10", ())],
    "seq-zero": [("UPDATE reports SET seq = 0 WHERE seq = 1", ())],
}


def row_by_row(monkeypatch: pytest.MonkeyPatch, ledger: Ledger) -> Any:
    with monkeypatch.context() as m:
        m.setattr(verify, "_fast_chunk", lambda *args: None)
        return ledger.verify(derived=False)


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 512])
@pytest.mark.parametrize("name", list(TAMPERED))
def test_the_fast_path_finds_what_the_row_by_row_check_finds(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
        chunk: int) -> None:
    for n in range(1, 7):  # 18 entries
        record(ledger, n)
    statements = TAMPERED[name]
    tamper(path, *(statements(ledger, path) if callable(statements) else statements))
    expected = row_by_row(monkeypatch, ledger)
    assert expected.ok == (name in ("intact", "deleted-last"))  # a cut tail: --head finds it
    monkeypatch.setattr(verify, "_FAST_CHUNK", chunk)
    assert ledger.verify(derived=False) == expected
    monkeypatch.setattr(verify, "PARALLEL_VERIFY_MIN", 2)
    monkeypatch.setattr(verify, "_START_ENTRIES", 0)  # halves 1..9 and 10..18
    assert ledger.verify(derived=False) == expected


@pytest.mark.parametrize("chunk", [1, 5, 512])
def test_an_intact_chain_is_checked_by_the_fast_path_alone(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    for n in range(1, 8):
        record(ledger, n)
    with ledger.transaction():
        ledger.append("reviews", {"kind": "note", "detail": "x"})  # a fourth table, at the end
    fast = []
    real = verify._fast_chunk
    monkeypatch.setattr(verify, "_fast_chunk", lambda *args: fast.append(args[3:5]) or real(
        *args))
    monkeypatch.setattr(verify, "_check_range", lambda *args: pytest.fail("checked by rows"))
    monkeypatch.setattr(verify, "_FAST_CHUNK", chunk)
    result = ledger.verify()
    assert result.ok and result.entries == 22
    assert fast[0][0] == 0 and fast[-1][1] == 22
    assert all(b - n == min(chunk, 22 - n) for n, b in fast)


def test_a_chunk_sqlite_writes_otherwise_is_checked_row_by_row_and_holds(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(1, 5):
        record(ledger, n)
    with ledger.transaction():  # a REAL that SQLite's json_quote does not write back (0.3)
        odd = ledger.append("incidents", {"incident_id": "inc-odd", "report_key": "r-odd",
                                          "lat": 0.1 + 0.2})["seq"]
    for n in range(5, 8):
        record(ledger, n)
    # and the SQL's canonical_json writes it otherwise: only Python can vouch for that row
    monkeypatch.setattr(verify, "_sql_canonical_json", lambda value: "1.0e+00")
    monkeypatch.setattr(verify, "_FAST_CHUNK", 2)
    ranges: list[tuple[Any, Any]] = []
    real = verify._check_range
    monkeypatch.setattr(verify, "_check_range", lambda conn, tables, lo, hi, *rest: (
        ranges.append((lo, hi)) or real(conn, tables, lo, hi, *rest)))
    result = ledger.verify()
    assert result.ok and result.entries == 22
    assert ranges == [(odd - 1, odd) if odd % 2 == 0 else (odd, odd + 1)]


def test_the_derived_tables_and_the_schema_are_checked_once_the_chain_is(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.ledger import integrity

    for n in range(1, 7):
        record(ledger, n)
    events: list[str] = []
    for module, name in ((integrity, "expected_schema"), (integrity, "derived_problems"),
                         (verify, "check_span")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *args, _real=real, _name=name: events.append(
            _name) or _real(*args))
    real_start = verify._start_part
    monkeypatch.setattr(verify, "_start_part", lambda *args: events.append(
        "second process") or real_start(*args))
    monkeypatch.setattr(verify, "PARALLEL_VERIFY_MIN", 2)
    monkeypatch.setattr(verify, "_SQLEAN_COST", 1.0)  # the lower part here
    assert ledger.verify().ok
    # this process's part of the chain, then the derived tables (here: a function the second
    # process cannot import by name runs here), while the second process checks the rest;
    # then the schema, which schema_problems builds or reads from the disk cache
    assert events == ["second process", "check_span", "derived_problems", "expected_schema"]
    tamper(path, ("DROP VIEW scorecard", ()))
    assert ledger.verify().problem == "view scorecard is missing"
