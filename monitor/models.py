"""The one vocabulary every module of the monitor speaks.

Everything read from a file or typed by a user is validated by one of these models. Models read
from files use ``extra="forbid"`` so a typo is an error, not a silently ignored key.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    field_validator,
    model_validator,
)

from .filemodel import FileModel  # noqa: F401  (re-exported)
from .keys import incident_id, report_key
from .vocabulary import (  # noqa: F401  (re-exported: the vocabulary every module speaks)
    AIRCRAFT_PLATFORMS,
    ATTACK_EVENT_TYPES,
    CIVILIAN_TARGETS,
    CONFIDENCES,
    EVENT_TYPES,
    NEW_STATUS,
    PLATFORMS,
    SEVERITIES,
    STATUSES,
    TARGET_CATEGORIES,
    UNDETERMINED,
    Attribution,
    Confidence,
    DatePrecision,
    Direction,
    DirectionGiven,
    EventType,
    InstrumentStatus,
    Mission,
    Platform,
    Reliability,
    Severity,
    SourceAttribution,
    Status,
    TargetCategory,
)

# The years an incident may be dated in: the calendar's first and last (1, 9999) are refused,
# see IncidentReport._placeable.
PLACEABLE_YEARS = (2, 9998)

Name = Annotated[str, Field(min_length=1, max_length=500)]
# a value of an open vocabulary (event type, platform, ...): checked against the active pack's
VocabularyWord = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=60)]
Text = Annotated[str, Field(max_length=20_000)]


# --- incidents -----------------------------------------------------------------------------

_object_setattr = object.__setattr__


def _unpickled(cls: type[BaseModel], values: dict[str, Any], fields_set: set[str],
               extra: dict[str, Any] | None, private: dict[str, Any] | None) -> Any:
    model = cls.__new__(cls)
    _object_setattr(model, "__dict__", values)
    _object_setattr(model, "__pydantic_fields_set__", fields_set)
    _object_setattr(model, "__pydantic_extra__", extra)
    _object_setattr(model, "__pydantic_private__", private)
    return model


class Handed(BaseModel):
    """A model handed from process to process (an import's worker judges what the importing
    process records): pickled as its class and its state, which pydantic's own pickling
    (``__getstate__``, a dict of four) writes and reads back more slowly. Nothing of the
    state is left out: a copy equals the model, its set fields and cached values too."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_unpickled, (type(self), self.__dict__, self.__pydantic_fields_set__,
                             self.__pydantic_extra__, self.__pydantic_private__))


class Location(Handed):
    """Where an incident happened. ``precision`` is on UCDP's ``where_prec`` scale:
    1 exact place, 2 within 25 km, 3 second-order admin area (district), 4 first-order
    (governorate), 5 linear/ambiguous, 6 country, 7 international waters or airspace.
    ACLED's ``geo_precision`` 1/2/3 map to 1/2/3. TERMS.md §3: precision 3 or coarser never
    resolves to a zone."""

    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    precision: int = Field(default=1, ge=1, le=7)
    place: Name | None = None
    admin1: Name | None = None
    admin2: Name | None = None
    admin3: Name | None = None


