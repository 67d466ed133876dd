"""Briefs (`monitor report`): counts checked against the ledger, the previous-period
comparison, the daily cut-off, one file per day, a self-contained HTML file a real browser
renders."""

from __future__ import annotations

import csv
import json
import datetime as dt
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from monitor import report
from monitor.adapters.ucdp import to_report as ucdp_report
from monitor.cli import main
from monitor.config import PROJECT_ROOT
from monitor.ledger import Ledger
from monitor.models import charged_set
from monitor.service import Monitor
from tests.conftest import FixedClock

UCDP = PROJECT_ROOT / "feeds" / "data" / "ged_syria_2016.csv"
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts"
DAMASCUS = ZoneInfo("Asia/Damascus")
SINCE, UNTIL = dt.date(2016, 9, 12), dt.date(2016, 9, 19)
NOT_COUNTED = ("superseded", "retracted", "disputed", "discounted")
CHROMIUM = Path("/usr/bin/chromium")


def cut(day: dt.date) -> dt.datetime:
    """19:30 in Damascus on ``day``: the default cut-off, computed here independently."""
    return dt.datetime(day.year, day.month, day.day, 19, 30, tzinfo=DAMASCUS)


def counted(ledger: Ledger, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """The findings a brief must count, filtered in Python from every finding (context
    findings, CTX-CIV, are never counted)."""
    return [f for f in ledger.findings() if f["status"] not in NOT_COUNTED
            and f["instrument_status"] != "context"
            and start <= dt.datetime.fromisoformat(f["occurred"]) < end]


def per_party(findings: list[dict]) -> Counter:
    """Findings per charged set (TERMS.md §4 "Counting"): each finding in one row."""
    return Counter(charged_set(f["charged_to"], f["attribution"]) for f in findings)


def signed(now: int, before: int) -> str:
    d = now - before
    return f"+{d}" if d > 0 else f"\u2212{-d}" if d < 0 else "\u00b10"


def html_cells(text: str) -> dict[tuple[str, str], tuple[int, int]]:
    """(party, column key) -> (count, previous) from the scorecard's data attributes."""
    out = {}
    for party, row in re.findall(r'<tr data-party="([^"]+)">(.*?)</tr>', text, re.S):
        for key, count, prev in re.findall(
                r'data-key="([^"]+)" data-count="(\d+)" data-previous="(\d+)"', row):
            out[(party, key)] = (int(count), int(prev))
    return out


def md_section(text: str, title: str) -> list[list[str]]:
    """The rows of the first table under a '## title' heading, as lists of cells."""
    block = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in block.splitlines() if line.startswith("|")]
    return [r for r in rows if not set("".join(r)) <= set("-:")]


# --- the real week: UCDP 5–20 September 2016 ---------------------------------------------


@pytest.fixture(scope="module")
def week(pack, tmp_path_factory) -> Path:
    """A ledger of the real UCDP rows of 5–20 Sep 2016 (the brief's week and the one before),
    with one finding of the week disputed by an analyst."""
    path = tmp_path_factory.mktemp("week") / "ledger.db"
    with UCDP.open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if "2016-09-05" <= r["date_start"][:10]
                <= "2016-09-20"]
    ledger = Ledger.open(path, clock=FixedClock())
    monitor = Monitor(ledger=ledger, pack=pack, clock=FixedClock())
    monitor.submit([(f"row {r['id']}", ucdp_report(r, "ucdp", "B")) for r in rows])
    target = counted(ledger, cut(SINCE), cut(UNTIL))[0]
    monitor.verdict(target["finding_id"], "dispute", "R. Analyst", "the strike was a week earlier")
    ledger.close()
    return path


@pytest.fixture(scope="module")
def week_ledger(week: Path) -> Ledger:
    led = Ledger.open(week, readonly=True)
    yield led
    led.close()


@pytest.fixture(scope="module")
def week_html(week_ledger, pack) -> str:
    return report.brief(week_ledger, pack, SINCE, UNTIL, "html")


