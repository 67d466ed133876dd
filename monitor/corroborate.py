"""Corroboration: the same event reported by different feeds, and the confidence it earns.

Pure functions (no SQL, no I/O): the service gives them what the ledger holds.

**Matching** (:func:`match`) pairs a new report with a recorded report of the same event, so the
two become one incident. **Independence** (:func:`independent`, :func:`count_independent`) says
which of an incident's reports may count as separate sources. **Scoring** (:func:`score`) turns the
evidence of a finding into its confidence (TERMS.md §5: from attribution, location and date
precision, source grading and corroboration) by adding points:

| step                                                                        | points  |
|-----------------------------------------------------------------------------|---------|
| base: the best reliability among the sources (Admiralty scale): A or B 3,   | 0 to 3  |
| C 2, D 1, E 0, F (cannot be judged) 2, none (an analyst's entry) 3          |         |
| location only within 25 km (precision 2) and the term depends on a zone     | -1      |
| date precision coarser than a day (days, week, month, year)                 | -1      |
| the incident's window only partly inside the instrument's                   | -1      |
| attribution ambiguous (TERMS.md §4)                                         | -1      |
| the term holds for some candidate sides, not all                            | -1      |
| a split place (ZONES.md) and the term depends on a zone                     | -1      |
| each independent source beyond the first                                    | +1 (≤2) |
| grade: total ≥ 3 high, 2 medium, 1 low; then the rule's cap if lower        |         |
| below 1: low, with a needs_review note (TERMS.md §4: never below low)       |         |
| an aggregate report (a tally or round-up, TERMS.md §4): low whatever the sum |        |

Each doubt costs its own grade (TERMS.md §4). So one source graded B, precise, single
attribution: 3 → high; ambiguous: 2 → medium; ambiguous and holding for one candidate only: 1 →
low; ambiguous but corroborated by an independent second source: 3 - 1 + 1 = 3 → high again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from . import geo
from .models import ATTACK_EVENT_TYPES, CONFIDENCES

UNKNOWN = "unknown"  # the default of a pack's unknown_side
# A report given to the minute is an instant; resolve.time_window gives it a one-minute window.
# A window that arrives empty is read the same way, so an instant still overlaps its day.
INSTANT = dt.timedelta(minutes=1)
# Both kinds of fighting on the ground: sources disagree on which one a given fight was.
GROUND_FIGHTING = frozenset({"armed_clash", "ground_assault"})
# Points of the source reliability a finding starts from (see the table above).
BASE_POINTS: dict[str | None, int] = {"A": 3, "B": 3, "C": 2, "D": 1, "E": 0, "F": 2, None: 3}
DATE_PRECISIONS = ("time", "day", "days", "week", "month", "year")
MAX_CORROBORATION = 2
NEEDS_REVIEW = "needs_review"


# --- matching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportFacts:
    """What matching needs to know of one recorded report."""

    report_key: str
    incident_id: str
    feed: str
    start: dt.datetime  # event window [start, end), aware UTC
    end: dt.datetime
    lat: float | None
    lon: float | None
    precision: int | None  # UCDP where_prec scale 1..7
    attacker_sides: tuple[str, ...]
    target_sides: tuple[str, ...]
    event_type: str
    sources: tuple[str, ...] = ()  # the report's cited sources (free text)


@dataclass(frozen=True)
class Match:
    """A recorded report the new one corroborates, and why (each criterion and its value)."""

    incident_id: str
    report_key: str
    distance_km: float
    reason: str


def _end(r: ReportFacts) -> dt.datetime:
    return r.end if r.end > r.start else r.start + INSTANT


def windows_overlap(a: ReportFacts, b: ReportFacts) -> bool:
    """Whether the two event windows share a moment. The windows already carry the date
    precision (a day-dated report spans its whole local day), so a day overlaps any time in it."""
    return a.start < _end(b) and b.start < _end(a)


def sides_compatible(a: tuple[str, ...], b: tuple[str, ...], unknown: str = UNKNOWN) -> bool:
    """Side sets intersect, or one of them is exactly ``unknown`` (no side named: it may be
    any). An empty set names no side either, so it is read as unknown."""
    anyone = (unknown,)
    a, b = a or anyone, b or anyone
    return a == anyone or b == anyone or bool(set(a) & set(b))


def types_compatible(a: str, b: str, attack_types: frozenset[str] = ATTACK_EVENT_TYPES) -> bool:
    """Equal; or one is the generic "attack" and the other an attack type (the pack's
    ``attack_types``); or both are ground fighting. Non-attack types (territory_change,
    access_denial, ...) only match themselves."""
    if a == b:
        return True
    if "attack" in (a, b):
        return (b if a == "attack" else a) in attack_types
    return {a, b} <= GROUND_FIGHTING


def _located(r: ReportFacts, coarse_precision: int) -> bool:
    # A point without a stated precision may be a governorate centroid: it cannot place an event.
    return (r.lat is not None and r.lon is not None and r.precision is not None
            and r.precision < coarse_precision)


def _sides(s: tuple[str, ...]) -> str:
    return ", ".join(s) if s else "none"


def _distance(new: ReportFacts, old: ReportFacts, limit: float, coarse: int,
              attack_types: frozenset[str], unknown: str) -> float | None:
    """How far apart ``new`` and ``old`` are (km) if they report the same event; None if a
    criterion fails."""
    # Same feed never matches: one dataset's repeats are not corroboration, and two events in
    # the same town the same day from one dataset are two events (the dataset told them apart).
    if (new.feed == old.feed or not windows_overlap(new, old)
            or not (_located(new, coarse) and _located(old, coarse))):
        return None
    km = geo.distance_km(new.lat, new.lon, old.lat, old.lon)  # type: ignore[arg-type]
    if (km > limit or not sides_compatible(new.attacker_sides, old.attacker_sides, unknown)
            or not sides_compatible(new.target_sides, old.target_sides, unknown)
            or not types_compatible(new.event_type, old.event_type, attack_types)):
        return None
    return km


def _why(new: ReportFacts, old: ReportFacts, km: float, limit: float, coarse: int) -> str:
    """Why ``new`` and ``old``, ``km`` apart, report the same event (every criterion)."""
    return (
        f"different feeds ({new.feed}, {old.feed}); "
        f"event windows overlap ({new.start.isoformat()}..{new.end.isoformat()} and "
        f"{old.start.isoformat()}..{old.end.isoformat()}); "
        f"location precisions {new.precision} and {old.precision} (finer than {coarse}); "
        f"{km:.1f} km apart (at most {limit:g} km); "
        f"attacker sides compatible ({_sides(new.attacker_sides)} / "
        f"{_sides(old.attacker_sides)}); "
        f"target sides compatible ({_sides(new.target_sides)} / {_sides(old.target_sides)}); "
        f"event types compatible ({new.event_type} / {old.event_type})"
    )


def match(new: ReportFacts, existing: Iterable[ReportFacts], *, distance_km: float = 10.0,
          coarse_precision: int = 3, attack_types: frozenset[str] = ATTACK_EVENT_TYPES,
          unknown_side: str = UNKNOWN) -> Match | None:
    """The recorded report that ``new`` reports the same event as, or None.

    All must hold:

    - **different feed** — one source's repeats are not corroboration, and two different events
      in the same town the same day from one dataset must not merge;
    - **event windows overlap** — windows are [start, end) widened to their date precision (a
      day-dated report overlaps any time that day); an empty window is read as one minute;
    - **both located precisely** — lat, lon and precision known, precision < ``coarse_precision``
      (default 3: settlement or within 25 km; a district centroid cannot place an event);
    - **near** — :func:`monitor.geo.distance_km` at most ``distance_km``;
    - **attackers compatible** — side sets intersect, or either is exactly the pack's unknown
      side (``unknown_side``);
    - **targets compatible** — the same test on the target sides;
    - **event types compatible** — equal; or one is the generic ``attack`` and the other an attack
      type (``attack_types``, the pack's: by default air_strike, shelling, bombing, armed_clash,
      ground_assault); or both are in
      {armed_clash, ground_assault}. Non-attack types only match themselves.

    Among the candidates the nearest wins, then the earliest incident_id (string order), then the
    earliest report_key: the answer does not depend on the order of ``existing``.
    """
    qualified = ((km, old) for old in existing if (km := _distance(
        new, old, distance_km, coarse_precision, attack_types, unknown_side)) is not None)
    best = min(qualified, key=lambda found: (found[0], found[1].incident_id,
                                             found[1].report_key), default=None)
    if best is None:
        return None
    km, chosen = best
    return Match(incident_id=chosen.incident_id, report_key=chosen.report_key, distance_km=km,
                 reason=_why(new, chosen, km, distance_km, coarse_precision))


# --- independence --------------------------------------------------------------------------


def _cited(r: ReportFacts) -> frozenset[str]:
    # casefold + strip (and inner spaces collapsed) so "SOHR" and " sohr" are one source
    return frozenset(n for n in (" ".join(s.split()).casefold() for s in r.sources) if n)


def independent(a: ReportFacts, b: ReportFacts) -> bool:
    """Whether two reports count as two sources: different feeds, and not the same non-empty set
    of cited sources. Two datasets that both only cite "SOHR" are SOHR repeated, not two
    witnesses. Reports citing nothing, or different sets (even overlapping ones), are taken as
    independent: the feeds then vouch for the event separately."""
    if a.feed == b.feed:
        return False
    cited_a, cited_b = _cited(a), _cited(b)
    return not (cited_a and cited_a == cited_b)


# Exact search up to this many reports (at most 2**n subsets, pruned); greedy beyond.
EXACT_LIMIT = 16


def count_independent(reports: Sequence[ReportFacts]) -> int:
    """The size of a largest set of mutually independent reports.

    Exact (a small branch-and-bound search) for up to EXACT_LIMIT reports; beyond that a greedy
    pass in report_key order, which is a lower bound. Both are deterministic: the reports are
    sorted first, so the input order does not matter."""
    items = sorted(reports, key=lambda r: (r.report_key, r.feed, r.incident_id))
    if len(items) > EXACT_LIMIT:
        chosen: list[ReportFacts] = []
        for r in items:
            if all(independent(r, c) for c in chosen):
                chosen.append(r)
        return len(chosen)
    best = 0

    def grow(size: int, rest: list[ReportFacts]) -> None:
        nonlocal best
        best = max(best, size)
        for i, r in enumerate(rest):
            if size + len(rest) - i <= best:
                return  # even taking every remaining report cannot beat the best
            grow(size + 1, [o for o in rest[i + 1:] if independent(r, o)])

    grow(0, items)
    return best


# --- scoring -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What a finding's confidence is scored from (see the table in the module docstring)."""

    reliabilities: tuple[str | None, ...]  # grade of each independent source (None = analyst)
    attribution_ambiguous: bool = False
    partial_candidates: bool = False  # the term holds for some candidate sides, not all
    location_precision: int | None = None
    uses_zone: bool = False
    date_precision: str = "day"  # time, day, days, week, month, year
    window_partial: bool = False  # incident window only partly inside the instrument's
    cap: str | None = None  # the rule's confidence_at_most
    split_place: bool = False  # a zone term on a report naming only a split city (ZONES.md)
    aggregate: bool = False  # a tally or round-up (TERMS.md §4 "Aggregate reports")


