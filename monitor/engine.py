"""The wall around durable_rules: the only module that imports it.

Rules arrive compiled as plain data (:mod:`monitor.rules`); this module registers them with
durable_rules and judges fact sets against them. Facts are asserted, not posted, because
``post`` fires only one rule per event while ``assert_fact`` fires every matching rule
(measured on durable_rules 2.0.28); each fact is retracted right after, so nothing accumulates in the engine (its
message index misbehaves past ~20k facts kept at once).

Shards. durable_rules walks its alpha network depth first with a fixed stack of 64 nodes
(``MAX_STACK_SIZE`` in its ``events.c``); a fact that leaves more nodes pending at once fails with
error 303 (``ERR_MAX_STACK_SIZE``). Measured on 2.0.28: nodes reached through a ``$or`` are never
shared between rules, so ~65 rules that share a prefix and whose ``$or`` branch matches the same
fact overflow it (the 200-rule benchmark pack did). Rules that do not fit one ruleset are
therefore split (:func:`shard`) into shards whose estimated stack need (:func:`stack_need`, an
upper bound) stays within :data:`STACK_BUDGET`, rules with the same requirements together; each
shard is its own ruleset. The names fired are returned in definition order.

Index. A fact set is asserted only into the shards holding a rule it could match: every branch
of most rules requires some field to equal one of a few values (the instrument in force, the
direction, the attacker's side, ...), and :class:`monitor.ruleindex.RuleIndex` excludes the rules
whose requirements the fact set fails. It never decides a match: durable_rules does, on the
shards left. The cost of a memo miss is then that of the shards asserted and of the rules that
fire, not of the number of rules (measured on 2.0.28: an assert and retract that fires nothing
~12 µs, whatever the ruleset's size; each rule fired adds ~10 µs, a call back into Python). On
the 200-rule benchmark pack a miss asserts 0.87 facts on average (13.5 when every shard of the
instruments in force was asserted).

Memo. Fact sets are coarse (categorical fields), so many incidents give the same one: results are
kept in a bounded LRU keyed on the values of the fields the rules test (not ``id``, nor a number
no rule compares, such as the casualties in a pack whose rules never read them).
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections import OrderedDict
from typing import Any, Callable

import durable_rules_engine
from durable.engine import Host, MessageNotHandledException

from .errors import MonitorError
from .ruleindex import RuleIndex, definition_paths, equality, referenced_fields, requirements

_ACTION = "matched"
MAX_STACK_SIZE = 64  # durable_rules 2.0.28, events.c: the alpha walk's fixed stack
STACK_BUDGET = 48  # what a shard may need by stack_need(): a margin below MAX_STACK_SIZE
DEFAULT_CACHE_SIZE = 16_384  # memoised fact sets (a few hundred bytes each)
_INTERNED_MAX = 4_096  # shared copies of repeated tuples kept for the memo
_MISSING = object()


class EngineError(MonitorError, RuntimeError):
    """durable_rules reported a failure while judging a fact."""


class _Host(Host):
    """A host whose one action records which rule fired for which fact."""

    def get_action(self, action_name: str) -> Any:
        if action_name != _ACTION:
            raise EngineError(f"unknown action {action_name!r}")
        return None  # replaced per rule in Engine.__init__


_host: _Host | None = None
_host_lock = threading.Lock()
_names = itertools.count(1)


def _shared_host() -> _Host:
    # durable_rules starts two timer threads per Host that never stop: one Host per process.
    global _host
    with _host_lock:
        if _host is None:
            _host = _Host()
        return _host


# --- stack need ----------------------------------------------------------------------------


def stack_need(definitions: list[dict[str, Any]]) -> int:
    """An upper bound on the stack durable_rules' alpha walk needs for these rules together.

    The model, checked against durable_rules 2.0.28: rules share alpha nodes for identical
    leading conditions, up to their first ``$or``; from there on every node is the rule's own.
    When a node is visited every matching child is pushed at once; of sibling equality tests on
    one field only those with the fact's value match, every other test may match. A node needing
    ``m`` pushes whose children need at most ``c`` needs at most ``max(m, m - 1 + c)``. The bound
    is deliberately loose (one rule's private chain counts as one pending node per branch)."""
    return _need([definition_paths(d) for d in definitions])


def _need(branches: list[list[list[tuple[str, bool]]]]) -> int:
    """:func:`stack_need` of rules given as their :func:`_definition_paths`."""
    root: dict[str, Any] = {"kids": {}, "private": []}
    for paths in branches:
        for path in paths:
            node, i = root, 0
            while i < len(path) and not path[i][1]:  # the shared prefix
                node = node["kids"].setdefault(path[i][0], {"kids": {}, "private": []})
                i += 1
            if i < len(path):
                node["private"].append(path[i][0])  # this rule's own chain

    def need(node: dict[str, Any]) -> int:
        kids = [(leaf, need(child)) for leaf, child in node["kids"].items()]
        kids += [(leaf, 1) for leaf in node["private"]]
        if not kids:
            return 1
        others, same_value = 0, {}  # (field, value) -> children testing it
        for leaf, _ in kids:
            eq = equality(leaf)
            if eq is None:
                others += 1
            else:
                same_value[eq] = same_value.get(eq, 0) + 1
        by_field: dict[str, int] = {}
        for (field, _), count in same_value.items():
            by_field[field] = max(by_field.get(field, 0), count)
        pushes = others + sum(by_field.values())
        return max(pushes, pushes - 1 + max(n for _, n in kids))

    return need(root)


def signature(definition: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What the index knows a rule requires (:func:`monitor.ruleindex.requirements`), hashable:
    rules with one signature are candidates for the same fact sets."""
    return tuple(sorted((field, tuple(sorted(repr(v) for v in values)))
                        for field, values in requirements(definition).items()))


def shard(names: list[str], definitions: dict[str, dict[str, Any]],
          budget: int = STACK_BUDGET) -> list[list[str]]:
    """Split rule names into groups whose :func:`stack_need` is within ``budget``: all of them
    in one group when they fit (one ruleset: durable_rules needs no more). Otherwise rules are
    grouped by :func:`signature`, so that the rules a fact set can match (the index's
    candidates) sit in few shards and the other shards are skipped; groups are taken in order
    of their first rule, each split into the longest runs that fit, and consecutive runs are
    merged while they fit. A single rule over budget is a group of its own."""
    branches = {n: definition_paths(definitions[n]) for n in names}

    def fits(group: list[str]) -> bool:
        return _need([branches[n] for n in group]) <= budget

    if not names or fits(names):
        return [list(names)] if names else []
    by_signature: dict[Any, list[str]] = {}
    for name in names:
        by_signature.setdefault(signature(definitions[name]), []).append(name)
    runs: list[list[str]] = []
    for group in by_signature.values():
        start = 0
        while start < len(group):
            # the need only grows as rules are added: gallop, then bisect, to the longest fit
            good, step = start + 1, 1
            while good + step <= len(group) and fits(group[start:good + step]):
                good, step = good + step, step * 2
            bad = min(good + step, len(group) + 1)
            while bad - good > 1:
                mid = (good + bad) // 2
                good, bad = (mid, bad) if fits(group[start:mid]) else (good, mid)
            runs.append(group[start:good])
            start = good
    # fewer rulesets, and fewer asserts for a fact set whose candidates span neighbouring
    # groups (200-rule benchmark pack: 15 shards, 0.87 asserts per fact set, against 64 and 1.05
    # unmerged, at the same time per fact set)
    shards = runs[:1]
    for run in runs[1:]:
        if fits(shards[-1] + run):
            shards[-1] = shards[-1] + run
        else:
            shards.append(run)
    return shards


# --- the engine ----------------------------------------------------------------------------


class _Shard:
    __slots__ = ("ruleset", "names", "mask")

    def __init__(self, ruleset: str, names: tuple[str, ...], mask: int):
        # mask: the bits of its rules in the engine's RuleIndex
        self.ruleset, self.names, self.mask = ruleset, names, mask


class Engine:
    """Judges fact sets against a set of compiled rules.

    ``definitions`` maps a rule name to a durable_rules rule without its action, e.g.
    ``{"coh-gov__0": {"all": [{"m": {"$and": [...]}}]}}``. A durable_rules ruleset cannot be
    deleted or reloaded, so each Engine registers new rulesets under fresh names. ``cache_size``
    bounds the memo of results (0 turns it off). ``use_index=False`` asserts every fact set into
    every shard: the plain path the index is checked against. ``asserts`` counts the facts
    asserted into a shard.
    """

    def __init__(self, definitions: dict[str, dict[str, Any]], *,
                 cache_size: int = DEFAULT_CACHE_SIZE, stack_budget: int = STACK_BUDGET,
                 use_index: bool = True):
        self._host = _shared_host()
        self._lock = threading.Lock()
        self._fired: list[str] = []
        self.rule_names = tuple(definitions)
        self._order = {name: i for i, name in enumerate(self.rule_names)}
        self._cache: OrderedDict[tuple[Any, ...], tuple[str, ...]] = OrderedDict()
        self._cache_size = max(0, cache_size)
        self._interned: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.hits = self.misses = self.asserts = 0
        own = copy.deepcopy(definitions)
        self.index = RuleIndex(list(own.values())) if use_index else None
        # the memo's key: only the fields some rule tests can change what fires
        self._fields = referenced_fields(list(own.values()))
        self._shards: list[_Shard] = []
        base = f"pack_{next(_names)}"
        self.ruleset = base  # kept for callers that log it; shards are base_0, base_1, ...
        pending = shard(list(own), own, stack_budget)
        while pending:
            names = pending.pop(0)
            try:
                self._register(f"{base}_{len(self._shards)}", names, own)
            except durable_rules_engine.error as exc:
                if len(names) == 1:
                    raise EngineError(f"durable_rules refused rule {names[0]!r}: {exc}") from exc
                half = len(names) // 2  # another of the engine's fixed limits: split further
                pending[:0] = [names[:half], names[half:]]

    def _register(self, ruleset: str, names: list[str],
                  definitions: dict[str, dict[str, Any]]) -> None:
        rules = {name: {**copy.deepcopy(definitions[name]), "run": self._recorder(name)}
                 for name in names}
        # set_rulesets mutates what it is given (it deletes "run"): it gets our own copy.
        self._host.set_rulesets({ruleset: rules})
        mask = sum(1 << self._order[n] for n in names)
        self._shards.append(_Shard(ruleset, tuple(names), mask))

    @property
    def shard_count(self) -> int:
        """How many durable_rules rulesets the definitions were split into."""
        return len(self._shards)

    def _recorder(self, name: str) -> Callable[[Any], None]:
        def record(c: Any) -> None:
            self._record(name)

        return record

    def _record(self, name: str) -> None:
        self._fired.append(name)

    def cache_len(self) -> int:
        """How many fact sets' results are memoised (never more than ``cache_size``)."""
        return len(self._cache)

    def _key(self, facts: dict[str, Any]) -> tuple[Any, ...] | None:
        """The fact set's values of the fields the rules test (a rule's verdict depends on no
        other field: ``id``, a number no rule compares), with their types (True is not 1 to
        durable_rules) and whether each is present; None if a value cannot be a key."""
        values = tuple(facts.get(f, _MISSING) for f in self._fields)
        try:
            hash(values)
        except TypeError:
            return None
        types = tuple(v.__class__ for v in values)  # shared by most entries: interned
        return (self._intern(types), values)

    def _intern(self, value: tuple[Any, ...]) -> tuple[Any, ...]:
        """One shared copy of a repeated tuple (fields of a fact set, names fired): memo
        entries then cost little more than their values. Bounded like the memo."""
        if len(self._interned) >= _INTERNED_MAX:
            self._interned.clear()
        return self._interned.setdefault(value, value)

    def evaluate(self, facts: dict[str, Any]) -> list[str]:
        """The names of every rule the fact set satisfies, in definition order (``[]`` when
        none: no finding). Raises EngineError when durable_rules fails."""
        if not self.rule_names:
            return []
        key = self._key(facts) if self._cache_size else None
        with self._lock:
            if key is not None:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    self.hits += 1
                    return list(hit)
                self.misses += 1
            fired = self._evaluate(facts)
            if key is not None:
                self._cache[key] = self._intern(fired)
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return list(fired)

    def _evaluate(self, facts: dict[str, Any]) -> tuple[str, ...]:
        fired: list[str] = []
        candidates = self.index.candidates(facts) if self.index is not None else -1
        for sh in self._shards:
            if not candidates & sh.mask:
                continue  # no rule of the shard can match: see monitor.ruleindex
            self.asserts += 1
            self._fired = []
            try:
                state = self._host.assert_fact(sh.ruleset, facts)
            except MessageNotHandledException:
                continue  # no rule of this shard matched: no finding from it
            except durable_rules_engine.error as exc:
                raise EngineError(f"durable_rules failed on fact {facts.get('id')!r}: {exc}") \
                    from exc
            finally:
                try:
                    self._host.retract_fact(sh.ruleset, {"id": facts["id"]})
                except (MessageNotHandledException, durable_rules_engine.error):
                    pass
            if isinstance(state, dict) and state.get("exception"):
                raise EngineError(f"a rule action failed: {state['exception']}")
            fired += self._fired
        if len(self._shards) > 1:
            fired.sort(key=self._order.__getitem__)
        return tuple(fired)
