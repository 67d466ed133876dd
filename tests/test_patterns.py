"""Terms over time (monitor/patterns.py): calm counters, escalations, sequences, with the 2016
pack's parameters (SEP-CALM, its escalation, the cycle of excuses).

Every input is a hand-built dict shaped as the ledger returns it, placed at a real 2016 place and
time. The permutation tests check the contract of the module: the output is a function of the SET
of inputs, whatever order they arrived in (TERMS.md §1: event time, never report time).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from monitor.patterns import (
    Attack,
    calm_met_day,
    calm_series,
    escalations,
    parse_time,
    sequences,
)

DAMASCUS = dt.timezone(dt.timedelta(hours=3))  # EEST, September 2016
DAY_D = dt.datetime(2016, 9, 12, 19, 0, tzinfo=DAMASCUS)  # TERMS.md §1 SEP
GOVERNMENT_SIDE = {"syrian_government", "pro_government", "russia"}
CALM = {"instruments": ("COH", "MAY", "SEP"), "needed": 7}  # TERMS.md §4 SEP-CALM
# the 2016 cycle of excuses: a Nusra attack, then a government-side attack on the cessation's
# opposition or in an opposition or mixed zone, within 48 hours and 25 km
NUSRA = Attack(frozenset({"nusra"}))
ANSWER = Attack(frozenset(GOVERNMENT_SIDE), frozenset({"coh_opposition"}),
                frozenset({"opposition", "mixed"}))


def cycles_of_excuses(incidents: list[dict[str, Any]], **kw: Any) -> list:
    return sequences(incidents, first=NUSRA, then=ANSWER, **{"hours": 48, "km": 25, **kw})
SEP_END = dt.datetime(2016, 9, 19, 19, 0, tzinfo=DAMASCUS)  # TERMS.md §1: SEP collapsed

# Real places (lat, lon).
KAFR_NABL = (35.614, 36.562)
MAARAT_AL_NUMAN = (35.648, 36.672)  # ~10.6 km east of Kafr Nabl
SARAQIB = (35.864, 36.806)  # ~35 km north-east of Kafr Nabl
URUM_AL_KUBRA = (36.160, 36.930)  # west of Aleppo: the aid convoy of 19 Sep 2016


def local(day: int, hour: float = 0, month: int = 9) -> dt.datetime:
    """A Damascus local time in 2016 (``hour`` may be fractional)."""
    return dt.datetime(2016, month, day, tzinfo=DAMASCUS) + dt.timedelta(hours=hour)


def iso(t: dt.datetime) -> str:
    """UTC ISO string, as the ledger stores it."""
    return t.astimezone(dt.timezone.utc).isoformat()


def finding(fid: str, start: dt.datetime, end: dt.datetime | None = None, *,
            incident: str | None = None, term: str = "COH-GOV", instrument: str = "COH",
            severity: str = "major", status: str = "alleged",
            charged_to: tuple[str, ...] = ("syrian_government",)) -> dict[str, Any]:
    return {"finding_id": fid, "incident_id": incident or f"inc-{fid}", "term": term,
            "instrument": instrument, "charged_to": list(charged_to), "severity": severity,
            "status": status, "occurred": iso(start),
            "occurred_end": iso(end or start + dt.timedelta(hours=1))}


def incident(iid: str, start: dt.datetime, place: tuple[float, float] | None = None, *,
             attackers: tuple[str, ...] = ("syrian_government",),
             targets: tuple[str, ...] = ("coh_opposition",), event_type: str = "air_strike",
             zones: tuple[str, ...] = ("opposition",), precision: int | None = 1,
             governorate: str | None = "Idlib") -> dict[str, Any]:
    lat, lon = place if place else (None, None)
    return {"incident_id": iid, "occurred_start": iso(start),
            "occurred_end": iso(start + dt.timedelta(hours=1)), "lat": lat, "lon": lon,
            "location_precision": precision if place else None,
            "attacker_sides": list(attackers), "target_sides": list(targets),
            "event_type": event_type, "zones": list(zones), "governorate": governorate}


def series(findings: list[dict[str, Any]], days: float = 12) -> list:
    return calm_series(findings, day_d=DAY_D, end=DAY_D + dt.timedelta(days=days), **CALM)


# --- parse_time --------------------------------------------------------------------------------


def test_parse_time_returns_aware_utc() -> None:
    assert parse_time("2016-09-12T19:00:00+03:00") == dt.datetime(2016, 9, 12, 16,
                                                                 tzinfo=dt.timezone.utc)
    assert parse_time("2016-09-12T16:00:00Z").tzinfo == dt.timezone.utc


def test_parse_time_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_time("2016-09-12T19:00:00")


# --- SEP-CALM ----------------------------------------------------------------------------------


def test_no_breaches_meets_the_condition_on_day_7_exactly() -> None:
    days = calm_series([], day_d=DAY_D, end=SEP_END, **CALM)
    assert [d.day for d in days] == [1, 2, 3, 4, 5, 6, 7]
    assert [d.consecutive for d in days] == [1, 2, 3, 4, 5, 6, 7]
    assert [d.condition_met for d in days] == [False] * 6 + [True]
    assert days[0].start == DAY_D and days[-1].end == SEP_END
    assert calm_met_day(days) == days[6]


def test_condition_met_only_on_the_first_day_it_is_reached() -> None:
    days = series([], days=12)
    assert [d.day for d in days if d.condition_met] == [7]
    assert days[11].consecutive == 12


def test_a_major_breach_on_day_3_resets_the_count() -> None:
    # Aleppo, 14 Sep 2016 ~22:00: inside day 3 (14 Sep 19:00 -> 15 Sep 19:00).
    days = series([finding("f-aleppo", local(14, 22))])
    assert days[2].breaches == ("f-aleppo",) and not days[2].calm
    assert [d.consecutive for d in days] == [1, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert calm_met_day(days).day == 10


def test_reaching_the_count_again_after_a_later_breach_is_not_a_new_condition() -> None:
    # Breaches on day 3 (14 Sep) and day 12 (23 Sep): the count reaches 7 on day 10 and day 19.
    days = series([finding("f", local(23, 22)), finding("g", local(14, 22))], days=20)
    assert days[18].consecutive == 7
    assert [d.day for d in days if d.condition_met] == [10]


RESETS = [
    pytest.param({}, True, id="major-COH-alleged-resets"),
    pytest.param({"severity": "critical", "term": "MAY-CIV", "instrument": "MAY"}, True,
                 id="critical-MAY-resets"),
    pytest.param({"term": "SEP-CASTELLO", "instrument": "SEP"}, True, id="SEP-term-resets"),
    pytest.param({"status": "confirmed"}, True, id="confirmed-resets"),
    pytest.param({"status": "corroborated"}, True, id="corroborated-resets"),
    pytest.param({"severity": "minor"}, False, id="minor-does-not-reset"),
    pytest.param({"status": "disputed"}, False, id="disputed-does-not-reset"),
    pytest.param({"status": "superseded"}, False, id="superseded-does-not-reset"),
    pytest.param({"status": "discounted"}, False, id="discounted-does-not-reset"),
    pytest.param({"status": "retracted"}, False, id="retracted-does-not-reset"),
    pytest.param({"term": "JIG-SAAF", "instrument": "JIG"}, False,
                 id="JIG-proposal-does-not-reset"),
]


@pytest.mark.parametrize("overrides, resets", RESETS)
def test_which_findings_reset_the_count(overrides: dict[str, str], resets: bool) -> None:
    days = series([finding("f", local(14, 22), **overrides)])
    assert days[2].calm is not resets
    assert calm_met_day(days).day == (10 if resets else 7)


def test_a_day_dated_report_straddling_19h_breaks_both_periods() -> None:
    # A report dated only "13 Sep 2016" (00:00-24:00 local) overlaps day 1 (to 13 Sep 19:00)
    # and day 2 (from 13 Sep 19:00): conservative, both are breach days.
    days = series([finding("f-day", local(13), local(14))])
    assert [d.day for d in days if not d.calm] == [1, 2]
    assert days[2].consecutive == 1 and calm_met_day(days).day == 9


@pytest.mark.parametrize("when, breach_days", [
    pytest.param(local(13, 19), [2], id="instant-at-19h-belongs-to-the-new-day"),
    pytest.param(local(13, 18.99), [1], id="instant-just-before-19h"),
    pytest.param(local(12, 18), [], id="before-day-D"),
    pytest.param(local(21, 12), [], id="after-the-end"),
])
def test_instants_and_boundaries(when: dt.datetime, breach_days: list[int]) -> None:
    days = series([finding("f", when, when)], days=7)
    assert [d.day for d in days if not d.calm] == breach_days


def test_a_window_that_started_before_day_D_breaks_day_1() -> None:
    days = series([finding("f", local(12, 12), local(12, 20))])
    assert [d.day for d in days if not d.calm] == [1]


def test_a_final_partial_period_is_reported_but_cannot_meet_the_condition() -> None:
    days = calm_series([], day_d=DAY_D, end=DAY_D + dt.timedelta(days=6, hours=12), **CALM)
    assert len(days) == 7 and days[-1].end - days[-1].start == dt.timedelta(hours=12)
    assert days[-1].calm and days[-1].consecutive == 7
    assert calm_met_day(days) is None  # the 7th day has not been completed yet


def test_an_end_before_day_D_gives_no_days() -> None:
    assert calm_series([finding("f", local(13))], day_d=DAY_D, end=DAY_D, **CALM) == []


def test_a_late_report_changes_the_series_as_if_it_had_been_there_from_the_start() -> None:
    early = [finding("f-1", local(13, 10)), finding("f-minor", local(16, 3), severity="minor")]
    # Reported on 25 Sep, about a strike on 16 Sep: judged on event time.
    late = finding("f-late", local(16, 2))
    before, after = series(early), series(early + [late])
    assert calm_met_day(before).day == 8
    assert after == series([late] + early)
    assert after != before and after[3].breaches == ("f-late",)
    assert calm_met_day(after).day == 11


# --- escalation -------------------------------------------------------------------------------

ALEPPO = {f"inc-a{i}": incident(f"inc-a{i}", local(21, 3 * i), URUM_AL_KUBRA,
                                governorate="Aleppo") for i in range(10)}


def aleppo_findings(n: int, spacing_hours: float = 3, **kw: Any) -> list[dict[str, Any]]:
    return [finding(f"f-a{i}", local(21, spacing_hours * i), incident=f"inc-a{i}", **kw)
            for i in range(n)]


def test_five_major_findings_within_24h_are_one_escalation() -> None:
    (esc,) = escalations(aleppo_findings(5), ALEPPO)
    assert (esc.party, esc.governorate) == ("syrian_government", "Aleppo")
    assert esc.finding_ids == ("f-a0", "f-a1", "f-a2", "f-a3", "f-a4")
    assert esc.start == local(21) and esc.end == local(22)
    assert esc.key.startswith("esc-") and len(esc.key) == 20


@pytest.mark.parametrize("findings", [
    pytest.param(aleppo_findings(4), id="four-are-not-enough"),
    pytest.param(aleppo_findings(5, spacing_hours=7.5), id="five-spread-over-30h"),
    pytest.param(aleppo_findings(5, severity="minor"), id="minor-not-counted"),
    pytest.param(aleppo_findings(4) + [finding("f-d", local(21, 13), incident="inc-a4",
                                               status="disputed")], id="disputed-not-counted"),
    pytest.param([dict(f, incident_id="inc-a0") for f in aleppo_findings(5)],
                 id="five-findings-one-incident"),
])
def test_no_escalation(findings: list[dict[str, Any]]) -> None:
    assert escalations(findings, ALEPPO) == []


def test_an_escalation_is_per_charged_set_not_per_candidate() -> None:
    """TERMS.md §4 "Counting": five Syrian-or-Russian air strikes in Aleppo in 24 hours are an
    escalation of "russia or syrian_government", not of each; a clash charged to nobody counts
    under "undetermined" and never against a party."""
    both = aleppo_findings(5, charged_to=("syrian_government", "russia"))
    result = escalations(both, ALEPPO)
    assert [e.party for e in result] == ["russia or syrian_government"]
    mixed = (aleppo_findings(3, charged_to=("syrian_government",))
             + aleppo_findings(2, charged_to=("syrian_government", "russia")))
    assert escalations(mixed, ALEPPO) == []  # 3 + 2: neither set reaches five
    clashes = aleppo_findings(5, charged_to=())
    assert [e.party for e in escalations(clashes, ALEPPO)] == ["undetermined"]


def test_unknown_incident_or_governorate_is_skipped() -> None:
    incidents = {**ALEPPO, "inc-a0": dict(ALEPPO["inc-a0"], governorate=None)}
    assert escalations(aleppo_findings(5), incidents) == []
    assert escalations(aleppo_findings(5), {}) == []


def test_one_escalation_per_local_day_the_earliest_window() -> None:
    # 10 strikes 3 h apart from 00:00 on the 21st (Damascus) to 03:00 on the 22nd: the 21st's
    # earliest window [00:00, 24:00) holds 8; the 22nd holds 2, not enough.
    (esc,) = escalations(aleppo_findings(10), ALEPPO, tz=DAMASCUS)
    assert len(esc.finding_ids) == 8 and esc.day == dt.date(2016, 9, 21)
    assert esc.start == local(21)
    # with a threshold of 2 the 22nd has its own escalation, from its first strike
    pair = escalations(aleppo_findings(10), ALEPPO, threshold=2, tz=DAMASCUS)
    assert [len(e.finding_ids) for e in pair] == [8, 2] and pair[1].start == local(22)


def test_a_burst_over_midnight_is_found_in_the_day_it_starts() -> None:
    # 3 strikes before midnight and 3 after, 1 h apart: 6 within 24 h, no calendar day has 5
    findings = [finding(f"f-m{i}", local(20, 21 + i), incident=f"inc-a{i}") for i in range(6)]
    (esc,) = escalations(findings, ALEPPO, tz=DAMASCUS)
    assert esc.day == dt.date(2016, 9, 20) and len(esc.finding_ids) == 6


def test_a_range_of_days_is_what_the_whole_set_gives_on_those_days() -> None:
    findings, by_id = random_2016()
    whole = escalations(findings, by_id, threshold=3, tz=DAMASCUS)
    days = sorted({e.day for e in whole})
    assert len(days) > 3  # not vacuous
    first, last = days[1], days[-2]
    since = dt.datetime.combine(first, dt.time(0), DAMASCUS)
    until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), DAMASCUS)
    near = [f for f in findings
            if since <= parse_time(f["occurred"]) < until + dt.timedelta(hours=24)]
    part = escalations(near, by_id, threshold=3, tz=DAMASCUS, days=(first, last))
    assert part == [e for e in whole if first <= e.day <= last]


# --- cycle of excuses ------------------------------------------------------------------------

NUSRA_ATTACK = incident("inc-nusra", local(14, 6), KAFR_NABL, attackers=("nusra",),
                        targets=("syrian_government",), event_type="ground_assault",
                        zones=("mixed",))


def government_strike(hours_after: float, place: tuple[float, float] = MAARAT_AL_NUMAN,
                      **kw: Any) -> dict[str, Any]:
    return incident("inc-gov", local(14, 6 + hours_after), place, **kw)


@pytest.mark.parametrize("incidents, expected", [
    pytest.param([NUSRA_ATTACK, government_strike(20)], 1, id="Kafr-Nabl-then-Maarat-20h"),
    pytest.param([NUSRA_ATTACK, government_strike(20, targets=("civilians",))], 1,
                 id="civilian-target-in-opposition-zone"),
    pytest.param([NUSRA_ATTACK, government_strike(60)], 0, id="60h-later"),
    pytest.param([NUSRA_ATTACK, government_strike(20, SARAQIB)], 0, id="Saraqib-35km-away"),
    pytest.param([NUSRA_ATTACK, government_strike(-20)], 0, id="government-strike-first"),
    pytest.param([NUSRA_ATTACK, government_strike(20, precision=3)], 0, id="coarse-location"),
    pytest.param([NUSRA_ATTACK, government_strike(20, precision=None)], 0,
                 id="unknown-precision"),
    pytest.param([NUSRA_ATTACK, government_strike(20, targets=("nusra",),
                                                  zones=("nusra_concentrated",))], 0,
                 id="strike-on-nusra-in-nusra-zone"),
    pytest.param([NUSRA_ATTACK, government_strike(20, event_type="access_denial")], 0,
                 id="not-an-attack"),
    pytest.param([dict(NUSRA_ATTACK, event_type="other"), government_strike(20)], 0,
                 id="nusra-event-not-an-attack"),
])
def test_cycle_of_excuses(incidents: list[dict[str, Any]], expected: int) -> None:
    found = cycles_of_excuses(incidents)
    assert len(found) == expected


def test_cycle_of_excuses_reports_the_pair() -> None:
    (pattern,) = cycles_of_excuses([government_strike(20), NUSRA_ATTACK])
    assert (pattern.first_incident, pattern.second_incident) == ("inc-nusra", "inc-gov")
    assert pattern.hours_between == 20.0
    assert pattern.distance_km == pytest.approx(10.6, abs=0.1)
    assert pattern.key.startswith("seq-")


def test_a_strike_after_two_nusra_attacks_links_the_latest() -> None:
    earlier = dict(NUSRA_ATTACK, incident_id="inc-nusra-0",
                   occurred_start=iso(local(14, 2)))
    (pattern,) = cycles_of_excuses([earlier, NUSRA_ATTACK, government_strike(20)])
    assert pattern.first_incident == "inc-nusra" and pattern.hours_between == 20.0


def test_a_range_of_government_attacks_is_what_the_whole_set_gives_there() -> None:
    _, by_id = random_2016()
    incidents = list(by_id.values())
    whole = cycles_of_excuses(incidents)
    assert len(whole) > 3  # not vacuous
    starts = {i["incident_id"]: parse_time(i["occurred_start"]) for i in incidents}
    lo, hi = local(16), local(22)
    near = [i for i in incidents if lo - dt.timedelta(hours=48) <= starts[i["incident_id"]] < hi]
    part = cycles_of_excuses(near, between=(lo, hi))
    assert part == [p for p in whole if lo <= starts[p.second_incident] < hi]
    assert len({p.second_incident for p in whole}) == len(whole)  # one per strike


# --- permutation: a function of the set ------------------------------------------------------


def random_2016(seed: int = 2016) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """A seeded mix of findings and incidents around Idlib and Aleppo, 12-26 Sep 2016."""
    rng = random.Random(seed)
    places = {"Idlib": [KAFR_NABL, MAARAT_AL_NUMAN, SARAQIB], "Aleppo": [URUM_AL_KUBRA]}
    incidents: dict[str, dict[str, Any]] = {}
    findings: list[dict[str, Any]] = []
    for i in range(300):
        gov = rng.choice(sorted(places))
        lat, lon = rng.choice(places[gov])
        place = (lat + rng.uniform(-0.05, 0.05), lon + rng.uniform(-0.05, 0.05))
        start = local(12, rng.uniform(0, 14 * 24))
        attackers = rng.choice([("nusra",), ("syrian_government",), ("russia",),
                                ("syrian_government", "russia"), ("coh_opposition",)])
        inc = incident(f"inc-{i:03d}", start, place, attackers=attackers,
                       precision=rng.choice([1, 1, 2, 3]), governorate=gov,
                       event_type=rng.choice(["air_strike", "shelling", "armed_clash", "other"]),
                       zones=(rng.choice(["opposition", "mixed", "nusra_concentrated"]),))
        incidents[inc["incident_id"]] = inc
        for k in range(rng.choice([1, 1, 2])):
            findings.append(finding(
                f"f-{i:03d}-{k}", start, start + dt.timedelta(hours=rng.choice([0, 1, 24])),
                incident=inc["incident_id"], charged_to=attackers,
                instrument=rng.choice(["COH", "MAY", "JIG", "SEP"]),
                severity=rng.choice(["minor", "major", "critical"]),
                status=rng.choice(["alleged", "confirmed", "disputed", "superseded"])))
    return findings, incidents


def outputs(findings: list[dict[str, Any]], incidents: list[dict[str, Any]]) -> tuple:
    return (calm_series(findings, day_d=DAY_D, end=DAY_D + dt.timedelta(days=14, hours=5),
                        **CALM),
            escalations(findings, {i["incident_id"]: i for i in incidents}, threshold=4),
            cycles_of_excuses(incidents))


def test_outputs_do_not_depend_on_arrival_order() -> None:
    findings, by_id = random_2016()
    incidents = list(by_id.values())
    expected = outputs(findings, incidents)
    calm, escs, excuses = expected
    assert any(not d.calm for d in calm) and escs and excuses  # the check is not vacuous
    rng = random.Random(9)
    for _ in range(20):
        rng.shuffle(findings)
        rng.shuffle(incidents)
        assert outputs(findings, incidents) == expected
