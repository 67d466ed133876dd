"""The ``monitor`` command: each command parses, calls the library, prints.

Errors of configuration and input become one ``click.ClickException`` listing every problem.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args
from zoneinfo import ZoneInfo

import click

from . import __version__
from .config import Pack, Paths, load_pack, pack_timezone, resolve_paths
from .ledger import Ledger, iso
from .models import (
    EVENT_TYPES,
    PLATFORMS,
    STATUSES,
    TARGET_CATEGORIES,
    Attribution,
    DirectionGiven,
    Finding,
)
from .output import render, render_json_texts
from .problems import ProblemsError

# Start-up time is most of a read command's time (issue #6): the pipeline (service, judge,
# zones with shapely, adapters), rich's console and progress bars are imported by the commands
# that use them.
if TYPE_CHECKING:
    from rich.console import Console

    from .service import BatchResult, Monitor, Rejection

FINDING_COLUMNS = ("finding_id", "occurred", "term", "charged_to", "severity", "confidence",
                   "status", "source")


class Context:
    """What every command needs, loaded on first use (so `--help` stays fast)."""

    def __init__(self, config: str | None, db: str | None):
        self._config, self._db = config, db
        self._paths: Paths | None = None
        self._pack: Pack | None = None
        self._tz: ZoneInfo | None = None
        self._console: Console | None = None
        self._err: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=False)
        return self._console

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True)
        return self._err

    @property
    def paths(self) -> Paths:
        if self._paths is None:
            self._paths = _guard(lambda: resolve_paths(self._config, self._db))
        return self._paths

    @property
    def pack(self) -> Pack:
        if self._pack is None:
            paths = self.paths
            self._pack = _guard(lambda: load_pack(paths.config, paths.settings.pack))
        return self._pack

    @property
    def tz(self) -> ZoneInfo:
        """The pack's time zone: read from pack.yaml alone when the pack is not loaded yet
        (reading commands need nothing else of it); loading the pack reports a bad one."""
        if self._tz is None:
            paths = self.paths
            self._tz = (self._pack.tz if self._pack is not None else
                        _guard(lambda: pack_timezone(paths.config, paths.settings.pack))
                        or self.pack.tz)
        return self._tz

    def ledger(self, readonly: bool = False) -> Ledger:
        return _guard(lambda: Ledger.open(self.paths.db, readonly=readonly))

    def monitor(self) -> Monitor:
        from .service import Monitor

        monitor = Monitor(self.pack, self.ledger())
        hooks = self.paths.settings.webhooks
        if hooks:
            from .webhooks import Notifier

            monitor.notifier = Notifier(hooks, monitor.record_delivery)
            # deliver what is queued before the command exits (bounded: a dead endpoint
            # costs at most this wait, never ingestion time)
            click.get_current_context().call_on_close(monitor.notifier.close)
        return monitor


def esc(text: str) -> str:
    """``text`` with rich markup escaped (rich imported on first use)."""
    from rich.markup import escape

    return escape(text)


def _problems(problems: list[Any]) -> click.ClickException:
    lines = [str(p) for p in problems]
    return click.ClickException(f"{len(lines)} problem(s):\n  " + "\n  ".join(lines))


def _guard(fn: Any) -> Any:
    try:
        return fn()
    except ProblemsError as exc:
        raise _problems(exc.problems) from None
    except (FileNotFoundError, PermissionError) as exc:
        raise click.ClickException(str(exc)) from None


pass_ctx = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monitor")
@click.option("--config", "config", envvar="MONITOR_CONFIG", metavar="DIR",
              help="Configuration folder (default ./config).")
@click.option("--db", "db", envvar="MONITOR_DB", metavar="FILE",
              help="Ledger file (default from config/monitor.yaml: var/ledger.db).")
@click.pass_context
def main(ctx: click.Context, config: str | None, db: str | None) -> None:
    """Ceasefire compliance monitor: judge incident reports against an agreement's terms and
    record every report and finding in a hash-chained ledger.

    \b
    Example:
      monitor import samples/acled_syria_2016.csv --format acled
      monitor findings --term JIG-SAAF --format json
    """
    ctx.obj = Context(config, db)


# --- incidents -----------------------------------------------------------------------------


def print_outcomes(c: Context, result: BatchResult) -> None:
    for outcome in result.outcomes:
        if outcome.duplicate:
            c.console.print(f"{esc(outcome.report_key)}: already in the ledger, nothing added")
            continue
        c.console.print(f"incident {outcome.incident_id} ({esc(outcome.report_key)}): "
                        f"{len(outcome.findings)} finding(s)")
        for f in outcome.findings:
            c.console.print(f"  [bold]{f.term}[/bold] charged to {', '.join(f.charged_to)} — "
                            f"{f.severity}, confidence {f.confidence}, {f.attribution} "
                            f"({f.finding_id})")
        for item in outcome.review:
            c.console.print(f"  [yellow]for review:[/yellow] {esc(item)}")


@main.group()
def incident() -> None:
    """Enter incident reports by hand."""


@incident.command("add")
@click.option("--json", "json_file", type=click.File("rb"), metavar="FILE",
              help="Read the report (or a list of reports) as JSON from FILE ('-' = stdin).")
@click.option("--source-id", help="Your reference for the report (default: generated).")
@click.option("--occurred", help="Date (2016-08-10) or time with offset (2016-08-10T14:00+03:00).")
@click.option("--lat", type=float, help="Latitude, WGS84.")
@click.option("--lon", type=float, help="Longitude, WGS84.")
@click.option("--precision", type=click.IntRange(1, 7), default=None,
              help="Location precision, 1 exact .. 7 (UCDP where_prec scale).")
@click.option("--place", help="Place name.")
@click.option("--attacker", multiple=True, help="Attacker as the source names it (repeatable).")
@click.option("--target", multiple=True, help="Target as the source names it (repeatable).")
@click.option("--event-type", type=click.Choice(EVENT_TYPES), default=None)
@click.option("--direction", type=click.Choice(get_args(DirectionGiven)), default=None,
              help="directed: the attacker attacked the target; clash: both fought, the "
              "source does not say who attacked; words: the notes decide (default: from the "
              "event type — armed_clash is a clash, anything else directed).")
@click.option("--claimed-target", help="What the attacker said it aimed at (kept, never "
              "taken as the target).")
@click.option("--platform", type=click.Choice(PLATFORMS), default=None)
@click.option("--target-category", type=click.Choice(TARGET_CATEGORIES), default=None)
@click.option("--civilian-targeting", is_flag=True, default=None,
              help="The source says civilians were targeted.")
@click.option("--notes", help="Free text (the classifier reads it).")
@click.option("--source", "sources", multiple=True, help="A source (URL or citation).")
@click.option("--feed", default="manual", show_default=True, help="Feed name to record.")
@click.option("--prompt", "prompt", is_flag=True,
              help="Ask for each field (the default in a terminal when no field is given).")
@pass_ctx
def incident_add(c: Context, json_file: Any, prompt: bool, **fields: Any) -> None:
    """Judge one incident report and record it; print the findings.

    Give the report with flags, as JSON with --json, or answer the prompts (in a terminal,
    with neither).

    \b
    Example:
      monitor incident add --occurred 2016-08-10 --lat 35.614 --lon 36.562 \\
        --attacker "Military Forces of Syria (2000-)" --target "Civilians (Syria)" \\
        --event-type air_strike --notes "helicopters dropped barrel bombs on the market"
      echo '{"source_id": "x1", "occurred": "2016-08-10"}' | monitor incident add --json -
    """
    given = {k: v for k, v in fields.items() if k != "feed" and v not in (None, ())}
    if json_file is not None:
        name = getattr(json_file, "name", "<stdin>")
        name = "<stdin>" if name in ("-", "<stdin>") or not isinstance(name, str) else name
        try:
            data = json.loads(json_file.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            # ValueError covers JSONDecodeError and integers too long to convert;
            # RecursionError, nesting deeper than Python can follow
            raise click.ClickException(f"{name}: not valid JSON: {exc}") from None
        from .service import Rejection, validate

        records = data if isinstance(data, list) else [data]
        items = []
        for i, rec in enumerate(records):
            if not isinstance(rec, dict):
                items.append(Rejection(f"{name} item {i}", "not a JSON object"))
                continue
            rec.setdefault("feed", fields["feed"])
            rec.setdefault("source_id", _new_id())
            items.append(validate(rec, f"{name} item {i}"))
    else:
        if prompt or (not given and sys.stdin.isatty()):
            given = {**_prompt_fields(), **given}
        if not given.get("occurred"):
            raise click.UsageError("--occurred is required (or use --json FILE).")
        from .service import validate

        items = [validate(_record_from_flags(given, fields["feed"]), "flags")]
    monitor = c.monitor()
    result = monitor.submit(items)
    print_outcomes(c, result)
    _report_rejections(c, result.rejections)


def _new_id() -> str:
    import uuid

    return "manual-" + uuid.uuid4().hex[:12]


def _record_from_flags(given: dict[str, Any], feed: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"feed": feed, "source_id": given.get("source_id") or _new_id(),
                           "occurred": given["occurred"]}
    if given.get("lat") is not None or given.get("lon") is not None:
        rec["location"] = {"lat": given.get("lat"), "lon": given.get("lon"),
                           "precision": given.get("precision") or 1,
                           "place": given.get("place")}
    for key in ("attacker", "target", "sources"):
        if given.get(key):
            rec[key] = list(given[key])
    for key in ("event_type", "direction", "claimed_target", "platform", "target_category",
                "civilian_targeting", "notes"):
        if given.get(key) is not None:
            rec[key] = given[key]
    return rec


def _prompt_fields() -> dict[str, Any]:
    """Ask for each field in turn (empty answer = not known)."""
    def ask(text: str, **kw: Any) -> Any:
        value = click.prompt(text, default="", show_default=False, **kw)
        return value if value != "" else None

    out: dict[str, Any] = {"occurred": click.prompt("When (2016-08-10 or 2016-08-10T14:00+03:00)")}
    out["lat"] = ask("Latitude", type=str)
    out["lon"] = ask("Longitude", type=str)
    out["precision"] = ask("Location precision 1-7", type=str)
    out["place"] = ask("Place")
    for key in ("attacker", "target"):
        name = ask(f"{key.title()} (as the source names it)")
        out[key] = [name] if name else []
    out["event_type"] = ask("Event type", type=click.Choice(("",) + EVENT_TYPES))
    out["platform"] = ask("Platform", type=click.Choice(("",) + PLATFORMS))
    out["target_category"] = ask("Target category", type=click.Choice(("",) + TARGET_CATEGORIES))
    out["notes"] = ask("Notes")
    return {k: v for k, v in out.items() if v not in (None, [])}


def _report_rejections(c: Context, rejections: list[Rejection]) -> None:
    for rej in rejections:
        c.err.print(f"[red]rejected[/red] {esc(str(rej))}", highlight=False, markup=True)
    if rejections:
        raise click.ClickException(f"{len(rejections)} record(s) rejected; "
                                   "the others were recorded")


@main.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["acled", "jsonl"]), required=True,
              help="The file's format.")
@click.option("--feed", default=None, help="Feed name to record (default: the format name).")
@click.option("--pipeline/--no-pipeline", default=None,
              help="Read, resolve and judge in a second process while this one records "
                   "(default: for files of 20,000 lines or more, on 2 or more cores).")
@pass_ctx
def import_(c: Context, path: Path, fmt: str, feed: str | None, pipeline: bool | None) -> None:
    """Import a file of incident reports; print what was found.

    Re-importing the same file adds nothing. A malformed row is reported with its line
    number and reason while the other rows go in; the exit status is 1 if any was rejected.
    Either way of importing (one process or two) records the same ledger.

    \b
    Example:
      monitor import samples/acled_syria_2016.csv --format acled
    """
    from .errors import MonitorError
    from .imports import import_file

    try:
        with _ImportBar(c.err, path.name) as bar:
            result = import_file(path, fmt, c.monitor, config=c.paths.config,
                                 pack=c.paths.settings.pack, feed=feed, pipeline=pipeline,
                                 on_start=bar.start, on_batch=bar.advance,
                                 on_note=lambda text: c.err.print(f"note: {esc(text)}"))
    except MonitorError as exc:
        raise click.ClickException(str(exc)) from None
    c.console.print(f"{esc(path.name)}: {result.new} new report(s), {result.duplicates} already "
                    f"recorded, {len(result.rejections)} rejected; {result.findings} "
                    "finding(s)" + (": " + ", ".join(f"{t} {n}" for t, n in
                                                       sorted(result.by_term.items()))
                                    if result.by_term else ""))
    _report_rejections(c, result.rejections)


class _ImportBar:
    """The import's progress bar on standard error, from its first batch (none for a file
    under 2,000 lines); it leaves nothing behind."""

    def __init__(self, console: Console, name: str) -> None:
        self._console, self._name = console, name
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _ImportBar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def start(self, lines: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                  MofNCompleteColumn(), console=self._console, transient=True,
                                  disable=lines < 2000)
        self._progress.start()
        self._task = self._progress.add_task(f"importing {self._name}", total=lines)

    def advance(self, reports: int) -> None:
        self._progress.advance(self._task, reports)


# --- findings ------------------------------------------------------------------------------


def _day_start(c: Context, value: str | None) -> str | None:
    """A date given by a user means the local day of the pack's time zone, stored in UTC."""
    if value is None:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None
    return iso(dt.datetime.combine(day, dt.time(0), c.tz))


