"""Analysts' commands: verdicts on findings, a finding's whole story, unlinking reports,
the calm series and alerts, re-judging under changed rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .cli import Context, incident, main, pass_ctx, rules
from .evidence import ANALYST_VERDICTS, EvidenceError
from .output import render


@main.group()
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
        try:
            entry = monitor.verdict(finding_id, verb, by, note)
        except EvidenceError as exc:
            raise click.ClickException(str(exc)) from None
        c.console.print(f"{finding_id}: {entry['status']} by {entry['by']} at "
                        f"{entry['recorded_at']} (ledger entry {entry['seq']})", markup=False)


for _verb in ANALYST_VERDICTS:
    _verdict_command(_verb)


@finding.command("show")
@click.argument("finding_id")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@pass_ctx
def finding_show(c: Context, finding_id: str, fmt: str) -> None:
    """Print a finding: its verdict, explanation, every status and confidence change, and
    every source that supports it.

    \b
    Example:
      monitor finding show f-1c35cc1e7e019f16
    """
    story = c.monitor().story(finding_id)
    if story is None:
        raise click.ClickException(f"no finding {finding_id!r}: see `monitor findings` for ids")
    if fmt == "json":
        click.echo(json.dumps(story, indent=2, ensure_ascii=False, default=str))
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
        out.print("  " + "; ".join(f"{k}: {v}" for k, v in item.items()), highlight=False,
                  markup=False)
    out.print("[bold]History[/bold]")
    out.print(f"  {f['recorded_at']} recorded: alleged, confidence {story['recorded_confidence']}")
    for h in story["history"]:
        what = (f"status {h['status']} by {h['by']}: {h['note']}" if "status" in h
                else f"confidence {h['confidence']}: {'; '.join(h['reasons'])}")
        out.print(f"  {h['recorded_at']} {what}", highlight=False, markup=False)
    out.print(f"[bold]Sources[/bold] ({len(story['sources'])})")
    for s in story["sources"]:
        cites = ", ".join(s["body"].get("sources", [])) or "no citation"
        out.print(f"  {s['report_key']} ({cites})", highlight=False, markup=False)


@incident.command("unlink")
@click.argument("report_key")
@click.option("--note", required=True, help="Why the report is not the same event.")
@click.option("--by", "by", required=True, help="Who decides.")
@pass_ctx
def incident_unlink(c: Context, report_key: str, note: str, by: str) -> None:
    """Undo corroboration: the report goes back to its own incident and is judged there;
    the incident it left is re-scored. Both reports stay as they were.

    \b
    Example:
      monitor incident unlink acled:SYR1234:1700000000 --by "J. Analyst" --note "other strike"
    """
    monitor = c.monitor()
    try:
        outcome = monitor.unlink(report_key, by, note)
    except EvidenceError as exc:
        raise click.ClickException(str(exc)) from None
    c.console.print(f"{report_key} is incident {outcome.incident_id} again; "
                    f"{len(outcome.findings)} finding(s) recorded there", markup=False)


def _local(c: Context, value: str) -> str:
    import datetime as dt

    return dt.datetime.fromisoformat(value).astimezone(c.tz).strftime("%Y-%m-%d %H:%M")


def _rows(rows: list[dict[str, Any]], fmt: str, title: str, columns: list[str],
          c: Context) -> None:
    if fmt == "json":
        click.echo(render(rows, "json"))
    else:
        render(rows, "table", columns, title=title, console=c.console)


@main.command("calm")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@pass_ctx
def calm(c: Context, fmt: str) -> None:
    """SEP-CALM: consecutive calm days since Day D, and the day the 7-day condition for the
    Joint Implementation Centre is met, if it ever is.

    \b
    Example:
      monitor calm
    """
    rows = c.ledger(readonly=True).calm_days()
    met = [r for r in rows if r["condition_met"]]
    if fmt == "table":
        rows = [{**r, "start": _local(c, r["start"]), "end": _local(c, r["end"]),
                 "breaches": len(r["breaches"])} for r in rows]
    _rows(rows, fmt, "SEP-CALM " + (f"condition met on day {met[0]['day']}" if met else
                                    "condition never met"),
          ["day", "start", "end", "calm", "consecutive", "condition_met", "breaches"], c)


@main.command("alerts")
@click.option("--kind", type=click.Choice(["escalation", "cycle_of_excuses"]))
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@pass_ctx
def alerts(c: Context, kind: str | None, fmt: str) -> None:
    """Alerts in force: escalations (many serious findings against one party in one
    governorate within a day) and cycles of excuses (a Nusra attack answered nearby).

    \b
    Example:
      monitor alerts --kind escalation
    """
    rows = c.ledger(readonly=True).alerts(kind)
    _rows(rows, fmt, f"{len(rows)} alert(s)",
          ["kind", "start", "party", "governorate", "detail", "key"], c)


@rules.command("evaluate")
@click.option("--labels", "labels", multiple=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="A labels CSV (feed,source_id,expected,aggregate,reason); "
              "repeat for several. Default: the bundled evaluation set.")
@click.option("--source", "sources", multiple=True, metavar="FEED=FILE",
              help="The source file of a feed's rows (ucdp or acled CSV). Default: the bundled "
              "UCDP 2016 file and ACLED sample.")
@click.option("--reliability", default="B", show_default=True,
              type=click.Choice(list("ABCDEF")), help="The grade the sources are judged with.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--mistakes", is_flag=True, help="List every finding that differs from a label.")
@click.option("--second-labels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Another labeller's labels of some of the same rows: print how far the two "
              "labellers agree, scored as the monitor is (the ceiling to read its figures by).")
@pass_ctx
def rules_evaluate(c: Context, labels: tuple[Path, ...], sources: tuple[str, ...],
                   reliability: str, fmt: str, mistakes: bool,
                   second_labels: Path | None) -> None:
    """Measure the rules against rows labelled blind: precision and recall per term, accuracy
    of charged_to, and the share of findings that are right per confidence grade.

    \b
    Example:
      monitor rules evaluate
      monitor rules evaluate --labels my-labels.csv --source ucdp=ged.csv --mistakes
      monitor rules evaluate --second-labels tests/fixtures/eval/labels_double.csv
    """
    from .evaluate import DEFAULT_LABELS, DEFAULT_SOURCES, LabelsError, evaluate, markdown
    from .evaluate import agreement, pct, read_labels
    from .service import Monitor

    files = {}
    for item in sources:
        feed, sep, path = item.partition("=")
        if not sep or not path:
            raise click.BadParameter(f"{item!r} is not FEED=FILE (e.g. ucdp=ged.csv)",
                                     param_hint="--source")
        files[feed.strip()] = Path(path)
    try:
        found = read_labels(labels or DEFAULT_LABELS)
        result = evaluate(Monitor(c.pack, None), found, {**DEFAULT_SOURCES, **files},
                          reliability)
    except (LabelsError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    second = None
    if second_labels is not None:
        try:
            score = agreement(found, read_labels([second_labels]))
        except (LabelsError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        second = {"precision": score.precision, "recall": score.recall,
                  "charged_to_accuracy": score.charged_to_accuracy,
                  "expected": score.expected, "labelled": score.predicted}
    if fmt == "json":
        click.echo(json.dumps({**result.as_dict(), "labellers_agreement": second}, indent=2))
        return
    click.echo(markdown(result))
    if second is not None:
        click.echo(f"\nSecond labeller against the first, on the rows both labelled: "
                   f"precision {pct(second['precision'])}, recall {pct(second['recall'])}, "
                   f"charged_to {pct(second['charged_to_accuracy'])} "
                   f"({second['expected']} findings expected, {second['labelled']} labelled).")
    if mistakes:
        for m in result.mistakes:
            click.echo(f"{m['row']} {m['term']}: expected {m['expected']}, found {m['found']} "
                       f"({m['confidence']}) — label: {m['reason']}")


@rules.command("rejudge")
@click.option("--since", required=True, help="Re-judge incidents that happened on or after "
              "this date (YYYY-MM-DD).")
@pass_ctx
def rules_rejudge(c: Context, since: str) -> None:
    """Re-evaluate past reports under the current rules; record the differences as new
    findings and supersessions (past verdicts stay, with the rule version that made them).

    \b
    Example:
      monitor rules rejudge --since 2016-09-12
    """
    from .cli import _day_start

    result = c.monitor().rejudge(_day_start(c, since) or "")
    c.console.print(f"re-judged {result['reports']} report(s): {result['new']} new "
                    f"finding(s), {result['superseded']} superseded, "
                    f"{result['unchanged']} unchanged")
