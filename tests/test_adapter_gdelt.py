"""GDELT 2.0 adapter against a real local HTTP server serving GDELT-format files.

The fixture export (``fixtures/gdelt/20160919120000.export.CSV``, 61 tab-separated columns) holds
an air strike in Aleppo (195), fighting in Mosul (190, Iraq: dropped), a visit (042: dropped),
a truncated line, and a country-level ceasefire violation (196)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from monitor.adapters.gdelt import COLUMNS, GdeltAdapter, to_report
from monitor.feeds import Batch, FeedSpec, HttpFetcher, SourceError
from monitor.models import IncidentReport
from monitor.service import Rejection
from tests.servers import serve

FIXTURE = Path(__file__).parent / "fixtures" / "gdelt" / "20160919120000.export.CSV"
S0 = "20160919120000"


def slot(offset: int, start: str = S0) -> str:
    """The slot ``offset`` 15-minute steps after ``start``."""
    base = dt.datetime.strptime(start, "%Y%m%d%H%M%S")
    return (base + dt.timedelta(minutes=15 * offset)).strftime("%Y%m%d%H%M%S")


def row(**fields: str) -> str:
    """One 61-column export line: a Syrian 193 in Aleppo unless told otherwise."""
    values = {c: "" for c in COLUMNS}
    values.update(GLOBALEVENTID="1", SQLDATE="20160919", EventCode="193", EventBaseCode="193",
                  EventRootCode="19", ActionGeo_Type="4", ActionGeo_CountryCode="SY",
                  ActionGeo_FullName="Aleppo, Halab, Syria", ActionGeo_Lat="36.2021",
                  ActionGeo_Long="37.1343", Actor1Name="SYRIA", Actor2Name="REBEL",
                  SOURCEURL="https://news.example.org/a")
    values.update(fields)
    return "\t".join(values[c] for c in COLUMNS)


def export_zip(name: str, text: str) -> bytes:
    """A zip as GDELT publishes it: one ``<slot>.export.CSV`` member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def list_line(url: str, data: bytes) -> str:
    return f"{len(data)} {hashlib.md5(data).hexdigest()} {url}"


class Gdelt:
    """A GDELT mirror on a local server: exports by slot, lastupdate pointing at ``newest``."""

    def __init__(self) -> None:
        self.zips: dict[str, bytes] = {}
        self.newest = S0
        self.log: list[str] = []
        self.base = ""

    def add(self, when: str, text: str) -> None:
        self.zips[when] = export_zip(f"{when}.export.CSV", text)

    def url(self, when: str, kind: str = "export.CSV.zip") -> str:
        return f"{self.base}/gdeltv2/{when}.{kind}"

    def lastupdate(self, path: str, query: Any) -> tuple[int, bytes, dict[str, str]]:
        data = self.zips[self.newest]
        lines = [list_line(self.url(self.newest), data),
                 list_line(self.url(self.newest, "mentions.CSV.zip"), b"m"),
                 list_line(self.url(self.newest, "gkg.csv.zip"), b"g")]
        return 200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "text/plain"}

    def masterlist(self, path: str, query: Any) -> tuple[int, bytes, dict[str, str]]:
        lines = []
        for when in sorted(self.zips):  # every slot, newer than lastupdate ones too
            lines += [list_line(self.url(when), self.zips[when]),
                      list_line(self.url(when, "mentions.CSV.zip"), b"m"),
                      list_line(self.url(when, "gkg.csv.zip"), b"g")]
        return 200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "text/plain"}

    def routes(self) -> dict[str, Any]:
        routes: dict[str, Any] = {"__log__": self.log,
                                  "/gdeltv2/lastupdate.txt": self.lastupdate,
                                  "/gdeltv2/masterfilelist.txt": self.masterlist}
        for when, data in self.zips.items():
            routes[f"/gdeltv2/{when}.export.CSV.zip"] = (200, data, {})
        return routes


