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
"""

from __future__ import annotations

import html
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

# The regex parser, to read the words a clause rule can start with (ClauseRules.trigger).
from re import _constants as _sre  # type: ignore[attr-defined]
from re import _parser as _sre_parse  # type: ignore[attr-defined]
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, ValidationError, model_validator

from monitor.classify import SpecError, _fold, check_pattern
from monitor.models import FileModel, Name
from monitor.problems import Problem, did_you_mean, location, read_mapping

DIRECT = "="  # marks an incident name that matches only as written (Gazetteer.incident_names)
How = Literal["named", "single", "several", "empty"]
PlaceKind = Literal["governorate", "district", "sub-district", "place", "neighbourhood"]
PLACE_KINDS: tuple[str, ...] = get_args(PlaceKind)
_TOWN_KINDS = ("district", "sub-district", "place", "neighbourhood")

# Step 3: words that say what kind of place a location is, not which (UCDP "Teir Maaleh village",
# with its typos "villge", "villae").
TYPE_WORDS = frozenset({"town", "village", "villages", "villge", "villae", "city", "district",
                        "governorate", "sub-district", "subdistrict", "neighborhood",
                        "neighbourhood", "area", "suburb", "military", "base", "airbase",
                        "airport", "mountain", "mountains", "hill", "hills", "dam", "camp"})
# Words that make a mention of X the area around X, not the town X.
AREA_WORDS = frozenset({"countryside", "governorate", "province", "provinces"})
DIRECTIONS = frozenset({"north", "south", "east", "west", "northern", "southern", "eastern",
                        "western", "northeast", "northwest", "southeast", "southwest",
                        "northeastern", "northwestern", "southeastern", "southwestern",
                        "central"})
# Words that report nothing themselves: a part made of these and place names is a list tail.
FILLER = (TYPE_WORDS | AREA_WORDS | DIRECTIONS | frozenset({
    "the", "of", "in", "on", "at", "to", "into", "near", "and", "its", "their", "both", "towns",
    "cities", "neighborhoods", "neighbourhoods", "areas", "outskirts", "suburbs", "vicinity",
    "rural", "parts", "part", "surroundings", "farms"}))
_LEAD = frozenset({"the", "in", "on", "at", "of", "to", "into", "near"})
# Words no place name starts with ("IN SYRIA" is not "Nasra").
_FUNCTION_WORDS = _LEAD | frozenset({"a", "an", "and", "by", "for", "from", "with", "is", "are",
                                     "was", "were", "as", "after", "before", "during", "its"})

_APOSTROPHES = "'’‘ʼʿʾ`´"
_NO_APOSTROPHES = str.maketrans("", "", _APOSTROPHES)
# Splitting on a captured word gives [gap, word, gap, word, ..., gap]: words and what joins them.
_WORD_SPLIT = re.compile(r"([^\W_]+(?:[" + _APOSTROPHES + r"][^\W_]+)*)")
_JOINERS = " -_\u00a0"
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[^\sa-z])")
# The article in its assimilated forms: "ar-Raqqa", "ash-Shaykh", "as-Safira", "ez-Zor".
_SUN_ARTICLES = frozenset(f"{v}{c}" for v in "ae" for c in
                          ("d", "dh", "n", "r", "s", "sh", "t", "th", "z"))
_ARTICLES = _SUN_ARTICLES | {"al", "el"}
_NO_VOWELS = str.maketrans("", "", "aeiouwy")
_DOUBLES = re.compile(r"(.)\1+")


# --- steps 1 and 4: normal form and skeleton -------------------------------------------------


@lru_cache(maxsize=1 << 16)
def _key(token: str) -> str:
    """One word's normal form: ASCII, lower case, no apostrophes, no possessive "'s"."""
    if len(token) > 2 and token[-2] in _APOSTROPHES and token[-1] in "sS":
        token = token[:-2]
    if not token.isascii():
        token = unicodedata.normalize("NFKD", token).encode("ascii", "ignore").decode()
    return token.lower().translate(_NO_APOSTROPHES)


@dataclass(slots=True)
class _Words:
    """A text's words in normal form, as parallel lists (a list of objects is slower to build)."""

    keys: list[str]
    caps: list[bool]  # written with a capital: a place name may start there
    joined: list[bool]  # joined to the previous word by a space, a hyphen or a dropped article
    starts: list[int]
    ends: list[int]


