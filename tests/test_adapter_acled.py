"""The ACLED feed adapter against real files and a real local HTTP server standing in for the
ACLED API (tests/servers.py): incremental by ACLED's timestamp, revisions, deletions, errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from servers import serve

from monitor.adapters.acled import AcledAdapter
from monitor.feeds import Batch, FeedSpec, HttpFetcher, SourceError
from monitor.models import IncidentReport
from monitor.service import Rejection, validate

FIXTURES = Path(__file__).parent / "fixtures" / "acled"
EVENTS_CSV = FIXTURES / "events.csv"
KEY = "s3cr3t-KEY+/="  # characters a URL must escape, to test that errors never show the key


def spec_for(source: str, **options: Any) -> FeedSpec:
    return FeedSpec(name="acled-syria", adapter="acled", source=source, reliability="B",
                    options=options, allow_private_network=True)  # the test servers


def run(spec: FeedSpec, base: Path, cursor: dict[str, Any]) -> list[Batch]:
    """One poll, as the daemon makes it: every batch the adapter yields from ``cursor``."""
    return list(AcledAdapter(spec, base).batches(cursor, HttpFetcher(spec, base)))


def reports(batches: list[Batch]) -> list[dict[str, Any]]:
    return [item[1] for b in batches for item in b.items if not isinstance(item, Rejection)]


def rejections(batches: list[Batch]) -> list[Rejection]:
    return [item for b in batches for item in b.items if isinstance(item, Rejection)]


def ids(batches: list[Batch]) -> list[str]:
    return [r["source_id"] for r in reports(batches)]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    columns = list(read_rows(EVENTS_CSV)[0])
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns)
        writer.writeheader()
        writer.writerows({c: row.get(c, "") for c in columns} for row in rows)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """The six-row export as a feed's file, in a feeds folder of its own."""
    shutil.copy(EVENTS_CSV, tmp_path / "acled.csv")
    return tmp_path / "acled.csv"


# --- a CSV export ------------------------------------------------------------------------


def test_first_poll_yields_every_row_oldest_first_as_valid_reports(export, tmp_path):
    batches = run(spec_for("acled.csv"), tmp_path, {})
    assert ids(batches) == ["SYR9005", "SYR9002", "SYR9003", "SYR9004", "SYR9001", "SYR9006"]
    assert batches[-1].cursor["timestamp"] == 1471000400
    for where, raw in (i for b in batches for i in b.items):
        report = validate(raw, where)
        assert isinstance(report, IncidentReport), report
        assert (report.feed, report.reliability) == ("acled-syria", "B")
        assert report.revision == str(next(r["timestamp"] for r in read_rows(EVENTS_CSV)
                                           if r["event_id_cnty"] == report.source_id))
    assert reports(batches)[0]["location"]["place"] == "Jobar"


def test_a_second_poll_with_the_returned_cursor_yields_nothing(export, tmp_path):
    cursor = run(spec_for("acled.csv"), tmp_path, {})[-1].cursor
    assert run(spec_for("acled.csv"), tmp_path, cursor) == []


def test_a_row_added_with_a_newer_timestamp_is_all_the_next_poll_yields(export, tmp_path):
    cursor = run(spec_for("acled.csv"), tmp_path, {})[-1].cursor
    rows = read_rows(export)
    write_rows(export, [*rows, {**rows[0], "event_id_cnty": "SYR9007", "timestamp": "1471000500"}])
    batches = run(spec_for("acled.csv"), tmp_path, cursor)
    assert ids(batches) == ["SYR9007"]
    assert batches[-1].cursor["timestamp"] == 1471000500


def test_a_revised_row_yields_a_report_with_the_new_revision(export, tmp_path):
    cursor = run(spec_for("acled.csv"), tmp_path, {})[-1].cursor
    rows = read_rows(export)
    rows[0] = {**rows[0], "fatalities": "5", "timestamp": "1471086400"}  # SYR9001, revised
    write_rows(export, rows)
    [revised] = reports(run(spec_for("acled.csv"), tmp_path, cursor))
    assert (revised["source_id"], revised["revision"]) == ("SYR9001", "1471086400")
    assert revised["casualties_max"] == "5"


@pytest.mark.parametrize("batch_size, expected", [
    (2, [(["SYR9005", "SYR9002"], 1471000100), (["SYR9003", "SYR9004"], 1471000200),
         (["SYR9001", "SYR9006"], 1471000400)]),
    # the first batch ends between two rows stamped 1471000200: its cursor stays below them
    (3, [(["SYR9005", "SYR9002", "SYR9003"], 1471000199),
         (["SYR9004", "SYR9001", "SYR9006"], 1471000400)]),
], ids=["batches-end-between-timestamps", "batch-ends-inside-a-timestamp"])
def test_each_batch_carries_the_cursor_true_once_it_is_recorded(export, tmp_path, batch_size,
                                                                expected):
    batches = run(spec_for("acled.csv", batch_size=batch_size), tmp_path, {})
    assert [([r["source_id"] for _, r in b.items], b.cursor["timestamp"]) for b in batches] \
        == expected
    assert "sha256" in batches[-1].cursor and all("sha256" not in b.cursor for b in batches[:-1])


