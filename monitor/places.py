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
   gazetteer. A neighbourhood counts as its city (in the location and in the text). "X
   countryside", "rural X", "the countryside of X" and "X governorate/province" never name the
   *town* X; a location that is itself a governorate ("Hamah Governorate") gives the area name
   "Hamah governorate", which any mention of Hama names. A district named after its chief town
   ("Mintaqat Markaz Homs", "Duma") is not added: to a reader "Homs" is the city, 80 km from
   al-Qaryatayn. Governorate names are never added.
4. **Matching** (:func:`names_match`): equal normalised names, or equal consonant skeletons
   (:func:`skeleton`) of at least 3 letters: Ter Ma'la = Teir Maaleh, Idlib = Idleb.
   A place is only looked for at a capitalised word (unless the text has no capitals at all),
   and never at one of the gazetteer's ``not_places`` (ordinary words such as "regime" whose
   skeleton is some village's).
5. **Deciding** (:func:`select`): clauses that are negated or non-hostile (``clauses.yaml``) are
   set aside first. The remaining clauses that name the place decide ("named"); words from other
   clauses never do. When no clause names it and the text reports a single event, the whole
   text decides ("single"); when it reports several, nothing does ("several"). The text reports
   **several events** when it has two or more ";"-articles with different words, or its clauses
   name two or more other known places (a neighbourhood counting as its city, "X countryside"
   as X). When the only clauses naming the place were set aside, or nothing is left, nothing
   decides ("empty").
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field, ValidationError, model_validator

from monitor.classify import SpecError, check_pattern
from monitor.models import FileModel, Name
from monitor.problems import Problem, did_you_mean, location, read_yaml

How = Literal["named", "single", "several", "empty"]
PlaceKind = Literal["governorate", "district", "sub-district", "place", "neighbourhood"]
PLACE_KINDS = get_args(PlaceKind)

# Step 3: words that say what kind of place a location is, not which (UCDP "Teir Maaleh village",
# with its typos "villge", "villae").
TYPE_WORDS = frozenset({"town", "village", "villages", "villge", "villae", "city", "district",
                        "governorate", "sub-district", "subdistrict", "neighborhood",
                        "neighbourhood", "area"})
# Words that make a mention of X the area around X, not the town X.
AREA_WORDS = frozenset({"countryside", "governorate", "province", "provinces"})
DIRECTIONS = frozenset({"north", "south", "east", "west", "northern", "southern", "eastern",
                        "western", "northeast", "northwest", "southeast", "southwest",
                        "northeastern", "northwestern", "southeastern", "southwestern",
                        "central"})
# Words that carry no report of their own: a part made of these and place names is a list tail.
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
_WORD = re.compile(r"[^\W_]+(?:[" + _APOSTROPHES + r"][^\W_]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[^\sa-z])")
# The article in its assimilated forms: "ar-Raqqa", "ash-Shaykh", "as-Safira", "ez-Zor".
_SUN_ARTICLES = frozenset(f"{v}{c}" for v in "ae" for c in
                          ("d", "dh", "n", "r", "s", "sh", "t", "th", "z"))
_NO_VOWELS = str.maketrans("", "", "aeiouwy")
_DOUBLES = re.compile(r"(.)\1+")


# --- step 1 and 4: normal form and skeleton --------------------------------------------------


@lru_cache(maxsize=1 << 16)
def _key(token: str) -> str:
    """One word's normal form: ASCII, lower case, no apostrophes, no possessive "'s"."""
    if len(token) > 2 and token[-2] in _APOSTROPHES and token[-1] in "sS":
        token = token[:-2]
    if not token.isascii():
        token = unicodedata.normalize("NFKD", token).encode("ascii", "ignore").decode()
    return token.lower().translate(_NO_APOSTROPHES)


@dataclass(frozen=True, slots=True)
class _Word:
    key: str
    cap: bool  # written with a capital: only there is a place name looked for
    joined: bool  # only spaces, hyphens or a dropped article since the previous word
    start: int
    end: int


_JOINERS = " -_\u00a0"


