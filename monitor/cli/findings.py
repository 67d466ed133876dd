"""Findings: ``monitor findings`` lists them; ``monitor finding`` shows one's whole story or
records an analyst's verdict on it."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from typing import Any, get_args

import click

from ..output import (
    to_json,
    write_csv,
    write_feature_collection,
    write_json_texts,
    write_tsv,
)
from ..vocabulary import ANALYST_VERDICTS, UNDETERMINED, Attribution
from . import filters
from .common import Context, pass_ctx, terminal_table
from .options import LOCAL_DATE, format_option, limit_option

FINDING_COLUMNS = ("finding_id", "occurred", "term", "charged_to", "severity", "confidence",
                   "status", "source")
# What a narrow terminal leaves out first: the status stays after the severity has gone, for
# it says whether the finding still stands (a superseded or retracted one reads as a current
# one without it).
FINDING_DROP = ("source", "confidence", "severity", "status", "occurred")


@click.command()
@click.option("--term", "term", multiple=True,
              help="Only this term (e.g. JIG-SAAF; any case); repeated: any of them.")
@click.option("--party", "party", multiple=True,
              help="Only findings charged to this set alone (TERMS.md §4 'Counting'): "
                   "'syrian_government', 'russia or syrian_government', 'undetermined' "
                   "(clashes), 'unattributed'; repeated: any of them.")
@click.option("--attribution", type=click.Choice(get_args(Attribution)),
              help="Only findings of this attribution.")
@click.option("--instrument", "instrument", multiple=True,
              help="Only this instrument (COH, MAY, JIG, SEP); repeated: any of them.")
@click.option("--since", type=LOCAL_DATE,
              help="From this date's daily cut-off (day_cutoff, 19:30 local): the briefs' rule.")
@click.option("--until", type=LOCAL_DATE, help="To this date's daily cut-off (exclusive).")
@click.option("--status", "status", multiple=True,
              help="Only findings in this status; repeated: any of them.")
@format_option("table", "json", "csv", "jsonl", "geojson")
@limit_option("findings")
@pass_ctx
def findings(c: Context, term: tuple[str, ...], party: tuple[str, ...],
             attribution: str | None, instrument: tuple[str, ...], since: dt.date | None,
             until: dt.date | None, status: tuple[str, ...], fmt: str,
             limit: int | None) -> None:
    """List findings, filtered.

    \b
    Example:
      monitor findings --term MAY-CIV --party syrian_government --since 2016-09-12
      monitor findings --party "russia or syrian_government" --attribution ambiguous
      monitor findings --term COH-CLASH --attribution undetermined
      monitor findings --format json > findings.json
      monitor findings --format geojson > findings.geojson    # for QGIS
    """
    ledger = c.ledger(readonly=True)
    filters.period(since, until)
    query: dict[str, Any] = {
        "term": filters.terms(term, c.names) if term else None,
        "party": filters.parties(party, c.names) if party else None,
        "attribution": attribution,
        "instrument": filters.instruments(instrument, c.names) if instrument else None,
        "since": c.bound(since), "until": c.bound(until),
        "status": filters.statuses(status) or None,
        "limit": limit or None,
        "newest_first": bool(limit)}  # --limit N: the newest N, in every format
    if fmt in ("json", "jsonl"):  # SQLite writes each finding's JSON; Python only joins them
        sys.stdout.flush()  # the bytes go under the text layer
        write_json_texts(ledger.finding_chunks(**query, as_json=True, with_place=True), fmt,
                         sys.stdout.buffer)
        return
    if fmt == "table":
        query.update(newest_first=True, explained=False)  # no column shows the explanation

        def shown(r: dict[str, Any]) -> dict[str, Any]:  # local day, one source column;
            # charged to nobody (a clash): the word --party and the scorecard use for it
            return {**r, "occurred": c.local(r["occurred"]),
                    "charged_to": r["charged_to"] or UNDETERMINED,
                    "source": f"{r['feed']}:{r['source_id']}"}

        if not c.console.is_terminal:  # a pipe or a file: every finding, a row at a time
            write_tsv(map(shown, ledger.each_finding(**query)), FINDING_COLUMNS, c.console.file)
            return
        terminal_table(c, lambda n: [shown(r) for r in ledger.findings(**{**query, "limit": n})],
                       lambda: ledger.count_findings(**query), limit, "finding(s)",
                       FINDING_COLUMNS, drop=FINDING_DROP)
        return
    if fmt == "geojson":
        from ..exports import finding_features

        def features() -> Iterator[dict[str, Any]]:  # a chunk of findings at a time
            for rows in ledger.finding_chunks(**query):
                yield from finding_features(rows, ledger.incident_places(
                    r["incident_id"] for r in rows))
        write_feature_collection(features(), sys.stdout)
        return
    from ..models import Finding  # its fields are the columns (a model: built when needed)

    # parties, aggregate and claimed target are recorded in the explanation's first entry
    columns = [*Finding.model_fields, "latitude", "longitude", "place"]
    rows = ({**{k: None for k in Finding.RECORDED_IN_EXPLANATION},
             **Finding.recorded_facts(r["explanation"]), **r}
            for r in ledger.each_finding(**query, with_place=True))
    write_csv(rows, columns, sys.stdout)  # a row at a time: a year of findings is gigabytes


@click.group()
def finding() -> None:
    """One finding: an analyst's verdict, or its whole history."""