def test_the_html_scorecard_counts_what_the_ledger_holds(week_ledger, week_html):
    now = counted(week_ledger, cut(SINCE), cut(UNTIL))
    before = counted(week_ledger, cut(SINCE - dt.timedelta(days=7)), cut(SINCE))
    assert len(now) > 50 and len(before) > 50  # the test means something
    cells = html_cells(week_html)
    expected_parties = set(per_party(now)) | set(per_party(before))
    assert {p for p, _ in cells} == expected_parties
    for party in expected_parties:
        assert cells[(party, "total")] == (per_party(now)[party], per_party(before)[party])
        for term in {f["term"] for f in now}:
            mine = [f for f in now if f["term"] == term]
            assert cells[(party, f"term:{term}")][0] == per_party(mine)[party]
        for sev in ("critical", "major", "minor"):
            mine = [f for f in now if f["severity"] == sev]
            assert cells[(party, f"sev:{sev}")][0] == per_party(mine)[party]
    gov_now, gov_before = (per_party(fs)["syrian_government"] for fs in (now, before))
    trend = "up" if gov_now > gov_before else "down" if gov_now < gov_before else ""
    assert (f'data-key="total" data-count="{gov_now}" data-previous="{gov_before}">{gov_now}'
            f'<span class="chg {trend}">{signed(gov_now, gov_before)}</span>') in week_html
    assert f'id="total-findings">{len(now)}<' in week_html


def test_the_html_has_the_term_table_chart_and_map(week_ledger, week_html, pack):
    now = counted(week_ledger, cut(SINCE), cut(UNTIL))
    terms = Counter(f["term"] for f in now)
    for term, n in terms.items():
        row = re.search(rf'<tr data-term="{term}">(.*?)</tr>', week_html, re.S).group(1)
        instrument = next(f for f in now if f["term"] == term)
        assert f"<td>{instrument['instrument']}</td><td>{instrument['instrument_status']}</td>" \
            f'<td class="num total" data-count="{n}">' in row
    assert '<tr data-term="JIG-SAAF">' in week_html and "proposed" in week_html
    # the chart: one bar group per day, each as high as that day's party-findings
    chart = re.search(r'<svg class="chart".*?</svg>', week_html, re.S).group(0)
    groups = re.findall(r'<g class="day" data-day="([\d-]+)" data-total="(\d+)">', chart)
    assert [d for d, _ in groups] == [str(SINCE + dt.timedelta(days=i)) for i in range(1, 8)]
    for day, total in groups:
        d = dt.date.fromisoformat(day)
        assert int(total) == sum(per_party(counted(week_ledger, cut(d - dt.timedelta(days=1)),
                                                   cut(d))).values())
    # the map: 14 governorates, zones by kind, one dot per located incident
    svg_map = re.search(r'<svg class="map".*?</svg>', week_html, re.S).group(0)
    assert len(re.findall(r'<path class="governorate" [^>]*d="M', svg_map)) == 14
    assert {"mixed", "government", "isil", "castello_dmz"} <= set(
        re.findall(r'<path class="zone[^"]*" data-kind="([^"]+)"', svg_map))
    located = {f["incident_id"] for f in now
               if week_ledger.incident(f["incident_id"])["lat"] is not None}
    assert len(re.findall(r'<circle class="finding (?:critical|major|minor)"', svg_map)) == len(
        located) > 20
    assert "approximate" in week_html and "CC BY 4.0" in week_html and "CC BY-IGO" in week_html


def test_the_html_is_self_contained(week_html):
    assert "http://" not in week_html and "https://" not in week_html
    for needle in ("<script", "<link", "<img", "src=", "@import", "url(", "<iframe"):
        assert needle not in week_html.lower()
    assert len(week_html.encode()) < 2_000_000


def test_the_disputed_finding_is_listed_apart_and_not_counted(week_ledger, week_html):
    disputed = [f for f in week_ledger.findings() if f["status"] == "disputed"]
    assert len(disputed) == 1
    section = week_html.split('id="set-aside"')[1]
    assert disputed[0]["finding_id"] in section and "the strike was a week earlier" in section


