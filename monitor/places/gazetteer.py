"""Step 3 of TERMS.md §4 "Which words decide": the pack's gazetteer file, and the names that
make a clause about an incident (:meth:`Gazetteer.incident_names`). See :mod:`monitor.places`."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, get_args

from pydantic import AfterValidator, Field, ValidationError, model_validator

from monitor.classify import SpecError
from monitor.models import FileModel, Name
from monitor.places.names import (
    _TOWN_KINDS,
    AREA_WORDS,
    DIRECT,
    DIRECTIONS,
    PLACE_KINDS,
    TYPE_WORDS,
    PlaceKind,
    _prefixes,
    _skeleton_of,
    _words,
    normalise,
    skeleton,
)
from monitor.problems import Problem, did_you_mean, location, read_model


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
    pcode: str | None = Field(default=None, pattern=r"^[A-Z]{2}\d{2}(\d{2}){0,3}$")

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
    spec, problems = read_model(path, label, "a 'places' list", GazetteerSpec,
                                lambda lab, exc, _: _problems(lab, exc, GazetteerSpec))
    if spec is None:
        return None, problems
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