def test_a_crash_after_a_batch_loses_no_row_and_repeats_are_duplicates(export, tmp_path, monitor):
    spec = spec_for("acled.csv", batch_size=3)
    first = run(spec, tmp_path, {})[0]
    monitor.submit(validate(raw, where) for where, raw in first.items)
    # the daemon died here: the next poll starts from the first batch's cursor
    again = run(spec, tmp_path, first.cursor)
    assert ids(again) == ["SYR9003", "SYR9004", "SYR9001", "SYR9006"]
    result = monitor.submit(validate(raw, where) for b in again for where, raw in b.items)
    assert (result.new, result.duplicates) == (3, 1)


def test_malformed_rows_are_rejected_with_their_line_and_the_others_go_in(tmp_path):
    rows = read_rows(EVENTS_CSV)
    write_rows(tmp_path / "acled.csv", [
        rows[0],
        {**rows[1], "event_date": "sometime"},
        {**rows[2], "timestamp": "yesterday"},
        rows[3],
    ])
    with (tmp_path / "acled.csv").open("ab") as fh:
        fh.write(b"SYR9010,2016-08-11\n")  # a short row
        fh.write(",".join(rows[4].values()).replace("Jobar", "J\xf6bar").encode("latin-1")
                 + b"\n")
    batches = run(spec_for("acled.csv"), tmp_path, {})
    assert ids(batches) == ["SYR9004", "SYR9001"]
    assert {str(r) for r in rejections(batches)} == {
        "acled.csv line 3: event_date 'sometime' is not a date (expected YYYY-MM-DD or "
        "'10 August 2016')",
        "acled.csv line 4: timestamp 'yesterday' is not a Unix time in whole seconds",
        "acled.csv line 6: fewer fields than the header",
        "acled.csv line 7: not UTF-8; save the file as UTF-8",
    }


def test_an_export_at_a_url_is_read_as_a_file(tmp_path):
    export = (200, EVENTS_CSV.read_bytes(), {"Content-Type": "text/csv"})
    with serve({"/exports/syria.csv": export}) as base:
        batches = run(spec_for(f"{base}/exports/syria.csv"), tmp_path, {})
        assert len(ids(batches)) == 6 and batches[-1].cursor["timestamp"] == 1471000400
        assert run(spec_for(f"{base}/exports/syria.csv"), tmp_path, batches[-1].cursor) == []


def test_a_file_that_is_not_an_acled_export_is_a_source_error(tmp_path):
    (tmp_path / "acled.csv").write_text("id,date,what\n1,2016-08-10,strike\n")
    with pytest.raises(SourceError, match=r"missing ACLED column.*event_id_cnty.*timestamp"):
        run(spec_for("acled.csv"), tmp_path, {})


def test_a_missing_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="cannot read"):
        run(spec_for("nowhere.csv"), tmp_path, {})


# --- the API -----------------------------------------------------------------------------


class FakeAcled:
    """ACLED's read and deleted endpoints as the API documents them: JSON pages of ``limit``
    rows, ``timestamp``/``deleted_timestamp`` filters (``>=`` unless ``*_where`` says
    otherwise), key and email required, rows not ordered by timestamp."""

    def __init__(self, events: list[dict[str, Any]]):
        self.events = events
        self.deleted: list[dict[str, Any]] = []
        self.log: list[str] = []

    def routes(self) -> dict[str, Any]:
        return {"/acled/read": self.read, "/deleted/read": self.deletions, "__log__": self.log}

    @staticmethod
    def reply(body: dict[str, Any]) -> tuple[int, bytes, dict[str, str]]:
        return 200, json.dumps(body).encode(), {"Content-Type": "application/json"}

    def page(self, query: dict[str, list[str]], rows: list[dict[str, Any]],
             field: str) -> tuple[int, bytes, dict[str, str]]:
        arg = {k: v[0] for k, v in query.items()}
        if arg.get("key") != KEY or not arg.get("email"):
            return self.reply({"status": 403, "success": False,
                               "error": [{"status": 403, "message": "Access denied"}]})
        since, where = int(arg.get(field, 0)), arg.get(f"{field}_where", ">=")

        def wanted(row: dict[str, Any]) -> bool:
            value = str(row.get(field, ""))
            if not value.isdigit():
                return True  # a malformed row is passed on, for the adapter to reject
            return int(value) > since if where == ">" else int(value) >= since

        keep = [r for r in rows if wanted(r)]
        if "country" in arg:
            keep = [r for r in keep if r.get("country", arg["country"]) == arg["country"]]
        page, limit = int(arg.get("page", 1)), int(arg.get("limit", 5000))
        data = keep[(page - 1) * limit:page * limit]
        return self.reply({"status": 200, "success": True, "count": len(data), "data": data})

    def read(self, path: str, query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]]:
        # ACLED sorts by event date, newest first; never by timestamp
        rows = sorted(self.events, key=lambda e: e.get("event_date", ""), reverse=True)
        return self.page(query, rows, "timestamp")

    def deletions(self, path: str,
                  query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]]:
        return self.page(query, self.deleted, "deleted_timestamp")

    def queries(self, path: str) -> list[dict[str, str]]:
        return [{k: v[0] for k, v in parse_qs(urlsplit(p).query).items()}
                for p in self.log if urlsplit(p).path == path]


