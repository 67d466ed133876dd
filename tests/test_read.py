"""Reading the ledger without changing it: read-only SQL, exports, alerts to webhooks."""

from __future__ import annotations

import csv
import io
import json
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.webhooks import Notifier, WebhookSpec

sys.path.insert(0, str(Path(__file__).parent))
from servers import serve  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "feeds" / "samples" / "acled_syria_2016_sample.csv"


@pytest.fixture
def run(tmp_path):
    db = str(tmp_path / "ledger.db")

    def invoke(*args, ok=True):
        result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["--db", db, *args],
                                                          catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    invoke("import", str(SAMPLE), "--format", "acled")
    return invoke


@pytest.mark.parametrize(("sql", "asks"), [
    ("DELETE FROM findings", "DELETE on findings"),
    ("UPDATE findings SET severity = 'minor'", "UPDATE of findings"),
    ("INSERT INTO reviews (kind) VALUES ('x')", "INSERT into reviews"),
    ("DROP TABLE findings", "DELETE on sqlite_master"),
    ("ATTACH DATABASE '/tmp/other.db' AS other", "ATTACH of /tmp/other.db"),
    ("PRAGMA query_only = 0", "PRAGMA query_only"),
    ("PRAGMA journal_mode = DELETE", "PRAGMA journal_mode"),
    ("CREATE TABLE x (a)", "INSERT into sqlite_master"),
], ids=["delete", "update", "insert", "drop", "attach", "pragma query_only", "pragma journal",
        "create"])
def test_query_refuses_anything_but_reading(run, sql, asks):
    result = run("query", sql, ok=False)
    assert result.exit_code == 1
    assert "refused: the ledger is read-only" in result.output and asks in result.output
    assert "ledger OK" in run("ledger", "verify").output