def _joins(gap: str) -> bool:
    """A space or a hyphen joins the words of a name; " - " (a dash) or a comma does not."""
    return not gap.strip(_JOINERS) and not (len(gap) > 2 and "-" in gap)


def _words(text: str) -> _Words:
    """The words of ``text``, articles dropped, with their spans in ``text``."""
    parts = _WORD_SPLIT.split(text)
    tokens = parts[1::2]
    keys = [_key(t) for t in tokens]
    bounds = list(accumulate(map(len, parts)))  # token i spans bounds[2i]..bounds[2i+1]
    joined = [False] + [gap == " " or _joins(gap) for gap in parts[2:-1:2]]
    caps = [t[0].isupper() for t in tokens]
    starts, ends = bounds[0:-1:2], bounds[1::2]
    if not _ARTICLES.isdisjoint(keys) or "" in keys:
        drop = [i for i, k in enumerate(keys) if not k or (k in _ARTICLES and _is_article(keys, i))]
        for d in drop:  # across a dropped article the words around it stay joined
            if d + 1 < len(keys):
                joined[d + 1] = joined[d + 1] and joined[d]
        for d in reversed(drop):
            del keys[d], caps[d], joined[d], starts[d], ends[d]
        if joined:
            joined[0] = False
    return _Words(keys, caps, joined, starts, ends)


def _is_article(keys: Sequence[str], i: int) -> bool:
    return i + 1 < len(keys) and (keys[i] in ("al", "el") or (
        keys[i] in _SUN_ARTICLES and keys[i + 1].startswith(keys[i][1:])))


def normalise(text: str) -> str:
    """TERMS.md §4 step 1: "Ter Ma’la" → "ter mala", "al-Wa&#39;er" → "waer",
    "Deir ez-Zor" → "deir zor"; words separated by single spaces, punctuation dropped."""
    return " ".join(_words(html.unescape(text)).keys)


@lru_cache(maxsize=1 << 16)
def _word_skeleton(key: str) -> str:
    if key in DIRECTIONS:  # kept whole: "eastern" and "western" have the same consonants
        return key
    if len(key) > 1 and key[-1] == "h":  # a final h: Maaleh = Maale
        key = key[:-1]
    return _DOUBLES.sub(r"\1", key.translate(_NO_VOWELS).replace("q", "k"))


def _join(skel: str, part: str) -> str:
    """Two skeletons joined, collapsing a letter doubled across the join ("dr"+"rk")."""
    return skel + part[1:] if skel and part and part[0] == skel[-1] else skel + part


def _skeleton_of(keys: Iterable[str]) -> str:
    out = ""
    for key in keys:
        out = _join(out, _word_skeleton(key))
    return out


def skeleton(name: str) -> str:
    """TERMS.md §4 step 4: the consonants of each word (vowels, w, y and a final h dropped,
    q→k, doubled letters collapsed), joined: "Ter Ma'la" and "Teir Maaleh" → "trml". A
    direction word is kept whole, or Eastern Ghouta would be Western Ghouta ("strn")."""
    return _skeleton_of(_words(html.unescape(name)).keys)


def names_match(a: str, b: str) -> bool:
    """Two names are one place: equal normal forms, or equal skeletons of 3+ letters."""
    if normalise(a) == normalise(b):
        return True
    sa = skeleton(a)
    return len(sa) >= 3 and sa == skeleton(b)


def _prefixes(keys: Iterable[str], skels: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """Every proper word-prefix of the normal forms, every prefix of the skeletons: a name is
    grown one word further only while it can still become one of them."""
    key_prefixes = {" ".join(k.split()[:n]) for k in keys for n in range(1, k.count(" ") + 1)}
    skel_prefixes = {s[:n] for s in skels for n in range(1, len(s))}
    return frozenset(key_prefixes), frozenset(skel_prefixes)


# --- the gazetteer file ------------------------------------------------------------------------


def _has_words(value: str) -> str:
    if not normalise(value):
        raise SpecError(f"{value!r} has no letters once normalised", "Write the place's name.")
    return value


PlaceName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_has_words)]