def test_the_markdown_brief_has_the_same_counts(week_ledger, pack):
    text = report.brief(week_ledger, pack, SINCE, UNTIL, "md")
    now = counted(week_ledger, cut(SINCE), cut(UNTIL))
    before = counted(week_ledger, cut(SINCE - dt.timedelta(days=7)), cut(SINCE))
    rows = md_section(text, "Scorecard by party")
    header, body = rows[0], {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert header[-2:] == ["all", "previous"]
    for party in set(per_party(now)) | set(per_party(before)):
        n, b = per_party(now)[party], per_party(before)[party]
        row = body[pack.set_label(party)]  # the pack's readable name of the charged set
        assert row["all"] == f"{n} ({signed(n, b)})" and row["previous"] == str(b)
    terms = {r[0]: r for r in md_section(text, "Findings by term")[1:]}
    for term, n in Counter(f["term"] for f in now).items():
        assert terms[term][3] == str(n)
    days = md_section(text, "Findings per day and party")[1:]
    assert len(days) == 7 and sum(int(r[-1]) for r in days) == sum(per_party(now).values())
    assert "## Map" in text and "HTML brief only" in text and "<svg" not in text
    assert "http://" not in text and "https://" not in text


# --- hand-built: the previous period and the cut-off ---------------------------------------


def strike(source_id: str, when: str, attacker: str = "Military Forces of Syria (2000-)"
           ) -> tuple[str, dict]:
    """A barrel-bomb strike on the Kafr Nabl market at a local time (Damascus, +03:00)."""
    return source_id, {
        "feed": "manual", "source_id": source_id, "occurred": f"{when}:00+03:00",
        "event_type": "air_strike", "attacker": attacker, "target": "Civilians",
        "location": {"lat": 35.614, "lon": 36.562, "precision": 1, "place": "Kafr Nabl"},
        "notes": "aircraft dropped barrel bombs on the market",
        "sources": ["https://example.org/kafr-nabl"]}


RUSSIA = "Russian air force"


@pytest.fixture
def august(monitor):
    """Previous period (8 Aug 19:30 – 10 Aug 19:30): 2 government, 2 Russian strikes; the
    period (10 Aug 19:30 – 12 Aug 19:30): 3 government, 1 Russian; two strikes outside both."""
    monitor.submit([
        strike("out-early", "2016-08-08T19:00"),
        strike("p-gov-1", "2016-08-09T10:00"), strike("p-gov-2", "2016-08-10T19:00"),
        strike("p-ru-1", "2016-08-09T12:00", RUSSIA), strike("p-ru-2", "2016-08-10T11:00", RUSSIA),
        strike("gov-1", "2016-08-10T20:00"), strike("gov-2", "2016-08-11T09:00"),
        strike("gov-3", "2016-08-12T19:29"), strike("ru-1", "2016-08-11T15:00", RUSSIA),
        strike("out-late", "2016-08-12T19:31"),
    ])
    return monitor


def test_the_previous_period_comparison_on_a_hand_built_case(august, ledger, pack):
    found = {(f["source_id"], f["term"]) for f in ledger.findings()}
    assert ("gov-1", "MAY-CIV") in found and ("gov-1", "JIG-SAAF") in found
    assert ("ru-1", "MAY-CIV") in found and ("ru-1", "JIG-SAAF") not in found
    html = report.brief(ledger, pack, dt.date(2016, 8, 10), dt.date(2016, 8, 12), "html")
    cells = html_cells(html)
    assert cells[("syrian_government", "total")] == (6, 4)  # MAY-CIV and JIG-SAAF per strike
    assert cells[("syrian_government", "term:MAY-CIV")] == (3, 2)
    assert cells[("russia", "total")] == (1, 2)
    assert '<span class="chg up">+2</span>' in html
    assert '<span class="chg down">\u22121</span>' in html
    assert re.search(r'<tr data-term="MAY-CIV">.*?data-count="4">4<.*?<td class="num">4</td>'
                     r'<td class="num">\u00b10</td>', html, re.S)
    md = report.brief(ledger, pack, dt.date(2016, 8, 10), dt.date(2016, 8, 12), "md")
    rows = {r[0]: r for r in md_section(md, "Scorecard by party")}
    assert rows["Syrian government"][-2:] == ["6 (+2)", "4"]
    assert rows["Russia"][-2:] == ["1 (\u22121)", "2"]
    # a source given as a URL is kept, without its scheme
    assert "example.org/kafr-nabl" in html and "https://" not in html


def test_the_cut_off_decides_the_day(august, ledger, pack, tmp_path):
    ids = {f["source_id"]: f["finding_id"] for f in ledger.findings() if f["term"] == "MAY-CIV"}
    day1 = report.write_daily(ledger, pack, tmp_path, dt.date(2016, 8, 10), "md").read_text()
    day2 = report.write_daily(ledger, pack, tmp_path, dt.date(2016, 8, 11), "md").read_text()
    assert ids["p-gov-2"] in day1 and ids["p-gov-2"] not in day2  # 19:00 on 10 Aug: day 10
    assert ids["gov-1"] in day2 and ids["gov-1"] not in day1  # 20:00 on 10 Aug: day 11
    assert "19:30" in day1 and "Tue 09 Aug 2016 19:30 to Wed 10 Aug 2016 19:30" in day1
    # another cut-off moves the line
    early = report.brief(ledger, pack, dt.date(2016, 8, 9), dt.date(2016, 8, 10), "md",
                         cutoff=dt.time(18, 0))
    assert ids["p-gov-2"] not in early
    p = report.period(dt.date(2016, 8, 10), dt.date(2016, 8, 11), DAMASCUS)
    assert p.day_of(dt.datetime(2016, 8, 10, 19, 29, tzinfo=DAMASCUS)) == dt.date(2016, 8, 10)
    assert p.day_of(dt.datetime(2016, 8, 10, 19, 30, tzinfo=DAMASCUS)) == dt.date(2016, 8, 11)


def test_an_empty_period_still_makes_a_brief(ledger, pack):
    text = report.brief(ledger, pack, dt.date(2016, 3, 1), dt.date(2016, 3, 2), "html")
    assert "No findings in this period" in text and 'class="map"' in text
    assert "daily brief, 2 Mar 2016" in text


# --- the command ----------------------------------------------------------------------------


def run(db: Path, *args: str, ok: bool = True):
    result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["--db", str(db), "report", *args],
                                                      catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_daily_writes_one_brief_per_day(week, week_ledger, tmp_path):
    out = tmp_path / "briefs"
    result = run(week, "--since", "2016-09-12", "--until", "2016-09-19", "--daily",
                 "--output-dir", str(out), "--format", "md")
    assert "7 brief(s)" in result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"brief-2016-09-{d}.md" for d in range(13, 20)]
    totals = [int(re.search(r"^\*\*(\d+)\*\* finding", p.read_text(), re.M).group(1))
              for p in sorted(out.iterdir())]
    assert sum(totals) == len(counted(week_ledger, cut(SINCE), cut(UNTIL)))
    run(week, "--since", "2016-09-18", "--until", "2016-09-19", "--daily", "--output-dir",
        str(out))
    assert (out / "brief-2016-09-19.html").read_text().startswith("<!DOCTYPE html>")


