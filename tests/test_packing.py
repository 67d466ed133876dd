"""Bodies and resolutions stored compressed with a dictionary of the feed's first reports
(monitor/ledger/packing.py): what is stored, that it does not depend on how a file was split
into batches or processes, that every reader gets the values whole, and that the chain covers
the packed values and their dictionaries."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.config import PROJECT_ROOT
from monitor.ledger import Ledger, packing
from tests.test_compact import cli, same_but_time_and_hash

UCDP = PROJECT_ROOT / "feeds/data/ged_syria_2016.csv"
ACLED = PROJECT_ROOT / "feeds/samples/acled_syria_2016_sample.csv"
WAYS = {  # how the same real rows are imported
    "small batches": ("--no-pipeline", "--batch-size", "300"),
    # the importing process judges the first two pieces (500 and 1,000 reports), the worker
    # the rest (pipeline.OWN_PIECES)
    "two processes": ("--pipeline", "--batch-size", "1000"),
    "unpacked": ("--no-pipeline",),  # with packing off: what the code stored before
}


@dataclass
class Ledgers:
    db: dict[str, Path]
    rows: int  # UCDP rows imported


def raw(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:  # plain SQLite: what is stored
        return conn.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def ledgers(tmp_path_factory: pytest.TempPathFactory) -> Ledgers:
    """UCDP's events from 20 August 2016 on (2,302: more than twice what a feed stores before
    its dictionary), then the ACLED sample (fewer than that), imported each way of
    :data:`WAYS`."""
    folder = tmp_path_factory.mktemp("packing")
    ucdp = folder / UCDP.name
    with UCDP.open(newline="", encoding="utf-8") as fh, ucdp.open("w", newline="",
                                                                  encoding="utf-8") as out:
        rows = [r for r in csv.DictReader(fh) if r["date_start"] >= "2016-08-20"]
        writer = csv.DictWriter(out, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    db = {way: folder / f"{way.replace(' ', '-')}.db" for way in WAYS}
    with pytest.MonkeyPatch.context() as mp:
        for way, options in WAYS.items():
            if way == "unpacked":
                mp.setattr(packing, "TRAIN_AT", 10**9)
            cli(db[way], "import", str(ucdp), "--format", "ucdp", *options)
            cli(db[way], "import", str(ACLED), "--format", "acled", "--no-pipeline")
    return Ledgers(db, len(rows))


def stored(db: Path) -> dict[str, tuple[str, str]]:
    """Report key -> its body and resolution as stored."""
    return {k: (b, r) for k, b, r in raw(db, "SELECT r.report_key, r.body, i.resolution FROM "
                                             "reports r JOIN incidents i USING (report_key)")}


def test_a_feed_is_stored_as_it_is_until_its_dictionary_then_packed(ledgers: Ledgers) -> None:
    db = ledgers.db["small batches"]
    assert ledgers.rows > 2 * packing.TRAIN_AT
    dictionaries = raw(db, "SELECT seq, feed, stored_in, samples FROM dictionaries ORDER BY seq")
    assert [d[1:] for d in dictionaries] == [
        ("ucdp", "reports.body", packing.TRAIN_AT),
        ("ucdp", "incidents.resolution", packing.TRAIN_AT)]
    for feed, plain in (("ucdp", packing.TRAIN_AT), ("acled", None)):
        rows = raw(db, "SELECT r.seq, r.body, i.resolution FROM reports r JOIN incidents i "
                       "USING (report_key) WHERE r.feed = ? ORDER BY r.seq", (feed,))
        kinds = [(body[0], resolution[0]) for _, body, resolution in rows]
        first = plain if plain is not None else len(rows)  # the ACLED sample: all as they are
        assert kinds[:first] == [("{", "{")] * first
        assert kinds[first:] == [('"', '"')] * (len(rows) - first)
        assert all(packing.is_packed(b) and packing.is_packed(r) for _, b, r in rows[first:])
        if plain is not None:  # its dictionaries are in the chain before the first packed row
            assert dictionaries[-1][0] < rows[first][0]
    # about a quarter of the size (UCDP's whole file: bodies 660 -> 175 bytes, resolutions 325 -> 94)
    packed, whole = stored(db), stored(ledgers.db["unpacked"])
    later = [k for k, (b, _) in packed.items() if packing.is_packed(b)]
    assert len(later) == ledgers.rows - packing.TRAIN_AT
    for column in (0, 1):
        assert sum(len(packed[k][column]) for k in later) < 0.35 * sum(
            len(whole[k][column]) for k in later)


def test_what_is_packed_and_how_does_not_depend_on_batches_or_processes(
        ledgers: Ledgers) -> None:
    """The same values packed, the same bodies' dictionary and frames. A resolution as stored
    names the notes its batch shared by their seq (monitor.ledger.compact), so its dictionary
    and frames differ with the batches; read whole, it is the same."""
    one, two = (stored(ledgers.db[way]) for way in ("small batches", "two processes"))
    assert one.keys() == two.keys()

    def frame(text: str) -> str:
        return text.split(":", 2)[2] if packing.is_packed(text) else text

    assert {k: frame(b) for k, (b, _) in one.items()} == {k: frame(b) for k, (b, _) in two.items()}
    assert {k: packing.is_packed(r) for k, (_, r) in one.items()} == {
        k: packing.is_packed(r) for k, (_, r) in two.items()}
    sql = "SELECT feed, stored_in, samples, dictionary FROM dictionaries ORDER BY seq"
    bodies = [[d for d in raw(ledgers.db[way], sql) if d[1] == "reports.body"]
              for way in ("small batches", "two processes")]
    assert bodies[0] == bodies[1] and len(bodies[0]) == 1
    resolved = []
    for way in ("small batches", "two processes"):
        ledger = Ledger.open(ledgers.db[way], readonly=True)
        resolved.append({r["report_key"]: r["resolution"] for r in ledger.incident_rows()})
        ledger.close()
    assert resolved[0] == resolved[1]


@pytest.mark.parametrize("command", [
    ("incidents", "--format", "json"),
    ("findings", "--format", "jsonl", "--limit", "0"),
    ("findings", "--format", "json", "--limit", "0", "--since", "2016-09-12"),
], ids=lambda c: " ".join(c[:3]))
def test_every_command_reads_packed_values_whole(ledgers: Ledgers, command: tuple[str, ...]
                                                ) -> None:
    packed, whole = (cli(ledgers.db[way], *command) for way in ("small batches", "unpacked"))
    assert len(packed) > 10_000
    assert same_but_time_and_hash(packed) == same_but_time_and_hash(whole)


def test_sql_reads_packed_values_whole_through_the_views_and_ledger_json(
        ledgers: Ledgers) -> None:
    db = ledgers.db["small batches"]
    whole = stored(ledgers.db["unpacked"])
    ledger = Ledger.open(db, readonly=True)  # what `monitor query` opens
    try:
        bodies = {r["report_key"]: r["body"] for r in ledger.query(
            "SELECT report_key, body FROM reports_received")}
        assert bodies == {k: body for k, (body, _) in whole.items()}
        same = {r["report_key"]: r["body"] for r in ledger.query(
            "SELECT report_key, ledger_json(body) AS body FROM reports")}
        assert same == bodies
        resolved = {r["report_key"]: json.loads(r["resolution"]) for r in ledger.query(
            "SELECT report_key, resolution FROM incidents_resolved")}
        python = {r["report_key"]: r["resolution"] for r in ledger.incident_rows()}
        assert resolved == python and len(python) == len(whole)
        # the Python interface: a packed value decoded, the same as the value stored whole
        last = raw(db, "SELECT report_key FROM reports ORDER BY seq DESC LIMIT 1")[0][0]
        assert ledger.report(last)["body"] == json.loads(bodies[last])
    finally:
        ledger.close()
    # plain SQLite has no ledger_json: the packed text is all it sees
    with sqlite3.connect(db) as conn, pytest.raises(sqlite3.OperationalError,
                                                    match="no such function: ledger_json"):
        conn.execute("SELECT body FROM reports_received").fetchall()


@pytest.mark.parametrize("table, column", [("dictionaries", "dictionary"),
                                           ("reports", "body"), ("incidents", "resolution")])
def test_an_altered_dictionary_or_packed_value_is_named_by_verify(
        ledgers: Ledgers, tmp_path: Path, table: str, column: str) -> None:
    db = tmp_path / "ledger.db"
    shutil.copy(ledgers.db["small batches"], db)
    [(seq, text)] = raw(db, f"SELECT seq, {column} FROM {table} WHERE {column} LIKE "
                            "'\"zstd:%' OR (? = 'dictionaries') ORDER BY seq DESC LIMIT 1",
                        (table,))
    changed = text[:40] + ("A" if text[40] != "A" else "B") + text[41:]
    conn = sqlite3.connect(db)
    conn.execute(f"DROP TRIGGER {table}_no_update")
    conn.execute(f"UPDATE {table} SET {column} = ? WHERE seq = ?", (changed, seq))
    conn.commit()
    conn.close()
    result = Ledger.open(db, readonly=True).verify()
    assert not result.ok and (result.table, result.seq) == (table, seq), result.problem


def test_a_dictionary_rolled_back_with_its_batch_is_trained_again(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "ledger.db")
    values = [("f", json.dumps({"n": n, "place": f"village {n % 37}", "notes": "shelling " * (
        n % 5)}, sort_keys=True, separators=(",", ":")), '{"notes":[]}')
        for n in range(packing.TRAIN_AT + 5)]
    with pytest.raises(RuntimeError), ledger.transaction():
        out = ledger.pack_batch(values)
        assert raw(ledger.path, "SELECT count(*) FROM dictionaries") == [(0,)]  # not committed
        assert packing.is_packed(out[-1][0]) and not packing.is_packed(out[0][0])
        raise RuntimeError("the batch fails after its dictionary was appended")
    assert ledger.query("SELECT count(*) AS n FROM dictionaries") == [{"n": 0}]
    # nothing was stored of the feed: its first values are stored as they are, as before
    with ledger.transaction():
        out = ledger.pack_batch(values)
    [entry] = ledger.query("SELECT seq, samples FROM dictionaries WHERE stored_in = "
                           "'reports.body'")
    assert entry["samples"] == packing.TRAIN_AT
    assert [packing.is_packed(b) for b, _ in out] == [False] * packing.TRAIN_AT + [True] * 5
    assert f":{entry['seq']}:" in out[-1][0]
    assert ledger._unpacker.value(json.loads(out[-1][0])) == json.loads(values[-1][1])
    ledger.close()


def test_a_ledger_written_before_packing_keeps_its_rows_and_packs_what_comes_after(
        ledgers: Ledgers, tmp_path: Path) -> None:
    """Rows recorded before m011 stay as they were; the feed's next batch trains its
    dictionaries from its first stored reports, packs what comes after, and every reader
    reads both whole."""
    from monitor.ledger import schema
    from tests.test_ledger import migrations_without

    with UCDP.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["date_start"] >= "2016-08-20"]
    parts = [tmp_path / "before.csv", tmp_path / "after.csv"]
    for path, part in zip(parts, (rows[:1500], rows[1500:])):
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, list(rows[0]))
            writer.writeheader()
            writer.writerows(part)
    db = tmp_path / "ledger.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(schema, "MIGRATIONS", migrations_without("chained_table_dictionaries",
                                                            "m011_packed_views"))
        cli(db, "import", str(parts[0]), "--format", "ucdp", "--no-pipeline")
    assert "dictionaries" not in {t for (t,) in raw(db, "SELECT name FROM sqlite_master")}
    before = raw(db, "SELECT seq, body FROM reports ORDER BY seq")
    cli(db, "import", str(parts[1]), "--format", "ucdp", "--no-pipeline")
    assert raw(db, "SELECT seq, body FROM reports ORDER BY seq")[:1500] == before
    kinds = [packing.is_packed(b) for (b,) in raw(db, "SELECT body FROM reports ORDER BY seq")]
    assert kinds == [False] * 1500 + [True] * (len(rows) - 1500)
    assert raw(db, "SELECT samples FROM dictionaries") == [(packing.TRAIN_AT,)] * 2
    ledger = Ledger.open(db, readonly=True)
    whole = Ledger.open(ledgers.db["unpacked"], readonly=True)
    try:
        assert ledger.verify().ok
        got = {r["report_key"]: r["resolution"] for r in ledger.incident_rows()}
        want = {r["report_key"]: r["resolution"] for r in whole.incident_rows()
                if r["report_key"].startswith("ucdp:")}
        assert got == want and len(got) == len(rows)
        assert {k: ledger.report(k)["body"] for k in list(got)[::97]} == {
            k: whole.report(k)["body"] for k in list(got)[::97]}
    finally:
        ledger.close()
        whole.close()
