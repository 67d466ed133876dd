"""The agreement pack: every file of it, validated together (the settings, ``monitor.yaml``,
are read by :mod:`.settings`, whose names this module re-exports).

:func:`load_pack` checks every file of a pack (pack.yaml, instruments, actors, zones,
classifier, rules) and reports every problem at once, each naming its file, key and a fix.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, Field, ValidationError, model_validator

from .models import FileModel, Instrument, SideSpec
from .patternspec import Patterns, PatternSpec, check_patterns
from .problems import Problem, ProblemsError, did_you_mean, from_validation, read_yaml
from .settings import (  # noqa: F401  (re-exported: where things are, and monitor.yaml)
    PROJECT_ROOT,
    SETTINGS_FILE,
    BriefsSpec,
    PackNames,
    Paths,
    Settings,
    environment,
    load_settings,
    pack_names,
    pack_timezone,
    resolve_paths,
)
from .vocabspec import VocabularySpec, core_vocabulary

if TYPE_CHECKING:  # the pipeline's modules (shapely, rules...) load with a pack, not for paths
    from .actors import ActorRegistry
    from .classify import Classifier
    from .rules import LoadedRule, Vocabulary
    from .words import Places
    from .zones import ZoneIndex


class PackFiles(FileModel):
    instruments: str = "instruments.yaml"
    actors: str = "actors.yaml"
    zones: str = "zones.yaml"
    classifier: str = "classifier.yaml"
    # TERMS.md §4 "Which words decide": the places the pack knows and the mentions that decide
    # nothing; without them the whole text of a report decides
    gazetteer: str | None = None
    clauses: str | None = None


class DisplaySpec(FileModel):
    """How a pack's briefs and maps look: what only the pack knows."""

    credits: str = Field(default="Incident data: the feeds named with each source.",
                         max_length=2000,
                         description="the brief's data sources and licences")
    zone_colours: dict[str, Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")]] = Field(
        default_factory=dict, description="a colour per zone kind (#rrggbb); a kind without "
                                          "one gets a stable colour of a generic palette")


class IncludeSpec(FileModel):
    """One file of another pack taken into this one (``include:`` of pack.yaml): its actors or
    its zones, with its side or kind names mapped to this pack's. A path is relative to this
    pack's folder; an id or name also defined here is an error."""

    actors: str | None = None
    zones: str | None = None
    # the other pack's side (or zone kind) -> this pack's; null leaves its actors (rows) out
    sides: dict[str, str | None] = Field(default_factory=dict)
    kinds: dict[str, str | None] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_file(self) -> IncludeSpec:
        if (self.actors is None) == (self.zones is None):
            raise ValueError("name one file: `actors: <path>` or `zones: <path>`")
        if self.zones is not None and self.sides:
            raise ValueError("`sides` maps an actors file's sides; for zones use `kinds`")
        if self.actors is not None and self.kinds:
            raise ValueError("`kinds` maps a zones file's kinds; for actors use `sides`")
        return self


