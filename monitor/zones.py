"""Zones: which rows of the zone delineation (ZONES.md) contain a point during a time window.

TERMS.md §3: a zone is an area with a kind and validity dates. ZONES.md "Rules of the table": a
sub-district row overrides its district row, a custom polygon overrides both (extended here to
governorate rows, the least specific); an area no row covers is ``unclassified``. Overlay rows
(the Castello corridor) are added on top of whatever lies beneath.

A pcode row is the union of the OCHA sub-districts (adm3) whose pcode starts with one of its
pcodes (SY06 = Lattakia governorate, SY0702 = Al Ma'ra district); a line row is buffered by
``buffer_km`` in a local equirectangular plane (:func:`_buffer_line`).

Speed: one STRtree (row geometries + the 272 sub-districts, which name the place in the note and
tell "unclassified" from "outside Syria") is queried once for all points by bounding box; the
candidates are then confirmed by one elementwise ``shapely.intersects_xy`` over every (prepared
geometry, point) pair. The answer is that of ``tree.query(points, predicate="intersects")``,
about 20x faster with shapely 2.2 / GEOS 3.14 (100k points, 62 districts: 1.6 s vs 0.08 s). Each
point's rows come from one sort of (point, row) keys, not per-point sets: with the benchmark's
5,000 rows a point lies in ~60 of them (10k points: ~58 µs a point before, ~26 µs after).
Start-up: zones.yaml is parsed by libyaml when PyYAML has it (``read_yaml``), and row shapes are checked and
polygons built in batched shapely calls (5,000 rows: ~8 s before, ~3 s after, mostly YAML).

Split places (TERMS.md §3, ZONES.md "Split places"): a city divided between kinds (Aleppo, Daraa,
Deir ez-Zor, Damascus in 2016). A report that names only the city (its location name, compared by
:func:`place_key`, is one of the place's ``names``) at a settlement's precision resolves to every
kind of the place, whatever its point, plus the overlay rows containing the point. They are data:
the ``split_places:`` section of zones.yaml, checked by :func:`load_zones` and handed to
:meth:`ZoneIndex.build` with the rows (:class:`ZoneRows`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from pydantic import Field, ValidationError

# the actor registry's name key (case, accents, apostrophes, hyphens, spaces): place names are
# transliterated the same way ("Deir ez-Zor", "Deir ez Zor", "Dayr az-Zawr")
from monitor import geo
from monitor.actors import name_key as _name_key
from monitor.models import FileModel, Name, ZoneSpec
from monitor.problems import Problem, did_you_mean, from_validation, read_yaml

# Precedence levels (ZONES.md "Rules of the table"): higher = more specific = wins.
PCODE_LEVELS = {4: 0, 6: 1, 8: 2}  # pcode length -> governorate, district, sub-district
CUSTOM_LEVEL = 3  # a hand-drawn polygon or buffered line
OVERLAY_LEVEL = -1  # overlay rows take no part in precedence
LEVEL_NAMES = ("governorate", "district", "sub-district", "custom")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_US = dt.timedelta(microseconds=1)
_NEVER, _FOREVER = -(2**62), 2**62  # open validity bounds, in microseconds
_DESCRIBED_MAX = 65_536  # row combinations whose description is kept (then start afresh)
_TYPE_WORDS = ("town", "city")  # UCDP names a settlement "Aleppo town", "Damascus city"
_TOP_KEYS = ("provenance", "zones", "split_places")


def place_key(name: str) -> str:
    """The key a location name is matched by against split places' ``names``: case, accents,
    apostrophes, hyphens and surrounding space normalised, a trailing type word ("town", "city")
    dropped. ``place_key("Aleppo town") == place_key("aleppo") == "aleppo"``; "Aleppo - Sukkari"
    stays "aleppo sukkari" (a neighbourhood, not the city)."""
    key = _name_key(name)
    head, _, last = key.rpartition(" ")
    return head if head and last in _TYPE_WORDS else key


class ReferencePoint(FileModel):
    """A point written with named coordinates, so that it cannot be swapped."""

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


class SplitPlace(FileModel):
    """A settlement divided between zones of different kinds (ZONES.md "Split places"): a
    report naming only the settlement resolves to every kind in ``kinds`` (TERMS.md §3)."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
    place: Name  # display name, "Aleppo city"
    names: tuple[Name, ...] = Field(min_length=1)  # location names meaning the city itself
    point: ReferencePoint  # where the feeds put the city itself (UCDP "Aleppo town")
    kinds: tuple[str, ...] = Field(min_length=2)  # a place split between fewer is not split
    valid_from: dt.datetime | dt.date | None = None
    valid_to: dt.datetime | dt.date | None = None
    source: Name  # the source of the split (ZONES.md)


class ZoneRows(list[ZoneSpec]):
    """The rows of a zones file (a list of :class:`ZoneSpec`) with the file's split places, so
    that ``ZoneIndex.build(specs, ...)`` receives both from what :func:`load_zones` returns."""

    def __init__(self, rows: Iterable[ZoneSpec] = (), split_places: Iterable[SplitPlace] = ()):
        super().__init__(rows)
        self.split_places: tuple[SplitPlace, ...] = tuple(split_places)


