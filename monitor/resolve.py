"""Resolution before rules: a report's time window, sides, zones and classification.

Each decision leaves a note, so a finding can say why a name became a side, why a point fell in
a zone, and which words made an air strike a helicopter strike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from zoneinfo import ZoneInfo

from .classify import Decision
from .config import Pack
from .models import Direction, IncidentReport, Resolution
from .zones import ZoneMatch

UTC = dt.timezone.utc
# Sources' text words that mean "the attacker is not known" are registry aliases of `unknown`;
# a name the registry does not know at all also resolves to `unknown`, and is sent for review.
# TERMS.md §4 "Aggregate reports"
AGGREGATE_WINDOW = dt.timedelta(days=7)
COUNTRY_PRECISION = 6  # UCDP where_prec 6: the whole country


def time_window(report: IncidentReport, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime, str]:
    """The event-time window [start, end) in UTC and its precision.

    A date alone is the whole local day (not midnight): 2016-08-10 in Damascus is
    2016-08-09T21:00Z .. 2016-08-10T21:00Z. A time is a one-minute window.
    """
    return _window(report.occurred, report.occurred_end, report.date_precision, tz)[:3]


# Windows kept: a feed's reports share their days (a year of them has a few hundred), and a
# window and its local day cost a few time-zone conversions each (~4 µs a report). Reports
# given to the minute rarely share a time: the bound keeps what they add to a daemon to ~2 MB.
WINDOWS_KEPT = 4096


@lru_cache(maxsize=WINDOWS_KEPT)
def _window(occurred: dt.date | dt.datetime, occurred_end: dt.date | dt.datetime | None,
            date_precision: str | None, tz: ZoneInfo
            ) -> tuple[dt.datetime, dt.datetime, str, dt.date]:
    """:func:`time_window` of a report's times, and the local day its window starts on. (Two
    times equal as instants are one key: their windows in UTC are the same.)"""

    def bounds(value: dt.date | dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        if isinstance(value, dt.datetime):
            start = value.astimezone(UTC)
            return start, start + dt.timedelta(minutes=1)
        start = dt.datetime.combine(value, dt.time(0), tz)
        end = dt.datetime.combine(value + dt.timedelta(days=1), dt.time(0), tz)
        return start.astimezone(UTC), end.astimezone(UTC)

    start, end = bounds(occurred)
    if occurred_end is not None:
        end = max(end, bounds(occurred_end)[1])
    if date_precision:
        precision = date_precision
    elif isinstance(occurred, dt.datetime):
        precision = "time" if end - start <= dt.timedelta(minutes=1) else "days"
    else:
        precision = "day" if end - start <= dt.timedelta(hours=25) else "days"
    return start, end, precision, start.astimezone(tz).date()


def resolve(report: IncidentReport, pack: Pack) -> Resolution:
    """Resolve one report against the pack: time, actors, zones, platform, target, event."""
    return resolve_many([report], pack)[0]


def resolve_many(reports: Sequence[IncidentReport], pack: Pack) -> list[Resolution]:
    """Resolve a batch: the same as :func:`resolve` on each, with one zone-index query for all."""
    windows = [_window(r.occurred, r.occurred_end, r.date_precision, pack.tz) for r in reports]
    points = [(r.location.lon, r.location.lat, r.location.precision, w[0], w[1])
              if r.location is not None else (None, None, 7, w[0], w[1])
              for r, w in zip(reports, windows)]
    places = [r.location.place if r.location is not None else None for r in reports]
    zones = pack.zones.resolve_many(points, places=places) if points else []
    out = [_resolve(r, pack, w, z) for r, w, z in zip(reports, windows, zones)]
    if pack.distance_kinds:  # only what the rules measure (distance_km)
        for res, (lon, lat, precision, start, end) in zip(out, points):
            if lon is not None and lat is not None and precision < pack.spec.coarse_precision:
                res.distances_km = pack.zones.distances_km(lon, lat, start, end,
                                                           pack.distance_kinds)
                res.notes.append("distance: " + ", ".join(
                    f"{v:g} km to the nearest {k}" for k, v in res.distances_km.items()))
    return out


def words_of(report: IncidentReport) -> str:
    """The report's own words: its notes, else its cited sources (which repeat the headline)."""
    if report.notes:
        return report.notes
    return "; ".join(s for s in report.sources if s)


