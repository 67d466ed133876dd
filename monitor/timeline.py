"""Terms over time in the ledger: SEP-CALM days, escalations, cycles of excuses.

We judge these as queries over the ledger, not with durable_rules' timers: the engine's timers
run on wall-clock time and durable_rules 2.x has no event-time windows, while the terms must be
judged on *event* time so that a replay of 2016 gives exactly what watching it live gave. After
every batch (and every analyst verdict) :func:`refresh` recomputes the patterns as a function of
the ledger's current findings and incidents (:mod:`monitor.patterns`) and records only the
differences: a calm day whose state changed is recorded again, a new alert is recorded, an alert
no longer supported is withdrawn by a new entry (``active`` 0). Nothing is rewritten, and a late
report lands in the right day and changes the series by new entries.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .config import Pack
from .judge import iso
from .ledger import Ledger
from .patterns import calm_series, cycles_of_excuses, escalations


def current_incidents(ledger: Ledger) -> list[dict[str, Any]]:
    """One dict per incident (the first report that made it), in the shape patterns take."""
    seen: dict[str, dict[str, Any]] = {}
    for row in ledger.incident_rows():
        if row["incident_id"] not in seen:
            seen[row["incident_id"]] = {**row, "governorate": row["admin1"]}
    return list(seen.values())


def refresh(ledger: Ledger, pack: Pack) -> dict[str, Any]:
    """Recompute the patterns and record what changed (inside the caller's transaction);
    ``new_alerts`` lists the alerts recorded now."""
    spec = pack.spec.patterns
    findings = ledger.findings()
    changed: dict[str, Any] = {"calm_days": 0, "alerts": 0, "withdrawn": 0, "new_alerts": []}
    instrument = pack.instruments.get(spec.calm_instrument)
    if instrument is not None:
        day_d = instrument.start
        end = day_d + dt.timedelta(days=spec.calm_days)
        series = calm_series([f for f in findings if f["instrument"] in spec.calm_counts],
                             day_d=day_d, end=end, instruments=tuple(spec.calm_counts),
                             needed=spec.calm_needed)
        recorded = {d["day"]: d for d in ledger.calm_days()}
        for day in series:
            row = {"day": day.day, "start": iso(day.start), "end": iso(day.end),
                   "calm": int(day.calm), "consecutive": day.consecutive,
                   "condition_met": int(day.condition_met), "breaches": list(day.breaches)}
            old = recorded.get(day.day)
            if old is None or any(old[k] != v for k, v in row.items()):
                ledger.append("calm_days", row)
                changed["calm_days"] += 1
    incidents = current_incidents(ledger)
    by_id = {i["incident_id"]: i for i in incidents}
    wanted: dict[str, dict[str, Any]] = {}
    for esc in escalations(findings, by_id, threshold=spec.escalation_threshold,
                           hours=spec.escalation_hours):
        wanted[esc.key] = {
            "key": esc.key, "kind": "escalation", "active": 1, "party": esc.party,
            "governorate": esc.governorate, "start": iso(esc.start), "end": iso(esc.end),
            "incident_ids": sorted({f["incident_id"] for f in findings
                                    if f["finding_id"] in set(esc.finding_ids)}),
            "finding_ids": list(esc.finding_ids),
            "detail": f"{len(esc.finding_ids)} major/critical findings charged to {esc.party} "
                      f"in {esc.governorate} within {spec.escalation_hours:g} hours"}
    government = set(pack.spec.side_groups.get("government_side", ()))
    # Only attacks whose attacker is not in doubt: UCDP's "Syrian insurgents" may be Nusra or
    # the opposition, and "either side fired" is no evidence of a Nusra attack being answered.
    certain = [i for i in incidents if i["attribution"] == "single"]
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
    active = {a["key"]: a for a in ledger.alerts()}
    for key, row in wanted.items():
        if key not in active:
            changed["new_alerts"].append(ledger.append("alerts", row))
            changed["alerts"] += 1
    for key, row in active.items():
        if key not in wanted:
            ledger.append("alerts", {**{k: row[k] for k in _ALERT_COLUMNS}, "active": 0,
                                     "detail": "withdrawn: the findings no longer support it"})
            changed["withdrawn"] += 1
    return changed


_ALERT_COLUMNS = ("key", "kind", "party", "governorate", "start", "end", "incident_ids",
                  "finding_ids")