class IncidentReport(Handed):
    """One report of one incident from one source, as a feed or an analyst gives it.

    ``occurred`` is a date (a one-day window in the pack's local time, not midnight) or a
    timezone-aware date-time; ``occurred_end`` widens it to a window (UCDP date_start..date_end).
    Attacker and target are raw names as the source wrote them; ``attacker_side`` /
    ``target_side`` may state the side outright (the registry is then not asked).
    ``platform`` and ``target_category`` left ``None`` are read from the text by the classifier.
    A report does not change once made (its key is made once: :attr:`report_key`); a changed
    one is a new report (``model_copy(update=...)``).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    feed: Name = "manual"
    source_id: Name
    revision: Annotated[str, Field(max_length=100)] = "1"
    occurred: AwareDatetime | dt.date
    occurred_end: AwareDatetime | dt.date | None = None
    date_precision: DatePrecision | None = None
    location: Location | None = None
    attacker: list[Name] = Field(default_factory=list, max_length=20)
    target: list[Name] = Field(default_factory=list, max_length=20)
    attacker_side: list[str] | None = None
    target_side: list[str] | None = None
    attribution: SourceAttribution | None = None
    direction: DirectionGiven | None = None
    # TERMS.md §4: what the attacker said it aimed at ("strikes on Nusra"): kept, never the target
    claimed_target: Name | None = None
    # open vocabularies: the active pack's (VocabularySpec) decides which values are known
    event_type: VocabularyWord = "attack"
    platform: VocabularyWord | None = None
    target_category: VocabularyWord | None = None
    weapon_class: VocabularyWord | None = None  # tank, mlrs, heavy_weapon ... (the pack's)
    calibre_mm: float | None = Field(default=None, gt=0, le=2000, allow_inf_nan=False)
    mission: Mission = "unknown"
    civilian_targeting: bool = False
    coordinated: bool | None = None
    casualties_min: int | None = Field(default=None, ge=0, le=1_000_000)
    casualties_max: int | None = Field(default=None, ge=0, le=1_000_000)
    notes: Text = ""
    sources: list[Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=list, max_length=50
    )
    reliability: Reliability | None = None

    @field_validator("attacker", "target", "attacker_side", "target_side", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        """A single name is accepted where a list is expected."""
        if isinstance(value, str):
            return [value]
        return value

    @field_validator("occurred", "occurred_end", mode="before")
    @classmethod
    def _no_naive_times(cls, value: Any) -> Any:
        """A date alone is a day; a time must say its offset (a naive time is ambiguous)."""
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            raise ValueError(
                "a time without a UTC offset is ambiguous: add one (e.g. '+03:00') "
                "or give the date alone"
            )
        if isinstance(value, str) and len(value) > 10:
            try:
                parsed = dt.datetime.fromisoformat(value)
            except ValueError:
                return value
            if parsed.tzinfo is None:
                raise ValueError(
                    f"{value!r} has no UTC offset: add one (e.g. '{value}+03:00') "
                    "or give the date alone"
                )
        return value

    @field_validator("occurred", "occurred_end")
    @classmethod
    def _placeable(cls, value: Any) -> Any:
        """Years 1 and 9999 are refused: they are placeholders ("9999-12-31" for
        "unknown"), and a window at the calendar's ends (the local day in UTC, a minute after a
        time, a week around a date) would overflow datetime."""
        if value is not None and not (PLACEABLE_YEARS[0] <= value.year <= PLACEABLE_YEARS[1]):
            raise ValueError(
                f"{value.isoformat()} is outside the years {PLACEABLE_YEARS[0]}–"
                f"{PLACEABLE_YEARS[1]}: a placeholder date is not when an incident happened"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> IncidentReport:
        if (
            self.casualties_min is not None
            and self.casualties_max is not None
            and self.casualties_min > self.casualties_max
        ):
            raise ValueError(
                f"casualties_min ({self.casualties_min}) is above casualties_max "
                f"({self.casualties_max})"
            )
        if self.occurred_end is not None and _as_sortable(self.occurred_end) < _as_sortable(
            self.occurred
        ):
            raise ValueError("occurred_end is before occurred")
        return self

    @functools.cached_property
    def report_key(self) -> str:
        """The identity of this report: the same key is never recorded twice.

        ``feed:source_id:revision``, with "%" and ":" inside the source id and the revision
        percent-encoded, so two different reports never share a key ("dup:1" revision "2" is
        ``f:dup%3A1:2``, "dup" revision "1:2" is ``f:dup:1%3A2``); a part without either
        character is written as it is. Made once a report (recording asks for it ~7 times)."""
        return report_key(self.feed, self.source_id, self.revision)

    @functools.cached_property
    def incident_id(self) -> str:
        """The id of the incident this report's source record describes: the same for every
        revision (:func:`monitor.keys.incident_id`). Made once a report, like its key."""
        return incident_id(self.feed, self.source_id)

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> IncidentReport:
        """A copy (with ``update``'s fields changed), which makes its own key and id."""
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("report_key", None)
        copied.__dict__.pop("incident_id", None)
        return copied


def _as_sortable(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


class Resolution(Handed):
    """What resolution made of a report: sides, zones, classification, time window.

    This is what the rules see (through :func:`monitor.engine` facts) and what the ledger keeps
    as the incident, so a finding can always be explained from it."""

    start: dt.datetime  # aware, UTC
    end: dt.datetime  # aware, UTC, exclusive
    date_precision: DatePrecision
    attacker_sides: list[str]
    target_sides: list[str]
    attribution: Attribution
    direction: Direction = "directed"
    aggregate: bool = False  # TERMS.md §4 "Aggregate reports": a tally or round-up
    split_place: str | None = None  # ZONES.md "Split places": the city the report names alone
    zones: list[str]  # zone kinds (and zone groups) the location resolved to
    zone_ids: list[str]  # the zone rows that matched (for the explanation)
    location_resolved: bool
    governorate: str | None = None  # from the OCHA boundaries, else the source's admin1
    platform: str  # values of the pack's vocabulary
    target_category: str
    event_type: str
    mission: Mission
    notes: list[str] = Field(default_factory=list)  # how each value was decided
    unresolved_names: list[str] = Field(default_factory=list)
    # recorded only when set (a pack that uses none of them records what it did before)
    weapon_class: str | None = None
    # km from the location to the nearest zone of each kind a rule measures (distance_km)
    distances_km: dict[str, float] = Field(default_factory=dict)
    # the sides responsible for the zones the location resolved to (charged_to: zone_responsible)
    zone_responsible: list[str] = Field(default_factory=list)


# --- configuration -------------------------------------------------------------------------


class Instrument(FileModel):
    """An agreement instrument and the window in which it is in force (TERMS.md §1)."""

    id: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_-]*$")]
    title: Name
    status: InstrumentStatus
    start: AwareDatetime
    # None: in force until further notice (an agreement with no end date)
    end: AwareDatetime | None = None
    note: str = ""
    source: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> Instrument:
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end {self.end} is not after start {self.start}")
        return self


class SideSpec(FileModel):
    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    # what people read in briefs and tables ("Syrian government"); the id when not given
    label: str | None = Field(default=None, min_length=1, max_length=80)
    description: str
    bound_by: list[str] = Field(default_factory=list)


class Alias(FileModel):
    """One name of an actor, valid for a period, with where the name comes from."""

    name: Name
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    source: Name  # e.g. "ACLED", "UCDP", "press"
    # TERMS.md §4: the sides this name may stand for in an air strike whose aircraft the source
    # does not name (UCDP folds Russian strikes into "Government of Syria"); None = its side(s)
    air_sides: list[str] | None = None


class Actor(FileModel):
    """An actor of the registry (TERMS.md §2): one side, many dated aliases."""

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    side: str
    sides: list[str] | None = None  # an alias naming several sides ("Syrian or Russian jets")
    description: str = ""
    coh_status: Literal["accepted", "contested", "refused"] | None = None
    member_from: dt.date | None = None
    member_to: dt.date | None = None
    aliases: list[Alias]


class ZoneSpec(FileModel):
    """One row of the zone delineation (ZONES.md): pcodes or a polygon, a kind, a validity."""

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
    area: Name
    kind: str
    # OCHA P-codes of any country: its ISO 3166 alpha-2 code, then two digits a level
    pcodes: list[Annotated[str, Field(pattern=r"^[A-Z]{2}([0-9]{2}){1,3}$")]] = Field(
        default_factory=list)
    polygon: list[tuple[float, float]] | None = None  # (lon, lat) ring
    # (lon, lat) polyline: buffered by buffer_km into a band, or without buffer_km a line that
    # contains no point (a contact line) which rules measure distances to (distance_km)
    line: list[tuple[float, float]] | None = None
    buffer_km: float | None = Field(default=None, gt=0, le=100)
    valid_from: dt.datetime | dt.date | None = None
    valid_to: dt.datetime | dt.date | None = None
    overlay: bool = False  # overlaps the zones beneath (not part of the override order)
    # the side(s) answerable for the zone (a guarantor of a zone): charged_to: zone_responsible
    responsible: list[str] = Field(default_factory=list)
    source: str = ""

    @field_validator("responsible", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


# --- rules ---------------------------------------------------------------------------------

Scalar = str | int | float | bool
ConditionValue = Scalar | list[Scalar] | dict[str, Any]


class Branch(FileModel):
    """One alternative way a term can be broken. All conditions in ``when`` must hold."""

    when: dict[str, ConditionValue] = Field(default_factory=dict)
    confidence_at_most: Confidence | None = None
    note: str = ""


class SeverityRule(FileModel):
    when: dict[str, ConditionValue]
    severity: Severity


class RuleSpec(FileModel):
    """A term of the agreement as a declarative rule (``rules/<pack>/<term>/rule.yaml``).

    ``when`` holds for every branch; ``any`` lists alternative branches (one is enough);
    ``unless`` lists exemptions (any one holding means no finding). Conditions map a fact name
    to a value (equals), a list (one of), or ``{not: v}`` / ``{not_in: [..]}`` / ``{gte: n}`` /
    ``{lte: n}``. A value naming a side group or zone group is expanded to its members.
    """

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    term: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9-]*$")]
    title: Name
    instrument: str
    clause: Annotated[str, Field(min_length=10)]
    clause_source: Name
    severity: Severity
    severity_if: list[SeverityRule] = Field(default_factory=list)
    # "none": a finding charged to nobody (COH-CLASH: attribution undetermined); a list names
    # roles (attacker, target, zone_responsible) and fixed sides together: [attacker, russia]
    charged_to: Literal["attacker", "target", "none", "zone_responsible"] | list[str] = (
        "attacker")
    # a deadline term: a state that must hold by a dated milestone of pack.yaml; the rule
    # applies only to events after it (judged on event time)
    deadline: str | None = None
    when: dict[str, ConditionValue] = Field(default_factory=dict)
    any: list[Branch] = Field(default_factory=list)
    unless: list[dict[str, ConditionValue]] = Field(default_factory=list)
    description: str = ""


class RuleCase(FileModel):
    """One case of a rule's suite: an incident in, the findings of this term expected out."""

    name: Name
    incident: dict[str, Any]
    expect: list[dict[str, Any]] = Field(default_factory=list)  # [] = compliant
    # judge "as if": override dated milestones of the pack (e.g. jig_established) for this case
    milestones: dict[str, AwareDatetime | None] = Field(default_factory=dict)


class RuleCases(FileModel):
    cases: list[RuleCase] = Field(min_length=2)


# --- findings and the ledger ---------------------------------------------------------------

def charged_set(charged_to: list[str], attribution: str) -> str:
    """TERMS.md §4 "Counting": the one scorecard row a finding sits in — its charged set
    ("syrian_government", "russia or syrian_government", "coh_opposition and syrian_government"
    for a joint one, "unattributed"), or "undetermined" for a clash charged to nobody. The
    ledger's SQL (``monitor.ledger.CHARGED_SET_SQL``) computes the same label."""
    if not charged_to:
        return UNDETERMINED
    return (" and " if attribution == "joint" else " or ").join(sorted(set(charged_to)))



class Finding(Handed):
    """A term an incident broke, with everything needed to explain and reproduce it."""

    finding_id: str
    incident_id: str
    term: str
    instrument: str
    instrument_status: InstrumentStatus
    charged_to: list[str]
    severity: Severity
    confidence: Confidence
    status: Status = NEW_STATUS
    attribution: Attribution
    rule_id: str
    rule_version: str
    # made by the judge alone, and taken as made: validated, each of its ~20 entries was copied
    # (7 of the 12 µs a finding took to make)
    explanation: SkipValidation[list[dict[str, Any]]]
    # TERMS.md §5; recorded in the explanation's first entry ({"finding": {...}}), not as columns
    parties: list[str] = Field(default_factory=list)
    aggregate: bool = False
    claimed_target: str | None = None
    occurred: str  # the incident's window start, ISO 8601
    occurred_end: str
    feed: str
    source_id: str
    revision: str
    recorded_at: str | None = None

    # what the finding records beyond the columns of the ledger's findings table
    RECORDED_IN_EXPLANATION: ClassVar[tuple[str, ...]] = ("parties", "aggregate",
                                                          "claimed_target")

    def ledger_row(self) -> dict[str, Any]:
        """The row of the ledger's ``findings`` table (status and time are the ledger's own):
        ``model_dump`` without its deep copy (of an explanation the caller then replaces with
        the stored one). The values are the finding's own: the ledger writes them and changes
        none; a caller may set the row's keys, not change its lists."""
        return {k: v for k, v in self.__dict__.items() if k not in _NOT_IN_LEDGER_ROW}

    @staticmethod
    def recorded_facts(explanation: list[dict[str, Any]]) -> dict[str, Any]:
        """Parties, aggregate and claimed target of a recorded finding (its explanation's
        ``finding`` entry; a finding recorded before TERMS.md revision 2 has none)."""
        for entry in explanation[:1]:
            if isinstance(entry, dict) and isinstance(entry.get("finding"), dict):
                return dict(entry["finding"])
        return {}


_NOT_IN_LEDGER_ROW = frozenset({"status", "recorded_at", *Finding.RECORDED_IN_EXPLANATION})


class Outcome(BaseModel):
    """What the service did with one report."""

    report_key: str
    incident_id: str | None
    duplicate: bool = False
    findings: list[Finding] = Field(default_factory=list)
    review: list[str] = Field(default_factory=list)
    linked: str | None = None  # why the report was linked to another feed's incident
    corroborates: list[str] = Field(default_factory=list)  # findings it supports
