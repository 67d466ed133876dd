"""The offline base map: governorate boundaries and zone polygons as GeoJSON, and SVG tiles.

No tile server or CDN is ever asked for anything: the browser gets its base layer from the
monitor's own Datasette, built here once at start-up from the pack's files.

- **Governorates** are the unions of the pack's OCHA sub-districts (``pack.yaml`` →
  ``boundaries``) by ``adm1_pcode``, so any pack with OCHA-style boundaries gets its map, no
  second boundaries file needed.
- **Zones** are the pack's delineation rows (``ZoneIndex.describe`` and ``geometry``) with
  their kind and validity, for the findings map to draw the zones in force on a date.
- **Tiles** (``/-/monitor/tiles/{z}/{x}/{y}.svg``) are Web-Mercator 256-pixel SVG images of the
  governorates (fill, borders, names) and, from zoom 9, the sub-districts (dashed borders,
  names from zoom 10), for Leaflet tile layers such as datasette-cluster-map's: geometry
  clipped to the tile, simplified to half a pixel at that zoom. SVG keeps us free of
  an imaging library, and ``<img>`` tiles show SVG like PNG.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import shapely

from monitor.colours import zone_colour

from ..errors import MonitorError

TILE = 256  # pixels per tile side (Leaflet's default)
MAX_ZOOM = 18
SUB_ZOOM, SUB_LABEL_ZOOM = 9, 10  # sub-district borders, then names, from these zooms
SIMPLIFY_DEG = 0.003  # GeoJSON sent to browsers: ~300 m, far below what a finding's point means
DECIMALS = 4  # ~10 m: enough for the simplified outlines, and keeps the files small
# Colours of the tiles (and of the findings map page): outside the country, inside it,
# borders, the country's outline, names.
SEA, LAND, BORDER, OUTLINE, LABEL = "#e4e4e4", "#f6f3ec", "#9a8f80", "#5f564a", "#4a4238"


class BoundariesError(MonitorError, ValueError):
    """The pack's boundaries file cannot be drawn."""


def _round(geom: shapely.Geometry) -> dict[str, Any]:
    """A shapely geometry as a GeoJSON mapping, coordinates rounded to ``DECIMALS``."""
    return json.loads(shapely.to_geojson(shapely.set_precision(geom, 10 ** -DECIMALS)))