@pytest.fixture
def acled() -> FakeAcled:
    return FakeAcled(json.loads((FIXTURES / "api_events.json").read_text()))


def api_spec(base: str, **options: Any) -> FeedSpec:
    defaults = {"key": KEY, "email": "monitor@example.org", "country": "Syria", "limit": 2,
                "deleted_url": f"{base}/deleted/read"}
    return spec_for(f"{base}/acled/read", **{**defaults, **options})


def test_api_pages_then_a_revision_and_a_deletion(acled, tmp_path):
    with serve(acled.routes()) as base:
        spec = api_spec(base)
        first = run(spec, tmp_path, {})
        # two full pages, then an empty one ends the run
        assert [q["page"] for q in acled.queries("/acled/read")] == ["1", "2", "3"]
        assert sorted(ids(first)) == ["SYR9101", "SYR9102", "SYR9103", "SYR9104"]
        assert [b.cursor for b in first] == [
            {}, {"timestamp": 1471000300, "deleted_timestamp": 0}]  # advanced only at the end
        assert all(r["reliability"] == "B" and r["feed"] == "acled-syria"
                   for r in reports(first))
        assert all(isinstance(validate(raw, where), IncidentReport)
                   for b in first for where, raw in b.items)

        revised = {**acled.events[1], "fatalities": "4", "timestamp": "1480000000"}
        acled.events[1] = revised  # SYR9102 revised by ACLED ...
        acled.deleted.append({"event_id_cnty": "SYR9103", "deleted_timestamp": "1480000500"})
        acled.log.clear()
        second = run(spec, tmp_path, first[-1].cursor)
        [batch] = second
        [(where, report)] = batch.items
        assert (report["source_id"], report["revision"]) == ("SYR9102", "1480000000")
        assert where == "acled/read page 1 item 1"
        assert batch.retractions == ["SYR9103"]
        assert batch.cursor == {"timestamp": 1480000000, "deleted_timestamp": 1480000500}
        # the filters went to the server: only what is newer than the cursor was asked for
        [read] = acled.queries("/acled/read")
        assert (read["timestamp"], read["timestamp_where"]) == ("1471000301", ">=")
        assert (read["country"], read["limit"], read["page"]) == ("Syria", "2", "1")
        [deleted] = acled.queries("/deleted/read")
        assert (deleted["deleted_timestamp"], deleted["deleted_timestamp_where"]) == ("1", ">=")

        assert run(spec, tmp_path, batch.cursor) == []  # nothing new: no batch at all


def test_a_deletion_alone_yields_a_batch_with_the_retraction(acled, tmp_path):
    with serve(acled.routes()) as base:
        cursor = {"timestamp": 1471000300, "deleted_timestamp": 1480000000}
        acled.deleted = [{"event_id_cnty": "SYR9101", "deleted_timestamp": 1480000000},  # old
                         {"event_id_cnty": "SYR9104", "deleted_timestamp": 1480000900}]
        [batch] = run(api_spec(base), tmp_path, cursor)
        assert (batch.items, batch.retractions) == ([], ["SYR9104"])
        assert batch.cursor == {"timestamp": 1471000300, "deleted_timestamp": 1480000900}


