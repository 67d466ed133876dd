"""Rule test suites: each ``cases.yaml`` beside its ``rule.yaml`` (incident in, findings out).

Run by ``monitor rules test`` and by pytest (tests/test_rules.py), through the same resolution
and engine as real incidents (:meth:`monitor.service.Evaluator.evaluate`), without a ledger.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from .models import Finding, IncidentReport, RuleCase, RuleCases
from .problems import from_validation, read_yaml
from .rules import LoadedRule
from .service import Evaluator


@dataclass(frozen=True)
class CaseResult:
    term: str
    case: str
    passed: bool
    detail: str = ""


def load_cases(rule: LoadedRule) -> tuple[list[RuleCase], str | None]:
    """The cases of a rule, or the reason they cannot be run (missing or invalid suite)."""
    if rule.cases_path is None:
        return [], f"{rule.spec.term} has no cases.yaml: every rule needs a test suite"
    data, problems = read_yaml(rule.cases_path)
    if problems:
        return [], "; ".join(str(p) for p in problems)
    try:
        return RuleCases.model_validate(data).cases, None
    except ValidationError as exc:
        return [], "; ".join(str(p) for p in from_validation(str(rule.cases_path), exc))


def _matches(expected: dict[str, Any], finding: Finding) -> bool:
    got = finding.model_dump()
    for key, want in expected.items():
        have = got.get(key)
        if isinstance(want, list) and isinstance(have, list):
            if sorted(map(str, want)) != sorted(map(str, have)):
                return False
        elif have != want:
            return False
    return True


def run_case(monitor: Evaluator, rule: LoadedRule, case: RuleCase) -> CaseResult:
    """Judge a case's incident and compare the findings of the rule's term with ``expect``."""
    term = rule.spec.term
    record = {"feed": "case", **case.incident}
    try:
        report = IncidentReport.model_validate(record)
    except ValidationError as exc:
        return CaseResult(term, case.name, False, "invalid incident: " + "; ".join(
            str(p) for p in from_validation("incident", exc)))
    unknown = monitor.pack.unknown_values(report)
    if unknown:
        return CaseResult(term, case.name, False, "invalid incident: " + "; ".join(unknown))
    if case.milestones:
        monitor = _as_if(monitor, case)
    _, res, findings = monitor.evaluate(report)
    got = [f for f in findings if f.term == term]
    if len(got) != len(case.expect):
        return CaseResult(term, case.name, False,
                          f"expected {len(case.expect)} finding(s) of {term}, got {len(got)}: "
                          + _summary(got) + " | resolution: " + "; ".join(res.notes))
    for want in case.expect:
        if not any(_matches(want, f) for f in got):
            return CaseResult(term, case.name, False,
                              f"expected {want}, got {_summary(got)} | resolution: "
                              + "; ".join(res.notes))
    return CaseResult(term, case.name, True)


_AS_IF: dict[tuple[int, tuple[tuple[str, Any], ...]], Evaluator] = {}


def _as_if(monitor: Evaluator, case: RuleCase) -> Evaluator:
    """A monitor judging with the case's milestones (cached: each one compiles an engine)."""
    key = (id(monitor), tuple(sorted(case.milestones.items())))
    if key not in _AS_IF:
        pack = monitor.pack
        unknown = set(case.milestones) - set(pack.spec.milestones)
        if unknown:
            raise ValueError(f"case {case.name!r}: unknown milestone(s) {sorted(unknown)}")
        spec = pack.spec.model_copy(
            update={"milestones": {**pack.spec.milestones, **case.milestones}})
        _AS_IF[key] = Evaluator(dataclasses.replace(pack, spec=spec))
    return _AS_IF[key]


def _summary(findings: list[Finding]) -> str:
    return "[" + ", ".join(
        f"{f.term} charged_to={f.charged_to} severity={f.severity} confidence={f.confidence} "
        f"attribution={f.attribution}" for f in findings) + "]"


def run_suites(monitor: Evaluator) -> list[CaseResult]:
    """Every case of every rule of the monitor's pack; a rule without a suite fails."""
    results = []
    for rule in monitor.pack.rules:
        cases, error = load_cases(rule)
        if error:
            results.append(CaseResult(rule.spec.term, "(suite)", False, error))
            continue
        results += [run_case(monitor, rule, c) for c in cases]
    return results
