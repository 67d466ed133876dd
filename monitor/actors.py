"""The actor registry: raw actor names (ACLED, UCDP, press) resolved to sides (TERMS.md §2).

Names are compared exactly after normalisation, never by prefix or similarity: a wrong side is
worse than ``unknown``, which at least goes to review. Aliases carry validity dates because names
change (Jabhat al-Nusra → Jabhat Fateh al-Sham → Hay'at Tahrir al-Sham); a name used outside its
dates still resolves, since renaming a group does not change its side, but the note says so.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError

from monitor.models import Actor, Alias
from monitor.problems import Problem, did_you_mean, from_validation, read_yaml

UNKNOWN_SIDE = "unknown"  # the default of a pack's unknown_side

# Transliterations of Arabic names differ exactly in these marks ("Hay'at Tahrir al-Sham",
# "Hayat Tahrir al Sham", "Hay’at Tahrir al‑Sham"), so apostrophes are dropped and hyphens
# become spaces; quotes of every kind become one.
_APOSTROPHES = "'\u2018\u2019\u201b\u02bc\u02bb\u02be\u02bf\u00b4`\u2032"
_HYPHENS = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
_QUOTES = "\u201c\u201d\u201e\u201f\u00ab\u00bb\u2039\u203a"
_TRANSLATE = str.maketrans(
    {**{c: "" for c in _APOSTROPHES}, **{c: " " for c in _HYPHENS}, **{c: '"' for c in _QUOTES}}
)
# Brackets are not stripped here: "Islamic State (Syria)" must keep its closing bracket.
_EDGE = ' \t\n"' + ".,;:!?*_/\\|~#"
_BRACKETS = {"(": ")", "[": "]"}  # stripped only when one pair encloses the whole name
# ACLED's period suffix once normalised: "(2000-)" → "(2000 )", "(2009-2017)" → "(2009 2017)".
_PERIOD = re.compile(r"\s*\(\s*\d{4}\s*(?:\d{4}\s*)?\)$")


@functools.lru_cache(maxsize=65_536)
def name_key(name: str) -> str:
    """The key a name is matched by: casefolded, NFKC, accents, apostrophes, hyphens, quotes,
    repeated spaces and surrounding punctuation (including enclosing brackets) removed."""
    text = unicodedata.normalize("NFKC", name).translate(_TRANSLATE).casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = " ".join(text.split()).strip(_EDGE)
    while text and _BRACKETS.get(text[0]) == text[-1] and _balanced(text[1:-1]):
        text = text[1:-1].strip(_EDGE)
    return text


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += char in "(["
        depth -= char in ")]"
        if depth < 0:
            return False
    return depth == 0


@functools.lru_cache(maxsize=65_536)
def _without_period(key: str) -> str:
    return _PERIOD.sub("", key)


def _period_text(alias: Alias) -> str:
    if alias.valid_from and alias.valid_to:
        return f"{alias.valid_from} to {alias.valid_to}"
    if alias.valid_to:
        return f"until {alias.valid_to}"
    return f"from {alias.valid_from}"


def _days_outside(alias: Alias, on: dt.date) -> int:
    """0 when the alias is valid on ``on``, else how many days it misses by."""
    if alias.valid_from and on < alias.valid_from:
        return (alias.valid_from - on).days
    if alias.valid_to and on > alias.valid_to:
        return (on - alias.valid_to).days
    return 0


@dataclass(frozen=True)
class ActorMatch:
    """What the registry made of one name on one date.

    ``on`` and ``without_period`` (beyond the five core fields) let :meth:`note` explain the
    match: the date asked, and whether the name only matched once its period suffix was dropped.
    """

    name: str  # the raw name asked
    sides: tuple[str, ...]  # ('unknown',) when unresolved
    actor_id: str | None  # None when unresolved
    alias: Alias | None  # the alias that matched
    resolved: bool
    on: dt.date | None = None
    without_period: bool = False

    @property
    def air_sides(self) -> tuple[str, ...]:
        """The sides this name may stand for in an air strike whose aircraft the source does not
        name (TERMS.md §4; the alias's ``air_sides``, else its sides; an empty ``air_sides``:
        ground forces, which fly nothing)."""
        if self.alias is not None and self.alias.air_sides is not None:
            return tuple(self.alias.air_sides)  # [] for ground forces: never an air strike
        return self.sides

    def note(self) -> str:
        """One line explaining the match, for the resolution notes and the review queue."""
        if not self.resolved or self.alias is None:
            return (
                f"{self.name!r} is not in the actor registry: resolved to {self.sides[0]!r} for "
                "review"
            )
        alias = self.alias
        # Name the alias only when it is spelt differently from the name asked.
        spelt = f"{alias.name!r} " if alias.name != self.name.strip() else ""
        parts = [f"actor {self.actor_id}, alias {spelt}from {alias.source}"]
        if self.without_period:
            parts.append("matched after dropping the period in brackets")
        if self.on is not None and (alias.valid_from or alias.valid_to):
            if _days_outside(alias, self.on) == 0:
                parts.append(f"valid on {self.on} ({_period_text(alias)})")
            else:
                parts.append(
                    f"outside its validity: the name is valid {_period_text(alias)}, not on "
                    f"{self.on}; the side does not change with the name"
                )
        if len(self.sides) > 1:
            parts.append("names several sides: attribution is ambiguous")
        return f"{self.name!r} -> {' or '.join(self.sides)} ({'; '.join(parts)})"


class _Entry(NamedTuple):
    alias: Alias
    actor: Actor
    sides: tuple[str, ...]


# Names and days whose match :meth:`ActorRegistry.resolve_noted` keeps (a few MB at most).
MATCHES_KEPT = 16_384


class ActorRegistry:
    """Resolves raw names to sides in O(1): one dict lookup on the normalised name.

    Build it from actors checked by :func:`load_actors`; if two actors still share a name on the
    same dates, the first one listed wins.
    """

    def __init__(self, actors: list[Actor], contested_side: str | None = None,
                 unknown_side: str = UNKNOWN_SIDE) -> None:
        """``contested_side``: the side an actor whose acceptance of the agreement is contested
        (``coh_status: contested``) may also be read as (TERMS.md §2: a contested member adds
        a non-party reading); None adds nothing. ``unknown_side``: what a name not in the
        registry resolves to (the pack's)."""
        self._actors = list(actors)
        self.unknown_side = unknown_side
        self._noted: dict[tuple[str, dt.date], tuple[ActorMatch, str]] = {}
        self._exact: dict[str, list[_Entry]] = {}
        self._by_base: dict[str, list[_Entry]] = {}  # keyed without ACLED's period suffix
        for actor in self._actors:
            sides = tuple(actor.sides) if actor.sides else (actor.side,)
            if (actor.coh_status == "contested" and contested_side
                    and contested_side not in sides):
                sides += (contested_side,)
            for alias in actor.aliases:
                entry = _Entry(alias, actor, sides)
                key = name_key(alias.name)
                self._exact.setdefault(key, []).append(entry)
                base = _without_period(key)
                if base != key:
                    self._by_base.setdefault(base, []).append(entry)

    @property
    def actors(self) -> list[Actor]:
        """The actors of the registry, in file order."""
        return list(self._actors)

    def alias_count(self) -> int:
        """How many aliases the registry holds (each listed name counts, with its source)."""
        return sum(len(actor.aliases) for actor in self._actors)

    def resolve_noted(self, name: str, on: dt.date) -> tuple[ActorMatch, str]:
        """:meth:`resolve` and the match's :meth:`~ActorMatch.note`, remembered: a feed names
        the same few actors on the same days again and again (the last
        :data:`MATCHES_KEPT` names and days asked)."""
        key = (name, on)
        found = self._noted.get(key)
        if found is None:
            match = self.resolve(name, on)
            found = self._noted[key] = (match, match.note())
            if len(self._noted) > MATCHES_KEPT:
                self._noted.pop(next(iter(self._noted)), None)  # the oldest asked
        return found

    def resolve(self, name: str, on: dt.date) -> ActorMatch:
        """The side(s) ``name`` stands for on date ``on``.

        An alias valid on ``on`` is preferred; otherwise the alias nearest in time (the side does
        not change with the name). A name not found as written is tried once more without a
        trailing period such as "(2000-)". Anything else resolves to ``unknown`` for review.
        """
        if isinstance(on, dt.datetime):  # a datetime would not compare with the alias dates
            on = on.date()
        key = name_key(name)
        candidates = self._exact.get(key)
        without_period = False
        if not candidates and key:
            base = _without_period(key)
            candidates = (self._exact.get(base) if base != key else None) or self._by_base.get(base)
            without_period = bool(candidates)
        if not candidates:
            return ActorMatch(name, (self.unknown_side,), None, None, False, on)
        # Valid on the date first, then the nearest in time; among equals, the same spelling.
        entry = min(candidates, key=lambda e: (_days_outside(e.alias, on), e.alias.name != name))
        return ActorMatch(name, entry.sides, entry.actor.id, entry.alias, True, on, without_period)


# --- loading ---------------------------------------------------------------------------------


def load_actors(
    path: Path, sides: set[str], file_label: str | None = None,
    rename: Mapping[str, str | None] | None = None,
) -> tuple[list[Actor], list[Problem]]:
    """Read and check an actor registry file; return its valid actors and every problem found.

    Checks: each actor against the model, every side against ``sides`` (with a did-you-mean
    hint), duplicate ids, validity periods that end before they start, and one name given to
    two actors on overlapping dates. An actor with a problem is left out of the result.
    """
    label = file_label or str(path)
    data, read_problems = read_yaml(path)
    if read_problems:
        return [], [replace(p, file=label) for p in read_problems]
    raw_actors, problems = _actor_list(data, label)
    if rename:
        raw_actors = _renamed(raw_actors, rename)
    actors: list[tuple[int, Actor]] = []
    bad: set[int] = set()
    first_index: dict[str, int] = {}
    for i, raw in enumerate(raw_actors):  # problems come out in file order
        try:
            actor = Actor.model_validate(raw)
        except ValidationError as exc:
            problems.extend(from_validation(label, exc, prefix=f"actors[{i}]"))
            continue
        actors.append((i, actor))
        found = _check_actor(actor, f"actors[{i}]", sides, label)
        if actor.id in first_index:
            found.append(
                Problem(label, f"actors[{i}].id", f"{actor.id!r} is already the id of "
                        f"actors[{first_index[actor.id]}].", "Give each actor its own id.")
            )
        first_index.setdefault(actor.id, i)
        if found:
            bad.add(i)
            problems.extend(found)
    for i, clash in _overlapping_names([(i, a) for i, a in actors if i not in bad], label):
        bad.add(i)
        problems.append(clash)
    return [actor for i, actor in actors if i not in bad], problems


def _renamed(raw_actors: list[Any], rename: Mapping[str, str | None]) -> list[Any]:
    """Another pack's actors in this pack's sides (pack.yaml ``include:``): each side named in
    ``rename`` becomes its new name; an actor whose side maps to null is left out."""
    out = []
    for raw in raw_actors:
        if not isinstance(raw, dict):
            out.append(raw)
            continue
        side = raw.get("side")
        if isinstance(side, str) and side in rename and rename[side] is None:
            continue
        raw = dict(raw)
        if isinstance(side, str):
            raw["side"] = rename.get(side, side)
        if isinstance(raw.get("sides"), list):
            raw["sides"] = [s2 for s in raw["sides"]
                            if (s2 := rename.get(s, s) if isinstance(s, str) else s) is not None]
        if isinstance(raw.get("aliases"), list):
            raw["aliases"] = [
                {**a, "air_sides": [s2 for s in a["air_sides"] if (s2 := rename.get(s, s))]}
                if isinstance(a, dict) and isinstance(a.get("air_sides"), list) else a
                for a in raw["aliases"]]
        out.append(raw)
    return out


def _actor_list(data: Any, label: str) -> tuple[list[Any], list[Problem]]:
    """The raw entries under ``actors:``, or the problems of the file's outer shape."""
    if not isinstance(data, dict):
        shape = "is empty" if data is None else "is not a mapping"
        return [], [Problem(label, "", f"{shape}: expected the key 'actors' with a list of actors")]
    problems = [
        Problem(label, str(key), "is not a known field; remove it or check its spelling.",
                did_you_mean(key, ["actors"]))
        for key in data
        if key != "actors"
    ]
    raw = data.get("actors")
    if "actors" not in data:
        problems.append(Problem(label, "actors", "is required but missing"))
    elif not isinstance(raw, list):
        problems.append(Problem(label, "actors", "must be a list of actors"))
    return (raw if isinstance(raw, list) else []), problems


def _check_actor(actor: Actor, where: str, sides: set[str], label: str) -> list[Problem]:
    """What the model cannot check alone: sides of the pack, ordered dates, usable names."""
    found = []
    for key, side in [(f"{where}.side", actor.side)] + [
        (f"{where}.sides[{j}]", s) for j, s in enumerate(actor.sides or [])
    ] + [
        (f"{where}.aliases[{j}].air_sides[{k}]", s)
        for j, alias in enumerate(actor.aliases) for k, s in enumerate(alias.air_sides or [])
    ]:
        if side not in sides:
            found.append(Problem(label, key, f"{side!r} is not a side.", did_you_mean(side, sides)))
    if actor.sides and actor.side not in actor.sides:
        found.append(Problem(label, f"{where}.side", f"{actor.side!r} is not among its sides "
                             f"{actor.sides}.", "List the main side in 'sides' too."))
    if actor.member_from and actor.member_to and actor.member_from > actor.member_to:
        found.append(Problem(label, f"{where}.member_from", f"{actor.member_from} is after "
                             f"member_to {actor.member_to}."))
    for j, alias in enumerate(actor.aliases):
        if alias.valid_from and alias.valid_to and alias.valid_from > alias.valid_to:
            found.append(Problem(label, f"{where}.aliases[{j}].valid_from", f"{alias.valid_from} "
                                 f"is after valid_to {alias.valid_to}."))
        if not name_key(alias.name):
            found.append(Problem(label, f"{where}.aliases[{j}].name",
                                 f"{alias.name!r} has no letters or digits to match."))
    if not actor.aliases:
        found.append(Problem(label, f"{where}.aliases", "is empty: an actor needs a name."))
    return found


def _overlapping_names(
    actors: Iterable[tuple[int, Actor]], label: str
) -> list[tuple[int, Problem]]:
    """One name given to two actors on overlapping dates: the resolver could not choose."""
    seen: dict[str, list[tuple[str, str, Alias]]] = {}
    found = []
    for i, actor in actors:
        for j, alias in enumerate(actor.aliases):
            key = name_key(alias.name)
            for other_id, other_where, other in seen.get(key, []):
                if other_id != actor.id and _overlap(alias, other):
                    found.append((i, Problem(
                        label, f"actors[{i}].aliases[{j}].name",
                        f"{alias.name!r} is also a name of actor {other_id!r} ({other_where}) "
                        "on overlapping dates.",
                        "Remove one, or give them disjoint valid_from/valid_to.",
                    )))
            seen.setdefault(key, []).append((actor.id, f"actors[{i}].aliases[{j}]", alias))
    return found


def _overlap(a: Alias, b: Alias) -> bool:
    start = max(a.valid_from or dt.date.min, b.valid_from or dt.date.min)
    end = min(a.valid_to or dt.date.max, b.valid_to or dt.date.max)
    return start <= end
