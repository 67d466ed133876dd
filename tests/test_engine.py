"""The durable_rules wall (monitor/engine.py): many rules, shards, fired order, the memo.

The judgement is checked against an independent pure-Python reading of the compiled rule JSON
on seeded random fact sets; the 200-rule pack is the benchmark's (bench/generate.py), whose
rules would overflow durable_rules' 64-entry stack (error 303) in one ruleset.
"""

from __future__ import annotations

import importlib.util
import random
from typing import Any

import pytest

from monitor.config import PROJECT_ROOT, Pack, load_pack
from monitor.engine import STACK_BUDGET, Engine, EngineError, shard, stack_need
from monitor.judge import Judge
from monitor.ruleindex import RuleIndex, referenced_fields, requirements


def _generate() -> Any:
    spec = importlib.util.spec_from_file_location("bench_generate_for_engine",
                                                  PROJECT_ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pack200(tmp_path_factory: pytest.TempPathFactory) -> Pack:
    config = _generate().make_variant(tmp_path_factory.mktemp("rules200"), rules=200)
    pack = load_pack(config, "syria-2016")
    assert len(pack.rules) == 200
    return pack


def definitions_of(pack: Pack) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for rule in pack.rules:
        out.update(rule.compiled)
    return out


# --- an independent reading of durable_rules' rule JSON ---------------------------------------

def holds(expr: dict[str, Any], facts: dict[str, Any]) -> bool:
    if "$and" in expr:
        return all(holds(e, facts) for e in expr["$and"])
    if "$or" in expr:
        return any(holds(e, facts) for e in expr["$or"])
    ((key, value),) = expr.items()
    if key.startswith("$"):
        ((field, operand),) = value.items()
        if field not in facts:
            return False
        actual = facts[field]
        return {"$neq": lambda: not _same(actual, operand), "$gte": lambda: actual >= operand,
                "$lte": lambda: actual <= operand, "$gt": lambda: actual > operand,
                "$lt": lambda: actual < operand}[key]()
    return key in facts and _same(facts[key], value)


def _same(a: Any, b: Any) -> bool:
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def ways(expr: dict[str, Any], facts: dict[str, Any]) -> int:
    """In how many ways the expression holds: durable_rules expands ``$or`` into separate
    branches, and a rule fires once per branch that holds (two zone alternatives that both
    hold fire the rule twice)."""
    if "$and" in expr:
        count = 1
        for e in expr["$and"]:
            count *= ways(e, facts)
        return count
    if "$or" in expr:
        return sum(ways(e, facts) for e in expr["$or"])
    return int(holds(expr, facts))


def expected(definitions: dict[str, dict[str, Any]], facts: dict[str, Any]) -> list[str]:
    """The names fired, each as often as it holds, in definition order."""
    out = []
    for name, d in definitions.items():
        count = 1
        for cond in d["all"]:
            for expr in cond.values():
                count *= ways(expr, facts)
        out += [name] * count
    return out


def random_facts(pack: Pack, n: int, seed: int = 6) -> list[dict[str, Any]]:
    """Fact sets over the pack's vocabulary, biased towards true flags so rules match."""
    rng, vocab = random.Random(seed), pack.vocabulary
    sides = list(pack.sides) + ["unknown"]
    out = []
    for i in range(n):
        facts: dict[str, Any] = {}
        for name, values in vocab.facts.items():
            if name == "zone":
                for kind in vocab.zone_kinds:
                    facts[f"zone_{kind}"] = rng.random() < 0.4
            elif name in ("attacker_side", "target_side"):
                facts[name] = rng.choice(sides)
            elif set(values) == {True, False}:
                facts[name] = rng.random() < 0.7
            else:
                facts[name] = rng.choice(list(values))
        for inst in vocab.instruments:
            facts[f"in_force_{inst}"] = rng.random() < 0.8
        # most reports say who attacked (TERMS.md §4); a clash matches only COH-CLASH and
        # SEP-CASTELLO
        facts["direction"] = "directed" if rng.random() < 0.8 else "clash"
        facts["id"] = f"inc-{seed}-{i}#0"
        out.append(facts)
    return out


# --- many rules ---------------------------------------------------------------------------------

def test_200_generated_rules_judge_like_a_plain_reading_of_the_rules(pack200: Pack) -> None:
    definitions = definitions_of(pack200)
    engine = Engine(definitions, cache_size=0)
    assert engine.shard_count > 1
    fired_any = 0
    for facts in random_facts(pack200, 400):
        want = expected(definitions, facts)
        assert engine.evaluate(facts) == want, facts  # the same names, in definition order
        fired_any += bool(want)
    assert fired_any > 50  # the fact sets do exercise the rules


def perturbed(facts_sets: list[dict[str, Any]], fields: tuple[str, ...],
              seed: int = 11) -> list[dict[str, Any]]:
    """Each fact set with one indexed field missing, null, of another type or another value:
    what the index must never take for a reason to skip a rule that could match. durable_rules
    converts across types (``{x: true}`` matches x = 1 and x = "true"), which a plain reading
    of the rules does not: compare these with the engine without its index."""
    rng, out = random.Random(seed), []
    for i, facts in enumerate(facts_sets):
        field = rng.choice(fields)
        changed = {**facts, "id": f"{facts['id']}-p"}
        how = i % 5
        if how == 0:
            changed.pop(field, None)
        elif how == 1:
            changed[field] = None
        elif how == 2:
            changed[field] = 1 if isinstance(facts.get(field), bool) else 0
        elif how == 3:
            changed[field] = str(facts.get(field)).lower()  # True -> "true"
        else:
            changed[field] = "not-a-value"
        out.append(changed)
    return out


def test_the_index_changes_no_match_of_the_200_rules(pack200: Pack) -> None:
    """The same names, as often, in the same order, with the index and without it (every fact
    set asserted into every shard), and as a plain reading of the rules says; the index skips
    most shards."""
    definitions = definitions_of(pack200)
    indexed = Engine(definitions, cache_size=0)
    plain = Engine(definitions, cache_size=0, use_index=False)
    assert indexed.index is not None and plain.index is None
    facts_sets = random_facts(pack200, 400, seed=12)
    fired_any = 0
    for facts in facts_sets:
        fired = indexed.evaluate(facts)
        assert fired == plain.evaluate(facts) == expected(definitions, facts), facts
        fired_any += bool(fired)
    assert fired_any > 100
    changed = perturbed(facts_sets, indexed.index.fields)
    fired_any = 0
    for facts in changed:
        fired = indexed.evaluate(facts)
        assert fired == plain.evaluate(facts), facts
        fired_any += bool(fired)
    assert fired_any > 50
    facts_sets += changed
    assert plain.asserts == len(facts_sets) * plain.shard_count
    assert indexed.asserts * 4 < plain.asserts  # it does skip shards


def test_the_index_never_excludes_a_rule_that_holds(pack200: Pack) -> None:
    """Rule by rule: a rule durable_rules fires for a fact set is always a candidate; rules
    that cannot hold are excluded (most of them, for most fact sets)."""
    definitions = definitions_of(pack200)
    bit = {name: i for i, name in enumerate(definitions)}
    index = RuleIndex(list(definitions.values()))
    plain = Engine(definitions, cache_size=0, use_index=False)
    facts_sets = random_facts(pack200, 300, seed=13)
    facts_sets += perturbed(facts_sets, index.fields, seed=14)
    excluded = fired = 0
    for facts in facts_sets:
        candidates = index.candidates(facts)
        for name in plain.evaluate(facts):
            assert candidates >> bit[name] & 1, (name, facts)
            fired += 1
        excluded += len(bit) - candidates.bit_count()
    assert fired > 1_000
    assert excluded > len(facts_sets) * len(bit) // 2


def test_what_the_index_requires_of_a_rule() -> None:
    rule = {"all": [{"m": {"$and": [
        {"in_force_COH": True},
        {"$or": [{"attacker_side": "a"}, {"attacker_side": "b"}]},
        {"$or": [{"target_side": "c"}, {"$and": [{"zone_x": True}, {"target_side": "d"}]}]},
        {"$neq": {"event_type": "other"}}, {"$gte": {"casualties": 5}}]}}]}
    assert requirements(rule) == {"in_force_COH": {(bool, True)},
                                  "attacker_side": {(str, "a"), (str, "b")},
                                  "target_side": {(str, "c"), (str, "d")}}
    # zone_x is required by one branch only; operators never exclude
    index = RuleIndex([rule, {"all": [{"m": {"$gt": {"casualties": 0}}}]}])
    base = {"in_force_COH": True, "attacker_side": "a", "target_side": "d"}
    assert index.candidates(base) == 0b11
    assert index.candidates({**base, "attacker_side": "e"}) == 0b10
    assert index.candidates({**base, "in_force_COH": False}) == 0b10
    assert index.candidates({**base, "in_force_COH": None}) == 0b10
    assert index.candidates({k: v for k, v in base.items() if k != "target_side"}) == 0b10
    # durable_rules converts across types ({x: true} matches 1 and "true"): a value of
    # another type than every value a rule allows excludes nothing
    assert index.candidates({**base, "in_force_COH": 1}) == 0b11
    assert index.candidates({**base, "in_force_COH": "true"}) == 0b11
    assert index.candidates({**base, "in_force_COH": "yes"}) == 0b11
    assert index.candidates({**base, "attacker_side": False}) == 0b11
    mixed = RuleIndex([{"all": [{"m": {"$or": [{"x": True}, {"x": "yes"}]}}]}])
    assert mixed.candidates({"x": "no"}) == mixed.candidates({"x": False}) == 1
    assert mixed.candidates({"x": None}) == 0
    assert referenced_fields([rule]) == ("attacker_side", "casualties", "event_type",
                                         "in_force_COH", "target_side", "zone_x")


def test_a_fact_set_no_rule_can_match_is_asserted_nowhere(pack: Pack) -> None:
    engine = Engine(definitions_of(pack), cache_size=0)
    facts = {**random_facts(pack, 1, seed=15)[0],
             **{f"in_force_{i}": False for i in pack.vocabulary.instruments}}
    assert engine.evaluate(facts) == [] and engine.asserts == 0


def test_one_ruleset_of_the_200_rules_overflows_durable_rules_stack(pack200: Pack) -> None:
    """The bug sharding fixes (error 303), surfacing as an EngineError, not a crash."""
    engine = Engine(definitions_of(pack200), cache_size=0, stack_budget=10**9)
    assert engine.shard_count == 1
    errors = []
    for facts in random_facts(pack200, 400):
        try:
            engine.evaluate(facts)
        except EngineError as exc:
            errors.append(str(exc))
    assert errors and all("303" in e for e in errors)


def test_every_shard_is_within_the_stack_budget(pack200: Pack) -> None:
    definitions = definitions_of(pack200)
    groups = shard(list(definitions), definitions)
    assert [n for g in groups for n in g] != [] and sorted(n for g in groups for n in g) == \
        sorted(definitions)
    assert all(stack_need([definitions[n] for n in g]) <= STACK_BUDGET for g in groups)
    assert stack_need(list(definitions.values())) > 64  # one ruleset would not be


def test_the_real_pack_is_one_ruleset_and_shards_change_nothing(pack: Pack) -> None:
    definitions = definitions_of(pack)
    whole = Engine(definitions, cache_size=0)
    assert whole.shard_count == 1  # small packs keep the single ruleset they always had
    split = Engine(definitions, cache_size=0, stack_budget=4)
    assert split.shard_count > 3
    for facts in random_facts(pack, 300, seed=7):
        fired = whole.evaluate(facts)
        assert split.evaluate(facts) == fired == expected(definitions, facts)


def test_fired_names_come_in_definition_order(pack: Pack) -> None:
    """Shards group rules by instrument; the answer still follows the definitions' order."""
    items = list(definitions_of(pack).items())
    random.Random(3).shuffle(items)  # instruments interleaved
    reordered = dict(items)
    engine = Engine(reordered, cache_size=0, stack_budget=4)
    fired_many = 0
    for facts in random_facts(pack, 200, seed=8):
        fired = engine.evaluate(facts)
        assert fired == expected(reordered, facts)
        fired_many += len(set(fired)) > 2
    assert fired_many > 20


# --- the memo -----------------------------------------------------------------------------------

def test_the_memo_gives_what_evaluation_gives(pack: Pack) -> None:
    definitions = definitions_of(pack)
    cached, plain = Engine(definitions), Engine(definitions, cache_size=0)
    facts_sets = random_facts(pack, 150, seed=9)
    for round_ in range(3):  # later rounds repeat every fact set under a new id: memo hits
        for facts in facts_sets:
            facts = {**facts, "id": f"{facts['id']}-r{round_}"}
            fired = cached.evaluate(facts)
            assert fired == plain.evaluate(facts)
            fired.append("caller's own list")  # must not reach the memo
    assert cached.misses == len({tuple(sorted((k, v) for k, v in f.items() if k != "id"))
                                 for f in facts_sets})
    assert cached.hits == 3 * len(facts_sets) - cached.misses
    assert plain.hits == plain.misses == plain.cache_len() == 0


def test_the_memo_is_bounded(pack: Pack) -> None:
    engine = Engine(definitions_of(pack), cache_size=100)
    base = random_facts(pack, 1, seed=10)[0]
    for i in range(2_000):  # 2,000 distinct fact sets
        engine.evaluate({**base, "id": f"i{i}", "location_resolved": bool(i % 2),
                         "target_category": f"category-{i}"})
        assert engine.cache_len() <= 100
    assert engine.cache_len() == 100 and engine.misses == 2_000 and engine.hits == 0
    # the least recently used went first: the newest are still there
    engine.evaluate({**base, "id": "again", "location_resolved": True,
                     "target_category": "category-1999"})
    assert engine.hits == 1


def test_the_memo_keeps_true_apart_from_1() -> None:
    """True == 1 in Python but not to every durable_rules operator: separate memo entries."""
    engine = Engine({"r": {"all": [{"m": {"$gt": {"x": 0}}}]}, "s": {"all": [{"m": {"x": True}}]}})
    plain = Engine({"r": {"all": [{"m": {"$gt": {"x": 0}}}]}, "s": {"all": [{"m": {"x": True}}]}},
                   cache_size=0)
    for i, value in enumerate([True, 1, 1.0, True, 1]):
        assert engine.evaluate({"id": str(i), "x": value}) == plain.evaluate({"id": str(i),
                                                                              "x": value})
    assert engine.misses == 3 and engine.hits == 2


def test_fields_no_rule_tests_do_not_split_the_memo() -> None:
    """A rule's verdict depends only on the fields it tests: facts that differ elsewhere (the
    casualties, in a pack whose rules never compare them) share one memo entry."""
    engine = Engine({"r": {"all": [{"m": {"x": "a"}}]}})
    assert engine.evaluate({"id": "1", "x": "a", "casualties": 3}) == ["r"]
    assert engine.evaluate({"id": "2", "x": "a", "casualties": 40}) == ["r"]
    assert engine.evaluate({"id": "3", "x": "a"}) == ["r"]
    assert engine.hits == 2 and engine.misses == 1
    assert engine.evaluate({"id": "4", "casualties": 3}) == [] and engine.misses == 2


def test_the_same_facts_under_another_id_hit_the_memo() -> None:
    engine = Engine({"r": {"all": [{"m": {"x": "a"}}]}})
    assert engine.evaluate({"id": "1", "x": "a"}) == ["r"]
    assert engine.evaluate({"id": "2", "x": "a"}) == ["r"] and engine.hits == 1


# --- errors -------------------------------------------------------------------------------------

def test_a_failing_action_is_an_engine_error(pack: Pack, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = Engine({"r": {"all": [{"m": {"x": "a"}}]}})

    def broken(name: str) -> None:
        raise RuntimeError("recorder broke")

    monkeypatch.setattr(engine, "_record", broken)
    with pytest.raises(EngineError, match="recorder broke"):
        engine.evaluate({"id": "1", "x": "a"})
    assert engine.cache_len() == 0  # a failure is not memoised


def test_a_rule_too_wide_for_durable_rules_is_an_engine_error() -> None:
    """One rule whose 70 alternatives all match needs more than the 64-entry stack: it gets a
    shard of its own and still fails, loudly."""
    wide = {"all": [{"m": {"$or": [{f"z{k}": True} for k in range(70)]}}]}
    engine = Engine({"narrow": {"all": [{"m": {"z0": True}}]}, "wide": wide})
    assert engine.shard_count == 2
    with pytest.raises(EngineError, match="303"):
        engine.evaluate({"id": "1", **{f"z{k}": True for k in range(70)}})
    assert engine.evaluate({"id": "2", "z0": True}) == ["narrow", "wide"]


def test_no_rules_no_findings() -> None:
    assert Engine({}).evaluate({"id": "1", "x": 1}) == []


def test_the_judge_uses_the_engine_on_the_200_rule_pack(pack200: Pack) -> None:
    judge = Judge(pack200)
    assert judge.engine.shard_count > 1


def test_real_reports_give_the_same_findings_with_and_without_the_index(pack200: Pack) -> None:
    """End to end on real UCDP rows under the 200-rule pack: every finding, field by field
    (explanations included), is the same whether the engine skips shards or asserts every
    fact set everywhere."""
    from itertools import islice

    from monitor.adapters import reader
    from monitor.models import IncidentReport
    from monitor.service import Evaluator, validated

    rows = reader("ucdp")(PROJECT_ROOT / "feeds" / "data" / "ged_syria_2016.csv", feed="ucdp",
                          date_format=None, reliability=None)
    reports = [r for r in (validated(i) for i in islice(rows, 1_200))
               if isinstance(r, IncidentReport)]
    indexed = Evaluator(pack200)
    plain = Evaluator(pack200)
    plain.judge.engine = Engine(definitions_of(pack200), use_index=False)
    with_index = [(res, [f.model_dump() for f in found])
                  for res, found in indexed.judge_many(reports)]
    without = [(res, [f.model_dump() for f in found]) for res, found in plain.judge_many(reports)]
    assert with_index == without
    assert sum(len(found) for _, found in with_index) > 500
    assert indexed.judge.engine.asserts * 4 < plain.judge.engine.asserts
