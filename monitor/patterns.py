"""Terms over time: patterns that no single incident shows, judged on event time.

Three kinds of pattern, each a pure function of the SET of findings or incidents it is given (no
SQL, no I/O; the ledger module feeds them plain dicts). A pack declares which it uses and with
what names and parameters (:mod:`monitor.patternspec`); nothing here knows a pack's names.

- :func:`calm_series` — a calm counter (TERMS.md §4 ``SEP-CALM`` is one): the daily state
  counting consecutive days since Day D with no serious finding under the counted instruments;
  on the needed-th such day the counter's condition is met.
- :func:`escalations` — a burst of serious findings charged to one party in one admin area.
- :func:`sequences` — an attack of one kind followed, nearby and soon, by an attack of another
  (Kerry's "cycle of excuses", ABC/AP, 15 Jul 2016, is one: a Nusra offensive followed by a
  government-side attack on the opposition that accepted the cessation).

Why the outputs do not depend on arrival order (TERMS.md §1: an incident is judged at the time it
happened, never at the time it was reported or ingested): every function first reduces its input
to a list sorted by a total key — event time, then the unique id — and then scans that list. Any
permutation of the same inputs gives the same sorted list, hence the same output; a late report is
simply a larger input set, and the result is exactly what it would have been had the report been
there from the start. Outputs are sorted too, and their keys are hashes of their content.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from monitor import geo
from monitor.models import ATTACK_EVENT_TYPES, charged_set
from monitor.vocabulary import GONE_STATUSES, SERIOUS_SEVERITIES, SET_ASIDE_STATUSES

# TERMS.md §5: an analyst's "disputed"/"discounted", a source's "retracted", and a finding replaced
# by a newer revision ("superseded") are not evidence, so they count in no pattern.
NOT_COUNTED = frozenset(GONE_STATUSES + SET_ASIDE_STATUSES)
SERIOUS = frozenset(SERIOUS_SEVERITIES)  # what a calm counter or an escalation counts by default
# a calm counter's default: "... of confidence medium or high" (an aggregate is recorded low)
CALM_CONFIDENCES = frozenset({"medium", "high"})
DAY = dt.timedelta(hours=24)


def parse_time(s: str | dt.datetime) -> dt.datetime:
    """An ISO 8601 timestamp as an aware UTC datetime (a datetime is normalised the same way).

    A naive value is refused rather than guessed: TERMS.md reads a zoneless date as Damascus
    time, the ledger writes UTC, and a silent guess would shift findings across day boundaries.
    """
    t = s if isinstance(s, dt.datetime) else dt.datetime.fromisoformat(s)
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"time {s!r} has no UTC offset: write it as 2016-09-13T05:00:00+00:00")
    return t.astimezone(dt.timezone.utc)


def counts(finding: Mapping[str, Any]) -> bool:
    """Whether a finding is evidence at all (its status is not disputed/withdrawn/replaced)."""
    return finding.get("status") not in NOT_COUNTED


def _short_hash(prefix: str, *parts: Any) -> str:
    """A stable short id: sha256 of the canonical JSON of ``parts``. The canonical form (compact,
    sorted keys, ASCII) is a contract: change it and every stored key changes."""
    blob = json.dumps(list(parts), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def window(item: Mapping[str, Any], start_key: str = "occurred",
           end_key: str = "occurred_end") -> tuple[dt.datetime, dt.datetime]:
    """An event window [start, end) (a finding's, by default); a missing or non-positive end
    means an instant."""
    start = parse_time(item[start_key])
    end = parse_time(item[end_key]) if item.get(end_key) else start
    return start, max(start, end)


# --- calm counters ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CalmDay:
    """One 24-hour period of a calm counter (TERMS.md §4 SEP-CALM). ``day`` is 1-based from
    Day D."""

    day: int
    start: dt.datetime  # aware UTC
    end: dt.datetime  # aware UTC, exclusive; before start + 24 h only for a final partial period
    breaches: tuple[str, ...]  # ids of the counting findings whose event window overlaps the day
    calm: bool  # no breach
    consecutive: int  # calm days in a row ending with this one; 0 on a breach day
    condition_met: bool  # the counter's condition is met on this day (only the first such day)


def calm_series(findings: Iterable[Mapping[str, Any]], *, day_d: dt.datetime, end: dt.datetime,
                instruments: Iterable[str], needed: int,
                severities: Iterable[str] = SERIOUS,
                confidences: Iterable[str] = CALM_CONFIDENCES) -> list[CalmDay]:
    """A calm counter's state for each day from ``day_d`` up to ``end`` (TERMS.md §4 SEP-CALM).

    Days are consecutive 24-hour periods from Day D (SEP-CALM: 19:00 Damascus, §1 SEP), not
    calendar days. A finding breaches a day when it counts (status), its severity is one of
    ``severities`` and its confidence one of ``confidences``, it falls under one of
    ``instruments`` (SEP-CALM: "under COH/MAY/SEP terms"; JIG, a proposal, does not reset) and
    its event window [occurred, occurred_end) overlaps the period. A report dated only to a day covers
    00:00-24:00 and so overlaps two 19:00-to-19:00 periods: it breaks both. That is deliberately
    conservative for a calm count — with no hour we cannot say which period was not calm.

    The last period is cut at ``end`` when ``end`` is not a whole number of days after Day D: it
    is reported (calm so far, counted in ``consecutive``) but cannot set ``condition_met``,
    because the condition is met only once the needed-th calm day has been completed.
    """
    start0, stop = parse_time(day_d), parse_time(end)
    instruments, severities = frozenset(instruments), frozenset(severities)
    confidences = frozenset(confidences)
    n_days = -((start0 - stop) // DAY) if stop > start0 else 0  # ceil: a partial day counts
    hits: list[set[str]] = [set() for _ in range(n_days)]
    for f in findings:
        if not (counts(f) and f.get("severity") in severities
                and f.get("instrument") in instruments
                and f.get("confidence", "high") in confidences):
            continue
        occ, occ_end = window(f)
        if occ >= stop or occ_end < start0 or (occ_end == start0 and occ_end > occ):
            continue  # wholly outside [Day D, end)
        # Day k is [start0 + k*DAY, start0 + (k+1)*DAY): index arithmetic instead of a scan of
        # every day, so a long series costs O(days + findings).
        first = (occ - start0) // DAY
        last = first if occ_end == occ else -((start0 - occ_end) // DAY) - 1
        for k in range(max(first, 0), min(last, n_days - 1) + 1):
            hits[k].add(str(f["finding_id"]))
    series: list[CalmDay] = []
    consecutive, met = 0, False
    for i in range(n_days):
        p_start = start0 + i * DAY
        p_end = min(p_start + DAY, stop)
        breaches = tuple(sorted(hits[i]))
        calm = not breaches
        consecutive = consecutive + 1 if calm else 0
        # Met on the first COMPLETE day that brings the count to `needed`, and only then.
        now_met = not met and p_end - p_start == DAY and consecutive >= needed
        met = met or now_met
        series.append(CalmDay(i + 1, p_start, p_end, breaches, calm, consecutive, now_met))
    return series


def calm_met_day(series: Sequence[CalmDay]) -> CalmDay | None:
    """The day a calm counter's condition was met, or None if it never was."""
    return next((d for d in series if d.condition_met), None)


# --- escalation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    """A burst of serious findings charged to one party in one governorate (admin1)."""

    key: str  # stable: hash of (name, party, governorate, start, sorted finding ids)
    party: str
    governorate: str
    day: dt.date  # the local day the window starts on: one escalation per group and day
    start: dt.datetime  # occurred of the first finding in the window (aware UTC)
    end: dt.datetime  # start + hours: the window that was judged
    finding_ids: tuple[str, ...]  # sorted


def day_start(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """The start of a local day, as an aware UTC time."""
    return dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.timezone.utc)


def escalations(findings: Iterable[Mapping[str, Any]],
                incidents_by_id: Mapping[str, Mapping[str, Any]], *, threshold: int = 5,
                hours: float = 24, tz: dt.tzinfo = dt.timezone.utc,
                days: tuple[dt.date, dt.date] | None = None,
                severities: Iterable[str] = SERIOUS, name: str = "escalation"
                ) -> list[Escalation]:
    """Bursts of at least ``threshold`` serious incidents by one party in one governorate.

    Counted: findings whose status counts, severity in ``severities``, incident known with a
    governorate, per charged set (TERMS.md §4 "Counting": five Syrian-or-Russian strikes are an
    escalation of "russia or syrian_government", not of each; ``unattributed`` and
    ``undetermined`` are labels like any other).

    The threshold counts distinct INCIDENTS, not findings: one barrel bomb on a market in a mixed
    zone is COH-GOV, MAY-CIV and JIG-SAAF at once (instruments overlap, §1), and three findings
    from one strike are not an escalation. ``finding_ids`` lists every finding of the window.

    At most one escalation per (party, governorate, local day in ``tz``): the EARLIEST window
    [t, t + hours) starting that day, at a finding's time t, that holds ``threshold`` incidents.
    Each day depends only on the findings from its start to its end + ``hours``, so a late
    report changes the days it can reach and no others, and :func:`monitor.timeline.refresh`
    can recompute a range of days alone (``days``: first and last day, inclusive; the caller
    then passes every finding from the first day's start to the last day's end + ``hours``).
    Within a group the items are sorted by (occurred, finding_id), a total order on the set,
    and scanned with a sliding window: O(n log n), and independent of arrival order.
    """
    span = dt.timedelta(hours=hours)
    severities = frozenset(severities)
    groups: dict[tuple[str, str], set[tuple[dt.datetime, str, str]]] = {}
    for f in findings:
        if not counts(f) or f.get("severity") not in severities:
            continue
        incident = incidents_by_id.get(f["incident_id"])
        governorate = incident.get("governorate") if incident else None
        if not governorate:
            continue  # no governorate, no place to escalate in
        item = (parse_time(f["occurred"]), str(f["finding_id"]), str(f["incident_id"]))
        party = f.get("charged_set") or charged_set(list(f.get("charged_to") or ()),
                                                    str(f.get("attribution", "")))
        groups.setdefault((party, governorate), set()).add(item)
    found: list[Escalation] = []
    for (party, governorate), members in groups.items():
        items = sorted(members)
        inside: dict[str, int] = {}  # incident -> findings of it in items[i:j]
        j, done = 0, None
        for i, (t, _, _) in enumerate(items):
            while j < len(items) and items[j][0] < t + span:
                inside[items[j][2]] = inside.get(items[j][2], 0) + 1
                j += 1
            day = t.astimezone(tz).date()
            if day != done and (days is None or days[0] <= day <= days[1]) \
                    and len(inside) >= threshold:
                ids = tuple(sorted(fid for _, fid, _ in items[i:j]))
                key = _short_hash("esc", name, party, governorate, t.isoformat(), ids)
                found.append(Escalation(key, party, governorate, day, t, t + span, ids))
                done = day
            inc = items[i][2]
            inside[inc] -= 1
            if not inside[inc]:
                del inside[inc]
    return sorted(found, key=lambda e: (e.start, e.party, e.governorate, e.key))


# --- sequences -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """Which incidents are one step of a sequence: an attack (TERMS.md §4 "Attack") by one of
    ``attackers`` and, when ``targets`` or ``zones`` are given, on one of ``targets`` or placed
    in one of ``zones`` (sides and zone kinds, groups already expanded)."""

    attackers: frozenset[str]
    targets: frozenset[str] = frozenset()
    zones: frozenset[str] = frozenset()
    event_types: frozenset[str] = ATTACK_EVENT_TYPES  # what is an attack: the pack's

    def matches(self, incident: Mapping[str, Any]) -> bool:
        if incident.get("event_type") not in self.event_types or self.attackers.isdisjoint(
                incident.get("attacker_sides") or ()):
            return False
        if not (self.targets or self.zones):
            return True
        return not (self.targets.isdisjoint(incident.get("target_sides") or ())
                    and self.zones.isdisjoint(incident.get("zones") or ()))


@dataclass(frozen=True)
class SequenceFound:
    """An attack matching a sequence's first step, then a nearby attack matching its second."""

    key: str  # stable: hash of the pattern's name and the two incident ids
    first_incident: str
    second_incident: str
    hours_between: float  # from the first start to the second start, rounded to 0.001
    distance_km: float  # great-circle, rounded to 0.001


def _located(incident: Mapping[str, Any], coarse_precision: int) -> bool:
    """Has a point finer than ``coarse_precision`` (TERMS.md §3: precision 3 is too coarse);
    an unknown precision is treated as coarse."""
    p = incident.get("location_precision")
    return (incident.get("lat") is not None and incident.get("lon") is not None
            and p is not None and p < coarse_precision)


def sequences(incidents: Iterable[Mapping[str, Any]], *, first: Attack, then: Attack,
              hours: float, km: float, coarse_precision: int = 3, name: str = "sequence",
              between: tuple[dt.datetime, dt.datetime] | None = None) -> list[SequenceFound]:
    """Attacks matching ``then`` that followed an attack matching ``first``, close in time and
    space: one sequence per second attack, linking it to the first attack it followed.

    The second starts strictly after the first and at most ``hours`` later; both points are
    finer than ``coarse_precision`` and at most ``km`` apart. When several first attacks
    qualify, the sequence links the LATEST (then the nearest, then the smallest id): one alert
    per second attack, so a dense front does not raise an alert for every pair. (The 2016
    cycle of excuses: first = a Nusra attack; then = a government-side attack on the
    cessation's opposition or in an opposition or mixed zone — a strike on Nusra in a
    ``nusra_concentrated`` zone is the exempt case of TERMS.md §4, not an excuse.)

    A second attack's sequence depends only on the first attacks of the ``hours`` before it,
    so :func:`monitor.timeline.refresh` can recompute the second attacks that start in
    ``between`` = [lo, hi) alone, given every incident starting in [lo - hours, hi). First
    attacks are bucketed on a grid of ``km`` cells, each bucket sorted by (start, id): the cost
    is O(n log n + the first attacks of the neighbouring cells in the window).
    """
    span = dt.timedelta(hours=hours)
    cell = geo.degrees_of_latitude(km)
    firsts: dict[tuple[int, int], list[tuple[dt.datetime, str, float, float]]] = {}
    seconds: list[tuple[dt.datetime, str, float, float]] = []
    for inc in incidents:
        if not _located(inc, coarse_precision):
            continue
        row = (parse_time(inc["occurred_start"]), str(inc["incident_id"]),
               float(inc["lat"]), float(inc["lon"]))
        if first.matches(inc):
            firsts.setdefault((int(row[2] // cell), int(row[3] // cell)), []).append(row)
        if then.matches(inc) and (between is None or between[0] <= row[0] < between[1]):
            seconds.append(row)
    for bucket in firsts.values():
        bucket.sort()
    times = {c: [t for t, _, _, _ in b] for c, b in firsts.items()}
    found: list[tuple[dt.datetime, SequenceFound]] = []
    for t2, id2, lat2, lon2 in sorted(seconds):
        # a degree of longitude is shorter than one of latitude: widen the search east-west
        wide = 1 + int(1 / max(0.01, math.cos(math.radians(min(89.0, abs(lat2) + cell)))))
        row_, col = int(lat2 // cell), int(lon2 // cell)
        best: tuple[Any, ...] | None = None
        for r in range(row_ - 1, row_ + 2):
            for c in range(col - wide, col + wide + 1):
                bucket = firsts.get((r, c))
                if not bucket:
                    continue
                lo, hi = bisect_left(times[(r, c)], t2 - span), bisect_left(times[(r, c)], t2)
                for t1, id1, lat1, lon1 in bucket[lo:hi]:
                    if id1 == id2:
                        continue
                    distance = geo.distance_km(lat1, lon1, lat2, lon2)
                    if distance <= km:
                        candidate = (-t1.timestamp(), distance, id1, t1)
                        best = candidate if best is None or candidate < best else best
        if best is not None:
            _, distance, id1, t1 = best
            found.append((t2, SequenceFound(_short_hash("seq", name, id1, id2), id1, id2,
                                            round((t2 - t1) / dt.timedelta(hours=1), 3),
                                            round(distance, 3))))
    found.sort(key=lambda x: (x[0], x[1].second_incident))
    return [p for _, p in found]