@dataclass(frozen=True)
class ZoneMatch:
    """Where a point is: the zone kinds (and zone groups) and the rows that matched."""

    kinds: tuple[str, ...]  # zone kinds AND zone groups during the window; () if none
    zone_ids: tuple[str, ...]  # the ZoneSpec ids that matched
    resolved: bool  # False when location missing/too coarse/outside every zone
    note: str  # how it was decided, for the finding's explanation
    adm3: str | None = None  # the OCHA sub-district pcode the point is in (governorate: [:4])
    governorate: str | None = None  # its governorate's English name
    split: str | None = None  # the split place's id when the report names only that city


@dataclass(frozen=True)
class _Admin:
    """The OCHA sub-districts: geometries, pcodes, a label each, and every pcode's name."""

    pcodes: np.ndarray  # adm3 pcodes (numpy str array)
    geoms: np.ndarray  # shapely polygons, one per sub-district
    labels: tuple[str, ...]  # "Idleb governorate, Al Ma'ra district SY0702, ..."
    names: dict[str, str]  # adm1, adm2 and adm3 pcode -> English name
    tree: shapely.STRtree  # over geoms


def _read_boundaries(path: Path) -> _Admin:
    """Read an OCHA adm3 GeoJSON (cached while the file is unchanged); ValueError if unusable."""
    try:
        stat = Path(path).stat()
    except OSError as exc:
        raise ValueError(f"boundaries file cannot be read: {exc}") from exc
    return _read_boundaries_cached(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _read_boundaries_cached(path: str, _mtime: int, _size: int) -> _Admin:
    try:
        features = json.loads(Path(path).read_text(encoding="utf-8"))["features"]
        props = [f["properties"] for f in features]
        pcodes = [p["adm3_pcode"] for p in props]
        geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
    except (OSError, ValueError, KeyError, TypeError, shapely.errors.GEOSException) as exc:
        raise ValueError(f"is not an OCHA sub-district (adm3) GeoJSON: {exc!r}") from exc
    names = {p[f"{lv}_pcode"]: p.get(f"{lv}_name", "") for p in props for lv in ("adm1", "adm2")}
    names.update((p["adm3_pcode"], p.get("adm3_name", "")) for p in props)
    labels = [f"{p.get('adm1_name')} governorate, {p.get('adm2_name')} district {p['adm2_pcode']}, "
              f"{p.get('adm3_name')} sub-district {p['adm3_pcode']}" for p in props]
    shapely.prepare(geoms)
    return _Admin(np.array(pcodes), geoms, tuple(labels), names, shapely.STRtree(geoms))


def _to_us(value: dt.date | dt.datetime | None, tz: ZoneInfo, end: bool) -> int:
    """A validity bound as epoch microseconds. A date alone is the whole day in the pack
    timezone (ZONES.md validity is in days): valid_from = its 00:00, valid_to = the next 00:00.
    A date-time is an instant (valid_to exclusive); a naive one is read in the pack timezone."""
    if value is None:  # open-ended (zones.yaml states every row's validity explicitly)
        return _FOREVER if end else _NEVER
    if isinstance(value, dt.datetime):
        instant = value if value.tzinfo is not None else value.replace(tzinfo=tz)
    else:
        day = value + dt.timedelta(days=1) if end else value
        instant = dt.datetime.combine(day, dt.time(), tzinfo=tz)
    return (instant - _EPOCH) // _US


def _window_us(value: dt.datetime, what: str) -> int:
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {value!r}")
    return (value - _EPOCH) // _US


def _buffer_line(coords: list[tuple[float, float]], km: float) -> shapely.Geometry:
    """Buffer a (lon, lat) polyline by ``km``: project to a local equirectangular plane in km
    (x scaled by cos of the line's mean latitude), buffer with round caps and joins, project
    back. For a corridor of a few tens of km the scale error is far below 1%."""
    lon0, lat0 = np.mean(np.asarray(coords, dtype=float), axis=0)
    scale = np.array([geo.KM_PER_DEGREE * math.cos(math.radians(lat0)), geo.KM_PER_DEGREE])
    origin = np.array([lon0, lat0])
    local = shapely.transform(shapely.LineString(coords), lambda xy: (xy - origin) * scale)
    return shapely.transform(local.buffer(km, quad_segs=16), lambda xy: xy / scale + origin)


def _polygons(specs: list[ZoneSpec]) -> dict[int, shapely.Geometry]:
    """Every polygon row's geometry, made valid, built in one vectorised call (row -> it)."""
    rows = [i for i, spec in enumerate(specs) if spec.polygon]
    if not rows:
        return {}
    try:
        counts = np.array([len(specs[i].polygon or []) for i in rows])
        flat = np.array([xy for i in rows for xy in specs[i].polygon or []], dtype=float)
        rings = shapely.linearrings(flat, indices=np.repeat(np.arange(len(rows)), counts))
        return dict(zip(rows, shapely.make_valid(shapely.polygons(rings))))
    except (ValueError, shapely.errors.GEOSException):  # a bad ring: let the row say which
        return {i: shapely.make_valid(shapely.Polygon(specs[i].polygon)) for i in rows}


def _approx_km2(geom: shapely.Geometry) -> float:
    """Area in km² from degrees², scaled at the centroid's latitude (approximate)."""
    lat = 0.0 if geom.is_empty else shapely.centroid(geom).y
    return float(geom.area * geo.KM_PER_DEGREE**2 * math.cos(math.radians(lat)))


class ZoneIndex:
    """The zone rows of a pack, built once, answering "which zones contain this point, when"."""

    @classmethod
    def build(cls, specs: list[ZoneSpec], boundaries: Path, groups: dict[str, list[str]],
              coarse_precision: int = 3, tz: str = "Asia/Damascus", provenance: str = "",
              split_places: Sequence[SplitPlace] | None = None) -> ZoneIndex:
        """Build every row's geometry (a union of OCHA sub-districts per pcode level, a polygon,
        a buffered line) and one STRtree over them and the sub-districts. ``specs`` should come
        from :func:`load_zones`; a pcode matching no sub-district raises ValueError.
        ``split_places`` defaults to those :func:`load_zones` read with the rows (none for a
        plain list); a name shared by two split places raises ValueError."""
        ix = cls()
        ix._set_split_places(tuple(getattr(specs, "split_places", ()) if split_places is None
                                   else split_places), ZoneInfo(tz))
        ix.specs, ix._admin, ix._tz = tuple(specs), _read_boundaries(boundaries), ZoneInfo(tz)
        ix._groups = {g: frozenset(m) for g, m in groups.items()}
        ix._coarse, ix._provenance = coarse_precision, provenance
        ix._by_id = {s.id: i for i, s in enumerate(specs)}
        ix._row_ids, ix._row_kinds = [s.id for s in specs], [s.kind for s in specs]
        ix._cache: dict[tuple[int, ...], tuple[tuple[str, ...], tuple[str, ...], str]] = {}
        pieces: list[tuple[int, int, shapely.Geometry]] = []  # (row, level, geometry)
        polygons = _polygons(specs)
        ix._row_geoms: list[shapely.Geometry] = []
        for i, spec in enumerate(specs):
            mine: list[tuple[int, shapely.Geometry]] = []
            for level in sorted({PCODE_LEVELS.get(len(c), -9) for c in spec.pcodes}):
                mask = np.zeros(len(ix._admin.pcodes), dtype=bool)
                for code in (c for c in spec.pcodes if PCODE_LEVELS.get(len(c), -9) == level):
                    hit = np.char.startswith(ix._admin.pcodes, code)
                    if level < 0 or not hit.any():
                        raise ValueError(f"zone {spec.id}: {code!r} is not a pcode of {boundaries}")
                    mask |= hit
                mine.append((level, shapely.union_all(ix._admin.geoms[mask])))
            if spec.polygon:
                mine.append((CUSTOM_LEVEL, polygons[i]))
            if spec.line:
                if spec.buffer_km is None:
                    raise ValueError(f"zone {spec.id}: a line needs buffer_km")
                mine.append((CUSTOM_LEVEL, _buffer_line(spec.line, spec.buffer_km)))
            if not mine:
                raise ValueError(f"zone {spec.id}: no pcodes, polygon or line")
            pieces += [(i, OVERLAY_LEVEL if spec.overlay else lvl, g) for lvl, g in mine]
            ix._row_geoms.append(shapely.union_all([g for _, g in mine]) if len(mine) > 1
                                   else mine[0][1])
        rows = [r for r, _, _ in pieces]
        ix._piece_row = np.array(rows, dtype=np.int64)
        ix._piece_level = np.array([lvl for _, lvl, _ in pieces], dtype=np.int64)
        ix._piece_from = np.array([_to_us(specs[r].valid_from, ix._tz, False) for r in rows])
        ix._piece_to = np.array([_to_us(specs[r].valid_to, ix._tz, True) for r in rows])
        geoms = np.empty(len(pieces), dtype=object)
        geoms[:] = [g for _, _, g in pieces]
        ix._items = np.concatenate([geoms, ix._admin.geoms])
        shapely.prepare(ix._items)
        ix._n_pieces = len(pieces)
        ix._tree = shapely.STRtree(ix._items)  # built once, queried once per resolve_many
        ix._row_overlay = [s.overlay for s in specs]
        return ix

    def _set_split_places(self, places: tuple[SplitPlace, ...], tz: ZoneInfo) -> None:
        self._split = places
        self._split_from = [_to_us(p.valid_from, tz, False) for p in places]
        self._split_to = [_to_us(p.valid_to, tz, True) for p in places]
        self._split_by_key: dict[str, int] = {}  # place_key(name) -> index in places
        for i, place in enumerate(places):
            for name in place.names:
                other = self._split_by_key.setdefault(place_key(name), i)
                if other != i:
                    raise ValueError(f"split place {place.id}: name {name!r} is also a name of "
                                     f"{places[other].id}")
        self._split_of_name: dict[str, int] = {}  # location name as written -> index or -1
        self._split_cache: dict[tuple[int, tuple[int, ...]],
                                tuple[tuple[str, ...], tuple[str, ...], str]] = {}

    @property
    def split_places(self) -> tuple[SplitPlace, ...]:
        """The split places (ZONES.md), for display: a report naming only one of these cities
        resolves to all its kinds."""
        return self._split

    def admin_name(self, pcode: str | None) -> str | None:
        """The English name of an OCHA governorate, district or sub-district pcode."""
        return self._admin.names.get(pcode) if pcode else None

    @property
    def provenance(self) -> str:
        """Where the delineation comes from; it always says the delineation is approximate."""
        return self._provenance or "Zone delineation of unknown origin: all of it is approximate."

    def geometry(self, zone_id: str) -> shapely.Geometry:
        """The shapely geometry (lon/lat, WGS84) of one zone row, e.g. for a map."""
        if zone_id not in self._by_id:
            raise KeyError(f"no zone {zone_id!r}. {did_you_mean(zone_id, self._by_id)}".strip())
        return self._row_geoms[self._by_id[zone_id]]

    def describe(self) -> list[dict[str, Any]]:
        """One row per zone row: id, area, kind, pcodes, validity, approximate km², source."""
        out = []
        for spec, geom in zip(self.specs, self._row_geoms):
            levels = [LEVEL_NAMES[PCODE_LEVELS.get(len(p), 3)] for p in spec.pcodes]
            levels += ["polygon"] * bool(spec.polygon) + ["line"] * bool(spec.line)
            out.append({"id": spec.id, "area": spec.area, "kind": spec.kind,
                        "pcodes": list(spec.pcodes), "valid_from": spec.valid_from,
                        "valid_to": spec.valid_to, "area_km2": round(_approx_km2(geom), 1),
                        "source": spec.source, "level": ", ".join(dict.fromkeys(levels)),
                        "overlay": spec.overlay})
        return out

    def resolve(self, lon: float | None, lat: float | None, precision: int,
                start: dt.datetime, end: dt.datetime, place: str | None = None) -> ZoneMatch:
        """The zones containing (lon, lat) at any time in [start, end) (aware datetimes).
        ``place`` is the report's location name (split places: see :meth:`resolve_many`)."""
        return self.resolve_many([(lon, lat, precision, start, end)], places=[place])[0]

    def resolve_many(self, points: Sequence[tuple[float | None, float | None, int, dt.datetime,
                                                  dt.datetime]],
                     places: Sequence[str | None] | None = None) -> list[ZoneMatch]:
        """Resolve many (lon, lat, precision, start, end) at once: one index query for all.
        A window covers [start, end) (aware datetimes); start == end is the instant start.

        ``places``, parallel to ``points``, are the reports' location names (None: no name).
        A point whose name is a split place's (:func:`place_key`), valid during its window, at
        a settlement's precision (finer than the pack's coarse threshold), resolves to every
        kind of the split place plus the overlay rows containing the point, with ``split`` set
        (TERMS.md §3). Without ``places`` no point is a split place."""
        if places is not None and len(places) != len(points):
            raise ValueError(f"places has {len(places)} names for {len(points)} points")
        n, seen = len(points), {}  # seen: datetime -> microseconds (imports share windows)
        lon, lat = np.full(n, np.nan), np.full(n, np.nan)
        prec, t0, t1 = (np.zeros(n, dtype=np.int64) for _ in range(3))
        for i, (x, y, p, start, end) in enumerate(points):
            if x is not None and y is not None:
                lon[i], lat[i] = x, y
            prec[i] = p
            a = seen[start] if start in seen else seen.setdefault(start, _window_us(start, "start"))
            b = seen[end] if end in seen else seen.setdefault(end, _window_us(end, "end"))
            if b < a:
                raise ValueError(f"window end {end} is before its start {start}")
            t0[i], t1[i] = a, max(b, a + 1)
        # TERMS.md §3: no location, or one coarser than a settlement, resolves to no zone.
        usable = np.isfinite(lon) & np.isfinite(lat) & (prec < self._coarse)
        idx = np.flatnonzero(usable)
        qi, ti = self._tree.query(shapely.points(lon[idx], lat[idx]))  # bounding boxes
        pt = idx[qi]
        # exact test, one vectorised call over every (tree geometry, point) candidate pair;
        # the geometries are prepared, so each pair costs what tree.query's predicate would
        hit = shapely.intersects_xy(self._items[ti], lon[pt], lat[pt])
        pt, ti = pt[hit], ti[hit]
        is_piece = ti < self._n_pieces
        n_admin = len(self._admin.labels)
        admin = np.full(n, n_admin, dtype=np.int64)  # n_admin = in no sub-district of Syria
        np.minimum.at(admin, pt[~is_piece], ti[~is_piece] - self._n_pieces)
        zp, zt = pt[is_piece], ti[is_piece]
        live = (self._piece_from[zt] < t1[zp]) & (t0[zp] < self._piece_to[zt])  # overlaps
        zp, zt = zp[live], zt[live]
        # ZONES.md: only the most specific level present applies; overlays are always kept.
        level = self._piece_level[zt]
        best = np.full(n, OVERLAY_LEVEL, dtype=np.int64)
        np.maximum.at(best, zp, level)
        keep = (level == OVERLAY_LEVEL) | (level == best[zp])
        # each point's rows, sorted and without repeats: one sort of (point, row) keys
        n_rows = max(len(self.specs), 1)
        keys = np.sort(zp[keep] * n_rows + self._piece_row[zt[keep]])
        keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys
        key_point = keys // n_rows
        rows_flat = (keys - key_point * n_rows).tolist()
        bounds = np.searchsorted(key_point, np.arange(n + 1)).tolist()
        split = (self._split_points(places, usable, t0, t1)
                 if places is not None and self._split else {})
        named = places if places is not None else ()
        out = []
        for i, ok, x, y, a in zip(range(n), usable.tolist(), lon.tolist(), lat.tolist(),
                                  admin.tolist()):
            if not ok:
                why = (f"location precision {points[i][2]} is coarser than a settlement"
                       if math.isfinite(x + y) else "no location (longitude/latitude missing)")
                out.append(ZoneMatch((), (), False, f"{why}: no zone (TERMS.md §3)"))
                continue
            where = f"{abs(y):.3f}{'N' if y >= 0 else 'S'} {abs(x):.3f}{'E' if x >= 0 else 'W'}"
            label = self._admin.labels[a] if a < n_admin else "outside Syria's sub-districts"
            adm3 = str(self._admin.pcodes[a]) if a < n_admin else None
            gov = self._admin.names.get(adm3[:4]) if adm3 else None
            if i in split:
                rows = tuple(rows_flat[bounds[i]:bounds[i + 1]])
                kinds, ids, text = self._describe_split(split[i], rows)
                out.append(ZoneMatch(kinds, ids, True, f"{where}, named {named[i]!r}, {text}; "
                                     f"{label}", adm3, gov, self._split[split[i]].id))
                continue
            if bounds[i] < bounds[i + 1]:
                kinds, ids, text = self._describe_rows(tuple(rows_flat[bounds[i]:bounds[i + 1]]))
                out.append(ZoneMatch(kinds, ids, True, f"{where} in {text}; {label})", adm3, gov))
                continue
            out.append(ZoneMatch((), (), False, f"{where} is in Syria ({label}) but unclassified: "
                                 "no zone row covers it in this window, so zone-based terms "
                                 "record nothing (ZONES.md)" if a < n_admin else
                                 f"{where} is outside every zone and outside Syria: no zone",
                                 adm3, gov))
        return out

    def _split_points(self, places: Sequence[str | None], usable: np.ndarray, t0: np.ndarray,
                      t1: np.ndarray) -> dict[int, int]:
        """Point -> split place, for the points that name only a split city at a settlement's
        precision during the place's validity. One dict lookup per point, by the name as
        written (its :func:`place_key` is computed once per distinct name)."""
        memo, by_key = self._split_of_name, self._split_by_key
        out = {}
        for i, name in enumerate(places):
            if not isinstance(name, str):
                continue  # no name (None, or a missing value from a data frame)
            s = memo.get(name)
            if s is None:
                if len(memo) >= _DESCRIBED_MAX:  # bounded: free text names are endless
                    memo.clear()
                s = memo[name] = by_key.get(place_key(name), -1)
            if s >= 0 and usable[i] and self._split_from[s] < t1[i] and t0[i] < self._split_to[s]:
                out[i] = s
        return out

    def _describe_split(self, s: int, rows: tuple[int, ...]
                        ) -> tuple[tuple[str, ...], tuple[str, ...], str]:
        """Kinds (the split place's, then the overlays' kinds, then their groups), ids (the
        overlay rows) and note text for a point naming split place ``s`` and lying in ``rows``."""
        overlays = tuple(r for r in rows if self._row_overlay[r])
        cached = self._split_cache.get((s, overlays))
        if cached is None:
            if len(self._split_cache) >= _DESCRIBED_MAX:
                self._split_cache.clear()
            place = self._split[s]
            ids = tuple([self._row_ids[r] for r in overlays])
            kinds = tuple(dict.fromkeys([*place.kinds, *(self._row_kinds[r] for r in overlays)]))
            text = (f"is {place.place} (split place {place.id}: {' and '.join(place.kinds)}; the "
                    "report names only the city, so every kind applies, TERMS.md §3) — ZONES.md "
                    "approximation")
            if ids:
                text += (f"; also in zone{'s' if len(ids) > 1 else ''} {', '.join(ids)} "
                         f"({', '.join(self._row_kinds[r] for r in overlays)})")
            cached = self._split_cache[(s, overlays)] = (kinds + self._groups_of(kinds), ids,
                                                         text)
        return cached

    def _groups_of(self, kinds: tuple[str, ...]) -> tuple[str, ...]:
        """The zone groups (TERMS.md §3) any of ``kinds`` falls in, in the pack's order."""
        return tuple(g for g, members in self._groups.items() if not members.isdisjoint(kinds))

    def _describe_rows(self, rows: tuple[int, ...]) -> tuple[tuple[str, ...], tuple[str, ...], str]:
        """Kinds (then the groups they fall in, TERMS.md §3), ids and note text for some rows."""
        cached = self._cache.get(rows)
        if cached is None:
            if len(self._cache) >= _DESCRIBED_MAX:  # bounded: a daemon sees endless combinations
                self._cache.clear()
            ids = tuple([self._row_ids[r] for r in rows])
            kinds = tuple(dict.fromkeys([self._row_kinds[r] for r in rows]))
            text = f"zone{'s' if len(ids) > 1 else ''} {', '.join(ids)} ({', '.join(kinds)}"
            cached = self._cache[rows] = (kinds + self._groups_of(kinds), ids, text)
        return cached


def load_zones(path: Path, kinds: set[str], boundaries: Path, file_label: str | None = None,
               tz: str = "Asia/Damascus") -> tuple[ZoneRows, str, list[Problem]]:
    """Read and check a zones file (``provenance:`` + ``zones:``, optionally ``split_places:``),
    reporting every problem at once: invalid rows, unknown kinds and pcodes (with a hint),
    duplicate ids, rows without an area, bad polygon rings, empty validity; the same for split
    places, and a name given to two of them. Returns (specs, provenance, problems); specs is a
    :class:`ZoneRows` carrying the split places. Use the specs only when problems is empty."""
    file = file_label or str(path)
    data, problems = read_yaml(Path(path))
    if problems:
        return ZoneRows(), "", problems
    if not isinstance(data, dict):
        return ZoneRows(), "", [Problem(file, "", "must be a mapping with keys 'provenance' and "
                                        "'zones' (and optionally 'split_places')")]
    problems += [Problem(file, str(k), "is not a known key", did_you_mean(k, _TOP_KEYS))
                 for k in data if k not in _TOP_KEYS]
    provenance = data.get("provenance")
    if not isinstance(provenance, str) or not provenance.strip():
        problems.append(Problem(file, "provenance", "is required: say where the delineation "
                                "comes from and that it is approximate (ZONES.md)"))
        provenance = ""
    rows = data.get("zones")
    if not isinstance(rows, list) or not rows:
        return ZoneRows(), provenance, problems + [Problem(file, "zones",
                                                           "must be a non-empty list")]
    try:
        admin: _Admin | None = _read_boundaries(Path(boundaries))
    except ValueError as exc:
        admin = None
        problems.append(Problem(str(boundaries), "", str(exc)))
    zone_tz = ZoneInfo(tz)
    specs: list[ZoneSpec] = []
    first_row: dict[str, int] = {}
    # rows' problems in row order; a valid row's shape checks wait for one batched test of
    # every row's shape (a list entry (key, spec) stands for them)
    found: list[Problem | tuple[str, ZoneSpec]] = []
    for i, row in enumerate(rows):
        key = f"zones[{i}]"
        if not isinstance(row, dict):
            found.append(Problem(file, key, "must be a mapping (id, area, kind, ...)"))
            continue
        if isinstance(row.get("id"), str) and row["id"] in first_row:
            found.append(Problem(file, f"{key}.id", f"{row['id']!r} is a duplicate id "
                                 f"(also zones[{first_row[row['id']]}]); ids must be unique"))
        first_row.setdefault(str(row.get("id")), i)
        try:
            spec = ZoneSpec.model_validate(row)
        except ValidationError as exc:
            raw_kind, raw_pcodes = row.get("kind"), row.get("pcodes")
            extra = _check_kind(file, key, raw_kind, kinds) if isinstance(raw_kind, str) else []
            if isinstance(raw_pcodes, list) and admin is not None:  # better than "pattern"
                extra += _check_pcodes(file, key, raw_pcodes, admin, Path(boundaries).name)
            ours = {p.key for p in extra}
            found += [p for p in from_validation(file, exc, key) if p.key not in ours] + extra
            continue
        specs.append(spec)
        found += _check_kind(file, key, spec.kind, kinds)
        if admin is not None:
            found += _check_pcodes(file, key, spec.pcodes, admin, Path(boundaries).name)
        found.append((key, spec))
    outside, valid = _shape_facts(specs, admin)
    for item in found:
        if isinstance(item, Problem):
            problems.append(item)
            continue
        key, spec = item
        problems += _check_shape(file, key, spec, admin, outside.get(id(spec)),
                                 valid.get(id(spec)))
        problems += _check_validity(file, key, spec, zone_tz)
    places, errs = _load_split_places(file, data.get("split_places"), kinds, admin, zone_tz)
    return ZoneRows(specs, places), provenance, problems + errs


def _load_split_places(file: str, rows: Any, kinds: set[str], admin: _Admin | None,
                       tz: ZoneInfo) -> tuple[list[SplitPlace], list[Problem]]:
    """Check the ``split_places:`` section: each entry a valid :class:`SplitPlace` whose kinds
    are zone kinds, whose id and names are its own, whose point is in the boundaries."""
    if rows is None:
        return [], []
    if not isinstance(rows, list):
        return [], [Problem(file, "split_places", "must be a list of places (id, place, names, "
                            "point, kinds, valid_from, valid_to, source)")]
    places: list[SplitPlace] = []
    keys: list[str] = []
    problems: list[Problem] = []
    first_row: dict[str, int] = {}
    owner: dict[str, int] = {}  # place_key(name) -> the entry that first gave it
    for i, row in enumerate(rows):
        key = f"split_places[{i}]"
        if not isinstance(row, dict):
            problems.append(Problem(file, key, "must be a mapping (id, place, names, point, "
                                    "kinds, ...)"))
            continue
        if isinstance(row.get("id"), str) and row["id"] in first_row:
            problems.append(Problem(file, f"{key}.id", f"{row['id']!r} is a duplicate id (also "
                                    f"split_places[{first_row[row['id']]}]); ids must be unique"))
        first_row.setdefault(str(row.get("id")), i)
        raw_kinds = row.get("kinds")
        found = _check_split_kinds(file, key, raw_kinds, kinds) if isinstance(raw_kinds, list) \
            else []
        try:
            place = SplitPlace.model_validate(row)
        except ValidationError as exc:
            ours = {p.key for p in found}
            problems += [p for p in from_validation(file, exc, key) if p.key not in ours] + found
            continue
        problems += found
        for j, name in enumerate(place.names):
            name_key = place_key(name)
            if not name_key:
                problems.append(Problem(file, f"{key}.names[{j}]", f"{name!r} has no letters "
                                        "left once normalised; give the place's name"))
            elif owner.setdefault(name_key, i) != i:
                k = owner[name_key]
                problems.append(Problem(file, f"{key}.names[{j}]", f"{name!r} is also a name of "
                                        f"split_places[{k}] ({rows[k].get('id')}): a name may mean "
                                        "one place only"))
        problems += _check_validity(file, key, place, tz)
        places.append(place)
        keys.append(key)
    if places and admin is not None:  # a reference point outside Syria: lat and lon swapped?
        inside = np.zeros(len(places), dtype=bool)
        xy = shapely.points([p.point.lon for p in places], [p.point.lat for p in places])
        inside[admin.tree.query(xy, predicate="intersects")[0]] = True
        problems += [Problem(file, f"{key}.point", f"({place.point.lat}, {place.point.lon}) "
                             "lies outside the boundaries (Syria)", "Are lat and lon swapped?")
                     for key, place, ok in zip(keys, places, inside.tolist()) if not ok]
    return places, problems


def _check_split_kinds(file: str, key: str, raw: list[Any], kinds: set[str]) -> list[Problem]:
    out = []
    for j, kind in enumerate(raw):
        if not isinstance(kind, str):
            continue  # reported by the model
        if kind not in kinds:
            out.append(Problem(file, f"{key}.kinds[{j}]", f"{kind!r} is not a zone kind.",
                               did_you_mean(kind, kinds)))
        elif kind in raw[:j]:
            out.append(Problem(file, f"{key}.kinds[{j}]", f"{kind!r} is listed twice"))
    return out


def _shape_facts(specs: list[ZoneSpec], admin: _Admin | None
                 ) -> tuple[dict[int, bool], dict[int, bool]]:
    """For every row at once (keyed by ``id(spec)``): whether the convex hull of its polygon
    and line points misses every sub-district (swapped lon/lat), and whether its polygon ring
    is a valid polygon. Rows :func:`_check_shape` would not test are left out."""
    outside: dict[int, bool] = {}
    valid: dict[int, bool] = {}
    hull_of: list[int] = []
    points: list[Any] = []
    for spec in specs:
        coords = list(spec.polygon or []) + list(spec.line or [])
        if coords and all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in coords):
            hull_of.append(id(spec))
            points.append(coords)
    if points and admin is not None:
        counts = np.array([len(c) for c in points])
        flat = np.array([xy for c in points for xy in c], dtype=float)
        hulls = shapely.convex_hull(shapely.multipoints(flat, indices=np.repeat(
            np.arange(len(points)), counts)))
        hit = np.zeros(len(points), dtype=bool)
        hit[admin.tree.query(hulls, predicate="intersects")[0]] = True
        outside = dict(zip(hull_of, (~hit).tolist()))
    rings = [(id(s), s.polygon) for s in specs if s.polygon is not None and len(s.polygon) >= 4
             and tuple(s.polygon[0]) == tuple(s.polygon[-1])]
    if rings:
        counts = np.array([len(r) for _, r in rings])
        flat = np.array([xy for _, r in rings for xy in r], dtype=float)
        polygons = shapely.polygons(shapely.linearrings(flat, indices=np.repeat(
            np.arange(len(rings)), counts)))
        valid = dict(zip([k for k, _ in rings], shapely.is_valid(polygons).tolist()))
    return outside, valid


