"""Evidence and time: corroboration, analysts' verdicts, terms over time, re-judging."""

from __future__ import annotations

import contextlib
import datetime as dt
import csv
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from monitor.adapters.ucdp import to_report as ucdp_report
from monitor import timeline
from monitor.cli import main
from tests.conftest import copy_project
from monitor.config import PROJECT_ROOT, load_pack
from monitor.ledger import Ledger
from monitor.service import Monitor

UCDP = PROJECT_ROOT / "feeds" / "data" / "ged_syria_2016.csv"
# One barrel-bomb strike on the market of Kafr Nabl, 10 Aug 2016, as three sources tell it.
STRIKE = {"occurred": "2016-08-10", "event_type": "air_strike",
          "location": {"lat": 35.614, "lon": 36.562, "precision": 1, "place": "Kafr Nabl"},
          "notes": "Government helicopters dropped barrel bombs on the market"}
THREE_SOURCES = [
    {**STRIKE, "feed": "ucdp", "source_id": "U1", "reliability": "B",
     "attacker": "Government of Syria", "target": "Civilians", "sources": ["SOHR"]},
    {**STRIKE, "feed": "acled", "source_id": "SYR1", "reliability": "B",
     "occurred": "2016-08-10T13:40:00+03:00", "attacker": "Military Forces of Syria (2000-)",
     "target": "Civilians (Syria)", "sources": ["Syrian Civil Defence"],
     "location": {"lat": 35.620, "lon": 36.570, "precision": 1}},
    {**STRIKE, "feed": "manual", "source_id": "hand-1", "attacker": "Syrian air force",
     "target": "civilians", "sources": ["monitor's own interview"],
     "location": {"lat": 35.611, "lon": 36.559, "precision": 1}},
]


def current(ledger: Ledger) -> list[dict]:
    return [f for f in ledger.findings() if f["status"] not in ("superseded", "retracted")]


def test_one_strike_from_three_sources_is_one_incident_with_corroborated_findings(monitor,
                                                                                 ledger):
    for i, record in enumerate(THREE_SOURCES):
        monitor.submit([(f"source {i}", record)])
    findings = current(ledger)
    assert sorted(f["term"] for f in findings) == ["JIG-SAAF", "MAY-CIV"]  # one per term
    assert {f["incident_id"] for f in findings} == {findings[0]["incident_id"]}
    incident = findings[0]["incident_id"]
    assert len(ledger.reports_now_in(incident)) == 3
    for f in findings:
        assert f["status"] == "corroborated" and f["confidence"] == "high"
        assert len(monitor.story(f["finding_id"])["sources"]) == 3
    assert ledger.verify().ok


def test_three_sources_in_one_batch_are_one_incident_too(monitor, ledger):
    # a batch of several feeds is searched report by report: the second and third reports
    # find the first, recorded before them in the same batch (read ahead, they would not)
    monitor.submit([(f"source {i}", record) for i, record in enumerate(THREE_SOURCES)])
    findings = current(ledger)
    assert sorted(f["term"] for f in findings) == ["JIG-SAAF", "MAY-CIV"]
    assert len(ledger.reports_now_in(findings[0]["incident_id"])) == 3
    assert all(f["status"] == "corroborated" for f in findings)


def test_one_feeds_repeats_are_not_corroboration(monitor, ledger):
    first = {**THREE_SOURCES[0]}
    monitor.submit([("a", first), ("b", {**first, "source_id": "U2"})])
    findings = current(ledger)
    assert len({f["incident_id"] for f in findings}) == 2
    assert {f["status"] for f in findings} == {"alleged"}


def test_sources_citing_the_same_origin_are_not_independent(monitor, ledger):
    a = {**THREE_SOURCES[0], "sources": ["SOHR"]}
    b = {**THREE_SOURCES[1], "sources": ["SOHR"]}
    monitor.submit([("a", a)])
    outcome = monitor.submit([("b", b)]).outcomes[0]
    assert outcome.linked and outcome.corroborates  # the same event...
    assert {f["status"] for f in current(ledger)} == {"alleged"}  # ...but one source


def test_an_ambiguous_finding_gains_confidence_from_an_independent_source(monitor, ledger):
    ambiguous = {**THREE_SOURCES[0], "attacker": "Syrian or Russian jets",
                 "notes": "warplanes struck the market"}
    monitor.submit([("a", ambiguous)])
    may = next(f for f in current(ledger) if f["term"] == "MAY-CIV")
    assert may["confidence"] == "medium" and may["attribution"] == "ambiguous"
    monitor.submit([("b", {**THREE_SOURCES[1], "attacker": "Syrian or Russian jets",
                           "notes": "warplanes struck the market"})])
    may = ledger.finding(may["finding_id"])
    assert may["confidence"] == "high" and may["status"] == "corroborated"
    changes = ledger.history("confidence_changes", may["finding_id"])
    assert changes[-1]["confidence"] == "high" and any("independent" in r
                                                       for r in changes[-1]["reasons"])