def test_the_command_writes_a_file_and_refuses_bad_input(week, tmp_path):
    target = tmp_path / "out" / "brief.html"
    result = run(week, "--since", "2016-09-12", "--until", "2016-09-19", "--output", str(target))
    # the chart, the map and its inset
    assert "brief written to" in result.output and target.read_text().count("<svg") == 3
    md = run(week, "--since", "2016-09-12", "--until", "2016-09-19", "--format", "md").output
    assert md.startswith("# Ceasefire compliance brief, 12\u201319 Sep 2016")
    bad = run(week, "--since", "2016-09-19", "--until", "2016-09-12", ok=False)
    assert bad.exit_code == 2 and "--until" in bad.output
    bad = run(week, "--since", "2016-09-12", "--until", "2016-09-19", "--cutoff", "7pm", ok=False)
    assert bad.exit_code == 2 and "HH:MM" in bad.output
    bad = run(week, "--since", "2016-09-12", "--until", "2016-09-19", "--daily", ok=False)
    assert bad.exit_code == 2 and "--output-dir" in bad.output


# --- a real browser -------------------------------------------------------------------------


def chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    """Headless Chromium with nothing that reaches the network."""
    return subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed: the "
                                                   "real-browser check needs it")
def test_a_real_browser_renders_the_brief(week_ledger, week_html, tmp_path):
    page = tmp_path / "brief.html"
    page.write_text(week_html, encoding="utf-8")
    shot = tmp_path / "brief.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,2400", page.as_uri(),
             profile=tmp_path / "profile-1")
    assert shot.exists() and shot.stat().st_size > 20_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # var/ is gitignored
    shutil.copy(shot, ARTIFACTS / "brief.png")
    shutil.copy(page, ARTIFACTS / "brief.html")
    dom = chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile-2").stdout
    gov = per_party(counted(week_ledger, cut(SINCE), cut(UNTIL)))["syrian_government"]
    assert "Scorecard by party" in dom and 'data-party="syrian_government"' in dom
    assert re.search(rf'data-key="total" data-count="{gov}"[^>]*>{gov}<', dom)
    assert dom.count('<g class="day"') == 7 and '<circle class="finding' in dom


