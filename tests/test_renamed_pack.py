"""Nothing of a pack in Python: the 2016 pack with every side, side group, zone kind, zone group,
term, instrument and pattern renamed, held outside the project, gives on the real UCDP 2016 file
the same findings per term, the same alerts per kind and the same calm days, name for name.

The renaming walks the YAML data structures and changes ids where the files hold ids (never
English prose), the side of unresolved actors (``unknown_side``) included.
"""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.adapters.ucdp import to_report as ucdp_report
from monitor.config import PROJECT_ROOT, Pack, load_pack
from monitor.ledger import Ledger
from monitor.service import Monitor

UCDP = PROJECT_ROOT / "feeds" / "data" / "ged_syria_2016.csv"
SIDE_FACTS = ("attacker_side", "target_side")


def mapping(pack: Pack) -> dict[str, dict[str, str]]:
    """Every id of the pack, by namespace, to a new name that says nothing."""
    spec = pack.spec
    return {
        "side": {s: f"side_{i:02d}" for i, s in enumerate(pack.sides)},
        "side_group": {g: f"group_{i:02d}" for i, g in enumerate(spec.side_groups)},
        "zone": {k: f"kind_{i:02d}" for i, k in enumerate(spec.zone_kinds)},
        "zone_group": {g: f"zgroup_{i:02d}" for i, g in enumerate(spec.zone_groups)},
        "instrument": {x: f"I{i:02d}" for i, x in enumerate(sorted(pack.instruments))},
        "term": {r.term: f"T{i:02d}-X" for i, r in enumerate(sorted(pack.rules,
                                                                    key=lambda r: r.term))},
        "pattern": {p.name: f"pattern_{i:02d}" for i, p in enumerate(spec.patterns)},
    }