def test_malformed_api_rows_are_rejected_by_page_and_item(acled, tmp_path):
    acled.events = [acled.events[0], {**acled.events[1], "event_date": "soon"},
                    {"event_id_cnty": "SYR9199", "country": "Syria"}, acled.events[3]]
    acled.deleted = [{"event_id_cnty": "SYR9104"}]
    with serve(acled.routes()) as base:
        batches = run(api_spec(base, limit=10), tmp_path, {})
    assert sorted(ids(batches)) == ["SYR9101", "SYR9104"]
    assert sorted(str(r) for r in rejections(batches)) == [
        "acled/read page 1 item 1: event_date 'soon' is not a date (expected YYYY-MM-DD or "
        "'10 August 2016')",
        "acled/read page 1 item 4: timestamp '' is not a Unix time in whole seconds",
        "deleted/read page 1 item 1: deletion: timestamp '' is not a Unix time in whole "
        "seconds",
    ]


def test_an_item_that_is_not_an_object_is_rejected_and_the_page_goes_on(acled, tmp_path):
    body = {"status": 200, "success": True, "count": 2, "data": ["SYR9101", acled.events[0]]}
    with serve({"/acled/read": garbage(json.dumps(body).encode())}) as base:
        [batch] = run(spec_for(f"{base}/acled/read"), tmp_path, {})
    assert ids([batch]) == ["SYR9101"]
    assert [str(r) for r in rejections([batch])] == [
        "acled/read page 1 item 1: not a JSON object (an ACLED event)"]
    assert batch.cursor == {"timestamp": 1471000300}


def test_a_query_in_the_feed_url_is_kept(acled, tmp_path):
    with serve(acled.routes()) as base:
        spec = spec_for(f"{base}/acled/read?email=monitor@example.org&iso=760", key=KEY)
        assert len(ids(run(spec, tmp_path, {}))) == 4
    [query] = acled.queries("/acled/read")
    assert (query["iso"], query["email"], query["key"]) == ("760", "monitor@example.org", KEY)


def garbage(body: bytes, status: int = 200):
    return lambda path, query: (status, body, {"Content-Type": "application/json"})


@pytest.mark.parametrize("route, message", [
    (garbage(b'{"status": 403, "success": false, "error": [{"status": 403, '
             b'"message": "Access denied"}]}'), "acled/read page 1: ACLED refused.*Access denied"),
    (garbage(b"<html><body>502 Bad Gateway</body></html>"), "not JSON"),
    (garbage(b'{"status": 200, "success": true, "count": 0}'), "no 'data' list"),
    (garbage(b'["not", "an", "object"]'), "not an ACLED reply"),
    (garbage(b"oops", status=500), "HTTP 500"),
    (garbage(json.dumps({"success": True, "data": [{"timestamp": "1"}] * 2}).encode()),
     "the rows of page 1 again; 'page' is ignored"),
], ids=["success-false", "not-json", "no-data-list", "not-an-object", "http-500",
        "page-ignored"])
def test_a_broken_reply_is_a_source_error_that_never_shows_the_key(tmp_path, route, message):
    with serve({"/acled/read": route}) as base, \
            pytest.raises(SourceError, match=message) as caught:
        run(spec_for(f"{base}/acled/read", key=KEY, email="m@example.org", limit=2), tmp_path, {})
    for shown in (KEY, "s3cr3t"):
        assert shown not in str(caught.value)


def test_an_unknown_option_is_an_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="deleted_ur"):
        AcledAdapter(spec_for("acled.csv", deleted_ur="https://x"), tmp_path)


@pytest.mark.parametrize("value, date_format, expected", [
    ("2016-08-10", None, "2016-08-10"),
    ("2016-8-1", None, "2016-08-01"),  # strptime's reading of an unpadded ISO date
    ("10 August 2016", None, "2016-08-10"),
    ("25/08/2016", None, "2016-08-25"),  # only one reading: day first
    ("08/25/2016", None, "2016-08-25"),  # only one reading: month first
    ("04/04/2016", None, "2016-04-04"),
    ("03/04/2016", "%d/%m/%Y", "2016-04-03"),
    ("03/04/2016", "%m/%d/%Y", "2016-03-04"),
], ids=["iso", "iso-unpadded", "words", "day-first", "month-first", "same-both-ways", "told-day-first",
        "told-month-first"])
def test_dates_with_one_reading_are_read(value, date_format, expected):
    from monitor.adapters.acled import parse_date

    assert parse_date(value, date_format).isoformat() == expected


def test_an_ambiguous_numeric_date_is_refused_with_the_fix():
    from monitor.adapters.acled import parse_date

    with pytest.raises(ValueError, match=r"ambiguous \(3 April or 4 March 2016\?\).*"
                                         r"--date-format %d/%m/%Y or %m/%d/%Y"):
        parse_date("03/04/2016")
    with pytest.raises(ValueError, match="does not match the date format"):
        parse_date("2016-04-03", "%d/%m/%Y")
    with pytest.raises(ValueError, match="'2016-02-30' is not a date"):
        parse_date("2016-02-30")  # ISO-shaped, no such day
