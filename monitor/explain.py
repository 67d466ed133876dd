"""A finding's explanation in sentences, for people who do not read rule syntax.

The judge records each condition that held as the rule states it ("attacker_side in
[bound_by_may, unknown]: syrian_government"); a brief says the same in words ("the attacker
was the Syrian government"), with the pack's names for sides and instruments.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

_CONDITION = re.compile(r"^(?P<fact>\w+) (?P<op>=|!=|not_in|in|<=|>=|<|>) (?P<rule>.*)$")
_INSTRUMENT = re.compile(r"^instrument (?P<id>\S+) in force at event time$")

# fact -> sentence with {v}, the values that held, in words
_PHRASES: dict[str, str] = {
    "attacker_side": "the attacker was {v}",
    "attacker_set": "the attacking sides named were {v}",
    "target_side": "what was hit belongs to {v}",
    "target_set": "the sides hit were {v}",
    "target_category": "the target was {v}",
    "claimed_target": "the attacker said it aimed at {v}",
    "zone": "it happened in an area of kind {v}",
    "platform": "the weapon was {v}",
    "event_type": "the event was {v}",
    "mission": "the flight's mission was {v}",
    "split_place": "the place is split between zones",
}
_FLAGS: dict[str, tuple[str, str]] = {  # fact -> (sentence when true, when false)
    "is_attack": ("it was a use of force", "it was not a use of force"),
    "civilian_targeting": ("the source codes it as targeting civilians",
                           "the source does not code it as targeting civilians"),
    "aggregate": ("the report is an aggregate (a tally or a round-up)",
                  "the report is about one event"),
    "split_place": ("the place is split between zones", "the place is in one zone"),
}
_DIRECTIONS = {"directed": "the report says who attacked",
               "clash": "it was a clash whose initiator is not known"}


def _words(value: str) -> str:
    return value.replace("_", " ")


def _values(value: Any, name: Callable[[str], str]) -> list[str]:
    items = value if isinstance(value, list) else str(value).split(", ")
    return [name(str(v)) for v in items if str(v)]


def _join(words: list[str]) -> str:
    words = list(dict.fromkeys(words))
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def sentence(condition: str, values: Iterable[Any], side_label: Callable[[str], str],
             instrument_title: Callable[[str], str]) -> str:
    """One condition that held, in words ("the attacker was Syrian government or Russia")."""
    if m := _INSTRUMENT.match(condition):
        return f"the {instrument_title(m['id'])} ({m['id']}) was in force when it happened"
    m = _CONDITION.match(condition)
    if not m:
        return condition
    fact = m["fact"]
    held = [v for value in values for v in ([value] if not isinstance(value, list) else value)]
    if fact in _FLAGS:
        true = any(v is True or str(v).lower() == "true" for v in held)
        return _FLAGS[fact][0 if true else 1]
    if fact == "direction":
        return "; ".join(dict.fromkeys(_DIRECTIONS.get(str(v), f"direction {v}") for v in held))
    name = side_label if fact.endswith(("_side", "_set")) else _words
    words = [w for v in held for w in _values(v, name)]
    phrase = _PHRASES.get(fact, _words(fact) + " was {v}")
    return phrase.format(v=_join(words) if words else "unknown")


def because(conditions: list[tuple[str, list[Any]]], side_label: Callable[[str], str],
            instrument_title: Callable[[str], str]) -> str:
    """Every condition that held, as one sentence: "Because the ... ; and ...."."""
    parts = [sentence(c, v, side_label, instrument_title) for c, v in conditions]
    parts = list(dict.fromkeys(p for p in parts if p))
    if not parts:
        return ""
    text = "; ".join(parts[:-1]) + ("; and " if len(parts) > 1 else "") + parts[-1]
    return text[0].upper() + text[1:] + "."
