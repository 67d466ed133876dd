"""Which words decide: the clauses of a report's text that are about its incident.

TERMS.md §4 "Which words decide": platform, target category, event type and who fired come from
the words *about this incident*. The procedure, step by step:

1. **Normalise** text and names (:func:`normalise`): HTML-unescape, fold to ASCII, lower-case,
   drop apostrophes (and a possessive "'s") and the article "al-" — also "al " and its
   assimilated forms before a sun letter ("ar-Raqqa", "ash-Shaykh", "ez-Zor"), which are the same
   article. Punctuation is dropped: a normalised text is its words separated by single spaces.
2. **Split** the text into clauses at ";" (UCDP joins its sources' headlines with it: each part is
   an *article*), at sentence ends, and at "," or "and" before a place name. Two refinements keep
   the spec's intent: a part that is nothing but place names ("Bombardment targets Idlib and
   Hama", "... Rastan and Talbiseh countryside") stays with its clause, because a list shares
   its predicate; and "," or "and" also splits between two parts that each name a place
   ("Helicopters renew the targeting of Darayya and clashes renewed in the Eastern Ghouta").
3. **The incident's names** (:meth:`Gazetteer.incident_names`): its location split at "/" and
   "(…)", without type words; its district and sub-district names; their spellings in the pack's
   gazetteer. A neighbourhood counts as its city, in the location and in the text. "X
   countryside", "rural X", "the countryside of X" and "X governorate/province" never name the
   *town* X; a location that is itself a governorate ("Hamah Governorate") gives the area name
   "Hamah governorate", which any mention of Hama names. A district or sub-district named after
   its chief town ("Ar Rastan", "Mintaqat Markaz Homs") names the incident only as written, never
   through a neighbourhood: "al-Wa'er" (a neighbourhood of Homs city) is not al-Qaryatayn in the
   Homs district, while "Rastan" names an event in the Ar Rastan district. Governorate names are
   never added.
4. **Matching** (:func:`names_match`): equal normal forms, or equal consonant skeletons
   (:func:`skeleton`) of at least 3 letters: Ter Ma'la = Teir Maaleh, Idlib = Idleb. In a text a
   place is looked for only from a capitalised word (any word if the text has no capitals),
   never from one of the gazetteer's ``not_places`` ("Islam" shares Salamiyah's skeleton), and
   several words are compared by skeleton only while all are capitalised ("Homs is" is not
   "Homs"). A neighbourhood needs a 4-letter skeleton ("Nusra" is not Ansari).
5. **Deciding** (:func:`select`): a part of a clause that is negated or non-hostile
   (``clauses.yaml``: "aid convoys entered Talbiseh", "no air strikes were reported") is set
   aside first, with what follows it up to the next place name. The remaining clauses that name
   the place decide ("named"); words from other clauses never do. When no clause names it and
   the text reports a single event, the whole text decides ("single"); when it reports several,
   nothing does ("several"). The text reports **several events** when what is left of it has
   two or more ";"-articles with different words, or names two or more other known places (a
   neighbourhood counting as its city, "X countryside" as another place than X). When the only
   clauses naming the place were set aside, or nothing is left, nothing decides ("empty").
   Known misses of this heuristic: one article that reports two events at one place ("clashes
   in Hama countryside and a kidnapping in its north") is "single"; two sources reporting one
   event in different words are "several".

Speed (it runs on every report; about 25 µs for a one-headline UCDP text, 45 µs on average
over the 2016 file): words are tokenised by one regex split into parallel lists; a name is
grown word by word only while it can still become some spelling (prefix sets of normal forms
and skeletons); the clause rules are one regex, tried only when a word one of them starts with
occurs (:attr:`ClauseRules.trigger`).

The package: :mod:`~monitor.places.names` (steps 1 and 4), :mod:`~monitor.places.gazetteer`
(step 3 and the gazetteer file), :mod:`~monitor.places.clauses` (the clause rules file) and
:mod:`~monitor.places.select` (steps 2 and 5).
"""

from __future__ import annotations

from monitor.places.clauses import (
    ClauseRules,
    ClauseRulesSpec,
    load_clause_rules,
)
from monitor.places.gazetteer import (
    Gazetteer,
    GazetteerSpec,
    Place,
    PlaceSpec,
    load_gazetteer,
)
from monitor.places.names import (
    AREA_WORDS,
    DIRECT,
    DIRECTIONS,
    PLACE_KINDS,
    TYPE_WORDS,
    How,
    PlaceKind,
    names_match,
    normalise,
    skeleton,
)
from monitor.places.select import (
    Selection,
    select,
)

__all__ = [
    "AREA_WORDS",
    "ClauseRules",
    "ClauseRulesSpec",
    "DIRECT",
    "DIRECTIONS",
    "Gazetteer",
    "GazetteerSpec",
    "How",
    "PLACE_KINDS",
    "Place",
    "PlaceKind",
    "PlaceSpec",
    "Selection",
    "TYPE_WORDS",
    "load_clause_rules",
    "load_gazetteer",
    "names_match",
    "normalise",
    "select",
    "skeleton",
]