def _check_kind(file: str, key: str, kind: str, kinds: set[str]) -> list[Problem]:
    if kind in kinds:
        return []
    hint = did_you_mean(kind, kinds)
    return [Problem(file, f"{key}.kind", f"{kind!r} is not a zone kind.", hint)]


def _check_pcodes(file: str, key: str, pcodes: list[Any], admin: _Admin,
                  source: str) -> list[Problem]:
    """Every pcode must be a governorate, district or sub-district pcode of the boundaries."""
    out = []
    for j, code in enumerate(pcodes):
        if not isinstance(code, str) or code in admin.names:
            continue  # non-strings are reported by the model
        code_s = code.strip().upper()
        same = [c for c in admin.names if len(c) == len(code_s)]
        if code_s.endswith("XX") and len(code_s) in (6, 8):  # "SY06xx" as written in ZONES.md
            hint = f"For the whole area write {code_s[:-2]!r}."
        elif not same:
            hint = "Use SYnn (governorate), SYnnnn (district) or SYnnnnnn (sub-district)."
        else:  # the pcodes sharing the longest prefix with it, named
            k = max(len(os.path.commonprefix([code_s, c])) for c in same)
            near = sorted(c for c in same if c.startswith(code_s[:k]))
            hint = (did_you_mean(code_s, near) if len(near) > 6 else "Did you mean one of: "
                    + ", ".join(f"{c!r} ({admin.names[c]})" for c in near) + "?")
        out.append(Problem(file, f"{key}.pcodes[{j}]", f"{code!r} is not a pcode of {source}.",
                           hint))
    return out


