"""The ``monitor`` command: each command parses, calls the library, prints.

One module per command group (:mod:`.incident`, :mod:`.findings`, :mod:`.read`,
:mod:`.rules`, :mod:`.config`, :mod:`.ledger`, :mod:`.feeds`, :mod:`.run`, :mod:`.report`,
:mod:`.serve`), none of which imports this one: it registers their commands on :func:`main`.
What they share is in :mod:`.common` and :mod:`.options`.

Errors the user can act on become one ``Error: ...`` message and exit status 1 in one place,
:meth:`MonitorGroup.invoke`.
"""

from __future__ import annotations

import os
import sqlite3
import sys

import click

from .. import __version__
from ..config import environment
from ..errors import MonitorError
from ..ledger.store import damaged
from ..problems import ProblemsError
from . import config, feeds, findings, incident, ledger, read, report, rules, run, serve
from .common import Context

USER_ERRORS = (MonitorError,)
# a file named on the command line or in the configuration that is missing or unreadable
FILE_ERRORS = (FileNotFoundError, PermissionError)


def message(exc: BaseException) -> str:
    """What the user reads for an error: every problem of a set of files, one a line, or the
    error's own one-line message."""
    if isinstance(exc, ProblemsError):
        lines = [str(p) for p in exc.problems]
        return f"{len(lines)} problem(s):\n  " + "\n  ".join(lines)
    return str(exc)


class MonitorGroup(click.Group):
    """The top-level group; every command runs inside its :meth:`invoke`."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (*USER_ERRORS, *FILE_ERRORS) as exc:
            raise click.ClickException(message(exc)) from None
        except sqlite3.DatabaseError as exc:  # a ledger file damaged while being read
            db = ctx.obj.paths.db if ctx.obj is not None else "the ledger"
            raise click.ClickException(damaged(db, exc)) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # `monitor findings | head`: the reader has had enough
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # nothing more to flush at exit
            raise click.exceptions.Exit(141) from None
        except Exception as exc:
            # a value the ledger should never hold (a damaged file) or a bug: one line, and
            # the traceback on request
            if environment().get("MONITOR_DEBUG"):
                raise
            raise click.ClickException(
                f"unexpected {type(exc).__name__}: {exc}. If it came from the ledger, "
                "`monitor ledger verify` says whether the file is intact; MONITOR_DEBUG=1 "
                "shows the traceback.") from None


@click.group(cls=MonitorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="monitor")
@click.option("--config", "config", envvar="MONITOR_CONFIG", metavar="DIR",
              help="Configuration folder (default ./config).")
@click.option("--db", "db", envvar="MONITOR_DB", metavar="FILE",
              help="Ledger file (default from config/monitor.yaml: var/ledger.db).")
@click.option("--pack", "pack", envvar="MONITOR_PACK", metavar="NAME",
              help="Agreement pack: a folder of the configuration folder (default from "
                   "config/monitor.yaml).")
@click.pass_context
def main(ctx: click.Context, config: str | None, db: str | None, pack: str | None) -> None:
    """Ceasefire compliance monitor: judge incident reports against an agreement's terms and
    record every report and finding in a hash-chained ledger.

    \b
    Example:
      monitor import feeds/samples/acled_syria_2016_sample.csv --format acled
      monitor findings --term JIG-SAAF --format json
    """
    ctx.obj = Context(config, db, pack)


for command in (
    incident.incident, incident.import_,
    findings.findings, findings.finding,
    read.query, read.incidents, read.calm, read.alerts,
    rules.rules, config.config_, config.actors, config.zones,
    ledger.ledger, feeds.feeds, run.run_, report.report_, serve.serve,
):
    main.add_command(command)