def _local_date(c: Context, value: str) -> str:
    return dt.datetime.fromisoformat(value).astimezone(c.tz).strftime("%Y-%m-%d")


@main.command()
@click.option("--term", help="Only this term (e.g. JIG-SAAF).")
@click.option("--party", help="Only findings charged to this set alone (TERMS.md §4 "
              "'Counting'): 'syrian_government', 'russia or syrian_government', "
              "'undetermined' (clashes), 'unattributed'.")
@click.option("--attribution", type=click.Choice(get_args(Attribution)),
              help="Only findings of this attribution.")
@click.option("--instrument", help="Only this instrument (COH, MAY, JIG, SEP).")
@click.option("--since", help="Event date on or after (YYYY-MM-DD).")
@click.option("--until", help="Event date before (YYYY-MM-DD).")
@click.option("--status", type=click.Choice(STATUSES), help="Only findings in this status.")
@click.option("--format", "fmt",
              type=click.Choice(["table", "json", "csv", "jsonl", "geojson"]),
              default="table", show_default=True)
@click.option("--limit", type=int, default=None, help="At most this many.")
@pass_ctx
def findings(c: Context, term: str | None, party: str | None, attribution: str | None,
             instrument: str | None, since: str | None, until: str | None,
             status: str | None, fmt: str, limit: int | None) -> None:
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
    query = {"term": term, "party": party, "attribution": attribution, "instrument": instrument,
             "since": _day_start(c, since), "until": _day_start(c, until), "status": status,
             "limit": limit}
    if fmt in ("json", "jsonl"):  # SQLite writes each finding's JSON; Python only joins them
        click.echo(render_json_texts(ledger.findings(**query, as_json=True), fmt))
        return
    rows = ledger.findings(**query)
    if fmt == "table":
        shown = [{**r, "occurred": _local_date(c, r["occurred"]),
                  "source": f"{r['feed']}:{r['source_id']}"} for r in rows]
        render(shown, "table", FINDING_COLUMNS, title=f"{len(rows)} finding(s)",
               console=c.console)
        return
    if fmt == "geojson":
        from .exports import findings_geojson

        by_incident = {}
        for row in ledger.incident_rows():
            by_incident.setdefault(row["incident_id"], row)
        click.echo(json.dumps(findings_geojson(rows, by_incident), ensure_ascii=False))
        return
    columns = list(Finding.model_fields) if rows else None
    # parties, aggregate and claimed target are recorded in the explanation's first entry
    rows = [{**{k: None for k in Finding.RECORDED_IN_EXPLANATION},
             **Finding.recorded_facts(r["explanation"]), **r} for r in rows]
    click.echo(render(rows, fmt, columns))


