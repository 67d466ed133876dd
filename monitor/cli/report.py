"""``monitor report``: the brief of a period, cut-off to cut-off (monitor/report.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import click

from .. import report
from .common import Context, pass_ctx
from .options import LOCAL_DATE, TIME_OF_DAY


@click.command("report")
@click.option("--since", type=LOCAL_DATE, required=True,
              help="First cut-off: the period starts at the cut-off of this date.")
@click.option("--until", type=LOCAL_DATE, required=True,
              help="Last cut-off: the period ends at the cut-off of this date.")
@click.option("--cutoff", type=TIME_OF_DAY, default=None,
              help="The daily cut-off, local time of the pack's time zone (default: "
                   "day_cutoff of monitor.yaml, 19:30).")
@click.option("--format", "fmt", type=click.Choice(sorted(report.FORMATS)), default=None,
              help="html: one self-contained file with chart and map; md: the same tables as "
                   "Markdown, no map (default: from --output's extension, .md or .markdown: "
                   "md; else html).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Write the brief here (default: standard output).")
@click.option("--daily", is_flag=True, help="One brief per day of the period, in --output-dir.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), metavar="DIR",
              help="With --daily: the folder for brief-YYYY-MM-DD.html (or .md).")
@pass_ctx
def report_(c: Context, since: dt.date, until: dt.date, cutoff: dt.time | None,
            fmt: str | None,
            output: Path | None, daily: bool, output_dir: Path | None) -> None:
    """Write the brief of a period: scorecard per party against the previous period, findings
    per term, the most serious incidents with their explanation and sources, findings per day
    and a map (HTML).

    The period runs from SINCE at the cut-off to UNTIL at the cut-off (default 19:30 local,
    the pack's time zone); a day is cut-off to cut-off, named by the date of the cut-off that
    ends it, and a finding belongs to the day its event window starts in. Disputed and
    discounted findings are listed apart, not counted. The HTML file is self-contained: it
    opens offline and names no URL.

    \b
    Example:
      monitor report --since 2016-09-12 --until 2016-09-19 --output brief.html
      monitor report --since 2016-09-12 --until 2016-09-19 --format md
      monitor report --since 2016-09-12 --until 2016-09-19 --daily --output-dir var/briefs
    """
    if until <= since:
        raise click.BadParameter("must be after --since", param_hint="--until")
    cutoff = cutoff or c.cutoff
    if fmt is None:
        fmt = "md" if output is not None and output.suffix.lower() in (".md", ".markdown") \
            else "html"
    if daily != (output_dir is not None):
        raise click.UsageError("--daily and --output-dir go together")
    if daily and output is not None:
        raise click.UsageError("--output is for one brief; --daily writes to --output-dir")
    pack, ledger = c.pack, c.ledger(readonly=True)
    try:
        if daily:
            assert output_dir is not None
            days = report.period(since, until, pack.tz, cutoff).days()
            with click.progressbar(days, label="briefs" if len(days) >= 5 else "",
                                   file=c.err.file, hidden=len(days) < 5) as bar:
                paths = [report.write_daily(ledger, pack, output_dir, day, fmt, cutoff=cutoff)
                         for day in bar]
            c.console.print(f"{len(paths)} brief(s) in {output_dir}: {paths[0].name} .. "
                            f"{paths[-1].name}")
            return
        text = report.brief(ledger, pack, since, until, fmt, cutoff=cutoff)
    finally:
        ledger.close()
    if output is None:
        click.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    c.console.print(f"brief written to {output} ({len(text.encode()) // 1024} kB)")
