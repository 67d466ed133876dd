"""What the configuration says: ``monitor config check``, ``monitor actors``,
``monitor zones``."""

from __future__ import annotations

import datetime as dt

import click

from ..output import render, to_json
from .common import Context, esc, pass_ctx
from .options import LOCAL_DATE, format_option


@click.group("config")
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
    specs = c.feeds()
    c.console.print(
        f"configuration OK: pack {pack.spec.name} — {len(pack.instruments)} instruments, "
        f"{len(pack.registry.actors)} actors ({pack.registry.alias_count()} aliases), "
        f"{len(pack.zones.describe())} zone rows, {len(pack.rules)} rules, "
        f"{len(specs)} feed(s)")


@click.command()
@click.option("--resolve", "name", help="Resolve this name instead of listing the registry.")
@click.option("--on", "on", type=LOCAL_DATE, default=None,
              help="Date for --resolve (default today).")
@pass_ctx
def actors(c: Context, name: str | None, on: dt.date | None) -> None:
    """What the actor registry says: every actor, its side and aliases.

    \b
    Example:
      monitor actors
      monitor actors --resolve "Jabhat Fateh al-Sham" --on 2016-08-10
    """
    registry = c.pack.registry
    if name:
        c.console.print(esc(registry.resolve(name, on or dt.date.today()).note()))
        return
    rows = [{"actor": a.id, "side": ", ".join(a.sides or [a.side]),
             "aliases": "; ".join(
                 f"{al.name} [{al.source}"
                 + (f", {al.valid_from or '…'}–{al.valid_to or '…'}"
                    if al.valid_from or al.valid_to else "") + "]"
                 for al in a.aliases)} for a in registry.actors]
    render(rows, "table", title=f"{len(rows)} actors, {registry.alias_count()} aliases",
           console=c.console)


@click.command()
@format_option("table", "json")
@pass_ctx
def zones(c: Context, fmt: str) -> None:
    """What the zone delineation says (an approximation: its provenance is printed first, and
    is the "provenance" of the JSON).

    \b
    Example:
      monitor zones
      monitor zones --format json > zones.json
    """
    index = c.pack.zones
    rows = [{k: r.get(k) for k in ("id", "kind", "area", "pcodes", "valid_from", "valid_to")}
            for r in index.describe()]
    if fmt == "json":
        click.echo(to_json({"provenance": index.provenance.strip(), "zones": rows}, indent=2))
        return
    c.console.print(index.provenance.strip())
    render(rows, "table", title=f"{len(rows)} zone rows", console=c.console)