def _words(text: str) -> list[_Word]:
    """The words of ``text`` in normal form, with their spans; articles dropped."""
    raw = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    keys = [_key(tok) for tok, _, _ in raw]
    out: list[_Word] = []
    last = len(raw) - 1
    joined = False
    previous_end = 0
    for i, (tok, start, end) in enumerate(raw):
        key = keys[i]
        gap = text[previous_end:start]
        # a space or a hyphen joins the words of a name; " - " (a dash) or a comma does not
        joined = joined and not gap.strip(_JOINERS) and not (len(gap) > 2 and "-" in gap)
        previous_end = end
        if not key:
            continue
        if i < last and (key in ("al", "el") or
                         (key in _SUN_ARTICLES and keys[i + 1].startswith(key[1:]))):
            continue  # the article: the words around it stay joined
        out.append(_Word(key, tok[0].isupper(), joined and bool(out), start, end))
        joined = True
    return out


def normalise(text: str) -> str:
    """TERMS.md §4 step 1: "Ter Ma’la" → "ter mala", "al-Wa&#39;er" → "waer",
    "Deir ez-Zor" → "deir zor"; words separated by single spaces, punctuation dropped."""
    return " ".join(w.key for w in _words(html.unescape(text)))


@lru_cache(maxsize=1 << 16)
def _word_skeleton(key: str) -> str:
    if len(key) > 1 and key[-1] == "h":  # a final h: Maaleh = Maale
        key = key[:-1]
    return _DOUBLES.sub(r"\1", key.translate(_NO_VOWELS).replace("q", "k"))


def _join(parts: Iterable[str]) -> str:
    """Word skeletons joined, collapsing a letter doubled across the join ("dr"+"rk")."""
    out = ""
    for part in parts:
        out += part[1:] if out and part and part[0] == out[-1] else part
    return out


def skeleton(name: str) -> str:
    """TERMS.md §4 step 4: the consonants of each word (vowels, w, y and a final h dropped,
    q→k, doubled letters collapsed), joined: "Ter Ma'la" and "Teir Maaleh" → "trml"."""
    return _join(_word_skeleton(w.key) for w in _words(html.unescape(name)))


