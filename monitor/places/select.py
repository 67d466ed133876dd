"""Steps 2 and 5 of TERMS.md §4 "Which words decide": split a text into clauses and decide which
of them are about the incident (:func:`select`). See :mod:`monitor.places`."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

# The regex parser, to read the words a clause rule can start with (ClauseRules.trigger).
from monitor.places.clauses import (
    ClauseRules,
)
from monitor.places.gazetteer import (
    Gazetteer,
)
from monitor.places.names import (
    _FUNCTION_WORDS,
    _LEAD,
    _SENTENCE_END,
    AREA_WORDS,
    DIRECT,
    DIRECTIONS,
    FILLER,
    How,
    _join,
    _prefixes,
    _skeleton_of,
    _word_skeleton,
    _Words,
    _words,
)


@dataclass(frozen=True)
class Selection:
    """The words about one incident, and how they were chosen (TERMS.md §4 step 5)."""

    text: str  # the words that decide; "" when none do
    clauses: tuple[str, ...]  # the deciding clauses, as written
    dropped: tuple[str, ...]  # clauses set aside as negated or non-hostile
    how: How
    place: str = ""  # the incident's name, for the explanation
    articles: int = 0  # distinct ";"-articles left once the set-aside clauses are dropped
    others: tuple[str, ...] = ()  # other places the text names, as written
    kinds: tuple[str, ...] = ()  # the kinds of event a text of several reports

    def note(self) -> str:
        """One sentence for the explanation kept with the incident."""
        place = self.place or "the incident's place"
        if self.how == "named":
            many = len(self.clauses) > 1
            quoted = " and ".join(f"'{_short(c)}'" for c in self.clauses)
            out = (f"words about this incident: the clause{'s' if many else ''} {quoted} "
                   f"name{'' if many else 's'} {place}")
        elif self.how == "single":
            out = (f"no clause names {place} and the text reports a single event: "
                   "the whole text decides")
        elif self.how == "several":
            why = [f"{self.articles} articles"] if self.articles > 1 else []
            if len(self.others) > 1:
                why.append("names " + ", ".join(self.others[:4]))
            if len(self.kinds) > 1:
                why.append("words of " + " and of ".join(self.kinds))
            out = (f"no clause names {place} and the text reports several events "
                   f"({'; '.join(why)}): its words decide nothing")
        elif self.dropped:
            out = f"every clause about {place} was set aside: its words decide nothing"
        else:
            out = "the text is empty: its words decide nothing"
        if self.dropped:
            out += " (set aside: " + ", ".join(f"'{_short(c)}'" for c in self.dropped) + ")"
        return out


def _short(clause: str, limit: int = 100) -> str:
    return clause if len(clause) <= limit else clause[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class _Incident:
    """The incident's names compiled for matching: town names match a mention of the town;
    area names ("Hamah governorate") match any mention, "Hama countryside" included."""

    first: str
    keys: frozenset[str]
    skels: frozenset[str]
    area_keys: frozenset[str]
    area_skels: frozenset[str]
    max_words: int
    first_words: frozenset[str]  # looked for even when the gazetteer says "not a place"
    key_prefixes: frozenset[str]
    skel_prefixes: frozenset[str]
    # names that match only when written as they are (a district named after its town), never
    # through a neighbourhood's city
    direct_keys: frozenset[str] = frozenset()
    direct_skels: frozenset[str] = frozenset()


@lru_cache(maxsize=4096)
def _incident(names: tuple[str, ...]) -> _Incident:
    keys: set[str] = set()
    skels: set[str] = set()
    area_keys: set[str] = set()
    area_skels: set[str] = set()
    first = ""
    longest = 1
    first_words: set[str] = set()
    direct_keys: set[str] = set()
    direct_skels: set[str] = set()
    for name in names:
        if name.startswith(DIRECT):
            words = _words(html.unescape(name[len(DIRECT):])).keys
            if words:
                direct_keys.add(" ".join(words))
                longest = max(longest, len(words))
                first_words.add(words[0])
                if len(skel := _skeleton_of(words)) >= 3:
                    direct_skels.add(skel)
            continue
        words = _words(html.unescape(name)).keys
        area = bool(words) and words[-1] in AREA_WORDS
        words = [k for k in words if k not in AREA_WORDS | DIRECTIONS] if area else words
        if not words:
            continue
        first = first or (" ".join(name.split()[:-1]) if area else name)
        longest = max(longest, len(words))
        first_words.add(words[0])
        skel = _skeleton_of(words)
        (area_keys if area else keys).add(" ".join(words))
        if len(skel) >= 3:
            (area_skels if area else skels).add(skel)
    key_prefixes, skel_prefixes = _prefixes(keys | area_keys | direct_keys,
                                            skels | area_skels | direct_skels)
    return _Incident(first, frozenset(keys), frozenset(skels), frozenset(area_keys),
                     frozenset(area_skels), longest, frozenset(first_words), key_prefixes,
                     skel_prefixes, frozenset(direct_keys), frozenset(direct_skels))


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int  # word indexes
    end: int
    ours: bool  # names the incident
    ident: str  # which place, for counting distinct places
    written: str
    area: str = ""  # "before" ("the countryside of X"), "after" ("X countryside") or ""


def _mentions(w: _Words, text: str, gaz: Gazetteer, inc: _Incident,
              any_case: bool) -> list[_Mention]:
    """The place names among the words, longest first (TERMS.md §4 step 4)."""
    out: list[_Mention] = []
    keys, caps, joined = w.keys, w.caps, w.joined
    n = len(keys)
    longest = max(gaz.max_words, inc.max_words)
    by_key, by_skel, key_prefixes, skel_prefixes = (gaz.by_key, gaz.by_skeleton,
                                                    gaz.key_prefixes, gaz.skeleton_prefixes)
    starts = range(n) if any_case else [
        i for i in range(n) if caps[i] or (i + 1 < n and caps[i + 1] and keys[i] in DIRECTIONS)]
    after = 0  # the end of the last mention: mentions do not overlap
    for i in starts:
        key = keys[i]
        if i < after or key in _FUNCTION_WORDS or (
                key in gaz.not_places and key not in inc.first_words):
            continue
        found: tuple[int, str, str, tuple[int, ...]] | None = None
        name, skel = "", ""
        for j in range(i, min(n, i + longest)):
            if j > i and not joined[j]:
                break
            name = key if j == i else f"{name} {keys[j]}"
            # Several words are compared by skeleton only while all are capitalised.
            skel = (_join(skel, _word_skeleton(keys[j]))
                    if j == i or (skel and caps[j] and not any_case) else "")
            s3 = skel if len(skel) >= 3 else ""
            hits = by_key.get(name) or (by_skel.get(s3, ()) if s3 else ())
            if hits or name in inc.keys or name in inc.area_keys or name in inc.direct_keys or (
                    s3 and (s3 in inc.skels or s3 in inc.area_skels or s3 in inc.direct_skels)):
                found = (j + 1, name, s3, hits)
            if not (name in key_prefixes or name in inc.key_prefixes or (skel and (
                    skel in skel_prefixes or skel in inc.skel_prefixes))):
                break
        if found is None:
            continue
        end, name, s3, hits = found
        area = _area_form(keys, i, end)
        # "the countryside of Idlib and Aleppo": the area form carries over "and" ("Herbanafsa
        # and Dar'a countryside" does not carry back: a town, then another place's area)
        if not area and out and out[-1].area == "before" and _joined_by_and(keys, out[-1].end, i):
            area = "before"
        ours = name in inc.area_keys or (bool(s3) and s3 in inc.area_skels)
        if not ours and not area:
            ours = name in inc.keys or (bool(s3) and s3 in inc.skels) or (
                name in inc.direct_keys or (bool(s3) and s3 in inc.direct_skels)) or any(
                gaz.places[h].city_key in inc.keys or gaz.places[h].city_skeleton in inc.skels
                for h in hits if gaz.places[h].city)
        ident = min(gaz.places[h].ident for h in hits) if hits else (s3 or name)
        if area:  # "X countryside" is not the town X: another place when counting them, and
            # the northern countryside of X another than its southern one
            ident = f"{ident} {_direction_near(keys, i, end)}countryside"
        out.append(_Mention(i, end, ours, ident, text[w.starts[i]:w.ends[end - 1]], area))
        after = end
    return out


def _joined_by_and(keys: Sequence[str], end: int, start: int) -> bool:
    """Two names next to each other but for an "and" ("Idlib and Aleppo")."""
    return list(keys[end:start]) == ["and"]


def _area_form(keys: Sequence[str], start: int, end: int) -> str:
    """"Hama countryside", "Hama's northern countryside", "Aleppo northern and northeastern
    countryside" ("after"), "the countryside of Hama", "rural Hama" ("before"), "Idlib
    province": the area, not the town (TERMS.md §4 step 3); "" for the town."""
    k = end
    while k < len(keys) and (keys[k] in DIRECTIONS or (
            keys[k] == "and" and k > end and keys[k - 1] in DIRECTIONS)):
        k += 1
    if k < len(keys) and keys[k] in AREA_WORDS:
        return "after"
    k = start - 1
    if k >= 0 and keys[k] in ("rural", "countryside"):
        return "before"
    if k >= 0 and keys[k] == "of":
        k -= 1
        while k >= 0 and keys[k] in DIRECTIONS:
            k -= 1
        return "before" if k >= 0 and keys[k] in AREA_WORDS else ""
    return ""


