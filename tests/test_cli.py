"""The CLI as a user meets it: import, hand entry, findings, verification, rules, config."""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import PROJECT_ROOT
from tests.conftest import copy_project

ACLED_COLUMNS = ("event_id_cnty,event_date,year,time_precision,disorder_type,event_type,"
                 "sub_event_type,actor1,assoc_actor_1,inter1,actor2,assoc_actor_2,inter2,"
                 "interaction,civilian_targeting,iso,region,country,admin1,admin2,admin3,"
                 "location,latitude,longitude,geo_precision,source,source_scale,notes,"
                 "fatalities,tags,timestamp").split(",")
KAFR_NABL = {
    "event_id_cnty": "SYR9001", "event_date": "2016-08-10", "year": "2016",
    "time_precision": "1", "event_type": "Explosions/Remote violence",
    "sub_event_type": "Air/drone strike", "actor1": "Military Forces of Syria (2000-)",
    "actor2": "Civilians (Syria)", "civilian_targeting": "", "country": "Syria",
    "admin1": "Idleb", "location": "Kafr Nabl", "latitude": "35.614", "longitude": "36.562",
    "geo_precision": "1", "source": "SOHR",
    "notes": "Government helicopters dropped barrel bombs on the market", "fatalities": "3",
    "timestamp": "1471000000",
}
REQUIRED_FINDING_KEYS = {"term", "instrument", "instrument_status", "charged_to", "severity",
                         "confidence", "status", "feed", "source_id", "incident_id", "rule_id",
                         "rule_version", "explanation", "occurred", "recorded_at"}


def write_acled(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ACLED_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in ACLED_COLUMNS})
    return path


@pytest.fixture
def run(tmp_path: Path):
    db = tmp_path / "var" / "ledger.db"

    def invoke(*args: str, input: str | None = None, ok: bool = True):
        result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["--db", str(db), *args], input=input,
                                    catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    invoke.db = db  # type: ignore[attr-defined]
    return invoke


def findings_json(run, *filters: str) -> list[dict]:
    return json.loads(run("findings", "--format", "json", *filters).output)


def test_the_issue_example_yields_may_civ_and_jig_saaf_and_nothing_else(run, tmp_path):
    path = write_acled(tmp_path / "kafr_nabl.csv", [KAFR_NABL])
    run("import", str(path), "--format", "acled")
    found = findings_json(run)
    assert sorted(f["term"] for f in found) == ["JIG-SAAF", "MAY-CIV"]
    for f in found:
        assert REQUIRED_FINDING_KEYS <= set(f)
        assert f["source_id"] == "SYR9001" and f["feed"] == "acled"
        assert f["charged_to"] == ["syrian_government"] and f["status"] == "alleged"
    saaf = next(f for f in found if f["term"] == "JIG-SAAF")
    assert saaf["instrument_status"] == "proposed"
    assert any("barrel bombs" in str(e.get("resolution", "")) for e in saaf["explanation"])


def test_the_same_row_dated_after_the_instruments_yields_nothing(run, tmp_path):
    path = write_acled(tmp_path / "late.csv", [{**KAFR_NABL, "event_date": "2016-10-26"}])
    result = run("import", str(path), "--format", "acled")
    assert "0 finding(s)" in result.output
    assert findings_json(run) == []


def test_reimporting_a_file_adds_nothing(run, tmp_path):
    path = write_acled(tmp_path / "a.csv", [KAFR_NABL, {**KAFR_NABL, "event_id_cnty": "SYR9002"}])
    run("import", str(path), "--format", "acled")
    again = run("import", str(path), "--format", "acled")
    assert "0 new report(s), 2 already recorded" in again.output
    assert len(findings_json(run)) == 4


def test_batch_size_sets_the_transactions_of_an_import(run, tmp_path, monkeypatch):
    """--batch-size N: N reports per ledger transaction; 0 is refused."""
    from monitor import service

    batches: list[int] = []
    submit = service.Monitor.submit

    def counted(self, items, **kw):  # the real submit, counted: one transaction each
        items = list(items)
        batches.append(len(items))
        return submit(self, items, **kw)

    monkeypatch.setattr(service.Monitor, "submit", counted)
    rows = [{**KAFR_NABL, "event_id_cnty": f"SYR9{i:03d}"} for i in range(5)]
    path = write_acled(tmp_path / "five.csv", rows)
    run("import", str(path), "--format", "acled", "--batch-size", "2")
    assert batches == [2, 2, 1]
    assert len(findings_json(run)) == 10
    refused = run("import", str(path), "--format", "acled", "--batch-size", "0", ok=False)
    assert refused.exit_code == 2 and "--batch-size" in refused.output


