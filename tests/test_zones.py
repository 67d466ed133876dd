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

from monitor.zones import ZoneIndex, ZoneMatch, load_zones, place_key

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


# --- split places (TERMS.md §3, ZONES.md "Split places") -----------------------------------


def test_shipped_split_places_are_the_four_cities_of_zones_md(loaded) -> None:
    specs, _, _ = loaded
    got = {p.id: (p.kinds, p.valid_to.isoformat()) for p in specs.split_places}
    assert got == {"aleppo": (("government", "mixed"), "2016-12-22"),
                   "daraa": (("government", "opposition"), "2016-12-31"),
                   "deir-ez-zor": (("government", "isil"), "2016-12-31"),
                   "damascus": (("government", "mixed"), "2016-12-31")}
    assert all(p.source.startswith("ZONES.md") for p in specs.split_places)


SPLIT_CASES = [
    # (id, lat, lon, day, location name, precision, expected kinds, expected split)
    ("ucdp-aleppo-town", 36.201241, 37.161173, "2016-08-10", "Aleppo town", 1,
     ("government", "mixed", "designated_area"), "aleppo"),
    ("acled-aleppo-precision-2", 36.201241, 37.161173, "2016-08-10", "Aleppo", 2,
     ("government", "mixed", "designated_area"), "aleppo"),
    ("aleppo-last-split-day", 36.201241, 37.161173, "2016-12-22", "Aleppo town", 1,
     ("government", "mixed", "designated_area"), "aleppo"),
    ("aleppo-after-evacuation-not-split", 36.201241, 37.161173, "2016-12-23", "Aleppo town", 1,
     ("government",), None),
    ("aleppo-named-elsewhere-in-the-city", 36.209, 37.130, "2016-08-10", "Halab", 1,
     ("government", "mixed", "designated_area"), "aleppo"),
    ("aleppo-sukkari-not-split", 36.178, 37.152, "2016-08-10", "Aleppo - Sukkari", 1,
     ("mixed", "designated_area"), None),
    ("ucdp-daraa-town", 32.61889, 36.10213, "2016-08-10", "Daraa town", 1,
     ("government", "opposition"), "daraa"),
    ("daraa-governorate-not-split", 32.61889, 36.10213, "2016-08-10", "Daraa Governorate", 1,
     ("opposition",), None),
    ("ucdp-deir-ez-zor-town", 35.335876, 40.140844, "2016-08-10", "Deir ez Zor town", 1,
     ("government", "isil"), "deir-ez-zor"),
    ("acled-deir-ez-zor", 35.335876, 40.140844, "2016-08-10", "Deir-ez-Zor", 1,
     ("government", "isil"), "deir-ez-zor"),
    ("ucdp-damascus-city", 33.513364, 36.291575, "2016-08-10", "Damascus city", 1,
     ("government", "mixed", "designated_area"), "damascus"),
    ("aleppo-named-in-castello-corridor-keeps-the-overlay", 36.259, 37.105, "2016-09-14",
     "Aleppo", 1, ("government", "mixed", "castello_dmz", "designated_area"), "aleppo"),
]


@pytest.mark.parametrize("lat, lon, iso, place, precision, kinds, split",
                         [c[1:] for c in SPLIT_CASES], ids=[c[0] for c in SPLIT_CASES])
def test_split_places(index: ZoneIndex, lat: float, lon: float, iso: str, place: str,
                      precision: int, kinds: tuple, split: str | None) -> None:
    match = index.resolve(lon, lat, precision, *day(iso), place=place)
    assert (match.kinds, match.split, match.resolved) == (kinds, split, True)
    assert ("split place" in match.note) is (split is not None)
    if split is None:  # a name that is not the city's changes nothing
        assert match == index.resolve(lon, lat, precision, *day(iso))


