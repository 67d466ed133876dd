"""A big file imported into an empty ledger has the indexes that only queries read built once, at
its end (Ledger.indexes_at_end): the ledger is the one an import with them writes, a ledger
that holds reports keeps them, an import stopped by an error builds them on its way out, one
killed leaves them to the next writer (verify names them meanwhile), and whatever reads them
in a batch (revisions, corroboration, the patterns) has them built first."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor import imports
from monitor.ledger import Ledger, integrity
from monitor.ledger.schema import INDEXES_AT_END

sys.path.insert(0, str(Path(__file__).parent))
from test_crashes import assert_crashed_at, assert_verifies, jsonl_project, monitor  # noqa: E402
from test_pipeline import _import, content, generated_acled  # noqa: E402


def indexes(db: Path) -> dict[str, str]:
    """The indexes of INDEXES_AT_END the file holds, as committed, with their SQL."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {name: " ".join(sql.split()) for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index'")
            if name in INDEXES_AT_END}
    finally:
        conn.close()


@pytest.fixture
def small_big_file(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files of 100 lines or more count as big."""
    monkeypatch.setattr(imports, "INDEXES_AT_END_MIN_LINES", 100)


def watched(db: Path, seen: list[int]) -> Any:
    """An on_batch that records how many of the indexes the file holds after each piece."""
    return lambda _: seen.append(len(indexes(db)))


def test_a_big_file_into_an_empty_ledger_builds_them_at_its_end_and_records_the_same_ledger(
        tmp_path: Path, small_big_file: None, monkeypatch: pytest.MonkeyPatch) -> None:
    source = generated_acled(tmp_path / "events.csv", 1200)
    seen: list[int] = []
    at_end = _import_with(tmp_path / "at-end.db", source, seen)
    assert len(seen) > 2 and set(seen) == {0}  # every piece recorded without them
    assert len(indexes(tmp_path / "at-end.db")) == len(INDEXES_AT_END)
    monkeypatch.setattr(imports, "INDEXES_AT_END_MIN_LINES", 10**9)
    kept: list[int] = []
    along = _import_with(tmp_path / "along.db", source, kept)
    assert set(kept) == {len(INDEXES_AT_END)}
    # the same records, and the same indexes, as the code defines them
    assert (at_end.new, at_end.by_term) == (along.new, along.by_term)
    assert content(tmp_path / "at-end.db") == content(tmp_path / "along.db")
    assert indexes(tmp_path / "at-end.db") == indexes(tmp_path / "along.db")
    ledger = Ledger.open(tmp_path / "at-end.db", readonly=True)
    assert ledger.verify().ok and not integrity.schema_problems(ledger._conn)
    ledger.close()


def _import_with(db: Path, source: Path, seen: list[int]) -> Any:
    """``monitor import`` of ``source`` into ``db`` in one process, 500 reports a batch in
    pieces of 250, each piece's count of the indexes in ``seen``."""
    return _import(db, source, batch_size=500, piece=250, on_batch=watched(db, seen))


def test_a_ledger_that_holds_reports_keeps_them_through_an_import(
        tmp_path: Path, small_big_file: None) -> None:
    first = generated_acled(tmp_path / "first.csv", 150)
    db = tmp_path / "l.db"
    _import_with(db, first, [])
    more = generated_acled(tmp_path / "more.csv", 600)  # the same rows and more
    seen: list[int] = []
    result = _import_with(db, more, seen)
    assert result.new == 450 and seen and set(seen) == {len(INDEXES_AT_END)}


def test_an_import_stopped_by_an_error_builds_them_on_its_way_out(
        tmp_path: Path, small_big_file: None) -> None:
    source = generated_acled(tmp_path / "events.csv", 1200)
    db = tmp_path / "l.db"
    seen: list[int] = []

    def stop(_: int) -> None:
        seen.append(len(indexes(db)))
        if len(seen) == 3:
            raise KeyboardInterrupt  # Ctrl-C, between two pieces

    with pytest.raises(KeyboardInterrupt):
        _import(db, source, batch_size=500, piece=250, on_batch=stop)
    assert seen == [0, 0, 0]
    assert len(indexes(db)) == len(INDEXES_AT_END)
    reader = Ledger.open(db, readonly=True)
    assert reader.counts()["reports"] == 500 and reader.verify().ok
    reader.close()


def test_an_import_killed_half_way_leaves_them_to_the_next_writer_and_verify_names_them(
        tmp_path: Path) -> None:
    lines = imports.INDEXES_AT_END_MIN_LINES  # a big file, as the command line sees one
    env, source = jsonl_project(tmp_path, lines)
    args = ["import", str(source), "--format", "jsonl", "--no-pipeline", "--batch-size", "500"]
    db = tmp_path / "l.db"
    crashed = monitor(args, env, tmp_path, crash_at="service.record:700")
    assert_crashed_at(crashed, "service.record:700")
    assert not indexes(db)  # dropped and committed before the first batch; never built
    reader = Ledger.open(db, readonly=True)
    result = reader.verify()
    reader.close()
    assert not result.ok and result.entries > 0  # the chain holds; the indexes are missing
    assert result.problem == (
        f"{len(INDEXES_AT_END)} indexes are missing ({', '.join(sorted(INDEXES_AT_END))}): an "
        "import of a big file into an empty ledger builds them at its end, and one is running "
        "or was stopped; the next command that writes to the ledger builds them")
    Ledger.open(db).close()  # the next writer builds them
    assert len(indexes(db)) == len(INDEXES_AT_END)
    assert_verifies(env, tmp_path)
    again = monitor(args, env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"{lines - 500} new report(s), 500 already recorded" in again.stdout
    assert_verifies(env, tmp_path)


def report(source_id: str, revision: str = "1", feed: str = "acled") -> Any:
    """A report of the 2016 pack that breaks a term (an air strike on civilians)."""
    from monitor.models import IncidentReport

    return IncidentReport.model_validate({
        "feed": feed, "source_id": source_id, "revision": revision,
        "occurred": "2016-08-10", "event_type": "air_strike", "attacker": ["Syrian air force"],
        "target": ["civilians"], "location": {"lat": 36.2, "lon": 37.15, "precision": 1,
                                              "place": "Aleppo"},
        "notes": "barrel bombs on the market"})


def test_a_batch_that_reads_them_has_them_built_first(monitor: Any) -> None:
    db = monitor.ledger.path
    with monitor.ledger.indexes_at_end() as build:
        assert not indexes(db)  # the ledger was empty: left to the end
        first = monitor.submit([report("x1")], refresh=False)
        monitor.submit([report("x2")], refresh=False)  # new records of the same feed
        assert first.findings and not indexes(db)
        monitor.submit([report("x1", "2")], refresh=False)  # a revision reads the findings
        assert len(indexes(db)) == len(INDEXES_AT_END)
        build()  # nothing left to build
    assert len(indexes(db)) == len(INDEXES_AT_END)
    with monitor.ledger.indexes_at_end():
        assert len(indexes(db)) == len(INDEXES_AT_END)  # a ledger with reports keeps them
    assert monitor.ledger.verify().ok


@pytest.mark.parametrize("how", ["another feed", "the patterns", "a retraction"])
def test_corroboration_the_patterns_and_retractions_have_them_built_first(
        monitor: Any, how: str) -> None:
    db = monitor.ledger.path
    with monitor.ledger.indexes_at_end():
        monitor.submit([report("x1")], refresh=False)
        assert not indexes(db)
        if how == "another feed":  # corroboration searches the first feed's reports
            monitor.submit([report("u1", feed="ucdp")], refresh=False)
        elif how == "the patterns":
            monitor.submit([report("x2")])
        else:
            monitor.submit([], feed="acled", retractions=["x1"], refresh=False)
        assert len(indexes(db)) == len(INDEXES_AT_END)