class PlaceSpec(FileModel):
    """One place: its canonical name, its other spellings, what kind of place it is."""

    name: PlaceName
    kind: PlaceKind = "place"
    aliases: list[PlaceName] = Field(default_factory=list)
    city: PlaceName | None = None  # a neighbourhood: the city it belongs to
    pcode: str | None = Field(default=None, pattern=r"^SY\d{2}(\d{2}){0,3}$")

    @model_validator(mode="after")
    def _city_for_neighbourhoods(self) -> PlaceSpec:
        if self.kind == "neighbourhood" and self.city is None:
            raise SpecError("a neighbourhood needs 'city'", "Name the city it belongs to.")
        if self.kind != "neighbourhood" and self.city is not None:
            raise SpecError(f"'city' is only for neighbourhoods, not a {self.kind}",
                            "Set kind: neighbourhood, or remove 'city'.")
        return self


class GazetteerSpec(FileModel):
    """``gazetteer.yaml``: places and their spellings (TERMS.md §4 step 3)."""

    description: str = ""
    sources: list[str] = Field(default_factory=list)
    # Words before a district's own name in some sources ("Mintaqat Markaz Homs district").
    admin_prefixes: list[Name] = Field(default_factory=list)
    # Ordinary words whose spelling or skeleton is some place's ("Islam" ~ Salamiyah).
    not_places: list[Name] = Field(default_factory=list)
    places: list[PlaceSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Place:
    name: str
    kind: PlaceKind
    spellings: tuple[str, ...]  # name first, then aliases
    city: str | None
    pcode: str | None
    ident: str  # one key per place, for counting distinct places (a neighbourhood: its city's)
    city_key: str = ""  # a neighbourhood: its city's normal form and skeleton
    city_skeleton: str = ""


def _ident(name: str) -> str:
    skel = skeleton(name)
    return skel if len(skel) >= 3 else normalise(name)


class Gazetteer:
    """The pack's places, indexed by normal form and by skeleton."""

    def __init__(self, spec: GazetteerSpec) -> None:
        self.not_places = frozenset(normalise(w) for w in spec.not_places)
        self._admin_prefixes = frozenset(normalise(w) for w in spec.admin_prefixes)
        self.places = tuple(
            Place(p.name, p.kind, (p.name, *p.aliases), p.city, p.pcode,
                  _ident(p.city or p.name), normalise(p.city or ""), skeleton(p.city or ""))
            for p in spec.places)
        by_key: dict[str, list[int]] = {}
        by_skel: dict[str, list[int]] = {}
        self.max_words = 1
        for i, p in enumerate(self.places):
            for spelling in p.spellings:
                keys = _words(html.unescape(spelling)).keys
                self.max_words = max(self.max_words, len(keys))
                by_key.setdefault(" ".join(keys), []).append(i)
                skel = _skeleton_of(keys)
                # A neighbourhood's 3-letter skeleton is too often a group's or a person's name
                # ("Nusra" ~ Ansari, "Saqqar" ~ Sukkari): it needs 4 letters or an exact spelling.
                if len(skel) >= (4 if p.kind == "neighbourhood" else 3):
                    by_skel.setdefault(skel, []).append(i)
        self.by_key = {k: tuple(dict.fromkeys(v)) for k, v in by_key.items()}
        self.by_skeleton = {k: tuple(dict.fromkeys(v)) for k, v in by_skel.items()}
        self.key_prefixes, self.skeleton_prefixes = _prefixes(self.by_key, self.by_skeleton)
        self._names: dict[tuple[str | None, ...], tuple[str, ...]] = {}
        # cities with neighbourhoods (Aleppo, Homs, Damascus...): their sub-district is the city
        self._cities = frozenset(_ident(p.city) for p in self.places if p.city)

    def lookup(self, name: str, kinds: Iterable[str] = PLACE_KINDS) -> tuple[Place, ...]:
        """The places ``name`` is a spelling of: by normal form, else by skeleton."""
        wanted = set(kinds)
        hits = self.by_key.get(normalise(name), ())
        if not hits:
            skel = skeleton(name)
            hits = self.by_skeleton.get(skel, ()) if len(skel) >= 3 else ()
        return tuple(self.places[i] for i in hits if self.places[i].kind in wanted)

    def is_town(self, name: str) -> bool:
        """Whether ``name`` is a town, city, neighbourhood or governorate (not only a district)."""
        return bool(self.lookup(name, ("place", "neighbourhood", "governorate")))

    def _is_city(self, name: str) -> bool:
        """Whether ``name`` is a governorate's or a city with neighbourhoods (Homs, Aleppo)."""
        return bool(self.lookup(name, ("governorate",))) or _ident(name) in self._cities

    def incident_names(self, place: str | None, admin2: str | None,
                       admin3: str | None = None) -> tuple[str, ...]:
        """TERMS.md §4 step 3: the names that, found in a clause, make it about this incident.

        ``"Tadmur/Palmyra town"`` → Tadmur, Palmyra and their spellings; ``"Jobar
        neighborhood"`` adds Damascus; ``"Hamah Governorate"`` gives "Hamah governorate", an area
        name (:func:`select` matches it in any form, "Hama countryside" too). A district name is
        added unless it is a town's or a governorate's name (the Homs district reaches 80 km
        from Homs); a sub-district name (a town and its surroundings, ~10-20 km) is added unless
        it is a governorate's name or a city's (its sub-district is the city's own area)."""
        cache_key = (place, admin2, admin3)
        found = self._names.get(cache_key)
        if found is not None:
            return found
        bases: list[tuple[str, str]] = []  # (name, "" or the area word it is followed by)
        for part in _split_place(place or ""):
            words = [w for w in part.split() if w.lower() not in TYPE_WORDS - {"governorate"}]
            area = next((w.lower() for w in words if w.lower() in AREA_WORDS), "")
            if area:
                words = [w for w in words if w.lower() not in AREA_WORDS | DIRECTIONS]
            if words and normalise(" ".join(words)):
                bases.append((" ".join(words), "governorate" if area == "province" else area))
        for admin, named_after_town in ((admin2, self.is_town), (admin3, self._is_city)):
            words = [w for w in (admin or "").split()
                     if w.lower() not in TYPE_WORDS and normalise(w) not in self._admin_prefixes]
            name = " ".join(words)
            if not normalise(name) or self.lookup(name, ("governorate",)):
                continue
            # a district or sub-district named after its chief town ("Ar Rastan", "Homs")
            # names the incident only when a clause names it as written: al-Wa'er, a
            # neighbourhood of Homs city, is not al-Qaryatayn in the Homs district
            bases.append((name, DIRECT if named_after_town(name) else ""))
        names: dict[str, None] = {}
        for base, area in bases:
            spellings = [base]
            for p in self.lookup(base, PLACE_KINDS if area else _TOWN_KINDS):
                spellings.extend(p.spellings)
                for city in self.lookup(p.city, ("place",)) if p.city else ():
                    spellings.extend(city.spellings)
            if area == DIRECT:
                names.update((f"{DIRECT}{s}", None) for s in spellings)
                continue
            names.update((f"{s} {area}" if area else s, None) for s in spellings)
        found = tuple(names)
        if len(self._names) < 65536:
            self._names[cache_key] = found
        return found


_PARENS = re.compile(r"\(([^)]*)\)")


def _split_place(place: str) -> list[str]:
    """"Tadmur/Palmyra town" → ["Tadmur", "Palmyra town"]; "Ghazal (Qizil Mazra'ah) village" →
    ["Ghazal village", "Qizil Mazra'ah"]."""
    inner = _PARENS.findall(place)
    outer = _PARENS.sub(" ", place)
    return [p.strip() for p in (*outer.split("/"), *inner) if p.strip()]


def load_gazetteer(path: Path, file_label: str | None = None) -> tuple[Gazetteer | None,
                                                                      list[Problem]]:
    """Read and check ``gazetteer.yaml``; every problem is returned at once, with a hint."""
    label = file_label or str(path)
    data, problems = read_mapping(path, label, "a 'places' list")
    if data is None:
        return None, problems
    try:
        spec = GazetteerSpec.model_validate(data)
    except ValidationError as exc:
        return None, _problems(label, exc, GazetteerSpec)
    towns = [s for p in spec.places if p.kind == "place" for s in (p.name, *p.aliases)]
    known = {normalise(s) for s in towns}
    problems = [
        Problem(label, f"places[{i}].city", f"{p.city!r} is not a place in this gazetteer.",
                did_you_mean(p.city, towns) or "Add the city as a place, or correct the spelling.")
        for i, p in enumerate(spec.places) if p.city and normalise(p.city) not in known]
    return (None, problems) if problems else (Gazetteer(spec), [])


def _problems(label: str, error: ValidationError, model: type[FileModel]) -> list[Problem]:
    """One Problem per validation error, naming its key; our own checks keep their hint."""
    out = []
    for err in error.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
        key = location(loc)
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, SpecError):
            out.append(Problem(label, key, cause.message, cause.hint))
        elif err["type"] == "extra_forbidden":
            fields = model.model_fields if len(loc) == 1 else _nested_fields(model, loc)
            out.append(Problem(label, key, "is not a known field; remove it or check its spelling",
                               did_you_mean(loc[-1], fields)))
        elif err["type"] == "missing":
            out.append(Problem(label, key, "is required but missing"))
        else:
            out.append(Problem(label, key, err["msg"].removeprefix("Value error, ")))
    return out