def test_split_place_note_and_ids(index: ZoneIndex) -> None:
    match = index.resolve(37.161173, 36.201241, 1, *day("2016-08-10"), place="Aleppo town")
    assert match.zone_ids == ()  # the kinds come from the split place, not from a row
    assert (match.adm3, match.governorate) == ("SY020000", "Aleppo")
    assert match.note.startswith("36.201N 37.161E, named 'Aleppo town', is Aleppo city (split "
                                 "place aleppo: government and mixed; the report names only the "
                                 "city")
    assert "ZONES.md approximation" in match.note and "SY020000" in match.note
    corridor = index.resolve(37.105, 36.259, 1, *day("2016-09-14"), place="Aleppo")
    assert corridor.zone_ids == ("castello-dmz",) and "also in zone castello-dmz" in corridor.note


def test_the_same_point_without_a_name_resolves_as_before(index: ZoneIndex) -> None:
    match = index.resolve(37.161173, 36.201241, 1, *day("2016-08-10"))
    assert match.kinds == ("mixed", "designated_area")  # polygon E only
    assert match.zone_ids == ("aleppo-east-city",) and match.split is None
    assert index.resolve(37.161173, 36.201241, 1, *day("2016-08-10"), place=None) == match


def test_a_window_reaching_into_the_split_is_split(index: ZoneIndex) -> None:
    start = dt.datetime(2016, 12, 22, 12, tzinfo=TZ)  # Aleppo split to the end of 22 Dec
    match = index.resolve(37.161173, 36.201241, 1, start, start + dt.timedelta(days=1),
                          place="Aleppo town")
    assert match.split == "aleppo"


@pytest.mark.parametrize("precision", [3, 4, 6])
def test_a_coarse_location_naming_a_split_city_is_unresolved(index: ZoneIndex,
                                                             precision: int) -> None:
    match = index.resolve(37.161173, 36.201241, precision, *day("2016-08-10"),
                          place="Aleppo town")
    assert match == ZoneMatch((), (), False, match.note)
    assert f"location precision {precision} is coarser than a settlement" in match.note


def test_a_split_city_named_without_coordinates_is_unresolved(index: ZoneIndex) -> None:
    match = index.resolve(None, None, 1, *day("2016-08-10"), place="Aleppo")
    assert not match.resolved and match.split is None and "no location" in match.note


@pytest.mark.parametrize("name, key", [
    ("Aleppo town", "aleppo"), ("  ALEPPO  City ", "aleppo"), ("Ḥalab", "halab"),
    ("Deir-ez-Zor", "deir ez zor"), ("Deir ez Zor town", "deir ez zor"), ("Dar'a", "dara"),
    ("Dar’a", "dara"), ("Aleppo - Sukkari", "aleppo sukkari"), ("city", "city"),
    ("Aleppo Governorate", "aleppo governorate"),
])
def test_place_key(name: str, key: str) -> None:
    assert place_key(name) == key


def test_places_must_parallel_points(index: ZoneIndex) -> None:
    with pytest.raises(ValueError, match="1 names for 2 points"):
        index.resolve_many([(36.5, 35.6, 1, *day("2016-08-10"))] * 2, places=["Aleppo"])


def test_a_name_shared_by_two_split_places_is_refused_by_build(loaded, pack: dict) -> None:
    specs, _, _ = loaded
    twin = specs.split_places[0].model_copy(update={"id": "twin", "names": ("Halab",)})
    with pytest.raises(ValueError, match="'Halab' is also a name of aleppo"):
        ZoneIndex.build(specs, BOUNDARIES, pack["zone_groups"],
                        split_places=[*specs.split_places, twin])


def test_a_plain_list_of_rows_has_no_split_places(loaded, pack: dict) -> None:
    specs, _, _ = loaded
    plain = ZoneIndex.build(list(specs), BOUNDARIES, pack["zone_groups"], tz=pack["timezone"])
    assert plain.split_places == ()
    match = plain.resolve(37.161173, 36.201241, 1, *day("2016-08-10"), place="Aleppo town")
    assert match.split is None and match.zone_ids == ("aleppo-east-city",)


