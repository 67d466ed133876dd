"""The brief's map: the governorates, the zones valid in the period coloured by kind, a dot
per incident coloured by its most serious finding, and an inset of the densest governorate,
projected to SVG paths that ``templates/report/map.svg.j2`` draws."""

from __future__ import annotations

import datetime as dt
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # shapely loads when a brief is drawn, not with the CLI
    import shapely

from .colours import SEVERITY_COLOURS, zone_colour
from .config import Pack
from .vocabulary import SEVERITIES

Row = dict[str, Any]
SEV_RANK = {s: i for i, s in enumerate(SEVERITIES)}
SIMPLIFY_DEG = 0.01  # ~1 km: invisible at brief scale, keeps the brief ~100 kB


class Window(Protocol):
    """The period a map shows (:class:`monitor.report.Period`)."""

    start: dt.datetime
    end: dt.datetime
    tz: ZoneInfo


@lru_cache(maxsize=4)
def _base_map(path: str) -> tuple[tuple[str, shapely.Geometry], ...]:
    """The governorates (adm1) of a GeoJSON file: (name, simplified geometry)."""
    import shapely

    data = json.loads(Path(path).read_text(encoding="utf-8"))
    out = []
    for feature in data["features"]:
        props = feature.get("properties") or {}
        name = next((str(v) for k, v in props.items() if k.endswith("name") and v), "")
        geom = shapely.geometry.shape(feature["geometry"]).simplify(SIMPLIFY_DEG)
        out.append((name, geom))
    return tuple(out)


def governorates_file(pack: Pack) -> Path:
    """The pack's governorate boundaries: an ``*admin1*`` GeoJSON beside its sub-districts
    (the OCHA set ships both), else the sub-districts themselves."""
    folder = (pack.folder / pack.spec.boundaries).parent
    return next(iter(sorted(folder.glob("*admin1*.geojson"))), pack.folder / pack.spec.boundaries)


INSET_MIN_INCIDENTS = 3


class _Projection:
    """Equirectangular, longitude scaled by cos(mean latitude): true shape at this scale."""

    def __init__(self, bounds: tuple[float, float, float, float], width: float):
        self.minx, self.miny, maxx, self.maxy = bounds
        self.k = math.cos(math.radians((self.miny + self.maxy) / 2))
        self.s = width / ((maxx - self.minx) * self.k)
        self.width, self.height = width, (self.maxy - self.miny) * self.s

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.minx) * self.k * self.s, (self.maxy - lat) * self.s

    def path(self, geom: shapely.Geometry) -> str:
        import shapely

        rings = []
        for part in shapely.get_parts(geom):
            if part.geom_type != "Polygon":
                continue  # a sliver line or point left by a union: nothing to fill
            for ring in (part.exterior, *part.interiors):
                pts = [self.xy(x, y) for x, y in ring.coords]
                rings.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
        return "".join(rings)


def _zone_valid(row: Row, p: Window) -> bool:
    """A zone row valid at any time in the period (date bounds are whole local days)."""
    def bound(v: Any, end: bool) -> dt.datetime | None:
        if v is None or isinstance(v, dt.datetime):
            return v
        return dt.datetime.combine(v + dt.timedelta(days=end), dt.time(0), p.tz)
    start, stop = bound(row["valid_from"], False), bound(row["valid_to"], True)
    return (start is None or start < p.end) and (stop is None or stop > p.start)


def map_layers(pack: Pack, p: Window, points: list[Row]) -> Row:
    """The governorates, the zones valid in the period coloured by kind, and a dot per
    incident coloured by its most serious finding, projected to SVG paths
    (templates/report/map.svg.j2 draws them)."""
    import shapely

    base = _base_map(str(governorates_file(pack)))
    proj = _Projection(shapely.union_all([g for _, g in base]).buffer(0.05).bounds, 860)
    colours = pack.spec.display.zone_colours
    rows = sorted((r for r in pack.zones.describe() if _zone_valid(r, p)),
                  key=lambda r: bool(r["overlay"]))  # overlays (Castello) on top
    dots = []
    for pt in sorted(points, key=lambda q: SEV_RANK[q["severity"]]):  # critical drawn last
        x, y = proj.xy(pt["lon"], pt["lat"])
        if 0 <= x <= proj.width and 0 <= y <= proj.height:  # else a bad coordinate: not drawn
            dots.append({**pt, "x": x, "y": y, "r": 3.2 + SEV_RANK[pt["severity"]],
                         "colour": SEVERITY_COLOURS[pt["severity"]]})
    return {"width": proj.width, "height": proj.height, "dots": dots,
            "governorates": [{"name": name, "d": proj.path(g),
                              "label": proj.xy(*g.representative_point().coords[0])}
                             for name, g in base],
            "zones": [{"kind": r["kind"], "name": r["area"] or r["id"], "overlay": r["overlay"],
                       "colour": zone_colour(r["kind"], colours),
                       "d": proj.path(pack.zones.geometry(r["id"]).simplify(SIMPLIFY_DEG))}
                      for r in rows],
            "kinds": [(k, zone_colour(k, colours))
                      for k in dict.fromkeys(r["kind"] for r in rows)],
            "inset": _inset(base, proj, dots)}


def _inset(base: tuple[tuple[str, shapely.Geometry], ...], proj: _Projection,
           dots: list[Row]) -> Row | None:
    """A closer look at the governorate with the most incidents: the same drawing seen
    through a smaller window (an SVG viewBox) around its incidents, dots drawn at their
    usual size. None when no governorate holds three incidents."""
    import shapely

    best: tuple[int, str, list[Row]] = (0, "", [])
    points = shapely.points([d["lon"] for d in dots], [d["lat"] for d in dots])  # made once
    for name, geom in base:
        inside = [d for d, yes in zip(dots, shapely.covers(geom, points)) if yes]
        if len(inside) > best[0]:
            best = (len(inside), name, inside)
    count, name, inside = best
    if count < INSET_MIN_INCIDENTS:
        return None
    xs, ys = [d["x"] for d in inside], [d["y"] for d in inside]
    pad = 0.15 * proj.s  # ~15 km around the outermost incidents
    x0, x1, y0, y1 = min(xs) - pad, max(xs) + pad, min(ys) - pad, max(ys) + pad
    side = max(x1 - x0, y1 - y0, 0.5 * proj.s)  # a square window, at least ~55 km across
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    zoom = proj.width / side
    return {"name": name, "incidents": count, "zoom": zoom,
            "view": f"{cx - side / 2:.1f} {cy - side / 2:.1f} {side:.1f} {side:.1f}",
            "dots": [{**d, "r": d["r"] / zoom * 1.6} for d in dots]}
