"""Agreement terms as data: load ``rules/<pack>/<term>/rule.yaml``, check it, compile it.

A rule is checked when it is loaded, not when it first runs: every fact it names, every value it
compares with, its instrument and its sides must exist, or loading reports the problem with a
did-you-mean hint. Compilation turns a rule into durable_rules JSON rule definitions (plain data);
only :mod:`monitor.engine` hands them to durable_rules.

A rule's version is the SHA-256 of its file's bytes, so every finding names the exact text of
the rule that produced it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from pydantic import ValidationError

from .models import ConditionValue, Direction, RuleSpec
from .problems import Problem, did_you_mean, from_validation, read_yaml
from .vocabspec import VocabularySpec, core_vocabulary

RULE_FILE = "rule.yaml"
CASES_FILE = "cases.yaml"
BOOL = (True, False)
# a numeric fact: compared with gte / gt / lte / lt, never equal to a listed value
NUMBER = ("<number>",)
COMPARISONS = {"gte": "$gte", "gt": "$gt", "lte": "$lte", "lt": "$lt"}
NEGATED = {"$gte": "$lt", "$gt": "$lte", "$lte": "$gt", "$lt": "$gte"}
# distance_km: {to: <zone kind or group>, lte: 15}: km from the location to the nearest zone of
# that kind (0 inside it); the judge's fact is distance_km_<kind>
DISTANCE = "distance_km"
# charged_to roles (the rest of a charged_to list are sides)
ROLES = ("attacker", "target", "zone_responsible")


@dataclass(frozen=True)
class Vocabulary:
    """What a rule may name: facts and their allowed values, and the groups to expand."""

    facts: dict[str, tuple[Any, ...]]
    side_groups: dict[str, tuple[str, ...]]
    zone_kinds: tuple[str, ...]  # kinds and zone groups, each a boolean fact zone_<kind>
    instruments: tuple[str, ...]
    milestones: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        sides: list[str],
        side_groups: dict[str, list[str]],
        zone_kinds: list[str],
        zone_groups: dict[str, list[str]],
        instruments: list[str],
        milestones: list[str],
        words: VocabularySpec | None = None,
    ) -> Vocabulary:
        """``words`` is the pack's declared vocabulary (the core one when None)."""
        words = words or core_vocabulary()
        side_values = tuple(sides) + tuple(side_groups)
        facts: dict[str, tuple[Any, ...]] = {
            "attacker_side": side_values,
            "target_side": side_values,
            "event_type": words.event_type_ids,
            "is_attack": BOOL,
            "is_air": BOOL,
            "platform": words.platform_ids,
            "target_category": words.target_ids,
            "weapon_class": words.weapon_ids,
            "mission": ("combat", "medical", "evacuation", "reconnaissance", "unknown"),
            "civilian_targeting": BOOL,
            "coordinated": ("yes", "no", "unknown"),
            "location_resolved": BOOL,
            "zone": tuple(zone_kinds) + tuple(zone_groups),
            "direction": get_args(Direction),
            "attacker_set": BOOL,
            "target_set": BOOL,
            "split_place": BOOL,
            "aggregate": BOOL,
            "calibre_mm": NUMBER,
            "casualties": NUMBER,
            DISTANCE: NUMBER,
        }
        for name in milestones:
            facts[f"after_{name}"] = BOOL
        return cls(
            facts=facts,
            side_groups={k: tuple(v) for k, v in side_groups.items()},
            zone_kinds=tuple(zone_kinds) + tuple(zone_groups),
            instruments=tuple(instruments),
            milestones=tuple(milestones),
        )


@dataclass(frozen=True)
class LoadedRule:
    """A checked rule with its file, version and compiled branches."""

    spec: RuleSpec
    path: Path
    version: str
    cases_path: Path | None
    # durable_rules definitions, one per branch: name -> {"all": [{"m": ...}]}
    compiled: dict[str, dict[str, Any]] = field(default_factory=dict)
    # branch name -> (conditions of the branch, confidence cap) for explanations
    branches: dict[str, tuple[dict[str, ConditionValue], str | None]] = field(
        default_factory=dict
    )

    @property
    def term(self) -> str:
        return self.spec.term


def rule_version(path: Path) -> str:
    """The version of a rule: the SHA-256 of its file, as ``sha256:<hex>``."""
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


# --- checking ------------------------------------------------------------------------------