def test_unlink_returns_a_report_to_its_own_incident(monitor, ledger):
    monitor.submit([("a", THREE_SOURCES[0])])
    linked = monitor.submit([("b", THREE_SOURCES[1])]).outcomes[0]
    assert linked.linked
    key = linked.report_key
    before = {r["report_key"]: r for r in ledger.query("SELECT report_key, hash FROM reports")}
    monitor.unlink(key, by="analyst", note="a different strike that day")
    findings = current(ledger)
    assert len({f["incident_id"] for f in findings}) == 2
    assert {f["status"] for f in findings} == {"alleged"}
    after = {r["report_key"]: r for r in ledger.query("SELECT report_key, hash FROM reports")}
    assert before == after  # both reports as they were
    assert ledger.verify().ok


def test_patterns_and_incident_rows_see_each_report_in_the_incident_it_is_in_now(monitor,
                                                                                ledger):
    first = monitor.submit([("a", THREE_SOURCES[0])]).outcomes[0]
    linked = monitor.submit([("b", THREE_SOURCES[1])]).outcomes[0]
    own = ledger.incidents_of_report(linked.report_key)["own_incident"]
    assert own != first.incident_id

    def now() -> list[dict[str, str]]:
        return [{r["report_key"]: r["incident_id"] for r in rows}
                for rows in (ledger.pattern_incidents(), ledger.incident_rows())]

    def in_view(incident_id: str) -> list[dict[str, Any]]:  # report_incident, as the view
        return ledger._rows("SELECT r.*, ri.own_incident FROM report_incident ri JOIN reports "
                            "r USING (report_key) WHERE ri.incident_id = ? ORDER BY r.seq",
                            [incident_id], "reports")

    def members() -> dict[str, list[str]]:  # reports_now_in reads them through indexes
        rows = {i: ledger.reports_now_in(i) for i in (first.incident_id, own, "i-none")}
        assert all(rows[i] == in_view(i) for i in rows)
        return {i: [r["report_key"] for r in found] for i, found in rows.items()}

    both = {first.report_key: first.incident_id, linked.report_key: first.incident_id}
    assert now() == [both, both]
    assert members() == {first.incident_id: [first.report_key, linked.report_key], own: [],
                         "i-none": []}
    monitor.unlink(linked.report_key, by="analyst", note="a different strike that day")
    apart = {first.report_key: first.incident_id, linked.report_key: own}
    assert now() == [apart, apart]
    assert members() == {first.incident_id: [first.report_key], own: [linked.report_key],
                         "i-none": []}


