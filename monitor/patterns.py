"""Terms over time: patterns that no single incident shows, judged on event time.

Three patterns, each a pure function of the SET of findings or incidents it is given (no SQL, no
I/O; the ledger module feeds them plain dicts):

- :func:`calm_series` — TERMS.md §4 ``SEP-CALM``: the daily state counting consecutive days since
  Day D (§1 SEP, 2016-09-12T19:00+03:00) with no major or critical finding under COH/MAY/SEP; on
  the 7th such day the condition for establishing the Joint Implementation Centre is met.
- :func:`escalations` — a burst of serious findings charged to one party in one governorate.
- :func:`cycles_of_excuses` — Kerry's "cycle of excuses" (ABC/AP, 15 Jul 2016): a Nusra offensive
  followed, nearby and soon, by a government-side attack on the opposition that accepted the
  cessation.

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
SERIOUS = frozenset(SERIOUS_SEVERITIES)  # SEP-CALM: "no major or critical finding"
# SEP-CALM: "... of confidence medium or high" (an aggregate is recorded low: it never counts)
CALM_CONFIDENCES = frozenset({"medium", "high"})
DAY_D = dt.datetime(2016, 9, 12, 19, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))  # §1 SEP
DAY = dt.timedelta(hours=24)
# TERMS.md §2 / §3: targets and zones that mark "the opposition that accepted the cessation".
OPPOSITION_TARGET = "coh_opposition"
OPPOSITION_ZONES = frozenset({"opposition", "mixed"})


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


def _window(item: Mapping[str, Any], start_key: str,
            end_key: str) -> tuple[dt.datetime, dt.datetime]:
    """An event window [start, end); a missing or non-positive end means an instant."""
    start = parse_time(item[start_key])
    end = parse_time(item[end_key]) if item.get(end_key) else start
    return start, max(start, end)


# --- SEP-CALM --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalmDay:
    """One 24-hour period of the SEP-CALM count (TERMS.md §4). ``day`` is 1-based from Day D."""

    day: int
    start: dt.datetime  # aware UTC
    end: dt.datetime  # aware UTC, exclusive; before start + 24 h only for a final partial period
    breaches: tuple[str, ...]  # ids of the counting findings whose event window overlaps the day
    calm: bool  # no breach
    consecutive: int  # calm days in a row ending with this one; 0 on a breach day
    condition_met: bool  # the JIC condition is met on this day (only the first such day)


def calm_series(findings: Iterable[Mapping[str, Any]], *, day_d: dt.datetime, end: dt.datetime,
                instruments: tuple[str, ...] = ("COH", "MAY", "SEP"),
                needed: int = 7) -> list[CalmDay]:
    """The SEP-CALM state for each day from ``day_d`` up to ``end`` (TERMS.md §4 SEP-CALM).

    Days are consecutive 24-hour periods from Day D (19:00 Damascus, §1 SEP), not calendar days.
    A finding breaches a day when it counts (status), is major or critical, falls under one of
    ``instruments`` (SEP-CALM: "under COH/MAY/SEP terms"; JIG, a proposal, does not reset) and its
    event window [occurred, occurred_end) overlaps the period. A report dated only to a day covers
    00:00-24:00 and so overlaps two 19:00-to-19:00 periods: it breaks both. That is deliberately
    conservative for a calm count — with no hour we cannot say which period was not calm.

    The last period is cut at ``end`` when ``end`` is not a whole number of days after Day D: it
    is reported (calm so far, counted in ``consecutive``) but cannot set ``condition_met``,
    because the condition is met only once the needed-th calm day has been completed.
    """
    start0, stop = parse_time(day_d), parse_time(end)
    n_days = -((start0 - stop) // DAY) if stop > start0 else 0  # ceil: a partial day counts
    hits: list[set[str]] = [set() for _ in range(n_days)]
    for f in findings:
        if not (counts(f) and f.get("severity") in SERIOUS and f.get("instrument") in instruments
                and f.get("confidence", "high") in CALM_CONFIDENCES):
            continue
        occ, occ_end = _window(f, "occurred", "occurred_end")
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
    """The day the SEP-CALM condition (JIC establishment) was met, or None if it never was."""
    return next((d for d in series if d.condition_met), None)


# --- escalation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Escalation:
    """A burst of serious findings charged to one party in one governorate."""

    key: str  # stable: hash of (party, governorate, start, sorted finding ids)
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
                days: tuple[dt.date, dt.date] | None = None) -> list[Escalation]:
    """Bursts of at least ``threshold`` serious incidents by one party in one governorate.

    Counted: findings whose status counts, severity major or critical, incident known with a
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
    groups: dict[tuple[str, str], set[tuple[dt.datetime, str, str]]] = {}
    for f in findings:
        if not counts(f) or f.get("severity") not in SERIOUS:
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
                key = _short_hash("esc", party, governorate, t.isoformat(), ids)
                found.append(Escalation(key, party, governorate, day, t, t + span, ids))
                done = day
            inc = items[i][2]
            inside[inc] -= 1
            if not inside[inc]:
                del inside[inc]
    return sorted(found, key=lambda e: (e.start, e.party, e.governorate, e.key))


