"""What the ledger stores of a judged report, made from the report, its resolution and its
findings alone (no ledger, no other report): the report's body, its incident row and its
findings' explanations, each as the ledger writes it.

A function of the report and its judgement alone: :meth:`monitor.service.Monitor.submit`
makes it for a batch, then shares what is said again, chains and inserts. The import's worker
process makes the bodies and the explanations (:mod:`monitor.pipeline`), each handed over as
one string, and no more: the two processes are about equally busy, so what the worker takes
on the wall-clock time pays for, and the hand-over adds its own cost. (When the worker made
the incident rows too, and handed the explanations over as trees as well as text, 62,000
generated rows imported in 13.7-14.4 s rather than 12.1-12.5 s.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from .ledger import CanonicalJSON, canonical_json, compact_explanation, compact_resolution, iso
from .models import Finding, IncidentReport, Resolution

# Resolution keys recorded only when set: a pack using none of them records as before.
OPTIONAL_RESOLUTION = ("weapon_class", "distances_km", "zone_responsible")


@dataclass(slots=True)
class Staged:
    """A judged report as the ledger will store it. ``incident`` is its ``incidents`` row (its
    own incident id; its ``resolution`` compacted, with the notes as text: recording replaces
    the ones shared with other reports by their seq, :func:`.ledger.compact.share_notes`);
    ``explanations`` maps each finding's id to the canonical JSON of its stored explanation."""

    body: str
    incident: dict[str, Any]
    explanations: dict[str, str]


def body_json(report: IncidentReport) -> CanonicalJSON:
    """A report's body as the ledger stores it: the report without its defaults, as canonical
    JSON."""
    return CanonicalJSON(canonical_json(report.model_dump(mode="json", exclude_defaults=True)))


# An aware time -> its text in an incident row's columns (ledger.iso) and in its resolution
# (pydantic's JSON, "Z"): made once a time. Reports share their times (a day's bounds, most of
# them): made for each, the four texts of a report took ~3.2 µs.
_TEXTS: dict[dt.datetime, tuple[str, str]] = {}
_TEXTS_MAX = 4096


def _texts(value: dt.datetime) -> tuple[str, str]:
    texts = _TEXTS.get(value)
    if texts is None:  # (equal times are one instant: the same texts, since both are UTC)
        if len(_TEXTS) >= _TEXTS_MAX:
            _TEXTS.clear()
        texts = _TEXTS[value] = (iso(value), value.astimezone(dt.timezone.utc).isoformat()
                                 .replace("+00:00", "Z"))
    return texts


def iso_once(value: dt.datetime) -> str:
    """:func:`.ledger.iso` of an aware time, made once a time (the judge writes each report's
    window into its findings: two conversions and two texts a report otherwise, ~4 µs)."""
    return _texts(value)[0]


def resolution_json(res: Resolution) -> dict[str, Any]:
    """``res.model_dump(mode="json")``, made directly (it is on the path of every report):
    the times are aware UTC, which pydantic writes with ``Z``; the rest is JSON already."""
    out = dict(res.__dict__)
    for name in ("start", "end"):
        out[name] = _texts(out[name])[1]
    for name in ("attacker_sides", "target_sides", "zones", "zone_ids", "notes",
                 "unresolved_names"):
        out[name] = list(out[name])
    for name in OPTIONAL_RESOLUTION:
        if not out[name]:
            del out[name]
        elif isinstance(out[name], (list, dict)):
            out[name] = type(out[name])(out[name])
    return out


def incident_row(report: IncidentReport, res: Resolution) -> dict[str, Any]:
    """The report's ``incidents`` row under its own incident id: what its columns hold is not
    stored again in its resolution (:func:`~monitor.ledger.compact.compact_resolution`)."""
    loc = report.location
    row = {
        "incident_id": report.incident_id,
        "report_key": report.report_key,
        "occurred_start": _texts(res.start)[0], "occurred_end": _texts(res.end)[0],
        "lat": loc.lat if loc else None, "lon": loc.lon if loc else None,
        "location_precision": loc.precision if loc else None,
        "place": loc.place if loc else None, "admin1": res.governorate,
        "event_type": res.event_type, "platform": res.platform,
        "target_category": res.target_category,
        "attacker_sides": res.attacker_sides, "target_sides": res.target_sides,
        "attribution": res.attribution, "zones": res.zones,
    }
    row["resolution"] = compact_resolution(resolution_json(res), row)
    return row


def stored_explanations(res: Resolution, findings: list[Finding]) -> dict[str, str]:
    """Each finding's explanation as the ledger stores it, by finding id: canonical JSON, the
    notes of ``res`` (its incident row's) left out (:func:`.ledger.compact_explanation`)."""
    return {f.finding_id: canonical_json(compact_explanation(f.explanation, res.notes))
            for f in findings}


def stage(report: IncidentReport, res: Resolution, findings: list[Finding],
          body: str | None = None, explanations: dict[str, str] | None = None) -> Staged:
    """Everything the ledger stores of one judged report (``body`` and ``explanations`` when
    made already)."""
    return Staged(
        body=body if body is not None else body_json(report),
        incident=incident_row(report, res),
        explanations=explanations if explanations is not None else
        stored_explanations(res, findings))
