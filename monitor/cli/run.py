"""The daemon: ``monitor run``."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..config import load_pack
from ..output import render
from .common import Context, pass_ctx

if TYPE_CHECKING:
    from ..config import BriefsSpec
    from ..service import Monitor


def _setup_logging(verbose: bool) -> None:
    import logging

    from rich.logging import RichHandler

    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s",
                        datefmt="%H:%M:%S", handlers=[RichHandler(show_path=False)], force=True)
    for noisy in ("apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def print_summary(c: Context, runs: list[Any]) -> None:
    """Findings per term and per charged set of a cycle (each finding once; context findings
    not among them), as tables."""
    terms: Counter[str] = Counter()
    parties: Counter[str] = Counter()
    for run in runs:
        terms.update(run.terms)
        parties.update(run.parties)
    # two tables: each under its heading (a pipe gets no table titles)
    c.console.print("findings per term")
    render([{"term": t, "findings": n} for t, n in sorted(terms.items())], "table",
           console=c.console)
    c.console.print("findings per charged set")
    render([{"charged to": p, "findings": n} for p, n in parties.most_common()], "table",
           console=c.console)


@click.command("run")
@click.option("--once", is_flag=True, help="Run every feed once, print a summary, and return.")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
@pass_ctx
def run_(c: Context, once: bool, verbose: bool) -> None:
    """Start the daemon: poll every feed of feeds/ on its schedule and record what is new.

    The first cycle shows progress, then a summary of findings per term and party; then the
    daemon keeps polling. Ctrl-C (or SIGTERM) finishes the current batch and exits; a second
    one exits at once.

    \b
    Example:
      monitor run            # the daemon
      monitor run --once     # every feed once (tests, cron)
    """
    from rich.progress import Progress, TextColumn

    from ..daemon import Daemon

    _setup_logging(verbose)
    specs = c.feeds()
    monitor = c.monitor()
    stale = monitor.stale_since()
    if stale is not None:
        # the rules changed since findings were recorded (a new revision of the terms): the
        # ledger is brought up to date with new entries before polling, never rewritten
        c.err.print(f"the rules changed since findings from {stale[:10]} on were recorded: "
                    "re-judging them (past verdicts stay, superseded)")
        result = monitor.rejudge(stale)
        c.err.print(f"re-judged {result['reports']} report(s): {result['new']} new finding(s), "
                    f"{result['superseded']} superseded, {result['unchanged']} unchanged")
    with Progress(TextColumn("{task.description}", markup=False),
                  TextColumn("{task.completed} records"),
                  console=c.err, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def on_batch(feed: str, n: int) -> None:
            if feed not in tasks:
                tasks[feed] = progress.add_task(f"feed {feed}", total=None)
            progress.advance(tasks[feed], n)

        from ..config import pack_fingerprint

        config, name = c.paths.config, c.paths.pack
        checkpoints = c.paths.settings.checkpoints
        daemon = Daemon(monitor, specs, c.paths.feeds, on_batch=on_batch,
                        reload=lambda: load_pack(config, name),
                        watch=lambda: pack_fingerprint(config, name),
                        checkpoints=c.paths.db.parent / checkpoints if checkpoints else None)
        daemon.install_signal_handlers()
        briefs = c.paths.settings.briefs
        if briefs is not None:
            daemon.daily.append(("daily brief", briefs.cutoff, c.pack.tz,
                                 lambda: daily_brief(c, monitor, briefs)))
        if once:
            runs = daemon.run_once()
            progress.stop()
            print_summary(c, runs)
            if any(not r.ok for r in runs):
                raise click.ClickException("some feeds failed; see `monitor feeds status`")
            return

        def first_cycle(runs: list[Any]) -> None:
            progress.stop()
            print_summary(c, runs)
            c.console.print(f"polling {len(specs)} feed(s); Ctrl-C to stop")
            daemon.on_batch = None

        daemon.serve(first_run_done=first_cycle)


def daily_brief(c: Context, monitor: Monitor, briefs: BriefsSpec) -> None:
    """Write the brief of the day that just ended at the cut-off, and rewrite the day before
    (late reports land in their own day)."""
    from ..report import write_daily

    assert monitor.ledger is not None
    today = dt.datetime.now(c.pack.tz).date()
    for day in (today - dt.timedelta(days=1), today):
        write_daily(monitor.ledger, c.pack, Path(briefs.output_dir), day, fmt=briefs.format,
                    cutoff=dt.time.fromisoformat(briefs.cutoff))