def _nested_fields(model: type[FileModel], loc: Sequence[Any]) -> Iterable[str]:
    """The fields of the model a nested location lies in (``places[3].cty`` → PlaceSpec's)."""
    field = model.model_fields.get(str(loc[0]))
    args = get_args(field.annotation) if field else ()
    inner = next((a for a in args if isinstance(a, type) and issubclass(a, FileModel)), None)
    return inner.model_fields if inner else ()


# --- the clause rules file ---------------------------------------------------------------------

PatternText = Annotated[str, AfterValidator(check_pattern)]


class ClauseRulesSpec(FileModel):
    """``clauses.yaml``: mentions that decide nothing (TERMS.md §4, last sentence).

    Patterns are Python regular expressions matched on whole words against a clause in normal
    form (:func:`normalise`: lower-case ASCII words separated by single spaces; apostrophes,
    punctuation and the article "al-" dropped), case-insensitively."""

    description: str = ""
    negated: list[PatternText] = Field(default_factory=list)
    non_hostile: list[PatternText] = Field(default_factory=list)
    # words that say the text reports several events ("kill 8 people in 3 towns")
    several: list[PatternText] = Field(default_factory=list)


class ClauseRules:
    """The negated and non-hostile patterns compiled into one regex, searched once per text.

    Each pattern is an alternative ending in an empty marker group named after its list, so the
    match says which list it came from (as :mod:`monitor.classify` does for its classes). Most
    texts match none: ``trigger``, a regex of the literal words a match can start with (read
    from the parsed patterns: "no", "aid", "agree…"), turns them away at a fifth of the cost;
    it is None when some pattern can start with any word, and then every text is searched."""

    _KINDS = {"n": "negated", "h": "non-hostile"}

    def __init__(self, spec: ClauseRulesSpec) -> None:
        lists = (("n", [_fold(p) for p in spec.negated]),
                 ("h", [_fold(p) for p in spec.non_hostile]))
        alternatives = [f"(?:{p})\\b(?P<{kind}{i}>)"
                        for kind, patterns in lists for i, p in enumerate(patterns)]
        self.several = (re.compile(r"\b(?:" + "|".join(_fold(p) for p in spec.several) + r")\b")
                        if spec.several else None)
        self.regex = (re.compile(r"\b(?=\w)(?:" + "|".join(alternatives) + ")")
                      if alternatives else None)
        starts = [_starts(list(_sre_parse.parse(p)), True) for _, ps in lists for p in ps]
        self.trigger = None
        if starts and all(s is not None for s in starts):
            self.trigger = re.compile(r"\b" + _trie({w for s in starts if s for w in s}))

    def set_aside(self, normalised_clause: str) -> str:
        """"negated", "non-hostile", or "" when the clause may decide."""
        return self.set_aside_each([normalised_clause])[0]

    def set_aside_each(self, clauses: Sequence[str]) -> list[str]:
        """:meth:`set_aside` for each clause, with one search over all of them."""
        out = [""] * len(clauses)
        # " | " cannot be crossed by a pattern: "|" is neither a word character nor a space.
        joined = " | ".join(clauses)
        if self.regex is None or (self.trigger is not None and not self.trigger.search(joined)):
            return out
        offsets = list(accumulate(len(c) + 3 for c in clauses[:-1]))
        for match in self.regex.finditer(joined):
            index = bisect_right(offsets, match.start())
            out[index] = out[index] or self._KINDS[(match.lastgroup or "n")[0]]
        return out


