"""The words about this incident (TERMS.md §4 "Which words decide"), for one report.

:mod:`monitor.places` knows place names, clauses and the mentions that decide nothing; this
module puts them together for a report: its place names from its location, then the clauses that
name them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from .models import Location
from .places import ClauseRules, Gazetteer, Selection, select

# Selections kept: a text and its place names decide the same clauses every time, and real feeds
# repeat both (UCDP gives one headline to every event an article reports; a feed re-sends its
# items), so the words of a repeated pair are read once.
SELECTIONS_KEPT = 8_192


@dataclass(frozen=True)
class Places:
    """A pack's gazetteer and clause rules."""

    gazetteer: Gazetteer
    rules: ClauseRules
    _memo: OrderedDict[tuple[str, tuple[str, ...]], Selection] = field(
        default_factory=OrderedDict, compare=False, repr=False)

    def select(self, text: str, location: Location | None,
               sub_district: str | None = None) -> Selection:
        """The clauses of ``text`` about the incident at ``location`` (see monitor.places).
        ``sub_district``: the OCHA sub-district the point lies in, when the source names none
        (UCDP gives the district only)."""
        names: tuple[str, ...] = ()
        if location is not None:
            names = self.gazetteer.incident_names(location.place, location.admin2,
                                                  location.admin3 or sub_district)
        key = (text, names)
        found = self._memo.get(key)
        if found is not None:
            self._memo.move_to_end(key)
            return found
        found = select(text, names, self.gazetteer, self.rules)
        self._memo[key] = found
        if len(self._memo) > SELECTIONS_KEPT:
            self._memo.popitem(last=False)
        return found
