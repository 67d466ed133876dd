"""The zone geometries kept on disk (monitor.zones.cache): an index built from the cache is the
index built from the files, bit for bit; a changed file or row is a new entry; a damaged entry
or a folder that cannot be written changes nothing but the time it takes."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import shapely
import shapely.geometry
import yaml

from monitor.zones import ZoneIndex, load_zones
from monitor.zones import cache as zone_cache
from monitor.zones import index as zone_index

PACK = Path(__file__).resolve().parents[1] / "config" / "syria-2016"
BOUNDARIES = PACK / "boundaries" / "syr_admin3_subdistricts_ocha.geojson"
UTC = dt.timezone.utc


def build(folder: Path | str, boundaries: Path = BOUNDARIES,
          change: dict[str, Any] | None = None,
          monkeypatch: pytest.MonkeyPatch | None = None) -> ZoneIndex:
    """The pack's zone index, read and built with the cache at ``folder`` ("" = none), the
    in-process memo of the boundaries forgotten first; ``change`` edits the first zone row."""
    assert monkeypatch is not None
    monkeypatch.setenv(zone_cache.ENV, str(folder))
    zone_index._read_boundaries_cached.cache_clear()
    pack = yaml.safe_load((PACK / "pack.yaml").read_text(encoding="utf-8"))
    specs, provenance, problems = load_zones(PACK / "zones.yaml", set(pack["zone_kinds"]),
                                             boundaries)
    assert problems == []
    if change:
        specs[0] = specs[0].model_copy(update=change)
    return ZoneIndex.build(specs, boundaries, pack["zone_groups"], pack["coarse_precision"],
                           tz=pack["timezone"], provenance=provenance)


def made(ix: ZoneIndex) -> dict[str, Any]:
    """Everything the index made from the files, geometries as WKB."""
    return {"rows": [shapely.to_wkb(g) for g in ix._row_geoms],
            "pieces": [(int(r), int(lvl), shapely.to_wkb(g)) for r, lvl, g in zip(
                ix._piece_row, ix._piece_level, ix._items[:ix._n_pieces])],
            "admin": [shapely.to_wkb(g) for g in ix._admin.geoms],
            "pcodes": list(ix._admin.pcodes), "labels": ix._admin.labels,
            "names": ix._admin.names, "country": ix._admin.country,
            "described": ix.describe()}


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.bin"))


@pytest.fixture(scope="module")
def simple(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OCHA sub-districts with their outlines simplified (to 0.01°): the same features and
    pcodes, a tenth of the vertices. The first test builds from the real file; the others,
    which build the index several times each, from this one (0.06 s a build rather than 0.5)."""
    doc = json.loads(BOUNDARIES.read_text(encoding="utf-8"))
    for feature in doc["features"]:
        outline = shapely.geometry.shape(feature["geometry"])
        feature["geometry"] = shapely.geometry.mapping(
            outline.simplify(0.01, preserve_topology=True))
    path = tmp_path_factory.mktemp("simple") / BOUNDARIES.name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def plain(simple: Path) -> dict[str, Any]:
    """What the index made from the (simplified) files with no cache: built once for the
    module, compared with what each test makes through the cache."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return made(build("", simple, monkeypatch=monkeypatch))


@pytest.fixture
def points() -> list[tuple[float, float, int, dt.datetime, dt.datetime]]:
    """A grid over Syria, at two dates either side of the September arrangement."""
    out = []
    for day in (dt.datetime(2016, 3, 1, tzinfo=UTC), dt.datetime(2016, 9, 20, tzinfo=UTC)):
        for i in range(40):
            for j in range(40):
                out.append((35.7 + i * 0.1, 32.4 + j * 0.1, 1, day, day + dt.timedelta(days=1)))
    return out


def test_an_index_from_the_cache_is_the_index_from_the_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, points: list[Any]) -> None:
    plain = build("", monkeypatch=monkeypatch)
    assert not entries(tmp_path)
    first = build(tmp_path, monkeypatch=monkeypatch)  # made, and kept
    kept = entries(tmp_path)
    assert [p.name.split("-")[0] for p in kept] == ["boundaries", "zones"]
    second = build(tmp_path, monkeypatch=monkeypatch)  # read back
    assert entries(tmp_path) == kept
    assert made(plain) == made(first) == made(second)
    assert len(made(plain)["pieces"]) > 30
    assert plain.resolve_many(points) == second.resolve_many(points)


def test_a_changed_row_or_file_is_a_new_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              simple: Path) -> None:
    build(tmp_path, simple, monkeypatch=monkeypatch)
    before = entries(tmp_path)
    changed = build(tmp_path, simple, change={"pcodes": ["SY02"]}, monkeypatch=monkeypatch)
    assert len(entries(tmp_path)) == 3  # the same boundaries; the rows' entry is new
    assert made(changed) == made(build("", simple, change={"pcodes": ["SY02"]},
                                       monkeypatch=monkeypatch))
    unchanged = build(tmp_path, simple, monkeypatch=monkeypatch)
    assert made(changed)["rows"][0] != made(unchanged)["rows"][0]
    other = tmp_path / "other" / BOUNDARIES.name
    other.parent.mkdir()
    text = simple.read_text(encoding="utf-8")
    other.write_text(text.replace('"adm0_name": "Syria"', '"adm0_name": "Syrie"', 1)
                     if '"adm0_name": "Syria"' in text else text + "\n", encoding="utf-8")
    build(tmp_path, boundaries=other, monkeypatch=monkeypatch)
    assert len(entries(tmp_path)) == 5 and set(before) < set(entries(tmp_path))


@pytest.mark.parametrize("damage", ["cut", "garbage", "empty", "other key"])
def test_a_damaged_entry_is_made_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       damage: str, plain: dict[str, Any], simple: Path) -> None:
    build(tmp_path, simple, monkeypatch=monkeypatch)
    boundaries, zones = entries(tmp_path)
    for entry in (boundaries, zones):
        data = entry.read_bytes()
        entry.write_bytes({"cut": data[:len(data) // 2], "garbage": b"\x07" * 100, "empty": b"",
                           "other key": (zones if entry == boundaries else boundaries)
                           .read_bytes()}[damage])
    assert made(build(tmp_path, simple, monkeypatch=monkeypatch)) == plain
    assert made(build(tmp_path, simple, monkeypatch=monkeypatch)) == plain  # and written whole
    assert zone_cache.load(boundaries.stem) is not None


def test_a_folder_that_cannot_be_written_leaves_the_index_as_it_was(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain: dict[str, Any],
        simple: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert made(build(blocked / "cache", simple, monkeypatch=monkeypatch)) == plain
    assert blocked.read_text() == "not a folder"


def test_the_folder_is_the_users_cache_unless_set(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    monkeypatch.delenv(zone_cache.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert zone_cache.folder() == tmp_path / "ceasefire-monitor"
    monkeypatch.setenv(zone_cache.ENV, "")
    assert zone_cache.folder() is None
    monkeypatch.setenv(zone_cache.ENV, str(tmp_path / "x"))
    assert zone_cache.folder() == tmp_path / "x"


def test_a_key_names_the_geos_and_the_code_that_made_the_entry() -> None:
    one = zone_cache.key("zones", "a", b"code")
    assert one == zone_cache.key("zones", "a", b"code")
    assert one != zone_cache.key("zones", "a", b"code changed")
    assert one != zone_cache.key("zones", "ab", b"code")  # parts are not run together
    assert zone_cache.key("zones", "a", "b") != zone_cache.key("zones", "ab", "")
    assert one != zone_cache.key("boundaries", "a", b"code")


def test_only_the_newest_entries_of_a_kind_are_kept(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(zone_cache.ENV, str(tmp_path))
    zone_cache.save(zone_cache.key("boundaries", "kept"), {}, [b"x"])
    for n in range(zone_cache.KEEP + 3):
        zone_cache.save(zone_cache.key("zones", str(n)), {"n": n}, [b"geometry"])
    zones = sorted(tmp_path.glob("zones-*.bin"))
    assert len(zones) == zone_cache.KEEP
    newest = zone_cache.key("zones", str(zone_cache.KEEP + 2))
    assert zone_cache.load(newest) == ({"n": zone_cache.KEEP + 2}, [b"geometry"])
    assert len(list(tmp_path.glob("boundaries-*.bin"))) == 1  # another kind is left alone
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_an_entry_changed_on_disk_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              plain: dict[str, Any], simple: Path) -> None:
    """A bit changed in a polygon would move a zone silently: every entry carries the SHA-256
    of its blobs, and one that no longer matches is made again."""
    build(tmp_path, simple, monkeypatch=monkeypatch)
    for entry in entries(tmp_path):
        data = bytearray(entry.read_bytes())
        data[-20] ^= 0x01  # a coordinate's low bit, near the end
        entry.write_bytes(bytes(data))
        assert zone_cache.load(entry.stem) is None
    assert made(build(tmp_path, simple, monkeypatch=monkeypatch)) == plain
    assert all(zone_cache.load(entry.stem) is not None for entry in entries(tmp_path))


def test_an_entry_without_what_it_should_hold_is_made_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plain: dict[str, Any],
        simple: Path) -> None:
    build(tmp_path, simple, monkeypatch=monkeypatch)
    for entry in entries(tmp_path):  # well formed, but without its header's keys or blobs
        zone_cache.save(entry.stem, {}, [b"not wkb"])
    assert made(build(tmp_path, simple, monkeypatch=monkeypatch)) == plain
    for entry in entries(tmp_path):
        found = zone_cache.load(entry.stem)
        assert found is not None and found[0] != {}
