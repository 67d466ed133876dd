"""ACLED's CSV export format (the lingua franca of conflict data; ../shared/data/README.md).

Mapping: ``event_id_cnty`` → source id and ``timestamp`` → revision; ``actor1`` attacks
``actor2`` (associated actors are kept in the notes); ``sub_event_type`` → event type;
``geo_precision`` 1/2/3 → location precision 1/2/3; ``time_precision`` 1/2/3 → a day, a week
around the date, the month; ``civilian_targeting`` set → civilian targeting; ``fatalities`` →
casualties. ACLED gives no platform or target category: the classifier reads ``notes``.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..service import Rejection

REQUIRED = ("event_id_cnty", "event_date", "sub_event_type", "actor1", "latitude", "longitude")

SUB_EVENT_TYPES = {
    "air/drone strike": "air_strike",
    "shelling/artillery/missile attack": "shelling",
    "armed clash": "armed_clash",
    "government regains territory": "territory_change",
    "non-state actor overtakes territory": "territory_change",
    "non-violent transfer of territory": "other",
    "remote explosive/landmine/ied": "bombing",
    "suicide bomb": "bombing",
    "grenade": "bombing",
    "chemical weapon": "attack",
    "attack": "attack",
    "abduction/forced disappearance": "other",
    "sexual violence": "other",
    "headquarters or base established": "military_presence",
    "looting/property destruction": "other",
    "disrupted weapons use": "other",
    "arrests": "other",
    "agreement": "other",
    "change to group/activity": "other",
    "other": "other",
    "peaceful protest": "other",
    "protest with intervention": "other",
    "excessive force against protesters": "attack",
    "violent demonstration": "other",
    "mob violence": "other",
}
# When the sub-event type is new to us, the event type decides (force or not).
EVENT_TYPES = {"battles": "armed_clash", "explosions/remote violence": "attack",
               "violence against civilians": "attack"}


def parse_date(value: str) -> dt.date:
    """ACLED writes ISO dates in its API and '10 August 2016' in some exports; accept both."""
    value = value.strip()
    for fmt in ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"event_date {value!r} is not a date (expected YYYY-MM-DD or "
                     "'10 August 2016')")


def to_report(row: dict[str, str], feed: str) -> dict[str, Any]:
    """One ACLED row as a raw incident report (validated later by the service)."""
    day = parse_date(row["event_date"])
    report: dict[str, Any] = {
        "feed": feed,
        "source_id": row["event_id_cnty"].strip(),
        "revision": (row.get("timestamp") or "1").strip() or "1",
        "occurred": day.isoformat(),
    }
    precision = (row.get("time_precision") or "1").strip()
    if precision == "2":
        report["occurred"] = (day - dt.timedelta(days=3)).isoformat()
        report["occurred_end"] = (day + dt.timedelta(days=3)).isoformat()
        report["date_precision"] = "week"
    elif precision == "3":
        last = calendar.monthrange(day.year, day.month)[1]
        report["occurred"] = day.replace(day=1).isoformat()
        report["occurred_end"] = day.replace(day=last).isoformat()
        report["date_precision"] = "month"
    sub = (row.get("sub_event_type") or "").strip().lower()
    etype = (row.get("event_type") or "").strip().lower()
    report["event_type"] = SUB_EVENT_TYPES.get(sub) or EVENT_TYPES.get(etype, "other")
    report["location"] = {
        "lat": row["latitude"], "lon": row["longitude"],
        "precision": (row.get("geo_precision") or "1").strip() or "1",
        "place": row.get("location") or None,
        "admin1": row.get("admin1") or None,
        "admin2": row.get("admin2") or None,
        "admin3": row.get("admin3") or None,
    }
    report["attacker"] = [row["actor1"]] if row.get("actor1", "").strip() else []
    report["target"] = [row["actor2"]] if row.get("actor2", "").strip() else []
    assoc = [f"{k}: {row[k]}" for k in ("assoc_actor_1", "assoc_actor_2") if row.get(k)]
    report["notes"] = " ".join([row.get("notes") or "", *(f"[{a}]" for a in assoc)]).strip()
    if row.get("source"):
        report["sources"] = [row["source"]]
    report["civilian_targeting"] = bool((row.get("civilian_targeting") or "").strip())
    fatalities = (row.get("fatalities") or "").strip()
    if fatalities:
        report["casualties_min"] = report["casualties_max"] = fatalities
    return report


def read_csv(path: Path, feed: str = "acled") -> Iterator[tuple[str, dict[str, Any]] | Rejection]:
    """Yield ``(where, report)`` per ACLED row, or a Rejection naming the line and reason."""
    with path.open(newline="", encoding="utf-8", errors="strict") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            yield Rejection(f"{path.name} line 1", "missing ACLED column(s) "
                            + ", ".join(missing) + "; is this an ACLED CSV export?")
            return
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                yield Rejection(f"{path.name} line {reader.line_num}", f"unreadable: {exc}")
                return
            where = f"{path.name} line {reader.line_num}"
            if None in row:
                yield Rejection(where, "more fields than the header has columns")
                continue
            try:
                yield where, to_report(row, feed)
            except (ValueError, KeyError) as exc:
                yield Rejection(where, str(exc))