class PackSpec(FileModel):
    """``config/<pack>/pack.yaml``: what the pack is made of."""

    name: str
    title: str
    timezone: str
    rules: str
    files: PackFiles = PackFiles()
    boundaries: str
    # what notes call the area the boundaries cover ("Syria"); default: the file's adm0_name
    country: str | None = None
    coarse_precision: int = Field(default=3, ge=1, le=7)
    # reports of different feeds within this distance (and overlapping in time, with
    # compatible sides and event types) describe one incident
    corroboration_km: float = Field(default=10.0, gt=0, le=100)
    sides: list[SideSpec]
    side_groups: dict[str, list[str]] = Field(default_factory=dict)
    zone_kinds: list[str]
    zone_groups: dict[str, list[str]] = Field(default_factory=dict)
    milestones: dict[str, AwareDatetime | None] = Field(default_factory=dict)
    # terms over time (monitor.patternspec, docs/PATTERNS.md): none unless declared
    patterns: Patterns = Field(default_factory=list)
    display: DisplaySpec = DisplaySpec()
    # TERMS.md §4: the sides that fly; an air strike whose aircraft are not named has these
    # candidates, narrowed by the report's sides
    air_operators: list[str] = Field(default_factory=list)
    # TERMS.md §2: the side an actor with coh_status "contested" may also be read as (a
    # non-party reading); null: none
    contested_side: str | None = None
    # TERMS.md §4 "Target = what the report shows was hit": the side of civilian targets. A
    # report naming only the parties whose words about the incident say civilians or civilian
    # objects were hit has this target, not the other party; null: the other party
    civilian_side: str | None = None
    # TERMS.md §4 "Target": what was hit when a source names the parties of a fight, not who
    # attacked (a UCDP dyad), and the words say who fired but not what was hit. "other_party":
    # the other party of the source's pair (it was on the receiving end of the fight). "words":
    # only what the words say, else unknown (the terms then fall back on the place)
    parties_target: Literal["other_party", "words"] = "other_party"
    # the side of an attacker or target no one identified ("unidentified gunmen", a name not in
    # the actor registry): a finding charged to it is "unattributed"
    unknown_side: str = "unknown"
    # true: a side is charged under an instrument only if the instrument is in its bound_by (a
    # finding no bound side answers for is not recorded); false: bound_by documents only
    charge_bound_only: bool = False
    # the values reports, the classifier and rules may use (event types, target categories,
    # platforms, weapon classes); none declared: the core vocabulary (monitor.vocabulary)
    vocabulary: VocabularySpec | None = None
    # other packs' actors or zones taken in (IncludeSpec)
    include: list[IncludeSpec] = Field(default_factory=list)

    @property
    def words(self) -> VocabularySpec:
        """The pack's vocabulary: declared, else the core one."""
        return self.vocabulary or core_vocabulary()


class InstrumentsFile(FileModel):
    instruments: list[Instrument] = Field(min_length=1)


@dataclass(frozen=True)
class Pack:
    """A loaded, checked agreement pack: everything the pipeline needs to judge incidents."""

    spec: PackSpec
    folder: Path
    tz: ZoneInfo
    instruments: dict[str, Instrument]
    registry: ActorRegistry
    zones: ZoneIndex
    classifier: Classifier
    rules: list[LoadedRule]
    vocabulary: Vocabulary
    places: Places | None = None
    # zone kinds the rules measure distances to (distance_km): resolution measures these only
    distance_kinds: tuple[str, ...] = ()

    @property
    def words(self) -> VocabularySpec:
        """The values reports, the classifier and rules may use (pack.yaml ``vocabulary:``)."""
        return self.spec.words

    def unknown_values(self, report: Any) -> list[str]:
        """A report's values (event type, platform, target category, weapon class) that the
        pack's vocabulary does not declare, each as a message naming the field and the fix."""
        out = []
        for field, allowed in self.words.values().items():
            value = getattr(report, field)
            if value is not None and value not in allowed:
                out.append(f"{field}: {value!r} is not a value of {field} in pack "
                           f"{self.spec.name!r}. {did_you_mean(value, allowed)} Known: "
                           f"{', '.join(allowed)}; a pack declares its own under "
                           "`vocabulary:` in pack.yaml.".replace("  ", " "))
        return out

    def bound(self, side: str, instrument: str) -> bool:
        """Whether ``side`` is bound by ``instrument`` (its ``bound_by`` in pack.yaml)."""
        return any(s.id == side and instrument in s.bound_by for s in self.spec.sides)

    @property
    def sides(self) -> list[str]:
        return [s.id for s in self.spec.sides]

    @property
    def milestones(self) -> dict[str, dt.datetime | None]:
        return dict(self.spec.milestones)

    def side_label(self, side: str) -> str:
        """The readable name of a side ("Syrian government"), else its id."""
        for s in self.spec.sides:
            if s.id == side:
                return s.label or side
        return side

    def set_label(self, charged: str) -> str:
        """A charged set for people: "russia or syrian_government" -> "Russia or Syrian
        government"; "undetermined" and "unattributed" as they are."""
        for joiner in (" or ", " and "):
            if joiner in charged:
                return joiner.join(self.side_label(s) for s in charged.split(joiner))
        return self.side_label(charged)


