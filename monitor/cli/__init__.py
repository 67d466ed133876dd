"""The ``monitor`` command: each command parses, calls the library, prints.

One module per command group (:mod:`.incident`, :mod:`.findings`, :mod:`.read`,
:mod:`.rules`, :mod:`.config`, :mod:`.ledger`, :mod:`.feeds`, :mod:`.run`, :mod:`.report`,
:mod:`.serve`), none of which imports this one: it registers their commands on :func:`main`.
What they share is in :mod:`.common` and :mod:`.options`.

Errors the user can act on become one ``Error: ...`` message and exit status 1 in one place,
:meth:`MonitorGroup.invoke`.
"""

from __future__ import annotations

import importlib
import os
import sqlite3
import sys

import click

from .. import __version__
from ..errors import MonitorError
from ..ledger.store import damaged
from ..problems import ProblemsError
from ..settings import environment
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


# command -> (its module in monitor.cli, the function): a module is imported when one of its
# commands is looked up, so a command starts with its own imports only (a read command
# needs neither the pipeline nor the brief's).
COMMANDS = {
    "incident": ("incident", "incident"), "import": ("incident", "import_"),
    "findings": ("findings", "findings"), "finding": ("findings", "finding"),
    "query": ("read", "query"), "incidents": ("read", "incidents"), "calm": ("read", "calm"),
    "alerts": ("read", "alerts"), "rules": ("rules", "rules"), "config": ("config", "config_"),
    "actors": ("config", "actors"), "zones": ("config", "zones"), "ledger": ("ledger", "ledger"),
    "feeds": ("feeds", "feeds"), "run": ("run", "run_"), "report": ("report", "report_"),
    "serve": ("serve", "serve"),
}


class MonitorGroup(click.Group):
    """The top-level group; every command runs inside its :meth:`invoke`. Its commands are
    :data:`COMMANDS`, each imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, name = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"{__name__}.{module}"), name)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

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
