"""The configured feeds: ``monitor feeds status``."""

from __future__ import annotations

import click

from .common import Context, pass_ctx, rows_out
from .options import format_option


@click.group()
def feeds() -> None:
    """The configured feeds."""


@feeds.command("status")
@format_option("table", "json")
@pass_ctx
def feeds_status(c: Context, fmt: str) -> None:
    """Per feed: last success, last failure and why, records taken, lag behind the source.

    \b
    Example:
      monitor feeds status
    """
    from ..feeds import status

    rows = status(c.feeds(), c.ledger(readonly=True) if c.paths.db.exists() else None)
    rows_out(c, rows, fmt, f"{len(rows)} feed(s)")
