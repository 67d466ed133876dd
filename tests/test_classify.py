"""The text classifier: vocabulary checks, decisions with their words, and its measured quality
on 200 hand-labelled UCDP headlines (tests/fixtures/README.md)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import get_args

import pytest

from monitor.classify import (
    Classifier,
    ClassifierSpec,
    Decision,
    evaluate,
    load_classifier,
    markdown_table,
)
from monitor.models import EventType, Platform, TargetCategory

ROOT = Path(__file__).resolve().parents[1]
VOCABULARY = ROOT / "config" / "syria-2016" / "classifier.yaml"
GOLD = ROOT / "tests" / "fixtures" / "ucdp_labelled_200.csv"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    loaded, problems = load_classifier(VOCABULARY)
    assert problems == []
    assert loaded is not None
    return loaded


@pytest.fixture(scope="module")
def gold_rows() -> list[dict[str, str]]:
    with GOLD.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


# --- decisions -----------------------------------------------------------------------------

# text, expected (field -> value; only the fields named are checked)
CASES = [
    pytest.param("Government helicopters dropped barrel bombs on the market",
                 {"platform": "helicopter", "target_category": "market", "event_type": "air_strike"},
                 id="barrel-bombs-on-market"),
    pytest.param("Russian warplanes struck a hospital in Idlib",
                 {"platform": "fixed_wing", "target_category": "medical", "event_type": "air_strike"},
                 id="warplanes-hit-hospital"),
    pytest.param("aid convoy hit near Aleppo", {"target_category": "aid"}, id="aid-convoy"),
    pytest.param("clashes between rebels and regime forces in Hama",
                 {"platform": "ground", "target_category": "military", "event_type": "armed_clash"},
                 id="clashes-in-hama"),
    pytest.param("regime shelling on Douma", {"platform": "artillery", "event_type": "shelling"},
                 id="shelling-douma"),
    pytest.param("More than 15 casualties and injuries in raids at Idlib city",
                 {"platform": "aircraft", "event_type": "air_strike"}, id="sohr-raids-at-a-town"),
    pytest.param("On 12 March 2016, Syrian regime helicopters dropped barrel bombs on residential "
                 "buildings in Daraya, killing 3 civilians.",
                 {"platform": "helicopter", "target_category": "residential",
                  "event_type": "air_strike"}, id="acled-note-barrels-on-homes"),
    pytest.param("22 explosive barrels targeted Khan al-Shekh",
                 {"platform": "helicopter", "event_type": "air_strike"}, id="explosive-barrels"),
    pytest.param("A drone strike killed two IS commanders near al-Bab",
                 {"platform": "drone", "target_category": "military", "event_type": "air_strike"},
                 id="drone-strike"),
    pytest.param("Coalition airstrikes kill civilians in al-Raqqa",
                 {"platform": "aircraft", "target_category": "civilians",
                  "event_type": "air_strike"}, id="airstrikes-kill-civilians"),
    pytest.param("Su-24 jets struck Ariha while a UAV circled overhead", {"platform": "fixed_wing"},
                 id="warplanes-outrank-drone"),
    pytest.param("Helicopters and warplanes raid the countryside of Idlib",
                 {"platform": "aircraft"}, id="mixed-fleet-is-aircraft"),
    pytest.param("Shelling hit the field hospital, killing women and children",
                 {"target_category": "medical", "event_type": "shelling"},
                 id="medical-outranks-civilians"),
    pytest.param("Grad rockets fell on the vegetable market", {"platform": "rocket",
                 "target_category": "market", "event_type": "shelling"}, id="grad-on-market"),
    pytest.param("Mortar shells hit a school in Jaramana", {"platform": "mortar",
                 "target_category": "school"}, id="mortar-shells-not-artillery"),
    pytest.param("Warplanes raid on 2 displaced camps near al-Atareb",
                 {"target_category": "idp_camp"}, id="displaced-camps"),
    pytest.param("Fierce battles in Handarat camp", {"target_category": "military"},
                 id="handarat-camp-is-a-place"),
    pytest.param("Continued clashes in Aleppo neighborhoods", {"target_category": "military"},
                 id="clashes-in-neighbourhoods"),
    pytest.param("Shells target Aleppo's neighborhoods kill 10 people",
                 {"target_category": "residential"}, id="shells-on-neighbourhoods"),
    pytest.param("A car bomb exploded near the water station in Jableh",
                 {"platform": "ground", "target_category": "water_power", "event_type": "bombing"},
                 id="car-bomb-water-station"),
    pytest.param("Regime forces captured the village of Tal Sawwan after clashes",
                 {"event_type": "territory_change"}, id="captured-beats-clashes"),
    pytest.param("Regime forces advance in al-Ramousa area",
                 {"platform": "ground", "event_type": "ground_assault"}, id="advance"),
    pytest.param("The UN convoy was turned back at a checkpoint near Madaya",
                 {"target_category": "aid", "event_type": "access_denial"}, id="convoy-turned-back"),
    pytest.param("The Observatory calls to lift the siege of Houla",
                 {"event_type": "access_denial"}, id="siege"),
    pytest.param("Regime shelling on besieged Douma", {"event_type": "shelling"},
                 id="besieged-place-still-shelling"),
    pytest.param("151 were killed yesterday, including 67 civilians martyred in explosions and "
                 "aerial bombardment", {"platform": "unknown", "target_category": "unknown",
                                        "event_type": "attack"}, id="round-up-says-nothing"),
    pytest.param("Aerial bombardment kills 7 in Aleppo;132 people were killed yesterday, "
                 "including 80 martyred by warplanes and helicopters",
                 {"platform": "aircraft", "event_type": "air_strike"},
                 id="round-up-yields-to-other-headline"),
    pytest.param("Human losses in Shekh Maqsoud neighborhood",
                 {"platform": None, "target_category": "residential", "event_type": "attack"},
                 id="means-not-stated"),
    pytest.param("Helicopter carried out a medical evacuation of the wounded from Madaya",
                 {"mission": "medical"}, id="mission-medevac"),
    pytest.param("Buses began the evacuation of fighters from Daraya", {"mission": "evacuation"},
                 id="mission-evacuation"),
    pytest.param("Russian drones flew reconnaissance flights over Idlib",
                 {"mission": "reconnaissance", "platform": "drone"}, id="mission-recon"),
    pytest.param("Syria Daily Report 27/02/2016",
                 {"platform": None, "target_category": None, "event_type": None, "mission": None},
                 id="nothing-said"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_classify(classifier: Classifier, text: str, expected: dict[str, str | None]) -> None:
    result = classifier.classify(text)
    got = {field: getattr(result, field).value for field in expected}
    assert got == expected


def test_words_name_what_decided(classifier: Classifier) -> None:
    result = classifier.classify("Government helicopters dropped barrel bombs on the market")
    assert result.platform.words == ("barrel bombs",)  # barrel bombs outrank "helicopters"
    assert result.platform.note("platform") == "platform=helicopter from the words 'barrel bombs'"
    assert result.target_category.words == ("market",)
    assert "barrel bombs" in result.event_type.words


def test_words_keep_the_original_case_and_every_hit(classifier: Classifier) -> None:
    result = classifier.classify("Warplanes bomb Saraqib; warplanes return at night")
    assert result.platform.value == "fixed_wing"
    assert result.platform.words == ("Warplanes",)  # same word twice is quoted once


def test_hama_is_not_ham(tmp_path: Path) -> None:
    path = tmp_path / "classifier.yaml"
    path.write_text("platform:\n  - {value: ground, patterns: ['ham']}\n", encoding="utf-8")
    loaded, problems = load_classifier(path)
    assert problems == [] and loaded is not None
    assert loaded.classify("clashes in Hama").platform == Decision(None, ())
    assert loaded.classify("a ham sandwich").platform == Decision("ground", ("ham",))


def test_clashes_in_hama_match_no_fragment_of_hama(classifier: Classifier) -> None:
    result = classifier.classify("clashes between rebels and regime forces in Hama")
    words = [w.lower() for field in ("platform", "target_category", "event_type", "mission")
             for w in getattr(result, field).words]
    assert words and all("ham" not in w for w in words)


@pytest.mark.parametrize("text", ["", "   ", "\n"], ids=["empty", "spaces", "newline"])
def test_empty_text_decides_nothing(classifier: Classifier, text: str) -> None:
    result = classifier.classify(text)
    assert all(getattr(result, f) == Decision(None, ()) for f in
               ("platform", "target_category", "event_type", "mission"))
    assert result.notes()[0] == "platform: no words matched"


def test_first_class_in_file_order_wins(tmp_path: Path) -> None:
    path = tmp_path / "classifier.yaml"
    path.write_text(
        "target_category:\n"
        "  - {value: medical, patterns: ['hospital']}\n"
        "  - {value: civilians, patterns: ['civilians', 'hospital staff']}\n",
        encoding="utf-8",
    )
    loaded, _ = load_classifier(path)
    assert loaded is not None
    decision = loaded.classify("civilians and hospital staff killed").target_category
    assert decision == Decision("medical", ("hospital",))


def test_every_shipped_value_is_in_the_model_vocabulary() -> None:
    loaded, problems = load_classifier(VOCABULARY)
    assert problems == [] and loaded is not None
    import yaml

    spec = ClassifierSpec.model_validate(yaml.safe_load(VOCABULARY.read_text(encoding="utf-8")))
    assert spec.platform and spec.target_category and spec.event_type and spec.mission
    assert all(c.note for f in ("platform", "target_category", "event_type", "mission")
               for c in getattr(spec, f)), "every class explains itself"


# --- vocabulary problems -------------------------------------------------------------------

BAD_FILES = [
    pytest.param("platform:\n  - {value: helicoptre, patterns: ['barrel bombs?']}\n",
                 "platform[0].value", "'helicoptre' is not a platform value",
                 "Did you mean 'helicopter'?", id="misspelt-value"),
    pytest.param("platform:\n  - {value: helicopter, patterns: ['(barrel bombs?']}\n",
                 "platform[0].patterns[0]", "in class 'helicopter', '(barrel bombs?' is not a "
                 "valid regular expression", "Close every '('", id="unbalanced-bracket"),
    pytest.param("event_type:\n  - {value: shelling, patterns: ['shell', '*rockets']}\n",
                 "event_type[0].patterns[1]", "in class 'shelling', '*rockets'",
                 "must follow something", id="nothing-to-repeat"),
    pytest.param('platform:\n  - {value: fixed_wing, patterns: ["\\bjets\\b"]}\n',
                 "platform[0].patterns[0]", "backspace", "single quotes", id="double-quoted-\\b"),
    pytest.param("platform:\n  - {value: drone, patterns: ['(drones)?']}\n",
                 "platform[0].patterns[0]", "matches the empty text", "required",
                 id="matches-everything"),
    pytest.param("platform:\n  - {value: drone, patterns: ['(?P<kind>drone)s?']}\n",
                 "platform[0].patterns[0]", "named group", "(?:...)", id="named-group"),
    pytest.param("platfrom:\n  - {value: drone, patterns: ['drones?']}\n",
                 "platfrom", "is not a known field", "Did you mean 'platform'?", id="misspelt-field"),
    pytest.param("platform:\n  - {value: drone, patterns: ['drones?'], notes: x}\n",
                 "platform[0].notes", "is not a known field", "Did you mean 'note'?",
                 id="misspelt-class-key"),
    pytest.param("platform:\n  - {value: drone, patterns: []}\n",
                 "platform[0].patterns", "at least 1", "", id="no-patterns"),
    pytest.param("segment_separator: '['\n", "segment_separator", "not a valid regular expression",
                 "Close '['", id="bad-separator"),
    pytest.param("platform: [\n", "line 2, column 1", "is not valid YAML", "", id="broken-yaml"),
    pytest.param("- just a list\n", "", "must be a mapping", "", id="not-a-mapping"),
]


@pytest.mark.parametrize(("content", "key", "message", "hint"), BAD_FILES)
def test_vocabulary_problems_are_reported_with_a_hint(
    tmp_path: Path, content: str, key: str, message: str, hint: str
) -> None:
    path = tmp_path / "classifier.yaml"
    path.write_text(content, encoding="utf-8")
    loaded, problems = load_classifier(path, file_label="config/test/classifier.yaml")
    assert loaded is None
    assert len(problems) == 1, problems
    problem = problems[0]
    assert (problem.file, problem.key) == ("config/test/classifier.yaml", key)
    assert message in problem.message
    assert hint in problem.hint
    assert str(problem).startswith("config/test/classifier.yaml: ")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "classifier.yaml"
    path.write_text(
        "platform:\n"
        "  - {value: helicoptre, patterns: ['barrel bombs?']}\n"
        "  - {value: drone, patterns: ['drones?', '[uav']}\n"
        "mision: []\n",
        encoding="utf-8",
    )
    _, problems = load_classifier(path)
    assert [p.key for p in problems] == ["platform[0].value", "platform[1].patterns[1]", "mision"]


# --- measurement ---------------------------------------------------------------------------


def test_gold_set_is_well_formed(gold_rows: list[dict[str, str]]) -> None:
    assert len(gold_rows) == 200
    assert len({r["id"] for r in gold_rows}) == 200
    assert all("2016-02-27" <= r["date_start"] <= "2016-10-31" for r in gold_rows)
    for field, vocabulary in (("platform", Platform), ("target_category", TargetCategory),
                              ("event_type", EventType)):
        assert {r[field] for r in gold_rows} <= set(get_args(vocabulary)), field


def test_evaluate_counts_precision_recall_and_agreement_on_unknown() -> None:
    spec = ClassifierSpec.model_validate(
        {"platform": [{"value": "helicopter", "patterns": ["barrel bombs?"]},
                      {"value": "artillery", "patterns": ["shelling"]}]})
    rows = [
        {"id": "1", "source_headline": "barrel bombs on Daraya", "platform": "helicopter"},
        {"id": "2", "source_headline": "shelling and barrel bombs", "platform": "artillery"},
        {"id": "3", "source_headline": "shelling on Douma", "platform": "artillery"},
        {"id": "4", "source_headline": "losses in Homs", "platform": "unknown"},
        {"id": "5", "source_headline": "losses in Hama", "platform": "rocket"},
    ]
    report = evaluate(Classifier.from_spec(spec), rows, fields=["platform"])["platform"]
    assert report["classes"]["helicopter"] == {"precision": 0.5, "recall": 1.0, "support": 1,
                                               "predicted": 2, "correct": 1}
    assert report["classes"]["artillery"]["recall"] == 0.5
    assert report["classes"]["rocket"]["precision"] is None  # never predicted
    assert report["classes"]["unknown"] == {"precision": 0.5, "recall": 1.0, "support": 1,
                                            "predicted": 2, "correct": 1}
    assert report["micro"] == {"precision": 2 / 3, "recall": 0.5, "predicted": 3, "support": 4,
                               "correct": 2}
    assert report["accuracy"] == 3 / 5
    assert ("2", "artillery", "helicopter", ("barrel bombs",)) in report["mistakes"]
    assert "| `helicopter` | 0.50 | 1.00 | 1 | 2 |" in markdown_table(report, "platform")


# Floors are what the vocabulary achieves on the gold set (measured: platform micro precision
# 0.71, recall 0.82, accuracy 0.79; target category 0.73 / 0.84 / 0.82; event type accuracy
# 0.76), rounded down. Most remaining errors are headlines reporting several incidents whose
# label depends on the row's place, which the text classifier does not see (README).
FLOORS = [
    pytest.param("platform", "precision", 0.70, id="platform-micro-precision"),
    pytest.param("platform", "recall", 0.80, id="platform-micro-recall"),
    pytest.param("platform", "accuracy", 0.78, id="platform-accuracy"),
    pytest.param("target_category", "precision", 0.72, id="target-micro-precision"),
    pytest.param("target_category", "recall", 0.82, id="target-micro-recall"),
    pytest.param("target_category", "accuracy", 0.80, id="target-accuracy"),
    pytest.param("event_type", "accuracy", 0.74, id="event-type-accuracy"),
]


@pytest.mark.parametrize(("field", "measure", "floor"), FLOORS)
def test_quality_on_hand_labelled_ucdp_headlines(
    classifier: Classifier, gold_rows: list[dict[str, str]], field: str, measure: str,
    floor: float,
) -> None:
    report = evaluate(classifier, gold_rows)[field]
    value = report["accuracy"] if measure == "accuracy" else report["micro"][measure]
    assert value >= floor, markdown_table(report, field)


def test_critical_classes_are_found(classifier: Classifier, gold_rows: list[dict[str, str]]
                                    ) -> None:
    """Medical targets (critical under MAY-CIV) and helicopters (JIG-SAAF) are never missed."""
    report = evaluate(classifier, gold_rows)
    assert report["target_category"]["classes"]["medical"]["recall"] == 1.0
    assert report["platform"]["classes"]["helicopter"]["recall"] == 1.0


def test_a_typographic_apostrophe_reads_as_the_plain_one(classifier: Classifier) -> None:
    """UCDP writes "regime’s": patterns written with "'" match it, and the words quoted are
    the text's own."""
    decision = classifier.classify("A massacre by the regime’s warplanes in Aleppo").fired_by
    assert decision.value == "syrian_government"
    assert decision.words == ("regime’s warplanes",)


