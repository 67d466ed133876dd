"""The evaluation set: the monitor's verdicts against rows labelled blind (TERMS.md revision 2).

The floors are the figures measured at this revision (README "Measured accuracy"): a change
that makes the verdicts worse fails here. The issue's targets are higher; raise the floors as
the verdicts improve.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import main
from monitor.config import Pack
from monitor.evaluate import (
    agreement,
    DEFAULT_LABELS,
    DEFAULT_SOURCES,
    LabelsError,
    evaluate,
    parse_expected,
    read_labels,
)
from monitor.service import Evaluator

EVAL = Path(__file__).parent / "fixtures" / "eval"


@pytest.fixture(scope="module")
def result(pack: Pack):  # type: ignore[no-untyped-def]
    return evaluate(Evaluator(pack), read_labels(DEFAULT_LABELS), DEFAULT_SOURCES).as_dict()


@pytest.fixture(scope="module")
def held_out(pack: Pack):  # type: ignore[no-untyped-def]
    labels = read_labels([EVAL / "labels_holdout.csv"])
    return evaluate(Evaluator(pack), labels, DEFAULT_SOURCES).as_dict()


def test_the_set_is_large_and_labels_every_sampled_row() -> None:
    labels = read_labels(DEFAULT_LABELS)
    with (EVAL / "sample.csv").open(encoding="utf-8", newline="") as fh:
        sample = [(r["feed"], r["source_id"]) for r in csv.DictReader(fh)]
    assert len(labels) >= 400 and [(l.feed, l.source_id) for l in labels] == sample
    assert {l.feed for l in labels} == {"ucdp", "acled"}
    assert all(l.reason for l in labels)


def test_overall_precision_and_recall_do_not_regress(result) -> None:  # type: ignore[no-untyped-def]
    overall = result["overall"]
    assert overall["precision"] >= 0.93 and overall["recall"] >= 0.92, overall
    assert overall["charged_to_accuracy"] >= 0.98, overall


def test_the_held_out_set_does_not_regress(held_out) -> None:  # type: ignore[no-untyped-def]
    """163 rows labelled after the vocabulary was tuned on the development set."""
    assert held_out["rows"] == 163
    overall = held_out["overall"]
    assert overall["precision"] >= 0.94 and overall["recall"] >= 0.94, overall
    assert overall["charged_to_accuracy"] >= 0.95, overall
    assert held_out["confidence"]["medium"]["share_right"] >= 0.85


def test_confidence_grades_mean_something(result) -> None:  # type: ignore[no-untyped-def]
    grades = result["confidence"]
    assert grades["high"]["share_right"] >= 0.95, grades  # the target
    assert grades["medium"]["share_right"] >= 0.90, grades  # the issue's: 0.80
    assert grades["high"]["share_right"] > grades["medium"]["share_right"] > (
        grades["low"]["share_right"])
    assert result["critical"]["share_right"] >= 0.90  # the target


def test_clashes_are_not_charged_to_a_side(result) -> None:  # type: ignore[no-untyped-def]
    clash = result["terms"]["COH-CLASH"]
    assert clash["recall"] >= 0.85 and clash["charged_to_accuracy"] == 1.0


def test_expected_findings_parse_and_bad_ones_name_the_line(tmp_path: Path) -> None:
    assert parse_expected("COH-GOV=syrian_government; COH-CLASH=-", "x") == {
        "COH-GOV": frozenset({"syrian_government"}), "COH-CLASH": frozenset()}
    assert parse_expected("MAY-CIV=russia+syrian_government", "x") == {
        "MAY-CIV": frozenset({"russia", "syrian_government"})}
    bad = tmp_path / "labels.csv"
    bad.write_text("feed,source_id,expected,aggregate,reason\nucdp,1,COH-GOV,no,x\n")
    with pytest.raises(LabelsError, match="line 2: 'COH-GOV' is not TERM=CHARGED"):
        read_labels([bad])


def test_the_command_prints_the_table_and_the_mistakes() -> None:
    out = CliRunner().invoke(main, ["rules", "evaluate", "--mistakes"])
    assert out.exit_code == 0, out.output
    assert "| **all** |" in out.output and "| high |" in out.output
    assert "expected" in out.output and "label:" in out.output
    missing = CliRunner().invoke(main, ["rules", "evaluate", "--source", "ucdp"])
    assert missing.exit_code != 0 and "FEED=FILE" in missing.output


def test_the_final_set_does_not_regress(pack: Pack) -> None:  # type: ignore[no-untyped-def]
    """125 rows labelled at the end and measured once, blind: 0.91 / 0.83 (README)."""
    labels = read_labels([EVAL / "labels_final.csv"])
    overall = evaluate(Evaluator(pack), labels, DEFAULT_SOURCES).as_dict()["overall"]
    assert len(labels) == 125
    # 0.92: "rocket shells target regime-controlled neighborhoods" (UCDP 318526) is directed
    # since both fifth-set labellers read such words so; this set's labeller read a clash
    assert overall["precision"] >= 0.92 and overall["recall"] >= 0.85, overall


def test_the_two_labellers_of_the_development_set_agree() -> None:
    """120 rows labelled twice, blind: the labels are consistent enough to measure against."""
    score = agreement(read_labels(DEFAULT_LABELS), read_labels([EVAL / "labels_double.csv"]))
    assert score.expected >= 80
    assert score.precision >= 0.95 and score.recall >= 0.95  # type: ignore[operator]
    assert score.charged_right / score.hit >= 0.95


def test_two_labellers_agreement_is_scored_as_the_monitor_is(tmp_path: Path) -> None:
    header = "feed,source_id,expected,aggregate,reason\n"
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text(header + "ucdp,1,COH-GOV=syrian_government; MAY-CIV=russia+syrian_government,"
                     "no,x\nucdp,2,COH-CLASH=-,no,y\nucdp,3,,no,z\n")
    second.write_text(header + "ucdp,1,COH-GOV=russia+syrian_government,no,x\n"
                      "ucdp,2,COH-CLASH=-,no,y\nucdp,4,COH-CLASH=-,no,w\n")
    score = agreement(read_labels([first]), read_labels([second]))
    # rows 1-2 in both; row 3 only in the first (no findings), row 4 only in the second
    assert (score.expected, score.predicted, score.hit, score.charged_right) == (3, 2, 2, 1)
    assert score.precision == 1.0 and score.recall == pytest.approx(2 / 3)


def test_the_fourth_set_labelled_last_does_not_regress(pack: Pack) -> None:  # type: ignore[no-untyped-def]
    """154 rows drawn and labelled blind after the other sets had been used (README: 0.75 /
    0.84 when first measured; the labeller read a UCDP dyad's target the other way)."""
    labels = read_labels([EVAL / "labels_blind.csv"])
    overall = evaluate(Evaluator(pack), labels, DEFAULT_SOURCES).as_dict()["overall"]
    assert len(labels) == 154
    assert overall["precision"] >= 0.78 and overall["recall"] >= 0.87, overall


def test_the_fifth_set_labelled_twice_does_not_regress(pack: Pack) -> None:  # type: ignore[no-untyped-def]
    """167 rows of the whole year, labelled blind by two analysts independently (README: A 0.85
    / 0.81 and B 0.68 / 0.80 when first measured; B read a UCDP dyad's target as unknown)."""
    evaluator = Evaluator(pack)
    floors = {"labels_fifth_a.csv": (0.88, 0.89), "labels_fifth_b.csv": (0.70, 0.89)}
    for name, (precision, recall) in floors.items():
        labels = read_labels([EVAL / name])
        overall = evaluate(evaluator, labels, DEFAULT_SOURCES).as_dict()["overall"]
        assert len(labels) == 167
        assert overall["precision"] >= precision and overall["recall"] >= recall, (name, overall)


def test_the_fifth_sets_two_labellers_agree_less_than_the_target() -> None:
    """Two blind labellers of the same 167 rows agree at 0.92 / 0.74 (README): a figure the
    monitor's precision and recall against either of them cannot be expected to beat."""
    score = agreement(read_labels([EVAL / "labels_fifth_a.csv"]),
                      read_labels([EVAL / "labels_fifth_b.csv"]))
    assert score.expected == 62 and score.predicted == 50
    assert score.hit == 46