def test_a_malformed_row_is_reported_with_its_line_and_the_others_go_in(run, tmp_path):
    rows = [KAFR_NABL, {**KAFR_NABL, "event_id_cnty": "SYR9003", "latitude": "95"},
            {**KAFR_NABL, "event_id_cnty": "SYR9004", "event_date": "sometime"}]
    path = write_acled(tmp_path / "bad.csv", rows)
    result = run("import", str(path), "--format", "acled", ok=False)
    assert result.exit_code == 1
    assert "bad.csv line 3: location.lat" in result.output
    assert "bad.csv line 4: event_date 'sometime' is not a date" in result.output
    assert "2 record(s) rejected" in result.output
    assert {f["source_id"] for f in findings_json(run)} == {"SYR9001"}


def test_jsonl_import_reports_bad_lines(run, tmp_path):
    path = tmp_path / "drop.jsonl"
    good = {"source_id": "p1", "occurred": "2016-08-10", "attacker": "Syrian air force",
            "target": "civilians", "event_type": "air_strike",
            "location": {"lat": 35.614, "lon": 36.562}, "notes": "barrel bombs on a school"}
    path.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({"occurred": "x"}) + "\n")
    result = run("import", str(path), "--format", "jsonl", ok=False)
    assert "drop.jsonl line 2: not valid JSON" in result.output
    assert "drop.jsonl line 3: source_id: Field required" in result.output
    assert {f["term"] for f in findings_json(run)} == {"MAY-CIV", "JIG-SAAF"}


def test_incident_add_from_flags_prints_its_findings(run):
    result = run("incident", "add", "--occurred", "2016-08-10", "--lat", "35.614", "--lon",
                 "36.562", "--attacker", "Military Forces of Syria (2000-)", "--target",
                 "Civilians (Syria)", "--event-type", "air_strike", "--notes",
                 "helicopters dropped barrel bombs on the market")
    assert "JIG-SAAF" in result.output and "MAY-CIV" in result.output
    assert {f["feed"] for f in findings_json(run)} == {"manual"}


def test_incident_add_a_clash_by_hand_is_charged_to_nobody(run):
    """TERMS.md §4: an analyst's entry of fighting between the army and the FSA, with no
    attacker known, is one COH-CLASH charged to nobody; filters name its charged set."""
    result = run("incident", "add", "--occurred", "2016-07-02", "--lat", "32.7547", "--lon",
                 "36.1330", "--attacker", "Military Forces of Syria (2000-)", "--target",
                 "Free Syrian Army", "--direction", "clash", "--claimed-target", "terrorists",
                 "--notes", "fighting north of Da'el")
    assert "COH-CLASH" in result.output and "COH-GOV" not in result.output
    (clash,) = findings_json(run, "--attribution", "undetermined")
    assert clash["term"] == "COH-CLASH" and clash["charged_to"] == []
    assert clash["explanation"][0]["finding"] == {
        "parties": ["coh_opposition", "syrian_government"], "aggregate": False,
        "claimed_target": "terrorists"}
    assert findings_json(run, "--party", "undetermined") == [clash]
    assert findings_json(run, "--party", "syrian_government") == []


def test_incident_add_from_json_on_stdin(run):
    record = {"source_id": "hand-1", "occurred": "2016-09-14T10:00:00+03:00",
              "attacker": "Syrian army", "event_type": "military_presence",
              "location": {"lat": 36.259, "lon": 37.105}}
    result = run("incident", "add", "--json", "-", input=json.dumps(record))
    assert "SEP-CASTELLO" in result.output
    assert findings_json(run, "--term", "SEP-CASTELLO")[0]["severity"] == "critical"


