"""A pack's declared vocabulary (``vocabulary:`` in pack.yaml): its event types, platforms,
target categories and weapon classes, each with what it means to the monitor; and the core one
(:func:`core_vocabulary`) a pack declaring none speaks. The words themselves and the sets that
count are in :mod:`.vocabulary`, which defines no model."""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .vocabulary import (
    AIRCRAFT_PLATFORMS,
    ATTACK_EVENT_TYPES,
    CIVILIAN_TARGETS,
    EVENT_TYPES,
    FALLBACK_EVENT_TYPE,
    PLATFORMS,
    TARGET_CATEGORIES,
    UNKNOWN,
)

WordId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]


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