def _direction_near(keys: Sequence[str], start: int, end: int) -> str:
    """The direction words of an area phrase ("northern " in "the northern countryside of
    Aleppo", "Aleppo southern countryside"), or ""."""
    found = [k for k in (*keys[end:end + 4], *keys[max(start - 4, 0):start]) if k in DIRECTIONS]
    return (" ".join(dict.fromkeys(found)) + " ") if found else ""


@dataclass(frozen=True, slots=True)
class _Clause:
    text: str  # as written
    article: int  # which ";"-article it is in
    aside: str  # "", "negated" or "non-hostile"
    ours: bool  # names the incident's place
    others: tuple[_Mention, ...]  # the other places it names
    normal: str


@dataclass(slots=True)
class _Sentence:
    text: str
    article: int
    words: _Words
    mentions: list[_Mention]
    pieces: list[tuple[int, int]]  # word ranges between its commas and "and"s


def _pieces(text: str, w: _Words) -> list[tuple[int, int]]:
    """Word ranges between the sentence's commas and "and"s (the "and" itself in none)."""
    out = []
    lo = 0
    for i, key in enumerate(w.keys):
        if key == "and":
            if i > lo:
                out.append((lo, i))
            lo = i + 1
        elif i > lo and "," in text[w.ends[i - 1]:w.starts[i]]:
            out.append((lo, i))
            lo = i
    if lo < len(w.keys):
        out.append((lo, len(w.keys)))
    return out


