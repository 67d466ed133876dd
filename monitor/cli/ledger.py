"""The compliance ledger: ``monitor ledger verify``, ``head`` and ``rebuild``."""

from __future__ import annotations

from pathlib import Path

import click

from ..ledger import LedgerError
from ..ledger.checkpoints import read_checkpoints
from .common import Context, pass_ctx


@click.group()
def ledger() -> None:
    """The compliance ledger."""


@ledger.command("verify")
@click.option("--head", "head", metavar="SEQ:HASH",
              help="A head kept from before (`monitor ledger head`): fail if this file no "
                   "longer holds it (a cut-off tail, an older copy, a recomputed chain).")
@click.option("--checkpoints", "checkpoints", type=click.Path(dir_okay=False, path_type=Path),
              metavar="FILE", help="Check every head in a checkpoint file (the daemon "
                                   "writes one after every run).")
@pass_ctx
def ledger_verify(c: Context, head: str | None, checkpoints: Path | None) -> None:
    """Recompute the hash chain; name the first entry that was altered, removed or moved.
    Then check the derived tables against the chain and the views and triggers against the
    code, and any anchored head. Prints the head (SEQ:HASH): keep it elsewhere.

    \b
    Example:
      monitor ledger verify
      monitor ledger verify --head 4521:9f86d081884c7d65...
      monitor ledger verify --checkpoints var/checkpoints.txt
    """
    ledger_ = c.ledger(readonly=True)
    heads = [("--head", head)] if head else []
    if checkpoints is not None:
        heads += [(f"{checkpoints} line {n}", h) for n, h in read_checkpoints(checkpoints)]
    result = ledger_.verify()
    if not result.ok:
        raise click.ClickException(f"ledger verification FAILED: {result.problem}")
    for where, anchored in heads:
        try:
            problem = ledger_.check_head(anchored)
        except ValueError as exc:
            raise LedgerError(f"{where}: {exc}") from None
        if problem:
            raise click.ClickException(f"ledger verification FAILED ({where}): {problem}")
    anchored_note = f", {len(heads)} anchored head(s) held" if heads else ""
    click.echo(f"ledger OK: {result.entries} entries, hash chain intact, derived state "
                    f"matches{anchored_note}")
    click.echo(f"head {ledger_.head()}")


@ledger.command("head")
@pass_ctx
def ledger_head(c: Context) -> None:
    """Print the ledger's head, SEQ:HASH, on one line: keep it outside the file (a checkpoint,
    a message, a brief) and `monitor ledger verify --head` will tell if the file still holds it.

    \b
    Example:
      monitor ledger head >> ~/ledger-heads.txt
    """
    click.echo(c.ledger(readonly=True).head())


@ledger.command("rebuild")
@pass_ctx
def ledger_rebuild(c: Context) -> None:
    """Restore the derived tables from the chain and the views, triggers and indexes from the
    code, after `ledger verify` named them; the chained entries are never touched.

    \b
    Example:
      monitor ledger rebuild
    """
    ledger_ = c.ledger()
    done = ledger_.rebuild()
    if not done:
        c.console.print("nothing to rebuild: the derived state matched the chain")
        return
    for line in done:
        c.console.print(f"restored: {line}")
    result = ledger_.verify()
    c.console.print("ledger OK" if result.ok else f"still FAILING: {result.problem}")