def is_aggregate(report: IncidentReport, start: dt.datetime, end: dt.datetime) -> bool:
    """TERMS.md §4 "Aggregate reports": an event window of 7 days or longer, or a location no
    finer than the whole country (a monthly tally, a national casualty round-up)."""
    coarse = report.location is not None and report.location.precision >= COUNTRY_PRECISION
    return end - start >= AGGREGATE_WINDOW or coarse


class _Sides:
    """The sides a role's names stand for, and those they may stand for in an air strike whose
    aircraft the source does not name (an alias's ``air_sides``, TERMS.md §4)."""

    def __init__(self, names: list[str], explicit: list[str] | None, role: str, day: dt.date,
                 pack: Pack, notes: list[str], unresolved: list[str]) -> None:
        if explicit:
            notes.append(f"{role} side given as {', '.join(explicit)}")
            self.sides = list(dict.fromkeys(explicit))
            self.air = list(self.sides)
            return
        sides: list[str] = []
        air: list[str] = []
        for name in names:
            match, note = pack.registry.resolve_noted(name, day)
            notes.append(f"{role}: {note}")
            if not match.resolved:
                unresolved.append(name)
            sides.extend(match.sides)
            air.extend(match.air_sides)
        unknown = pack.spec.unknown_side
        self.sides = list(dict.fromkeys(sides)) or [unknown]
        self.air = list(dict.fromkeys(air)) or [unknown]

    def flying(self, pack: Pack) -> list[str]:
        """The pack's air operators among the sides these names may stand for in an air
        strike: whose aircraft they may have been when the words do not say."""
        return [s for s in self.air if s in pack.spec.air_operators]


def _resolve(report: IncidentReport, pack: Pack,
             window: tuple[dt.datetime, dt.datetime, str, dt.date], zone: ZoneMatch) -> Resolution:
    notes: list[str] = []
    unresolved: list[str] = []
    start, end, precision, day = window
    first = _Sides(report.attacker, report.attacker_side, "attacker", day, pack, notes, unresolved)
    second = _Sides(report.target, report.target_side, "target", day, pack, notes, unresolved)

    loc = report.location
    notes.append(f"zone: {zone.note}")

    # TERMS.md §4 "Which words decide": only the words about this incident
    text = words_of(report)
    whole_text = False
    if text and pack.places is not None:
        selection = pack.places.select(text, report.location,
                                       pack.zones.admin_name(zone.adm3))
        notes.append(selection.note())
        text, whole_text = selection.text, selection.how == "single"
    guess = pack.classifier.classify(text) if text else None
    if guess is not None and whole_text and guess.platform.weak:
        # a casualty round-up ("164 died yesterday ... in air strikes, sniper bullets and
        # explosions") reports many incidents across the country: no clause names this one's
        # place, so none of its words is about it
        notes.append("the text is a casualty round-up of many incidents and no clause names "
                     f"this one's place ({guess.platform.note('round-up')}): its words decide "
                     "nothing")
        guess = None

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

    words = pack.words
    event_type = report.event_type
    platform = pick("platform", report.platform, "unknown")
    declared = words.event_type(event_type)
    refine = declared.refined_by_words if declared is not None else "never"
    guessed = guess.event_type.value if guess is not None else None
    refinable = refine == "any" or (
        refine == "non_attack" and guessed is not None and guessed != event_type
        and guessed not in words.attack_types)
    if refinable and guess and guess.event_type.value is not None:
        # the source's generic "attack" is refined by the words about it: a means
        # ("air strike", "shelling"), fighting ("clashes"), or a non-violent event ("convoy
        # turned back", "took control") that the terms judge on its own (COH-HUM, COH-LAND); a
        # source's "other" (ACLED's strategic developments) only into a non-violent event
        event_type = guess.event_type.value  # type: ignore[assignment]
        notes.append(guess.event_type.note("event_type"))
    air_event = words.event_type(event_type)
    air_event_type = air_event is not None and air_event.air
    if air_event_type and platform not in words.air_platforms and words.unnamed_aircraft:
        platform = words.unnamed_aircraft
        notes.append(f"platform={platform} (an air strike by an aircraft of unstated kind)")
    target_category = pick("target_category", report.target_category, "unknown")
    weapon_class = report.weapon_class
    if weapon_class is not None:
        notes.append(f"weapon_class={weapon_class} (given by the source)")
    elif guess is not None and guess.weapon_class.value is not None:
        weapon_class = guess.weapon_class.value
        notes.append(guess.weapon_class.note("weapon_class"))
    mission = report.mission
    if mission == "unknown" and guess and guess.mission.value:
        mission = guess.mission.value  # type: ignore[assignment]
        notes.append(guess.mission.note("mission"))

    is_air = platform in words.air_platforms or air_event_type
    fired = guess.fired_by if guess else None
    hit = guess.hit_side if guess and guess.hit_side.value is not None else None
    direction, attackers, targets = _direction(report, pack, event_type, is_air, first, second,
                                               fired, notes, hit)
    if (direction == "directed" and report.direction == "words" and report.target_side is None
            and event_type in words.attack_types and hit is None
            and pack.spec.parties_target == "words"):
        # TERMS.md §4: the target is what the report shows was hit. Read this way (the pack's
        # parties_target), a source that names the parties of a fight, not who attacked (a UCDP
        # dyad), says who fought, not that this strike hit the other one: unless the words say
        # what was hit it is unknown, and the terms fall back on the place
        notes.append(f"target: {pack.spec.unknown_side} (the words about the incident do not "
                     "say what was hit; "
                     f"{' or '.join(targets)} is the other party of the conflict, not the "
                     "target)")
        targets = [pack.spec.unknown_side]
    if direction == "directed" and hit is not None:
        struck = [t for t in targets if t in hit.value.split("+")]  # type: ignore[union-attr]
        if struck and struck != targets:
            # words narrow the target's candidates, never widen them
            notes.append(f"target: {' or '.join(struck)} ({hit.note('hit_side')}), not "
                         f"{' or '.join(t for t in targets if t not in struck)}")
            targets = struck
    civilian = pack.spec.civilian_side
    if (direction == "directed" and report.direction == "words" and civilian
            and event_type in words.attack_types and target_category in words.civilian_targets
            and report.target_category is None):
        # TERMS.md §4: the target is what the report shows was hit — the words say civilians
        # or a civilian object, not the other party of the source's pair
        notes.append(f"target: {civilian} (the words about the incident say "
                     f"{target_category} was hit, not {' or '.join(targets)})")
        targets = [civilian]
    if direction == "clash":
        attribution = "undetermined"
    else:
        ambiguous = report.attribution == "ambiguous" or len(attackers) > 1
        attribution = "ambiguous" if ambiguous else "single"
        if ambiguous:
            notes.append("attribution ambiguous: every candidate attacker is judged")
    aggregate = is_aggregate(report, start, end)
    if aggregate:
        notes.append("aggregate report (an event window of 7 days or more, or a whole country): "
                     "recorded, never counted in calm days, alerts or a brief's most serious")

    return Resolution(
        start=start,
        end=end,
        date_precision=precision,  # type: ignore[arg-type]
        attacker_sides=attackers,
        target_sides=targets,
        attribution=attribution,  # type: ignore[arg-type]
        direction=direction,
        aggregate=aggregate,
        split_place=zone.split,
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
        weapon_class=weapon_class,
        zone_responsible=pack.zones.responsible(zone.zone_ids),
    )