def _clauses(s: _Sentence, aside: Sequence[str]) -> list[_Clause]:
    """Step 2: the sentence's pieces grouped into clauses. "," or "and" before a place name,
    or between two parts that each name one, starts a clause; so does a part set aside as
    negated or non-hostile ("Warplanes bomb Aleppo and more food enters the city"). Any other
    part continues the clause it follows, set aside or not ("Another agreement in al-Waer
    between regime forces and rebels"), unless it names the incident's own place after a part
    set aside; a part that is only place names always does."""
    w = s.words
    groups: list[tuple[int, int, list[_Mention], str]] = []
    group_has_place = False
    for (lo, hi), why in zip(s.pieces, aside):
        here = [m for m in s.mentions if lo <= m.start < hi]
        covered = {k for m in here for k in range(m.start, m.end)}
        content = any(w.keys[k] not in FILLER for k in range(lo, hi) if k not in covered)
        split = False
        if groups and content:
            lead = lo
            while lead < hi and w.keys[lead] in _LEAD:
                lead += 1
            split = (bool(why) and why != groups[-1][3]) or bool(here) and (
                here[0].start == lead or group_has_place
                # the incident's own place, after a part set aside: "Cautious calm in Tal and
                # the regime forces targeting Madaya" — the calm is not Madaya's
                or (bool(groups[-1][3]) and not why and any(m.ours for m in here)))
        if groups and not split:
            g_lo, _, g_mentions, g_why = groups[-1]
            groups[-1] = (g_lo, hi, g_mentions + here, g_why)
            group_has_place = group_has_place or bool(here)
        else:
            groups.append((lo, hi, here, why))
            group_has_place = bool(here)
    return [_Clause(s.text[w.starts[lo]:w.ends[hi - 1]], s.article, why,
                    any(m.ours for m in found), tuple(m for m in found if not m.ours),
                    " ".join(w.keys[lo:hi]))
            for lo, hi, found, why in groups]