def _check_conditions(
    conds: dict[str, ConditionValue], vocab: Vocabulary, file: str, key: str
) -> list[Problem]:
    problems = []
    for fact, value in conds.items():
        where = f"{key}.{fact}"
        if fact not in vocab.facts:
            problems.append(
                Problem(file, where, f"{fact!r} is not a fact rules can test.",
                        did_you_mean(fact, vocab.facts))
            )
            continue
        allowed = vocab.facts[fact]
        if fact == DISTANCE:
            problems += _check_distance(value, vocab, file, where)
            continue
        for op, operand in _operations(value):
            if op is None:
                problems.append(Problem(
                    file, where, f"{value!r} is not a condition.",
                    "Use a value, a list, or {not: v} / {not_in: [..]} / {gte: n} / {gt: n} / "
                    "{lte: n} / {lt: n}.",
                ))
                continue
            if op in COMPARISONS:
                if not isinstance(operand, (int, float)) or isinstance(operand, bool):
                    problems.append(Problem(file, where, f"{op} needs a number, got {operand!r}"))
                continue
            if allowed is NUMBER:
                problems.append(Problem(file, where, f"{fact} is a number: compare it",
                                        f"Write e.g. {{{fact}: {{gte: 100}}}}."))
                continue
            for item in operand if isinstance(operand, list) else [operand]:
                if item not in allowed:
                    problems.append(Problem(
                        file, where, f"{item!r} is not a value of {fact}.",
                        did_you_mean(item, [str(a) for a in allowed]),
                    ))
    return problems


def _check_distance(value: ConditionValue, vocab: Vocabulary, file: str,
                    where: str) -> list[Problem]:
    """``distance_km: {to: <zone kind or group>, lte|lt|gte|gt: km}``."""
    hint = "Write e.g. {distance_km: {to: <zone kind or group>, lte: 15}}."
    if not isinstance(value, dict) or "to" not in value:
        return [Problem(file, where, f"{value!r} is not a distance condition.", hint)]
    problems = []
    if value["to"] not in vocab.zone_kinds:
        problems.append(Problem(file, f"{where}.to", f"{value['to']!r} is not a zone kind.",
                                did_you_mean(str(value["to"]), vocab.zone_kinds)))
    ops = [k for k in value if k != "to"]
    if not ops:
        problems.append(Problem(file, where, "gives no comparison.", hint))
    for op in ops:
        operand = value[op]
        if op not in COMPARISONS:
            problems.append(Problem(file, f"{where}.{op}", "is not a comparison.",
                                    did_you_mean(op, COMPARISONS)))
        elif not isinstance(operand, (int, float)) or isinstance(operand, bool) or operand < 0:
            problems.append(Problem(file, f"{where}.{op}", f"needs a distance in km, got "
                                    f"{operand!r}"))
    return problems


def _operations(value: ConditionValue) -> list[tuple[str | None, Any]]:
    """Split a condition value into (operator, operand) pairs; operator None = malformed."""
    if isinstance(value, dict):
        ops = []
        for op, operand in value.items():
            if op in ("not", *COMPARISONS):
                ops.append((op, operand))
            elif op in ("not_in", "in") and isinstance(operand, list):
                ops.append((op, operand))
            else:
                ops.append((None, operand))
        return ops or [(None, value)]
    if isinstance(value, list):
        return [("in", value)]
    return [("eq", value)]


def distance_kinds(spec: RuleSpec) -> list[str]:
    """The zone kinds a rule measures distances to (``distance_km: {to: ..}``)."""
    conds = [spec.when, *(b.when for b in spec.any), *spec.unless,
             *(s.when for s in spec.severity_if)]
    return list(dict.fromkeys(c[DISTANCE]["to"] for c in conds
                              if isinstance(c.get(DISTANCE), dict) and "to" in c[DISTANCE]))


def _fact_key(fact: str, value: ConditionValue) -> tuple[str, ConditionValue]:
    """The judge's fact a condition tests, and the rest of the condition: a distance condition
    tests ``distance_km_<kind>``."""
    if fact == DISTANCE and isinstance(value, dict):
        return f"{DISTANCE}_{value['to']}", {k: v for k, v in value.items() if k != "to"}
    return fact, value