def _feature_collection(features: list[dict[str, Any]]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features},
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _day(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _mercator(geom: shapely.Geometry) -> shapely.Geometry:
    """(lon, lat) degrees to Web-Mercator world units: x, y in [0, 1], y growing southward."""
    def project(xy: np.ndarray) -> np.ndarray:
        lat = np.radians(np.clip(xy[:, 1], -85.05112878, 85.05112878))
        return np.column_stack([(xy[:, 0] + 180.0) / 360.0,
                                (1.0 - np.arcsinh(np.tan(lat)) / math.pi) / 2.0])
    return shapely.transform(geom, project)


@dataclass(eq=False)  # hashed by identity: the tile caches below key on the instance
class GeoLayers:
    """Everything the map needs, computed once: GeoJSON bytes and the tiles' geometry."""

    governorates: bytes  # GeoJSON FeatureCollection: adm1_pcode, name
    zones: bytes  # GeoJSON FeatureCollection: id, area, kind, valid_from, valid_to, colour
    attribution: str
    zones_note: str  # the delineation's provenance: it says the zones are approximate
    _world: np.ndarray = field(repr=False)  # governorates in world units (shapely array)
    _outline: shapely.Geometry = field(repr=False)  # the country's border, world units
    _labels: list[tuple[float, float, str]] = field(repr=False)  # world x, y, name
    _subs: np.ndarray = field(repr=False)  # sub-districts in world units
    _sub_labels: list[tuple[float, float, str]] = field(repr=False)
    _sub_tree: shapely.STRtree = field(repr=False)  # picks the sub-districts a tile shows

    @classmethod
    def build(cls, boundaries: Path, zones: Any = None, attribution: str = "",
              colours: Mapping[str, str] | None = None) -> GeoLayers:
        """Read an OCHA sub-district GeoJSON (``adm1_pcode``, ``adm1_name`` properties) and,
        if given, a :class:`monitor.zones.ZoneIndex` whose kinds have the pack's ``colours``;
        ValueError if the file is unusable."""
        try:
            features = json.loads(Path(boundaries).read_text(encoding="utf-8"))["features"]
            parts: dict[str, list[shapely.Geometry]] = defaultdict(list)
            names: dict[str, str] = {}
            subs, sub_names = [], []
            for f in features:
                code, geom = f["properties"]["adm1_pcode"], shapely.from_geojson(
                    json.dumps(f["geometry"]))
                parts[code].append(geom)
                names[code] = f["properties"].get("adm1_name") or code
                subs.append(_mercator(geom))
                sub_names.append(f["properties"].get("adm3_name") or "")
        except (OSError, ValueError, KeyError, TypeError, shapely.errors.GEOSException) as exc:
            raise BoundariesError(
                f"{boundaries}: not an OCHA sub-district GeoJSON ({exc!r})") from exc
        codes = sorted(parts)
        # make_valid: sub-district edges do not always meet exactly, and union must not fail.
        govs = [shapely.make_valid(shapely.union_all(parts[c])) for c in codes]
        simple = [shapely.simplify(g, SIMPLIFY_DEG, preserve_topology=True) for g in govs]
        gov_features = [{"type": "Feature", "geometry": _round(g),
                         "properties": {"adm1_pcode": c, "name": names[c]}}
                        for c, g in zip(codes, simple, strict=True)]
        zone_features = []
        for row in (zones.describe() if zones is not None else []):
            geom = shapely.simplify(zones.geometry(row["id"]), SIMPLIFY_DEG / 3,
                                    preserve_topology=True)
            zone_features.append({"type": "Feature", "geometry": _round(geom), "properties": {
                "id": row["id"], "area": row["area"], "kind": row["kind"],
                "valid_from": _day(row["valid_from"]), "valid_to": _day(row["valid_to"]),
                "overlay": row["overlay"], "source": row["source"],
                "colour": zone_colour(row["kind"], colours)}})
        world = np.array([_mercator(g) for g in govs], dtype=object)
        sub_world = np.array(subs, dtype=object)

        def anchors(geoms: np.ndarray, labels: list[str]) -> list[tuple[float, float, str]]:
            points = shapely.point_on_surface(geoms)
            return [(p.x, p.y, t) for p, t in zip(points, labels, strict=True)]

        note = zones.provenance if zones is not None else ""
        return cls(_feature_collection(gov_features), _feature_collection(zone_features),
                   attribution, note, world, shapely.boundary(shapely.union_all(world)),
                   anchors(world, [names[c] for c in codes]), sub_world,
                   anchors(sub_world, sub_names), shapely.STRtree(sub_world))

    @lru_cache(maxsize=16)  # noqa: B019 — one instance per server, kept for its lifetime
    def _at_zoom(self, z: int) -> tuple[np.ndarray, np.ndarray, shapely.Geometry, np.ndarray]:
        """Fills, borders, outline and sub-district borders (from ``SUB_ZOOM``) simplified to
        half a pixel at zoom ``z``."""
        tolerance = 0.5 / (TILE * 2**z)
        fills = shapely.simplify(self._world, tolerance, preserve_topology=True)
        subs = (shapely.boundary(shapely.simplify(self._subs, tolerance)) if z >= SUB_ZOOM
                else np.array([], dtype=object))
        return (fills, shapely.boundary(fills), shapely.simplify(self._outline, tolerance),
                subs)

    @lru_cache(maxsize=2048)  # noqa: B019 — tiles never change while the server runs
    def tile(self, z: int, x: int, y: int) -> bytes:
        """The SVG tile at zoom ``z``, column ``x``, row ``y`` (XYZ scheme); ValueError if out
        of range."""
        n = 2**z
        if not (0 <= z <= MAX_ZOOM and 0 <= x < n and 0 <= y < n):
            raise ValueError(f"no tile {z}/{x}/{y}")
        fills, borders, outline, subs = self._at_zoom(min(z, 14))  # finer adds nothing
        pad = 4 / (TILE * n)  # a few pixels beyond the edge, so strokes join across tiles
        box = (x / n - pad, y / n - pad, (x + 1) / n + pad, (y + 1) / n + pad)

        def path(geom: shapely.Geometry, close: bool) -> str:
            out = []
            for part in shapely.get_parts(shapely.clip_by_rect(geom, *box)):
                rings = shapely.get_rings(part) if shapely.get_type_id(part) == 3 else [part]
                for ring in rings:
                    xy = (shapely.get_coordinates(ring) * n - (x, y)) * TILE
                    if len(xy) >= 2:
                        out.append("M" + "L".join(f"{a:.1f} {b:.1f}" for a, b in xy)
                                   + ("Z" * close))
            return "".join(out)

        def names(anchors: list[tuple[float, float, str]], style: str) -> str:
            # every tile a name reaches draws it (the SVG clips the rest), so none is cut off
            out = []
            for lx, ly, name in anchors:
                px, py = (lx * n - x) * TILE, (ly * n - y) * TILE
                if -TILE < px < 2 * TILE and -20 < py < TILE + 20:
                    out.append(f'<text x="{px:.1f}" y="{py:.1f}">{escape(name)}</text>')
            return f'<g {style} text-anchor="middle">{"".join(out)}</g>' if out else ""

        shown = self._sub_tree.query(shapely.box(*box)) if len(subs) else []
        sub_lines = "".join(path(subs[i], False) for i in shown)
        sub_names = (names([self._sub_labels[i] for i in shown], 'font-size="11" '
                           f'font-style="italic" fill="{BORDER}"') if z >= SUB_LABEL_ZOOM else "")
        gov_names = names(self._labels, f'font-size="{11 if z < 8 else 14}" fill="{LABEL}"'
                          ) if z >= 5 else ""
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{TILE}" height="{TILE}" '
                f'viewBox="0 0 {TILE} {TILE}" font-family="sans-serif">'
                f'<rect width="{TILE}" height="{TILE}" fill="{SEA}"/>'
                f'<path d="{"".join(path(g, True) for g in fills)}" fill="{LAND}" '
                'fill-rule="evenodd"/>'
                f'<path d="{sub_lines}" fill="none" stroke="{BORDER}" stroke-width="0.8" '
                'stroke-dasharray="4 3"/>'
                f'<path d="{"".join(path(g, False) for g in borders)}" fill="none" '
                f'stroke="{BORDER}" stroke-width="1.2"/>'
                f'<path d="{path(outline, False)}" fill="none" stroke="{OUTLINE}" '
                f'stroke-width="2"/>{sub_names}{gov_names}</svg>').encode()
