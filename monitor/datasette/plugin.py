"""Datasette hooks of ``monitor serve``: the offline base map and the findings map page.

Routes (all served by this Datasette, nothing from the internet):

- ``/-/findings-map`` — the current findings as circle markers (colour = severity) over the
  governorates and the zones in force on a date, drawn with the Leaflet that datasette-leaflet
  serves locally. The markers come from the ``findings_map`` canned query's JSON, page by page.
  Query string: ``term``, ``party``, ``since``, ``until`` (as the canned query) and ``zones_on``
  (a date; default: the latest finding's day).
- ``/-/monitor/governorates.geojson``, ``/-/monitor/zones.geojson`` — the layers
  (:class:`~monitor.datasette.geo.GeoLayers`).
- ``/-/monitor/tiles/{z}/{x}/{y}.svg`` — base-map tiles, which the datasette-cluster-map
  plugin is configured to use instead of OpenStreetMap's (metadata ``tile_layer``).

The layers are attached to a Datasette instance with :func:`attach` (``monitor.serve`` does it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any
from weakref import WeakKeyDictionary

from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response

from ..colours import SEVERITY_COLOURS, ZONE_FILL_OPACITY
from ..ledger import packing
from .csvsafe import safe_csv_exports
from .geo import GeoLayers
from .metadata import DATABASE, FINDINGS_PAGE, MAP_PAGE

_DAYS: WeakKeyDictionary[Any, tuple[Any, Any]] = WeakKeyDictionary()
_LAYERS: WeakKeyDictionary[Any, GeoLayers] = WeakKeyDictionary()
FILTERS = ("term", "party", "since", "until", "zones_on")


def attach(datasette: Any, layers: GeoLayers, tz: Any = None, cutoff: Any = None) -> None:
    """Give a Datasette instance its map layers and the pack's time zone and daily cut-off
    (one set per instance)."""
    _LAYERS[datasette] = layers
    if tz is not None:
        _DAYS[datasette] = (tz, cutoff or dt.time(19, 30))


@hookimpl
def prepare_connection(conn: Any, database: str, datasette: Any) -> None:
    """pack_cutoff(date) and pack_day(instant): the one counting rule, in SQL (a day runs
    from the pack's daily cut-off to the next, named by the date of the cut-off ending it);
    ledger_json(column), which the views read packed values through (monitor.ledger.packing)."""
    tz, cutoff = _DAYS.get(datasette, (dt.timezone.utc, dt.time(19, 30)))
    day_functions(conn, tz, cutoff)
    packing.register(conn)  # ledger_json(column): a packed body or resolution whole


def day_functions(conn: Any, tz: Any, cutoff: dt.time) -> None:
    """Register pack_cutoff(date) and pack_day(instant) on an SQLite connection."""
    def pack_cutoff(day: Any) -> str | None:
        try:
            local = dt.datetime.combine(dt.date.fromisoformat(str(day)), cutoff, tz)
        except ValueError:
            return None
        return local.astimezone(dt.timezone.utc).isoformat()

    def pack_day(instant: Any) -> str | None:
        try:
            local = dt.datetime.fromisoformat(str(instant)).astimezone(tz)
        except ValueError:
            return None
        return (local.date() + dt.timedelta(days=local.time() >= cutoff)).isoformat()

    conn.create_function("pack_cutoff", 1, pack_cutoff, deterministic=True)
    conn.create_function("pack_day", 1, pack_day, deterministic=True)


def _layers(datasette: Any) -> GeoLayers:
    try:
        return _LAYERS[datasette]
    except KeyError:
        raise NotFound("no map layers: this Datasette was not started by `monitor serve`") \
            from None


def _geojson(body: bytes) -> Response:
    return Response(body, content_type="application/geo+json",
                    headers={"cache-control": "max-age=3600"})


async def governorates(datasette: Any) -> Response:
    """The governorate boundaries as GeoJSON."""
    return _geojson(_layers(datasette).governorates)


async def zones(datasette: Any) -> Response:
    """The zone delineation rows as GeoJSON (kind, validity, colour in the properties)."""
    return _geojson(_layers(datasette).zones)


async def tile(datasette: Any, request: Any) -> Response:
    """One SVG base-map tile."""
    layers = _layers(datasette)
    z, x, y = (int(request.url_vars[k]) for k in ("z", "x", "y"))
    try:
        # a few milliseconds of geometry: off the event loop, so other requests go on
        body = await asyncio.to_thread(layers.tile, z, x, y)
    except ValueError as exc:
        raise NotFound(str(exc)) from None
    return Response(body, content_type="image/svg+xml",
                    headers={"cache-control": "max-age=3600"})


async def findings_map(datasette: Any, request: Any) -> Response:
    """The findings map page."""
    layers = _layers(datasette)
    params = {k: (request.args.get(k) or "").strip() for k in FILTERS}
    config = {
        "query": datasette.urls.path(f"{DATABASE}/findings_map.json"),
        "findings": datasette.urls.table(DATABASE, "findings"),
        "governorates": datasette.urls.path("-/monitor/governorates.geojson"),
        "zones": datasette.urls.path("-/monitor/zones.geojson"),
        "page": MAP_PAGE, "params": params, "severity": SEVERITY_COLOURS,
        "zone_opacity": ZONE_FILL_OPACITY,
        "attribution": layers.attribution,
    }
    html = await datasette.render_template("findings_map.html", {
        "config_json": json.dumps(config, ensure_ascii=False).replace("</", "<\\/"),
        "params": params, "zones_note": layers.zones_note, "severity": SEVERITY_COLOURS,
        "script_url": datasette.urls.static_plugins("monitor.datasette", "findings-map.js"),
        "css_url": datasette.urls.static_plugins("monitor.datasette", "findings-map.css"),
    }, request=request)
    return Response.html(html)


@hookimpl
def extra_js_urls(datasette: Any) -> list[str]:
    """Every page: column descriptions behind a toggle (static/desk.js)."""
    return [datasette.urls.static_plugins("monitor.datasette", "desk.js")]


@hookimpl
def asgi_wrapper(datasette: Any) -> Any:
    """CSV exports with formula cells neutralised, as the CLI's are."""
    return safe_csv_exports


@hookimpl
def register_routes() -> list[tuple[str, Any]]:
    """The map page and its layers."""
    return [
        (r"^/-/findings-map$", findings_map),
        (r"^/-/monitor/governorates\.geojson$", governorates),
        (r"^/-/monitor/zones\.geojson$", zones),
        (r"^/-/monitor/tiles/(?P<z>\d{1,2})/(?P<x>\d{1,6})/(?P<y>\d{1,6})\.svg$", tile),
    ]


@hookimpl
def menu_links(datasette: Any) -> list[dict[str, str]]:
    """The map in Datasette's menu."""
    return [{"href": datasette.urls.path(FINDINGS_PAGE), "label": "Findings, newest first"},
            {"href": datasette.urls.path("-/findings-map"), "label": "Findings map"}]