def run(spec: FeedSpec, cursor: dict[str, Any], base: Path) -> list[Batch]:
    return list(GdeltAdapter(spec, base).batches(cursor, HttpFetcher(spec, base)))


def make_spec(base_url: str, **options: Any) -> FeedSpec:
    return FeedSpec.model_validate({"name": "gdelt", "adapter": "gdelt", "reliability": "C",
                                    "source": f"{base_url}/gdeltv2/lastupdate.txt",
                                    "options": options, "retries": 0, "timeout_seconds": 5,
                                    "allow_private_network": True})  # the test server


def reports(batches: list[Batch]) -> list[dict[str, Any]]:
    return [i[1] for b in batches for i in b.items if not isinstance(i, Rejection)]


@pytest.fixture
def mirror() -> Gdelt:
    gdelt = Gdelt()
    gdelt.add(S0, FIXTURE.read_text(encoding="utf-8"))
    return gdelt


def test_first_run_reads_only_the_newest_slot_and_keeps_syrian_fighting(mirror, tmp_path):
    mirror.add(slot(-1), row(GLOBALEVENTID="99"))  # older, never read on a first run
    with serve(mirror.routes()) as base:
        mirror.base = base
        batches = run(make_spec(base), {}, tmp_path)
    assert mirror.log == ["/gdeltv2/lastupdate.txt", f"/gdeltv2/{S0}.export.CSV.zip"]
    assert len(batches) == 1 and batches[0].cursor == {"slot": S0}
    assert batches[0].source_lag_seconds == 0
    assert [r["source_id"] for r in reports(batches)] == ["578201101", "578201105"]
    for r in reports(batches):
        IncidentReport.model_validate(r)


def test_the_aleppo_air_strike_maps_to_a_valid_report(mirror, tmp_path):
    with serve(mirror.routes()) as base:
        mirror.base = base
        strike = reports(run(make_spec(base), {}, tmp_path))[0]
    report = IncidentReport.model_validate(strike)
    assert report.report_key == "gdelt:578201101:1"
    assert report.occurred == dt.date(2016, 9, 19)
    assert report.event_type == "air_strike" and report.platform is None
    assert report.attacker == ["RUSSIA"] and report.target == ["SYRIA"]
    assert report.location is not None
    assert (report.location.lat, report.location.lon) == (36.2021, 37.1343)
    assert report.location.precision == 2 and report.location.place == "Aleppo, Halab, Syria"
    assert report.sources == ["https://news.example.org/2016/09/19/aleppo-air-strikes"]
    assert report.reliability == "C"
    assert report.notes == ("CAMEO 195 Employ aerial weapons, not specified below: "
                            "RUSSIA → SYRIA at Aleppo, Halab, Syria")


def test_truncated_line_is_a_rejection_naming_the_zip_and_line(mirror, tmp_path):
    with serve(mirror.routes()) as base:
        mirror.base = base
        items = run(make_spec(base), {}, tmp_path)[0].items
    rejections = [i for i in items if isinstance(i, Rejection)]
    assert [r.where for r in rejections] == [f"{S0}.export.CSV.zip line 4"]
    assert "29 tab-separated columns, expected 61" in rejections[0].reason


def test_a_jump_of_three_slots_backfills_the_two_missed_from_the_master_list(mirror, tmp_path):
    for n in (1, 2, 3, 4):
        mirror.add(slot(n), row(GLOBALEVENTID=f"70{n}"))
    with serve(mirror.routes()) as base:
        mirror.base = base
        spec = make_spec(base)
        first = run(spec, {}, tmp_path)
        mirror.newest = slot(3)
        mirror.log.clear()
        batches = run(spec, first[-1].cursor, tmp_path)
    assert mirror.log == ["/gdeltv2/lastupdate.txt", "/gdeltv2/masterfilelist.txt",
                          f"/gdeltv2/{slot(1)}.export.CSV.zip",
                          f"/gdeltv2/{slot(2)}.export.CSV.zip",
                          f"/gdeltv2/{slot(3)}.export.CSV.zip"]
    assert [b.cursor for b in batches] == [{"slot": slot(n)} for n in (1, 2, 3)]
    assert [b.source_lag_seconds for b in batches] == [1800, 900, 0]
    assert [r["source_id"] for r in reports(batches)] == ["701", "702", "703"]