def test_a_brief_counts_each_finding_once_under_its_charged_set() -> None:
    """TERMS.md §4 "Counting": a Syrian-or-Russian finding is in the row "russia or
    syrian_government", a clash in "undetermined"; context findings are not counted; the
    incidents cell counts distinct incidents per charged set."""
    def f(i: str, incident: str, charged: list[str], attribution: str, term: str = "COH-GOV",
          status: str = "alleged", context: bool = False) -> dict:
        return {"finding_id": i, "incident_id": incident, "term": term, "severity": "major",
                "charged_to": charged, "attribution": attribution, "status": status,
                "instrument_status": "context" if context else "agreed"}

    rows = report._counted([
        f("a", "i1", ["syrian_government", "russia"], "ambiguous"),
        f("b", "i1", ["syrian_government", "russia"], "ambiguous", term="MAY-CIV"),
        f("c", "i2", ["syrian_government"], "single"),
        f("d", "i3", [], "undetermined", term="COH-CLASH"),
        f("e", "i4", ["isil"], "single", term="CTX-CIV", context=True),
        f("g", "i5", ["syrian_government"], "single", status="discounted"),
    ])
    card = report.scorecard(rows, [])
    cells = {r["party"]: {c["key"]: c["count"] for c in r["cells"]} for r in card["rows"]}
    assert set(cells) == {"russia or syrian_government", "syrian_government", "undetermined"}
    assert cells["russia or syrian_government"]["total"] == 2
    assert cells["russia or syrian_government"]["incidents"] == 1
    assert cells["syrian_government"]["total"] == 1 and cells["undetermined"]["total"] == 1
    assert sum(c["total"] for c in cells.values()) == len(rows) == 4


def test_aggregates_are_never_among_the_most_serious() -> None:
    tally = {"finding_id": "a", "incident_id": "i1", "term": "MAY-CIV", "severity": "critical",
             "confidence": "low", "occurred": "2016-09-01T00:00:00+00:00",
             "explanation": [{"finding": {"aggregate": True, "parties": []}}]}
    assert report.serious_incidents([tally], {}, None, None, DAMASCUS) == []  # type: ignore[arg-type]


def test_the_brief_and_the_browser_map_colour_zones_alike(week_html, pack):
    """One colour per zone kind, the pack's: a zone kind has the same colour in the brief's map
    and in the GeoJSON the browser map draws (as `monitor serve` builds it)."""
    from monitor.datasette.geo import GeoLayers
    from monitor.briefmap import governorates_file

    svg_map = re.search(r'<svg class="map".*?</svg>', week_html, re.S).group(0)
    in_brief = dict(re.findall(r'<path class="zone[^"]*" data-kind="([^"]+)" fill="([^"]+)"',
                               svg_map))
    layers = GeoLayers.build(governorates_file(pack), pack.zones,
                             colours=pack.spec.display.zone_colours)
    on_map = {f["properties"]["kind"]: f["properties"]["colour"]
              for f in json.loads(layers.zones)["features"]}
    assert len(in_brief) >= 4
    assert in_brief == {kind: on_map[kind] for kind in in_brief}
    declared = pack.spec.display.zone_colours
    assert in_brief == {kind: declared[kind] for kind in in_brief}