# --- ledger, rules, config, actors, zones --------------------------------------------------


@main.group()
def ledger() -> None:
    """The compliance ledger."""


@ledger.command("verify")
@pass_ctx
def ledger_verify(c: Context) -> None:
    """Recompute the hash chain; name the first entry that was altered, removed or moved.

    \b
    Example:
      monitor ledger verify
    """
    result = c.ledger(readonly=True).verify()
    if result.ok:
        c.console.print(f"ledger OK: {result.entries} entries, hash chain intact")
        return
    raise click.ClickException(f"ledger verification FAILED: {result.problem}")


@main.group()
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
    """Run every rule's case suite (cases.yaml beside rule.yaml).

    \b
    Example:
      monitor rules test
    """
    from .casesuite import run_suites
    from .service import Monitor

    results = run_suites(Monitor(c.pack, None))
    failed = [r for r in results if not r.passed]
    for r in results:
        mark = "[green]ok[/green]" if r.passed else "[red]FAIL[/red]"
        c.console.print(f"{mark} {r.term}: {esc(r.case)}"
                        + (f"\n    {esc(r.detail)}" if r.detail else ""))
    c.console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise click.ClickException(f"{len(failed)} case(s) failed")


@main.group("config")
def config_() -> None:
    """The configuration."""


