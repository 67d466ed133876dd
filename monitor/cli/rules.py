"""The agreement's terms as rules: ``monitor rules list|test|evaluate|rejudge``."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from ..output import render, to_json
from .common import Context, esc, pass_ctx
from .options import LOCAL_DATE, format_option


@click.group()
def rules() -> None:
    """The agreement's terms as rules."""


@rules.command("list")
@pass_ctx
def rules_list(c: Context) -> None:
    """List the rules of the pack with their instrument, severity and version.

    \b
    Example:
      monitor rules list
    """
    rows = [{"term": r.spec.term, "instrument": r.spec.instrument, "severity": r.spec.severity,
             "title": r.spec.title, "version": r.version[:19]} for r in c.pack.rules]
    render(rows, "table", title=f"pack {c.pack.spec.name}: {len(rows)} rule(s)",
           console=c.console)


@rules.command("test")
@pass_ctx
def rules_test(c: Context) -> None:
    """Run every rule's case suite (cases.yaml beside rule.yaml) and every pattern's
    (patterns/NAME.cases.yaml beside pack.yaml).

    \b
    Example:
      monitor rules test
    """
    from ..casesuite import run_suites
    from ..patterncases import check_case, load_suite, suite_files
    from ..service import Evaluator

    # (name, case, problems)
    results = [(r.term, r.case, [] if r.passed else [r.detail or "failed"])
               for r in run_suites(Evaluator(c.pack))]
    for path in suite_files(c.pack):
        suite, spec, problems = load_suite(path, c.pack)
        if problems:
            results.append((path.name, "the suite loads", [str(p) for p in problems]))
            continue
        results += [(suite.pattern, case.name, check_case(case, spec, c.pack))
                    for case in suite.cases]
    failed = [r for r in results if r[2]]
    for name, case, problems in results:
        mark = "[red]FAIL[/red]" if problems else "[green]ok[/green]"
        c.console.print(f"{mark} {esc(name)}: {esc(case)}"
                        + "".join(f"\n    {esc(p)}" for p in problems))
    c.console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise click.ClickException(f"{len(failed)} case(s) failed")


@rules.command("evaluate")
@click.option("--labels", "labels", multiple=True, type=click.Path(exists=True, dir_okay=False,
              path_type=Path), help="A labels CSV (feed,source_id,expected,aggregate,reason); "
              "repeat for several. Default: the bundled evaluation set.")
@click.option("--source", "sources", multiple=True, metavar="FEED=FILE",
              help="The source file of a feed's rows (ucdp or acled CSV). Default: the bundled "
              "UCDP 2016 file and ACLED sample.")
@click.option("--reliability", default="B", show_default=True,
              type=click.Choice(list("ABCDEF")), help="The grade the sources are judged with.")
@format_option("table", "json")
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
    from ..evaluate import (
        DEFAULT_LABELS,
        DEFAULT_SOURCES,
        agreement,
        evaluate,
        markdown,
        pct,
        read_labels,
    )
    from ..service import Evaluator

    files = {}
    for item in sources:
        feed, sep, path = item.partition("=")
        if not sep or not path:
            raise click.BadParameter(f"{item!r} is not FEED=FILE (e.g. ucdp=ged.csv)",
                                     param_hint="--source")
        files[feed.strip()] = Path(path)
    found = read_labels(labels or DEFAULT_LABELS)
    result = evaluate(Evaluator(c.pack), found, {**DEFAULT_SOURCES, **files}, reliability)
    second = None
    if second_labels is not None:
        score = agreement(found, read_labels([second_labels]))
        second = {"precision": score.precision, "recall": score.recall,
                  "charged_to_accuracy": score.charged_to_accuracy,
                  "expected": score.expected, "labelled": score.predicted}
    if fmt == "json":
        click.echo(to_json({**result.as_dict(), "labellers_agreement": second}, indent=2))
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
@click.option("--since", type=LOCAL_DATE, required=True,
              help="Re-judge incidents that happened on or after this date.")
@pass_ctx
def rules_rejudge(c: Context, since: dt.date) -> None:
    """Re-evaluate past reports under the current rules; record the differences as new
    findings and supersessions (past verdicts stay, with the rule version that made them).

    \b
    Example:
      monitor rules rejudge --since 2016-09-12
    """
    result = c.monitor().rejudge(c.day_start(since) or "")
    c.console.print(f"re-judged {result['reports']} report(s): {result['new']} new "
                    f"finding(s), {result['superseded']} superseded, "
                    f"{result['unchanged']} unchanged")