def test_the_brief_speaks_to_people(week_ledger, week_html, pack):
    """A summary first; parties by their names; why a term holds in sentences; local times;
    the approximation said once."""
    summary = re.search(r'<p class="summary" id="summary">(.*?)</p>', week_html, re.S).group(1)
    now = counted(week_ledger, cut(SINCE), cut(UNTIL))
    assert f"{len(now)} findings on" in summary and "Most serious:" in summary
    assert "Calm count (SEP-CALM)" in summary
    assert "Syrian government" in week_html and ">syrian_government<" not in week_html
    whys = re.findall(r'<p class="why">(.*?)</p>', week_html, re.S)
    assert whys and all(w[0].isupper() and w.endswith(".") for w in whys)
    assert not any("= True" in w or "not_in [" in w or "_side" in w for w in whys)
    assert any("was in force when it happened" in w for w in whys)
    assert "is_attack = True" not in week_html
    assert week_html.lower().count("approximate delineation") == 0
    assert week_html.count("The zone delineation is approximate") == 1
    generated = re.search(r"Generated ([^<]*) from the compliance ledger", week_html).group(1)
    assert "Asia/Damascus" in generated and "UTC" not in generated


def test_the_map_has_an_inset_of_the_densest_governorate(week_html):
    inset = re.search(r'<svg class="map inset" viewBox="([-\d. ]+)".*?</svg>', week_html, re.S)
    assert inset and '<use href="#map-base"/>' in inset.group(0)
    caption = re.search(r"Inset: (\S+) governorate, where (\d+) of the incidents are", week_html)
    assert caption and int(caption.group(2)) >= 3
    main = re.search(r'<svg class="map".*?</svg>', week_html, re.S).group(0)
    assert main.count('<circle class="finding') == inset.group(0).count('<circle class="finding')


def test_the_brief_names_the_head_it_was_made_from(week_ledger, week_html):
    head = re.search(r'<code class="head">(\d+:[0-9a-f]{64})</code>', week_html).group(1)
    assert head == week_ledger.head() and week_ledger.check_head(head) is None


def test_the_brief_reads_less_and_gives_the_same(week_ledger) -> None:
    """A brief reads findings without their explanations but with whether each is an
    aggregate, and of its incidents where each is: the same as reading each whole."""
    from monitor.models import Finding

    whole = week_ledger.findings()
    lean = week_ledger.findings(explained=False, with_aggregate=True)
    assert len(lean) == len(whole) > 3
    for a, b in zip(whole, lean):
        assert b["aggregate"] == int(bool(Finding.recorded_facts(a["explanation"]).get(
            "aggregate"))) and "explanation" not in b
        assert {k: v for k, v in b.items() if k != "aggregate"} == {
            k: v for k, v in a.items() if k != "explanation"}
    ids = [f["incident_id"] for f in whole] + ["i-not-recorded"]
    columns = ("lat", "lon", "place", "admin1", "location_precision")
    assert week_ledger.incident_places(ids) == {
        i: {k: week_ledger.incident(i)[k] for k in columns} for i in ids
        if week_ledger.incident(i) is not None}


def test_a_week_bar_starts_on_the_periods_first_day() -> None:
    p = report.period(dt.date(2016, 1, 1), dt.date(2016, 12, 31), DAMASCUS)
    first = p.days()[0]
    for day in p.days():
        start = report.bin_of(day, p, "week")
        assert start == first + dt.timedelta(days=(day - first).days // 7 * 7)
        assert report.bin_label(start, p, "week").endswith(
            f"{min(start + dt.timedelta(days=6), p.days()[-1]):%d %b %Y}")