@config_.command("check")
@pass_ctx
def config_check(c: Context) -> None:
    """Validate every configuration and rule file; report every problem at once.

    \b
    Example:
      monitor config check
    """
    pack = c.pack
    specs = _feeds(c)
    c.console.print(
        f"configuration OK: pack {pack.spec.name} — {len(pack.instruments)} instruments, "
        f"{len(pack.registry.actors)} actors ({pack.registry.alias_count()} aliases), "
        f"{len(pack.zones.describe())} zone rows, {len(pack.rules)} rules, "
        f"{len(specs)} feed(s)")


@main.command()
@click.option("--resolve", "name", help="Resolve this name instead of listing the registry.")
@click.option("--on", "on", default=None, help="Date for --resolve (YYYY-MM-DD; default today).")
@pass_ctx
def actors(c: Context, name: str | None, on: str | None) -> None:
    """What the actor registry says: every actor, its side and aliases.

    \b
    Example:
      monitor actors
      monitor actors --resolve "Jabhat Fateh al-Sham" --on 2016-08-10
    """
    registry = c.pack.registry
    if name:
        try:
            day = dt.date.fromisoformat(on) if on else dt.date.today()
        except ValueError:
            raise click.BadParameter(f"{on!r} is not a date (YYYY-MM-DD)") from None
        c.console.print(esc(registry.resolve(name, day).note()))
        return
    rows = [{"actor": a.id, "side": ", ".join(a.sides or [a.side]),
             "aliases": "; ".join(
                 f"{al.name} [{al.source}"
                 + (f", {al.valid_from or '…'}–{al.valid_to or '…'}"
                    if al.valid_from or al.valid_to else "") + "]"
                 for al in a.aliases)} for a in registry.actors]
    render(rows, "table", title=f"{len(rows)} actors, {registry.alias_count()} aliases",
           console=c.console)