def _trie(words: set[tuple[str, bool]]) -> str:
    """A regex of the words as a trie ("agree", "agreed\\b", "aid" → ``a(?:gree(?:d\\b|)|id)``):
    the engine then rejects a position by its first letters, not word by word (twice as fast)."""
    root: dict[str, Any] = {}
    for word, whole in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = node.get("", True) and whole  # a word that ends here; whole: \b must follow

    def emit(node: dict[str, Any]) -> str:
        alternatives = [re.escape(ch) + emit(node[ch]) for ch in sorted(node) if ch]
        if "" in node:
            alternatives.append(r"\b" if node[""] else "")
        return alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"

    return emit(root)


def _starts(items: list[Any], then_space: bool) -> set[tuple[str, bool]] | None:
    """The literal words a match of a parsed pattern can start with, as (words, whole): whole
    when a space must follow them, else a prefix ("agree" of ``agree\\w*``). None when a match
    may start with anything (a class first, or only optional parts). ``then_space``: a space
    follows the items."""
    out: set[tuple[str, bool]] = set()
    for n, (op, arg) in enumerate(items):
        rest = items[n + 1:]
        space_next = rest[0] == (_sre.LITERAL, 32) if rest else then_space
        if op is _sre.LITERAL:
            run = ""
            for op2, arg2 in items[n:]:
                if op2 is not _sre.LITERAL:
                    break
                run += chr(arg2)
            whole = run.endswith(" ") or (len(run) == len(items) - n and then_space)
            if not whole and " " in run:
                run, whole = run[:run.rindex(" ")], True
            out.add((run.rstrip(" "), whole))
            return out
        if op is _sre.SUBPATTERN or op is _sre.BRANCH:
            branches = [arg[-1]] if op is _sre.SUBPATTERN else arg[1]
            for branch in branches:
                found = _starts(list(branch), space_next)
                if found is None:
                    return None
                out |= found
            if all(branches):  # no empty branch: the match starts in this group
                return out
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            found = _starts(list(arg[2]), False)
            if found is None:
                return None
            out |= found
            if arg[0] >= 1:
                return out
        else:
            return None
    return None