@pytest.mark.parametrize(("text", "hit"), [
    ("Shells target regime forces' controlled areas in Aleppo", "syrian_government"),
    ("Rebels shelled government-held Hamidiyah", "syrian_government"),
    ("Warplanes target a meeting of Jund al-Aqsa and the Al-Nusra Front", "nusra"),
    ("Warplanes target Jund al-Aqsa and Jabhat al-Nusra meeting in Idlib countryside", "nusra"),
    # where Nusra is, not whom the strike hit
    ("Warplanes target Idlib, where the Nusra Front is present", None),
    ("Regime forces shell Daraya", None),
])
def test_the_side_that_was_hit(classifier: Classifier, text: str, hit: str | None) -> None:
    """TERMS.md §4 "Target": the words that say which side was hit."""
    assert classifier.classify(text).hit_side.value == hit


def test_a_hit_side_that_is_not_a_side_is_a_load_problem(tmp_path: Path) -> None:
    from monitor.config import load_pack
    from monitor.problems import ProblemsError
    from tests.conftest import copy_project

    config = copy_project(tmp_path)
    path = config / "syria-2016" / "classifier.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("  - value: nusra\n    note: \"the "
                                                             "Nusra Front named as hit\"",
                                                             "  - value: nusr\n    note: \"x\""))
    with pytest.raises(ProblemsError, match=r"hit_side\[1\]\.value: 'nusr'.*Did you mean 'nusra'"):
        load_pack(config, "syria-2016")