def test_incident_add_takes_json_lines_naming_each_bad_line_and_keeping_the_rest(run):
    """JSON Lines on --json (what a drop folder holds): each line a report; a line that is not
    one is rejected by its line number, and the others go in."""
    good = {"occurred": "2016-09-14T10:00:00+03:00", "attacker": "Syrian army",
            "event_type": "military_presence", "location": {"lat": 36.259, "lon": 37.105}}
    text = "\n".join([json.dumps({**good, "source_id": "line-1"}), "",
                      '{"source_id": "line-3", "occurred": ', "[1, 2]",
                      json.dumps({**good, "source_id": "line-5"})]) + "\n"
    result = run("incident", "add", "--json", "-", input=text, ok=False)
    assert result.exit_code == 1
    assert "rejected <stdin> line 3: not valid JSON" in result.output
    assert "rejected <stdin> line 4: each line must be a JSON object" in result.output
    assert "2 record(s) rejected; the others were recorded" in result.output
    assert sorted(f["source_id"] for f in findings_json(run)) == ["line-1", "line-5"]


def test_incident_add_says_when_nothing_was_recorded(run):
    result = run("incident", "add", "--occurred", "2016-13-10", "--lat", "35.6", "--lon",
                 "36.5", "--event-type", "air_strike", ok=False)
    assert result.exit_code == 1
    assert "1 record(s) rejected; nothing was recorded" in result.output
    assert findings_json(run) == []


def test_incident_add_prompts_for_each_field(run):
    answers = "\n".join(["2016-08-10", "35.614", "36.562", "1", "Kafr Nabl",
                         "Military Forces of Syria (2000-)", "Civilians (Syria)", "air_strike",
                         "helicopter", "market", "barrel bombs"]) + "\n"
    result = run("incident", "add", "--prompt", input=answers)
    assert "MAY-CIV" in result.output and "JIG-SAAF" in result.output


def test_incident_add_rejects_bad_values_naming_the_field(run):
    result = run("incident", "add", "--occurred", "2016-08-10T14:00", "--lat", "95",
                 "--lon", "36", ok=False)
    assert result.exit_code == 1
    assert "occurred" in result.output and "no UTC offset" in result.output
    assert "location.lat" in result.output


def test_an_unknown_actor_is_kept_for_review(run):
    result = run("incident", "add", "--occurred", "2016-08-10", "--lat", "35.614", "--lon",
                 "36.562", "--attacker", "Brigade of Nobody", "--target", "Civilians (Syria)",
                 "--event-type", "shelling", "--target-category", "market")
    assert "unknown actor name 'Brigade of Nobody'" in result.output
    assert [f["charged_to"] for f in findings_json(run)] == [["unattributed"]]


def test_findings_filters(run, tmp_path):
    rows = [KAFR_NABL,
            {**KAFR_NABL, "event_id_cnty": "SYR9005", "event_date": "2016-09-14",
             "actor1": "Military Forces of Russia (2000-)", "actor2": "Free Syrian Army",
             "location": "Azaz", "latitude": "36.586", "longitude": "37.044",
             "notes": "Russian warplanes struck rebel positions"}]
    run("import", str(write_acled(tmp_path / "f.csv", rows)), "--format", "acled")
    assert {f["term"] for f in findings_json(run, "--party", "russia")} == {"COH-GOV", "JIG-AREA"}
    assert {f["source_id"] for f in findings_json(run, "--since", "2016-09-01")} == {"SYR9005"}
    # a period runs from cut-off to cut-off (19:30 local), as the briefs count: an incident
    # dated 10 Aug starts before 10 Aug's cut-off, in the day the 10 Aug cut-off ends
    assert {f["source_id"] for f in findings_json(run, "--until", "2016-08-10",
                                                  "--since", "2016-08-09")} == {"SYR9001"}
    assert {f["source_id"] for f in findings_json(run, "--until", "2016-08-11",
                                                  "--since", "2016-08-10")} == set()
    assert {f["term"] for f in findings_json(run, "--instrument", "JIG")} == {"JIG-SAAF",
                                                                             "JIG-AREA"}
    assert findings_json(run, "--status", "confirmed") == []
    csv_out = run("findings", "--format", "csv", "--term", "JIG-AREA").output
    assert csv_out.splitlines()[0].startswith("finding_id,")
    table = run("findings").output  # not a terminal: a header line, then a line a finding
    assert len(table.splitlines()) == 1 + 4 and "2016-08-10" in table


def edit_with_sqlite3_shell(db: Path, sql: str) -> None:
    """Change the ledger as a user with the sqlite3 shell would (triggers dropped first)."""
    drop = "DROP TRIGGER IF EXISTS findings_no_update; "
    names = sqlite3.connect(db).execute(
        "SELECT name FROM sqlite_master WHERE type='trigger'").fetchall()
    drop = "".join(f"DROP TRIGGER {n};" for (n,) in names)
    if shutil.which("sqlite3"):
        subprocess.run(["sqlite3", str(db), drop + sql], check=True)
    else:  # the same statements through Python's sqlite3 module
        conn = sqlite3.connect(db)
        conn.executescript(drop + sql)
        conn.close()


