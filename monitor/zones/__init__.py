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
polygons built in batched shapely calls (5,000 rows: ~8 s before, ~3 s after, mostly YAML). The
boundaries' polygons and the rows' geometries are kept on disk by content (:mod:`.cache`): the
default pack's zones load in ~0.02 s from it instead of ~0.28 s.

Split places (TERMS.md §3, ZONES.md "Split places"): a city divided between kinds (Aleppo, Daraa,
Deir ez-Zor, Damascus in 2016). A report that names only the city (its location name, compared by
:func:`place_key`, is one of the place's ``names``) at a settlement's precision resolves to every
kind of the place, whatever its point, plus the overlay rows containing the point. They are data:
the ``split_places:`` section of zones.yaml, checked by :func:`load_zones` and handed to
:meth:`ZoneIndex.build` with the rows (:class:`ZoneRows`).
"""

from __future__ import annotations

from monitor.zones.index import (
    LEVEL_NAMES,
    ReferencePoint,
    SplitPlace,
    ZoneIndex,
    ZoneMatch,
    ZoneRows,
    place_key,
)
from monitor.zones.load import (
    load_zones,
)

__all__ = [
    "LEVEL_NAMES",
    "ReferencePoint",
    "SplitPlace",
    "ZoneIndex",
    "ZoneMatch",
    "ZoneRows",
    "load_zones",
    "place_key",
]
