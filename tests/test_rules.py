"""Every rule's case suite runs here (and under `monitor rules test`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.casesuite import load_cases, run_case
from monitor.config import PROJECT_ROOT, load_pack
from monitor.service import Evaluator
from tests.conftest import copy_project

CONFIG = PROJECT_ROOT / "config"
# every pack shipped: a folder of config/ with a pack.yaml
PACKS = {p.name: load_pack(CONFIG, p.name)
         for p in sorted(CONFIG.iterdir()) if (p / "pack.yaml").is_file()}
PACK = PACKS["syria-2016"]
CASES = [(name, rule, case) for name, pack in PACKS.items() for rule in pack.rules
         for case in load_cases(rule)[0]]
RULES = [(name, rule) for name, pack in PACKS.items() for rule in pack.rules]
SINGLE_INCIDENT_TERMS = {"COH-GOV", "COH-OPP", "COH-LAND", "COH-HUM", "MAY-CIV", "JIG-SAAF",
                         "JIG-AREA", "JIG-COORD", "SEP-CASTELLO"}


@pytest.fixture(scope="module")
def judges() -> dict[str, Evaluator]:
    return {name: Evaluator(pack) for name, pack in PACKS.items()}


def test_more_than_one_pack_is_shipped_and_each_has_rules() -> None:
    assert len(PACKS) >= 2
    assert all(pack.rules for pack in PACKS.values())


@pytest.mark.parametrize(("pack", "rule", "case"), CASES,
                         ids=[f"{p}/{r.spec.term}: {c.name}" for p, r, c in CASES])
def test_case(judges: dict[str, Evaluator], pack: str, rule, case) -> None:
    result = run_case(judges[pack], rule, case)
    assert result.passed, result.detail


@pytest.mark.parametrize(("pack", "rule"), RULES, ids=[f"{p}/{r.spec.term}" for p, r in RULES])
def test_every_rule_has_a_suite_with_a_violation_and_a_compliant_case(pack: str, rule) -> None:
    cases, error = load_cases(rule)
    assert error is None, error
    assert any(c.expect for c in cases), f"{rule.spec.term}: no violating case"
    assert any(not c.expect for c in cases), f"{rule.spec.term}: no compliant case"


def test_the_pack_has_a_rule_for_every_single_incident_term() -> None:
    assert {r.spec.term for r in PACK.rules} >= SINGLE_INCIDENT_TERMS


def test_a_rule_without_a_suite_fails(tmp_path: Path) -> None:
    import shutil

    from monitor.casesuite import run_suites

    shutil.copytree(CONFIG, tmp_path / "config")
    shutil.copytree(PROJECT_ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules/syria-2016/COH-GOV/cases.yaml").unlink()
    pack = load_pack(tmp_path / "config", "syria-2016")
    failed = [r for r in run_suites(Evaluator(pack)) if not r.passed]
    assert [r.term for r in failed] == ["COH-GOV"]
    assert "no cases.yaml" in failed[0].detail


def test_rule_version_is_the_hash_of_its_file() -> None:
    import hashlib

    for rule in PACK.rules:
        assert rule.version == "sha256:" + hashlib.sha256(rule.path.read_bytes()).hexdigest()


def test_a_branch_cannot_replace_a_condition_of_when() -> None:
    """rules/README: every condition must hold. A branch repeating a `when` key would drop
    the `when` condition for that branch (a strike far behind a line counted): a problem."""
    import yaml

    from monitor.models import RuleSpec
    from monitor.rules import check_rule

    hum = yaml.safe_load((PROJECT_ROOT / "rules" / "syria-2016" / "COH-HUM" / "rule.yaml")
                         .read_text())
    hum["any"][1]["when"]["attacker_side"] = ["nusra"]  # would widen who can break COH-HUM
    problems = check_rule(RuleSpec.model_validate(hum), PACK.vocabulary, "COH-HUM/rule.yaml")
    assert [(p.key, "repeats the condition when.attacker_side" in p.message) for p in problems
            ] == [("any[1].when.attacker_side", True)]
    assert check_rule(RuleSpec.model_validate(yaml.safe_load(
        (PROJECT_ROOT / "rules" / "syria-2016" / "COH-HUM" / "rule.yaml").read_text())),
        PACK.vocabulary, "COH-HUM/rule.yaml") == []


def test_an_instrument_without_an_end_is_in_force_until_further_notice(tmp_path: Path) -> None:

    from monitor.models import IncidentReport

    copy_project(tmp_path)
    strike = IncidentReport.model_validate({
        "feed": "manual", "source_id": "later", "occurred": "2017-03-01",
        "attacker": "Syrian air force", "target": "civilians", "event_type": "air_strike",
        "target_category": "market", "location": {"lat": 36.136, "lon": 36.830}})

    def terms() -> set[str]:
        pack = load_pack(tmp_path / "config", "syria-2016")
        return {f.term for f in Evaluator(pack).evaluate(strike)[2]}
    assert "MAY-CIV" not in terms()  # MAY ended on 3 Oct 2016
    instruments = tmp_path / "config" / "syria-2016" / "instruments.yaml"
    text = instruments.read_text()
    may = text.index("  - id: MAY")
    instruments.write_text(text[:may] + text[may:].replace(
        "    end: 2016-10-03T23:59:00+03:00\n", "", 1))
    assert "MAY-CIV" in terms()