def test_editing_a_row_with_the_sqlite3_shell_fails_verification_naming_it(run, tmp_path):
    run("import", str(write_acled(tmp_path / "k.csv", [KAFR_NABL])), "--format", "acled")
    assert "hash chain intact" in run("ledger", "verify").output
    seq = findings_json(run, "--term", "MAY-CIV")[0]["seq"]
    edit_with_sqlite3_shell(run.db, f"UPDATE findings SET severity='minor' WHERE seq={seq};")
    result = run("ledger", "verify", ok=False)
    assert result.exit_code == 1
    assert "FAILED" in result.output and "findings" in result.output and str(seq) in result.output


def test_the_database_refuses_updates_and_deletes(run, tmp_path):
    run("import", str(write_acled(tmp_path / "k.csv", [KAFR_NABL])), "--format", "acled")
    conn = sqlite3.connect(run.db)
    for sql in ("UPDATE findings SET severity='minor'", "DELETE FROM reports"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)


def test_rules_list_and_test(run):
    listed = run("rules", "list").output
    for term in ("COH-GOV", "JIG-SAAF", "SEP-CASTELLO"):
        assert term in listed
    tested = run("rules", "test").output
    assert " 0 failed" in tested


def test_config_check_reports_every_problem_at_once(run, tmp_path):
    config = copy_project(tmp_path, feeds=True)
    assert "configuration OK" in run("--config", str(config), "config", "check").output
    actors = config / "syria-2016" / "actors.yaml"
    actors.write_text(actors.read_text().replace("side: coh_opposition", "side: coh_oposition",
                                                 1))
    zones = config / "syria-2016" / "zones.yaml"
    zones.write_text(zones.read_text().replace("kind: mixed", "kind: mixd", 1))
    rule = tmp_path / "rules" / "syria-2016" / "JIG-SAAF" / "rule.yaml"
    rule.write_text(rule.read_text().replace("attacker_side:", "attacker_sid:", 1))
    result = run("--config", str(config), "config", "check", ok=False)
    assert "3 problem(s)" in result.output
    assert "'coh_oposition' is not a side. Did you mean 'coh_opposition'?" in result.output
    assert "'mixd' is not a zone kind. Did you mean 'mixed'?" in result.output
    assert "JIG-SAAF/rule.yaml: when.attacker_sid" in result.output
    assert "Did you mean 'attacker_side'?" in result.output


def test_config_check_names_a_side_of_pack_yaml_that_does_not_exist(run, tmp_path):
    """air_operators, civilian_side and contested_side name sides of the pack."""
    config = copy_project(tmp_path, feeds=True)
    pack = config / "syria-2016" / "pack.yaml"
    pack.write_text(pack.read_text()
                    .replace("air_operators: [syrian_government, russia,",
                             "air_operators: [syrian_goverment, russia,")
                    .replace("civilian_side: civilians", "civilian_side: civilian")
                    .replace("contested_side: other_opposition",
                             "contested_side: other_oposition"))
    result = run("--config", str(config), "config", "check", ok=False)
    assert "air_operators[0]: 'syrian_goverment' is not a side." in result.output
    assert "civilian_side: 'civilian' is not a side. Did you mean 'civilians'?" in result.output
    assert "contested_side: 'other_oposition' is not a side." in result.output


def test_actors_and_zones_say_what_the_configuration_says(run):
    out = run("actors", "--resolve", "Jabhat Fateh al-Sham", "--on", "2016-08-10").output
    assert "nusra" in out
    listing = run("actors").output
    assert "aliases" in listing
    zones = run("zones").output
    assert "APPROXIMATE DELINEATION" in zones and "castello" in zones.lower()  # said once


ERRORS = [
    ("monitor.classify", "SpecError", ValueError),
    ("monitor.feeds", "SourceError", None),
    ("monitor.evidence", "EvidenceError", ValueError),
    ("monitor.engine", "EngineError", RuntimeError),
    ("monitor.problems", "ProblemsError", None),
    ("monitor.evaluate", "LabelsError", ValueError),
    ("monitor.pipeline", "PipelineError", RuntimeError),
]


