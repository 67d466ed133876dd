"""Zones (TERMS.md §3, ZONES.md) resolved with the real syria-2016 configuration.

Every coordinate below was checked against the OCHA sub-districts in
config/syria-2016/boundaries (the sub-district pcode each one falls in is asserted via the note).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import shapely
import yaml

from monitor.zones import ZoneIndex, ZoneMatch, load_zones

PACK = Path(__file__).resolve().parents[1] / "config" / "syria-2016"
BOUNDARIES = PACK / "boundaries" / "syr_admin3_subdistricts_ocha.geojson"
TZ = ZoneInfo("Asia/Damascus")


def day(iso: str) -> tuple[dt.datetime, dt.datetime]:
    """The whole day ``iso`` in Damascus time, as an aware [start, end) window."""
    start = dt.datetime.combine(dt.date.fromisoformat(iso), dt.time(), tzinfo=TZ)
    return start, start + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def pack() -> dict:
    return yaml.safe_load((PACK / "pack.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def loaded(pack: dict):
    return load_zones(PACK / "zones.yaml", set(pack["zone_kinds"]), BOUNDARIES)


@pytest.fixture(scope="module")
def index(pack: dict, loaded) -> ZoneIndex:
    specs, provenance, problems = loaded
    assert problems == []
    return ZoneIndex.build(specs, BOUNDARIES, pack["zone_groups"], pack["coarse_precision"],
                           tz=pack["timezone"], provenance=provenance)


# --- the shipped configuration -------------------------------------------------------------


def test_shipped_zones_have_no_problems_and_every_pcode_exists(loaded) -> None:
    specs, provenance, problems = loaded
    assert [str(p) for p in problems] == []
    assert len(specs) == 38  # 33 rows of ZONES.md (32 table rows + C), 5 extra for changes
    assert "approximat" in provenance.lower() and "ISW" in provenance


def test_boundaries_are_unchanged_copies() -> None:
    shared = PACK.parents[2] / "shared" / "data" / "boundaries"  # shared/ beside the repo
    if not shared.exists():
        pytest.skip("shared data not beside the project")
    for name in ("syr_admin3_subdistricts_ocha", "syr_admin1_governorates_ocha",
                 "syr_admin0_ocha"):
        copy = PACK / "boundaries" / f"{name}.geojson"
        assert copy.read_bytes() == (shared / f"{name}.geojson").read_bytes()


# --- resolving points ----------------------------------------------------------------------

CASES = [
    # (id, lat, lon, day, expected kinds, expected zone ids, sub-district the point lies in)
    ("kafr-nabl-idleb", 35.614, 36.562, "2016-08-10",
     ("nusra_concentrated", "designated_area"), ("idleb-districts",), "SY070203"),
    ("atareb-western-countryside", 36.136, 36.830, "2016-08-10",
     ("mixed", "designated_area"), ("aleppo-western-countryside",), "SY020001"),
    ("east-aleppo-polygon-E-overrides-jebel-saman", 36.200, 37.170, "2016-08-10",
     ("mixed", "designated_area"), ("aleppo-east-city",), "SY020000"),
    ("east-aleppo-after-22-dec-is-government", 36.200, 37.170, "2016-12-23",
     ("government",), ("aleppo-city",), "SY020000"),
    ("west-aleppo-city", 36.209, 37.130, "2016-08-10",
     ("government",), ("aleppo-city",), "SY020000"),
    ("manbij-before-capture-isil", 36.527, 37.955, "2016-08-01",
     ("isil",), ("aleppo-menbij-isil",), "SY020500"),
    ("manbij-after-capture-sdf", 36.527, 37.955, "2016-08-20",
     ("kurdish_sdf",), ("aleppo-menbij-sdf",), "SY020500"),
    ("darayya-before-evacuation", 33.459, 36.236, "2016-08-20",
     ("opposition",), ("darayya-opposition",), "SY030900"),
    ("darayya-last-opposition-day", 33.459, 36.236, "2016-08-26",
     ("opposition",), ("darayya-opposition",), "SY030900"),
    ("darayya-first-government-day", 33.459, 36.236, "2016-08-27",
     ("government",), ("darayya-government",), "SY030900"),
    ("darayya-after-evacuation", 33.459, 36.236, "2016-09-10",
     ("government",), ("darayya-government",), "SY030900"),
    ("castello-road-during-sep", 36.259, 37.105, "2016-09-14",
     ("government", "castello_dmz"), ("aleppo-city", "castello-dmz"), "SY020000"),
    ("castello-road-before-sep", 36.259, 37.105, "2016-09-05",
     ("government",), ("aleppo-city",), "SY020000"),
    ("deir-ez-zor-city", 35.336, 40.141, "2016-08-10", ("isil",), ("deir-ez-zor",), "SY090100"),
    ("daraa-city", 32.625, 36.106, "2016-08-10", ("opposition",), ("daraa",), "SY120000"),
    ("latakia-kansaba-subdistrict-overrides-governorate", 35.75, 36.15, "2016-08-10",
     ("mixed", "designated_area"), ("lattakia-north",), "SY060303"),
]


@pytest.mark.parametrize("lat, lon, iso, kinds, zone_ids, pcode",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_resolve(index: ZoneIndex, lat: float, lon: float, iso: str, kinds: tuple,
                 zone_ids: tuple, pcode: str) -> None:
    match = index.resolve(lon, lat, 1, *day(iso))
    assert match.kinds == kinds
    assert match.zone_ids == zone_ids
    assert match.resolved
    assert f"sub-district {pcode}" in match.note  # the point really is in that sub-district
    assert zone_ids[0] in match.note


def test_note_names_point_zone_kind_and_district(index: ZoneIndex) -> None:
    note = index.resolve(36.562, 35.614, 1, *day("2016-08-10")).note
    assert note.startswith("35.614N 36.562E in zone idleb-districts (nusra_concentrated; ")
    assert "Idleb governorate, Al Ma'ra district SY0702" in note


def test_window_across_a_change_of_control_returns_both_kinds(index: ZoneIndex) -> None:
    start = dt.datetime(2016, 8, 12, 12, tzinfo=TZ)  # Menbij: isil to 12 Aug, SDF from 13 Aug
    match = index.resolve(37.955, 36.527, 1, start, start + dt.timedelta(days=1))
    assert match.kinds == ("isil", "kurdish_sdf")
    assert match.zone_ids == ("aleppo-menbij-isil", "aleppo-menbij-sdf")


@pytest.mark.parametrize("start, end, inside", [
    ("2016-09-12T18:00+03:00", "2016-09-12T19:00+03:00", False),  # ends as Day D begins
    ("2016-09-12T19:00+03:00", "2016-09-12T19:00+03:00", True),  # the instant of Day D
    ("2016-09-19T18:59+03:00", "2016-09-19T19:30+03:00", True),
    ("2016-09-19T19:00+03:00", "2016-09-19T20:00+03:00", False),  # valid_to is exclusive
    ("2016-09-12T16:30+00:00", "2016-09-12T17:00+00:00", True),  # 19:30 Damascus, in UTC
], ids=["before-day-d", "day-d-instant", "last-minute", "after-collapse", "utc-window"])
def test_castello_corridor_time_edges(index: ZoneIndex, start: str, end: str,
                                      inside: bool) -> None:
    match = index.resolve(37.105, 36.259, 1, dt.datetime.fromisoformat(start),
                          dt.datetime.fromisoformat(end))
    assert ("castello_dmz" in match.kinds) is inside


@pytest.mark.parametrize("offset_km, inside", [(3.0, True), (4.0, False)],
                         ids=["3km-from-road", "4km-from-road"])
def test_castello_corridor_is_3_5_km_wide_each_side(index: ZoneIndex, offset_km: float,
                                                    inside: bool) -> None:
    (x0, y0), (x1, y1) = (37.1293, 36.2387), (37.0800, 36.2800)
    km_lon = 111.195 * math.cos(math.radians((y0 + y1) / 2))
    dx, dy = (x1 - x0) * km_lon, (y1 - y0) * 111.195
    length = math.hypot(dx, dy)
    # perpendicular to the road at its midpoint, towards the south-west
    px = (x0 + x1) / 2 - dy / length * offset_km / km_lon
    py = (y0 + y1) / 2 + dx / length * offset_km / 111.195
    match = index.resolve(px, py, 1, *day("2016-09-14"))
    assert ("castello_dmz" in match.kinds) is inside


@pytest.mark.parametrize("lon, lat, precision, expected", [
    (36.562, 35.614, 3, "location precision 3 is coarser than a settlement"),
    (36.562, 35.614, 6, "location precision 6 is coarser than a settlement"),
    (None, None, 1, "no location"),
], ids=["precision-3-district", "precision-6-country", "no-coordinates"])
def test_unusable_locations_do_not_resolve(index: ZoneIndex, lon, lat, precision: int,
                                           expected: str) -> None:
    match = index.resolve(lon, lat, precision, *day("2016-08-10"))
    assert match == ZoneMatch((), (), False, match.note)
    assert expected in match.note and "TERMS.md §3" in match.note


def test_precision_2_still_resolves(index: ZoneIndex) -> None:
    assert index.resolve(36.562, 35.614, 2, *day("2016-08-10")).resolved


def test_point_outside_syria_is_unresolved_with_a_note(index: ZoneIndex) -> None:
    match = index.resolve(35.50, 33.89, 1, *day("2016-08-10"))  # Beirut
    assert (match.kinds, match.zone_ids, match.resolved) == ((), (), False)
    assert "outside" in match.note and "Syria" in match.note


def test_place_in_syria_no_row_covers_is_unclassified(index: ZoneIndex) -> None:
    # Tall Ed-daman (SY020002), Jebel Saman district: no row of ZONES.md lists it.
    match = index.resolve(37.226, 35.773, 1, *day("2016-08-10"))
    assert not match.resolved and match.kinds == ()
    assert "unclassified" in match.note and "SY020002" in match.note


def test_outside_every_validity_is_unclassified(index: ZoneIndex) -> None:
    match = index.resolve(36.562, 35.614, 1, *day("2017-03-01"))
    assert not match.resolved and "unclassified" in match.note


def test_naive_or_reversed_windows_are_refused(index: ZoneIndex) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        index.resolve(36.5, 35.6, 1, dt.datetime(2016, 8, 10), dt.datetime(2016, 8, 11))
    start, end = day("2016-08-10")
    with pytest.raises(ValueError, match="before its start"):
        index.resolve(36.5, 35.6, 1, end, start)


def test_resolve_many_equals_resolve_on_random_points(index: ZoneIndex) -> None:
    country = shapely.from_geojson(json.dumps(json.loads(
        (PACK / "boundaries" / "syr_admin0_ocha.geojson").read_text())["features"][0]["geometry"]))
    rng = np.random.default_rng(2016)
    minx, miny, maxx, maxy = country.bounds
    xs, ys = rng.uniform(minx, maxx, 5000), rng.uniform(miny, maxy, 5000)
    inside = shapely.contains_xy(country, xs, ys)
    xs, ys = xs[inside][:1000], ys[inside][:1000]
    assert len(xs) == 1000
    base = dt.datetime(2016, 1, 1, tzinfo=TZ)
    points = []
    for x, y, hours, length, precision in zip(xs, ys, rng.integers(0, 366 * 24, 1000),
                                              rng.integers(0, 72, 1000),
                                              rng.choice([1, 1, 1, 2, 3], 1000)):
        start = base + dt.timedelta(hours=int(hours))
        points.append((float(x), float(y), int(precision), start,
                       start + dt.timedelta(hours=int(length))))
    points[5] = (None, None, 1, *day("2016-08-10"))
    many = index.resolve_many(points)
    assert many == [index.resolve(*p) for p in points]
    assert sum(m.resolved for m in many) > 500  # most of Syria is classified


# --- describe, geometry, provenance --------------------------------------------------------


def test_describe_and_geometry(index: ZoneIndex) -> None:
    rows = {r["id"]: r for r in index.describe()}
    assert len(rows) == 38
    castello = rows["castello-dmz"]
    assert castello["kind"] == "castello_dmz" and castello["overlay"] is True
    # a 6.4 km road buffered 3.5 km: 2 * 3.5 * 6.37 + pi * 3.5**2 = 83 km²
    assert castello["area_km2"] == pytest.approx(83.1, rel=0.03)
    assert rows["idleb-districts"]["area_km2"] == pytest.approx(6000, rel=0.15)
    assert rows["lattakia-tartous"]["pcodes"] == ["SY06", "SY10"]
    assert index.geometry("aleppo-east-city").contains(shapely.Point(37.170, 36.200))
    with pytest.raises(KeyError, match="aleppo-east-city"):
        index.geometry("aleppo-east-cty")
    assert "approximat" in index.provenance.lower()


# --- load_zones: every problem at once, each with a hint -----------------------------------


def test_load_zones_reports_all_problems_at_once(tmp_path: Path, pack: dict) -> None:
    bad = tmp_path / "zones.yaml"
    bad.write_text("""
