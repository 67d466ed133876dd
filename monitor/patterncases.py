"""Case suites of a pack's patterns: findings or incidents in, the expected calm days or
alerts out, beside the declarations (``config/<pack>/patterns/<name>.cases.yaml``), run by
pytest like the rule suites.

A suite names one pattern of pack.yaml and lists cases; each case is run through the very
functions the ledger's refresh calls (:mod:`monitor.patterns`) with the declaration's
parameters, the pack's groups expanded (:func:`monitor.timeline.attack`). See docs/PATTERNS.md.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, Field, ValidationError

from .config import Pack
from .models import FileModel
from .patterns import calm_series, escalations, sequences
from .patternspec import CalmSpec, EscalationSpec, SequenceSpec
from .problems import Problem, did_you_mean, from_validation, read_mapping
from .timeline import attack
from .vocabulary import Confidence, Severity

SUITES = "patterns"  # the folder of a pack's suites
SUFFIX = ".cases.yaml"


class CaseFinding(FileModel):
    id: str
    occurred: AwareDatetime
    occurred_end: AwareDatetime | None = None  # default: an hour after occurred
    instrument: str = ""
    severity: Severity = "major"
    confidence: Confidence = "high"
    status: str = "alleged"
    charged_to: list[str] = Field(default_factory=list)
    attribution: str = "single"
    incident: str | None = None  # default: one incident per finding
    area: str | None = None  # the incident's admin1 (escalations)


class CaseIncident(FileModel):
    id: str
    occurred: AwareDatetime
    at: tuple[float, float] = Field(description="lat, lon")
    precision: int = 1
    event_type: str = "air_strike"
    attackers: list[str] = Field(min_length=1)
    targets: list[str] = Field(default_factory=list)
    zones: list[str] = Field(default_factory=list)
    area: str | None = None


class ExpectedAlert(FileModel):
    party: str | None = None
    area: str | None = None
    findings: int | None = None  # escalation: how many findings the window holds
    incidents: list[str] | None = None  # sequence: [first, second]


class Expected(FileModel):
    breach_days: list[int] | None = None  # calm: the days that were not calm
    met_on: int | None = None  # calm: the day the condition is met (null: never)
    alerts: list[ExpectedAlert] | None = None  # escalation, sequence: in time order


class Case(FileModel):
    name: str
    days: int | None = None  # calm: how many days of the series (default: the declaration's)
    findings: list[CaseFinding] = Field(default_factory=list)
    incidents: list[CaseIncident] = Field(default_factory=list)
    expect: Expected


class Suite(FileModel):
    pattern: str
    cases: list[Case] = Field(min_length=1)


def suite_files(pack: Pack) -> list[Path]:
    """The case suites of a pack's patterns, in name order."""
    return sorted((pack.folder / SUITES).glob("*" + SUFFIX))


def load_suite(path: Path, pack: Pack, label: str | None = None
               ) -> tuple[Suite | None, Any, list[Problem]]:
    """A suite and the declaration it tests, or the problems (a pattern the pack does not
    declare is one)."""
    label = label or str(path)
    suite = None
    data, problems = read_mapping(path, label, "pattern and cases")
    if data is not None:
        try:
            suite = Suite.model_validate(data)
        except ValidationError as exc:
            problems = from_validation(label, exc)
    if suite is None:
        return None, None, problems
    spec = next((p for p in pack.spec.patterns if p.name == suite.pattern), None)
    if spec is None:
        names = [p.name for p in pack.spec.patterns]
        return None, None, [Problem(label, "pattern", f"{suite.pattern!r} is not a pattern of "
                                    "the pack.", did_you_mean(suite.pattern, names))]
    return suite, spec, []


def _finding(f: CaseFinding) -> dict[str, Any]:
    end = f.occurred_end or f.occurred + dt.timedelta(hours=1)
    return {"finding_id": f.id, "incident_id": f.incident or f"incident-{f.id}",
            "instrument": f.instrument, "severity": f.severity, "confidence": f.confidence,
            "status": f.status, "charged_to": f.charged_to, "attribution": f.attribution,
            "occurred": f.occurred.isoformat(), "occurred_end": end.isoformat()}


def run_case(case: Case, spec: Any, pack: Pack) -> dict[str, Any]:
    """What the pattern gives for the case, in the shape of ``expect``."""
    if isinstance(spec, CalmSpec):
        day_d = pack.instruments[spec.instrument].start
        days = calm_series([_finding(f) for f in case.findings], day_d=day_d,
                           end=day_d + dt.timedelta(days=case.days or spec.days),
                           instruments=spec.counts, needed=spec.needed,
                           severities=spec.severities, confidences=spec.confidences)
        met = next((d.day for d in days if d.condition_met), None)
        return {"breach_days": [d.day for d in days if not d.calm], "met_on": met}
    if isinstance(spec, EscalationSpec):
        areas = {f.incident or f"incident-{f.id}": {"governorate": f.area}
                 for f in case.findings}
        found = escalations([_finding(f) for f in case.findings], areas,
                            threshold=spec.threshold, hours=spec.hours, tz=pack.tz,
                            severities=spec.severities, name=spec.name)
        return {"alerts": [{"party": e.party, "area": e.governorate,
                            "findings": len(e.finding_ids)} for e in found]}
    assert isinstance(spec, SequenceSpec)
    then = attack(pack, spec.then)
    incidents = [{"incident_id": i.id, "occurred_start": i.occurred.isoformat(),
                  "lat": i.at[0], "lon": i.at[1], "location_precision": i.precision,
                  "event_type": i.event_type, "attacker_sides": i.attackers,
                  "target_sides": i.targets, "zones": i.zones, "governorate": i.area}
                 for i in case.incidents]
    by_id = {i["incident_id"]: i for i in incidents}
    found = sequences(incidents, first=attack(pack, spec.first), then=then, hours=spec.hours,
                      km=spec.km, coarse_precision=pack.spec.coarse_precision, name=spec.name)
    return {"alerts": [{"party": ", ".join(s for s in by_id[q.second_incident]["attacker_sides"]
                                           if s in then.attackers),
                        "incidents": [q.first_incident, q.second_incident]} for q in found]}


def check_case(case: Case, spec: Any, pack: Pack) -> list[str]:
    """How the case's outcome differs from what it expects ([] when it passes). Only the keys
    the case states are compared."""
    got = run_case(case, spec, pack)
    wrong = []
    expect = case.expect.model_dump(exclude_unset=True)
    for key, want in expect.items():
        have = got.get(key)
        if key == "alerts":
            have = [{k: a[k] for k in w if k in a} for a, w in zip(have or [], want)] + (
                have or [])[len(want):]
        if have != want:
            wrong.append(f"{case.name}: {key} expected {want!r}, got {have!r}")
    return wrong
