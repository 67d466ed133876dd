"""The option types the commands share: output formats, and local dates and times of day.

A date a user gives (``--since``, ``--until``, ``--on``) is a local date of the pack's time
zone (:meth:`Context.day_start` turns it into the instant the day starts); a time of day
(``--cutoff``) is local too. ``monitor incident add --occurred`` is part of the report, not an
option of the command: the report's model validates it with the report's other fields, so that
every problem of a report is listed at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import click


class Parsed(click.ParamType):
    """A value written one way (``metavar``), parsed by ``parse`` into a ``kind``."""

    def __init__(self, name: str, metavar: str, kind: type, parse: Callable[[str], Any],
                 what: str) -> None:
        self.name, self.metavar, self.kind, self.parse, self.what = (name, metavar, kind, parse,
                                                                     what)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return self.metavar

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        if isinstance(value, self.kind):
            return value
        try:
            return self.parse(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not {self.what} ({self.metavar})", param, ctx)


# ``YYYY-MM-DD``, a day of the pack's time zone; ``HH:MM``, local time of the pack's time zone
LOCAL_DATE = Parsed("date", "YYYY-MM-DD", dt.date, dt.date.fromisoformat, "a date")
TIME_OF_DAY = Parsed("time", "HH:MM", dt.time, dt.time.fromisoformat, "a time of day")


def format_option(*formats: str, default: str | None = None,
                  help: str | None = None) -> Callable[[Any], Any]:
    """``--format`` among ``formats`` (the first is the default), passed as ``fmt``."""
    return click.option("--format", "fmt", type=click.Choice(list(formats)),
                        default=default or formats[0], show_default=True, help=help)


TERMINAL_LIMIT = 50  # rows a terminal's table shows unless --limit says otherwise


def limit_option(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--limit N``: at most N ``what``, newest first (a terminal's table: the newest
    :data:`TERMINAL_LIMIT`; 0: all)."""
    return click.option("--limit", type=click.IntRange(min=0), default=None,
                        help=f"At most this many {what}, newest first (default: "
                             f"{TERMINAL_LIMIT} in a terminal's table, all otherwise; 0: all).")