@pytest.mark.parametrize(("module", "name", "also"), ERRORS, ids=[e[1] for e in ERRORS])
def test_the_monitors_errors_share_one_root(module, name, also):
    import importlib

    from monitor.errors import MonitorError

    error = getattr(importlib.import_module(module), name)
    assert issubclass(error, MonitorError)
    assert also is None or issubclass(error, also)  # `except ValueError` still catches it


def test_feeds_status_reads_the_health_of_each_feed_from_the_ledger(run, tmp_path):
    from monitor.ledger import Ledger

    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    (tmp_path / "feeds").mkdir()
    for name, enabled in (("ucdp", "true"), ("broken", "true"), ("idle", "false")):
        (tmp_path / "feeds" / f"{name}.yaml").write_text(
            f"name: {name}\nadapter: jsonl\nsource: {name}.jsonl\nenabled: {enabled}\n")
    ledger = Ledger.open(run.db)
    run_ = {"started_at": "2016-09-12T10:00:00+00:00", "attempts": 1, "duplicates": 0,
            "rejected": 0, "retracted": 0, "findings": 0, "reason": None}
    with ledger.transaction():
        for feed, ok, at, new, lag, reason in [
                ("ucdp", 1, "10:01", 5, 12.5, None), ("ucdp", 1, "10:02", 2, None, None),
                ("broken", 0, "10:03", 0, None, "cannot read it"),
                ("broken", 1, "10:04", 1, 3.0, None), ("broken", 0, "10:05", 0, None, "again")]:
            ledger.append("feed_health", {**run_, "feed": feed, "ok": ok, "new": new,
                                          "finished_at": f"2016-09-12T{at}:00+00:00",
                                          "lag_seconds": lag, "reason": reason})
    ledger.close()
    rows = json.loads(run("--config", str(config), "feeds", "status", "--format", "json").output)
    assert rows == [
        {"feed": "broken", "adapter": "jsonl", "enabled": True, "every_seconds": 900,
         "last_success": "2016-09-12T10:04:00+00:00", "last_failure": "2016-09-12T10:05:00+00:00",
         "failure_reason": "again", "records_taken": 1, "runs": 3, "lag_seconds": 3.0},
        {"feed": "idle", "adapter": "jsonl", "enabled": False, "every_seconds": 900,
         "last_success": None, "last_failure": None, "failure_reason": None,
         "records_taken": 0, "runs": 0, "lag_seconds": None},
        {"feed": "ucdp", "adapter": "jsonl", "enabled": True, "every_seconds": 900,
         "last_success": "2016-09-12T10:02:00+00:00", "last_failure": None,
         "failure_reason": None, "records_taken": 7, "runs": 2, "lag_seconds": 12.5},
    ]
    table = run("--config", str(config), "feeds", "status").output
    assert len(table.splitlines()) == 1 + 3 and "again" in table


def test_no_command_module_imports_the_entry_point_back():
    """Command modules import only what they share (common, options, filters); monitor/cli/__init__.py
    registers their commands on `main`."""
    import ast

    for path in sorted((PROJECT_ROOT / "monitor" / "cli").glob("*.py")):
        if path.name == "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                shared = node.module or ",".join(a.name for a in node.names)
                assert shared in ("common", "options", "filters"), (path.name, shared)
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("monitor.cli"), path.name
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("monitor.cli") for a in node.names), path.name


@pytest.mark.parametrize("error", ["MonitorError", "LedgerError", "ProblemsError"])
def test_an_error_the_user_can_fix_is_one_message_and_exit_1(run, monkeypatch, error):
    from monitor.cli.common import Context
    from monitor.errors import MonitorError
    from monitor.ledger import LedgerError
    from monitor.problems import Problem, ProblemsError

    raised = {"MonitorError": MonitorError("the ledger is busy: try again"),
              "LedgerError": LedgerError("the ledger is busy: try again"),
              "ProblemsError": ProblemsError([Problem("a.yaml", "k", "bad."),
                                              Problem("b.yaml", "", "worse.")])}[error]

    def fail(self, readonly=False):
        raise raised

    monkeypatch.setattr(Context, "ledger", fail)
    result = run("ledger", "verify", ok=False)
    assert result.exit_code == 1
    assert result.output == ("Error: 2 problem(s):\n  a.yaml: k: bad.\n  b.yaml: worse.\n"
                             if error == "ProblemsError" else
                             "Error: the ledger is busy: try again\n")
