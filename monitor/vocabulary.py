"""The vocabularies the monitor speaks, and the sets of them that count.

Event types, target categories, platforms and weapon classes are open: a pack declares its own
(:class:`~.vocabspec.VocabularySpec`, ``vocabulary:`` in pack.yaml), each value with what it
means to the monitor (an attack, by air, a civilian object). The ``Literal`` core below is the
vocabulary the feeds' adapters speak and the one a pack gets when it declares none
(:func:`~.vocabspec.core_vocabulary`). This module defines no model, so the commands that only
read the ledger import it without building any (start-up time).

Each vocabulary is a ``Literal`` (what pydantic validates) and its tuple is derived from it with
``get_args``, so a value is added in one place. The sets that decide what is counted — which
statuses a scorecard counts, which event types are attacks — are defined here once (as
ordered tuples where SQL is generated from them); the ledger's SQL views and queries are
written from them with :func:`sql_list`.
"""
from __future__ import annotations

from typing import Literal, get_args

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
# A finding's status until its first status change (the ledger's views give it when none), and
# the one it returns to when the evidence no longer corroborates it.
NEW_STATUS: Status = "alleged"
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
# the charged set of a finding charged to nobody (COH-CLASH): how lists and counts label it
UNDETERMINED = "undetermined"
# What an analyst may say of a finding (TERMS.md §5), as CLI verb (`monitor finding VERB`) ->
# the status it gives
ANALYST_VERDICTS = {"confirm": "confirmed", "dispute": "disputed", "discount": "discounted",
                    "retract": "retracted"}
InstrumentStatus = Literal["agreed", "proposed", "context"]
Reliability = Literal["A", "B", "C", "D", "E", "F"]


# the values the monitor itself falls back on: a report that names no event type is an
# "attack" (IncidentReport's default); no platform, target or weapon stated is "unknown"
FALLBACK_EVENT_TYPE = "attack"
UNKNOWN = "unknown"


def sql_list(values: tuple[str, ...]) -> str:
    """``('a', 'b')``: vocabulary words as an SQL list, in their order, for views and queries
    (the words are this module's identifiers, never user input). The order is part of a
    view's text, which ``monitor ledger verify`` compares with the code's."""
    assert all(w.isidentifier() for w in values), values
    return "(" + ", ".join(f"'{w}'" for w in values) + ")"