# --- cycle of excuses ------------------------------------------------------------------------


@dataclass(frozen=True)
class ExcusePattern:
    """A Nusra attack followed by a nearby government-side attack on the cessation's opposition."""

    key: str  # stable: hash of the two incident ids
    nusra_incident: str
    government_incident: str
    hours_between: float  # from the Nusra start to the government start, rounded to 0.001
    distance_km: float  # great-circle, rounded to 0.001


def _located(incident: Mapping[str, Any], coarse_precision: int) -> bool:
    """Has a point finer than ``coarse_precision`` (TERMS.md §3: precision 3 is too coarse);
    an unknown precision is treated as coarse."""
    p = incident.get("location_precision")
    return (incident.get("lat") is not None and incident.get("lon") is not None
            and p is not None and p < coarse_precision)


def cycles_of_excuses(incidents: Iterable[Mapping[str, Any]], *, government_side: set[str],
                      hours: float = 48, km: float = 25, coarse_precision: int = 3,
                      between: tuple[dt.datetime, dt.datetime] | None = None
                      ) -> list[ExcusePattern]:
    """Government-side attacks on the opposition that followed a Nusra attack, close in time and
    space: one pattern per government attack, linking it to the Nusra attack it followed.

    The first incident has ``nusra`` among its attackers and is an attack (TERMS.md §4 "Attack").
    The second has an attacker in ``government_side`` (§2), is an attack, and hits the cessation's
    opposition: target ``coh_opposition`` or a location in zone ``opposition``/``mixed`` (§3) — a
    strike on Nusra in a ``nusra_concentrated`` zone is the exempt case (§4 Exemptions), not an
    excuse. It starts strictly after the first and at most ``hours`` later; both points are finer
    than ``coarse_precision`` and at most ``km`` apart. When several Nusra attacks qualify, the
    pattern links the LATEST (then the nearest, then the smallest id): one alert per government
    attack, so a dense front does not raise an alert for every pair.

    A government attack's pattern depends only on the Nusra attacks of the ``hours`` before it,
    so :func:`monitor.timeline.refresh` can recompute the government attacks that start in
    ``between`` = [lo, hi) alone, given every incident starting in [lo - hours, hi). Nusra attacks
    are bucketed on a grid of ``km`` cells, each bucket sorted by (start, id): the cost is
    O(n log n + the Nusra attacks of the neighbouring cells in the window).
    """
    span = dt.timedelta(hours=hours)
    cell = geo.degrees_of_latitude(km)
    nusra: dict[tuple[int, int], list[tuple[dt.datetime, str, float, float]]] = {}
    gov: list[tuple[dt.datetime, str, float, float]] = []
    for inc in incidents:
        if inc.get("event_type") not in ATTACK_EVENT_TYPES or not _located(inc, coarse_precision):
            continue
        row = (parse_time(inc["occurred_start"]), str(inc["incident_id"]),
               float(inc["lat"]), float(inc["lon"]))
        attackers = set(inc.get("attacker_sides") or ())
        if "nusra" in attackers:
            nusra.setdefault((int(row[2] // cell), int(row[3] // cell)), []).append(row)
        if not attackers.isdisjoint(government_side) and (
                OPPOSITION_TARGET in (inc.get("target_sides") or ())
                or OPPOSITION_ZONES & set(inc.get("zones") or ())) and (
                between is None or between[0] <= row[0] < between[1]):
            gov.append(row)
    for bucket in nusra.values():
        bucket.sort()
    times = {c: [t for t, _, _, _ in b] for c, b in nusra.items()}
    found: list[tuple[dt.datetime, ExcusePattern]] = []
    for t2, id2, lat2, lon2 in sorted(gov):
        # a degree of longitude is shorter than one of latitude: widen the search east-west
        wide = 1 + int(1 / max(0.01, math.cos(math.radians(min(89.0, abs(lat2) + cell)))))
        row_, col = int(lat2 // cell), int(lon2 // cell)
        best: tuple[Any, ...] | None = None
        for r in range(row_ - 1, row_ + 2):
            for c in range(col - wide, col + wide + 1):
                bucket = nusra.get((r, c))
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
            found.append((t2, ExcusePattern(_short_hash("exc", id1, id2), id1, id2,
                                            round((t2 - t1) / dt.timedelta(hours=1), 3),
                                            round(distance, 3))))
    found.sort(key=lambda x: (x[0], x[1].government_incident))
    return [p for _, p in found]
