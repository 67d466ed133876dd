"""Terms over time in the ledger: SEP-CALM days, escalations, cycles of excuses.

We judge these as queries over the ledger, not with durable_rules' timers: the engine's timers
run on wall-clock time and durable_rules 2.x has no event-time windows, while the terms must be
judged on *event* time so that a replay of 2016 gives exactly what watching it live gave. After
every batch (and every analyst verdict) :func:`refresh` recomputes the patterns as a function of
the ledger's current findings and incidents (:mod:`monitor.patterns`) and records only the
differences: a calm day whose state changed is recorded again, a new alert is recorded, an alert
no longer supported is withdrawn by a new entry (``active`` 0). Nothing is rewritten, and a late
report lands in the right day and changes the series by new entries.

What a batch can change is known by event time: the windows of its new reports (and of any
finding it superseded). Those windows go to a work queue in the batch's own transaction
(:meth:`Ledger.queue_patterns`); :func:`refresh` takes the queue and recomputes only what the
windows can reach: the calm series if they touch it; escalations of the local days they can
reach (each day depends only on its own findings and those of the next ``hours``); cycles of
excuses of the government attacks that start in them or up to ``hours`` after (each depends
only on the ``hours`` before it). Each is the same function of the same set as a full
recomputation, so the result does not depend on arrival order, nor on when the refresh runs: a
bulk import refreshes once at the end, the daemon after each run of a feed, a hand entry at
once, and a crash in between leaves the queue for the next refresh. Verdicts, unlinking,
re-judging and retractions recompute everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from .config import Pack
from .ledger import MAX_WINDOW, Ledger, iso
from .models import ATTACK_EVENT_TYPES
from .patterns import calm_series, cycles_of_excuses, day_start, escalations

_ALERT_COLUMNS = ("key", "kind", "party", "governorate", "start", "end", "incident_ids",
                  "finding_ids")
Window = tuple[dt.datetime, dt.datetime]
# Escalations and cycles are recomputed this many days at a time: a refresh of a whole year
# never holds more than a week of findings in memory (measured on a daemon's ledger of 1M
# incidents: a full refresh peaked 170 MiB above its start with 31-day blocks, 67 with 7, in
# the same time).
BLOCK_DAYS = 7


def _blocks(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[first, last] cut into runs of at most BLOCK_DAYS days."""
    out = []
    while first <= last:
        end = min(last, first + dt.timedelta(days=BLOCK_DAYS - 1))
        out.append((first, end))
        first = end + dt.timedelta(days=1)
    return out


