"""What every command shares: the :class:`Context` (configuration, pack, ledger, consoles,
each loaded on first use) and the decorator that passes it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from ..ledger import Ledger, iso
from ..problems import ProblemsError
from ..settings import PackNames, Paths, pack_names, pack_timezone, resolve_paths

# Start-up time is most of a read command's time: the pack's models (config, models, the
# classifier's), the pipeline (service, judge, zones with shapely, adapters), rich's console and
# progress bars are imported by the commands that use them.
if TYPE_CHECKING:
    from rich.console import Console

    from ..config import Pack
    from ..feeds import FeedSpec
    from ..service import Monitor


class Context:
    """What every command needs, loaded on first use (so `--help` stays fast)."""

    def __init__(self, config: str | None, db: str | None, pack: str | None = None):
        self._config, self._db, self._pack_name = config, db, pack
        self._paths: Paths | None = None
        self._pack: Pack | None = None
        self._tz: ZoneInfo | None = None
        self._names: PackNames | None = None  # read once: every filter checks against them
        self._console: Console | None = None
        self._err: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            # text lines never wrapped; what a line says is printed as it is: ":a:" in a
            # report key is not an emoji's code, nor the "a256:d3af" of a hash a time to colour
            self._console = Console(stderr=False, soft_wrap=True, emoji=False, highlight=False)
        return self._console

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)
        return self._err

    @property
    def paths(self) -> Paths:
        if self._paths is None:
            self._paths = resolve_paths(self._config, self._db, pack=self._pack_name)
        return self._paths

    @property
    def pack(self) -> Pack:
        if self._pack is None:
            from ..config import load_pack  # the pack's models: not built for a read command

            self._pack = load_pack(self.paths.config, self.paths.pack)
        return self._pack

    @property
    def names(self) -> PackNames:
        """The pack's terms, sides and instruments, for checking filters: read from its files
        alone when the pack is not loaded (loading it reports a file that does not read)."""
        if self._names is None:
            paths = self.paths
            self._names = (PackNames.of(self._pack) if self._pack is not None else
                           pack_names(paths.config, paths.pack) or
                           PackNames.of(self.pack))
        return self._names

    @property
    def tz(self) -> ZoneInfo:
        """The pack's time zone: read from pack.yaml alone when the pack is not loaded yet
        (reading commands need nothing else of it); loading the pack reports a bad one."""
        if self._tz is None:
            paths = self.paths
            self._tz = (self._pack.tz if self._pack is not None else
                        pack_timezone(paths.config, paths.pack) or self.pack.tz)
        return self._tz

    def ledger(self, readonly: bool = False) -> Ledger:
        db = self.paths.db
        if not readonly and not db.parent.exists():
            self.err.print(f"note: {db.parent} did not exist; created it for the ledger {db.name}",
                           markup=False)
        ledger = Ledger.open(db, readonly=readonly)
        # closed when the command ends, not when the object is collected: the last writer's
        # close checkpoints the WAL into the file (a copy of the file alone then holds it all)
        click.get_current_context().call_on_close(ledger.close)
        return ledger

    def monitor(self) -> Monitor:
        from ..service import Monitor

        monitor = Monitor(self.pack, self.ledger())
        hooks = self.paths.settings.webhooks
        if hooks:
            from ..webhooks import Notifier

            monitor.notifier = Notifier(hooks, monitor.record_delivery)
            # deliver what is queued before the command exits (bounded: a dead endpoint
            # costs at most this wait, never ingestion time)
            click.get_current_context().call_on_close(monitor.notifier.close)
        return monitor

    def feeds(self) -> list[FeedSpec]:
        """The feed files of the feeds folder; ProblemsError lists every problem in them."""
        from ..feeds import load_feeds
        from ..settings import environment

        folder = self.paths.feeds
        specs, problems = load_feeds(folder, label=folder.name, env=environment())
        if problems:
            raise ProblemsError(problems)
        return specs

    @property
    def cutoff(self) -> dt.time:
        """The pack's daily cut-off (``day_cutoff`` in monitor.yaml)."""
        return dt.time.fromisoformat(self.paths.day_cutoff)

    def bound(self, day: dt.date | None) -> str | None:
        """A period's bound (``--since``, ``--until``): the day's cut-off, local time of the
        pack, in UTC — the one counting rule the briefs and Datasette follow too: ``--since
        2016-09-12 --until 2016-09-19`` is the week from 12 Sep 19:30 to 19 Sep 19:30."""
        if day is None:
            return None
        return iso(dt.datetime.combine(day, self.cutoff, self.tz))

    def day_start(self, day: dt.date | None) -> str | None:
        """A date given by a user means the local day of the pack's time zone, stored in UTC:
        the day's first instant."""
        if day is None:
            return None
        return iso(dt.datetime.combine(day, dt.time(0), self.tz))

    def local(self, value: str, fmt: str = "%Y-%m-%d") -> str:
        """A stored UTC time as local time of the pack's time zone."""
        return dt.datetime.fromisoformat(value).astimezone(self.tz).strftime(fmt)


pass_ctx = click.make_pass_decorator(Context)


def esc(text: str) -> str:
    """``text`` with rich markup escaped (rich imported on first use)."""
    from rich.markup import escape

    return escape(text)


def rows_out(c: Context, rows: list[dict[str, Any]], fmt: str, title: str,
             columns: list[str] | None = None) -> None:
    """Rows as a titled table on the console, or as JSON on standard output."""
    from ..output import render

    if fmt == "json":
        click.echo(render(rows, "json"))
    else:
        render(rows, "table", columns, title=title, console=c.console)


def terminal_table(c: Context, read: Callable[[int | None], list[dict[str, Any]]],
                   count: Callable[[], int], limit: int | None, what: str,
                   columns: Sequence[str], drop: Sequence[str] = ()) -> None:
    """A table on the terminal, newest first: ``read(n)`` gives the newest n rows (None: all)
    and ``count()`` how many there are. Without ``limit`` (``--limit``), the newest
    :data:`~.options.TERMINAL_LIMIT` are read and the others counted, not read (a year of
    findings is a million rows), and a line under the table says how many more there are."""
    from ..output import render
    from .options import TERMINAL_LIMIT

    more = 0
    if limit is None:
        rows = read(TERMINAL_LIMIT)
        more = count() - len(rows) if len(rows) == TERMINAL_LIMIT else 0
    else:
        rows = read(limit or None)
    render(rows, "table", columns, title=f"{len(rows) + more} {what}, newest first",
           console=c.console, drop=drop)
    if more:
        c.console.print(f"… {more} more: --limit 0 shows them all, --format csv exports them")