def _check_shape(file: str, key: str, spec: ZoneSpec, admin: _Admin | None,
                 outside: bool | None = None, valid: bool | None = None) -> list[Problem]:
    """A row needs exactly one of pcodes, polygon, line; rings closed; lines buffered.
    ``outside`` and ``valid`` are :func:`_shape_facts`' answers for the row, when known."""
    given = [name for name in ("pcodes", "polygon", "line") if getattr(spec, name)]
    if not given:
        return [Problem(file, key, "has neither pcodes, polygon nor line: give one so the zone "
                        "has an area")]
    out = []
    if len(given) > 1:
        out.append(Problem(file, key, f"gives {' and '.join(given)}: give one (split the row)"))
    coords = list(spec.polygon or []) + list(spec.line or [])
    if any(not (-180 <= x <= 180 and -90 <= y <= 90) for x, y in coords):
        out.append(Problem(file, key, "has a coordinate out of range: write (longitude, latitude)"))
    elif coords and admin is not None:
        if outside is None:
            shape = shapely.MultiPoint(coords).convex_hull  # enough to catch swapped lon/lat
            outside = not shapely.intersects(admin.geoms, shape).any()
        if outside:
            out.append(Problem(file, key, "lies entirely outside the boundaries (Syria)",
                               "Are the pairs (longitude, latitude)?"))
    ring = spec.polygon
    if ring is not None:
        if len(ring) < 4:
            out.append(Problem(file, f"{key}.polygon", f"has {len(ring)} points: a closed ring "
                               "needs at least 4 (the last repeating the first)"))
        elif tuple(ring[0]) != tuple(ring[-1]):
            out.append(Problem(file, f"{key}.polygon", f"is not closed: the last point "
                               f"{tuple(ring[-1])} must repeat the first {tuple(ring[0])}"))
        elif not (valid if valid is not None else shapely.Polygon(ring).is_valid):
            reason = shapely.is_valid_reason(shapely.Polygon(ring))
            out.append(Problem(file, f"{key}.polygon", f"is not a valid polygon: {reason}"))
    if spec.line is not None:
        if len(spec.line) < 2:
            out.append(Problem(file, f"{key}.line", "needs at least 2 points"))
        if spec.buffer_km is None:
            out.append(Problem(file, f"{key}.buffer_km", "is required for a line (km each side)"))
    elif spec.buffer_km is not None:
        out.append(Problem(file, f"{key}.buffer_km", "applies only to a line; remove it"))
    return out


def _check_validity(file: str, key: str, spec: ZoneSpec | SplitPlace,
                    tz: ZoneInfo) -> list[Problem]:
    out = []
    for name in ("valid_from", "valid_to"):
        value = getattr(spec, name)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            out.append(Problem(file, f"{key}.{name}", f"{value.isoformat()} has no UTC offset",
                               "Add one (e.g. '+03:00') or give the date alone."))
    if not out and _to_us(spec.valid_from, tz, False) >= _to_us(spec.valid_to, tz, True):
        out.append(Problem(file, f"{key}.valid_from", f"{spec.valid_from} is after valid_to "
                           f"{spec.valid_to}: the row would never apply"))
    return out