def check_rule(spec: RuleSpec, vocab: Vocabulary, file: str) -> list[Problem]:
    """Every problem of one parsed rule against the pack's vocabulary."""
    problems = []
    if spec.instrument not in vocab.instruments:
        problems.append(Problem(file, "instrument",
                                f"{spec.instrument!r} is not an instrument of this pack.",
                                did_you_mean(spec.instrument, vocab.instruments)))
    problems += _check_conditions(spec.when, vocab, file, "when")
    for i, branch in enumerate(spec.any):
        problems += _check_conditions(branch.when, vocab, file, f"any[{i}].when")
        # every condition of `when` must hold in every branch: a branch adds conditions, it
        # cannot replace one (which would quietly drop the `when` condition for that branch)
        problems += [Problem(file, f"any[{i}].when.{fact}", f"repeats the condition "
                             f"when.{fact}: a branch adds conditions to `when`, all of which "
                             "must hold; it cannot replace one.", f"State {fact} once: in "
                             "`when` for every branch, or in each branch and not in `when`.")
                     for fact in branch.when if fact in spec.when]
    for i, exemption in enumerate(spec.unless):
        problems += _check_conditions(exemption, vocab, file, f"unless[{i}]")
    for i, sev in enumerate(spec.severity_if):
        problems += _check_conditions(sev.when, vocab, file, f"severity_if[{i}].when")
    if isinstance(spec.charged_to, list):
        sides = [s for s in vocab.facts["attacker_side"] if s not in vocab.side_groups]
        for i, side in enumerate(spec.charged_to):
            if side not in sides and side not in ROLES:
                problems.append(Problem(file, f"charged_to[{i}]", f"{side!r} is neither a role "
                                        f"({', '.join(ROLES)}) nor a side.",
                                        did_you_mean(side, [*ROLES, *sides])))
        if not spec.charged_to:
            problems.append(Problem(file, "charged_to", "is an empty list",
                                    "Name a role or a side, or write `charged_to: none`."))
    if spec.deadline is not None and spec.deadline not in vocab.milestones:
        problems.append(Problem(file, "deadline", f"{spec.deadline!r} is not a milestone of "
                                "pack.yaml.", did_you_mean(spec.deadline, vocab.milestones)
                                or "Declare it under `milestones:` with its date."))
    if not spec.when and not spec.any:
        problems.append(Problem(file, "when", "the rule has no condition: it would match "
                                "every incident.", "Add `when:` or `any:` conditions."))
    return problems


def load_rules(rules_dir: Path, vocab: Vocabulary, label: str = "") -> tuple[
    list[LoadedRule], list[Problem]
]:
    """Load and check every ``<term>/rule.yaml`` under ``rules_dir``; compile the good ones."""
    rules: list[LoadedRule] = []
    problems: list[Problem] = []
    if not rules_dir.is_dir():
        return [], [Problem(str(rules_dir), "", "rules folder not found",
                            "Check `rules:` in the pack's pack.yaml.")]
    seen_terms: dict[str, str] = {}
    for folder in sorted(p for p in rules_dir.iterdir() if p.is_dir()):
        path = folder / RULE_FILE
        file = f"{label or rules_dir}/{folder.name}/{RULE_FILE}"
        if not path.exists():
            problems.append(Problem(file, "", "missing: every term folder needs a rule.yaml"))
            continue
        data, errs = read_yaml(path)
        if errs:
            problems += [Problem(file, e.key, e.message, e.hint) for e in errs]
            continue
        try:
            spec = RuleSpec.model_validate(data)
        except ValidationError as exc:
            problems += from_validation(file, exc)
            continue
        errs = check_rule(spec, vocab, file)
        if spec.term != folder.name:
            errs.append(Problem(file, "term", f"{spec.term!r} differs from its folder name "
                                f"{folder.name!r}", "Name the folder after the term id."))
        if spec.term in seen_terms:
            errs.append(Problem(file, "term", f"{spec.term!r} is also defined in "
                                f"{seen_terms[spec.term]}"))
        seen_terms[spec.term] = file
        problems += errs
        if errs:
            continue
        cases = folder / CASES_FILE
        rule = LoadedRule(spec, path, rule_version(path), cases if cases.exists() else None)
        compiled, branches = compile_rule(spec, vocab)
        rules.append(LoadedRule(rule.spec, rule.path, rule.version, rule.cases_path,
                                compiled, branches))
    return rules, problems


# --- compiling -----------------------------------------------------------------------------


def _expand(fact: str, values: list[Any], vocab: Vocabulary) -> list[Any]:
    """Replace side-group names by their sides (TERMS.md §2: government_side, designated)."""
    if fact not in ("attacker_side", "target_side"):
        return values
    out: list[Any] = []
    for v in values:
        out.extend(vocab.side_groups.get(v, (v,)))
    return list(dict.fromkeys(out))


