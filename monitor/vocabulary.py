"""The vocabularies the monitor speaks, and the sets of them that count.

Event types, target categories, platforms and weapon classes are open: a pack declares its own
(:class:`VocabularySpec`, ``vocabulary:`` in pack.yaml), each value with what it means to the
monitor (an attack, by air, a civilian object). The ``Literal`` core below is the vocabulary the
feeds' adapters speak and the one a pack gets when it declares none (:func:`core_vocabulary`).

Each vocabulary is a ``Literal`` (what pydantic validates) and its tuple is derived from it with
``get_args``, so a value is added in one place. The sets that decide what is counted — which
statuses a scorecard counts, which event types are attacks — are defined here once (as
ordered tuples where SQL is generated from them); the ledger's SQL views and queries are
written from them with :func:`sql_list`.
"""
from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

Platform = Literal[
    "fixed_wing", "helicopter", "drone",
    "aircraft",  # an aircraft of unknown kind ("air strike", "warplanes")
    "artillery", "rocket", "mortar", "missile", "ground", "unknown",
]
PLATFORMS: tuple[str, ...] = get_args(Platform)
AIRCRAFT_PLATFORMS = frozenset({"fixed_wing", "helicopter", "drone", "aircraft"})

TargetCategory = Literal[
    "military", "civilians", "residential", "market", "medical", "school",
    "idp_camp",  # displaced-persons camp
    "water_power",  # water or power infrastructure
    "aid",  # aid convoy, aid warehouse or aid workers
    "unknown",
]
TARGET_CATEGORIES: tuple[str, ...] = get_args(TargetCategory)
# TERMS.md MAY-CIV: the target categories that are civilians or civilian objects
CIVILIAN_TARGETS = frozenset(set(TARGET_CATEGORIES) - {"military", "unknown"})

EventType = Literal[
    "air_strike",
    "shelling",  # artillery, rockets, mortars, missiles
    "bombing",  # IED, car bomb, suicide attack
    "armed_clash", "ground_assault",
    "attack",  # use of force, means unknown
    "territory_change",
    "access_denial",  # humanitarian access blocked: convoy turned back, siege closure
    "military_presence",
    "other",  # not a use of force (arrests, agreements, ...)
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# TERMS.md §4: "Attack" = any use of force against a target.
ATTACK_EVENT_TYPES = frozenset(
    {"air_strike", "shelling", "bombing", "armed_clash", "ground_assault", "attack"})

Mission = Literal["combat", "medical", "evacuation", "reconnaissance", "unknown"]
DatePrecision = Literal["time", "day", "days", "week", "month", "year"]
Severity = Literal["minor", "major", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)  # least to most serious
SERIOUS_SEVERITIES = ("major", "critical")  # what breaks a calm day
Confidence = Literal["low", "medium", "high"]
CONFIDENCES: tuple[str, ...] = get_args(Confidence)  # least to most sure

# TERMS.md §5, plus "superseded": the source revised the record and a newer finding replaces it
Status = Literal["alleged", "corroborated", "confirmed", "disputed", "discounted", "retracted",
                 "superseded"]
STATUSES: tuple[str, ...] = get_args(Status)
# Replaced or withdrawn: no longer a finding at all (in no brief, list or count).
GONE_STATUSES = ("superseded", "retracted")
# An analyst doubts them: listed apart, never counted.
SET_ASIDE_STATUSES = ("disputed", "discounted")
# What scorecards, briefs, calm days and alerts count.
COUNTED_STATUSES = tuple(s for s in STATUSES if s not in GONE_STATUSES + SET_ASIDE_STATUSES)
# Statuses evidence never moves a finding out of: an analyst's word, or a replacement.
SETTLED_STATUSES = ("confirmed", *SET_ASIDE_STATUSES, *GONE_STATUSES)

# TERMS.md §4-5: single (one side charged), ambiguous (charged to the candidates for which the
# term holds), undetermined (a clash: charged to nobody), joint (each side of a clash charged)
Attribution = Literal["single", "ambiguous", "undetermined", "joint"]
# What a source may say of a report's attribution (the rest is decided by the judge)
SourceAttribution = Literal["single", "ambiguous"]
# TERMS.md §4 "Who attacked": `directed` — the source says who acted against whom (attacked,
# blocked, took ground from); `clash` — both fought, the initiator undetermined; `words` — the
# source names the parties but not who acted, so the words about this incident decide (else a
# clash). None: from the event type (armed_clash a clash; anything else directed).
DirectionGiven = Literal["directed", "clash", "words"]
Direction = Literal["directed", "clash"]
InstrumentStatus = Literal["agreed", "proposed", "context"]
Reliability = Literal["A", "B", "C", "D", "E", "F"]


# --- a pack's declared vocabulary ---------------------------------------------------------

WordId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]
# the values the monitor itself falls back on: a report that names no event type is an
# "attack" (IncidentReport's default); no platform, target or weapon stated is "unknown"
FALLBACK_EVENT_TYPE = "attack"
UNKNOWN = "unknown"