@main.command()
@pass_ctx
def zones(c: Context) -> None:
    """What the zone delineation says (an approximation: see the note printed first).

    \b
    Example:
      monitor zones
    """
    index = c.pack.zones
    c.console.print("[bold]The default delineation is approximate.[/bold] "
                    + index.provenance.strip())
    rows = [{k: r.get(k) for k in ("id", "kind", "area", "pcodes", "valid_from", "valid_to")}
            for r in index.describe()]
    render(rows, "table", title=f"{len(rows)} zone rows", console=c.console)


# --- feeds and the daemon ------------------------------------------------------------------


def _feeds(c: Context) -> list[Any]:
    from .config import environment
    from .feeds import load_feeds

    folder = c.paths.feeds
    specs, problems = load_feeds(folder, label=folder.name, env=environment())
    if problems:
        raise _problems(problems)
    return specs


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
    render([{"term": t, "findings": n} for t, n in sorted(terms.items())], "table",
           title="findings per term", console=c.console)
    render([{"charged to": p, "findings": n} for p, n in parties.most_common()], "table",
           title="findings per charged set", console=c.console)


@main.command("run")
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

    from .daemon import Daemon

    _setup_logging(verbose)
    specs = _feeds(c)
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
    with Progress(TextColumn("{task.description}"), TextColumn("{task.completed} records"),
                  console=c.err, transient=True) as progress:
        tasks: dict[str, Any] = {}

        def on_batch(feed: str, n: int) -> None:
            if feed not in tasks:
                tasks[feed] = progress.add_task(f"feed {feed}", total=None)
            progress.advance(tasks[feed], n)

        from .config import pack_fingerprint

        config, name = c.paths.config, c.paths.settings.pack
        daemon = Daemon(monitor, specs, c.paths.feeds, on_batch=on_batch,
                        reload=lambda: load_pack(config, name),
                        watch=lambda: pack_fingerprint(config, name))
        daemon.install_signal_handlers()
        briefs = c.paths.settings.briefs
        if briefs is not None:
            daemon.daily.append(("daily brief", briefs.cutoff, c.pack.tz,
                                 lambda: _daily_brief(c, monitor, briefs)))
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


def _daily_brief(c: Context, monitor: Monitor, briefs: Any) -> None:
    """Write the brief of the day that just ended at the cut-off, and rewrite the day before
    (late reports land in their own day)."""
    from .report import write_daily

    assert monitor.ledger is not None
    today = dt.datetime.now(c.pack.tz).date()
    for day in (today - dt.timedelta(days=1), today):
        write_daily(monitor.ledger, c.pack, Path(briefs.output_dir), day, fmt=briefs.format,
                    cutoff=dt.time.fromisoformat(briefs.cutoff))


@main.group()
def feeds() -> None:
    """The configured feeds."""


@feeds.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@pass_ctx
def feeds_status(c: Context, fmt: str) -> None:
    """Per feed: last success, last failure and why, records taken, lag behind the source.

    \b
    Example:
      monitor feeds status
    """
    from .feeds import status

    specs = _feeds(c)
    rows = status(specs, c.ledger(readonly=True) if c.paths.db.exists() else None)
    if fmt == "json":
        click.echo(render(rows, "json"))
        return
    render(rows, "table", title=f"{len(rows)} feed(s)", console=c.console)


# The analysts' commands live in their own module; importing it registers them on `main`.
from . import cli_analyst, cli_read  # noqa: E402,F401
from . import cli_report  # noqa: E402,F401  (monitor report)
from . import cli_serve  # noqa: E402,F401
