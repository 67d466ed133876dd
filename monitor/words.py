"""The words about this incident (TERMS.md §4 "Which words decide"), for one report.

:mod:`monitor.places` knows place names, clauses and the mentions that decide nothing; this
module puts them together for a report: its place names from its location, then the clauses that
name them.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import Location
from .places import ClauseRules, Gazetteer, Selection, select


@dataclass(frozen=True)
class Places:
    """A pack's gazetteer and clause rules."""

    gazetteer: Gazetteer
    rules: ClauseRules

    def select(self, text: str, location: Location | None,
               sub_district: str | None = None) -> Selection:
        """The clauses of ``text`` about the incident at ``location`` (see monitor.places).
        ``sub_district``: the OCHA sub-district the point lies in, when the source names none
        (UCDP gives the district only)."""
        names: tuple[str, ...] = ()
        if location is not None:
            names = self.gazetteer.incident_names(location.place, location.admin2,
                                                  location.admin3 or sub_district)
        return select(text, names, self.gazetteer, self.rules)