NAMES = ["Aleppo town", "Aleppo", "Aleppo - Sukkari", "Daraa town", "Deir ez Zor town",
         "Damascus city", "Bustan al-Qasr", "Idlib", None, None]


def test_resolve_many_with_places_equals_resolve_per_point(index: ZoneIndex) -> None:
    rng = np.random.default_rng(22)
    base = dt.datetime(2016, 1, 1, tzinfo=TZ)
    points, places = [], []
    for k in range(600):  # around the four cities' reference points, over 2016
        lat, lon = [(36.2012, 37.1612), (32.6189, 36.1021), (35.3359, 40.1408),
                    (33.5134, 36.2916), (36.259, 37.105)][k % 5]
        start = base + dt.timedelta(hours=int(rng.integers(0, 366 * 24)))
        points.append((lon + rng.normal(0, 0.03), lat + rng.normal(0, 0.03),
                       int(rng.choice([1, 2, 3])), start,
                       start + dt.timedelta(hours=int(rng.integers(0, 72)))))
        places.append(NAMES[int(rng.integers(0, len(NAMES)))])
    many = index.resolve_many(points, places=places)
    assert many == [index.resolve(*p, place=name) for p, name in zip(points, places)]
    assert 100 < sum(m.split is not None for m in many) < 400
    unnamed = index.resolve_many(points)
    assert [m for m in many if m.split is None] == [
        u for m, u in zip(many, unnamed) if m.split is None]


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


def test_load_zones_reports_split_place_problems_with_the_key_and_a_hint(
        tmp_path: Path, pack: dict) -> None:
    bad = tmp_path / "zones.yaml"
    bad.write_text("""
provenance: "test: approximate"
zones:
  - {id: idleb, area: Idleb, kind: nusra_concentrated, pcodes: [SY0700]}
split_places:
  - {id: aleppo, place: Aleppo city, names: [Aleppo, Aleppo town], point: {lat: 36.2, lon: 37.16},
     kinds: [government, mixd], valid_to: 2016-12-22, source: ZONES.md}
  - {id: halab, place: Halab, names: [Halab, ALEPPO city], point: {lat: 37.16, lon: 36.2},
     kinds: [government, opposition], source: ZONES.md}
  - {id: daraa, place: Daraa city, names: [Daraa], point: {lat: 32.6, lon: 36.1},
     kinds: [government, opposition], source: ZONES.md, valid_from: 2016-02-01,
     valid_to: 2016-01-01, kindz: x}
  - {id: damascus, place: Damascus city, names: [Damascus], point: {lat: 33.5, lon: 36.3},
     kinds: [government]}
""", encoding="utf-8")
    specs, _, problems = load_zones(bad, set(pack["zone_kinds"]), BOUNDARIES,
                                    file_label="zones.yaml")
    text = [str(p) for p in problems]
    assert ("zones.yaml: split_places[0].kinds[1]: 'mixd' is not a zone kind. "
            "Did you mean 'mixed'?") in text
    assert any(t.startswith("zones.yaml: split_places[1].names[1]: 'ALEPPO city' is also a name "
                            "of split_places[0] (aleppo)") for t in text)
    assert ("zones.yaml: split_places[1].point: (37.16, 36.2) lies outside the boundaries "
            "Are lat and lon swapped?") in text
    assert any(t.startswith("zones.yaml: split_places[2].kindz: is not a known field")
               for t in text)
    assert any(t.startswith("zones.yaml: split_places[3].kinds: ") for t in text)
    assert any(t.startswith("zones.yaml: split_places[3].source: is required") for t in text)
    assert len(problems) == 6, text
    loose = tmp_path / "loose.yaml"
    loose.write_text("provenance: p\nzones:\n  - {id: i, area: I, kind: mixed, "
                     "pcodes: [SY0700]}\nsplit_place: []\n", encoding="utf-8")
    _, _, problems = load_zones(loose, set(pack["zone_kinds"]), BOUNDARIES,
                                file_label="z.yaml")
    assert [str(p) for p in problems] == [
        "z.yaml: split_place: is not a known key Did you mean 'split_places'?"]


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