def score(e: Evidence) -> tuple[str, list[str]]:
    """The confidence of a finding and the reasons, one sentence per step with the running total,
    so an analyst can follow the arithmetic."""
    grades = e.reliabilities or (None,)  # no source listed: the entry itself is the one source
    for g in grades:
        if g not in BASE_POINTS:
            raise ValueError(f"unknown source reliability {g!r} (expected A-F or None)")
    if e.date_precision not in DATE_PRECISIONS:
        raise ValueError(f"unknown date precision {e.date_precision!r}")
    if e.cap is not None and e.cap not in CONFIDENCES:
        raise ValueError(f"unknown confidence cap {e.cap!r}")
    best = max(grades, key=lambda g: BASE_POINTS[g])
    points = BASE_POINTS[best]
    named = "none (an analyst's entry, not graded)" if best is None else best
    listed = ", ".join("none" if g is None else g for g in grades)
    reasons = [f"best source reliability {named} (of {listed}): base {points}" if len(grades) > 1
               else f"source reliability {named}: base {points}"]

    def minus(sentence: str) -> None:
        nonlocal points
        points -= 1
        reasons.append(f"{sentence}: -1, now {points}")

    if e.uses_zone and e.location_precision == 2:
        minus("location only within 25 km (precision 2) and the term depends on a zone")
    if e.date_precision not in ("time", "day"):
        minus(f"date precision {e.date_precision}, coarser than a day")
    if e.window_partial:
        minus("the incident's window is only partly inside the instrument's")
    if e.attribution_ambiguous:
        minus("attribution ambiguous (TERMS.md §4)")
    if e.partial_candidates:
        minus("the term holds for some of the candidate sides, not all")
    if e.split_place:
        minus("the report names only a split city (ZONES.md): the zone holds for some "
              "readings")
    extra = min(MAX_CORROBORATION, len(grades) - 1)
    if extra:
        points += extra
        reasons.append(f"{len(grades)} independent sources: +1 for each beyond the first "
                       f"(at most +{MAX_CORROBORATION}): +{extra}, now {points}")
    grade = "high" if points >= 3 else "medium" if points == 2 else "low"
    reasons.append(f"total {points}: {grade} (3 or more high, 2 medium, 1 or less low)")
    if points < 1:
        reasons.append(f"{NEEDS_REVIEW}: more doubts than grades; recorded low for an analyst "
                       "to review (TERMS.md §4)")
    if e.aggregate and grade != "low":
        reasons.append("an aggregate report (a tally or round-up): low")
        grade = "low"
    if e.cap is not None and CONFIDENCES.index(e.cap) < CONFIDENCES.index(grade):
        reasons.append(f"the rule allows at most {e.cap}: capped at {e.cap}")
        grade = e.cap
    return grade, reasons
