"""Resolution before rules: a report's time window, sides, zones and classification.

Each decision leaves a note, so a finding can say why a name became a side, why a point fell in
a zone, and which words made an air strike a helicopter strike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from .config import Pack
from .models import (
    AIRCRAFT_PLATFORMS,
    ATTACK_EVENT_TYPES,
    IncidentReport,
    Resolution,
)
from .zones import ZoneMatch

UTC = dt.timezone.utc
# Sources' text words that mean "the attacker is not known" are registry aliases of `unknown`;
# a name the registry does not know at all also resolves to `unknown`, and is sent for review.
UNKNOWN = "unknown"


def incident_id(feed: str, source_id: str) -> str:
    """A stable id for the incident a source record describes: the same for every revision of
    the record, and the same on every replay."""
    return "i-" + hashlib.sha256(f"{feed}:{source_id}".encode("utf-8")).hexdigest()[:16]


def time_window(report: IncidentReport, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime, str]:
    """The event-time window [start, end) in UTC and its precision.

    A date alone is the whole local day (not midnight): 2016-08-10 in Damascus is
    2016-08-09T21:00Z .. 2016-08-10T21:00Z. A time is a one-minute window.
    """

    def bounds(value: dt.date | dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        if isinstance(value, dt.datetime):
            start = value.astimezone(UTC)
            return start, start + dt.timedelta(minutes=1)
        start = dt.datetime.combine(value, dt.time(0), tz)
        end = dt.datetime.combine(value + dt.timedelta(days=1), dt.time(0), tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    start, end = bounds(report.occurred)
    if report.occurred_end is not None:
        end = max(end, bounds(report.occurred_end)[1])
    if report.date_precision:
        precision = report.date_precision
    elif isinstance(report.occurred, dt.datetime):
        precision = "time" if end - start <= dt.timedelta(minutes=1) else "days"
    else:
        precision = "day" if end - start <= dt.timedelta(hours=25) else "days"
    return start, end, precision


def resolve(report: IncidentReport, pack: Pack) -> Resolution:
    """Resolve one report against the pack: time, actors, zones, platform, target, event."""
    return resolve_many([report], pack)[0]


def resolve_many(reports: Sequence[IncidentReport], pack: Pack) -> list[Resolution]:
    """Resolve a batch: the same as :func:`resolve` on each, with one zone-index query for all."""
    windows = [time_window(r, pack.tz) for r in reports]
    points = [(r.location.lon, r.location.lat, r.location.precision, w[0], w[1])
              if r.location is not None else (None, None, 7, w[0], w[1])
              for r, w in zip(reports, windows)]
    zones = pack.zones.resolve_many(points) if points else []
    return [_resolve(r, pack, w, z) for r, w, z in zip(reports, windows, zones)]


def _resolve(report: IncidentReport, pack: Pack, window: tuple[dt.datetime, dt.datetime, str],
             zone: ZoneMatch) -> Resolution:
    notes: list[str] = []
    unresolved: list[str] = []
    start, end, precision = window
    day = start.astimezone(pack.tz).date()

    def sides_of(names: list[str], explicit: list[str] | None, role: str) -> list[str]:
        if explicit:
            notes.append(f"{role} side given as {', '.join(explicit)}")
            return list(dict.fromkeys(explicit))
        out: list[str] = []
        for name in names:
            match = pack.registry.resolve(name, day)
            notes.append(f"{role}: {match.note()}")
            if not match.resolved:
                unresolved.append(name)
            out.extend(match.sides)
        return list(dict.fromkeys(out)) or [UNKNOWN]

    attackers = sides_of(report.attacker, report.attacker_side, "attacker")
    targets = sides_of(report.target, report.target_side, "target")
    ambiguous = report.attribution == "ambiguous" or len(attackers) > 1
    if ambiguous:
        notes.append("attribution ambiguous: every candidate attacker is judged")

    loc = report.location
    notes.append(f"zone: {zone.note}")

    text = " ".join(t for t in (report.notes, *report.sources) if t)
    guess = pack.classifier.classify(text) if text else None

    def pick(field: str, given: str | None, default: str) -> str:
        if given is not None:
            notes.append(f"{field}={given} (given by the source)")
            return given
        decision = getattr(guess, field) if guess else None
        if decision is not None and decision.value is not None:
            notes.append(decision.note(field))
            return str(decision.value)
        notes.append(f"{field}={default} (not stated; no words in the text decided it)")
        return default

    event_type = report.event_type
    platform = pick("platform", report.platform, "unknown")
    if event_type == "attack" and guess and guess.event_type.value in ATTACK_EVENT_TYPES:
        # the generic "attack" is refined by the text ("air strike", "shelling", "clashes"),
        # never turned into a non-attack by a word like "besieged" 
        event_type = guess.event_type.value  # type: ignore[assignment]
        notes.append(guess.event_type.note("event_type"))
    if event_type == "air_strike" and platform not in AIRCRAFT_PLATFORMS:
        platform = "aircraft"
        notes.append("platform=aircraft (an air strike by an aircraft of unstated kind)")
    target_category = pick("target_category", report.target_category, "unknown")
    mission = report.mission
    if mission == "unknown" and guess and guess.mission.value:
        mission = guess.mission.value  # type: ignore[assignment]
        notes.append(guess.mission.note("mission"))

    return Resolution(
        start=start,
        end=end,
        date_precision=precision,  # type: ignore[arg-type]
        attacker_sides=attackers,
        target_sides=targets,
        attribution="ambiguous" if ambiguous else "single",
        zones=list(zone.kinds),
        zone_ids=list(zone.zone_ids),
        location_resolved=zone.resolved,
        governorate=zone.governorate or (loc.admin1 if loc else None),
        platform=platform,  # type: ignore[arg-type]
        target_category=target_category,  # type: ignore[arg-type]
        event_type=event_type,
        mission=mission,
        notes=notes,
        unresolved_names=unresolved,
    )