class _Word(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: WordId
    description: str = ""


class EventTypeWord(_Word):
    """An event type and what it means to the judge (facts ``is_attack``, ``is_air``)."""

    attack: bool = False  # a use of force against a target (TERMS.md §4 "Attack")
    air: bool = False  # by aircraft: its platform is an aircraft even when none is named
    clash: bool = False  # fighting: without a direction given, both sides fought
    # whether the words about the incident may replace the source's value: never, by any event
    # type they name ("attack", means unknown), or only by a non-attack one ("other")
    refined_by_words: Literal["never", "any", "non_attack"] = "never"


class PlatformWord(_Word):
    air: bool = False  # an aircraft (fact is_air)


class TargetWord(_Word):
    civilian: bool = False  # civilians or a civilian object (TERMS.md MAY-CIV)


class WeaponWord(_Word):
    """A weapon class (tank, MLRS, heavy weapon): fact ``weapon_class``."""


class VocabularySpec(BaseModel):
    """``vocabulary:`` of pack.yaml: the values reports, the classifier and rules may use.

    ``unnamed_aircraft`` is the platform of an air event whose aircraft the source does not
    name. Event type ``attack`` and platform, target category ``unknown`` must be declared:
    the monitor falls back on them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_types: list[EventTypeWord] = Field(min_length=1)
    platforms: list[PlatformWord] = Field(min_length=1)
    target_categories: list[TargetWord] = Field(min_length=1)
    weapon_classes: list[WeaponWord] = Field(default_factory=list)
    unnamed_aircraft: WordId | None = None

    @model_validator(mode="after")
    def _consistent(self) -> VocabularySpec:
        problems = []
        for name in ("event_types", "platforms", "target_categories", "weapon_classes"):
            ids = [w.id for w in getattr(self, name)]
            problems += [f"{name}: {d!r} is declared twice" for d in sorted(
                {i for i in ids if ids.count(i) > 1})]
        if FALLBACK_EVENT_TYPE not in self.event_type_ids:
            problems.append(f"event_types must declare {FALLBACK_EVENT_TYPE!r}: the event type "
                            "of a report that names none")
        for name, ids in (("platforms", self.platform_ids),
                          ("target_categories", self.target_ids)):
            if UNKNOWN not in ids:
                problems.append(f"{name} must declare {UNKNOWN!r}: the value when none is "
                                "stated")
        if self.unnamed_aircraft is not None and self.unnamed_aircraft not in self.air_platforms:
            problems.append(f"unnamed_aircraft {self.unnamed_aircraft!r} is not a platform "
                            "declared with air: true")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @cached_property
    def event_type_ids(self) -> tuple[str, ...]:
        return tuple(w.id for w in self.event_types)

    @cached_property
    def platform_ids(self) -> tuple[str, ...]:
        return tuple(w.id for w in self.platforms)

    @cached_property
    def target_ids(self) -> tuple[str, ...]:
        return tuple(w.id for w in self.target_categories)

    @cached_property
    def weapon_ids(self) -> tuple[str, ...]:
        return tuple(w.id for w in self.weapon_classes) + (UNKNOWN,) * (
            UNKNOWN not in (w.id for w in self.weapon_classes))

    @cached_property
    def attack_types(self) -> frozenset[str]:
        return frozenset(w.id for w in self.event_types if w.attack)

    @cached_property
    def air_platforms(self) -> frozenset[str]:
        return frozenset(w.id for w in self.platforms if w.air)

    @cached_property
    def civilian_targets(self) -> frozenset[str]:
        return frozenset(w.id for w in self.target_categories if w.civilian)

    @cached_property
    def _event_types(self) -> dict[str, EventTypeWord]:
        return {w.id: w for w in self.event_types}

    def event_type(self, value: str) -> EventTypeWord | None:
        """The declared event type ``value`` (None: not declared)."""
        return self._event_types.get(value)

    def values(self) -> dict[str, tuple[str, ...]]:
        """Each report field checked against this vocabulary, with its allowed values."""
        return {"event_type": self.event_type_ids, "platform": self.platform_ids,
                "target_category": self.target_ids, "weapon_class": self.weapon_ids}


@lru_cache(maxsize=1)
def core_vocabulary() -> VocabularySpec:
    """The vocabulary of the ``Literal`` core above: what a pack declaring none speaks."""
    refine = {"attack": "any", "other": "non_attack"}
    return VocabularySpec(
        event_types=[EventTypeWord(id=e, attack=e in ATTACK_EVENT_TYPES, air=e == "air_strike",
                                   clash=e == "armed_clash",
                                   refined_by_words=refine.get(e, "never"))  # type: ignore
                     for e in EVENT_TYPES],
        platforms=[PlatformWord(id=p, air=p in AIRCRAFT_PLATFORMS) for p in PLATFORMS],
        target_categories=[TargetWord(id=t, civilian=t in CIVILIAN_TARGETS)
                           for t in TARGET_CATEGORIES],
        unnamed_aircraft="aircraft",
    )


def sql_list(values: tuple[str, ...]) -> str:
    """``('a', 'b')``: vocabulary words as an SQL list, in their order, for views and queries
    (the words are this module's identifiers, never user input). The order is part of a
    view's text, which ``monitor ledger verify`` compares with the code's."""
    assert all(w.isidentifier() for w in values), values
    return "(" + ", ".join(f"'{w}'" for w in values) + ")"