def names_match(a: str, b: str) -> bool:
    """Two names are one place: equal normal forms, or equal skeletons of 3+ letters."""
    if normalise(a) == normalise(b):
        return True
    sa = skeleton(a)
    return len(sa) >= 3 and sa == skeleton(b)


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
    # Ordinary words whose spelling or skeleton is some place's ("regime" ~ "Rajm").
    not_places: list[Name] = Field(default_factory=list)
    places: list[PlaceSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Place:
    name: str
    kind: PlaceKind
    spellings: tuple[str, ...]  # name first, then aliases
    city: str | None
    pcode: str | None
    ident: str  # one key per place for counting distinct places (a neighbourhood: its city's)


class Gazetteer:
    """The pack's places, indexed by normal form and by skeleton."""

    def __init__(self, spec: GazetteerSpec) -> None:
        self.places: tuple[Place, ...] = ()
        self.by_key: dict[str, tuple[int, ...]] = {}
        self.by_skeleton: dict[str, tuple[int, ...]] = {}
        self.not_places = frozenset(normalise(w) for w in spec.not_places)
        self._prefixes = frozenset(normalise(w) for w in spec.admin_prefixes)
        by_key: dict[str, list[int]] = {}
        by_skel: dict[str, list[int]] = {}
        self.max_words = 1
        for i, p in enumerate(spec.places):
            for spelling in (p.name, *p.aliases):
                words = _words(html.unescape(spelling))
                self.max_words = max(self.max_words, len(words))
                by_key.setdefault(" ".join(w.key for w in words), []).append(i)
                skel = _join(_word_skeleton(w.key) for w in words)
                # A neighbourhood's 3-letter skeleton is too often a group's or a person's name
                # ("Nusra" ~ Ansari, "Saqqar" ~ Sukkari): it needs 4 letters, or an exact spelling.
                if len(skel) >= (4 if p.kind == "neighbourhood" else 3):
                    by_skel.setdefault(skel, []).append(i)
        self.by_key = {k: tuple(dict.fromkeys(v)) for k, v in by_key.items()}
        self.by_skeleton = {k: tuple(dict.fromkeys(v)) for k, v in by_skel.items()}
        self.places = tuple(
            Place(p.name, p.kind, (p.name, *p.aliases), p.city, p.pcode, _ident(p.city or p.name))
            for p in spec.places)
        self._names: dict[tuple[str | None, ...], tuple[str, ...]] = {}

    def lookup(self, name: str, kinds: Iterable[str] = PLACE_KINDS) -> tuple[Place, ...]:
        """The places ``name`` is a spelling of: by normal form, else by skeleton."""
        wanted = set(kinds)
        key = normalise(name)
        hits = self.by_key.get(key, ())
        if not hits:
            skel = skeleton(name)
            hits = self.by_skeleton.get(skel, ()) if len(skel) >= 3 else ()
        return tuple(self.places[i] for i in hits if self.places[i].kind in wanted)

    def is_place(self, name: str) -> bool:
        """Whether ``name`` is a town, city, neighbourhood or governorate (not only a district)."""
        return bool(self.lookup(name, ("place", "neighbourhood", "governorate")))

    def incident_names(self, place: str | None, admin2: str | None,
                       admin3: str | None = None) -> tuple[str, ...]:
        """TERMS.md §4 step 3: the names that, found in a clause, make it about this incident.

        ``"Tadmur/Palmyra town"`` → Tadmur, Palmyra and their spellings; ``"Jobar
        neighborhood"`` adds Damascus; ``"Hamah Governorate"`` gives "Hamah governorate", an area
        name (:func:`select` matches it in any form, "Hama countryside" too). District and
        sub-district names are added unless they are a town's or a governorate's name."""
        cache_key = (place, admin2, admin3)
        found = self._names.get(cache_key)
        if found is not None:
            return found
        bases: list[tuple[str, str]] = []  # (name, "" or the area word)
        for part in _split_place(place or ""):
            words = [w for w in part.split() if w.lower() not in TYPE_WORDS - {"governorate"}]
            area = next((w.lower() for w in words if w.lower() in AREA_WORDS), "")
            if area:
                words = [w for w in words
                         if w.lower() not in AREA_WORDS and w.lower() not in DIRECTIONS]
            if words and normalise(" ".join(words)):
                bases.append((" ".join(words), "governorate" if area == "province" else area))
        for admin in (admin2, admin3):
            words = [w for w in (admin or "").split()
                     if w.lower() not in TYPE_WORDS and normalise(w) not in self._prefixes]
            name = " ".join(words)
            if name and normalise(name) and not self.is_place(name):
                bases.append((name, ""))
        names: dict[str, None] = {}
        for base, area in bases:
            kinds = PLACE_KINDS if area else ("district", "sub-district", "place", "neighbourhood")
            spellings = [base]
            for p in self.lookup(base, kinds):
                spellings.extend(p.spellings)
                if p.city:
                    for city in self.lookup(p.city, ("place",)):
                        spellings.extend(city.spellings)
            for s in spellings:
                names[f"{s} {area}" if area else s] = None
        found = tuple(names)
        if len(self._names) < 65536:
            self._names[cache_key] = found
        return found


def _ident(name: str) -> str:
    skel = skeleton(name)
    return skel if len(skel) >= 3 else normalise(name)


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
    data, problems = read_yaml(path)
    if problems:
        return None, [Problem(label, p.key, p.message, p.hint) for p in problems]
    if not isinstance(data, dict):
        return None, [Problem(label, "", "must be a mapping with a 'places' list",
                              "See config/syria-2016/gazetteer.yaml for an example.")]
    try:
        spec = GazetteerSpec.model_validate(data)
    except ValidationError as exc:
        return None, _problems(label, exc, GazetteerSpec)
    cities = {normalise(s) for p in spec.places if p.kind == "place" for s in (p.name, *p.aliases)}
    problems = [
        Problem(label, f"places[{i}].city", f"{p.city!r} is not a place in this gazetteer.",
                did_you_mean(p.city, [q.name for q in spec.places if q.kind == "place"])
                or "Add the city as a place, or correct the spelling.")
        for i, p in enumerate(spec.places) if p.city and normalise(p.city) not in cities]
    if problems:
        return None, problems
    return Gazetteer(spec), []


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

    Patterns are Python regular expressions matched, case-insensitively and on whole words,
    against a clause in normal form (:func:`normalise`: lower-case ASCII words separated by
    single spaces, apostrophes, punctuation and the article "al-" dropped)."""

    description: str = ""
    negated: list[PatternText] = Field(default_factory=list)
    non_hostile: list[PatternText] = Field(default_factory=list)


def _alternation(patterns: Sequence[str]) -> re.Pattern[str] | None:
    # check_pattern refused named groups and back-references, so the patterns combine safely.
    if not patterns:
        return None
    return re.compile(r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\b", re.IGNORECASE)


class ClauseRules:
    """The negated and non-hostile patterns, each list compiled once into one regex."""

    def __init__(self, spec: ClauseRulesSpec) -> None:
        self._negated = _alternation(spec.negated)
        self._non_hostile = _alternation(spec.non_hostile)

    def set_aside(self, normalised_clause: str) -> str:
        """"negated", "non-hostile", or "" when the clause may decide."""
        if self._negated is not None and self._negated.search(normalised_clause):
            return "negated"
        if self._non_hostile is not None and self._non_hostile.search(normalised_clause):
            return "non-hostile"
        return ""


def load_clause_rules(path: Path, file_label: str | None = None) -> tuple[ClauseRules | None,
                                                                          list[Problem]]:
    """Read and check ``clauses.yaml``; a pattern that would not compile, or would match the
    empty text, is a Problem naming the file, the key (``negated[3]``) and the fix."""
    label = file_label or str(path)
    data, problems = read_yaml(path)
    if problems:
        return None, [Problem(label, p.key, p.message, p.hint) for p in problems]
    if not isinstance(data, dict):
        return None, [Problem(label, "", "must be a mapping with keys 'negated', 'non_hostile'",
                              "See config/syria-2016/clauses.yaml for an example.")]
    try:
        spec = ClauseRulesSpec.model_validate(data)
    except ValidationError as exc:
        return None, _problems(label, exc, ClauseRulesSpec)
    return ClauseRules(spec), []


# --- step 2 and 5: clauses and the decision ------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The words about one incident, and how they were chosen (TERMS.md §4 step 5)."""

    text: str  # the words that decide; "" when none do
    clauses: tuple[str, ...]  # the deciding clauses, as written
    dropped: tuple[str, ...]  # clauses set aside as negated or non-hostile
    how: How
    place: str = ""  # the incident's name, for the explanation
    articles: int = 0  # distinct ";"-articles in the text
    others: tuple[str, ...] = ()  # other places the text names, as written

    def note(self) -> str:
        """One sentence for the explanation kept with the incident."""
        place = self.place or "the incident's place"
        if self.how == "named":
            quoted = " and ".join(f"'{_short(c)}'" for c in self.clauses)
            verb = "names" if len(self.clauses) == 1 else "name"
            out = (f"words about this incident: the clause{'s' if len(self.clauses) > 1 else ''}"
                   f" {quoted} {verb} {place}")
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


@lru_cache(maxsize=4096)
def _incident(names: tuple[str, ...]) -> _Incident:
    keys: set[str] = set()
    skels: set[str] = set()
    area_keys: set[str] = set()
    area_skels: set[str] = set()
    first = ""
    longest = 1
    first_words: set[str] = set()
    for name in names:
        words = [w.key for w in _words(html.unescape(name))]
        area = bool(words) and words[-1] in AREA_WORDS
        words = [k for k in words if k not in AREA_WORDS and k not in DIRECTIONS] if area else words
        if not words:
            continue
        first = first or (" ".join(name.split()[:-1]) if area else name)
        longest = max(longest, len(words))
        first_words.add(words[0])
        skel = _join(_word_skeleton(k) for k in words)
        (area_keys if area else keys).add(" ".join(words))
        if len(skel) >= 3:
            (area_skels if area else skels).add(skel)
    return _Incident(first, frozenset(keys), frozenset(skels), frozenset(area_keys),
                     frozenset(area_skels), longest, frozenset(first_words))


@dataclass(frozen=True, slots=True)
class _Mention:
    start: int  # word indexes
    end: int
    ours: bool  # names the incident
    ident: str  # which place, for counting distinct places
    written: str


def _mentions(words: Sequence[_Word], lo: int, hi: int, sentence: str, gaz: Gazetteer,
              inc: _Incident, any_case: bool) -> list[_Mention]:
    """The place names in words[lo:hi], longest first, each starting at a capitalised word."""
    out = []
    longest = max(gaz.max_words, inc.max_words)
    by_key, by_skel, places = gaz.by_key, gaz.by_skeleton, gaz.places
    i = lo
    while i < hi:
        w = words[i]
        if not (any_case or w.cap or (w.key in DIRECTIONS and i + 1 < hi and words[i + 1].cap)) \
                or w.key in _FUNCTION_WORDS \
                or (w.key in gaz.not_places and w.key not in inc.first_words):
            i += 1
            continue
        # A name runs over words joined by spaces or hyphens; its skeleton is only compared
        # while they are capitalised ("Homs is" would otherwise be "Homs": hms+s = hms).
        reach = i + 1
        while reach < hi and reach - i < longest and words[reach].joined:
            reach += 1
        caps = i + 1
        while caps < reach and (any_case or words[caps].cap):
            caps += 1
        for n in range(reach - i, 0, -1):
            key = w.key if n == 1 else " ".join(x.key for x in words[i:i + n])
            hits = by_key.get(key, ())
            # Skeletons of several words only where they are capitalised (not in a text
            # without capitals): "by aerial" is not "Barel".
            skel = (_join(_word_skeleton(x.key) for x in words[i:i + n])
                    if n == 1 or (i + n <= caps and not any_case) else "")
            if len(skel) < 3:
                skel = ""
            if not hits and skel:
                hits = by_skel.get(skel, ())
            if hits or key in inc.keys or key in inc.area_keys or (skel and (
                    skel in inc.skels or skel in inc.area_skels)):
                break
        else:
            i += 1
            continue
        end = i + n
        area = _area_form(words, i, end)
        ours = key in inc.area_keys or skel in inc.area_skels
        if not area and not ours:
            ours = key in inc.keys or (bool(skel) and skel in inc.skels) or any(
                places[h].city is not None and _names_incident(places[h].city or "", inc)
                for h in hits)
        ident = min(places[h].ident for h in hits) if hits else (skel or key)
        out.append(_Mention(i, end, ours, ident, sentence[w.start:words[end - 1].end]))
        i = end
    return out


@lru_cache(maxsize=4096)
def _city_keys(city: str) -> tuple[str, str]:
    return normalise(city), skeleton(city)


def _names_incident(city: str, inc: _Incident) -> bool:
    key, skel = _city_keys(city)
    return key in inc.keys or (len(skel) >= 3 and skel in inc.skels)


def _area_form(words: Sequence[_Word], start: int, end: int) -> bool:
    """"Hama countryside", "Hama's northern countryside", "the countryside of Hama",
    "rural Hama", "Idlib province": the area, not the town (TERMS.md §4 step 3)."""
    k = end
    while k < len(words) and words[k].key in DIRECTIONS:
        k += 1
    if k < len(words) and words[k].key in AREA_WORDS:
        return True
    k = start - 1
    if k >= 0 and words[k].key in ("rural", "countryside"):
        return True
    if k >= 0 and words[k].key == "of":
        k -= 1
        while k >= 0 and words[k].key in DIRECTIONS:
            k -= 1
        return k >= 0 and words[k].key in AREA_WORDS
    return False


@dataclass(frozen=True, slots=True)
class _Clause:
    text: str
    article: int
    aside: str  # "", "negated" or "non-hostile"
    ours: bool
    others: tuple[_Mention, ...]


def _pieces(sentence: str, words: Sequence[_Word]) -> list[tuple[int, int]]:
    """Word ranges between the sentence's commas and "and"s (the "and" itself in none)."""
    out = []
    lo = 0
    for i, w in enumerate(words):
        if w.key == "and":
            if i > lo:
                out.append((lo, i))
            lo = i + 1
        elif i > lo and "," in sentence[words[i - 1].end:w.start]:
            out.append((lo, i))
            lo = i
    if lo < len(words):
        out.append((lo, len(words)))
    return out


def _clauses(sentence: str, article: int, gaz: Gazetteer, inc: _Incident, rules: ClauseRules,
             any_case: bool) -> tuple[list[_Clause], list[str]]:
    """Step 2: the sentence's clauses, and its words' normal forms (for comparing articles)."""
    words = _words(sentence)
    groups: list[tuple[int, int, list[_Mention]]] = []
    group_has_place = False
    for lo, hi in _pieces(sentence, words):
        mentions = _mentions(words, lo, hi, sentence, gaz, inc, any_case)
        split = False
        if mentions and groups:
            covered = {k for m in mentions for k in range(m.start, m.end)}
            content = any(words[k].key not in FILLER
                          for k in range(lo, hi) if k not in covered)
            lead = lo
            while lead < hi and words[lead].key in _LEAD:
                lead += 1
            # "," or "and" before a place name, or between two parts that each name one,
            # starts a clause; a part that is only place names continues the list it ends.
            split = content and (mentions[0].start == lead or group_has_place)
        if groups and not split:
            g_lo, _, g_mentions = groups[-1]
            groups[-1] = (g_lo, hi, g_mentions + mentions)
            group_has_place = group_has_place or bool(mentions)
        else:
            groups.append((lo, hi, mentions))
            group_has_place = bool(mentions)
    keys = [w.key for w in words]
    clauses = []
    for lo, hi, mentions in groups:
        clauses.append(_Clause(
            sentence[words[lo].start:words[hi - 1].end], article,
            rules.set_aside(" ".join(keys[lo:hi])), any(m.ours for m in mentions),
            tuple(m for m in mentions if not m.ours)))
    return clauses, keys


def select(text: str, names: Sequence[str], gazetteer: Gazetteer, rules: ClauseRules) -> Selection:
    """TERMS.md §4 "Which words decide": the words of ``text`` about the incident whose names
    (:meth:`Gazetteer.incident_names`) are ``names``.

    "named": the clauses naming the place decide, and only they. "single": none names it and
    the text reports one event: the whole text (less the clauses set aside) decides. "several":
    none names it and the text reports several events — two or more ";"-articles with different
    words, or clauses naming two or more other places (a neighbourhood counting as its city) —
    so nothing decides. "empty": no text, or the clauses naming the place (every clause, when
    none does) were set aside as negated or non-hostile."""
    inc = _incident(tuple(names))
    if not text or not text.strip():
        return Selection("", (), (), "empty", inc.first)
    source = html.unescape(text) if "&" in text else text
    any_case = source == source.lower()  # no capitals at all: look for places at every word
    clauses: list[_Clause] = []
    articles: set[str] = set()
    for number, article in enumerate(a for a in source.split(";") if a.strip()):
        article_keys: list[str] = []
        for sentence in _SENTENCE_END.split(article.strip()):
            found, keys = _clauses(sentence, number, gazetteer, inc, rules, any_case)
            clauses.extend(found)
            article_keys.extend(keys)
        articles.add(" ".join(article_keys))
    kept = [c for c in clauses if not c.aside]
    dropped = tuple(c.text for c in clauses if c.aside)
    named = tuple(c.text for c in kept if c.ours)
    if named:
        return Selection("; ".join(named), named, dropped, "named", inc.first, len(articles))
    if not kept or any(c.ours for c in clauses):
        return Selection("", (), dropped, "empty", inc.first, len(articles))
    others: dict[str, str] = {}
    for c in clauses:
        for m in c.others:
            others.setdefault(m.ident, m.written)
    if len(articles) > 1 or len(others) > 1:
        return Selection("", (), dropped, "several", inc.first, len(articles),
                         tuple(others.values()))
    whole = tuple(c.text for c in kept)
    return Selection(source.strip() if not dropped else "; ".join(whole), whole, dropped,
                     "single", inc.first, len(articles), tuple(others.values()))