def _validated(model: type[BaseModel], path: Path, label: str) -> tuple[BaseModel | None,
                                                                       list[Problem]]:
    data, problems = read_yaml(path)
    if problems:
        return None, [Problem(label, p.key, p.message, p.hint) for p in problems]
    try:
        return model.model_validate(data or {}), []
    except ValidationError as exc:
        return None, from_validation(label, exc)


def _check_spec(spec: PackSpec, label: str, instruments: list[str]) -> list[Problem]:
    """Cross-references inside pack.yaml: groups name known sides and zone kinds."""
    problems: list[Problem] = []
    sides = [s.id for s in spec.sides]
    for group, members in spec.side_groups.items():
        for i, side in enumerate(members):
            if side not in sides:
                problems.append(Problem(label, f"side_groups.{group}[{i}]",
                                        f"{side!r} is not a side.", did_you_mean(side, sides)))
    for group, members in spec.zone_groups.items():
        for i, kind in enumerate(members):
            if kind not in spec.zone_kinds:
                problems.append(Problem(label, f"zone_groups.{group}[{i}]",
                                        f"{kind!r} is not a zone kind.",
                                        did_you_mean(kind, spec.zone_kinds)))
    for i, side in enumerate(spec.sides):
        for j, instrument in enumerate(side.bound_by):
            if instrument not in instruments:
                problems.append(Problem(label, f"sides[{i}].bound_by[{j}]",
                                        f"{instrument!r} is not an instrument.",
                                        did_you_mean(instrument, instruments)))
    named = [(f"air_operators[{i}]", side) for i, side in enumerate(spec.air_operators)]
    named += [(key, side) for key in ("civilian_side", "contested_side", "unknown_side")
              if (side := getattr(spec, key)) is not None]
    for key, side in named:
        if side not in sides:
            problems.append(Problem(label, key, f"{side!r} is not a side.",
                                    did_you_mean(side, sides)))
    problems += check_patterns(spec.patterns, label, sides=sides, side_groups=spec.side_groups,
                               zone_kinds=spec.zone_kinds, zone_groups=spec.zone_groups,
                               instruments=instruments)
    for kind in spec.display.zone_colours:
        if kind not in spec.zone_kinds:
            problems.append(Problem(label, f"display.zone_colours.{kind}",
                                    f"{kind!r} is not a zone kind.",
                                    did_you_mean(kind, spec.zone_kinds)))
    try:
        ZoneInfo(spec.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(Problem(label, "timezone", f"{spec.timezone!r} is not a time zone.",
                                "Use an IANA name such as 'Asia/Damascus'."))
    return problems


def pack_patterns(config_dir: Path, name: str) -> list[PatternSpec]:
    """The patterns pack ``name`` declares, read from its pack.yaml alone ([] when that file
    declares none or does not validate: :func:`load_pack` reports why): what read commands need
    to label calm counters and alerts, without loading the rest of the pack."""
    from pydantic import TypeAdapter

    data, problems = read_yaml(config_dir / name / "pack.yaml")
    if problems or not isinstance(data, dict):
        return []
    try:
        return TypeAdapter(Patterns).validate_python(data.get("patterns") or [])
    except ValidationError:
        return []


def pack_fingerprint(config_dir: Path, name: str) -> tuple[tuple[str, int, int], ...]:
    """Names, sizes and modification times of every file of a pack (config and rules), so a
    running daemon notices an edit."""
    folder = config_dir / name
    roots = [folder]
    spec_file = folder / "pack.yaml"
    try:
        data, _ = read_yaml(spec_file)
        rules = (data or {}).get("rules")
        if isinstance(rules, str):
            roots.append((folder / rules).resolve())
    except (OSError, ValueError, AttributeError):
        pass
    out = []
    for root in roots:
        for path in sorted(root.rglob("*.yaml")):
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


def load_pack(config_dir: Path, name: str, label_root: Path | None = None) -> Pack:
    """Load and check every file of pack ``name``; raise :class:`ProblemsError` with all problems.
    """
    from .actors import ActorRegistry, load_actors
    from .classify import load_classifier
    from .rules import Vocabulary, distance_kinds, load_rules
    from .zones import ZoneIndex, load_zones

    folder = config_dir / name
    root = label_root or config_dir.parent

    def label(path: Path) -> str:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            return str(path)

    pack_file = folder / "pack.yaml"
    if not pack_file.exists():
        packs = [p.name for p in config_dir.iterdir() if (p / "pack.yaml").exists()] if (
            config_dir.is_dir()) else []
        raise ProblemsError([Problem(label(pack_file), "", f"pack {name!r} not found.",
                                     did_you_mean(name, packs))])
    spec, problems = _validated(PackSpec, pack_file, label(pack_file))
    if spec is None:
        raise ProblemsError(problems)
    assert isinstance(spec, PackSpec)
    files = spec.files
    inst_path = folder / files.instruments
    inst_file, errs = _validated(InstrumentsFile, inst_path, label(inst_path))
    problems += errs
    instruments = list(inst_file.instruments) if isinstance(inst_file, InstrumentsFile) else []
    ids = [i.id for i in instruments]
    for dup in {i for i in ids if ids.count(i) > 1}:
        problems.append(Problem(label(inst_path), "instruments", f"{dup!r} is defined twice"))
    problems += _check_spec(spec, label(pack_file), ids)

    side_ids = {s.id for s in spec.sides}
    actors_path = folder / files.actors
    actors, errs = load_actors(actors_path, side_ids, label(actors_path))
    problems += errs

    boundaries = folder / spec.boundaries
    zones_path = folder / files.zones
    zone_specs, provenance, errs = load_zones(zones_path, set(spec.zone_kinds), boundaries,
                                               label(zones_path), tz=spec.timezone,
                                               sides=side_ids)
    problems += errs
    actors, zone_specs, errs = _included(spec, folder, label, side_ids, boundaries, actors,
                                         zone_specs)
    problems += errs

    cls_path = folder / files.classifier
    classifier, errs = load_classifier(cls_path, label(cls_path), spec.words)
    problems += errs
    if classifier is not None:
        for field, i, value, members in classifier.side_sets():
            for side in members:
                if side not in side_ids:
                    problems.append(Problem(label(cls_path), f"{field}[{i}].value",
                                            f"{side!r} (in {value!r}) is not a side.",
                                            did_you_mean(side, side_ids)))
    places, errs = _load_places(folder, files, label)
    problems += errs

    vocab = Vocabulary.build(sorted(side_ids), spec.side_groups, spec.zone_kinds,
                             spec.zone_groups, ids, list(spec.milestones), spec.words)
    rules_dir = (folder / spec.rules).resolve()
    rules, errs = load_rules(rules_dir, vocab, label(rules_dir))
    problems += errs
    if problems:
        raise ProblemsError(problems)
    measured = tuple(dict.fromkeys(k for r in rules for k in distance_kinds(r.spec)))
    assert classifier is not None
    zones = ZoneIndex.build(zone_specs, boundaries, spec.zone_groups, spec.coarse_precision,
                            tz=spec.timezone, provenance=provenance, country=spec.country)
    return Pack(
        spec=spec,
        folder=folder,
        tz=ZoneInfo(spec.timezone),
        instruments={i.id: i for i in instruments},
        registry=ActorRegistry(actors, spec.contested_side, spec.unknown_side),
        zones=zones,
        classifier=classifier,
        rules=rules,
        vocabulary=vocab,
        places=places,
        distance_kinds=measured,
    )


def _included(spec: PackSpec, folder: Path, label: Callable[[Path], str], side_ids: set[str],
              boundaries: Path, actors: list[Any], zone_specs: Any
              ) -> tuple[list[Any], Any, list[Problem]]:
    """The pack's actors and zone rows with those of its ``include:`` files merged in: an
    included actor or zone whose id (or actor name) the pack already has is a problem."""
    from .actors import load_actors
    from .zones import ZoneRows, load_zones

    problems: list[Problem] = []
    actors, rows = list(actors), list(zone_specs)
    split = tuple(getattr(zone_specs, "split_places", ()))
    pack_label = label(folder / "pack.yaml")
    for i, inc in enumerate(spec.include):
        target = [s for s in inc.sides.values() if s is not None]
        target += [k for k in inc.kinds.values() if k is not None]
        known = side_ids if inc.actors is not None else set(spec.zone_kinds)
        problems += [Problem(pack_label, f"include[{i}]", f"maps to {t!r}, which is not a "
                             f"{'side' if inc.actors else 'zone kind'} of this pack.",
                             did_you_mean(t, known)) for t in target if t not in known]
        path = folder / (inc.actors or inc.zones or "")
        if not path.is_file():
            problems.append(Problem(pack_label, f"include[{i}]", f"{label(path)} not found",
                                    "The path is relative to this pack's folder."))
            continue
        if inc.actors is not None:
            more, errs = load_actors(path, side_ids, label(path), rename=inc.sides)
            ours = {a.id for a in actors}
            names = {alias.name.casefold(): a.id for a in actors for alias in a.aliases}
            for actor in more:
                if actor.id in ours:
                    errs.append(Problem(label(path), f"actors.{actor.id}", "is also an actor "
                                        f"of this pack ({pack_label} include[{i}])",
                                        "Rename one, or leave the included one out."))
                clash = [a.name for a in actor.aliases if a.name.casefold() in names]
                if clash:
                    errs.append(Problem(label(path), f"actors.{actor.id}", f"names {clash[0]!r}"
                                        f", also a name of {names[clash[0].casefold()]} in this "
                                        f"pack ({pack_label} include[{i}])"))
            problems += errs
            actors += more
        else:
            more_rows, _, errs = load_zones(path, set(spec.zone_kinds), boundaries, label(path),
                                            tz=spec.timezone, rename=inc.kinds, sides=side_ids)
            ours = {z.id for z in rows}
            errs += [Problem(label(path), f"zones.{z.id}", "is also a zone of this pack "
                             f"({pack_label} include[{i}])") for z in more_rows if z.id in ours]
            problems += errs
            rows += list(more_rows)
            split += tuple(getattr(more_rows, "split_places", ()))
    return actors, ZoneRows(rows, split), problems


def _load_places(folder: Path, files: PackFiles, label: Callable[[Path], str]
                 ) -> tuple[Places | None, list[Problem]]:
    """The gazetteer and clause rules of TERMS.md §4, when the pack declares them."""
    if files.gazetteer is None and files.clauses is None:
        return None, []
    from .places import load_clause_rules, load_gazetteer
    from .words import Places

    if files.gazetteer is None or files.clauses is None:
        missing = "gazetteer" if files.gazetteer is None else "clauses"
        return None, [Problem(label(folder / "pack.yaml"), f"files.{missing}",
                              "the gazetteer and the clause rules work together: name both",
                              "Add files.gazetteer and files.clauses, or neither.")]
    gaz_path, rules_path = folder / files.gazetteer, folder / files.clauses
    gazetteer, problems = load_gazetteer(gaz_path, label(gaz_path))
    rules, errs = load_clause_rules(rules_path, label(rules_path))
    problems += errs
    if gazetteer is None or rules is None or problems:
        return None, problems
    return Places(gazetteer, rules), []

