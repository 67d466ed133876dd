"""Reading the ledger: read-only SQL, the incidents, the calm counters and the alerts."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from ..output import render, write_csv, write_feature_collection, write_json_rows, write_tsv
from . import filters
from .common import Context, pass_ctx, rows_out, terminal_table
from .options import LOCAL_DATE, format_option, limit_option

INCIDENT_COLUMNS = ["incident_id", "occurred_start", "place", "admin1", "event_type",
                    "platform", "target_category", "attacker_sides", "target_sides", "zones"]


@click.command("query")
@click.argument("sql")
@format_option("table", "json", "jsonl", "csv")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10, show_default=True,
              metavar="SECONDS", help="Stop the query after this long.")
@pass_ctx
def query(c: Context, sql: str, fmt: str, timeout: float) -> None:
    """Run a read-only SQL query on the ledger. Anything that writes, attaches another
    database or changes a pragma is refused; a query still running after --timeout seconds
    is stopped. JSON, JSON Lines, CSV and a table in a pipe are written as the rows come. The
    README documents the tables and views. A report's body and an incident's resolution may be
    stored compressed: ledger_json(column) gives them whole (so do the views reports_received
    and incidents_resolved).

    \b
    Example:
      monitor query "SELECT party, term, sum(findings) FROM scorecard GROUP BY 1, 2"
      monitor query "SELECT * FROM findings_per_party_day WHERE day >= '2016-09-12'" --format csv
      monitor query "SELECT json_extract(ledger_json(body), '$.notes') FROM reports LIMIT 5"
    """
    names, chunks = c.ledger(readonly=True).stream_query(sql, timeout=timeout)
    as_dicts = ([dict(zip(names, r)) for r in chunk] for chunk in chunks)
    # anything but a terminal's table: each row as it comes (a year of findings does not fit
    # in memory)
    if fmt in ("json", "jsonl"):
        write_json_rows(as_dicts, fmt, sys.stdout)
    elif fmt == "csv":
        write_csv((r for rows in as_dicts for r in rows), names, sys.stdout)
    elif not c.console.is_terminal:
        write_tsv((r for rows in as_dicts for r in rows), names, c.console.file)
    else:
        dicts = [r for rows in as_dicts for r in rows]
        render(dicts, "table", names, title=f"{len(dicts)} row(s)", console=c.console)


@click.command("incidents")
@click.option("--since", type=LOCAL_DATE, help="From this date's daily cut-off (day_cutoff, 19:30 local): the briefs' rule.")
@click.option("--until", type=LOCAL_DATE, help="To this date's daily cut-off (exclusive).")
@format_option("table", "json", "jsonl", "csv", "geojson")
@limit_option("incident rows")
@pass_ctx
def incidents(c: Context, since: dt.date | None, until: dt.date | None, fmt: str,
              limit: int | None) -> None:
    """List or export the incidents (one row per report's resolution): a table newest first,
    exports in recording order.

    \b
    Example:
      monitor incidents --since 2016-09-12 --until 2016-09-20 --format geojson > incidents.geojson
    """
    ledger = c.ledger(readonly=True)
    filters.period(since, until)
    bounds: dict[str, Any] = {"since": c.bound(since), "until": c.bound(until),
                              "limit": limit or None}
    if fmt == "table" and c.console.is_terminal:
        def newest(n: int | None) -> list[dict[str, Any]]:  # the day it started, local time
            return [{**r, "occurred_start": c.local(r["occurred_start"])}
                    for r in ledger.incident_rows(**{**bounds, "limit": n}, newest_first=True)]

        terminal_table(c, newest, lambda: ledger.count_incidents(bounds["since"],
                                                                 bounds["until"]),
                       limit, "incident row(s)", INCIDENT_COLUMNS,
                       drop=("zones", "target_category", "platform", "admin1", "target_sides",
                             "event_type"))
        return
    if fmt == "geojson":
        from ..exports import incident_features

        write_feature_collection(incident_features(
            r for rows in ledger.incident_chunks(**bounds, newest_first=bool(limit))
            for r in rows), sys.stdout)
        return
    # a pipe or a file: each row as it is read (a year of reports does not fit in memory)
    chunks = ledger.incident_chunks(**bounds, newest_first=fmt == "table" or bool(limit))
    if fmt == "table":
        write_tsv((r for rows in chunks for r in rows), INCIDENT_COLUMNS, c.console.file)
    elif fmt == "csv":
        write_csv((r for rows in chunks for r in rows), ledger.incident_columns(), sys.stdout)
    else:
        write_json_rows(chunks, fmt, sys.stdout)


@click.command("calm")
@click.option("--counter", metavar="NAME",
              help="Only this calm counter (a name of the pack's patterns, e.g. SEP-CALM).")
@format_option("table", "json")
@pass_ctx
def calm(c: Context, counter: str | None, fmt: str) -> None:
    """The calm counters the pack declares (pack.yaml patterns of kind calm): consecutive calm
    days since Day D, and the day the needed number of calm days was reached, if it ever was.

    \b
    Example:
      monitor calm
      monitor calm --counter SEP-CALM --format json
    """
    from ..config import pack_patterns
    from ..patternspec import of_kind

    paths = c.paths
    declared = {p.name: p for p in of_kind(pack_patterns(paths.config, paths.pack),
                                           "calm")}
    rows = c.ledger(readonly=True).calm_days(counter)
    if fmt == "json":
        rows_out(c, rows, fmt, "")
        return
    names = list(dict.fromkeys([*([counter] if counter else declared),
                                *(r["counter"] for r in rows)]))
    if not names:
        click.echo("The pack declares no calm counter (pack.yaml patterns of kind calm).")
    for name in names:
        mine = [r for r in rows if r["counter"] == name]
        met = [r for r in mine if r["condition_met"]]
        spec = declared.get(name)
        label = spec.title if spec else name
        what = spec.met if spec else "the condition is met"
        table = [{**r, "start": c.local(r["start"], "%Y-%m-%d %H:%M"),
                  "end": c.local(r["end"], "%Y-%m-%d %H:%M"), "calm": _yes(r["calm"]),
                  "condition_met": _yes(r["condition_met"]),
                  "breaches": len(r["breaches"])} for r in mine]
        rows_out(c, table, fmt, f"{label}: " + (f"{what} on day {met[0]['day']}" if met else
                                                 f"never met ({what} after "
                                                 f"{spec.needed if spec else '?'} calm days)"),
                 ["day", "start", "end", "calm", "consecutive", "condition_met", "breaches"])


def _yes(flag: object) -> str:
    return "yes" if flag else "no"


@click.command("alerts")
@click.option("--kind", metavar="NAME",
              help="Only this kind: the name of an escalation or sequence pattern of the pack "
                   "(e.g. escalation, cycle_of_excuses).")
@click.option("--since", type=LOCAL_DATE, help="From this date's daily cut-off (day_cutoff, 19:30 local): the briefs' rule.")
@click.option("--until", type=LOCAL_DATE, help="To this date's daily cut-off (exclusive).")
@format_option("table", "json")
@pass_ctx
def alerts(c: Context, kind: str | None, since: dt.date | None, until: dt.date | None,
           fmt: str) -> None:
    """Alerts in force, of the escalation and sequence patterns the pack declares (pack.yaml
    patterns): an escalation is many serious findings against one party in one governorate
    within hours; a sequence an attack answered nearby and soon by another (2016: the cycle of
    excuses). Times are local to the pack's time zone in the table (UTC in JSON).

    \b
    Example:
      monitor alerts --kind escalation --since 2016-09-12 --until 2016-09-20
    """
    filters.period(since, until)
    # an open bound is the earliest or latest instant an ISO text can hold
    rows = c.ledger(readonly=True).alerts(kind, c.bound(since) or "0000", c.bound(until) or "9999")
    if fmt == "table":
        rows = [{**r, "start": c.local(r["start"], "%Y-%m-%d %H:%M")} for r in rows]
    rows_out(c, rows, fmt, f"{len(rows)} alert(s)",
             ["kind", "start", "party", "governorate", "detail", "key"])
