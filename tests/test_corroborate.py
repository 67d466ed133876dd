"""Corroboration: matching reports across feeds, independence of sources, confidence scoring.

Places are real: Kafr Nabl (35.614, 36.562), Maarat al-Numan (35.648, 36.672, about 10.6 km
east of Kafr Nabl), Atareb (36.136, 36.830). Day-dated reports span the local Damascus day
(+03:00 in August 2016), as resolve.time_window gives them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools

import pytest

from monitor import geo
from monitor.corroborate import (
    Evidence,
    ReportFacts,
    count_independent,
    independent,
    match,
    score,
)

DAMASCUS = dt.timezone(dt.timedelta(hours=3))
UTC = dt.UTC
KAFR_NABL = (35.614, 36.562)
NEAR_KAFR_NABL = (35.641, 36.562)  # 3.0 km north
FAR_NORTH = (35.722, 36.562)  # 12.0 km north
MAARAT_AL_NUMAN = (35.648, 36.672)
ATAREB = (36.136, 36.830)


def day(y: int, m: int, d: int) -> tuple[dt.datetime, dt.datetime]:
    """The window of a day-dated report: the local day, in UTC."""
    start = dt.datetime(y, m, d, tzinfo=DAMASCUS)
    return start.astimezone(UTC), (start + dt.timedelta(days=1)).astimezone(UTC)


def at(iso: str) -> tuple[dt.datetime, dt.datetime]:
    """The window of a report given to the minute."""
    start = dt.datetime.fromisoformat(iso).astimezone(UTC)
    return start, start + dt.timedelta(minutes=1)


def report(key: str, feed: str, where: tuple[float, float] | None = KAFR_NABL,
           when: tuple[dt.datetime, dt.datetime] | None = None, *, incident: str | None = None,
           precision: int | None = 1, attackers: tuple[str, ...] = ("syrian_government",),
           targets: tuple[str, ...] = ("civilians",), event_type: str = "air_strike",
           sources: tuple[str, ...] = ()) -> ReportFacts:
    start, end = when or day(2016, 8, 10)
    return ReportFacts(
        report_key=key, incident_id=incident or f"i-{key}", feed=feed, start=start, end=end,
        lat=where[0] if where else None, lon=where[1] if where else None,
        precision=precision if where else None, attacker_sides=attackers,
        target_sides=targets, event_type=event_type, sources=sources)


# The same air strike on Kafr Nabl: UCDP dates it to the day, ACLED gives 14:00 local, 3 km off.
UCDP = report("ucdp:1:1", "ucdp", KAFR_NABL, day(2016, 8, 10))
ACLED = report("acled:9:1", "acled", NEAR_KAFR_NABL, at("2016-08-10T14:00+03:00"))


# --- matching ------------------------------------------------------------------------------


def test_same_strike_from_two_feeds_matches_and_says_why() -> None:
    found = match(ACLED, [UCDP])
    assert found is not None
    assert (found.incident_id, found.report_key) == ("i-ucdp:1:1", "ucdp:1:1")
    assert found.distance_km == pytest.approx(3.0, abs=0.05)
    for criterion in ("different feeds (acled, ucdp)", "event windows overlap",
                      "location precisions 1 and 1", "3.0 km apart (at most 10 km)",
                      "attacker sides compatible", "target sides compatible",
                      "event types compatible (air_strike / air_strike)"):
        assert criterion in found.reason


def test_distance_is_haversine() -> None:
    assert geo.distance_km(*KAFR_NABL, *MAARAT_AL_NUMAN) == pytest.approx(10.6, abs=0.1)
    assert geo.distance_km(*KAFR_NABL, *ATAREB) == pytest.approx(62.9, abs=0.1)


@pytest.mark.parametrize("new, why", [
    pytest.param(dataclasses.replace(ACLED, feed="ucdp"), "same feed", id="same-feed"),
    pytest.param(dataclasses.replace(ACLED, lat=FAR_NORTH[0]), "12 km > 10 km", id="12-km-apart"),
    pytest.param(dataclasses.replace(ACLED, lat=MAARAT_AL_NUMAN[0], lon=MAARAT_AL_NUMAN[1]),
                 "Maarat al-Numan, 10.6 km", id="neighbouring-town"),
    pytest.param(report("acled:9:1", "acled", NEAR_KAFR_NABL, at("2016-08-11T14:00+03:00")),
                 "next day", id="different-days"),
    pytest.param(dataclasses.replace(ACLED, precision=3), "district only", id="coarse-precision"),
    pytest.param(dataclasses.replace(ACLED, lat=None, lon=None, precision=None), "no location",
                 id="not-located"),
    pytest.param(dataclasses.replace(ACLED, attacker_sides=("russia",)), "other attacker",
                 id="attackers-government-vs-russia"),
    pytest.param(dataclasses.replace(ACLED, target_sides=("coh_opposition",)), "other target",
                 id="targets-differ"),
    pytest.param(dataclasses.replace(ACLED, event_type="armed_clash"), "strike vs clash",
                 id="air-strike-vs-armed-clash"),
])
def test_no_match(new: ReportFacts, why: str) -> None:
    assert match(new, [UCDP]) is None, why


def test_wider_distance_matches_12_km() -> None:
    far = dataclasses.replace(ACLED, lat=FAR_NORTH[0])
    found = match(far, [UCDP], distance_km=15)
    assert found is not None and found.distance_km == pytest.approx(12.0, abs=0.05)
    assert "at most 15 km" in found.reason


@pytest.mark.parametrize("old, new", [
    pytest.param({"attackers": ("syrian_government",)}, {"attackers": ("unknown",)},
                 id="attacker-unknown-vs-government"),
    pytest.param({"attackers": ("syrian_government", "russia")}, {"attackers": ("russia",)},
                 id="attacker-ambiguous-vs-russia"),
    pytest.param({"targets": ("unknown",)}, {"targets": ("civilians",)},
                 id="target-unknown-vs-civilians"),
    pytest.param({"event_type": "air_strike"}, {"event_type": "attack"},
                 id="air-strike-vs-generic-attack"),
    pytest.param({"event_type": "attack"}, {"event_type": "shelling"},
                 id="generic-attack-vs-shelling"),
    pytest.param({"event_type": "armed_clash"}, {"event_type": "ground_assault"},
                 id="armed-clash-vs-ground-assault"),
    pytest.param({"event_type": "territory_change"}, {"event_type": "territory_change"},
                 id="territory-change-vs-itself"),
])
def test_compatible_reports_match(old: dict, new: dict) -> None:
    a = report("ucdp:1:1", "ucdp", KAFR_NABL, **old)
    b = report("acled:9:1", "acled", NEAR_KAFR_NABL, at("2016-08-10T14:00+03:00"), **new)
    assert match(b, [a]) is not None


def test_attacker_with_unknown_among_others_is_not_a_wildcard() -> None:
    # only exactly ("unknown",) matches anything: ("russia", "unknown") still names russia
    a = report("ucdp:1:1", "ucdp", attackers=("syrian_government",))
    b = report("acled:9:1", "acled", NEAR_KAFR_NABL, attackers=("russia", "unknown"))
    assert match(b, [a]) is None


@pytest.mark.parametrize("other", ["attack", "air_strike", "access_denial", "military_presence"])
def test_territory_change_only_matches_itself(other: str) -> None:
    a = report("ucdp:1:1", "ucdp", event_type="territory_change")
    b = report("acled:9:1", "acled", NEAR_KAFR_NABL, event_type=other)
    assert match(b, [a]) is None


def test_nearest_candidate_wins_whatever_the_order() -> None:
    new = report("acled:9:1", "acled", KAFR_NABL, at("2016-08-10T14:00+03:00"))
    three_km = report("ucdp:1:1", "ucdp", NEAR_KAFR_NABL, incident="i-a")
    one_km = report("gdelt:5:1", "gdelt", (35.623, 36.562), incident="i-z")
    atareb = report("rss:7:1", "rss", ATAREB, incident="i-0")  # too far: never chosen
    same_feed = report("acled:8:1", "acled", KAFR_NABL, incident="i-0")  # 0 km but same feed
    for order in itertools.permutations([three_km, one_km, atareb, same_feed]):
        found = match(new, order)
        assert found is not None and found.incident_id == "i-z", order


def test_equal_distance_earliest_incident_wins_whatever_the_order() -> None:
    new = report("acled:9:1", "acled", KAFR_NABL, at("2016-08-10T14:00+03:00"))
    later = report("ucdp:1:1", "ucdp", NEAR_KAFR_NABL, incident="i-b")
    earlier = report("gdelt:5:1", "gdelt", NEAR_KAFR_NABL, incident="i-a")
    assert match(new, [later, earlier]).incident_id == "i-a"  # type: ignore[union-attr]
    assert match(new, [earlier, later]).incident_id == "i-a"  # type: ignore[union-attr]


def test_no_candidates() -> None:
    assert match(ACLED, []) is None


# --- independence --------------------------------------------------------------------------


@pytest.mark.parametrize("a, b, expected", [
    pytest.param(UCDP, ACLED, True, id="different-feeds"),
    pytest.param(UCDP, dataclasses.replace(UCDP, report_key="ucdp:2:1"), False, id="same-feed"),
    pytest.param(dataclasses.replace(UCDP, sources=("SOHR",)),
                 dataclasses.replace(ACLED, sources=(" sohr ",)), False, id="both-cite-only-SOHR"),
    pytest.param(dataclasses.replace(UCDP, sources=("SOHR", "Reuters")),
                 dataclasses.replace(ACLED, sources=("reuters", "SOHR")), False,
                 id="same-set-in-another-order"),
    pytest.param(dataclasses.replace(UCDP, sources=("SOHR",)),
                 dataclasses.replace(ACLED, sources=("SOHR", "Local Coordination Committees")),
                 True, id="different-source-sets"),
])
def test_independent(a: ReportFacts, b: ReportFacts, expected: bool) -> None:
    assert independent(a, b) is expected
    assert independent(b, a) is expected


def test_count_independent_two_sharing_sources_count_once() -> None:
    reports = [
        dataclasses.replace(UCDP, sources=("SOHR",)),
        dataclasses.replace(ACLED, sources=("SOHR",)),
        report("gdelt:5:1", "gdelt", sources=("Reuters",)),
    ]
    for order in itertools.permutations(reports):
        assert count_independent(order) == 2


@pytest.mark.parametrize("reports, expected", [
    pytest.param([], 0, id="none"),
    pytest.param([UCDP], 1, id="one"),
    pytest.param([UCDP, dataclasses.replace(UCDP, report_key="ucdp:2:1")], 1, id="one-feed-twice"),
    pytest.param([UCDP, ACLED, report("gdelt:5:1", "gdelt")], 3, id="three-feeds"),
])
def test_count_independent(reports: list[ReportFacts], expected: int) -> None:
    assert count_independent(reports) == expected


# --- scoring -------------------------------------------------------------------------------


@pytest.mark.parametrize("evidence, grade", [
    # the cases the rule suites and TERMS.md §4 rely on
    pytest.param(Evidence(("B",)), "high", id="B-precise-single-high"),
    pytest.param(Evidence(("B",), attribution_ambiguous=True), "medium", id="ambiguous-medium"),
    pytest.param(Evidence(("B",), attribution_ambiguous=True, location_precision=2,
                          uses_zone=True), "low", id="ambiguous-25km-zone-low"),
    pytest.param(Evidence(("B", "C"), attribution_ambiguous=True), "high",
                 id="ambiguous-corroborated-high"),
    # the base of each grade
    pytest.param(Evidence(("A",)), "high", id="base-A"),
    pytest.param(Evidence(("C",)), "medium", id="base-C"),
    pytest.param(Evidence(("D",)), "low", id="base-D"),
    pytest.param(Evidence(("E",)), "low", id="base-E"),
    pytest.param(Evidence(("F",)), "medium", id="base-F-cannot-be-judged"),
    pytest.param(Evidence((None,)), "high", id="base-analyst-entry"),
    pytest.param(Evidence(()), "high", id="no-source-listed-is-one-entry"),
    pytest.param(Evidence(("D", "B")), "high", id="best-of-sources-plus-one"),
    # each lowering step alone, from B
    pytest.param(Evidence(("B",), location_precision=2, uses_zone=True), "medium",
                 id="within-25km-zone-term"),
    pytest.param(Evidence(("B",), location_precision=2), "high", id="within-25km-no-zone"),
    pytest.param(Evidence(("B",), location_precision=1, uses_zone=True), "high",
                 id="exact-place-zone-term"),
    pytest.param(Evidence(("B",), date_precision="time"), "high", id="date-time"),
    pytest.param(Evidence(("B",), date_precision="days"), "medium", id="date-days"),
    pytest.param(Evidence(("B",), date_precision="month"), "medium", id="date-month"),
    pytest.param(Evidence(("B",), window_partial=True), "medium", id="window-partial"),
    pytest.param(Evidence(("B",), partial_candidates=True), "medium", id="partial-candidates"),
    # TERMS.md §4: each doubt costs its own grade (an ambiguous attacker, and the term holding
    # for some candidates only)
    pytest.param(Evidence(("B",), attribution_ambiguous=True, partial_candidates=True),
                 "low", id="ambiguous-and-partial-candidates-two-grades"),
    pytest.param(Evidence(("B",), uses_zone=True, split_place=True), "medium",
                 id="split-place"),
    pytest.param(Evidence(("A", "A", "A"), aggregate=True), "low", id="aggregate-always-low"),
    # corroboration and its maximum
    pytest.param(Evidence(("C", "C")), "high", id="C-corroborated-once"),
    pytest.param(Evidence(("E", "E", "E")), "medium", id="E-plus-two"),
    pytest.param(Evidence(("E", "E", "E", "E", "E")), "medium", id="plus-two-at-most"),
    # the rule's cap
    pytest.param(Evidence(("B",), cap="medium"), "medium", id="cap-medium"),
    pytest.param(Evidence(("B",), cap="low"), "low", id="cap-low"),
    pytest.param(Evidence(("C",), cap="high"), "medium", id="cap-above-grade-no-effect"),
])
def test_score(evidence: Evidence, grade: str) -> None:
    assert score(evidence)[0] == grade


def test_score_reasons_follow_the_arithmetic() -> None:
    grade, reasons = score(Evidence(("B", "D"), attribution_ambiguous=True, uses_zone=True,
                                    location_precision=2, date_precision="week",
                                    window_partial=True, cap="medium"))
    assert reasons == [
        "best source reliability B (of B, D): base 3",
        "location only within 25 km (precision 2) and the term depends on a zone: -1, now 2",
        "date precision week, coarser than a day: -1, now 1",
        "the incident's window is only partly inside the instrument's: -1, now 0",
        "attribution ambiguous (TERMS.md §4): -1, now -1",
        "2 independent sources: +1 for each beyond the first (at most +2): +1, now 0",
        "total 0: low (3 or more high, 2 medium, 1 or less low)",
        "needs_review: more doubts than grades; recorded low for an analyst to review "
        "(TERMS.md §4)",
    ]
    assert grade == "low"  # the cap (medium) is above: no cap sentence


def test_score_reasons_simple_and_capped() -> None:
    assert score(Evidence(("B",))) == (
        "high", ["source reliability B: base 3",
                 "total 3: high (3 or more high, 2 medium, 1 or less low)"])
    grade, reasons = score(Evidence((None,), cap="medium"))
    assert grade == "medium"
    assert reasons[0] == "source reliability none (an analyst's entry, not graded): base 3"
    assert reasons[-1] == "the rule allows at most medium: capped at medium"


def test_score_plus_two_at_most_is_said() -> None:
    _, reasons = score(Evidence(("E",) * 5))
    assert "5 independent sources: +1 for each beyond the first (at most +2): +2, now 2" in reasons


@pytest.mark.parametrize("evidence", [
    pytest.param(Evidence(("G",)), id="unknown-reliability"),
    pytest.param(Evidence(("B",), date_precision="decade"), id="unknown-date-precision"),
    pytest.param(Evidence(("B",), cap="certain"), id="unknown-cap"),
])
def test_score_rejects_unknown_values(evidence: Evidence) -> None:
    with pytest.raises(ValueError):
        score(evidence)
