"""Reports in: ``monitor incident add`` (by hand), ``monitor incident unlink`` (undo a
corroboration) and ``monitor import`` (a file)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

import click

from ..imports import BATCH
from ..models import DirectionGiven, IncidentReport
from ..pipeline import FIRST_BATCH, PIECE
from ..vocabspec import VocabularySpec
from .common import Context, esc, pass_ctx

if TYPE_CHECKING:
    from rich.console import Console

    from ..imports import ImportResult
    from ..service import BatchResult, Rejection


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


@click.group()
def incident() -> None:
    """Enter incident reports by hand."""


@incident.command("add")
@click.option("--json", "json_file", type=click.File("rb"), metavar="FILE",
              help="Read the report as JSON from FILE ('-' = stdin): one report, a list of "
                   "them, or JSON Lines (one report a line).")
@click.option("--source-id", help="Your reference for the report (default: generated).")
@click.option("--occurred", help="Date (2016-08-10) or time with offset (2016-08-10T14:00+03:00).")
@click.option("--lat", type=float, help="Latitude, WGS84.")
@click.option("--lon", type=float, help="Longitude, WGS84.")
@click.option("--precision", type=click.IntRange(1, 7), default=None,
              help="Location precision, 1 exact .. 7 (UCDP where_prec scale).")
@click.option("--place", help="Place name.")
@click.option("--attacker", multiple=True, help="Attacker as the source names it (repeatable).")
@click.option("--target", multiple=True, help="Target as the source names it (repeatable).")
@click.option("--event-type", default=None, metavar="TYPE",
              help="An event type of the pack's vocabulary (air_strike, shelling, ...).")
@click.option("--direction", type=click.Choice(get_args(DirectionGiven)), default=None,
              help="directed: the attacker attacked the target; clash: both fought, the "
              "source does not say who attacked; words: the notes decide (default: from the "
              "event type — armed_clash is a clash, anything else directed).")
@click.option("--claimed-target", help="What the attacker said it aimed at (kept, never "
              "taken as the target).")
@click.option("--platform", default=None, metavar="PLATFORM",
              help="A platform of the pack's vocabulary (helicopter, artillery, ...).")
@click.option("--target-category", default=None, metavar="CATEGORY",
              help="A target category of the pack's vocabulary (market, medical, ...).")
@click.option("--weapon-class", default=None, metavar="CLASS",
              help="A weapon class of the pack's vocabulary (tank, mlrs, ...), if it has any.")
@click.option("--calibre-mm", type=float, default=None, help="Calibre of the weapon, mm.")
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
        from ..adapters.jsonl import own_feed
        from ..service import Rejection, validate

        items: list[IncidentReport | Rejection] = []
        for where, rec in _json_records(json_file):
            if isinstance(rec, Rejection):
                items.append(rec)
            elif not isinstance(rec, dict):
                items.append(Rejection(where, "not a JSON object"))
            elif isinstance(owned := own_feed(rec, fields["feed"], where), Rejection):
                items.append(owned)
            else:
                rec.setdefault("source_id", _new_id())
                items.append(validate(rec, where))
    else:
        if prompt or (not given and sys.stdin.isatty()):
            given = {**_prompt_fields(c.pack.words), **given}
        if not given.get("occurred"):
            raise click.UsageError("--occurred is required (or use --json FILE).")
        if not set(given) - {"occurred", "occurred_end", "source_id", "source", "reliability",
                              "revision"}:
            raise click.UsageError("a date alone says nothing a term can judge: give at least "
                                   "--attacker, --target, --event-type, --notes or a place.")
        from ..service import validate

        items = [validate(_record_from_flags(given, fields["feed"]), "flags")]
    result = c.monitor().submit(items)
    print_outcomes(c, result)
    _report_rejections(c, result)


def _json_records(json_file: Any) -> list[tuple[str, Any]]:
    """The records of ``--json``, each with where it is: one JSON document (a report or a list
    of them: "FILE item N"), else JSON Lines ("FILE line N"), where a line that is not JSON
    is a rejection of its own and the others go in."""
    from ..adapters.jsonl import parse_line

    name = getattr(json_file, "name", "<stdin>")
    name = "<stdin>" if name in ("-", "<stdin>") or not isinstance(name, str) else name
    raw = json_file.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":  # not a document followed by more: not JSON Lines either
            raise click.ClickException(f"{name}: not valid JSON: {exc}") from None
        lines = ((f"{name} line {n}", line) for n, line in enumerate(raw.splitlines(), 1))
        return [(where, rec) for where, line in lines
                if (rec := parse_line(line, where)) is not None]  # (None: a blank line)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        # ValueError: integers too long to convert; RecursionError: nesting deeper than Python
        # can follow
        raise click.ClickException(f"{name}: not valid JSON: {exc}") from None
    records = data if isinstance(data, list) else [data]
    return [(f"{name} item {i}", rec) for i, rec in enumerate(records)]


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
    outcome = c.monitor().unlink(report_key, by, note)
    c.console.print(f"{report_key} is incident {outcome.incident_id} again; "
                    f"{len(outcome.findings)} finding(s) recorded there", markup=False)


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
                "weapon_class", "calibre_mm", "civilian_targeting", "notes"):
        if given.get(key) is not None:
            rec[key] = given[key]
    return rec


class _OrNothing(click.Choice):
    """A choice a prompt may leave empty (not known); the choices shown are the real ones."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        return "" if value == "" else super().convert(value, param, ctx)