def select(text: str, names: Sequence[str], gazetteer: Gazetteer, rules: ClauseRules) -> Selection:
    """TERMS.md §4 "Which words decide": the words of ``text`` about the incident whose names
    (:meth:`Gazetteer.incident_names`) are ``names``.

    "named": the clauses naming the place decide, and only they. "single": none names it and
    the text reports one event: the whole text (less the clauses set aside) decides. "several":
    none names it and the text reports several events — two or more ";"-articles with different
    words, two kinds of event ("clashes in X and regime forces shell Y"), or clauses naming two
    or more other places (a neighbourhood counting as its city,
    "X countryside" as another place than X), counting only what was not set aside — so
    nothing decides. "empty": no text, or the clauses naming the place (every clause, when none
    does) were set aside as negated or non-hostile."""
    inc = _incident(tuple(names))
    if not text or not text.strip():
        return Selection("", (), (), "empty", inc.first)
    source = html.unescape(text) if "&" in text else text
    any_case = source == source.lower()  # no capitals at all: a place may start at any word
    sentences = []
    for number, article in enumerate(source.split(";")):
        for sentence in _SENTENCE_END.split(article.strip()):
            words = _words(sentence)
            if words.keys:
                sentences.append(_Sentence(sentence, number, words, _mentions(
                    words, sentence, gazetteer, inc, any_case), _pieces(sentence, words)))
    parts = [" ".join(s.words.keys[lo:hi]) for s in sentences for lo, hi in s.pieces]
    aside = iter(rules.set_aside_each(parts))
    clauses = [c for s in sentences for c in _clauses(s, [next(aside) for _ in s.pieces])]
    kept = [c for c in clauses if not c.aside]
    dropped = tuple(c.text for c in clauses if c.aside)
    named = tuple(c.text for c in kept if c.ours)
    # Events are counted on what is left: an aid delivery set aside is no second event.
    by_article: dict[int, list[str]] = {}
    for c in kept:
        by_article.setdefault(c.article, []).append(c.normal)
    articles = len({" ".join(normal) for normal in by_article.values()})
    if named:
        return Selection("; ".join(named), named, dropped, "named", inc.first, articles)
    if not kept or any(c.ours for c in clauses):
        return Selection("", (), dropped, "empty", inc.first, articles)
    others: dict[str, str] = {}
    for c in kept:
        for m in c.others:
            others.setdefault(m.ident, m.written)
    counted = rules.several is not None and any(rules.several.search(c.normal) for c in kept)
    kinds = tuple(rules.kinds([c.normal for c in kept]))
    if articles > 1 or len(others) > 1 or counted or len(kinds) > 1:
        return Selection("", (), dropped, "several", inc.first, articles,
                         tuple(others.values()), kinds)
    whole = tuple(c.text for c in kept)
    return Selection(source.strip() if not dropped else "; ".join(whole), whole, dropped,
                     "single", inc.first, articles, tuple(others.values()))
