"""``monitor serve``: the ledger in a browser, read-only, with Datasette.

READ-ONLY, NOT IMMUTABLE. The daemon may be writing while we serve, and the ledger is in WAL
mode: committed rows sit in the ``-wal`` file until a checkpoint copies them into the main file.
Datasette's ``immutables`` open files with ``immutable=1``, which tells SQLite the file never
changes: it then reads no WAL and takes no locks, so it would serve a stale (and, after a
checkpoint, possibly inconsistent) ledger and cache its counts forever. So the ledger is served
as a *mutable* database whose every connection is opened ``mode=ro`` (SQLite refuses any write:
"attempt to write a readonly database") and set ``PRAGMA query_only=1``; Datasette's write
connection is refused outright (:class:`ReadOnlyDatabase`). On top of that Datasette 0.65 has no
write API and runs only SELECT/WITH statements through ``?sql=``. ``tests/test_serve.py`` checks
that DELETE, INSERT and a ``WITH ... INSERT`` are refused and that a report recorded while the
server runs shows up without a restart.

OFFLINE MAP. datasette-cluster-map's tile layer is pointed at this server's own SVG tiles and
``/-/findings-map`` draws the governorates and zones itself (:mod:`monitor.datasette`): the
browser never asks a tile server or CDN for anything.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import sqlite3
from pathlib import Path
from typing import Any

from .config import Pack
from .errors import MonitorError

SETTINGS = {
    # The canned queries take under 50 ms on the real 2016 year (4,444 findings); 5 s (not
    # Datasette's 1 s) leaves room for analysts' own SQL on larger ledgers, still bounded.
    "sql_time_limit_ms": 5000,
    "suggest_facets": False,  # facet suggestions run many queries on every table page
    "max_returned_rows": 1000,  # = metadata.MAP_PAGE: the map pages through findings_map
}


# Datasette, its map plugins and uvicorn are the `serve` extra of pyproject.toml.
INSTALL_HINT = "pip install 'ceasefire-monitor[serve]'"
SERVE_MODULES = ("datasette", "datasette_cluster_map", "datasette_leaflet", "uvicorn")


class ServeError(MonitorError, ValueError):
    """The ledger cannot be served: Datasette is not installed, or the file is not a ledger."""


def require_datasette() -> None:
    """Import what serving needs; ServeError says how to install it when something is missing
    (nothing but ``monitor serve`` imports Datasette)."""
    import importlib

    for name in SERVE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            raise ServeError(f"monitor serve needs Datasette, which is not installed here "
                             f"({name} is missing): {INSTALL_HINT}") from None


def _ledger_uri(path: Path) -> str:
    # as_uri() percent-encodes the path: Datasette's own f"file:{path}?mode=ro" breaks on a
    # path with '?', '#' or '%' in it; a read-only folder needs immutable (read_only_uri)
    from .ledger.base import read_only_uri

    return read_only_uri(path)


def relations(path: Path) -> set[str]:
    """The tables and views of the ledger file (read-only); FileNotFoundError when there is
    no file, ServeError when it is not a ledger."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no ledger file here. Record something first "
                                "(monitor run --once, monitor import) or give --db.")
    try:
        conn = sqlite3.connect(_ledger_uri(Path(path)), uri=True)
        try:
            names = {name for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise ServeError(f"{path}: not a ledger ({exc})") from None
    if "findings" not in names:
        raise ServeError(f"{path}: not a ledger (it has no findings table)")
    return names


def build(db: Path, pack: Pack, *, base_url: str = "/",
          day_cutoff: dt.time = dt.time(19, 30)) -> tuple[Any, list[str]]:
    """A Datasette serving ``db`` read-only as ``/ledger``, with the metadata, canned queries
    (counting days from ``day_cutoff`` in the pack's time zone) and the offline maps. Returns
    (datasette, canned queries this ledger cannot answer)."""
    from datasette.app import Datasette  # heavy: imported when serving, not for `--help`
    from datasette.database import Database
    from datasette.plugins import pm

    from . import datasette as plugin  # the package is the plugin (its templates, static)
    from .datasette.geo import GeoLayers
    from .datasette.metadata import DATABASE, build_metadata, missing_queries

    class ReadOnlyDatabase(Database):  # type: ignore[misc]
        """Datasette's Database, every connection read-only; no write connection at all."""

        def connect(self, write: bool = False) -> sqlite3.Connection:
            if write:
                raise PermissionError("the ledger is served read-only: nothing can be written")
            conn = sqlite3.connect(_ledger_uri(Path(self.path)), uri=True,
                                   check_same_thread=False, timeout=5)
            conn.execute("PRAGMA query_only=1")
            self._all_file_connections.append(conn)  # Database.close() closes them
            return conn

    available = relations(db)
    credits = pack.spec.display.credits
    layers = GeoLayers.build(pack.folder / pack.spec.boundaries, pack.zones, credits,
                             pack.spec.display.zone_colours)
    # Before Datasette(): it collects the plugins' templates folders when it is created.
    if not pm.is_registered(plugin):
        pm.register(plugin, name="monitor.datasette")
    tiles = base_url.rstrip("/") + "/-/monitor/tiles/{z}/{x}/{y}.svg"
    ds = Datasette([], metadata=build_metadata(pack.spec.title, available, tile_url=tiles,
                                               base_url=base_url, attribution=credits),
                   settings={**SETTINGS, "base_url": base_url})
    if "_memory" in ds.databases:  # Datasette adds an in-memory database when given no file
        ds.remove_database("_memory")
    ds.add_database(ReadOnlyDatabase(ds, path=str(Path(db).resolve())), name=DATABASE)
    plugin.attach(ds, layers, pack.tz, day_cutoff)
    return ds, missing_queries(available)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def can_listen(host: str, port: int) -> bool:
    """Whether ``host``:``port`` is free to listen on (so a taken port is a clear error, not
    uvicorn's exit 3 after we said we were serving)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            # as uvicorn does: a previous server's TIME_WAIT connections do not count
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError:
        return False
    return True


LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_guard(app: Any, host: str) -> Any:
    """Answer only requests addressed to this machine when serving on a loopback address: a
    web page elsewhere cannot then reach the ledger by pointing a name of its own at
    127.0.0.1 (DNS rebinding). Any other Host header gets 421 Misdirected Request."""
    if not is_loopback(host):
        return app
    allowed = LOOPBACK_NAMES | {host.strip("[]")}

    async def guarded(scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            headers = dict(scope.get("headers") or [])
            name = headers.get(b"host", b"").decode("latin-1").strip().lower()
            bare = name[1:name.index("]")] if name.startswith("[") and "]" in name else (
                name.rsplit(":", 1)[0] if name.count(":") == 1 else name)
            if bare not in allowed:
                names = ", ".join(sorted(allowed))
                body = f"421 Misdirected Request: this server answers {names} only\n".encode()
                await send({"type": "http.response.start", "status": 421, "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)
    return guarded


def run(ds: Any, host: str, port: int) -> None:
    """Serve until Ctrl-C / SIGTERM (uvicorn handles both)."""
    import uvicorn

    asyncio.run(ds.invoke_startup())  # plugins' startup hooks, once, before any request
    uvicorn.run(host_guard(ds.app(), host), host=host, port=port, log_level="warning",
                lifespan="on")
