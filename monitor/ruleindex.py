"""Which rules a fact set could match, read from the rules' JSON (plain data, no durable_rules).

A prefilter in front of durable_rules, never a judge: it only proves that a rule *cannot* match
(every branch of it requires ``field == value`` and the fact set holds another value there), so
the engine may skip the rulesets none of whose rules can. Whether a rule matches is decided by
durable_rules alone (:mod:`monitor.engine`).

Each rule is read in disjunctive normal form (every ``$or`` expanded): a field that some
equality leaf tests in *every* branch is a requirement of the rule, and the values it may hold
are those the branches name. Only ``str`` and ``bool`` values are indexed, keyed with their type.
Measured on durable_rules 2.0.28: an equality compares a string with a string and a boolean with
a boolean exactly (case and spaces count), but across types it converts: ``{x: true}`` matches
x = 1, 1.0 and "true"; ``{x: "1"}`` matches x = 1; ``{x: "true"}`` matches x = true. So a rule
is excluded only by a fact value of the very type of every value it allows there (a rule that
allows ``true`` is never excluded by the string "true", nor by 1); any other value, and every
operator leaf (``$neq``, ``$gte``, ...), excludes nothing. A missing field or an explicit null
fails every equality with a string or a boolean (measured too).

The candidates are an ``int`` bit set (bit ``i`` = the ``i``-th rule): one dictionary look-up
and an ``&`` per indexed field, however many rules there are.
"""

from __future__ import annotations

import functools
import json
from typing import Any

_MISSING = object()
_INDEXED = (str, bool)  # value types the index compares (exactly: a subclass is not indexed)

Typed = tuple[type, Any]  # a value with its type: (bool, True) is not (int, 1)


def paths(expr: dict[str, Any], in_or: bool = False) -> list[list[tuple[str, bool]]]:
    """The expression in disjunctive normal form: one list of (leaf, reached through $or) per
    conjunction, leaves in the order durable_rules chains them."""
    if "$and" in expr:
        out: list[list[tuple[str, bool]]] = [[]]
        for sub in expr["$and"]:
            out = [a + b for a in out for b in paths(sub, in_or)]
        return out
    if "$or" in expr:
        return [p for sub in expr["$or"] for p in paths(sub, True)]
    return [[(json.dumps(expr, sort_keys=True), in_or)]]


@functools.lru_cache(maxsize=4096)
def equality(leaf: str) -> tuple[str, str] | None:
    """(field, value as JSON) of an equality leaf ``{"field": value}``; None for an operator
    leaf."""
    ((field, value),) = json.loads(leaf).items()
    return None if field.startswith("$") else (field, json.dumps(value))


def definition_paths(definition: dict[str, Any]) -> list[list[tuple[str, bool]]]:
    """Every DNF branch of a rule (all its conditions), as :func:`paths` gives them."""
    out = []
    for condition in definition.get("all", []) + definition.get("any", []):
        for expr in condition.values():
            if isinstance(expr, dict):
                out += paths(expr)
    return out


def _typed(value: Any) -> Typed | None:
    return (value.__class__, value) if value.__class__ in _INDEXED else None


def requirements(definition: dict[str, Any]) -> dict[str, frozenset[Typed]]:
    """The fields a rule requires to equal one of some values, in every branch of it: field ->
    the values (typed) that let some branch hold. ``{}`` when nothing is required (or the rule
    is not one condition on one fact: it is then never excluded)."""
    conditions = definition.get("all", [])
    if len(conditions) != 1 or len(conditions[0]) != 1 or definition.get("any"):
        return {}
    (expr,) = conditions[0].values()
    if not isinstance(expr, dict):
        return {}
    required: dict[str, set[Typed]] | None = None
    for path in paths(expr):
        here: dict[str, set[Typed]] = {}
        for leaf, _ in path:
            eq = equality(leaf)
            typed = _typed(json.loads(eq[1])) if eq is not None else None
            if eq is not None and typed is not None:
                here.setdefault(eq[0], set()).add(typed)
        if required is None:
            required = here
        else:  # a field stays required only if this branch requires it too
            required = {f: required[f] | here[f] for f in required.keys() & here.keys()}
    return {f: frozenset(v) for f, v in (required or {}).items()}


def referenced_fields(definitions: list[dict[str, Any]]) -> tuple[str, ...]:
    """Every field some leaf of these rules tests, sorted: the only fields their verdict on a
    fact set can depend on."""
    fields: set[str] = set()
    for definition in definitions:
        for path in definition_paths(definition):
            for leaf, _ in path:
                ((key, value),) = json.loads(leaf).items()
                if key.startswith("$"):
                    fields.update(value if isinstance(value, dict) else ())
                else:
                    fields.add(key)
    return tuple(sorted(fields))


class RuleIndex:
    """The rules (in the order given) a fact set could match, as a bit set."""

    def __init__(self, definitions: list[dict[str, Any]]):
        self.all = (1 << len(definitions)) - 1
        reqs = [requirements(d) for d in definitions]
        # field -> (rules not requiring it, {type: rules a value of that type not listed lets
        # through}, {typed value: rules it lets through})
        self._fields: list[tuple[str, int, dict[type, int], dict[Typed, int]]] = []
        for field in sorted({f for r in reqs for f in r}):
            free, table = 0, {}
            other = dict.fromkeys(_INDEXED, 0)  # rules allowing a value of another type
            for i, req in enumerate(reqs):
                if field not in req:
                    free |= 1 << i
                    continue
                for typed in req[field]:
                    table[typed] = table.get(typed, 0) | 1 << i
                for cls in _INDEXED:
                    if any(t is not cls for t, _ in req[field]):
                        other[cls] |= 1 << i
            unlisted = {cls: free | m for cls, m in other.items()}
            self._fields.append((field, free, unlisted,
                                 {v: m | unlisted[v[0]] for v, m in table.items()}))

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields the index reads."""
        return tuple(f for f, _, _, _ in self._fields)

    def candidates(self, facts: dict[str, Any]) -> int:
        """Bit ``i`` set unless rule ``i`` certainly cannot match ``facts``."""
        mask = self.all
        for field, free, unlisted, table in self._fields:
            have = facts.get(field, _MISSING)
            if have is _MISSING or have is None:
                mask &= free  # no equality with a string or a boolean holds
            elif have.__class__ in _INDEXED:
                mask &= table.get((have.__class__, have), unlisted[have.__class__])
            # any other value: not indexed, excludes nothing
            if not mask:
                break
        return mask
