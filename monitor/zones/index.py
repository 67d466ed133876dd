"""The zone index: which zones a point lies in at an event's time, and what is known of each
zone row (:class:`ZoneIndex`). See :mod:`monitor.zones`."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from pydantic import Field

# the actor registry's name key (case, accents, apostrophes, hyphens, spaces): place names are
# transliterated the same way ("Deir ez-Zor", "Deir ez Zor", "Dayr az-Zawr")
from monitor import geo
from monitor.actors import name_key as _name_key
from monitor.models import FileModel, Name, ZoneSpec
from monitor.problems import did_you_mean
from monitor.zones import cache

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
# how geometries are made (this module's source) is part of every cache key (.cache)
_CODE = Path(__file__).read_bytes()
_GEOMETRY_FIELDS = {"pcodes", "polygon", "line", "buffer_km", "overlay"}  # of a zone row
# what a sub-district's properties give the index (all the cache keeps of them)
_ADMIN_KEYS = ("adm0_name", "adm1_pcode", "adm1_name", "adm2_pcode", "adm2_name", "adm3_pcode",
               "adm3_name")


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
    country: str = ""  # adm0_name of the file
    digest: str = ""  # the file's SHA-256 (the zone rows' cache entries are keyed by it)


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
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"is not an OCHA sub-district (adm3) GeoJSON: {exc!r}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    entry = cache.key("boundaries", digest, _CODE)
    found = cache.load(entry)
    if found is not None:  # this very file, read before: its polygons and what names them
        meta, blobs = found
        with contextlib.suppress(KeyError, TypeError, ValueError, shapely.errors.GEOSException):
            return _admin(meta["properties"], shapely.from_wkb(blobs), digest)
    try:
        text = raw.decode("utf-8")
        features = json.loads(text)["features"]
        props = [f["properties"] for f in features]
        if any("adm3_pcode" not in p for p in props):  # (not a mapping: TypeError)
            raise KeyError("adm3_pcode")
        geoms = _geometries(text, features)
    except (ValueError, KeyError, TypeError, shapely.errors.GEOSException) as exc:
        raise ValueError(f"is not an OCHA sub-district (adm3) GeoJSON: {exc!r}") from exc
    admin = _admin(props, geoms, digest)
    cache.save(entry, {"properties": [{k: p[k] for k in _ADMIN_KEYS if k in p} for p in props]},
               cache.wkb(geoms))
    return admin


def _admin(props: list[dict[str, Any]], geoms: np.ndarray, digest: str) -> _Admin:
    """The sub-districts of a boundaries file from their properties and polygons."""
    pcodes = [p["adm3_pcode"] for p in props]
    names = {p[f"{lv}_pcode"]: p.get(f"{lv}_name", "") for p in props for lv in ("adm1", "adm2")}
    names.update((p["adm3_pcode"], p.get("adm3_name", "")) for p in props)
    labels = [f"{p.get('adm1_name')} governorate, {p.get('adm2_name')} district {p['adm2_pcode']}, "
              f"{p.get('adm3_name')} sub-district {p['adm3_pcode']}" for p in props]
    shapely.prepare(geoms)
    country = next((str(p["adm0_name"]) for p in props if p.get("adm0_name")), "")
    return _Admin(np.array(pcodes), geoms, tuple(labels), names, shapely.STRtree(geoms), country,
                  digest)


def _geometries(text: str, features: list[dict[str, Any]]) -> np.ndarray:
    """The geometries of a FeatureCollection's ``features``, in order: GEOS reads the whole
    text at once (0.07 s for the 272 sub-districts, against 0.16 s when each geometry was
    written back to JSON and read alone), and each alone where that does not give one a
    feature."""
    collection = shapely.from_geojson(text)
    count = shapely.get_num_geometries(collection)
    if collection.geom_type == "GeometryCollection" and count == len(features):
        return shapely.get_geometry(collection, np.arange(count))
    return shapely.from_geojson([json.dumps(f["geometry"]) for f in features])


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
              split_places: Sequence[SplitPlace] | None = None,
              country: str | None = None) -> ZoneIndex:
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
        # what notes call the area the boundaries cover ("Syria"): the pack's, else the file's
        ix._country = country or ix._admin.country or "the boundaries"
        ix._coarse, ix._provenance = coarse_precision, provenance
        ix._by_id = {s.id: i for i, s in enumerate(specs)}
        ix._row_ids, ix._row_kinds = [s.id for s in specs], [s.kind for s in specs]
        ix._cache: dict[tuple[int, ...], tuple[tuple[str, ...], tuple[str, ...], str]] = {}
        entry = cache.key("zones", ix._admin.digest, _CODE, json.dumps(
            [s.model_dump(mode="json", include=_GEOMETRY_FIELDS) for s in specs]))
        found = cache.load(entry)
        pieces = ix._rows_from(found, len(specs)) if found is not None else None
        if pieces is None:  # not made before, or its entry does not hold them
            pieces = ix._make_rows(specs, boundaries)
            cache.save(entry, {"pieces": [[r, lvl] for r, lvl, _ in pieces]},
                       cache.wkb([*ix._row_geoms, *(g for _, _, g in pieces)]))
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

    def _rows_from(self, found: tuple[dict[str, Any], list[bytes]], rows: int
                   ) -> list[tuple[int, int, shapely.Geometry]] | None:
        """The rows' geometries (``_row_geoms``) and pieces from a cache entry, or None if it
        does not hold them."""
        try:
            meta, blobs = found
            made = shapely.from_wkb(blobs)
            pieces = [(int(r), int(lvl), g) for (r, lvl), g in zip(meta["pieces"], made[rows:],
                                                                  strict=True)]
        except (KeyError, TypeError, ValueError, shapely.errors.GEOSException):
            return None
        self._row_geoms = list(made[:rows])
        return pieces

    def _make_rows(self, specs: Sequence[ZoneSpec], boundaries: Path
                   ) -> list[tuple[int, int, shapely.Geometry]]:
        """Each row's geometry (``_row_geoms``) and its pieces, (row, level, geometry): the
        unions of sub-districts per pcode level, the polygons, the buffered lines."""
        pieces: list[tuple[int, int, shapely.Geometry]] = []  # (row, level, geometry)
        polygons = _polygons(list(specs))
        self._row_geoms = []
        for i, spec in enumerate(specs):
            mine: list[tuple[int, shapely.Geometry]] = []
            for level in sorted({PCODE_LEVELS.get(len(c), -9) for c in spec.pcodes}):
                mask = np.zeros(len(self._admin.pcodes), dtype=bool)
                for code in (c for c in spec.pcodes if PCODE_LEVELS.get(len(c), -9) == level):
                    hit = np.char.startswith(self._admin.pcodes, code)
                    if level < 0 or not hit.any():
                        raise ValueError(f"zone {spec.id}: {code!r} is not a pcode of {boundaries}")
                    mask |= hit
                mine.append((level, shapely.union_all(self._admin.geoms[mask])))
            if spec.polygon:
                mine.append((CUSTOM_LEVEL, polygons[i]))
            if spec.line and spec.buffer_km is not None:
                mine.append((CUSTOM_LEVEL, _buffer_line(spec.line, spec.buffer_km)))
            elif spec.line:
                # a line without width (a contact line) contains no point: it is measured from
                # (distance_km), never a containment piece
                self._row_geoms.append(shapely.LineString(spec.line))
                continue
            if not mine:
                raise ValueError(f"zone {spec.id}: no pcodes, polygon or line")
            pieces += [(i, OVERLAY_LEVEL if spec.overlay else lvl, g) for lvl, g in mine]
            self._row_geoms.append(shapely.union_all([g for _, g in mine]) if len(mine) > 1
                                   else mine[0][1])
        return pieces

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
            label = self._admin.labels[a] if a < n_admin else f"outside {self._country}'s sub-districts"
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
            out.append(ZoneMatch((), (), False, f"{where} is in {self._country} ({label}) but unclassified: "
                                 "no zone row covers it in this window, so zone-based terms "
                                 "record nothing (ZONES.md)" if a < n_admin else
                                 f"{where} is outside every zone and outside {self._country}: no zone",
                                 adm3, gov))
        return out

    def responsible(self, zone_ids: Sequence[str]) -> list[str]:
        """The sides answerable for these zone rows (their ``responsible``), in row order."""
        return list(dict.fromkeys(side for z in zone_ids if z in self._by_id
                                  for side in self.specs[self._by_id[z]].responsible))

    def distances_km(self, lon: float, lat: float, start: dt.datetime, end: dt.datetime,
                     kinds: Sequence[str]) -> dict[str, float]:
        """For each zone kind (or zone group) in ``kinds``: the distance in km from (lon, lat)
        to the nearest row of that kind valid during [start, end) — 0 inside a zone, to the
        line itself for a line — in a local equirectangular plane around the point (the error
        is well under 1% within a few hundred km). A kind with no row valid then is left out."""
        t0, t1 = _window_us(start, "start"), max(_window_us(end, "end"),
                                                 _window_us(start, "start") + 1)
        scale = np.array([geo.KM_PER_DEGREE * math.cos(math.radians(lat)), geo.KM_PER_DEGREE])
        origin = np.array([lon, lat])
        out: dict[str, float] = {}
        for kind in kinds:
            members = self._groups.get(kind, frozenset((kind,)))
            best = math.inf
            for i, spec in enumerate(self.specs):
                if spec.kind not in members:
                    continue
                if not (_to_us(spec.valid_from, self._tz, False) < t1
                        and t0 < _to_us(spec.valid_to, self._tz, True)):
                    continue
                local = shapely.transform(self._row_geoms[i], lambda xy: (xy - origin) * scale)
                best = min(best, float(shapely.distance(local, shapely.Point(0, 0))))
            if math.isfinite(best):
                out[kind] = round(best, 3)
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
