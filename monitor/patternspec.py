"""Terms over time as data: the ``patterns:`` declarations of a pack's ``pack.yaml``.

A pack declares zero or more patterns, each with a ``kind``:

- ``calm`` — a calm counter: consecutive days, from the start of one instrument (Day D), with
  no finding of the counted severities and confidences under the counted instruments; meeting
  the needed number of days means what ``met`` says (TERMS.md §4 SEP-CALM is one such counter);
- ``escalation`` — at least ``threshold`` distinct incidents charged to one charged set in one
  admin area (admin1) within ``hours`` (TERMS.md §4 "Counting");
- ``sequence`` — an attack matching ``first``, then, within ``hours`` and ``km``, an attack
  matching ``then`` (the 2016 "cycle of excuses" is one such declaration).

Every side, side group, zone kind, zone group and instrument a declaration names is checked
against the pack when it loads (:func:`check_patterns`): an unknown name is a problem naming
the file and the field, with a did-you-mean. No name of any pack appears in this code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from .models import FileModel
from .problems import Problem, did_you_mean
from .vocabulary import Confidence, Severity

PatternName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=60)]
Text = Annotated[str, Field(max_length=400)]


class _Declared(FileModel):
    name: PatternName = Field(description="the pattern's id: the alert kind or calm counter "
                                          "the ledger records")
    label: Text = Field(default="", description="how people read it (default: the name)")
    description: Text = ""

    @property
    def title(self) -> str:
        return self.label or self.name


class CalmSpec(_Declared):
    """Consecutive calm days from Day D (the start of ``instrument``)."""

    kind: Literal["calm"]
    instrument: str = Field(description="Day D is this instrument's start")
    counts: list[str] = Field(min_length=1, description="instruments whose findings break a "
                                                        "calm day")
    severities: list[Severity] = Field(default_factory=lambda: ["major", "critical"],
                                       min_length=1)
    confidences: list[Confidence] = Field(default_factory=lambda: ["medium", "high"],
                                          min_length=1)
    days: int = Field(ge=1, le=366, description="days the series covers")
    needed: int = Field(ge=1, description="consecutive calm days that meet the condition")
    met: Text = Field(default="the condition is met",
                      description="what meeting the needed days means, for people")


class EscalationSpec(_Declared):
    """A burst of serious findings charged to one charged set in one admin area."""

    kind: Literal["escalation"]
    threshold: int = Field(ge=2, description="distinct incidents in the window")
    hours: float = Field(gt=0, le=24 * 31)
    severities: list[Severity] = Field(default_factory=lambda: ["major", "critical"],
                                       min_length=1)


class Step(FileModel):
    """One attack of a sequence: an attacker among ``attackers`` and, when ``targets`` or
    ``zones`` are given, a target among ``targets`` or a place in one of ``zones``."""

    attackers: list[str] = Field(min_length=1, description="sides or side groups")
    targets: list[str] = Field(default_factory=list, description="sides or side groups")
    zones: list[str] = Field(default_factory=list, description="zone kinds or zone groups")
    label: Text = Field(default="", description="the attack for people: 'a Nusra attack'")


class SequenceSpec(_Declared):
    """An attack matching ``first``, then one matching ``then`` within ``hours`` and ``km``."""

    kind: Literal["sequence"]
    first: Step
    then: Step
    hours: float = Field(gt=0, le=24 * 31)
    km: float = Field(gt=0, le=500)


PatternSpec = Annotated[CalmSpec | EscalationSpec | SequenceSpec, Field(discriminator="kind")]
KINDS = ("calm", "escalation", "sequence")


def _a_list(value: Any) -> Any:
    if isinstance(value, Mapping):
        raise ValueError("must be a list of declarations, each with a kind (calm, escalation "
                         "or sequence): see docs/PATTERNS.md")
    return [] if value is None else value


Patterns = Annotated[list[PatternSpec], BeforeValidator(_a_list),
                     Field(description="terms over time: calm counters, escalations, "
                                       "sequences (docs/PATTERNS.md)")]


def check_patterns(patterns: list[Any], label: str, *, sides: Iterable[str],
                   side_groups: Mapping[str, list[str]], zone_kinds: Iterable[str],
                   zone_groups: Mapping[str, list[str]], instruments: Iterable[str]
                   ) -> list[Problem]:
    """Every name a declaration uses, checked against the pack: one problem per unknown name,
    located as ``patterns[2].then.attackers[0]``, with a did-you-mean."""
    problems: list[Problem] = []
    side_names = [*sides, *side_groups]
    zone_names = [*zone_kinds, *zone_groups]
    instrument_names = list(instruments)

    def check(key: str, value: str, known: list[str], what: str) -> None:
        if value not in known:
            problems.append(Problem(label, key, f"{value!r} is not {what}.",
                                    did_you_mean(value, known)))

    names = [p.name for p in patterns]
    for i, p in enumerate(patterns):
        at = f"patterns[{i}]"
        if names.count(p.name) > 1 and names.index(p.name) != i:
            problems.append(Problem(label, f"{at}.name", f"{p.name!r} is declared twice.",
                                    "Give every pattern its own name."))
        if isinstance(p, CalmSpec):
            check(f"{at}.instrument", p.instrument, instrument_names, "an instrument")
            for j, inst in enumerate(p.counts):
                check(f"{at}.counts[{j}]", inst, instrument_names, "an instrument")
        elif isinstance(p, SequenceSpec):
            for step in ("first", "then"):
                s = getattr(p, step)
                for field, known, what in (("attackers", side_names, "a side or side group"),
                                           ("targets", side_names, "a side or side group"),
                                           ("zones", zone_names, "a zone kind or zone group")):
                    for j, value in enumerate(getattr(s, field)):
                        check(f"{at}.{step}.{field}[{j}]", value, known, what)
    return problems


def expand(names: Iterable[str], groups: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """Names with every group replaced by its members (sides, or zone kinds)."""
    out: set[str] = set()
    for name in names:
        out.update(groups.get(name, (name,)))
    return frozenset(out)


def of_kind(patterns: Iterable[Any], kind: str) -> list[Any]:
    """The declarations of one kind, in pack order."""
    return [p for p in patterns if p.kind == kind]