def _prompt_fields(words: VocabularySpec) -> dict[str, Any]:
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
    out["event_type"] = ask("Event type (Enter: not known)", type=_OrNothing(words.event_type_ids))
    out["platform"] = ask("Platform (Enter: not known)", type=_OrNothing(words.platform_ids))
    out["target_category"] = ask("Target category (Enter: not known)",
                                 type=_OrNothing(words.target_ids))
    out["notes"] = ask("Notes")
    return {k: v for k, v in out.items() if v not in (None, [])}


def _report_rejections(c: Context, result: BatchResult | ImportResult) -> None:
    """Each of ``result``'s rejections, then an error (exit status 1) if there was one,
    saying whether the other records went in."""
    for rej in result.rejections:
        c.err.print(f"[red]rejected[/red] {esc(str(rej))}", markup=True)
    if result.rejections:
        raise click.ClickException(f"{len(result.rejections)} record(s) rejected; " + (
            "the others were recorded" if result.new + result.duplicates
            else "nothing was recorded"))


@click.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["acled", "jsonl", "ucdp"]), required=True,
              help="The file's format (ucdp: a GED CSV file).")
@click.option("--reliability", type=click.Choice(list("ABCDEF")), default=None,
              help="How far the file's source is trusted, A (reliable) .. F (cannot be judged) "
                   "(default: B for ACLED and UCDP files; JSON Lines records grade themselves).")
@click.option("--feed", default=None, help="Feed name to record (default: the format name).")
@click.option("--pipeline/--no-pipeline", default=None,
              help="Read, resolve and judge in a second process while this one records "
                   "(default: for files of 20,000 lines or more, on 2 or more cores).")
@click.option("--date-format", "date_format", metavar="FORMAT",
              help="How an ACLED file writes event_date when it is numeric (strptime, e.g. "
                   "%d/%m/%Y): 03/04/2016 reads two ways and is refused without it.")
@click.option("--batch-size", type=click.IntRange(min=1), default=BATCH, metavar="N",
              help=f"Reports recorded per transaction (default {BATCH:,}; the first batch "
                   f"{FIRST_BATCH:,} at most, so that recording starts early): a crash loses "
                   "less to redo with a smaller batch, and a larger one is faster on a big "
                   f"ledger. Either way {PIECE:,} at most are held in memory at once.")
@pass_ctx
def import_(c: Context, path: Path, fmt: str, reliability: str | None, feed: str | None,
            pipeline: bool | None, date_format: str | None, batch_size: int) -> None:
    """Import a file of incident reports; print what was found.

    Re-importing the same file adds nothing. A malformed row is reported with its line
    number and reason while the other rows go in; the exit status is 1 if any was rejected.
    Either way of importing (one process or two) records the same ledger.

    \b
    Example:
      monitor import feeds/samples/acled_syria_2016_sample.csv --format acled
    """
    from ..imports import import_file

    with _ImportBar(c.err, path.name) as bar:
        result = import_file(path, fmt, c.monitor, config=c.paths.config,
                             pack=c.paths.pack, feed=feed, pipeline=pipeline,
                             date_format=date_format, reliability=reliability,
                             batch_size=batch_size,
                             on_start=bar.start, on_batch=bar.advance,
                             on_note=lambda text: c.err.print(f"note: {esc(text)}"))
    terms = ", ".join(f"{t} {n}" for t, n in sorted(result.by_term.items()))
    c.console.print(f"{esc(path.name)}: {result.new} new report(s), {result.duplicates} already "
                    f"recorded, {len(result.rejections)} rejected; {result.findings} finding(s)"
                    + (f": {terms}" if terms else ""))
    _report_rejections(c, result)


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

        self._progress = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                                  MofNCompleteColumn(), console=self._console, transient=True,
                                  disable=lines < 2000)
        self._progress.start()
        self._task = self._progress.add_task(f"importing {self._name}", total=lines)

    def advance(self, reports: int) -> None:
        self._progress.advance(self._task, reports)