def current_incidents(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One dict per incident (the first report that made it), in the shape patterns take: the
    rows themselves, given a ``governorate`` (not copied: a week of a big ledger's rows)."""
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["incident_id"] not in seen:
            row["governorate"] = row["admin1"]
            seen[row["incident_id"]] = row
    return list(seen.values())


def merged(windows: Iterable[Window], pad_before: dt.timedelta = dt.timedelta(0),
           pad_after: dt.timedelta = dt.timedelta(0)) -> list[Window]:
    """Windows widened by the pads and merged where they overlap or touch, in time order."""
    out: list[list[dt.datetime]] = []
    for start, end in sorted((s - pad_before, e + pad_after) for s, e in windows):
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [(a, b) for a, b in out]


def refresh(ledger: Ledger, pack: Pack, windows: list[Window] | None = None) -> dict[str, Any]:
    """Recompute the patterns (all of them, or what event-time ``windows`` can have changed)
    and record what changed, inside the caller's transaction; ``new_alerts`` lists alerts
    recorded now."""
    changed: dict[str, Any] = {"calm_days": 0, "alerts": 0, "withdrawn": 0, "new_alerts": []}
    _calm(ledger, pack, windows, changed)
    _escalations(ledger, pack, windows, changed)
    _excuses(ledger, pack, windows, changed)
    return changed


def _calm(ledger: Ledger, pack: Pack, windows: list[Window] | None,
          changed: dict[str, Any]) -> None:
    spec = pack.spec.patterns
    instrument = pack.instruments.get(spec.calm_instrument)
    if instrument is None:
        return
    day_d = instrument.start
    end = day_d + dt.timedelta(days=spec.calm_days)
    recorded = {d["day"]: d for d in ledger.calm_days()}
    if windows is not None and recorded and not any(s < end and e > day_d for s, e in windows):
        return  # nothing new in the series' window
    findings = ledger.calm_findings(iso(day_d - MAX_WINDOW), iso(end), spec.calm_counts)
    for day in calm_series(findings, day_d=day_d, end=end, instruments=tuple(spec.calm_counts),
                           needed=spec.calm_needed):
        row = {"day": day.day, "start": iso(day.start), "end": iso(day.end),
               "calm": int(day.calm), "consecutive": day.consecutive,
               "condition_met": int(day.condition_met), "breaches": list(day.breaches)}
        old = recorded.get(day.day)
        if old is None or any(old[k] != v for k, v in row.items()):
            ledger.append("calm_days", row)
            changed["calm_days"] += 1


def _escalations(ledger: Ledger, pack: Pack, windows: list[Window] | None,
                 changed: dict[str, Any]) -> None:
    spec = pack.spec.patterns
    span = dt.timedelta(hours=spec.escalation_hours)
    if windows is None:
        windows = ledger.event_span()
    # a finding at t can change the windows starting in [t - span, t]: those days, a block of
    # BLOCK_DAYS at a time (memory stays bounded however much the windows cover)
    ranges = [block for a, b in merged(windows, pad_before=span)
              for block in _blocks(a.astimezone(pack.tz).date(), b.astimezone(pack.tz).date())]
    for days in ranges:
        since = iso(day_start(days[0], pack.tz))
        until = iso(day_start(days[1] + dt.timedelta(days=1), pack.tz) + span)
        findings = ledger.serious_findings(since, until)
        governorate = {f["incident_id"]: {"governorate": f["governorate"]} for f in findings}
        incident_of = {f["finding_id"]: f["incident_id"] for f in findings}
        wanted: dict[str, dict[str, Any]] = {}
        for esc in escalations(findings, governorate, threshold=spec.escalation_threshold,
                               hours=spec.escalation_hours, tz=pack.tz, days=days):
            wanted[esc.key] = {
                "key": esc.key, "kind": "escalation", "active": 1, "party": esc.party,
                "governorate": esc.governorate, "start": iso(esc.start), "end": iso(esc.end),
                "incident_ids": sorted({incident_of[f] for f in esc.finding_ids}),
                "finding_ids": list(esc.finding_ids),
                "detail": f"{len(esc.finding_ids)} major/critical findings charged to "
                          f"{esc.party} in {esc.governorate} within "
                          f"{spec.escalation_hours:g} hours"}
        active = {a["key"]: a for a in ledger.alerts(
            "escalation", since, iso(day_start(days[1] + dt.timedelta(days=1), pack.tz)))}
        _record(ledger, wanted, active, changed)


def _excuses(ledger: Ledger, pack: Pack, windows: list[Window] | None,
             changed: dict[str, Any]) -> None:
    spec = pack.spec.patterns
    hours = dt.timedelta(hours=spec.excuses_hours)
    government = set(pack.spec.side_groups.get("government_side", ()))
    if windows is None:
        windows = ledger.event_span()
    # a new incident at t changes the government attacks that start in [t, t + hours], which
    # are recomputed BLOCK_DAYS at a time
    block = dt.timedelta(days=BLOCK_DAYS)
    ranges = [(a + k * block, min(b, a + (k + 1) * block))
              for a, b in merged(windows, pad_after=hours + dt.timedelta(seconds=1))
              for k in range(max(1, -((a - b) // block)))]
    for between in ranges:
        rows = ledger.pattern_incidents(iso(between[0] - hours), iso(between[1]),
                                        event_types=ATTACK_EVENT_TYPES,
                                        attackers={"nusra", *government})
        incidents = current_incidents(rows)
        by_id = {i["incident_id"]: i for i in incidents}
        wanted: dict[str, dict[str, Any]] = {}
        # Only attacks whose attacker is not in doubt (pattern_incidents: attribution
        # single): UCDP's "Syrian insurgents" may be Nusra or the opposition, and "either side
        # fired" is no evidence of a Nusra attack being answered.
        for pat in cycles_of_excuses(incidents, government_side=government,
                                     hours=spec.excuses_hours, km=spec.excuses_km,
                                     coarse_precision=pack.spec.coarse_precision,
                                     between=between):
            first, second = by_id[pat.nusra_incident], by_id[pat.government_incident]
            wanted[pat.key] = {
                "key": pat.key, "kind": "cycle_of_excuses", "active": 1,
                "party": ", ".join(s for s in second["attacker_sides"] if s in government),
                "governorate": second["governorate"], "start": first["occurred_start"],
                "end": second["occurred_start"],
                "incident_ids": [pat.nusra_incident, pat.government_incident],
                "finding_ids": [],
                "detail": f"a Nusra attack, then a government-side attack "
                          f"{pat.hours_between:g} h later and {pat.distance_km:g} km away"}
        active = {a["key"]: a for a in ledger.alerts(
            "cycle_of_excuses", iso(between[0]), iso(between[1]), by="end")}
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