@pytest.fixture
def cli(tmp_path):
    db = str(tmp_path / "ledger.db")

    def run(*args, ok=True, input=None):
        result = CliRunner(env={"COLUMNS": "200"}).invoke(main, ["--db", db, *args],
                                                          input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result
    return run


def test_an_analysts_dispute_shows_in_findings_and_in_the_history(cli):
    for record in THREE_SOURCES:  # each source recorded as its own feed (--feed)
        cli("incident", "add", "--json", "-", "--feed", record["feed"], input=json.dumps(record))
    findings = json.loads(cli("findings", "--format", "json").output)
    target = next(f for f in findings if f["term"] == "JIG-SAAF")
    assert target["status"] == "corroborated"
    out = cli("finding", "dispute", target["finding_id"], "--by", "R. Analyst", "--note",
              "the helicopters were Russian").output
    assert "disputed by R. Analyst" in out
    disputed = json.loads(cli("findings", "--status", "disputed", "--format", "json").output)
    assert [f["finding_id"] for f in disputed] == [target["finding_id"]]
    story = cli("finding", "show", target["finding_id"]).output
    assert "status disputed by R. Analyst: the helicopters were Russian" in story
    assert "status corroborated by corroboration" in story
    assert "Sources (3)" in story and "Syrian Civil Defence" in story
    assert "monitor's own interview" in story
    bad = cli("finding", "confirm", "f-nope", "--by", "x", "--note", "y", ok=False)
    assert bad.exit_code == 1 and "no finding 'f-nope'" in bad.output
    missing = cli("finding", "confirm", target["finding_id"], "--note", "y", ok=False)
    assert missing.exit_code == 2 and "--by" in missing.output


def ucdp_rows() -> list[dict]:
    with UCDP.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def replay(pack, path: Path, rows: list[dict], refresh: str = "every batch",
           batch: int = 500) -> dict:
    """Record ``rows`` in batches, refreshing the patterns after every batch, at the end
    (as ``monitor import`` does), or after a simulated crash that left the queue behind."""
    ledger = Ledger.open(path)
    monitor = Monitor(pack, ledger)
    for i in range(0, len(rows), batch):
        monitor.submit([(f"row {r['id']}", ucdp_report(r, "ucdp", "B"))
                        for r in rows[i:i + batch]], refresh=refresh == "every batch")
    if refresh == "after a crash":
        assert ledger.pattern_work()[0] > 0 and not ledger.alerts()  # queued, not done
        ledger.close()
        ledger = Ledger.open(path)
        monitor = Monitor(pack, ledger)
    if refresh != "every batch":
        monitor.refresh_patterns()
        assert ledger.pattern_work() == (0, [])
    state = {
        "findings": sorted((f["source_id"], f["term"], tuple(sorted(f["charged_to"])),
                            f["severity"], f["confidence"], f["status"], f["attribution"])
                           for f in ledger.findings()),
        "calm": [(d["day"], d["calm"], d["consecutive"], d["condition_met"],
                  tuple(sorted(d["breaches"]))) for d in ledger.calm_days()],
        "alerts": sorted((a["key"], a["kind"], tuple(a["finding_ids"]))
                         for a in ledger.alerts()),
    }
    assert ledger.verify().ok
    ledger.close()
    return state


@pytest.mark.parametrize(("days", "batch", "findings"), [
    # the start of the September truce (SEP) and its 21 calm days, in batches of 100
    (("2016-09-01", "2016-10-15"), 100, 350),
    pytest.param(("2016-01-01", "2016-12-31"), 500, 2000, marks=pytest.mark.slow),
], ids=["September to mid-October", "the whole year"])
def test_replaying_2016_shuffled_gives_what_watching_it_live_gave(pack, tmp_path, monkeypatch,
                                                                  days, batch, findings):
    rows = [r for r in ucdp_rows() if days[0] <= r["date_start"][:10] <= days[1]]
    live = replay(pack, tmp_path / "live.db", sorted(rows, key=lambda r: r["date_start"]),
                  batch=batch)
    shuffled = rows[:]
    random.Random(2016).shuffle(shuffled)
    late = replay(pack, tmp_path / "shuffled.db", shuffled, batch=batch)
    assert len(live["findings"]) > findings and len(live["calm"]) == 21 and live["alerts"]
    assert late == live
    # refreshing once at the end, or after a crash left the queue, changes nothing either
    assert replay(pack, tmp_path / "at-end.db", shuffled, "at the end", batch) == live
    assert replay(pack, tmp_path / "crash.db", shuffled, "after a crash", batch) == live
    # nor does the size of the blocks a refresh works in
    monkeypatch.setattr(timeline, "BLOCK_DAYS", 2)
    assert replay(pack, tmp_path / "blocks.db", shuffled, "at the end", batch) == live


NOTHING_CHANGED = {"calm_days": 0, "alerts": 0, "withdrawn": 0, "new_alerts": []}


def recomputed_in_full(ledger: Ledger, pack) -> dict[str, Any]:
    """What a recomputation of every pattern over the ledger's whole span records now:
    nothing, when the refreshes before it recomputed all that had changed."""
    with ledger.transaction():
        return timeline.refresh(ledger, pack)


@pytest.fixture(scope="module")
def september(pack, tmp_path_factory) -> Path:
    """A ledger of UCDP's September to mid-October 2016, its patterns refreshed: the SEP
    calm series with its breaches, escalations."""
    path = tmp_path_factory.mktemp("september") / "ledger.db"
    rows = [r for r in ucdp_rows() if "2016-09-01" <= r["date_start"][:10] <= "2016-10-15"]
    state = replay(pack, path, rows, "at the end")
    assert any(kind == "escalation" for _, kind, _ in state["alerts"]) and state["calm"]
    return path


@pytest.fixture
def in_september(september, pack, tmp_path, clock) -> Monitor:
    """A copy of :func:`september`'s ledger, with a monitor on it."""
    shutil.copy(september, tmp_path / "september.db")
    return Monitor(pack, Ledger.open(tmp_path / "september.db", clock=clock), clock=clock)


def patterns_now(ledger: Ledger) -> tuple[list[Any], list[Any]]:
    return ([(d["day"], d["consecutive"], tuple(d["breaches"])) for d in ledger.calm_days()],
            sorted(a["key"] for a in ledger.alerts()))


def test_a_verdict_recomputes_what_its_finding_reaches_and_that_is_all_that_changes(
        in_september, pack, monkeypatch):
    monitor, ledger = in_september, in_september.ledger
    windows_given = []
    refresh = timeline.refresh
    monkeypatch.setattr(timeline, "refresh", lambda led, p, windows=None: (
        windows_given.append(windows), refresh(led, p, windows))[1])
    # a finding of each of three escalations, and a breach of each of three calm days
    targets = [a["finding_ids"][0] for a in ledger.alerts("escalation")[:3]]
    targets += [d["breaches"][0] for d in ledger.calm_days() if d["breaches"]][:3]
    before = patterns_now(ledger)
    for finding_id, verb in zip(targets, ["dispute", "discount", "retract"] * 2):
        finding = ledger.finding(finding_id, explained=False)
        monitor.verdict(finding_id, verb, "analyst", "seen otherwise")
        # only the finding's own event window was recomputed ...
        assert windows_given.pop() == [(dt.datetime.fromisoformat(finding["occurred"]),
                                        dt.datetime.fromisoformat(finding["occurred_end"]))]
        # ... and a recomputation of everything finds nothing more to change
        assert recomputed_in_full(ledger, pack) == NOTHING_CHANGED
    calm, alerts = patterns_now(ledger)
    assert calm != before[0] and set(before[1]) - set(alerts)  # the verdicts changed both
    monitor.verdict(targets[0], "confirm", "analyst", "seen after all")  # counted again
    assert recomputed_in_full(ledger, pack) == NOTHING_CHANGED
    assert ledger.verify().ok


def test_a_retraction_queues_the_windows_of_the_findings_it_retracts(in_september, pack):
    monitor, ledger = in_september, in_september.ledger
    escalation = ledger.alerts("escalation")[0]
    withdrawn = ledger.finding(escalation["finding_ids"][0], explained=False)
    monitor.submit([], feed="ucdp", retractions=[withdrawn["source_id"]], refresh=False)
    _, windows = ledger.pattern_work()
    occurred = dt.datetime.fromisoformat(withdrawn["occurred"])
    assert windows is not None and any(a <= occurred < b or a == occurred == b
                                       for a, b in windows)
    monitor.refresh_patterns()
    assert escalation["key"] not in {a["key"] for a in ledger.alerts()}
    assert recomputed_in_full(ledger, pack) == NOTHING_CHANGED


def test_an_unlink_leaves_nothing_for_a_recomputation_of_everything(in_september, pack):
    monitor, ledger = in_september, in_september.ledger
    # another feed's report of one of the escalation's strikes: one incident with it
    finding = ledger.finding(ledger.alerts("escalation")[0]["finding_ids"][0])
    body = ledger.report(f"ucdp:{finding['source_id']}:{finding['revision']}")["body"]
    outcome = monitor.submit([("x", {**body, "feed": "acled", "source_id": "X1"})]).outcomes[0]
    assert outcome.linked
    assert recomputed_in_full(ledger, pack) == NOTHING_CHANGED
    monitor.unlink(outcome.report_key, by="analyst", note="another strike")
    assert recomputed_in_full(ledger, pack) == NOTHING_CHANGED
    assert ledger.verify().ok


def test_a_late_report_changes_the_calm_series_by_new_entries(monitor, ledger):
    quiet = {"feed": "acled", "occurred": "2016-09-14T10:00:00+03:00",
             "attacker": "Military Forces of Syria (2000-)", "target": "Free Syrian Army",
             "event_type": "military_presence",
             "location": {"lat": 36.586, "lon": 37.044, "precision": 1}}
    monitor.submit([("a", {**quiet, "source_id": "Q1"})])
    series = {d["day"]: d for d in ledger.calm_days()}
    assert series[2]["calm"] == 1 and series[7]["condition_met"] == 1
    # days later, a report arrives of a strike on the opposition on 14 September
    monitor.submit([("b", {**quiet, "source_id": "L1", "event_type": "air_strike",
                           "notes": "warplanes struck rebel positions"})])
    series = {d["day"]: d for d in ledger.calm_days()}
    assert series[2]["calm"] == 0 and series[2]["consecutive"] == 0
    assert not any(d["condition_met"] for d in series.values() if d["day"] <= 8)
    history = ledger.query("SELECT count(*) AS n FROM calm_counts WHERE day = 2")[0]["n"]
    assert history == 2  # the first state is kept; the new one is a new entry


def test_five_serious_findings_against_one_party_in_a_day_raise_an_escalation(monitor,
                                                                              ledger):
    strike = {"feed": "acled", "occurred": "2016-08-10", "event_type": "air_strike",
              "attacker": "Military Forces of Syria (2000-)", "target": "Civilians (Syria)",
              "notes": "air strike on a residential building"}
    places = [(36.20, 37.17), (36.19, 37.16), (36.21, 37.18), (36.18, 37.15), (36.22, 37.19)]
    for i, (lat, lon) in enumerate(places[:4]):
        monitor.submit([(str(i), {**strike, "source_id": f"E{i}",
                                  "location": {"lat": lat, "lon": lon}})])
    assert ledger.alerts("escalation") == []
    lat, lon = places[4]
    monitor.submit([("4", {**strike, "source_id": "E4", "location": {"lat": lat, "lon": lon}})])
    [alert] = ledger.alerts("escalation")
    assert alert["party"] == "syrian_government" and alert["governorate"] == "Aleppo"
    assert len(alert["incident_ids"]) == 5


def test_rejudge_records_differences_under_a_changed_rule(tmp_path, clock):
    copy_project(tmp_path)
    ledger = Ledger.open(tmp_path / "l.db", clock=clock)
    monitor = Monitor(load_pack(tmp_path / "config", "syria-2016"), ledger, clock)
    monitor.submit([("a", THREE_SOURCES[1])])
    before = {f["term"]: f for f in current(ledger)}
    rule = tmp_path / "rules/syria-2016/JIG-SAAF/rule.yaml"
    rule.write_text(rule.read_text().replace("severity: major", "severity: critical", 1))
    changed = Monitor(load_pack(tmp_path / "config", "syria-2016"), ledger, clock)
    result = changed.rejudge("2016-01-01T00:00:00+00:00")
    assert result == {"reports": 1, "new": 1, "superseded": 1, "unchanged": 1}
    after = {f["term"]: f for f in current(ledger)}
    assert after["JIG-SAAF"]["severity"] == "critical"
    assert after["JIG-SAAF"]["supersedes"] == before["JIG-SAAF"]["finding_id"]
    assert after["MAY-CIV"]["finding_id"] == before["MAY-CIV"]["finding_id"]
    old = ledger.finding(before["JIG-SAAF"]["finding_id"])
    assert old["status"] == "superseded" and old["severity"] == "major"  # still reproducible
    assert changed.rejudge("2016-01-01T00:00:00+00:00")["new"] == 0  # nothing more to do



REVISED = {**THREE_SOURCES[0], "revision": "2", "target": "Civilians",
           "notes": "Government helicopters dropped barrel bombs on the market and a school"}


def test_a_revision_of_one_source_keeps_the_support_of_the_others(monitor, ledger):
    for i, record in enumerate(THREE_SOURCES):
        monitor.submit([(f"source {i}", record)])
    before = {f["term"]: f for f in current(ledger)}
    monitor.submit([("revision", REVISED)])  # UCDP revises its record of the strike
    after = {f["term"]: f for f in current(ledger)}
    assert set(after) == set(before)
    for term, f in after.items():
        assert f["supersedes"] == before[term]["finding_id"] and "school" in json.dumps(
            f["explanation"])  # the revision's words judged it
        assert f["status"] == "corroborated" and f["confidence"] == "high"
        story = monitor.story(f["finding_id"])
        assert {s["feed"] for s in story["sources"]} == {"ucdp", "acled", "manual"}
        support = ledger.history("finding_support", f["finding_id"])
        assert len(support) == 2 and all("carried over from" in s["note"] for s in support)
    assert ledger.verify().ok


def test_a_revision_alone_re_scores_its_new_findings_without_a_change(monitor, ledger):
    # The new findings of a revision are re-scored from what was just recorded for them (not
    # read back): one source, so each keeps the confidence it was recorded with and stays
    # alleged, with no change of either recorded.
    monitor.submit([("source", THREE_SOURCES[0])])
    monitor.submit([("revision", REVISED)])
    after = current(ledger)
    assert after and all(f["supersedes"] for f in after)
    for f in after:
        assert f["status"] == "alleged"
        assert ledger.history("confidence_changes", f["finding_id"]) == []
        assert ledger.history("status_changes", f["finding_id"]) == []
    assert ledger.verify().ok


def test_a_rejudged_finding_keeps_the_support_of_the_other_sources(tmp_path, clock):
    copy_project(tmp_path)
    ledger = Ledger.open(tmp_path / "l.db", clock=clock)
    monitor = Monitor(load_pack(tmp_path / "config", "syria-2016"), ledger, clock)
    for i, record in enumerate(THREE_SOURCES):
        monitor.submit([(f"source {i}", record)])
    before = {f["term"]: f for f in current(ledger)}
    assert before["JIG-SAAF"]["status"] == "corroborated"
    rule = tmp_path / "rules/syria-2016/JIG-SAAF/rule.yaml"
    rule.write_text(rule.read_text().replace("severity: major", "severity: critical", 1))
    changed = Monitor(load_pack(tmp_path / "config", "syria-2016"), ledger, clock)
    assert changed.rejudge("2016-01-01T00:00:00+00:00")["superseded"] == 1
    after = current(ledger)
    jig = next(f for f in after if f["term"] == "JIG-SAAF")
    assert jig["severity"] == "critical" and jig["supersedes"] == before["JIG-SAAF"][
        "finding_id"]
    assert jig["status"] == "corroborated" and jig["confidence"] == "high"
    assert ledger.verify().ok

# A UCDP clash as the revision-1 adapter wrote it: both sides as attacker and as target.
REVISION_1_CLASH = {
    "feed": "ucdp", "source_id": "224694", "revision": "19.1", "occurred": "2016-07-13",
    "location": {"lat": 34.8425, "lon": 36.7303, "precision": 1, "place": "Talbiseh town",
                 "admin1": "Homs Governorate", "admin2": "Ar Rastan district"},
    "attacker": ["Government of Syria", "Syrian insurgents"],
    "target": ["Government of Syria", "Syrian insurgents"], "attribution": "ambiguous",
    "event_type": "attack", "notes": "Continued clashes around Talbisa", "reliability": "B",
}


def test_rejudge_brings_a_revision_1_ledger_to_revision_2(tmp_path, clock):
    """TERMS.md revision 2: a clash judged under revision 1 charged both sides (COH-GOV and
    COH-OPP). Re-judging under revision 2 supersedes both and records one COH-CLASH charged
    to nobody — as new entries: nothing recorded before is changed, and the chain verifies."""
    copy_project(tmp_path)
    rules = tmp_path / "rules" / "syria-2016"
    shutil.rmtree(rules / "COH-CLASH")  # revision 1 had no COH-CLASH...
    for term in ("COH-GOV", "COH-OPP"):  # ...and charged an attack without a direction
        path = rules / term / "rule.yaml"
        path.write_text(path.read_text().replace("  direction: directed\n", ""))
    ledger = Ledger.open(tmp_path / "l.db", clock=clock)
    old = Monitor(load_pack(tmp_path / "config", "syria-2016"), ledger, clock)
    old.submit([("r1", REVISION_1_CLASH)])
    before = {f["term"]: f for f in current(ledger)}
    assert {"COH-GOV", "COH-OPP"} <= set(before)
    rows_before = ledger.query("SELECT seq, hash FROM findings ORDER BY seq")

    new = Monitor(load_pack(PROJECT_ROOT / "config", "syria-2016"), ledger, clock)
    result = new.rejudge("2016-01-01T00:00:00+00:00")
    after = {f["term"]: f for f in current(ledger)}
    assert "COH-GOV" not in after and "COH-OPP" not in after
    clash = after["COH-CLASH"]
    assert clash["charged_to"] == [] and clash["attribution"] == "undetermined"
    assert result["superseded"] >= 2 and result["new"] >= 1
    for term in ("COH-GOV", "COH-OPP"):
        assert ledger.finding(before[term]["finding_id"])["status"] == "superseded"
    assert ledger.query("SELECT seq, hash FROM findings ORDER BY seq")[:len(rows_before)] == (
        rows_before)  # appended, never rewritten
    assert ledger.verify().ok
    assert [r["party"] for r in ledger.query("SELECT party FROM scorecard")] == ["undetermined"]


def test_the_daemon_rejudges_findings_of_changed_rules_before_it_polls(tmp_path, clock):
    """`monitor run` on a ledger whose findings were made by rules since changed (revision 1)
    brings it to the current rules first, with new entries: `make run` on an old ledger shows
    revision-2 findings."""
    copy_project(tmp_path)
    rule = tmp_path / "rules" / "syria-2016" / "COH-GOV" / "rule.yaml"
    current_rule = rule.read_text()
    rule.write_text(current_rule.replace("  direction: directed\n", ""))
    shutil.rmtree(tmp_path / "rules" / "syria-2016" / "COH-CLASH")
    db = tmp_path / "l.db"
    ledger = Ledger.open(db, clock=clock)
    Monitor(load_pack(tmp_path / "config", "syria-2016"), ledger, clock).submit(
        [("r1", REVISION_1_CLASH)])
    assert "COH-GOV" in {f["term"] for f in current(ledger)}
    ledger.close()
    shutil.rmtree(tmp_path / "rules")  # the current rules, as a new release brings them
    shutil.copytree(PROJECT_ROOT / "rules", tmp_path / "rules")
    (tmp_path / "feeds").mkdir()
    (tmp_path / "config" / "monitor.yaml").write_text(
        f"pack: syria-2016\ndb: {db}\nfeeds: {tmp_path / 'feeds'}\n")
    out = CliRunner().invoke(main, ["--config", str(tmp_path / "config"), "run", "--once"])
    assert out.exit_code == 0, out.output
    assert "re-judging" in out.output
    again = Ledger.open(db, clock=clock)
    terms = {f["term"] for f in current(again)}
    assert "COH-CLASH" in terms and "COH-GOV" not in terms
    assert again.verify().ok


def test_the_daemons_summary_counts_each_finding_once_under_its_charged_set(tmp_path):
    """`monitor run` prints findings per charged set: a Syrian-or-Russian strike once, under
    "russia or syrian_government"; an IS bombing (context, CTX-CIV) not at all."""
    copy_project(tmp_path)
    drop = tmp_path / "feeds" / "drop"
    drop.mkdir(parents=True)
    (tmp_path / "feeds" / "partners.yaml").write_text(
        "name: partners\nadapter: jsonl\nsource: drop\nschedule: {every_seconds: 30}\n")
    strike = {"source_id": "p1", "occurred": "2016-09-15", "attacker": "Syrian or Russian jets",
              "target": "civilians", "event_type": "air_strike", "target_category": "market",
              "location": {"lat": 36.136, "lon": 36.830, "precision": 1, "place": "Atareb"}}
    bombing = {"source_id": "p2", "occurred": "2016-05-23", "attacker": "Islamic State (Syria)",
               "target": "Civilians (Syria)", "event_type": "bombing",
               "target_category": "civilians",
               "location": {"lat": 35.3606, "lon": 35.9282, "precision": 1, "place": "Jableh"}}
    (drop / "a.jsonl").write_text(json.dumps(strike) + "\n" + json.dumps(bombing) + "\n")
    (tmp_path / "config" / "monitor.yaml").write_text(
        f"pack: syria-2016\ndb: {tmp_path / 'l.db'}\nfeeds: {tmp_path / 'feeds'}\n")
    out = CliRunner().invoke(main, ["--config", str(tmp_path / "config"), "run", "--once"],
                             env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    summary = out.output.split("findings per charged set", 1)[1]
    assert "russia or syrian_government" in summary
    assert "isil" not in summary and "CTX-CIV" in out.output  # recorded, not counted


def test_two_reports_whose_parts_join_alike_are_two_reports(monitor, ledger):
    """source_id "dup:1" revision "2" and source_id "dup" revision "1:2" are different records."""
    base = {**THREE_SOURCES[0], "feed": "jsonl"}
    monitor.submit([("a", {**base, "source_id": "dup:1", "revision": "2"}),
                    ("b", {**base, "source_id": "dup", "revision": "1:2"})])
    keys = sorted(r["report_key"] for r in ledger.query("SELECT report_key FROM reports"))
    assert keys == ["jsonl:dup%3A1:2", "jsonl:dup:1%3A2"]


def test_a_rule_changed_back_is_rejudged_to_a_new_finding(tmp_path, clock):
    """Reverting a rule gives its earlier version again: the finding re-judged under it is a
    new entry superseding the interim one, not the id of the finding it first replaced."""
    copy_project(tmp_path)
    ledger = Ledger.open(tmp_path / "l.db", clock=clock)
    Monitor(load_pack(tmp_path / "config", "syria-2016"), ledger, clock).submit(
        [("a", THREE_SOURCES[1])])
    first = {f["term"]: f for f in current(ledger)}["JIG-SAAF"]
    rule = tmp_path / "rules/syria-2016/JIG-SAAF/rule.yaml"
    text = rule.read_text()
    for version in (text.replace("severity: major", "severity: critical", 1), text):
        rule.write_text(version)
        Monitor(load_pack(tmp_path / "config", "syria-2016"), ledger, clock).rejudge(
            "2016-01-01T00:00:00+00:00")
    last = {f["term"]: f for f in current(ledger)}["JIG-SAAF"]
    assert last["severity"] == "major" and last["rule_version"] == first["rule_version"]
    assert last["finding_id"] != first["finding_id"]
    assert ledger.finding(first["finding_id"])["status"] == "superseded"
    assert ledger.verify().ok


def test_one_batch_of_three_sources_and_a_revision_records_what_one_row_at_a_time_does(
        pack, tmp_path, monkeypatch):
    # Inside a batch, rows are inserted a table at a time (Ledger.deferred): corroboration,
    # support and supersession read the rows of the same batch all the same.
    revised = {**THREE_SOURCES[0], "revision": "2", "target": "Civilians",
               "notes": "Government helicopters dropped barrel bombs on the market and a school"}
    batch = [(f"item {i}", r) for i, r in enumerate([*THREE_SOURCES, revised])]
    from tests.conftest import FixedClock

    def ledger_of(name):
        ledger = Ledger.open(tmp_path / name, clock=FixedClock())
        Monitor(pack, ledger, clock=FixedClock()).submit(batch)
        return ledger

    deferred = ledger_of("deferred.db")
    findings = current(deferred)
    assert {f["incident_id"] for f in findings} == {findings[0]["incident_id"]}
    assert len(deferred.reports_now_in(findings[0]["incident_id"])) >= 3  # linked in-batch
    assert all(f["supersedes"] for f in findings)  # revision 2 replaced revision 1's
    assert {f["status"] for f in findings} == {"corroborated"}  # the others' word stands
    monkeypatch.setattr(Ledger, "deferred", lambda self: contextlib.nullcontext())
    plain = ledger_of("plain.db")
    tables = [t for t in deferred.counts()] + ["finding_state", "finding_parties"]
    for table in tables:  # every row, every hash
        assert deferred.query(f'SELECT * FROM "{table}" ORDER BY 1') == plain.query(
            f'SELECT * FROM "{table}" ORDER BY 1'), table
    assert deferred.verify().ok


def test_a_batch_of_one_feed_links_what_reports_recorded_one_at_a_time_link(
        tmp_path: Path, pack) -> None:
    """Monitor.submit reads the corroboration candidates of a whole batch of one feed before
    recording it (Ledger.nearby_reports_many): the links, supports and findings are those of
    the same reports submitted one at a time, each searched for once the one before is
    recorded. 300 generated ACLED rows, then the same rows as a second feed (each describes
    its twin, and its neighbours may too)."""
    from monitor.adapters import reader
    from tests.test_pipeline import content, generated_acled

    path = generated_acled(tmp_path / "events.csv", 300)
    ledgers = {}
    for way in ("batch", "one by one"):
        ledger = Ledger.open(tmp_path / f"{way}.db")
        monitor = Monitor(pack, ledger)
        monitor.submit(list(reader("acled")(path, feed="acled")))
        mirror = list(reader("acled")(path, feed="mirror"))
        if way == "batch":
            monitor.submit(mirror)
        else:
            for item in mirror:
                monitor.submit([item])
        assert ledger.verify().ok
        ledger.close()
        ledgers[way] = content(tmp_path / f"{way}.db")
    batch, one_by_one = ledgers["batch"], ledgers["one by one"]
    assert len(batch["links"]) > 250  # nearly every mirror report joins its twin's incident
    # (the entries between them differ: one at a time, each submit refreshes the patterns)
    for table in ("links", "finding_support", "findings", "confidence_changes",
                  "status_changes", "incidents", "reports"):
        assert [r[1:] for r in batch[table]] == [r[1:] for r in one_by_one[table]], table


# What two ledgers of the same reports, written differently, hold differently
UNCOMPARED = ("seq", "recorded_at", "prev_hash", "hash")
# The same Kafr Nabl strike: told by ACLED without saying who struck (MAY-CIV, charged to no
# one), then by two UCDP records that say it was the government's air force (JIG-SAAF).
_UNSAID = {**{k: v for k, v in THREE_SOURCES[1].items() if k != "attacker"},
           "notes": "An air strike hit the market"}
_SAID = [{**THREE_SOURCES[0], "source_id": f"U{n}", "sources": [f"witness {n}"]}
         for n in (1, 2)]
_MOVED = {**_SAID[0], "revision": "2",  # U1 corrected: elsewhere
          "location": {"lat": 36.2, "lon": 37.15, "precision": 1, "place": "Aleppo"}}


@pytest.mark.parametrize("before, batch", [
    ([_UNSAID], _SAID),
    ([_UNSAID, _SAID[0]], [_MOVED, _SAID[1]]),
], ids=["two reports link to one incident", "a revision moves away from it"])
def test_a_batch_reads_the_findings_standing_on_a_linked_incident_as_they_stand(
        tmp_path: Path, pack, before: list[dict], batch: list[dict]) -> None:
    """The findings standing on the incidents a batch links to are read before it is
    recorded (EvidenceKeeper.standing_ahead), and each report sees them as the reports before
    it in the batch left them: the second UCDP record supports the JIG-SAAF finding the first
    made on ACLED's incident; once the first is revised to another place, its finding there
    no longer stands, and the second makes its own. As submitting each record alone does."""
    from tests.test_pipeline import content

    ledgers = {}
    for way in ("batch", "one by one"):
        ledger = Ledger.open(tmp_path / f"{way}.db")
        monitor = Monitor(pack, ledger)
        for record in before:
            monitor.submit([("before", record)])
        for items in [batch] if way == "batch" else [[r] for r in batch]:
            assert not monitor.submit([(f"item {i}", r) for i, r in enumerate(items)]).rejections
        assert ledger.verify().ok
        incident = ledger.query("SELECT incident_id FROM reports WHERE feed = 'acled'")[0][
            "incident_id"]
        standing = {f["term"]: f for f in current(ledger) if f["incident_id"] == incident}
        assert set(standing) == {"JIG-SAAF", "MAY-CIV"}
        jig = standing["JIG-SAAF"]
        support = {s["report_key"] for s in ledger.history("finding_support", jig["finding_id"])}
        if len(before) == 1:  # U1 made it, U2 supports it
            assert jig["source_id"] == "U1" and support == {"ucdp:U2:1"}
        else:  # U1's was superseded by its revision: U2 made its own
            assert jig["source_id"] == "U2" and support == set()
        # the findings whole (a batch shares the texts it says twice: stored, they differ)
        findings = [{k: v for k, v in f.items() if k not in UNCOMPARED}
                    for f in ledger.findings()]
        ledger.close()
        ledgers[way] = {**content(tmp_path / f"{way}.db"), "findings": findings}
    assert ledgers["batch"]["findings"] == ledgers["one by one"]["findings"]
    for table in ("links", "finding_support", "confidence_changes", "status_changes",
                  "reports"):
        # (without seq: one at a time, each submit refreshes the patterns)
        assert [r[1:] for r in ledgers["batch"][table]] == [
            r[1:] for r in ledgers["one by one"][table]], table


def test_a_batch_reads_the_findings_of_the_records_it_revises_as_they_stand(tmp_path: Path,
                                                                            pack) -> None:
    """The findings of the records a batch revises are read before it is recorded
    (Ledger.source_findings_many), and each revision sees them as the revisions before it in the
    batch left them: of a record whose first revision is recorded, revisions 2 and 3 in one
    batch leave revision 3's findings standing, each superseding revision 2's, as submitting
    each revision alone does."""
    first = _SAID[0]
    revisions = [{**first, "revision": str(n), "notes": f"{first['notes']} (update {n})"}
                 for n in (2, 3)]
    made = {}
    for way in ("batch", "one by one"):
        ledger = Ledger.open(tmp_path / f"{way}.db")
        monitor = Monitor(pack, ledger)
        monitor.submit([("revision 1", first)])
        for items in [revisions] if way == "batch" else [[r] for r in revisions]:
            assert not monitor.submit([(f"item {i}", r) for i, r in enumerate(items)]).rejections
        assert ledger.verify().ok
        findings = ledger.findings()
        standing = [f for f in findings if f["status"] not in ("superseded", "retracted")]
        assert {f["revision"] for f in standing} == {"3"} and len(standing) == 2
        by_id = {f["finding_id"]: f for f in findings}
        assert {by_id[f["supersedes"]]["revision"] for f in standing} == {"2"}
        made[way] = [{k: v for k, v in f.items() if k not in UNCOMPARED} for f in findings]
        ledger.close()
    assert made["batch"] == made["one by one"]