def ucdp_names(limit: int | None = None) -> list[str]:
    """The location names (``where_coordinates``) of :func:`ucdp_points`' events, in order."""
    import csv

    with UCDP.open(encoding="utf-8", newline="") as f:
        return [row["where_coordinates"] for row in list(csv.DictReader(f))[:limit]]


def plainly_split(index: ZoneIndex, point: tuple, name: str) -> tuple | None:
    """TERMS.md §3 read plainly: (split place id, kinds) when the report names only a split
    city at a settlement's precision while it is split, else None."""
    x, y, precision, start, end = point
    if x is None or precision >= index._coarse:
        return None
    for place in index.split_places:
        valid_from = dt.datetime.combine(place.valid_from, dt.time(), tzinfo=TZ)
        valid_to = dt.datetime.combine(place.valid_to + dt.timedelta(days=1), dt.time(),
                                       tzinfo=TZ)
        if (place_key(name) in {place_key(n) for n in place.names}
                and valid_from < max(end, start + dt.timedelta(microseconds=1))
                and start < valid_to):
            overlays = [s.kind for s in index.specs if s.overlay and s.id in plainly(index,
                                                                                     point)[0]]
            kinds = tuple(dict.fromkeys([*place.kinds, *overlays]))
            groups = tuple(g for g, members in index._groups.items() if set(members) & set(kinds))
            return place.id, kinds + groups
    return None


def test_split_places_agree_with_a_plain_reading_on_every_ucdp_place(index: ZoneIndex) -> None:
    points, names = ucdp_points(), ucdp_names()
    many = index.resolve_many(points, places=names)
    assert [(m.split, m.kinds) if m.split else None for m in many] == [
        plainly_split(index, p, n) for p, n in zip(points, names)]
    assert sum(m.split is not None for m in many) > 500  # "Aleppo town" alone is ~700 events
    unnamed = index.resolve_many(points)
    assert all(m == u for m, u in zip(many, unnamed) if m.split is None)


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
    assert big.resolve_many(points, places=ucdp_names(2000)) == many  # no split places here
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


@pytest.mark.parametrize("pcode, ok", [("SY0200", True), ("UA0102", True), ("YE15", True),
                                       ("SY1", False), ("sy02", False), ("SY02000000", False)])
def test_zone_pcodes_are_ocha_pcodes_of_any_country(pcode: str, ok: bool) -> None:
    from pydantic import ValidationError

    from monitor.models import ZoneSpec

    row = {"id": "z", "area": "somewhere", "kind": "government", "pcodes": [pcode]}
    if ok:
        assert ZoneSpec.model_validate(row).pcodes == [pcode]
    else:
        with pytest.raises(ValidationError):
            ZoneSpec.model_validate(row)


def test_the_boundaries_geometries_are_read_at_once_as_each_alone() -> None:
    from monitor.zones.index import _geometries

    text = BOUNDARIES.read_text(encoding="utf-8")
    features = json.loads(text)["features"]
    alone = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
    at_once = _geometries(text, features)
    assert len(at_once) == len(features) == 272
    assert [shapely.to_wkb(g) for g in at_once] == [shapely.to_wkb(g) for g in alone]
    # a multipolygon stays one geometry of its feature, not split into its parts
    square = [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]
    far = [[[5, 5], [6, 5], [6, 6], [5, 6], [5, 5]]]
    two = [{"type": "Feature", "properties": {}, "geometry": g} for g in (
        {"type": "MultiPolygon", "coordinates": [square, far]},
        {"type": "Polygon", "coordinates": square})]
    got = _geometries(json.dumps({"type": "FeatureCollection", "features": two}), two)
    assert [g.geom_type for g in got] == ["MultiPolygon", "Polygon"]
