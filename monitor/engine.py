"""The wall around durable_rules: the only module that imports it.

Rules arrive compiled as plain data (:mod:`monitor.rules`); this module registers them as one
durable_rules ruleset and judges fact sets against it. Facts are asserted, not posted, because
``post`` fires only one rule per event while ``assert_fact`` fires every matching rule
(LIBRARIES.md); each fact is retracted right after, so nothing accumulates in the engine (its
message index misbehaves past ~20k facts kept at once).
"""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any

from durable.engine import Host, MessageNotHandledException

_ACTION = "matched"


class EngineError(RuntimeError):
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


class Engine:
    """Judges fact sets against a set of compiled rules.

    ``definitions`` maps a rule name to a durable_rules rule without its action, e.g.
    ``{"coh-gov__0": {"all": [{"m": {"$and": [...]}}]}}``. A durable_rules ruleset cannot be
    deleted or reloaded, so each Engine registers a new ruleset under a fresh name.
    """

    def __init__(self, definitions: dict[str, dict[str, Any]]):
        self._host = _shared_host()
        self._lock = threading.Lock()
        self._fired: list[str] = []
        self.ruleset = f"pack_{next(_names)}"
        self.rule_names = tuple(definitions)
        ruleset: dict[str, Any] = {}
        for name, definition in copy.deepcopy(definitions).items():
            ruleset[name] = {**definition, "run": self._recorder(name)}
        if ruleset:
            # set_rulesets mutates what it is given (it deletes "run"): it gets our own copy.
            self._host.set_rulesets({self.ruleset: ruleset})

    def _recorder(self, name: str) -> Any:
        def record(c: Any) -> None:
            self._fired.append(name)

        return record

    def evaluate(self, facts: dict[str, Any]) -> list[str]:
        """The names of every rule the fact set satisfies (``[]`` when none: no finding)."""
        if not self.rule_names:
            return []
        with self._lock:
            self._fired = []
            try:
                state = self._host.assert_fact(self.ruleset, facts)
            except MessageNotHandledException:
                return []  # no rule matched: that means "no finding", not an error
            finally:
                try:
                    self._host.retract_fact(self.ruleset, {"id": facts["id"]})
                except MessageNotHandledException:
                    pass
            if isinstance(state, dict) and state.get("exception"):
                raise EngineError(f"a rule action failed: {state['exception']}")
            return list(self._fired)
