"""One radius, one distance: corroboration, patterns and zones measure the same way."""

from __future__ import annotations

import math

import pytest

from monitor import geo
from tests.test_evidence import THREE_SOURCES, current

KAFR_NABL = (35.614, 36.562)


def destination(lat: float, lon: float, km: float, bearing_deg: float) -> tuple[float, float]:
    """The point ``km`` from (lat, lon) on the sphere, along ``bearing_deg`` (0 = north)."""
    r, b = km / geo.EARTH_RADIUS_KM, math.radians(bearing_deg)
    p1, l1 = math.radians(lat), math.radians(lon)
    p2 = math.asin(math.sin(p1) * math.cos(r) + math.cos(p1) * math.sin(r) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(r) * math.cos(p1),
                         math.cos(r) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


def test_distance_between_aleppo_and_damascus() -> None:
    assert geo.distance_km(36.1993, 37.1625, 33.5117, 36.3064) == pytest.approx(308, abs=3)
    assert geo.distance_km(*KAFR_NABL, *KAFR_NABL) == 0


@pytest.mark.parametrize("lat", [0.0, 35.6, 60.0, -45.0], ids=lambda v: f"lat{v}")
@pytest.mark.parametrize("bearing", range(0, 360, 15))
def test_the_box_holds_every_point_of_the_circle(lat: float, bearing: int) -> None:
    lat_lo, lat_hi, lon_lo, lon_hi = geo.bounding_box(lat, 36.5, 10.0)
    p_lat, p_lon = destination(lat, 36.5, 9.9999, bearing)
    assert geo.distance_km(lat, 36.5, p_lat, p_lon) == pytest.approx(9.9999, abs=1e-6)
    assert lat_lo <= p_lat <= lat_hi and lon_lo <= p_lon <= lon_hi


def test_the_box_near_a_pole_spans_every_longitude() -> None:
    assert geo.bounding_box(89.99, 10.0, 10.0)[2:] == (-180.0, 180.0)


@pytest.mark.parametrize("km, corroborated", [(9.996, True), (10.01, False)],
                         ids=["9.996-km-apart", "10.01-km-apart"])
@pytest.mark.parametrize("bearing", [0, 90, 225], ids=["north", "east", "south-west"])
def test_corroboration_at_the_10_km_boundary(monitor, ledger, km: float, corroborated: bool,
                                             bearing: int) -> None:
    """The pre-filter and the distance agree: a report 9.996 km away is the same event."""
    lat, lon = destination(*KAFR_NABL, km, bearing)
    first = {**THREE_SOURCES[0], "location": {"lat": KAFR_NABL[0], "lon": KAFR_NABL[1],
                                              "precision": 1, "place": "Kafr Nabl"}}
    second = {**THREE_SOURCES[1], "location": {"lat": lat, "lon": lon, "precision": 1}}
    monitor.submit([("first", first)])
    outcome = monitor.submit([("second", second)]).outcomes[0]
    assert bool(outcome.linked) is corroborated
    incidents = {f["incident_id"] for f in current(ledger)}
    assert len(incidents) == (1 if corroborated else 2)