def _verdict_command(verb: str) -> None:
    status = ANALYST_VERDICTS[verb]

    @finding.command(verb, help=f"""Mark a finding {status}, with who and why (a new ledger
    entry; nothing is overwritten).

    \b
    Example:
      monitor finding {verb} f-1c35cc1e7e019f16 --by "J. Analyst" --note "imagery shows ..."
    """)
    @click.argument("finding_id")
    @click.option("--note", required=True, help="Why (kept in the ledger).")
    @click.option("--by", "by", required=True, help="Who gives the verdict.")
    @pass_ctx
    def command(c: Context, finding_id: str, note: str, by: str) -> None:
        monitor = c.monitor()
        finding_id = monitor.ledger.finding_id_from(finding_id)
        entry = monitor.verdict(finding_id, verb, by, note)
        c.console.print(f"{finding_id}: {entry['status']} by {entry['by']} at "
                        f"{entry['recorded_at']} (ledger entry {entry['seq']})", markup=False)


for _verb in ANALYST_VERDICTS:
    _verdict_command(_verb)


@finding.command("show")
@click.argument("finding_id")
@format_option("text", "json")
@pass_ctx
def finding_show(c: Context, finding_id: str, fmt: str) -> None:
    """Print a finding: its verdict, explanation, every status and confidence change, and
    every source that supports it.

    \b
    Example:
      monitor finding show f-1c35cc1e7e019f16
    """
    from ..evidence import finding_story  # the ledger alone: no pack, nothing written

    ledger = c.ledger(readonly=True)
    story = finding_story(ledger, ledger.finding_id_from(finding_id))
    if story is None:
        raise click.ClickException(f"no finding {finding_id!r}: see `monitor findings` for ids")
    if fmt == "json":
        click.echo(to_json(story, indent=2))
        return
    f = story["finding"]
    out = c.console
    out.print(f"[bold]{f['finding_id']}[/bold] {f['term']} ({f['instrument']}, "
              f"{f['instrument_status']}) charged to {', '.join(f['charged_to'])}")
    out.print(f"  severity {f['severity']}, confidence {f['confidence']}, status "
              f"[bold]{f['status']}[/bold], attribution {f['attribution']}")
    out.print(f"  incident {f['incident_id']}, occurred {f['occurred']} .. {f['occurred_end']}")
    out.print(f"  rule {f['rule_id']} {f['rule_version']}; recorded {f['recorded_at']}")
    out.print("[bold]Explanation[/bold]")
    for item in f["explanation"]:
        out.print("  " + "; ".join(f"{k}: {v}" for k, v in item.items()), markup=False)
    out.print("[bold]History[/bold]")
    out.print(f"  {f['recorded_at']} recorded: alleged, confidence {story['recorded_confidence']}")
    for h in story["history"]:
        what = (f"status {h['status']} by {h['by']}: {h['note']}" if "status" in h
                else f"confidence {h['confidence']}: {'; '.join(h['reasons'])}")
        out.print(f"  {h['recorded_at']} {what}", markup=False)
    out.print(f"[bold]Sources[/bold] ({len(story['sources'])})")
    for s in story["sources"]:
        cites = ", ".join(s["body"].get("sources", [])) or "no citation"
        out.print(f"  {s['report_key']} ({cites})", markup=False)