def test_resuming_with_the_final_cursor_reads_nothing_new(mirror, tmp_path):
    with serve(mirror.routes()) as base:
        mirror.base = base
        spec = make_spec(base)
        cursor = run(spec, {}, tmp_path)[-1].cursor
        mirror.log.clear()
        assert run(spec, cursor, tmp_path) == []
    assert mirror.log == ["/gdeltv2/lastupdate.txt"]


def test_the_next_slot_is_read_without_the_master_list(mirror, tmp_path):
    mirror.add(slot(1), row(GLOBALEVENTID="801"))
    mirror.newest = slot(1)
    with serve(mirror.routes()) as base:
        mirror.base = base
        batches = run(make_spec(base), {"slot": S0}, tmp_path)
    assert "/gdeltv2/masterfilelist.txt" not in mirror.log
    assert [r["source_id"] for r in reports(batches)] == ["801"]


def test_backfill_is_capped_and_reads_the_oldest_first(mirror, tmp_path):
    for n in (1, 2, 3):
        mirror.add(slot(n), row(GLOBALEVENTID=f"70{n}"))
    mirror.newest = slot(3)
    with serve(mirror.routes()) as base:
        mirror.base = base
        spec = make_spec(base, max_backfill_slots=2)
        batches = run(spec, {"slot": S0}, tmp_path)
        assert [b.cursor for b in batches] == [{"slot": slot(1)}, {"slot": slot(2)}]
        assert batches[-1].source_lag_seconds == 900  # still one slot behind
        rest = run(spec, batches[-1].cursor, tmp_path)
    assert [b.cursor for b in rest] == [{"slot": slot(3)}]


def test_a_slot_over_500_rows_is_split_and_a_partial_cursor_resumes_after_its_line(mirror,
                                                                                   tmp_path):
    mirror.add(slot(1), "\n".join(row(GLOBALEVENTID=str(n)) for n in range(1, 1201)) + "\n")
    mirror.newest = slot(1)
    with serve(mirror.routes()) as base:
        mirror.base = base
        spec = make_spec(base)
        batches = run(spec, {"slot": S0}, tmp_path)
        assert [len(b.items) for b in batches] == [500, 500, 200]
        assert batches[0].cursor == {"slot": S0, "partial": {"slot": slot(1), "line": 500}}
        assert batches[-1].cursor == {"slot": slot(1)}
        resumed = run(spec, batches[0].cursor, tmp_path)  # crashed after the first batch
    ids = [r["source_id"] for r in reports(resumed)]
    assert ids[0] == "501" and len(ids) == 700


@pytest.mark.parametrize("body", [b"", b"<html><body>502 Bad Gateway</body></html>",
                                  b"150383 297a16b4 http://x/20150218230000.export.CSV.zip"],
                         ids=["empty", "html-error-page", "short-md5"])
def test_garbage_lastupdate_is_a_source_error(tmp_path, body):
    with serve({"/gdeltv2/lastupdate.txt": (200, body, {})}) as base:
        with pytest.raises(SourceError, match="lastupdate.txt"):
            run(make_spec(base), {}, tmp_path)


def test_lastupdate_without_an_export_line_is_a_source_error(mirror, tmp_path):
    only_gkg = f"{list_line('http://h/gdeltv2/' + S0 + '.gkg.csv.zip', b'g')}\n".encode()
    with serve({"/gdeltv2/lastupdate.txt": (200, only_gkg, {})}) as base:
        with pytest.raises(SourceError, match="no export.CSV.zip line"):
            run(make_spec(base), {}, tmp_path)


def test_a_bad_zip_is_a_source_error(mirror, tmp_path):
    mirror.zips[S0] = b"PK\x03\x04 this is not really a zip archive"
    with serve(mirror.routes()) as base:
        mirror.base = base
        with pytest.raises(SourceError, match="not a readable zip archive"):
            run(make_spec(base), {}, tmp_path)