def _direction(report: IncidentReport, pack: Pack, event_type: str, is_air: bool,
               first: _Sides, second: _Sides, fired: Decision | None, notes: list[str],
               hit: Decision | None) -> tuple[Direction, list[str], list[str]]:
    """TERMS.md §4 "Who attacked": directed (attackers, targets) or a clash (both sides).

    The source decides first (``report.direction``; without one, the event type: fighting is
    a clash, anything else names who acted). A source that names the parties but not who acted
    (``words``: UCDP state-based and non-state events) is directed only when the words about
    the incident name who fired, or say that one party was hit and name no one firing (then
    the other party fired: "bombardment on areas controlled by the regime"), or when it is an
    air strike and only one party flies. Words and air operators narrow a party's candidates,
    never widen them (the side the words say was hit narrows the target afterwards)."""
    given = report.direction
    fighting = pack.words.event_type(event_type)
    if given == "clash" or (given is None and fighting is not None and fighting.clash):
        notes.append("direction: a clash — both sides fought and the source does not say who "
                     "attacked (TERMS.md §4): charged to neither as the attacker")
        return "clash", first.sides, second.sides
    if given in (None, "directed"):
        attackers = first.sides
        if attackers == [pack.spec.unknown_side] and fired is not None and (
                fired.value is not None):
            # no attacker named by the source (a news item): the words narrow "anyone"
            attackers = fired.value.split("+")
            notes.append(f"{fired.note('fired_by')}: the source names no attacker")
        elif is_air:
            attackers = _narrow_air(first, fired, pack, notes) or attackers
        elif len(attackers) > 1 and fired is not None and fired.value is not None:
            # a name that stands for several sides ("Syrian insurgents"): the words that say
            # which of them acted narrow it ("Jabhat al-Nusra executes a woman")
            named = [s for s in attackers if s in fired.value.split("+")]
            if named and named != attackers:
                notes.append(f"{fired.note('fired_by')}: of {' or '.join(attackers)}, "
                             f"{' or '.join(named)} acted")
                attackers = named
        why = "given by the source" if given else f"the source names who acted ({event_type})"
        notes.append(f"direction: {' or '.join(attackers)} acted against "
                     f"{' or '.join(second.sides)} ({why})")
        return "directed", attackers, second.sides
    # "words": the source names the parties, not who acted; either may turn out the attacker
    orientations = ((first, second), (second, first))
    if fired is not None and fired.value == pack.spec.unknown_side:
        # "unidentified gunmen assassinate a rebel commander": the source's first party is its
        # order, not the attacker, and the words say the attacker is not known
        notes.append(f"direction: {fired.note('fired_by')}: an unidentified attacker acted "
                     f"against {' or '.join(second.sides)}, not {' or '.join(first.sides)}")
        return "directed", [pack.spec.unknown_side], second.sides
    if fired is not None and fired.value is not None:
        named = set(fired.value.split("+"))

        def candidates(p: _Sides) -> list[str]:
            return [s for s in (p.air if is_air else p.sides) if s in named]

        for acting, other in orientations:
            attackers = candidates(acting)
            if attackers and not candidates(other):
                if hit is not None and not set(hit.value.split("+")) & set(other.sides):
                    # "Rebels advance over IS" in a government-insurgents row: the words say
                    # whom the acting party attacked, and it is not the other party
                    notes.append(f"{fired.note('fired_by')}, but {hit.note('hit_side')}, not "
                                 f"{' or '.join(other.sides)}: the words cannot set the "
                                 "direction between the source's parties")
                    break
                if is_air and not _names_aircraft(fired, pack):
                    # "the regime advanced ... aerial bombardment": the words say which party
                    # acted, not whose aircraft struck
                    attackers = acting.flying(pack) or attackers
                notes.append(f"direction: {fired.note('fired_by')}: {' or '.join(attackers)} "
                             f"attacked {' or '.join(other.sides)}")
                return "directed", attackers, other.sides
        else:
            notes.append(f"{fired.note('fired_by')}, which names neither party alone: the "
                         "words cannot set the direction")
    elif hit is not None:  # (the caller passes a hit side only when words decided one)
        struck = set(hit.value.split("+"))
        for acting, other in orientations:
            attackers = acting.air if is_air else acting.sides
            if attackers and struck & set(other.sides) and not struck & set(acting.sides):
                notes.append(f"direction: {hit.note('hit_side')} and no one is named firing: "
                             f"{' or '.join(attackers)}, the other party, attacked")
                return "directed", attackers, other.sides
    if is_air:
        for acting, other in orientations:
            flying = acting.flying(pack)
            if flying and not other.flying(pack):
                notes.append(f"direction: an air strike whose aircraft are not named; of the "
                             f"parties only {' or '.join(flying)} flies (air_operators)")
                return "directed", flying, other.sides
    notes.append("direction: a clash — the source names the parties, not who attacked, and "
                 "the words about the incident do not say (TERMS.md §4): charged to neither "
                 "as the attacker")
    return "clash", first.sides, second.sides


def _narrow_air(first: _Sides, fired: Decision | None, pack: Pack,
                notes: list[str]) -> list[str] | None:
    """The attackers of a directed air strike: a name that may stand for several air forces
    (UCDP's "Government of Syria") is narrowed by the words, else by the pack's air
    operators; a name that names its air force is kept as it is."""
    if first.air == first.sides:
        return None
    if fired is not None and fired.value is not None and _names_aircraft(fired, pack):
        named = [s for s in first.air if s in fired.value.split("+")]
        if named:
            notes.append(f"{fired.note('fired_by')}: the aircraft are {' or '.join(named)}'s")
            return named
    flying = first.flying(pack)
    if flying:
        notes.append(f"an air strike whose aircraft are not named: {' or '.join(flying)} "
                     "(the attacker's name may stand for each, TERMS.md §4)")
    return flying or None


def _names_aircraft(fired: Decision, pack: Pack) -> bool:
    """Whether the words that say who fired name aircraft ("regime helicopters", "Russian
    jets"), not only a party acting ("regime forces advance"): only those say whose aircraft
    an air strike's were."""
    classifier = pack.classifier
    return classifier is None or any(
        classifier.classify(w).platform.value in pack.words.air_platforms for w in fired.words)
