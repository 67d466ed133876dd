"""The colours of the brief and of the browser map: one table, so a zone kind or a severity
looks the same on paper and on screen.

Zone colours are drawn as translucent fills (``ZONE_FILL_OPACITY``) under the findings. The
pack declares a colour per zone kind (pack.yaml ``display.zone_colours``); a kind it gives none
gets a stable colour from ``PALETTE``.
"""
from __future__ import annotations

import zlib
from collections.abc import Mapping

ZONE_FILL_OPACITY = 0.25
SEVERITY_COLOURS = {"critical": "#b2182b", "major": "#ef8a62", "minor": "#67a9cf"}
# Parties in charts, in order of appearance; the unattributed are grey.
PALETTE = ("#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78", "#98df8a", "#c49c94")
UNATTRIBUTED = "#c7c7c7"


def zone_colour(kind: str, declared: Mapping[str, str] | None = None) -> str:
    """The colour of a zone kind: the pack's (``declared``), else a stable one from the
    palette."""
    return (declared or {}).get(kind) or PALETTE[zlib.crc32(kind.encode()) % len(PALETTE)]