provenance: "test: approximate"
zones:
  - {id: idleb, area: Idleb, kind: nusra_concentrated, pcodes: [SY0700]}
  - {id: ghouta, area: Ghouta, kind: mixd, pcodes: [SY030200]}
  - {id: maara, area: Al Ma'ra, kind: nusra_concentrated, pcodes: [SY0799]}
  - {id: idleb, area: again, kind: government, pcodes: [SY06xx]}
  - {id: nothing, area: no area at all, kind: mixed}
  - {id: open-ring, area: E, kind: mixed, polygon: [[37.13, 36.17], [37.2, 36.17], [37.2, 36.2], [37.13, 36.2]]}
  - {id: backwards, area: B, kind: isil, pcodes: [SY09], valid_from: 2016-08-13, valid_to: 2016-08-12}
""", encoding="utf-8")
    specs, provenance, problems = load_zones(bad, set(pack["zone_kinds"]), BOUNDARIES,
                                             file_label="zones.yaml")
    text = [str(p) for p in problems]
    assert "zones.yaml: zones[1].kind: 'mixd' is not a zone kind. Did you mean 'mixed'?" in text
    assert any(t.startswith("zones.yaml: zones[2].pcodes[0]: 'SY0799' is not a pcode")
               and "'SY0702' (Al Ma'ra)" in t for t in text)
    assert any("zones[3].id: 'idleb' is a duplicate id" in t for t in text)
    assert any("zones[3].pcodes[0]: 'SY06xx'" in t and "write 'SY06'" in t for t in text)
    assert any("zones[4]: has neither pcodes, polygon nor line" in t for t in text)
    assert any("zones[5].polygon: is not closed" in t for t in text)
    assert any("zones[6].valid_from: 2016-08-13 is after valid_to 2016-08-12" in t for t in text)
    assert len(problems) == 7, text


def test_load_zones_reports_a_short_ring_and_bad_yaml(tmp_path: Path, pack: dict) -> None:
    short = tmp_path / "short.yaml"
    short.write_text("provenance: x\nzones:\n  - {id: t, area: T, kind: mixed, "
                     "polygon: [[37.1, 36.1], [37.2, 36.1], [37.1, 36.1]]}\n", encoding="utf-8")
    _, _, problems = load_zones(short, set(pack["zone_kinds"]), BOUNDARIES)
    assert [p.key for p in problems] == ["zones[0].polygon"]
    assert "at least 4" in problems[0].message
    broken = tmp_path / "broken.yaml"
    broken.write_text("zones:\n  - {id: a, kind: [\n", encoding="utf-8")
    _, _, problems = load_zones(broken, set(pack["zone_kinds"]), BOUNDARIES)
    assert len(problems) == 1 and "not valid YAML" in problems[0].message


# --- batch resolution against a plain reading, on real places ------------------------------

UCDP = PACK.parents[2] / "shared" / "data" / "ucdp" / "ged_syria_2016.csv"


def ucdp_points(limit: int | None = None) -> list[tuple]:
    """Real UCDP GED 2016 places (shared/data, README), each over its event's days."""
    import csv

    if not UCDP.exists():
        pytest.skip("shared data not beside the project")
    with UCDP.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    points = []
    for k, row in enumerate(rows):
        start = dt.datetime.fromisoformat(row["date_start"][:10]).replace(tzinfo=TZ)
        end = dt.datetime.fromisoformat(row["date_end"][:10]).replace(tzinfo=TZ)
        points.append((float(row["longitude"]), float(row["latitude"]), 1 + k % 3, start,
                       end + dt.timedelta(days=1)))
    return points


def plainly(index: ZoneIndex, point: tuple) -> tuple:
    """ZONES.md read point by point, testing every geometry, no tree: (zone ids, adm3)."""
    x, y, precision, start, end = point
    if x is None or precision >= index._coarse:
        return (), None
    t0 = (start - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
    t1 = (end - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
    t1 = max(t1, t0 + 1)
    inside = shapely.intersects(index._items, shapely.Point(x, y))
    subdistricts = np.flatnonzero(inside[index._n_pieces:])
    adm3 = str(index._admin.pcodes[subdistricts[0]]) if len(subdistricts) else None
    live = [k for k in np.flatnonzero(inside[:index._n_pieces])
            if index._piece_from[k] < t1 and t0 < index._piece_to[k]]
    levels = [int(index._piece_level[k]) for k in live]
    best = max(levels + [-1])
    rows = sorted({int(index._piece_row[k]) for k, lv in zip(live, levels) if lv in (-1, best)})
    return tuple(index.specs[r].id for r in rows), adm3


def test_resolve_many_agrees_with_a_plain_reading_on_every_ucdp_place(index: ZoneIndex) -> None:
    points = ucdp_points()
    assert len(points) > 6000
    many = index.resolve_many(points)
    assert [(m.zone_ids, m.adm3) for m in many] == [plainly(index, p) for p in points]
    assert many[:500] == [index.resolve(*p) for p in points[:500]]
    assert sum(m.resolved for m in many) > 3000


def test_resolve_many_agrees_with_a_plain_reading_with_1000_generated_zones(
        pack: dict, tmp_path: Path) -> None:
    """The benchmark's zones dimension: octagons around real places, many overlapping."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_generate_for_zones", PACK.parents[1] / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    provenance, rows = generate.zone_rows(1000)
    path = tmp_path / "zones.yaml"
    path.write_text(yaml.safe_dump({"provenance": provenance, "zones": rows}), encoding="utf-8")
    specs, provenance, problems = load_zones(path, set(pack["zone_kinds"]), BOUNDARIES)
    assert problems == [] and len(specs) == 1000
    big = ZoneIndex.build(specs, BOUNDARIES, pack["zone_groups"], pack["coarse_precision"],
                          tz=pack["timezone"], provenance=provenance)
    points = ucdp_points(2000)
    many = big.resolve_many(points)
    assert [(m.zone_ids, m.adm3) for m in many] == [plainly(big, p) for p in points]
    assert many[:300] == [big.resolve(*p) for p in points[:300]]
    assert max(len(m.zone_ids) for m in many) > 3  # generated rows do overlap


def test_a_generated_zones_file_reports_the_same_problems_by_either_parser(
        pack: dict, tmp_path: Path) -> None:
    """libyaml reads the file when PyYAML has it; problems must read as they always did."""
    rows = yaml.safe_load((PACK / "zones.yaml").read_text(encoding="utf-8"))["zones"]
    swapped = {**rows[0], "id": "swapped", "pcodes": None,
               "polygon": [[35.2, 36.1], [35.3, 36.1], [35.3, 36.2], [35.2, 36.1]]}
    swapped.pop("pcodes")
    bowtie = {**swapped, "id": "bowtie",
              "polygon": [[36.1, 35.2], [36.2, 35.3], [36.2, 35.2], [36.1, 35.3], [36.1, 35.2]]}
    path = tmp_path / "zones.yaml"
    path.write_text(yaml.safe_dump({"provenance": "p", "zones": rows + [swapped, bowtie]}),
                    encoding="utf-8")
    _, _, problems = load_zones(path, set(pack["zone_kinds"]), BOUNDARIES)
    assert [p.key for p in problems][-2:] == [f"zones[{len(rows)}]",
                                              f"zones[{len(rows) + 1}].polygon"]
    assert "outside the boundaries" in problems[-2].message
    assert "not a valid polygon" in problems[-1].message
