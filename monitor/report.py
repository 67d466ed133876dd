"""Briefs: what the ledger says about a period, cut-off to cut-off, for people who were not
watching it (``monitor report``; the daemon's daily brief through :func:`write_daily`).

**Days and periods.** Ceasefire missions report at a fixed daily cut-off (default 19:30 local,
in the pack's time zone). Day ``D`` of a brief is the 24 hours *ending* at D's cut-off, from
``D-1`` at the cut-off to ``D`` at the cut-off: the brief issued at the cut-off of 13 September
covers what happened since the previous evening, and a report dated only "13 September" (its
event window starts at 00:00 local) is in day 13. ``since S, until U`` is the period from S at
the cut-off to U at the cut-off, i.e. days S+1 .. U; a finding is in it when its event window
*starts* in it (start inclusive, end exclusive). The comparison period is the one of equal
length just before.

**What is counted.** The current findings (not superseded or retracted). Disputed and
discounted ones are listed apart and counted nowhere. A finding charged to several candidate
parties (ambiguous attribution) counts once for each of them in the per-party scorecard and
chart, once in the per-term table.

**Self-contained.** The HTML brief is one file, inline CSS and SVG, no script, no font, no
image, no URL: it opens offline and makes no request. Sources that are URLs are shown without
their scheme (``www.example.org/x``) for that reason. Data is read through Ledger methods only.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # shapely and jinja2 load when a brief is written, not with the CLI
    from jinja2 import Environment

from .briefmap import map_layers
from .colours import PALETTE, SEVERITY_COLOURS, UNATTRIBUTED, ZONE_FILL_OPACITY
from .config import Pack
from .explain import because
from .ledger import Ledger
from .models import CONFIDENCES, SEVERITIES, Finding, charged_set
from .patternspec import of_kind
from .vocabulary import GONE_STATUSES, SET_ASIDE_STATUSES

DEFAULT_CUTOFF = dt.time(19, 30)
SEVERITY_ORDER = tuple(reversed(SEVERITIES))  # critical, major, minor
SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}
CONF_RANK = {c: i for i, c in enumerate(CONFIDENCES)}
TOP_INCIDENTS = 10
FORMATS = {"html": "brief.html.j2", "md": "brief.md.j2"}
TEMPLATES = Path(__file__).parent / "templates" / "report"

_SCHEME = re.compile(r"(?i)\b(?:https?|ftp)://")
Row = dict[str, Any]  # a ledger row or a piece of a brief


@dataclass(frozen=True)
class Period:
    """From ``since`` at the cut-off to ``until`` at the cut-off, local time of the pack."""

    since: dt.date
    until: dt.date
    cutoff: dt.time
    tz: ZoneInfo

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.since, self.cutoff, self.tz)

    @property
    def end(self) -> dt.datetime:
        return dt.datetime.combine(self.until, self.cutoff, self.tz)

    def days(self) -> list[dt.date]:
        """The days of the period, each named by the date of the cut-off that ends it."""
        return [self.since + dt.timedelta(days=i) for i in range(1, (self.until - self.since).days
                                                                  + 1)]

    def previous(self) -> Period:
        """The period of equal length just before this one."""
        return Period(self.since - (self.until - self.since), self.since, self.cutoff, self.tz)

    def day_of(self, when: dt.datetime) -> dt.date:
        """The day (cut-off to cut-off) that contains ``when``."""
        local = when.astimezone(self.tz)
        return local.date() + dt.timedelta(days=local.time() >= self.cutoff)


def period(since: dt.date, until: dt.date, tz: ZoneInfo,
           cutoff: dt.time = DEFAULT_CUTOFF) -> Period:
    """A checked period: ``until`` must be after ``since``."""
    if until <= since:
        raise ValueError(f"until ({until}) must be after since ({since})")
    return Period(since, until, cutoff, tz)


def change(now: int, before: int) -> str:
    """The change as a brief prints it: "+3", "−2" (a real minus sign), "±0"."""
    diff = now - before
    return f"+{diff}" if diff > 0 else f"\u2212{-diff}" if diff < 0 else "\u00b10"


def _findings(ledger: Ledger, p: Period) -> list[Row]:
    """Findings whose event window starts in ``p``, minus superseded and retracted ones,
    without their explanations (a year of findings' are gigabytes): whether each is an
    aggregate instead; :func:`serious_incidents` reads the explanations of those it shows."""
    return [f for f in ledger.findings(since=p.start, until=p.end, explained=False,
                                       with_aggregate=True)
            if f["status"] not in GONE_STATUSES]


def _counted(findings: Iterable[Row]) -> list[Row]:
    """The findings a brief counts: not set aside by an analyst, and not context (CTX-CIV is
    recorded so that nothing is lost, never counted among violations, TERMS.md §4)."""
    return [f for f in findings
            if f["status"] not in SET_ASIDE_STATUSES and f.get("instrument_status") != "context"]


def party_of(f: Row) -> str:
    """The one scorecard row a finding sits in: its charged set (TERMS.md §4 "Counting")."""
    return charged_set(list(f["charged_to"]), str(f.get("attribution", "")))


def _aggregate(f: Row) -> bool:
    """A tally or round-up (TERMS.md §4): never among a brief's most serious incidents."""
    if "aggregate" in f:  # read with the finding (findings(with_aggregate=True))
        return bool(f["aggregate"])
    return bool(Finding.recorded_facts(f.get("explanation") or []).get("aggregate"))


def _when(f: Row, tz: ZoneInfo) -> str:
    """An event window for people: "13 Sep 2016" for a whole local day, else start (.. end)."""
    start, end = (dt.datetime.fromisoformat(f[k]).astimezone(tz)
                  for k in ("occurred", "occurred_end"))
    if start.time() == dt.time(0) and end - start == dt.timedelta(days=1):
        return start.strftime("%d %b %Y")
    text = start.strftime("%d %b %Y %H:%M")
    return text if end - start <= dt.timedelta(minutes=1) else (
        text + " \u2013 " + end.strftime("%d %b %Y %H:%M"))


def _value(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def condense(explanation: list[Row]) -> tuple[list[tuple[str, list[Any]]], list[str]]:
    """A finding's explanation in brief: each condition that held with the values that held
    it (merged over the candidate attributions), and the resolution notes."""
    held: dict[str, list[Any]] = {}
    notes: list[str] = []
    for item in explanation:
        if "condition" in item:
            values = held.setdefault(item["condition"], [])
            if item.get("value") not in values:
                values.append(item.get("value"))
        elif "resolution" in item and item["resolution"] not in notes:
            notes.append(str(item["resolution"]))
    return list(held.items()), notes


def held_lines(conditions: list[tuple[str, list[Any]]]) -> list[str]:
    """The conditions as the rule states them ("attacker_side in [...]: syrian_government")."""
    return [f"{c}: {' / '.join(_value(v) for v in values)}" for c, values in conditions]


def _tally(findings: list[Row]) -> dict[str, Counter[str]]:
    """Per charged set: findings in all ("total"), per term ("term:X") and per severity
    ("sev:Y"), and distinct incidents ("incidents"; TERMS.md §4: briefs count distinct
    incidents per charged set). Each finding counts in one row only."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    seen: dict[str, set[str]] = defaultdict(set)
    for f in findings:
        party = party_of(f)
        out[party].update(("total", "term:" + f["term"], "sev:" + f["severity"]))
        seen[party].add(f["incident_id"])
    for party, incidents in seen.items():
        out[party]["incidents"] = len(incidents)
    return out


def _cell(key: str, now: Counter[str], before: Counter[str]) -> Row:
    return {"key": key, "count": now[key], "previous": before[key],
            "change": change(now[key], before[key]),
            "trend": "up" if now[key] > before[key] else "down" if now[key] < before[key] else ""}


def scorecard(counted: list[Row], previous: list[Row]) -> Row:
    """Per party: findings by term and by severity and in all, each with the previous period's
    count and the change. Parties with findings in either period, most findings first."""
    now, before = _tally(counted), _tally(previous)
    terms = sorted({f["term"] for f in counted} | {f["term"] for f in previous})
    columns = ([("term:" + t, t) for t in terms] + [("sev:" + s, s) for s in SEVERITY_ORDER]
               + [("incidents", "incidents"), ("total", "all")])
    parties = sorted(set(now) | set(before), key=lambda p: (-now[p]["total"], p))
    rows = [{"party": p, "cells": [_cell(k, now[p], before[p]) for k, _ in columns]}
            for p in parties]
    return {"columns": [{"key": k, "label": label, "term": k.startswith("term:")}
                        for k, label in columns], "rows": rows, "terms": terms}


def term_table(counted: list[Row], previous: list[Row],
               pack: Pack) -> list[Row]:
    """One row per term found in either period: its instrument and the instrument's status,
    the count, by severity, and the change from the previous period."""
    titles = {r.spec.term: r.spec.title for r in pack.rules}
    now, before = Counter(f["term"] for f in counted), Counter(f["term"] for f in previous)
    first = {f["term"]: f for f in [*previous, *counted]}  # instrument fields, any finding
    rows = []
    for term in sorted(first):
        f = first[term]
        sev = Counter(x["severity"] for x in counted if x["term"] == term)
        rows.append({"term": term, "title": titles.get(term, ""), "instrument": f["instrument"],
                     "instrument_status": f["instrument_status"], "count": now[term],
                     "severity": {s: sev[s] for s in SEVERITY_ORDER},
                     "previous": before[term], "change": change(now[term], before[term])})
    return rows


def sources(ledger: Ledger, incident_id: str) -> list[str]:
    """Every source of every report of the incident (its own and those linked to it), each
    once, with the feed that carried it."""
    out: list[str] = []
    for report in ledger.reports_now_in(incident_id):
        for source in (report.get("body") or {}).get("sources") or ["(no source named)"]:
            if (text := f"{source} [{report['feed']}]") not in out:
                out.append(text)
    return out


def serious_incidents(counted: list[Row], incidents: dict[str, Row], ledger: Ledger,
                      pack: Pack, tz: ZoneInfo, limit: int = TOP_INCIDENTS) -> list[Row]:
    """The ``limit`` most serious incidents: critical before major, then high confidence
    before medium before low, then earliest first. Minor-only incidents are left out."""
    by_incident: dict[str, list[Row]] = defaultdict(list)
    for f in counted:
        if not _aggregate(f):
            by_incident[f["incident_id"]].append(f)

    def rank(item: tuple[str, list[Row]]) -> tuple[Any, ...]:
        fs = item[1]
        return (-max(SEV_RANK[f["severity"]] for f in fs),
                -max(CONF_RANK[f["confidence"]] for f in fs), min(f["occurred"] for f in fs),
                item[0])

    out = []
    for incident_id, fs in sorted(by_incident.items(), key=rank):
        severity = max((f["severity"] for f in fs), key=SEV_RANK.__getitem__)
        if SEV_RANK[severity] < SEV_RANK["major"] or len(out) >= limit:
            continue
        row = incidents.get(incident_id) or {}
        notes: list[str] = []
        terms = []
        for f in sorted(fs, key=lambda f: (-SEV_RANK[f["severity"]], f["term"])):
            explanation = f["explanation"] if "explanation" in f else (
                ledger.finding(f["finding_id"]) or {}).get("explanation") or []
            conditions, resolution = condense(explanation)
            notes += [n for n in resolution if n not in notes]
            terms.append({**{k: f[k] for k in ("finding_id", "term", "instrument",
                                               "instrument_status", "charged_to", "severity",
                                               "confidence", "status", "attribution")},
                          "charged": pack.set_label(party_of(f)),
                          "held": held_lines(conditions),
                          "why": because(conditions, pack.side_label,
                                         lambda i: _instrument_title(pack, i))})
        place = ", ".join(x for x in (row.get("place"), row.get("admin1")) if x)
        out.append({"incident_id": incident_id, "when": _when(fs[0], tz), "place": place,
                    "severity": severity, "confidence": max(
                        (f["confidence"] for f in fs), key=CONF_RANK.__getitem__),
                    "terms": terms, "notes": notes, "sources": sources(ledger, incident_id)})
    return out


def _set_aside(findings: list[Row], ledger: Ledger, tz: ZoneInfo) -> list[Row]:
    """Disputed and discounted findings, with the analyst's last word on each."""
    out = []
    for f in findings:
        if f["status"] not in SET_ASIDE_STATUSES:
            continue
        last = (ledger.history("status_changes", f["finding_id"]) or [{}])[-1]
        out.append({**f, "when": _when(f, tz), "by": last.get("by") or "",
                    "note": last.get("note") or ""})
    return out


def party_colours(pack: Pack, parties: Iterable[str]) -> dict[str, str]:
    """A colour per charged set: a side keeps its pack-order colour across briefs; a set of
    several sides ("russia or syrian_government") takes the next colour no side of this
    brief has, so no two rows of one brief share a colour (while the palette lasts)."""
    order = [*pack.sides, "unattributed"]
    parties = list(parties)
    out = {p: UNATTRIBUTED if p in ("unattributed", pack.spec.unknown_side)
           else PALETTE[order.index(p) % len(PALETTE)] for p in parties if p in order}
    free = [c for c in PALETTE if c not in out.values()] or list(PALETTE)
    for i, p in enumerate(sorted(p for p in parties if p not in out)):
        out[p] = free[i % len(free)]
    return out


# A brief's bars are days up to two months, weeks up to a year, months beyond: a two-year brief
# has 27 bars and table rows, not 852.
DAYS_AS_DAYS, DAYS_AS_WEEKS = 62, 366


def unit_of(p: Period) -> str:
    """What one bar and one row of the per-party counts is for the period: day, week or month."""
    n = len(p.days())
    return "day" if n <= DAYS_AS_DAYS else "week" if n <= DAYS_AS_WEEKS else "month"


def bin_of(day: dt.date, p: Period, unit: str) -> dt.date:
    """The first day of the bar ``day`` falls in: itself, its week (counted from the period's
    first day) or its calendar month."""
    if unit == "week":
        first = p.since + dt.timedelta(days=1)  # p.days()[0], not made for each finding
        return first + dt.timedelta(days=(day - first).days // 7 * 7)
    return day.replace(day=1) if unit == "month" else day


def bin_label(start: dt.date, p: Period, unit: str) -> str:
    if unit == "week":
        end = min(start + dt.timedelta(days=6), p.until)  # p.days()[-1]
        return f"{start:%d %b}–{end:%d %b %Y}"
    return f"{start:%b %Y}" if unit == "month" else f"{start:%a %d %b}"


def per_day(counted: list[Row], p: Period, unit: str = "day") -> dict[dt.date, Counter[str]]:
    """Findings per day (cut-off to cut-off), or per week or month, per charged set; keyed by
    the bar's first day."""
    out: dict[dt.date, Counter[str]] = {bin_of(d, p, unit): Counter() for d in p.days()}
    for f in counted:
        day = p.day_of(dt.datetime.fromisoformat(f["occurred"]))
        out[bin_of(day, p, unit)][party_of(f)] += 1
    return out


def _nice(top: int) -> int:
    """The axis maximum: 1, 2, 2.5 or 5 times a power of ten, at least ``top``."""
    if top <= 5:
        return max(top, 1)
    mag = 10 ** int(math.log10(top))
    return next(int(m * mag) for m in (1, 2, 2.5, 5, 10) if m * mag >= top)


def chart(days: dict[dt.date, Counter[str]], colours: dict[str, str],
          labels: dict[dt.date, str] | None = None) -> Row:
    """Stacked bars in SVG units (templates/report/chart.svg.j2 draws them): one group per day,
    one colour per party; the axis at 0, half and a round maximum."""
    width, height, left, bottom, top = 900, 260, 44, 34, 12
    slot = (width - left - 8) / max(len(days), 1)
    bar = max(min(slot * 0.72, 60), 1.0)
    axis = _nice(max((sum(c.values()) for c in days.values()), default=0))
    scale, base = (height - bottom - top) / axis, height - bottom
    every = math.ceil(len(days) / 16)  # at most ~16 day labels, whatever the period
    groups = []
    for i, (day, counts) in enumerate(days.items()):
        x, y, bars = left + i * slot + (slot - bar) / 2, float(base), []
        for party in (q for q in colours if counts[q]):
            y -= counts[party] * scale
            bars.append({"party": party, "n": counts[party], "y": y, "colour": colours[party],
                         "h": counts[party] * scale})
        groups.append({"day": day, "total": sum(counts.values()), "x": x, "bars": bars,
                       "label": i % every == 0,
                       "text": (labels or {}).get(day) or f"{day:%d %b}"})
    return {"width": width, "height": height, "left": left, "base": base, "bar": bar,
            "ticks": [(t, base - t * scale) for t in sorted({0, axis // 2, axis})],
            "groups": groups}


def _points(counted: list[Row], incidents: dict[str, Row]) -> list[Row]:
    """One point per located incident: its most serious finding's severity, its terms."""
    by_incident: dict[str, list[Row]] = defaultdict(list)
    for f in counted:
        by_incident[f["incident_id"]].append(f)
    out = []
    for incident_id, fs in by_incident.items():
        row = incidents.get(incident_id) or {}
        if row.get("lat") is None or row.get("lon") is None:
            continue
        severity = max((f["severity"] for f in fs), key=SEV_RANK.__getitem__)
        label = f"{row.get('place') or incident_id}: " + ", ".join(
            sorted({f["term"] for f in fs})) + f" ({severity})"
        out.append({"lat": row["lat"], "lon": row["lon"], "severity": severity, "label": label})
    return out


def _instrument_title(pack: Pack, instrument: str) -> str:
    found = pack.instruments.get(instrument)
    return found.title if found else instrument


def summary(pack: Pack, p: Period, counted: list[Row], before: list[Row], serious: list[Row],
            calm: list[Row]) -> str:
    """The brief's opening paragraph: how many findings and how that changed, who is charged
    most, the most serious incidents, and the calm count."""
    n, m = len(counted), len(before)
    incidents = len({f["incident_id"] for f in counted})
    text = [f"{n} finding{'s' * (n != 1)} on {incidents} incident{'s' * (incidents != 1)}"
            + (f", {abs(n - m)} {'more' if n > m else 'fewer'} than in the previous "
               f"{len(p.days())} day{'s' * (len(p.days()) != 1)} ({m})." if n != m else
               f", as many as in the previous {len(p.days())} days.")]
    by_party = Counter(party_of(f) for f in counted)
    named = [(q, k) for q, k in by_party.most_common() if q not in ("undetermined",)][:2]
    if named:
        text.append("Most findings are charged to " + " and ".join(
            f"{pack.set_label(q)} ({k})" for q, k in named) + ".")
    if by_party.get("undetermined"):
        text.append(f"{by_party['undetermined']} are clashes whose initiator is not known.")
    if serious:
        worst = serious[:2]
        text.append("Most serious: " + "; ".join(
            f"{s['when']}{', ' + s['place'] if s['place'] else ''} — "
            + ", ".join(f"{t['term']} charged to {t['charged']}" for t in s["terms"][:2])
            + f" ({s['severity']}, confidence {s['confidence']})" for s in worst) + ".")
    for spec in of_kind(pack.spec.patterns, "calm"):
        days = [d for d in calm if d["counter"] == spec.name and _overlaps(d, p)]
        if not days:
            continue
        quiet = sum(1 for d in days if d["calm"])
        last = days[-1]["consecutive"]
        text.append(f"{spec.title}: {quiet} of the {len(days)} counted day"
                    f"{'s' * (len(days) != 1)} in the period were calm; "
                    + (f"{spec.needed} consecutive calm days: {spec.met}."
                       if any(d["condition_met"] for d in days) else
                       f"{last} consecutive calm day{'s' * (last != 1)} at its end "
                       f"({spec.needed} needed)."))
    return " ".join(text)


def _overlaps(day: Row, p: Period) -> bool:
    start, end = (dt.datetime.fromisoformat(str(day[k])) for k in ("start", "end"))
    return start < p.end and end > p.start


def title(p: Period) -> str:
    """The brief's title: "... brief, 12–19 Sep 2016" names the first and last cut-off; a
    brief of one day is a "daily brief" named by its day."""
    if len(p.days()) == 1:
        return f"Ceasefire compliance daily brief, {p.until.day} {p.until:%b %Y}"
    first = f"{p.since.day}" + (f" {p.since:%b}" if p.since.month != p.until.month else "")
    first += f" {p.since.year}" * (p.since.year != p.until.year)
    return f"Ceasefire compliance brief, {first}\u2013{p.until.day} {p.until:%b %Y}"


def build(ledger: Ledger, pack: Pack, p: Period, *, maps: bool = True,
          now: dt.datetime | None = None) -> Row:
    """Everything a brief shows, as data (the templates only lay it out)."""
    found, before = _findings(ledger, p), _counted(_findings(ledger, p.previous()))
    counted = _counted(found)
    ids = list(dict.fromkeys(f["incident_id"] for f in counted))
    places = ledger.incident_places(ids)  # where each is: all a brief shows of its row
    incidents = {i: places.get(i) or {} for i in ids}
    unit = unit_of(p)
    days = per_day(counted, p, unit)
    parties = sorted({party_of(f) for f in counted},
                     key=lambda q: (-sum(c[q] for c in days.values()), q))
    colours = party_colours(pack, parties)
    points = _points(counted, incidents)
    serious = serious_incidents(counted, incidents, ledger, pack, p.tz)
    terms = term_table(counted, before, pack)
    fmt = "%a %d %b %Y %H:%M"
    return {
        "title": title(p),
        "pack_title": pack.spec.title, "tz": str(p.tz),
        "start": p.start.strftime(fmt), "end": p.end.strftime(fmt),
        # both offsets when a daylight-saving change falls in the period
        "utc_offset": "/".join(dict.fromkeys(t.isoformat()[-6:] for t in (p.start, p.end))),
        "cutoff": p.cutoff.strftime("%H:%M"), "ndays": len(p.days()),
        "previous_start": p.previous().start.strftime(fmt),
        "previous_end": p.previous().end.strftime(fmt),
        "generated": f"{(now or dt.datetime.now(dt.UTC)).astimezone(p.tz):%Y-%m-%d %H:%M} "
                     f"({p.tz})",
        "head": ledger.head(),
        "total": len(counted), "previous_total": len(before),
        "change": change(len(counted), len(before)),
        "incident_count": len({f["incident_id"] for f in counted}),
        "scorecard": scorecard(counted, before), "terms": terms,
        "serious": serious,
        "summary": summary(pack, p, counted, before, serious, ledger.calm_days()),
        "set_label": pack.set_label,
        "set_aside": _set_aside(found, ledger, p.tz),
        "unit": unit,
        "days": [{"day": d, "label": bin_label(d, p, unit), "counts": c,
                  "total": sum(c.values())} for d, c in days.items()],
        "parties": parties, "colours": colours,
        "chart": chart(days, colours, {d: bin_label(d, p, unit) for d in days}
                       if unit != "day" else None),
        "map": map_layers(pack, p, points) if maps else None, "points": len(points),
        "severity_colours": SEVERITY_COLOURS, "zone_opacity": ZONE_FILL_OPACITY,
        # the brief says "approximate" once, before the provenance
        "provenance": re.sub(r"^APPROXIMATE DELINEATION\.\s*", "", pack.zones.provenance.strip()),
        "attribution": pack.spec.display.credits,
        # instruments never signed whose findings the brief shows (e.g. a leaked draft)
        "proposed": sorted({t["instrument"] for t in terms if t["instrument_status"] ==
                            "proposed"}),
    }


@lru_cache(maxsize=2)
def _environment(autoescape: bool) -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=autoescape,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    # a Markdown table cell: one line, no column break
    env.filters["cell"] = lambda v: " ".join(str(v).split()).replace("|", "\\|")
    return env


def render(data: Row, fmt: str) -> str:
    """The brief as ``html`` or ``md`` text. No URL scheme survives (see the module doc)."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    text = _environment(fmt == "html").get_template(FORMATS[fmt]).render(**data)
    return _SCHEME.sub("", text)


def brief(ledger: Ledger, pack: Pack, since: dt.date, until: dt.date, fmt: str = "html", *,
          cutoff: dt.time = DEFAULT_CUTOFF, now: dt.datetime | None = None) -> str:
    """The brief for ``since`` at the cut-off to ``until`` at the cut-off, as text."""
    p = period(since, until, pack.tz, cutoff)
    return render(build(ledger, pack, p, maps=fmt == "html", now=now), fmt)


def write_daily(ledger: Ledger, pack: Pack, out_dir: Path, day: dt.date, fmt: str = "html", *,
                cutoff: dt.time = DEFAULT_CUTOFF, now: dt.datetime | None = None) -> Path:
    """Write the brief of ``day`` (``day-1`` at the cut-off to ``day`` at the cut-off) to
    ``out_dir/brief-YYYY-MM-DD.<fmt>`` and return its path. For the daemon, once ``day``'s
    cut-off has passed; writing again replaces the file (late reports land in their day)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"brief-{day.isoformat()}.{fmt}"
    text = brief(ledger, pack, day - dt.timedelta(days=1), day, fmt, cutoff=cutoff, now=now)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # a reader never sees half a brief
    return path
