"""Steps 1 and 4 of TERMS.md §4 "Which words decide": words, their normal form and their
consonant skeleton, and the word lists the other steps read (type words, area words,
directions). See :mod:`monitor.places`."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import Literal, get_args

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
