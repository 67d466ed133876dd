"""The UCDP GED adapter on real data: GED rows mapped to reports (attribution included), a CSV
feed resumed mid-file, and GED API pages followed over a real local HTTP server."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from monitor.adapters.ucdp import CIVILIANS, UcdpAdapter, to_report
from monitor.config import PROJECT_ROOT, Pack
from monitor.feeds import Batch, FeedSpec, HttpFetcher, SourceError
from monitor.models import IncidentReport
from monitor.resolve import resolve
from monitor.service import Rejection

from tests.servers import serve

GED = PROJECT_ROOT.parent / "shared" / "data" / "ucdp" / "ged_syria_2016.csv"
INSURGENTS = ["coh_opposition", "other_opposition", "nusra"]  # TERMS.md §2: a candidate set
GED_SHA256 = "06436ea95c61606f8365c9ff68dee0e5cb9ae270e0ae7ace786f51e75dbd3d5e"  # data README
PAGES = Path(__file__).parent / "fixtures" / "ucdp"
API_PATH = "/api/gedevents/19.1"
FIRST = API_PATH + "?pagesize=3&Country=652"
PAGE_IDS = [["224694", "216253", "232548"], ["215936", "226322", "216616"],
            ["216204", "235169", "236249"]]


@pytest.fixture(scope="module")
def ged() -> dict[str, dict[str, str]]:
    """Every 2016 GED row by id, in file order."""
    with GED.open(encoding="utf-8", newline="") as fh:
        return {row["id"]: row for row in csv.DictReader(fh)}


def feed(source: str, **options: Any) -> FeedSpec:
    return FeedSpec.model_validate({"name": "ucdp-test", "adapter": "ucdp", "source": source,
                                    "reliability": "B", "retries": 0, "timeout_seconds": 5,
                                    "options": options, "allow_private_network": True})


def run(spec: FeedSpec, base: Path, cursor: dict[str, Any] | None = None) -> list[Batch]:
    return list(UcdpAdapter(spec, base).batches(cursor or {}, HttpFetcher(spec, base)))


def ids(batches: list[Batch]) -> list[str]:
    return [item[1]["source_id"] for b in batches for item in b.items]


# --- to_report on real rows ------------------------------------------------------------------

GOS = "Government of Syria"

DIRECTED = [
    # (GED id, direction, attackers, targets) as the core resolves them (TERMS.md §4)
    ("215936", "directed", ["isil"], ["civilians"]),
    ("226322", "directed", ["syrian_government"], INSURGENTS),
    ("234086", "directed", ["syrian_government"], INSURGENTS),
    ("216253", "directed", ["russia"], ["isil"]),
    ("232548", "directed", ["syrian_government", "russia"], INSURGENTS),
    ("235169", "directed", ["syrian_government", "russia"], ["isil"]),
    ("224694", "clash", ["syrian_government"], INSURGENTS),
    ("227244", "directed", INSURGENTS, ["syrian_government"]),
    ("224502", "directed", ["syrian_government", "russia"], INSURGENTS),
    ("317176", "directed", ["syrian_government", "russia"], ["nusra"]),
]


@pytest.mark.parametrize(("gid", "direction", "attackers", "targets"), DIRECTED, ids=[
    "type 3: IS against civilians",
    "'The regime forces shell the Eastern Ghouta': Syria",
    "'bombing by regime's helicopters': Syria",
    "'Russian airstrikes target Hama countryside': Russia",
    "'Russian and Syrian airstrikes': Syria or Russia",
    "'Warplanes kill 21' (no nationality): the air operators among the parties",
    "'Continued clashes around Talbisa': a clash",
    "'Shells target regime forces' controlled areas' and no one named firing: the other party fired",
    "'aerial bombardment targeted rebels controlled areas': a place, not the rebels acting",
    "'Warplanes target Jund al-Aqsa and Jabhat al-Nusra meeting': Nusra was hit",
])
def test_direction_of_real_rows(ged: dict[str, dict[str, str]], pack: Pack, gid: str,
                                direction: str, attackers: list[str],
                                targets: list[str]) -> None:
    """The adapter gives the parties; the core reads who attacked from the words."""
    report = IncidentReport.model_validate(to_report(ged[gid], "ucdp", "B"))
    assert report.direction == ("directed" if ged[gid]["type_of_violence"] == "3" else "words")
    assert report.civilian_targeting is (ged[gid]["type_of_violence"] == "3")
    res = resolve(report, pack)
    assert (res.direction, res.attacker_sides, res.target_sides) == (
        direction, attackers, targets), res.notes


@pytest.mark.parametrize(("gid", "reading", "targets"), [
    ("226322", "other_party", INSURGENTS),  # 'The regime forces shell the Eastern Ghouta'
    ("226322", "words", ["unknown"]),
    ("317176", "words", ["nusra"]),  # 'Warplanes target Jund al-Aqsa and Jabhat al-Nusra meeting'
    ("215936", "words", ["civilians"]),  # one-sided: the source says civilians were hit
])
def test_what_was_hit_is_the_packs_reading_of_the_parties(
        ged: dict[str, dict[str, str]], tmp_path: Path, gid: str, reading: str,
        targets: list[str]) -> None:
    """TERMS.md §4 "Target": pack.yaml's parties_target says whether a UCDP dyad's other party
    is what was hit when the words say who fired but not what was hit."""
    from monitor.config import load_pack
    from tests.conftest import copy_project

    config = copy_project(tmp_path)
    path = config / "syria-2016" / "pack.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("parties_target: other_party", f"parties_target: {reading}"),
                    encoding="utf-8")
    report = IncidentReport.model_validate(to_report(ged[gid], "ucdp", "B"))
    res = resolve(report, load_pack(config, "syria-2016"))
    assert res.direction == "directed" and res.target_sides == targets, res.notes


def test_a_governorate_level_row_maps_every_field(ged: dict[str, dict[str, str]]) -> None:
    headline = ("The regime forces bomb Sahl al-Ghab and clashes in the northern countryside of "
                "Homs and west of Palmyra")
    report = to_report(ged["216616"], "ucdp-syria-2016", "B", version="19.1")
    assert report == {
        "feed": "ucdp-syria-2016", "source_id": "216616", "revision": "19.1",
        "occurred": "2016-01-06", "date_precision": "day",
        "location": {"lat": 36.25, "lon": 37.616667, "precision": 4,
                     "place": "Aleppo Governorate", "admin1": "Aleppo Governorate",
                     "admin2": None},
        "attacker": [GOS], "target": ["Syrian insurgents"], "direction": "words",
        "event_type": "attack", "civilian_targeting": False,
        "casualties_min": 1, "casualties_max": 1,
        "notes": headline, "sources": [f"SOHR,2016-01-06,{headline}", "SOHR"],
        "reliability": "B",
    }
    assert IncidentReport.model_validate(report).location.precision == 4  # type: ignore[union-attr]


@pytest.mark.parametrize(("gid", "start", "end", "precision"), [
    ("232548", "2016-10-21", "2016-10-22", "days"),
    ("219264", "2016-01-01", "2016-04-01", "year"),
    ("224694", "2016-01-31", None, "day"),
], ids=["date_prec 2: two days", "date_prec 5: a quarter, up to a year", "date_prec 1: one day"])
def test_date_window_and_precision(ged: dict[str, dict[str, str]], gid: str, start: str,
                                   end: str | None, precision: str) -> None:
    report = to_report(ged[gid], "ucdp", None)
    assert (report["occurred"], report.get("occurred_end"), report["date_precision"]) == (
        start, end, precision)


def test_every_article_is_a_source_and_entities_are_decoded(
        ged: dict[str, dict[str, str]]) -> None:
    sources = to_report(ged["223503"], "ucdp", None)["sources"]
    assert len(sources) == 5 and sources[-1] == "SOHR"  # four articles, one office
    assert sources[0] == "SOHR,2016-01-22,Aerial bombardment kills 10 civilians in al-Raqqa city"
    report = to_report(ged["219481"], "ucdp", None)  # "The &#8220;Islamic State&#8221; advance"
    assert report["notes"].startswith("The \u201cIslamic State\u201d advance")
    assert "&#" not in report["notes"] + " ".join(report["sources"])


def test_inconsistent_death_estimates_widen_the_range(ged: dict[str, dict[str, str]]) -> None:
    # UCDP gives low 8, best 15, high 7 for this event
    report = to_report(ged["236249"], "ucdp", None)
    assert (report["casualties_min"], report["casualties_max"]) == (7, 15)


def test_long_text_is_cut_to_the_model_limits(ged: dict[str, dict[str, str]]) -> None:
    row = dict(ged["224694"], source_headline="x" * 30_000,
               source_article=";".join(f'"SOHR,2016-01-31,{i} {"y" * 3_000}"' for i in range(60)))
    report = IncidentReport.model_validate(to_report(row, "ucdp", None))
    assert len(report.notes) == 20_000
    assert len(report.sources) == 50 and max(map(len, report.sources)) == 2_000


@pytest.mark.parametrize(("change", "reason"), [
    ({"id": ""}, "id is missing"),
    ({"date_start": "16/01/2016"}, "date_start '16/01/2016' is not a date"),
    ({"date_start": "2016-02-30"}, "date_start '2016-02-30' is not a date"),
    ({"date_end": "2016-01-30"}, "date_end 2016-01-30 is before date_start 2016-01-31"),
    ({"latitude": "north"}, "latitude 'north' is not a number"),
    ({"where_prec": ""}, "where_prec is missing"),
    ({"type_of_violence": "4"}, "type_of_violence 4 is not 1, 2 or 3"),
], ids=["missing id", "day-first date", "30 February", "ends before it starts",
        "non-numeric latitude", "no where_prec", "type of violence 4"])
def test_unmappable_rows_raise_naming_the_field(ged: dict[str, dict[str, str]],
                                                change: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        to_report(dict(ged["224694"], **change), "ucdp", None)


def test_the_whole_2016_file_maps_and_validates() -> None:
    """All 6,170 rows through the file feed: no rejection, every report valid; one-sided
    violence is directed against civilians, the rest leave the direction to the words."""
    batches = run(feed(GED.name), GED.parent)
    assert [len(b.items) for b in batches] == [500] * 12 + [170]
    assert batches[-1].cursor == {"file_sha256": GED_SHA256, "rows_done": 6170}
    rejected = [i for b in batches for i in b.items if isinstance(i, Rejection)]
    assert rejected == []
    outcome: collections.Counter[str] = collections.Counter()
    for where, raw in (i for b in batches for i in b.items):
        report = IncidentReport.model_validate(raw)
        outcome[report.direction or "?"] += 1
        if report.direction == "directed":
            assert report.target == [CIVILIANS] and report.civilian_targeting
    assert outcome == {"directed": 185, "words": 5985}


def test_names_the_adapter_writes_are_known_to_the_registry(pack: Pack) -> None:
    for name in (GOS, CIVILIANS):
        assert pack.registry.resolve(name, dt.date(2016, 6, 1)).resolved, name


# --- a CSV file feed -------------------------------------------------------------------------


def write_csv(path: Path, rows: list[dict[str, str]]) -> bytes:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path.read_bytes()


def test_a_file_feed_resumes_mid_file_and_restarts_when_the_file_changes(
        tmp_path: Path, ged: dict[str, dict[str, str]]) -> None:
    rows = list(ged.values())[:25]
    sha = hashlib.sha256(write_csv(tmp_path / "part.csv", rows)).hexdigest()
    spec = feed("part.csv", batch_size=10, version="19.1")
    batches = run(spec, tmp_path)
    assert [b.cursor for b in batches] == [{"file_sha256": sha, "rows_done": n}
                                           for n in (10, 20, 25)]
    assert ids(batches) == [r["id"] for r in rows]
    assert all(b.source_lag_seconds is None for b in batches)
    assert batches[0].items[0][0] == "part.csv line 2"

    resumed = run(spec, tmp_path, {"file_sha256": sha, "rows_done": 12})
    assert ids(resumed) == [r["id"] for r in rows[12:]]
    assert run(spec, tmp_path, batches[-1].cursor) == []  # nothing new

    write_csv(tmp_path / "part.csv", list(ged.values())[:26])  # a new release: start over
    again = run(spec, tmp_path, {"file_sha256": sha, "rows_done": 25})
    assert len(ids(again)) == 26 and again[-1].cursor["rows_done"] == 26


def test_bad_rows_are_rejected_one_by_one(tmp_path: Path,
                                          ged: dict[str, dict[str, str]]) -> None:
    good = list(ged.values())[:5]
    rows = [good[0], dict(good[1], latitude="north"), dict(good[2], id=""),
            dict(good[3], source_headline="@@"), good[4]]
    data = write_csv(tmp_path / "bad.csv", rows).replace(b"@@", b"\xff\xfe")  # Latin-1 bytes
    (tmp_path / "bad.csv").write_bytes(data)
    items = [i for b in run(feed("bad.csv"), tmp_path) for i in b.items]
    assert items[1:4] == [
        Rejection("bad.csv line 3", "latitude 'north' is not a number"),
        Rejection("bad.csv line 4", "id is missing"),
        Rejection("bad.csv line 5", "bytes that are not UTF-8; save the file as UTF-8")]
    assert [items[0][0], items[4][0]] == ["bad.csv line 2", "bad.csv line 6"]  # type: ignore[index]
    assert items[4][1]["source_id"] == good[4]["id"]  # type: ignore[index]


@pytest.mark.parametrize(("content", "reason"), [
    (b"event_id_cnty,event_date\nSYR1,2016-08-10\n", "missing GED column"),
    (None, "cannot read"),
], ids=["an ACLED file", "no file"])
def test_an_unreadable_file_is_a_source_error(tmp_path: Path, content: bytes | None,
                                              reason: str) -> None:
    if content is not None:
        (tmp_path / "events.csv").write_bytes(content)
    with pytest.raises(SourceError, match=reason):
        run(feed("events.csv"), tmp_path)


def test_an_unknown_option_is_named_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'batchsize'.*Did you mean 'batch_size'"):
        UcdpAdapter(feed("x.csv", batchsize=10), tmp_path)


# --- the GED API over a real local HTTP server ----------------------------------------------


@contextmanager
def api_server(log: list[str]) -> Iterator[str]:
    """page1..3.json served as UCDP serves pages (a ``page`` parameter, none on page one),
    with their links pointing at this server; every request path lands in ``log``."""
    base: list[str] = []

    def page(path: str, query: dict[str, list[str]]) -> tuple[int, bytes, dict[str, str]]:
        number = int(query.get("page", ["0"])[0])
        text = (PAGES / f"page{number + 1}.json").read_text(encoding="utf-8")
        body = text.replace("{base}", base[0]).encode()
        return 200, body, {"Content-Type": "application/json"}

    with serve({"__log__": log, API_PATH: page}) as url:  # type: ignore[dict-item]
        base.append(url)
        yield url


def test_api_pages_are_followed_in_order_with_a_cursor_after_each_batch(tmp_path: Path) -> None:
    log: list[str] = []
    with api_server(log) as base:
        batches = run(feed(base + FIRST, batch_size=2), tmp_path)
    first, page = base + FIRST, base + FIRST + "&page="
    assert ids(batches) == sum(PAGE_IDS, [])
    assert [b.cursor for b in batches] == [
        {"next_url": first, "done": False, "page": 1, "skip": 2},
        {"next_url": page + "1", "done": False, "page": 2},
        {"next_url": page + "1", "done": False, "page": 2, "skip": 2},
        {"next_url": page + "2", "done": False, "page": 3},
        {"next_url": page + "2", "done": False, "page": 3, "skip": 2},
        {"next_url": first, "done": True, "last_count": 9},
    ]
    assert log == [FIRST, FIRST + "&page=1", FIRST + "&page=2"]
    where, report = batches[0].items[0]
    assert where == f"{first} page 1 item 1"
    assert report["revision"] == "19.1"  # from the URL: no `version` option
    assert report["occurred"] == "2016-01-31"  # the API's 2016-01-31T00:00:00


@pytest.mark.parametrize(("cursor", "expected", "requests"), [
    ({"next_url": "{base}" + FIRST + "&page=1", "done": False, "page": 2},
     PAGE_IDS[1] + PAGE_IDS[2], ["&page=1", "&page=2"]),
    ({"next_url": "{base}" + FIRST + "&page=1", "done": False, "page": 2, "skip": 2},
     PAGE_IDS[1][2:] + PAGE_IDS[2], ["&page=1", "&page=2"]),
    ({"next_url": "{base}" + FIRST, "done": True, "last_count": 9}, [], [""]),
    ({"next_url": "{base}" + FIRST, "done": True, "last_count": 8},
     sum(PAGE_IDS, []), ["", "&page=1", "&page=2"]),
    ({"next_url": "https://ucdpapi.pcr.uu.se/api/gedevents/24.1?page=5", "done": False,
      "page": 6}, sum(PAGE_IDS, []), ["", "&page=1", "&page=2"]),
], ids=["from page 2", "mid page 2", "done, TotalCount unchanged: one request",
        "done, TotalCount changed: everything again",
        "a cursor of another endpoint: start over at the feed's first page"])
def test_api_resumes_from_its_cursor(tmp_path: Path, cursor: dict[str, Any],
                                     expected: list[str], requests: list[str]) -> None:
    log: list[str] = []
    with api_server(log) as base:
        start = {k: v.replace("{base}", base) if isinstance(v, str) else v
                 for k, v in cursor.items()}
        batches = run(feed(base + FIRST), tmp_path, start)
    assert ids(batches) == expected
    assert log == [FIRST + r for r in requests]
    if expected:
        assert batches[-1].cursor == {"next_url": base + FIRST, "done": True, "last_count": 9}


@pytest.mark.parametrize(("body", "reason"), [
    (b"<html>Service Unavailable</html>", "not JSON"),
    (b"[1, 2, 3]", "not a GED API page"),
    (b'{"TotalCount": 1, "Result": null}', "Result is not a list"),
    (b'{"TotalCount": 1, "Result": [], "NextPageUrl": "https://example.org/api/gedevents/1"}',
     "is not the feed's endpoint"),
], ids=["an HTML error page", "a JSON list", "Result null", "a next page on another host"])
def test_a_garbage_page_is_a_source_error(tmp_path: Path, body: bytes, reason: str) -> None:
    with serve({API_PATH: (200, body, {"Content-Type": "application/json"})}) as base:
        with pytest.raises(SourceError, match=reason):
            run(feed(base + FIRST), tmp_path)
