"""Exports for GIS and other programs: findings and incidents as GeoJSON (ready for QGIS).

Properties are flat (lists and objects become JSON text), since QGIS and most GIS tools do not
read nested attributes. A finding without a usable point has a null geometry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


def _flat(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v
            for k, v in row.items()}


def _point(lat: Any, lon: Any) -> dict[str, Any] | None:
    if lat is None or lon is None:
        return None
    return {"type": "Point", "coordinates": [lon, lat]}


def finding_features(findings: Iterable[Mapping[str, Any]],
                     incidents: Mapping[str, Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """One feature per finding, at its incident's point (``incidents``: by incident id, the
    row that places it), made as each is asked for."""
    for f in findings:
        inc = incidents.get(f["incident_id"], {})
        props = _flat(f)
        props.update({"place": inc.get("place"), "governorate": inc.get("admin1"),
                      "location_precision": inc.get("location_precision")})
        yield {"type": "Feature", "geometry": _point(inc.get("lat"), inc.get("lon")),
               "properties": props}


def incident_features(incidents: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """One feature per recorded report's resolution, made as each is asked for."""
    for i in incidents:
        yield {"type": "Feature", "geometry": _point(i.get("lat"), i.get("lon")),
               "properties": _flat({k: v for k, v in i.items() if k not in ("lat", "lon")})}
