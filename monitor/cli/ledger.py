"""The compliance ledger: ``monitor ledger verify``."""

from __future__ import annotations

import click

from .common import Context, pass_ctx


@click.group()
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
