"""Terms over time in the ledger: the calm counters, escalations and sequences a pack declares
(:mod:`monitor.patternspec`; for 2016: SEP-CALM, escalations, the cycle of excuses).

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
reach (each day depends only on its own findings and those of the next ``hours``); sequences
of the second attacks that start in them or up to ``hours`` after (each depends only on the
``hours`` before it). Each is the same function of the same set as a full
recomputation, so the result does not depend on arrival order, nor on when the refresh runs: a
bulk import refreshes once at the end, the daemon after each run of a feed, a hand entry at
once, and a crash in between leaves the queue for the next refresh. A status or a confidence
changes the patterns only where its finding happened, so an analyst's verdict, a source's
retraction and an unlink recompute what the event windows of the findings they change reach
(and, for an unlink, the report's own window, where it is an incident again), not the ledger's
whole span; re-judging under changed rules recomputes everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from .config import Pack
from .ledger import MAX_WINDOW, Ledger, iso
from .patterns import Attack, calm_series, day_start, escalations, sequences
from .patternspec import CalmSpec, EscalationSpec, SequenceSpec, Step, expand, of_kind

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
    """Recompute the pack's patterns (all of them, or what event-time ``windows`` can have
    changed) and record what changed, inside the caller's transaction; ``new_alerts`` lists
    alerts recorded now. A pack that declares no patterns records nothing."""
    changed: dict[str, Any] = {"calm_days": 0, "alerts": 0, "withdrawn": 0, "new_alerts": []}
    for calm in of_kind(pack.spec.patterns, "calm"):
        _calm(ledger, pack, calm, windows, changed)
    for escalation in of_kind(pack.spec.patterns, "escalation"):
        _escalations(ledger, pack, escalation, windows, changed)
    for sequence in of_kind(pack.spec.patterns, "sequence"):
        _sequences(ledger, pack, sequence, windows, changed)
    return changed


def _calm(ledger: Ledger, pack: Pack, spec: CalmSpec, windows: list[Window] | None,
          changed: dict[str, Any]) -> None:
    instrument = pack.instruments[spec.instrument]  # checked when the pack loaded
    day_d = instrument.start
    end = day_d + dt.timedelta(days=spec.days)
    recorded = {d["day"]: d for d in ledger.calm_days(spec.name)}
    if windows is not None and recorded and not any(s < end and e > day_d for s, e in windows):
        return  # nothing new in the series' window
    # what can breach a day of the series: a window that starts before its end and ends in it
    # or after (read from MAX_WINDOW before Day D, through the index of event times)
    findings = ledger.calm_findings(iso(day_d - MAX_WINDOW), iso(end), spec.counts,
                                    spec.severities, ending_from=iso(day_d))
    for day in calm_series(findings, day_d=day_d, end=end, instruments=spec.counts,
                           needed=spec.needed, severities=spec.severities,
                           confidences=spec.confidences):
        row = {"counter": spec.name, "day": day.day, "start": iso(day.start),
               "end": iso(day.end), "calm": int(day.calm), "consecutive": day.consecutive,
               "condition_met": int(day.condition_met), "breaches": list(day.breaches)}
        old = recorded.get(day.day)
        if old is None or any(old[k] != v for k, v in row.items()):
            ledger.append("calm_counts", row)
            changed["calm_days"] += 1


def _escalations(ledger: Ledger, pack: Pack, spec: EscalationSpec,
                 windows: list[Window] | None, changed: dict[str, Any]) -> None:
    span = dt.timedelta(hours=spec.hours)
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
        for esc in escalations(findings, governorate, threshold=spec.threshold,
                               hours=spec.hours, tz=pack.tz, days=days,
                               severities=spec.severities, name=spec.name):
            wanted[esc.key] = {
                "key": esc.key, "kind": spec.name, "active": 1, "party": esc.party,
                "governorate": esc.governorate, "start": iso(esc.start), "end": iso(esc.end),
                "incident_ids": sorted({incident_of[f] for f in esc.finding_ids}),
                "finding_ids": list(esc.finding_ids),
                "detail": f"{len(esc.finding_ids)} {'/'.join(spec.severities)} findings "
                          f"charged to {esc.party} in {esc.governorate} within "
                          f"{spec.hours:g} hours"}
        active = {a["key"]: a for a in ledger.alerts(
            spec.name, since, iso(day_start(days[1] + dt.timedelta(days=1), pack.tz)))}
        _record(ledger, wanted, active, changed)


def attack(pack: Pack, step: Step) -> Attack:
    """A sequence step with the pack's side and zone groups expanded."""
    return Attack(expand(step.attackers, pack.spec.side_groups),
                  expand(step.targets, pack.spec.side_groups),
                  expand(step.zones, pack.spec.zone_groups), pack.words.attack_types)


def _step_text(step: Step, attack: Attack) -> str:
    return step.label or "an attack by " + " or ".join(sorted(attack.attackers))


def _sequences(ledger: Ledger, pack: Pack, spec: SequenceSpec, windows: list[Window] | None,
               changed: dict[str, Any]) -> None:
    hours = dt.timedelta(hours=spec.hours)
    first, then = attack(pack, spec.first), attack(pack, spec.then)
    if windows is None:
        windows = ledger.event_span()
    # a new incident at t changes the second attacks that start in [t, t + hours], which are
    # recomputed BLOCK_DAYS at a time
    block = dt.timedelta(days=BLOCK_DAYS)
    ranges = [(a + k * block, min(b, a + (k + 1) * block))
              for a, b in merged(windows, pad_after=hours + dt.timedelta(seconds=1))
              for k in range(max(1, -((a - b) // block)))]
    for between in ranges:
        rows = ledger.pattern_incidents(iso(between[0] - hours), iso(between[1]),
                                        event_types=pack.words.attack_types,
                                        attackers=first.attackers | then.attackers)
        incidents = current_incidents(rows)
        by_id = {i["incident_id"]: i for i in incidents}
        wanted: dict[str, dict[str, Any]] = {}
        # Only attacks whose attacker is not in doubt (pattern_incidents: attribution
        # single): UCDP's "Syrian insurgents" may be Nusra or the opposition, and "either side
        # fired" is no evidence of one side's attack being answered.
        for seq in sequences(incidents, first=first, then=then, hours=spec.hours, km=spec.km,
                             coarse_precision=pack.spec.coarse_precision, name=spec.name,
                             between=between):
            one, two = by_id[seq.first_incident], by_id[seq.second_incident]
            wanted[seq.key] = {
                "key": seq.key, "kind": spec.name, "active": 1,
                "party": ", ".join(s for s in two["attacker_sides"] if s in then.attackers),
                "governorate": two["governorate"], "start": one["occurred_start"],
                "end": two["occurred_start"],
                "incident_ids": [seq.first_incident, seq.second_incident],
                "finding_ids": [],
                "detail": f"{_step_text(spec.first, first)}, then "
                          f"{_step_text(spec.then, then)} {seq.hours_between:g} h later and "
                          f"{seq.distance_km:g} km away"}
        active = {a["key"]: a for a in ledger.alerts(
            spec.name, iso(between[0]), iso(between[1]), by="end")}
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