def _any_of(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return terms[0] if len(terms) == 1 else {"$or": terms}


def _all_of(terms: list[dict[str, Any]]) -> dict[str, Any]:
    return terms[0] if len(terms) == 1 else {"$and": terms}


def compile_condition(fact: str, value: ConditionValue, vocab: Vocabulary,
                      negate: bool = False) -> dict[str, Any]:
    """One condition as a durable_rules expression (``negate`` compiles its opposite)."""
    fact, value = _fact_key(fact, value)
    parts = []
    for op, operand in _operations(value):
        if op in COMPARISONS:
            dr_op = COMPARISONS[op]
            if negate:
                dr_op = NEGATED[dr_op]
            parts.append({dr_op: {fact: operand}})
            continue
        values = operand if isinstance(operand, list) else [operand]
        positive = op in ("eq", "in")
        if negate:
            positive = not positive
        if fact == "zone":
            # zones are boolean facts zone_<kind>: "in zone k" is zone_k == true
            keys = [f"zone_{k}" for k in values]
            if positive:
                parts.append(_any_of([{k: True} for k in keys]))
            else:
                parts.append(_all_of([{k: False} for k in keys]))
            continue
        values = _expand(fact, values, vocab)
        if positive:
            parts.append(_any_of([{fact: v} for v in values]))
        else:
            parts.append(_all_of([{"$neq": {fact: v}} for v in values]))
    if negate:
        # not (a and b) == (not a) or (not b); one operator per condition is the common case
        return _any_of(parts)
    return _all_of(parts)


def compile_rule(spec: RuleSpec, vocab: Vocabulary) -> tuple[
    dict[str, dict[str, Any]], dict[str, tuple[dict[str, ConditionValue], str | None]]
]:
    """Compile a rule into one durable_rules definition per branch.

    Each branch is: instrument in force ∧ ``when`` ∧ branch conditions ∧ ¬exemption₁ ∧ ….
    """
    branches = spec.any or []
    alternatives: list[tuple[dict[str, ConditionValue], str | None]] = (
        [({**spec.when, **b.when}, b.confidence_at_most) for b in branches]
        if branches else [(dict(spec.when), None)]
    )
    compiled: dict[str, dict[str, Any]] = {}
    explained: dict[str, tuple[dict[str, ConditionValue], str | None]] = {}
    for i, (conds, cap) in enumerate(alternatives):
        terms: list[dict[str, Any]] = [{f"in_force_{spec.instrument}": True}]
        if spec.deadline is not None:
            # a deadline term: the state had to hold by the milestone; only later events break it
            terms.append({f"after_{spec.deadline}": True})
        terms += [compile_condition(f, v, vocab) for f, v in conds.items()]
        for exemption in spec.unless:
            # an exemption holds when all its conditions hold; the rule needs it not to hold
            terms.append(_any_of([compile_condition(f, v, vocab, negate=True)
                                  for f, v in exemption.items()]))
        name = f"{spec.id}__{i}"
        compiled[name] = {"all": [{"m": _all_of(terms)}]}
        explained[name] = (conds, cap)
    return compiled, explained


def severity_for(spec: RuleSpec, facts: dict[str, Any], vocab: Vocabulary) -> str:
    """The severity of a finding: the first matching ``severity_if`` entry, else the default."""
    for entry in spec.severity_if:
        if all(holds(f, v, facts, vocab) for f, v in entry.when.items()):
            return entry.severity
    return spec.severity


def holds(fact: str, value: ConditionValue, facts: dict[str, Any], vocab: Vocabulary) -> bool:
    """Whether one condition holds for a fact set (used for severity and explanations only;
    the decision whether a term is broken is durable_rules')."""
    ok = True
    fact, value = _fact_key(fact, value)
    for op, operand in _operations(value):
        if fact == "zone":
            values = operand if isinstance(operand, list) else [operand]
            hit = any(facts.get(f"zone_{k}") for k in values)
            ok &= hit if op in ("eq", "in") else not hit
            continue
        actual = facts.get(fact)
        if op in COMPARISONS:
            ok &= actual is not None and _compare(op, actual, operand)
        else:
            values = _expand(fact, operand if isinstance(operand, list) else [operand], vocab)
            ok &= (actual in values) if op in ("eq", "in") else (actual not in values)
    return ok


def _compare(op: str, actual: float, operand: float) -> bool:
    return {"gte": actual >= operand, "gt": actual > operand, "lte": actual <= operand,
            "lt": actual < operand}[op]
