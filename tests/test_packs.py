"""Any ceasefire as data: a pack declares its vocabulary, numbers, deadlines, charging and who is
bound; the second pack shipped (idlib-2018-2020) loads, imports its sample into a real ledger,
gives findings and a brief, and nothing of it is in the code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import PROJECT_ROOT, load_pack
from monitor.models import IncidentReport, RuleSpec
from monitor.problems import ProblemsError
from monitor.rules import check_rule
from monitor.service import Evaluator
from monitor.vocabspec import core_vocabulary
from tests.conftest import copy_project

CONFIG = PROJECT_ROOT / "config"
IDLIB = "idlib-2018-2020"
SAMPLE = PROJECT_ROOT / "feeds" / "samples" / "idlib_sample.jsonl"


@pytest.fixture(scope="module")
def idlib():
    return load_pack(CONFIG, IDLIB)


def cli(*args: str, db: Path | None = None, config: Path = CONFIG, stdin: str | None = None):
    head = ["--config", str(config)] + (["--db", str(db)] if db else [])
    return CliRunner().invoke(main, [*head, *args], input=stdin)


def rule_of(pack, term: str) -> dict:
    return yaml.safe_load((PROJECT_ROOT / "rules" / pack / term / "rule.yaml").read_text())


# --- the vocabulary is the pack's ----------------------------------------------------------


def test_the_2016_pack_declares_the_core_vocabulary_so_its_results_do_not_change() -> None:
    def meaning(words) -> dict:  # every value and what it means, without descriptions
        dump = words.model_dump()
        for key in ("event_types", "platforms", "target_categories", "weapon_classes"):
            for word in dump[key]:
                word.pop("description")
        return dump
    spec = load_pack(CONFIG, "syria-2016").spec
    assert spec.vocabulary is not None
    assert meaning(spec.vocabulary) == meaning(core_vocabulary())


def test_the_second_pack_declares_non_violent_events_patrols_and_weapon_classes(idlib) -> None:
    words = idlib.words
    assert {"obstruction", "presence", "withdrawal"} <= set(words.event_type_ids)
    assert not {"obstruction", "presence", "withdrawal"} & words.attack_types
    assert {"patrol", "observation_post"} <= set(words.target_ids)
    assert {"tank", "mlrs", "heavy_weapon"} <= set(words.weapon_ids)


@pytest.mark.parametrize(("pack", "field", "value", "accepted"), [
    ("syria-2016", "weapon_class", "tank", False),
    ("syria-2016", "event_type", "obstruction", False),
    (IDLIB, "weapon_class", "tank", True),
    (IDLIB, "event_type", "obstruction", True),
    (IDLIB, "event_type", "obstrucion", False),
    (IDLIB, "target_category", "patrol", True),
])
def test_a_report_is_checked_against_the_active_packs_vocabulary(
        tmp_path: Path, pack: str, field: str, value: str, accepted: bool) -> None:
    report = {"source_id": "v-1", "occurred": "2019-02-01", "attacker": "NFL",
              "location": {"lat": 35.44, "lon": 36.64}, field: value}
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(report) + "\n")
    result = cli("--pack", pack, "import", str(path), "--format", "jsonl",
                 db=tmp_path / "l.db")
    if accepted:
        assert result.exit_code == 0, result.output
        assert "1 new report(s)" in result.output
    else:
        assert result.exit_code == 1
        assert f"line 1: {field}: {value!r} is not a value of {field} in pack {pack!r}" in (
            result.output)
        if value == "obstrucion":
            assert "Did you mean 'obstruction'?" in result.output


def test_a_classifier_value_the_pack_does_not_declare_is_a_load_error(tmp_path: Path) -> None:
    config = copy_project(tmp_path)
    path = config / IDLIB / "classifier.yaml"
    path.write_text(path.read_text().replace("- value: mlrs", "- value: mrls"))
    with pytest.raises(ProblemsError) as info:
        load_pack(config, IDLIB)
    (problem,) = info.value.problems
    assert problem.file.endswith("classifier.yaml") and problem.key == "weapon_class[0].value"
    assert "'mrls' is not a weapon_class value" in problem.message
    assert "Did you mean 'mlrs'?" in problem.hint


# --- numbers, deadlines and charging in rules ----------------------------------------------


@pytest.mark.parametrize(("change", "key", "message"), [
    ({"distance_km": {"lte": 20}}, "when.distance_km", "is not a distance condition"),
    ({"distance_km": {"to": "contact_lin", "lte": 20}}, "when.distance_km.to",
     "'contact_lin' is not a zone kind"),
    ({"distance_km": {"to": "contact_line", "below": 20}}, "when.distance_km.below",
     "is not a comparison"),
    ({"distance_km": {"to": "contact_line", "lte": "far"}}, "when.distance_km.lte",
     "needs a distance in km"),
    ({"calibre_mm": 122}, "when.calibre_mm", "calibre_mm is a number: compare it"),
    ({"weapon_class": "tnk"}, "when.weapon_class", "'tnk' is not a value of weapon_class"),
], ids=["no zone", "unknown kind", "bad comparison", "not a number", "number equal",
        "unknown weapon"])
def test_a_numeric_condition_it_cannot_mean_is_a_problem(idlib, change, key, message) -> None:
    rule = rule_of(IDLIB, "MOS-CEASEFIRE")
    rule["when"] = {**rule["when"], **change}
    problems = check_rule(RuleSpec.model_validate(rule), idlib.vocabulary, "rule.yaml")
    assert [(p.key, message in p.message) for p in problems] == [(key, True)]


def test_charged_to_names_roles_and_sides_and_a_deadline_names_a_milestone(idlib) -> None:
    rule = rule_of(IDLIB, "SOC-HEAVY")
    ok = {**rule, "charged_to": ["attacker", "turkey", "zone_responsible"]}
    assert check_rule(RuleSpec.model_validate(ok), idlib.vocabulary, "r") == []
    bad = {**rule, "charged_to": ["attackr", "government_side"], "deadline": "heavy_deadline"}
    problems = check_rule(RuleSpec.model_validate(bad), idlib.vocabulary, "r")
    assert [p.key for p in problems] == ["charged_to[0]", "charged_to[1]", "deadline"]
    assert "Did you mean 'attacker'?" in problems[0].hint
    assert "Did you mean 'heavy_weapons_deadline'?" in problems[2].hint


def report(**fields) -> IncidentReport:
    return IncidentReport.model_validate({"source_id": "t", **fields})


def test_the_distance_to_a_line_decides_along_the_line_and_is_explained(idlib) -> None:
    judge = Evaluator(idlib)
    near = dict(occurred="2020-04-10", attacker="Military Forces of Syria (2000-)",
                target="National Front for Liberation", event_type="shelling")
    _, res, found = judge.evaluate(report(location={"lat": 35.68, "lon": 36.54}, **near))
    (finding,) = [f for f in found if f.term == "MOS-CEASEFIRE"]
    assert 0 < res.distances_km["contact_line"] < 5
    assert any(e.get("condition") == "distance_km to contact_line lte 20"
               and e.get("value") == res.distances_km["contact_line"]
               for e in finding.explanation)
    # the same attack where no zone resolves (a governorate-level location): no distance at all
    _, res, found = judge.evaluate(report(location={"lat": 35.68, "lon": 36.54, "precision": 4},
                                          **near))
    assert res.distances_km == {} and not [f for f in found if f.term == "MOS-CEASEFIRE"]


def test_a_deadline_term_is_judged_on_event_time_and_names_its_deadline(idlib) -> None:
    judge = Evaluator(idlib)
    seen = dict(location={"lat": 35.73, "lon": 37.05}, attacker="National Front for Liberation",
                event_type="presence", weapon_class="tank")

    def heavy(when: str) -> list:
        return [f for f in judge.evaluate(report(occurred=when, **seen))[2]
                if f.term == "SOC-HEAVY"]
    assert heavy("2018-10-10T23:58:00+03:00") == []
    (late,) = heavy("2018-10-10T23:59:00+03:00")
    assert any("deadline heavy_weapons_deadline passed" in str(e.get("condition"))
               for e in late.explanation)


def test_a_side_not_bound_is_never_charged_unless_the_pack_says_bound_by_only_documents(
        tmp_path: Path) -> None:
    strike = report(occurred="2020-07-14", location={"lat": 35.93, "lon": 36.63},
                    attacker="Hayat Tahrir al-Sham", target="Military Forces of Turkey (2016-)",
                    event_type="attack", target_category="patrol")
    config = copy_project(tmp_path)

    def patrol_findings() -> list:
        pack = load_pack(config, IDLIB)
        return [f.charged_to for f in Evaluator(pack).evaluate(strike)[2]
                if f.term == "IDL-PATROL"]
    assert patrol_findings() == []
    spec = config / IDLIB / "pack.yaml"
    spec.write_text(spec.read_text().replace("charge_bound_only: true",
                                             "charge_bound_only: false"))
    assert patrol_findings() == [["hts"]]


# --- include ------------------------------------------------------------------------------


def test_included_actors_are_merged_and_a_clash_is_an_error(idlib, tmp_path: Path) -> None:
    # the 2016 registry's names for Russia and civilians resolve in the Idlib pack
    day = __import__("datetime").date(2019, 5, 5)
    assert idlib.registry.resolve("Military Forces of Russia (2000-)", day).sides == ("russia",)
    assert idlib.registry.resolve("Civilians (Syria)", day).sides == ("civilians",)
    config = copy_project(tmp_path)
    actors = config / IDLIB / "actors.yaml"
    actors.write_text(actors.read_text() + "  - id: russia\n    side: russia\n    aliases:\n"
                      "      - {name: Russian forces in Idlib, source: press}\n")
    with pytest.raises(ProblemsError) as info:
        load_pack(config, IDLIB)
    assert [(p.file.endswith("syria-2016/actors.yaml"), p.key, "is also an actor" in p.message)
            for p in info.value.problems] == [(True, "actors.russia", True)]


def test_an_included_side_that_is_not_mapped_is_named(tmp_path: Path) -> None:
    config = copy_project(tmp_path)
    spec = config / IDLIB / "pack.yaml"
    spec.write_text(spec.read_text().replace(" isil: null,", ""))
    with pytest.raises(ProblemsError) as info:
        load_pack(config, IDLIB)
    assert any("'isil' is not a side" in p.message for p in info.value.problems)


# --- the second pack end to end -------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("idlib") / "ledger.db"
    result = cli("--pack", IDLIB, "import", str(SAMPLE), "--format", "jsonl", db=db)
    assert result.exit_code == 0, result.output
    assert "25 new report(s), 0 already recorded, 0 rejected" in result.output
    return db


def test_the_sample_gives_findings_under_every_term_in_a_real_ledger(ledger_db: Path,
                                                                      idlib) -> None:
    result = cli("--pack", IDLIB, "findings", "--format", "json", "--limit", "0", db=ledger_db)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["term"] for r in rows} == {r.spec.term for r in idlib.rules}
    charged = {(r["term"], ",".join(sorted(r["charged_to"]))) for r in rows}
    assert ("SOC-RADICAL", "turkey") in charged
    assert ("SOC-STATUSQUO", "russia,syrian_government") in charged
    assert all("hts" not in r["charged_to"] for r in rows)
    assert cli("--pack", IDLIB, "ledger", "verify", db=ledger_db).exit_code == 0


def test_a_brief_of_the_second_pack(ledger_db: Path) -> None:
    result = cli("--pack", IDLIB, "report", "--since", "2020-03-01", "--until", "2020-09-30",
                 "--format", "md", db=ledger_db)
    assert result.exit_code == 0, result.output
    assert "Russia–Turkey Idlib arrangements" in result.output
    for term in ("MOS-CEASEFIRE", "MOS-CORRIDOR", "IDL-PATROL"):
        assert f"| {term} | MOS" in result.output or f"| {term} | SOCHI" in result.output


@pytest.mark.parametrize(("since", "until", "unit", "bars"), [
    ("2020-03-01", "2020-04-30", "day", 60),
    ("2020-03-01", "2020-09-30", "week", 31),
    ("2018-09-01", "2020-12-31", "month", 28),
])
def test_a_long_brief_counts_per_week_or_month(ledger_db: Path, since: str, until: str,
                                               unit: str, bars: int) -> None:
    """Two years of the second pack are 28 monthly rows and bars, not 852 daily ones; every
    finding is in one of them."""
    import re

    md = cli("--pack", IDLIB, "report", "--since", since, "--until", until, "--format", "md",
             db=ledger_db)
    assert md.exit_code == 0, md.output
    section = md.output.split(f"## Findings per {unit} and party")[1].split("\n## ")[0]
    rows = [r for r in section.splitlines() if r.startswith("| ") and not r.startswith(
        f"| {unit} |")]
    total = int(re.search(r"\*\*(\d+)\*\* findings", md.output).group(1))
    assert len(rows) == bars and sum(int(r.split("|")[-2]) for r in rows) == total
    html = cli("--pack", IDLIB, "report", "--since", since, "--until", until, db=ledger_db)
    assert html.output.count('<g class="day"') == bars


def test_rules_test_passes_for_the_second_pack() -> None:
    result = cli("--pack", IDLIB, "rules", "test")
    assert result.exit_code == 0, result.output


def test_an_unknown_pack_is_named_with_a_suggestion() -> None:
    result = cli("--pack", "idlib-2018", "config", "check")
    assert result.exit_code == 1
    assert "pack 'idlib-2018' not found" in result.output
    assert "idlib-2018-2020" in result.output


def pack_ids(pack) -> set[str]:
    return {pack.spec.name, *pack.instruments, *pack.sides, *pack.spec.zone_kinds,
            *pack.spec.side_groups, *pack.spec.zone_groups, *pack.spec.milestones,
            *(r.spec.term for r in pack.rules)}


def test_nothing_in_the_code_names_the_second_packs_ids(idlib) -> None:
    # its own ids: those it shares with the first pack are that pack's business
    ids = pack_ids(idlib) - pack_ids(load_pack(CONFIG, "syria-2016"))
    assert {"SOCHI", "hts", "dmz", "contact_line", "SOC-HEAVY"} <= ids
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(ids))) + r")\b")
    hits = [f"{path.relative_to(PROJECT_ROOT)}: {m.group(0)}"
            for path in (PROJECT_ROOT / "monitor").rglob("*.py")
            for m in pattern.finditer(path.read_text(encoding="utf-8"))]
    assert hits == []


def test_an_attack_type_the_pack_declares_counts_over_time_and_in_corroboration(
        tmp_path: Path) -> None:
    """An event type a pack declares as an attack is one for the sequences of terms over time
    and for corroboration, not only for the rules."""
    import datetime as dt

    from monitor.corroborate import ReportFacts, match
    from monitor.patternspec import SequenceSpec
    from monitor.timeline import attack

    config = copy_project(tmp_path)
    path = config / "syria-2016" / "pack.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["vocabulary"]["event_types"].append({"id": "drone_attack", "attack": True})
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    pack = load_pack(config, "syria-2016")

    spec = next(p for p in pack.spec.patterns if isinstance(p, SequenceSpec))
    step = attack(pack, spec.first)
    assert step.matches({"event_type": "drone_attack", "attacker_sides": ["nusra"]})
    assert not step.matches({"event_type": "territory_change", "attacker_sides": ["nusra"]})

    start = dt.datetime(2016, 9, 20, 6, tzinfo=dt.timezone.utc)

    def facts(feed: str, event_type: str) -> ReportFacts:
        return ReportFacts(f"{feed}:1", f"i-{feed}", feed, start, start + dt.timedelta(hours=1),
                           36.2, 37.1, 1, ("russia",), ("coh_opposition",), event_type)

    new, old = facts("rss", "attack"), facts("acled", "drone_attack")
    assert match(new, [old], attack_types=pack.words.attack_types) is not None
    assert match(new, [old]) is None  # the core vocabulary does not know the type


@pytest.mark.parametrize("name", sorted(p.parent.name for p in (PROJECT_ROOT / "config")
                                        .glob("*/pack.yaml")))
def test_the_names_filters_are_checked_against_read_fast_are_the_packs(name: str) -> None:
    """`monitor findings --term/--party/--instrument` checks its filters against names read
    from the pack's files alone (no zones, places or classifier): they are the loaded pack's."""
    from monitor.config import PackNames, pack_names

    assert pack_names(PROJECT_ROOT / "config", name) == PackNames.of(
        load_pack(PROJECT_ROOT / "config", name))
