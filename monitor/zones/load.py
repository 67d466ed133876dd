"""Reading and checking a pack's zones file (:func:`load_zones`): every problem at once, each
named by file and key, with a hint. See :mod:`monitor.zones`."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from pydantic import ValidationError

# the actor registry's name key (case, accents, apostrophes, hyphens, spaces): place names are
# transliterated the same way ("Deir ez-Zor", "Deir ez Zor", "Dayr az-Zawr")
from monitor.models import ZoneSpec
from monitor.problems import Problem, did_you_mean, from_validation, read_yaml

# Precedence levels (ZONES.md "Rules of the table"): higher = more specific = wins.
from monitor.zones.index import (
    _TOP_KEYS,
    SplitPlace,
    ZoneRows,
    _Admin,
    _read_boundaries,
    _to_us,
    place_key,
)


def load_zones(path: Path, kinds: set[str], boundaries: Path, file_label: str | None = None,
               tz: str = "Asia/Damascus", rename: Mapping[str, str | None] | None = None,
               sides: set[str] | None = None) -> tuple[ZoneRows, str, list[Problem]]:
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
    if rename and isinstance(rows, list):
        rows = [r if not (isinstance(r, dict) and isinstance(r.get("kind"), str)
                          and r["kind"] in rename)
                else {**r, "kind": rename[r["kind"]]} for r in rows]
        rows = [r for r in rows if not (isinstance(r, dict) and "kind" in r
                                        and r["kind"] is None)]
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
        found += [Problem(file, f"{key}.responsible[{j}]", f"{side!r} is not a side.",
                          did_you_mean(side, sides))
                  for j, side in enumerate(spec.responsible)
                  if sides is not None and side not in sides]
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
                             "lies outside the boundaries", "Are lat and lon swapped?")
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
            out.append(Problem(file, key, "lies entirely outside the boundaries",
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
        if spec.buffer_km is None and not spec.overlay:
            out.append(Problem(file, f"{key}.buffer_km", "is required for a band (km each "
                               "side); a line without width contains no point",
                               "Give buffer_km, or mark a line that rules only measure "
                               "distances to (distance_km) `overlay: true`."))
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