def test_a_zip_that_differs_from_its_listed_md5_is_a_source_error(mirror, tmp_path):
    routes = mirror.routes()
    routes[f"/gdeltv2/{S0}.export.CSV.zip"] = (200, export_zip("x.CSV", row()), {})
    with serve(routes) as base:
        mirror.base = base
        with pytest.raises(SourceError, match="md5"):
            run(make_spec(base), {}, tmp_path)


def test_a_missing_zip_is_a_source_error(mirror, tmp_path):
    routes = mirror.routes()
    del routes[f"/gdeltv2/{S0}.export.CSV.zip"]
    with serve(routes) as base:
        mirror.base = base
        with pytest.raises(SourceError, match="HTTP 404"):
            run(make_spec(base), {}, tmp_path)


def test_countries_option_selects_other_countries(mirror, tmp_path):
    with serve(mirror.routes()) as base:
        mirror.base = base
        batches = run(make_spec(base, countries=["iz"]), {}, tmp_path)
    assert [r["source_id"] for r in reports(batches)] == ["578201102"]


def test_a_local_lastupdate_file_resolves_relative_export_names(tmp_path):
    folder = tmp_path / "gdelt"
    folder.mkdir()
    data = export_zip(f"{S0}.export.CSV", row(GLOBALEVENTID="5"))
    (folder / f"{S0}.export.CSV.zip").write_bytes(data)
    (folder / "lastupdate.txt").write_text(list_line(f"{S0}.export.CSV.zip", data) + "\n")
    spec = FeedSpec.model_validate({"name": "gdelt-local", "adapter": "gdelt",
                                    "source": "gdelt/lastupdate.txt"})
    assert [r["source_id"] for r in reports(run(spec, {}, tmp_path))] == ["5"]


def test_unknown_option_is_an_error(tmp_path):
    spec = make_spec("http://127.0.0.1:9", country=["SY"])
    with pytest.raises(ValidationError, match="country"):
        GdeltAdapter(spec, tmp_path)


def fields(**values: str) -> dict[str, str]:
    return dict(zip(COLUMNS, row(**values).split("\t")))


@pytest.mark.parametrize("code,event_type,platform", [
    ("190", "attack", None), ("191", "access_denial", None), ("192", "ground_assault", None),
    ("193", "armed_clash", None), ("194", "shelling", "artillery"), ("195", "air_strike", None),
    ("1951", "air_strike", None), ("1952", "air_strike", "drone"), ("196", "attack", None),
    ("1999", "attack", None),
], ids=lambda v: str(v))
def test_cameo_code_decides_event_type_and_platform(code, event_type, platform):
    report = to_report(fields(EventCode=code), "gdelt")
    assert report["event_type"] == event_type
    assert report.get("platform") == platform
    IncidentReport.model_validate(report)


@pytest.mark.parametrize("geo_type,precision", [("1", 6), ("2", 4), ("5", 4), ("3", 2),
                                                ("4", 2), ("0", 6)],
                         ids=["country", "us-state", "world-state", "us-city", "world-city",
                              "unknown"])
def test_action_geo_type_decides_precision(geo_type, precision):
    assert to_report(fields(ActionGeo_Type=geo_type), "gdelt")["location"]["precision"] == precision


def test_a_row_without_coordinates_is_kept_without_location():
    report = to_report(fields(ActionGeo_Lat="", ActionGeo_Long="", Actor2Name=""), "gdelt")
    assert "location" not in report and report["target"] == []
    assert report["notes"] == ("CAMEO 193 Fight with small arms and light weapons: SYRIA → ? "
                               "at Aleppo, Halab, Syria")
    IncidentReport.model_validate(report)


def test_a_bad_sqldate_is_a_value_error():
    with pytest.raises(ValueError, match="SQLDATE"):
        to_report(fields(SQLDATE="2016091"), "gdelt")
