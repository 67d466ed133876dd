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


class LocalDate(click.ParamType):
    """``YYYY-MM-DD``, a day of the pack's time zone; the value is a :class:`datetime.date`."""

    name = "date"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a date (YYYY-MM-DD)", param, ctx)


class TimeOfDay(click.ParamType):
    """``HH:MM``, local time of the pack's time zone; the value is a :class:`datetime.time`."""

    name = "time"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "HH:MM"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> dt.time:
        if isinstance(value, dt.time):
            return value
        try:
            return dt.time.fromisoformat(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a time of day (HH:MM)", param, ctx)


LOCAL_DATE = LocalDate()
TIME_OF_DAY = TimeOfDay()


def format_option(*formats: str, default: str | None = None,
                  help: str | None = None) -> Callable[[Any], Any]:
    """``--format`` among ``formats`` (the first is the default), passed as ``fmt``."""
    return click.option("--format", "fmt", type=click.Choice(list(formats)),
                        default=default or formats[0], show_default=True, help=help)