def load_clause_rules(path: Path, file_label: str | None = None) -> tuple[ClauseRules | None,
                                                                          list[Problem]]:
    """Read and check ``clauses.yaml``; a pattern that would not compile, or would match the
    empty text, is a Problem naming the file, the key (``negated[3]``) and the fix."""
    label = file_label or str(path)
    data, problems = read_mapping(path, label, "keys 'negated', 'non_hostile'")
    if data is None:
        return None, problems
    try:
        spec = ClauseRulesSpec.model_validate(data)
    except ValidationError as exc:
        return None, _problems(label, exc, ClauseRulesSpec)
    return ClauseRules(spec), []


# --- steps 2 and 5: clauses and the decision -----------------------------------------------


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
        out.append(_Mention(i, end, ours, ident, text[w.starts[i]:w.ends[end - 1]]))
        after = end
    return out


def _area_form(keys: Sequence[str], start: int, end: int) -> bool:
    """"Hama countryside", "Hama's northern countryside", "Aleppo northern and northeastern
    countryside", "the countryside of Hama", "rural Hama", "Idlib province": the area, not the
    town (TERMS.md §4 step 3)."""
    k = end
    while k < len(keys) and (keys[k] in DIRECTIONS or (
            keys[k] == "and" and k > end and keys[k - 1] in DIRECTIONS)):
        k += 1
    if k < len(keys) and keys[k] in AREA_WORDS:
        return True
    k = start - 1
    if k >= 0 and keys[k] in ("rural", "countryside"):
        return True
    if k >= 0 and keys[k] == "of":
        k -= 1
        while k >= 0 and keys[k] in DIRECTIONS:
            k -= 1
        return k >= 0 and keys[k] in AREA_WORDS
    return False


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
    words, or clauses naming two or more other places (a neighbourhood counting as its city,
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
    if articles > 1 or len(others) > 1 or counted:
        return Selection("", (), dropped, "several", inc.first, articles,
                         tuple(others.values()))
    whole = tuple(c.text for c in kept)
    return Selection(source.strip() if not dropped else "; ".join(whole), whole, dropped,
                     "single", inc.first, articles, tuple(others.values()))
