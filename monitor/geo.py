"""Distances on the Earth: one radius, one distance, and the pre-filter derived from them.

Corroboration ("two reports within 10 km"), the cycle-of-excuses pattern and zone areas all
measure with these, so a pair of points is near or far the same way everywhere. The Earth is a
sphere of the IUGG mean radius; on Syria's scale the sphere's error (< 0.5 %) is far below the
precision of any report's coordinates.
"""
from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
KM_PER_DEGREE = EARTH_RADIUS_KM * math.pi / 180  # km per degree of arc (of latitude)


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in km between two (lat, lon) points in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def degrees_of_latitude(km: float) -> float:
    """How many degrees of latitude ``km`` spans: the half-height of :func:`bounding_box`."""
    return km / KM_PER_DEGREE


def bounding_box(lat: float, lon: float, km: float) -> tuple[float, float, float, float]:
    """(lat_lo, lat_hi, lon_lo, lon_hi): a box holding every point within ``km`` of (lat, lon).

    The pre-filter for :func:`distance_km` (an index range in SQL): it may hold farther points,
    never miss a nearer one. The widest longitude a circle of angular radius r reaches at
    latitude φ is asin(sin r / cos φ); near a pole the box spans every longitude."""
    r = km / EARTH_RADIUS_KM
    dlat = math.degrees(r)
    cos_lat = math.cos(math.radians(lat))
    if r >= math.pi / 2 or math.sin(r) >= cos_lat:
        return lat - dlat, lat + dlat, -180.0, 180.0
    dlon = math.degrees(math.asin(math.sin(r) / cos_lat))
    return lat - dlat, lat + dlat, lon - dlon, lon + dlon
