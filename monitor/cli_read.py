"""Reading the ledger: read-only SQL and incident exports."""

from __future__ import annotations

import json

import click

from .cli import Context, _day_start, main, pass_ctx
from .exports import incidents_geojson
from .ledger import LedgerError
from .output import render

INCIDENT_COLUMNS = ["incident_id", "occurred_start", "place", "admin1", "event_type",
                    "platform", "target_category", "attacker_sides", "target_sides", "zones"]


@main.command("query")
@click.argument("sql")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True)
@pass_ctx
def query(c: Context, sql: str, fmt: str) -> None:
    """Run a read-only SQL query on the ledger. Anything that writes, attaches another
    database or changes a pragma is refused. The README documents the tables and views.

    \b
    Example:
      monitor query "SELECT party, term, sum(findings) FROM scorecard GROUP BY 1, 2"
      monitor query "SELECT * FROM findings_per_party_day WHERE day >= '2016-09-12'" --format csv
    """
    try:
        names, rows = c.ledger(readonly=True).user_query(sql)
    except LedgerError as exc:
        raise click.ClickException(str(exc)) from None
    dicts = [dict(zip(names, r)) for r in rows]
    if fmt == "table":
        render(dicts, "table", names, title=f"{len(rows)} row(s)", console=c.console)
    else:
        click.echo(render(dicts, fmt, names))


@main.command("incidents")
@click.option("--since", help="Event date on or after (YYYY-MM-DD, local).")
@click.option("--until", help="Event date before (YYYY-MM-DD, local).")
@click.option("--format", "fmt",
              type=click.Choice(["table", "json", "jsonl", "csv", "geojson"]), default="table",
              show_default=True)
@pass_ctx
def incidents(c: Context, since: str | None, until: str | None, fmt: str) -> None:
    """List or export the incidents (one row per report's resolution).

    \b
    Example:
      monitor incidents --since 2016-09-12 --until 2016-09-20 --format geojson > incidents.geojson
    """
    rows = c.ledger(readonly=True).incident_rows()
    lo, hi = _day_start(c, since), _day_start(c, until)
    rows = [r for r in rows if (lo is None or r["occurred_start"] >= lo)
            and (hi is None or r["occurred_start"] < hi)]
    if fmt == "geojson":
        click.echo(json.dumps(incidents_geojson(rows), ensure_ascii=False))
    elif fmt == "table":
        render(rows, "table", INCIDENT_COLUMNS, title=f"{len(rows)} incident row(s)",
               console=c.console)
    else:
        click.echo(render(rows, fmt))
