"""``monitor serve``: the ledger in a browser, read-only (Datasette; see monitor/serve.py)."""

from __future__ import annotations

import click

from .common import Context, pass_ctx


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (anything but loopback exposes the ledger).")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@pass_ctx
def serve(c: Context, host: str, port: int) -> None:
    """Serve the ledger read-only in a browser: tables and views with their descriptions,
    SQL, canned queries for the common questions, and the findings on a map that needs no
    internet access (/-/findings-map). Safe while the daemon writes. Needs the `serve`
    extra: pip install 'ceasefire-monitor[serve]'.

    \b
    Example:
      monitor serve --port 8001        # then open http://127.0.0.1:8001/
    """
    from ..serve import build, can_listen, is_loopback, relations, require_datasette, run

    require_datasette()
    db = c.paths.db
    relations(db)  # a missing or foreign file is refused before the pack is loaded (1 s)
    ds, missing = build(db, c.pack, day_cutoff=c.cutoff)
    if not can_listen(host, port):
        raise click.ClickException(f"cannot listen on {host}:{port} (in use, or not an address "
                                   "of this machine): choose another with --port or --host")
    if missing:
        c.err.print(f"[yellow]This ledger predates some views; not offered:[/yellow] "
                    f"{', '.join(missing)}")
    if not is_loopback(host):
        c.err.print(f"[yellow]Listening on {host}: anyone who can reach it can read the "
                    "ledger.[/yellow]")
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{f'[{shown}]' if ':' in shown else shown}:{port}"
    c.console.print(f"Serving {db} read-only at {base}/ledger — the findings map is "
                    f"{base}/-/findings-map. Ctrl-C stops.")
    run(ds, host, port)