@pytest.mark.parametrize("args", [
    ["query", "SELECT * FROM scorecard"],
    ["findings", "--term", "COH-GOV", "--since", "2016-09-12", "--format", "json"],
], ids=["query", "findings"])
def test_a_read_command_imports_neither_the_pipeline_nor_other_commands(run, tmp_path, args):
    """Start-up is most of a read command's time: the commands' modules are imported when a
    command is looked up, and a read needs nothing of the pipeline or the briefs."""
    import subprocess

    db = str(tmp_path / "ledger.db")  # the ledger the run fixture imported the sample into
    script = ("import sys\nfrom monitor.cli import main\n"
              f"main(['--db', {db!r}, *{args!r}], standalone_mode=False)\n"
              "print(sorted(n for n in sys.modules if n.startswith('monitor')), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    loaded = set(eval(out.stderr.strip().splitlines()[-1]))
    heavy = {"monitor.service", "monitor.judge", "monitor.engine", "monitor.zones",
             "monitor.report", "monitor.cli.incident", "monitor.cli.report", "monitor.cli.run",
             "monitor.cli.rules", "monitor.cli.serve"}
    assert loaded & heavy == set()


def test_query_reads_tables_and_views(run):
    rows = json.loads(run("query", "SELECT term, count(*) AS n FROM current_findings "
                                   "GROUP BY term ORDER BY term", "--format", "json").output)
    assert {r["term"] for r in rows} >= {"COH-GOV", "MAY-CIV", "JIG-SAAF"}
    per_day = run("query", "SELECT * FROM findings_per_party_day WHERE day = '2016-08-10'",
                  "--format", "csv").output
    assert "2016-08-10,syrian_government,JIG-SAAF,major,1" in per_day
    card = json.loads(run("query", "SELECT * FROM scorecard WHERE party = 'russia'",
                          "--format", "json").output)
    assert {r["term"] for r in card} >= {"COH-GOV", "JIG-AREA"}
    # a table-valued function: SQLite's first use of one on a connection is not a write
    charged = json.loads(run("query", "SELECT count(*) AS n FROM findings f WHERE EXISTS "
                                      "(SELECT 1 FROM json_each(f.charged_to) j WHERE "
                                      "j.value = 'syrian_government')", "--format",
                             "json").output)
    assert charged[0]["n"] > 0
    bad = run("query", "SELEC 1", ok=False)
    assert "SQL error" in bad.output and "syntax error" in bad.output


def test_findings_and_incidents_as_geojson(run):
    collection = json.loads(run("findings", "--format", "geojson").output)
    assert collection["type"] == "FeatureCollection" and collection["features"]
    kafr = [f for f in collection["features"] if f["properties"]["source_id"] == "SYR-S0002"]
    assert {f["properties"]["term"] for f in kafr} == {"MAY-CIV", "JIG-SAAF"}
    assert kafr[0]["geometry"] == {"type": "Point", "coordinates": [36.562, 35.614]}
    assert json.loads(kafr[0]["properties"]["charged_to"]) == ["syrian_government"]
    incidents = json.loads(run("incidents", "--format", "geojson", "--since", "2016-08-09",
                               "--until", "2016-08-10").output)
    assert [f["properties"]["place"] for f in incidents["features"]] == ["Kafr Nabl"]


def test_exported_csv_neutralises_formulas(run, tmp_path):
    path = tmp_path / "evil.jsonl"
    path.write_text(json.dumps({"source_id": "=cmd|' /C calc'!A0", "occurred": "2016-08-11",
                                "attacker": "Syrian air force", "target": "civilians",
                                "event_type": "air_strike",
                                "location": {"lat": 36.136, "lon": 36.830},
                                "notes": "+barrel bombs on the market"}) + "\n")
    run("import", str(path), "--format", "jsonl")
    out = run("findings", "--format", "csv").output
    cells = [c for row in csv.reader(io.StringIO(out)) for c in row]
    assert "'=cmd|' /C calc'!A0" in cells
    assert not any(c.startswith(("=", "+", "@")) for c in cells)


def hospital_strike(source_id: str) -> dict:
    """An air strike on a hospital: a critical MAY-CIV finding."""
    return {"feed": "acled", "source_id": source_id, "occurred": "2016-08-10",
            "attacker": "Military Forces of Syria (2000-)", "target": "Civilians (Syria)",
            "event_type": "air_strike", "location": {"lat": 35.614, "lon": 36.562},
            "notes": "air strike hit the hospital"}


def test_webhooks_receive_findings_at_or_above_their_severity(tmp_path, pack, ledger, clock):
    from monitor.service import Monitor

    posts: list[bytes] = []
    with serve({"/hook": (200, b"ok", {}), "__posts__": posts}) as base:
        monitor = Monitor(pack, ledger, clock)
        monitor.notifier = Notifier([WebhookSpec(url=base + "/hook", min_severity="critical")],
                                    monitor.record_delivery)
        monitor.submit([("a", hospital_strike("H1"))])
        monitor.notifier.close()
    events = [json.loads(p) for p in posts]
    assert [(e["event"], e["term"]) for e in events] == [("finding", "MAY-CIV")]  # critical
    deliveries = ledger.query("SELECT * FROM deliveries")
    assert [(d["event_key"], d["ok"], d["status"]) for d in deliveries] == [
        (events[0]["finding_id"], 1, 200)]


def test_a_dead_or_slow_webhook_never_slows_ingestion(tmp_path, pack, ledger, clock):
    from monitor.service import Monitor

    release = threading.Event()

    def stuck(path, query):
        release.wait(10)
        return 500, b"down", {}

    with serve({"/hook": stuck}) as base:
        monitor = Monitor(pack, ledger, clock)
        waits: list[float] = []
        monitor.notifier = Notifier([WebhookSpec(url=base + "/hook", retries=2,
                                                 timeout_seconds=30)],
                                    monitor.record_delivery, sleep=waits.append)
        result = monitor.submit([("a", {"feed": "acled", "source_id": "H2",
                                        "occurred": "2016-08-10",
                                        "attacker": "Military Forces of Syria (2000-)",
                                        "target": "Civilians (Syria)",
                                        "event_type": "air_strike",
                                        "location": {"lat": 35.614, "lon": 36.562},
                                        "notes": "barrel bombs on the market"})])
        # ingestion returned while the endpoint still holds the first delivery
        assert len(result.findings) == 2 and not release.is_set()
        assert ledger.query("SELECT count(*) AS n FROM deliveries")[0]["n"] == 0
        release.set()
        monitor.notifier.close(timeout=30)
    attempts = ledger.query("SELECT event_key, attempt, ok, status FROM deliveries "
                            "ORDER BY seq")
    assert len(attempts) == 2 * 3 and all(a["ok"] == 0 for a in attempts)
    assert waits == [1.0, 2.0] * 2  # backoff between retries, per finding
    assert ledger.verify().ok


def test_a_webhooks_secrets_never_reach_the_ledger(tmp_path, pack, ledger, clock):
    """User-info, a secret path and a token in the query: the ledger records the host only
    (or the webhook's name), in the delivery row and in its error."""
    from monitor.service import Monitor

    with serve({"/hooks/T0SECRETPATH": (500, b"down", {})}) as base:
        url = base.replace("http://", "http://alice:pa55word@") + "/hooks/T0SECRETPATH?token=tk1"
        monitor = Monitor(pack, ledger, clock)
        monitor.notifier = Notifier([WebhookSpec(url=url, min_severity="critical", retries=0),
                                     WebhookSpec(url=url, name="ops-chat", retries=0,
                                                 min_severity="critical")],
                                    monitor.record_delivery)
        monitor.submit([("a", hospital_strike("H9"))])
        monitor.notifier.close()
    rows = ledger.query("SELECT webhook, status, error FROM deliveries ORDER BY seq")
    assert sorted(r["webhook"] for r in rows) == sorted([base, "ops-chat"])
    assert all(r["status"] == 500 for r in rows)
    files = [ledger.path, ledger.path.with_name(ledger.path.name + "-wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    for secret in (b"pa55word", b"alice", b"T0SECRETPATH", b"tk1"):
        assert secret not in raw