@pytest.mark.parametrize(("text", "fired"), [
    ("IS shells kill 7 civilians in Der-Ezzor", "isil"),
    ("IS shells and air strikes leave martyrs and wounded", "isil"),
    ("The town is shelled by unknown forces", None),
])
def test_the_islamic_state_abbreviated_is_named_as_firing(classifier: Classifier, text: str,
                                                          fired: str | None) -> None:
    assert classifier.classify(text).fired_by.value == fired


@pytest.mark.parametrize(("text", "fired"), [
    ("Areas in the countryside of Latakia are targeted by the regime forces", "syrian_government"),
    ("3 martyrs in the targeting of Zabadani by the regime forces", "syrian_government"),
    ("Regime forces carry out a new attack in Eastern Ghouta", "syrian_government"),
    ("Rebels devastate a tank and 3 vehicles for regime forces in Aleppo",
     "coh_opposition+nusra+other_opposition"),
    ("ISIS detonate two booby-trapped bombs", "isil"),
    # a place, not an act of the regime
    ("More than 11 martyrs due to shells targeting regime control areas in Aleppo", None),
    ("Tens of shells land on regime controlled areas in the city of Aleppo", None),
])
def test_who_fired_in_other_words(classifier: Classifier, text: str, fired: str | None) -> None:
    assert classifier.classify(text).fired_by.value == fired


def test_a_repeated_text_is_classified_once_and_the_same(classifier: Classifier) -> None:
    """Feeds repeat texts: the decision is kept, and it is the decision of the text."""
    text = "Warplanes target a meeting of Jund al-Aqsa and the Al-Nusra Front"
    first = classifier.classify(text)
    assert classifier.classify(text) is first
    assert classifier.classify(text.upper()) == classifier._classify(text.upper())


@pytest.mark.parametrize(("text", "category"), [
    ("Hundreds of civilians flee Manbij city and ISIS detonate 6 booby trapped vehicles",
     "unknown"),
    ("Warplanes kill 4 civilians in Kafr Nabl", "civilians"),
    ("Civilians killed as they fled the shelling", "civilians"),
])
def test_civilians_fleeing_are_not_what_was_hit(classifier: Classifier, text: str,
                                                category: str) -> None:
    decision = classifier.classify(text).target_category
    assert (decision.value or "unknown") == category
