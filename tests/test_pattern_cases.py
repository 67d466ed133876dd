"""Patterns as data: the declarations of pack.yaml are checked when the pack loads, each shipped
pattern has a case suite that passes, and a pack without patterns works end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import PROJECT_ROOT, load_pack
from monitor.patterncases import Case, check_case, load_suite, suite_files
from monitor.problems import ProblemsError
from tests.conftest import copy_project

PACKS = sorted(p.parent.name for p in (PROJECT_ROOT / "config").glob("*/pack.yaml"))


def all_cases() -> list:
    out = []
    for name in PACKS:
        pack = load_pack(PROJECT_ROOT / "config", name)
        for path in suite_files(pack):
            suite, spec, problems = load_suite(path, pack)
            assert not problems, problems
            out += [pytest.param(pack, spec, case, id=f"{name}/{suite.pattern}/{case.name}")
                    for case in suite.cases]
    return out


@pytest.mark.parametrize(("pack", "spec", "case"), all_cases())
def test_pattern_case(pack, spec, case) -> None:
    assert check_case(case, spec, pack) == []


@pytest.mark.parametrize("name", PACKS)
def test_every_declared_pattern_has_a_case_suite(name: str) -> None:
    pack = load_pack(PROJECT_ROOT / "config", name)
    tested = {load_suite(p, pack)[0].pattern for p in suite_files(pack)}
    assert {p.name for p in pack.spec.patterns} == tested


def test_a_case_that_expects_the_wrong_thing_fails(pack) -> None:
    """The suites can fail: the same incidents with a wrong expectation are reported."""
    path = pack.folder / "patterns" / "cycle_of_excuses.cases.yaml"
    suite, spec, _ = load_suite(path, pack)
    case = suite.cases[0]
    wrong = Case.model_validate({**case.model_dump(exclude_unset=True),
                                 "expect": {"alerts": []}})
    (message,) = check_case(wrong, spec, pack)
    assert "alerts expected []" in message and "'incidents'" in message
    calm_suite, calm, _ = load_suite(pack.folder / "patterns" / "SEP-CALM.cases.yaml", pack)
    late = Case.model_validate({"name": "wrong", "expect": {"met_on": 8}})
    assert check_case(late, calm, pack) == ["wrong: met_on expected 8, got 7"]


def edited_pack(tmp_path: Path, edit) -> Path:
    """A copy of the project whose 2016 pack.yaml went through ``edit(data)``."""
    config = copy_project(tmp_path)
    path = config / "syria-2016" / "pack.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return config


def problems_of(config: Path) -> list[str]:
    with pytest.raises(ProblemsError) as err:
        load_pack(config, "syria-2016")
    return [str(p) for p in err.value.problems]


@pytest.mark.parametrize(("where", "value", "key", "hint"), [
    pytest.param(("then", "attackers", 0), "goverment_side",
                 "patterns[2].then.attackers[0]", "Did you mean 'government_side'?",
                 id="unknown-side-group"),
    pytest.param(("first", "attackers", 0), "nusr", "patterns[2].first.attackers[0]",
                 "Did you mean 'nusra'?", id="unknown-side"),
    pytest.param(("then", "zones", 1), "mixd", "patterns[2].then.zones[1]",
                 "Did you mean 'mixed'?", id="unknown-zone-kind"),
    pytest.param(("then", "targets", 0), "coh_oposition", "patterns[2].then.targets[0]",
                 "Did you mean 'coh_opposition'?", id="unknown-target"),
])
def test_an_unknown_name_in_a_sequence_is_named_with_its_field(tmp_path, where, value, key,
                                                                hint) -> None:
    def edit(data):
        step = data["patterns"][2][where[0]]
        step[where[1]][where[2]] = value
    (problem,) = problems_of(edited_pack(tmp_path, edit))
    assert problem.startswith("config/syria-2016/pack.yaml: " + key + ": ")
    assert repr(value) in problem and problem.endswith(hint)


def test_an_unknown_instrument_of_a_calm_counter_is_named(tmp_path) -> None:
    def edit(data):
        data["patterns"][0]["instrument"] = "SEPT"
        data["patterns"][0]["counts"][1] = "MAYY"
    problems = problems_of(edited_pack(tmp_path, edit))
    assert problems == [
        "config/syria-2016/pack.yaml: patterns[0].instrument: 'SEPT' is not an instrument. "
        "Did you mean 'SEP'?",
        "config/syria-2016/pack.yaml: patterns[0].counts[1]: 'MAYY' is not an instrument. "
        "Did you mean 'MAY'?"]


@pytest.mark.parametrize(("edit", "expected"), [
    pytest.param(lambda d: d.update(patterns={"calm_instrument": "SEP", "calm_days": 21}),
                 "patterns: must be a list of declarations", id="the-old-mapping"),
    pytest.param(lambda d: d["patterns"][1].update(kind="burst"),
                 "patterns[1]: Input tag 'burst' found using 'kind' does not match",
                 id="unknown-kind"),
    pytest.param(lambda d: d["patterns"][1].update(threshhold=4),
                 "patterns[1].escalation.threshhold: is not a known field", id="typo"),
    pytest.param(lambda d: d["patterns"][1].update(name="cycle_of_excuses"),
                 "patterns[2].name: 'cycle_of_excuses' is declared twice", id="same-name"),
    pytest.param(lambda d: d["display"]["zone_colours"].update(oposition="#000000"),
                 "display.zone_colours.oposition: 'oposition' is not a zone kind. Did you "
                 "mean 'opposition'?", id="colour-of-an-unknown-kind"),
    pytest.param(lambda d: d["display"]["zone_colours"].update(mixed="purple"),
                 "display.zone_colours.mixed: String should match pattern", id="bad-colour"),
])
def test_bad_declarations_are_refused_with_their_field(tmp_path, edit, expected) -> None:
    problems = problems_of(edited_pack(tmp_path, edit))
    assert any(expected in p for p in problems), problems


UCDP_ROWS = PROJECT_ROOT / "tests" / "fixtures" / "ucdp_labelled_200.csv"


def test_a_pack_without_patterns_records_no_calm_days_and_no_alerts(tmp_path) -> None:
    """Nothing breaks without patterns: import, calm, alerts, a brief, Datasette's metadata."""
    def edit(data):
        del data["patterns"]
    config = edited_pack(tmp_path, edit)
    pack = load_pack(config, "syria-2016")
    assert pack.spec.patterns == []
    db = tmp_path / "ledger.db"
    run = CliRunner()
    common = ["--config", str(config), "--db", str(db)]
    ged = PROJECT_ROOT / "feeds" / "data" / "ged_syria_2016.csv"
    sample = tmp_path / "september.csv"
    lines = ged.read_text(encoding="utf-8").splitlines()
    sample.write_text("\n".join([lines[0]] + [x for x in lines[1:] if ",2016-09-1" in x][:300])
                      + "\n", encoding="utf-8")
    result = run.invoke(main, [*common, "import", str(sample), "--format", "ucdp"])
    assert result.exit_code == 0, result.output
    result = run.invoke(main, [*common, "calm"])
    assert result.exit_code == 0 and "declares no calm counter" in result.output
    result = run.invoke(main, [*common, "alerts", "--format", "json"])
    assert result.exit_code == 0 and result.output.strip() == "[]"
    result = run.invoke(main, [*common, "report", "--since", "2016-09-12", "--until",
                               "2016-09-19", "--format", "md"])
    assert result.exit_code == 0, result.output
    assert "Calm count" not in result.output and "findings on" in result.output


def test_rules_test_runs_the_pattern_suites_and_fails_on_a_wrong_case(tmp_path: Path) -> None:
    config = copy_project(tmp_path)
    good = CliRunner().invoke(main, ["--config", str(config), "rules", "test"])
    assert good.exit_code == 0, good.output
    assert "ok SEP-CALM: no finding meets the condition on day 7" in good.output
    suite = config / "syria-2016" / "patterns" / "SEP-CALM.cases.yaml"
    text = suite.read_text(encoding="utf-8")
    suite.write_text(text.replace("expect: {breach_days: [], met_on: 7}",
                                  "expect: {breach_days: [], met_on: 8}", 1), encoding="utf-8")
    bad = CliRunner().invoke(main, ["--config", str(config), "rules", "test"])
    assert bad.exit_code != 0
    assert "FAIL SEP-CALM: no finding meets the condition on day 7" in bad.output