class Renamer:
    def __init__(self, names: dict[str, dict[str, str]]):
        self.n = names
        self.sides = {**names["side"], **names["side_group"]}
        self.zones = {**names["zone"], **names["zone_group"]}

    def all(self, value: Any, table: dict[str, str]) -> Any:
        """Every string in ``value`` that is a key of ``table``, renamed (lists, dicts too)."""
        if isinstance(value, str):
            return table.get(value, value)
        if isinstance(value, list):
            return [self.all(v, table) for v in value]
        if isinstance(value, dict):
            return {k: self.all(v, table) for k, v in value.items()}
        return value

    def pack(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        n = self.n
        data["name"], data["rules"] = name, f"../../rules/{name}"
        for side in data["sides"]:
            side["id"] = n["side"][side["id"]]
            side["bound_by"] = self.all(side.get("bound_by", []), n["instrument"])
        data["side_groups"] = {n["side_group"][g]: self.all(m, n["side"])
                               for g, m in data["side_groups"].items()}
        data["zone_kinds"] = self.all(data["zone_kinds"], n["zone"])
        data["zone_groups"] = {n["zone_group"][g]: self.all(m, n["zone"])
                               for g, m in data["zone_groups"].items()}
        for key in ("air_operators", "contested_side", "civilian_side", "unknown_side"):
            data[key] = self.all(data[key], n["side"])
        for p in data.get("patterns", []):
            p["name"] = n["pattern"][p["name"]]
            for key in ("instrument", "counts"):
                if key in p:
                    p[key] = self.all(p[key], n["instrument"])
            for step in ("first", "then"):
                if step in p:
                    p[step] = {k: self.all(v, self.sides if k in ("attackers", "targets") else
                                           self.zones if k == "zones" else {})
                               for k, v in p[step].items()}
        colours = data["display"]["zone_colours"]
        data["display"]["zone_colours"] = {n["zone"][k]: v for k, v in colours.items()}
        return data

    def sides_in(self, data: Any) -> Any:
        """actors.yaml: ``side``, ``sides`` and ``air_sides`` wherever they are."""
        if isinstance(data, list):
            return [self.sides_in(v) for v in data]
        if isinstance(data, dict):
            return {k: self.all(v, self.n["side"]) if k in ("side", "sides", "air_sides")
                    else self.sides_in(v) for k, v in data.items()}
        return data

    def zones_file(self, data: dict[str, Any]) -> dict[str, Any]:
        for zone in data["zones"]:
            zone["kind"] = self.n["zone"][zone["kind"]]
        for place in data.get("split_places", []):
            place["kinds"] = self.all(place["kinds"], self.n["zone"])
        return data

    def classifier(self, data: dict[str, Any]) -> dict[str, Any]:
        for entry in [*data.get("fired_by", []), *data.get("hit_side", [])]:
            entry["value"] = "+".join(self.n["side"][s] for s in entry["value"].split("+"))
        return data

    def conditions(self, when: dict[str, Any]) -> dict[str, Any]:
        return {k: self.all(v, self.sides) if k in SIDE_FACTS else
                self.all(v, self.zones) if k == "zone" else v for k, v in when.items()}

    def rule(self, data: dict[str, Any]) -> dict[str, Any]:
        n = self.n
        data["term"] = n["term"][data["term"]]
        data["instrument"] = n["instrument"][data["instrument"]]
        if isinstance(data.get("charged_to"), list):
            data["charged_to"] = self.all(data["charged_to"], n["side"])
        if "when" in data:
            data["when"] = self.conditions(data["when"])
        for branch in data.get("any", []):
            branch["when"] = self.conditions(branch["when"])
        data["unless"] = [self.conditions(u) for u in data.get("unless", [])]
        return data

    def cases(self, data: dict[str, Any]) -> dict[str, Any]:
        for case in data["cases"]:
            for expected in case.get("expect") or []:
                for key in ("charged_to", "parties"):
                    if key in expected:
                        expected[key] = self.all(expected[key], self.n["side"])
        return data


def rename_pack(pack: Pack, root: Path, name: str = "renamed") -> dict[str, dict[str, str]]:
    """The pack copied to ``root`` (config/<name>, rules/<name>) with every id renamed."""
    names = mapping(pack)
    r = Renamer(names)
    config, rules = root / "config" / name, root / "rules" / name
    shutil.copytree(pack.folder, config, ignore=shutil.ignore_patterns("patterns"))
    (root / "config" / "monitor.yaml").write_text(f"pack: {name}\n", encoding="utf-8")

    def rewrite(path: Path, edit) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        path.write_text(yaml.safe_dump(edit(data), sort_keys=False, allow_unicode=True),
                        encoding="utf-8")

    rewrite(config / "pack.yaml", lambda d: r.pack(d, name))
    rewrite(config / pack.spec.files.instruments, lambda d: {**d, "instruments": [
        {**i, "id": names["instrument"][i["id"]]} for i in d["instruments"]]})
    rewrite(config / pack.spec.files.actors, r.sides_in)
    rewrite(config / pack.spec.files.zones, r.zones_file)
    rewrite(config / pack.spec.files.classifier, r.classifier)
    for rule in pack.rules:
        folder = rules / names["term"][rule.term]
        folder.mkdir(parents=True)
        shutil.copy(rule.path, folder / "rule.yaml")
        rewrite(folder / "rule.yaml", r.rule)
        if rule.cases_path:
            shutil.copy(rule.cases_path, folder / "cases.yaml")
            rewrite(folder / "cases.yaml", r.cases)
    return names


# UCDP codes fighting as clashes, so its 2016 rows hold no attack by Nusra with an unambiguous
# attacker: two hand reports (Kafr Nabl, then Maarat al-Numan 10.6 km east 20 h later) make a
# cycle of excuses for the comparison to see.
EXCUSE = [
    {"feed": "manual", "source_id": "excuse-1", "occurred": "2016-09-14T06:00:00+03:00",
     "event_type": "ground_assault", "attacker": "Jabhat Fateh al-Sham",
     "target": "Military Forces of Syria (2000-)", "sources": ["hand"],
     "location": {"lat": 35.614, "lon": 36.562, "precision": 1, "place": "Kafr Nabl"}},
    {"feed": "manual", "source_id": "excuse-2", "occurred": "2016-09-15T02:00:00+03:00",
     "event_type": "air_strike", "attacker": "Military Forces of Syria (2000-)",
     "target": "Free Syrian Army", "sources": ["hand"],
     "notes": "Regime warplanes struck Free Syrian Army positions in Maarat al-Numan.",
     "location": {"lat": 35.648, "lon": 36.672, "precision": 1, "place": "Maarat al-Numan"}},
]


def run(pack: Pack, path: Path, rows: list[dict[str, str]]) -> dict[str, Any]:
    """The UCDP rows (and the hand reports) through the pack into a new ledger: its findings,
    alerts and calm days."""
    ledger = Ledger.open(path)
    monitor = Monitor(pack, ledger)
    monitor.submit([(r["source_id"], r) for r in EXCUSE], refresh=False)
    for i in range(0, len(rows), 500):
        monitor.submit([(f"row {r['id']}", ucdp_report(r, "ucdp", "B"))
                        for r in rows[i:i + 500]], refresh=False)
    monitor.refresh_patterns()
    out = {"findings": [f for f in ledger.findings()
                        if f["status"] not in ("superseded", "retracted")],
           "alerts": ledger.alerts(), "calm": ledger.calm_days()}
    ledger.close()
    return out


def in_new_names(result: dict[str, Any], names: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The original pack's outcome with every id as the renamed pack calls it."""
    side = {**names["side"], "unattributed": "unattributed"}

    def party(text: str) -> tuple[str, ...]:
        for joiner in (" or ", " and ", ", "):
            if joiner in text:
                return tuple(sorted(side.get(s, s) for s in text.split(joiner)))
        return (side.get(text, text),)

    return summary(result, names["term"].get, names["pattern"].get, party,
                   lambda s: side.get(s, s))


def summary(result: dict[str, Any], term=lambda t: t, pattern=lambda p: p,
            party=None, side=lambda s: s) -> dict[str, Any]:
    def same(text: str) -> tuple[str, ...]:
        for joiner in (" or ", " and ", ", "):
            if joiner in text:
                return tuple(sorted(text.split(joiner)))
        return (text,)

    party = party or same
    return {
        "per_term": Counter(term(f["term"]) for f in result["findings"]),
        "findings": sorted((f["source_id"], term(f["term"]),
                            tuple(sorted(side(s) for s in f["charged_to"])), f["severity"],
                            f["confidence"], f["attribution"]) for f in result["findings"]),
        "per_alert_kind": Counter(pattern(a["kind"]) for a in result["alerts"]),
        "alerts": sorted((pattern(a["kind"]), party(a["party"]), a["governorate"], a["start"],
                          a["end"], len(a["incident_ids"])) for a in result["alerts"]),
        "calm": sorted((pattern(d["counter"]), d["day"], d["calm"], d["consecutive"],
                        d["condition_met"], len(d["breaches"])) for d in result["calm"]),
    }


def ucdp_rows(first: str, last: str) -> list[dict[str, str]]:
    with UCDP.open(newline="", encoding="utf-8") as fh:
        return [r for r in csv.DictReader(fh) if first <= r["date_start"][:10] <= last]


@pytest.fixture(scope="module")
def renamed(tmp_path_factory, pack) -> tuple[Pack, dict[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("elsewhere")
    assert PROJECT_ROOT not in root.parents  # held outside the project
    names = rename_pack(pack, root)
    return load_pack(root / "config", "renamed"), names


def ids(pack: Pack) -> dict[str, set[str]]:
    return {"sides": set(pack.sides), "side_groups": set(pack.spec.side_groups),
            "zone_kinds": set(pack.spec.zone_kinds), "zone_groups": set(pack.spec.zone_groups),
            "instruments": set(pack.instruments), "terms": {r.term for r in pack.rules},
            "patterns": {p.name for p in pack.spec.patterns}}


def test_the_renamed_pack_shares_no_id_with_the_original(renamed, pack) -> None:
    new, _ = renamed
    old, now = ids(pack), ids(new)
    everything_old = set().union(*old.values())
    for kind, names in now.items():
        assert old[kind] and len(names) == len(old[kind]), kind
        assert not names & everything_old, kind


def test_the_renamed_rules_pass_their_own_case_suites(renamed) -> None:
    from click.testing import CliRunner

    from monitor.cli import main

    new, _ = renamed
    result = CliRunner().invoke(main, ["--config", str(new.folder.parent), "--db",
                                       str(new.folder.parent / "x.db"), "rules", "test"])
    assert result.exit_code == 0, result.output


@pytest.mark.slow  # the whole UCDP file judged by two packs (make test-slow; CI runs it)
def test_the_renamed_pack_gives_the_same_results_name_for_name(renamed, pack, tmp_path) -> None:
    """The whole 2016 UCDP file (about 5 s a pack on this machine)."""
    new, names = renamed
    rows = ucdp_rows("2016-01-01", "2016-12-31")
    original = in_new_names(run(pack, tmp_path / "original.db", rows), names)
    again = summary(run(new, tmp_path / "renamed.db", rows))
    # not vacuous: the terms found (all but JIG-COORD: the group was never established), every
    # alert kind raised, the calm series recorded
    assert set(original["per_term"]) == set(names["term"].values()) - {names["term"]["JIG-COORD"]}
    assert set(original["per_alert_kind"]) == {names["pattern"][p] for p in (
        "escalation", "cycle_of_excuses")}
    assert len(original["calm"]) == 21
    for key in ("per_term", "per_alert_kind", "calm", "findings", "alerts"):
        assert again[key] == original[key], key
