"""Terms over time in the ledger: SEP-CALM days, escalations, cycles of excuses.

We judge these as queries over the ledger, not with durable_rules' timers: the engine's timers
run on wall-clock time and durable_rules 2.x has no event-time windows, while the terms must be
judged on *event* time so that a replay of 2016 gives exactly what watching it live gave. After
every batch (and every analyst verdict) :func:`refresh` recomputes the patterns as a function of
the ledger's current findings and incidents (:mod:`monitor.patterns`) and records only the
differences: a calm day whose state changed is recorded again, a new alert is recorded, an alert
no longer supported is withdrawn by a new entry (``active`` 0). Nothing is rewritten, and a late
report lands in the right day and changes the series by new entries.

A batch of new reports only recomputes what it can change (a :class:`Scope`): the calm series
if a new finding falls in its window; escalations of the (party, governorate) pairs of the new
findings, over that pair's findings; cycles of excuses among incidents within the pattern's
hours of a new incident. Each of those is the same function of the same set as a full
recomputation, so the result does not depend on arrival order. Verdicts, unlinking, re-judging
and retractions recompute everything.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .config import Pack
from .judge import iso
from .ledger import MAX_WINDOW, Ledger
from .patterns import calm_series, cycles_of_excuses, escalations, parse_time

_ALERT_COLUMNS = ("key", "kind", "party", "governorate", "start", "end", "incident_ids",
                  "finding_ids")


@dataclass
class Scope:
    """What a batch added: its findings (with their incident's governorate) and the event
    start of every new report."""

    findings: list[dict[str, Any]] = field(default_factory=list)
    starts: list[dt.datetime] = field(default_factory=list)


def current_incidents(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per incident (the first report that made it), in the shape patterns take."""
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["incident_id"] not in seen:
            seen[row["incident_id"]] = {**row, "governorate": row["admin1"]}
    return list(seen.values())


def refresh(ledger: Ledger, pack: Pack, scope: Scope | None = None) -> dict[str, Any]:
    """Recompute the patterns (all of them, or what ``scope`` can have changed) and record
    what changed, inside the caller's transaction; ``new_alerts`` lists alerts recorded now."""
    changed: dict[str, Any] = {"calm_days": 0, "alerts": 0, "withdrawn": 0, "new_alerts": []}
    _calm(ledger, pack, scope, changed)
    _escalations(ledger, pack, scope, changed)
    _excuses(ledger, pack, scope, changed)
    return changed


def _calm(ledger: Ledger, pack: Pack, scope: Scope | None, changed: dict[str, Any]) -> None:
    spec = pack.spec.patterns
    instrument = pack.instruments.get(spec.calm_instrument)
    if instrument is None:
        return
    day_d = instrument.start
    end = day_d + dt.timedelta(days=spec.calm_days)
    recorded = {d["day"]: d for d in ledger.calm_days()}
    if scope is not None and recorded and not any(
            parse_time(f["occurred"]) < end and parse_time(f["occurred_end"]) > day_d
            for f in scope.findings):
        return  # nothing new in the series' window
    findings = [f for f in ledger.findings(since=iso(day_d - MAX_WINDOW), until=iso(end))
                if f["instrument"] in spec.calm_counts]
    for day in calm_series(findings, day_d=day_d, end=end, instruments=tuple(spec.calm_counts),
                           needed=spec.calm_needed):
        row = {"day": day.day, "start": iso(day.start), "end": iso(day.end),
               "calm": int(day.calm), "consecutive": day.consecutive,
               "condition_met": int(day.condition_met), "breaches": list(day.breaches)}
        old = recorded.get(day.day)
        if old is None or any(old[k] != v for k, v in row.items()):
            ledger.append("calm_days", row)
            changed["calm_days"] += 1


def _escalations(ledger: Ledger, pack: Pack, scope: Scope | None,
                 changed: dict[str, Any]) -> None:
    spec = pack.spec.patterns
    if scope is None:
        pairs = None
        findings = ledger.findings()
        governorate = {i["incident_id"]: i for i in current_incidents(ledger.incident_rows())}
    else:
        pairs = {(p, f["governorate"]) for f in scope.findings if f["governorate"]
                 and f["severity"] in ("major", "critical") for p in f["charged_to"]}
        findings, governorate = [], {}
        for party, gov in sorted(pairs):
            for f in ledger.serious_findings(party, gov):
                findings.append(f)
                governorate[f["incident_id"]] = {"governorate": gov}
    wanted: dict[str, dict[str, Any]] = {}
    for esc in escalations(findings, governorate, threshold=spec.escalation_threshold,
                           hours=spec.escalation_hours):
        if pairs is not None and (esc.party, esc.governorate) not in pairs:
            continue
        ids = set(esc.finding_ids)
        wanted[esc.key] = {
            "key": esc.key, "kind": "escalation", "active": 1, "party": esc.party,
            "governorate": esc.governorate, "start": iso(esc.start), "end": iso(esc.end),
            "incident_ids": sorted({f["incident_id"] for f in findings
                                    if f["finding_id"] in ids}),
            "finding_ids": list(esc.finding_ids),
            "detail": f"{len(esc.finding_ids)} major/critical findings charged to {esc.party} "
                      f"in {esc.governorate} within {spec.escalation_hours:g} hours"}
    active = {a["key"]: a for a in ledger.alerts("escalation")
              if pairs is None or (a["party"], a["governorate"]) in pairs}
    _record(ledger, wanted, active, changed)


def _excuses(ledger: Ledger, pack: Pack, scope: Scope | None, changed: dict[str, Any]) -> None:
    spec = pack.spec.patterns
    hours = dt.timedelta(hours=spec.excuses_hours)
    if scope is None:
        rows = ledger.incident_rows()
    elif scope.starts:
        rows = ledger.pattern_incidents(iso(min(scope.starts) - hours),
                                        iso(max(scope.starts) + hours))
    else:
        return
    incidents = current_incidents(rows)
    by_id = {i["incident_id"]: i for i in incidents}
    government = set(pack.spec.side_groups.get("government_side", ()))
    # Only attacks whose attacker is not in doubt: UCDP's "Syrian insurgents" may be Nusra or
    # the opposition, and "either side fired" is no evidence of a Nusra attack being answered.
    certain = [i for i in incidents if i["attribution"] == "single"]
    wanted: dict[str, dict[str, Any]] = {}
    for pat in cycles_of_excuses(certain, government_side=government,
                                 hours=spec.excuses_hours, km=spec.excuses_km,
                                 coarse_precision=pack.spec.coarse_precision):
        first, second = by_id[pat.nusra_incident], by_id[pat.government_incident]
        wanted[pat.key] = {
            "key": pat.key, "kind": "cycle_of_excuses", "active": 1,
            "party": ", ".join(s for s in second["attacker_sides"] if s in government),
            "governorate": second["governorate"], "start": first["occurred_start"],
            "end": second["occurred_start"],
            "incident_ids": [pat.nusra_incident, pat.government_incident], "finding_ids": [],
            "detail": f"a Nusra attack, then a government-side attack {pat.hours_between:g} h "
                      f"later and {pat.distance_km:g} km away"}
    # a batch only adds cycles; withdrawing one needs the whole picture (a full refresh)
    active = {a["key"]: a for a in ledger.alerts("cycle_of_excuses")}
    if scope is not None:
        active = {k: a for k, a in active.items() if k in wanted}
    _record(ledger, wanted, active, changed)


def _record(ledger: Ledger, wanted: dict[str, dict[str, Any]],
            active: dict[str, dict[str, Any]], changed: dict[str, Any]) -> None:
    """New alerts are recorded; active ones no longer wanted are withdrawn by a new entry."""
    for key, row in wanted.items():
        if key not in active:
            changed["new_alerts"].append(ledger.append("alerts", row))
            changed["alerts"] += 1
    for key, row in active.items():
        if key not in wanted:
            ledger.append("alerts", {**{k: row[k] for k in _ALERT_COLUMNS}, "active": 0,
                                     "detail": "withdrawn: the findings no longer support it"})
            changed["withdrawn"] += 1
