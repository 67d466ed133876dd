"""The benchmark harness (bench/): a fast smoke test, no timing asserts.

Generation must be seeded and reproducible and read cleanly by the real ACLED adapter; variant
packs must load; ``bench/run.py --quick`` must write RESULTS.md with every table heading.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from monitor.adapters.acled import read_csv
from monitor.config import PROJECT_ROOT, load_pack
from monitor.geo import distance_km
from monitor.service import Rejection, validate

BENCH = PROJECT_ROOT / "bench"


def _load(name: str) -> ModuleType:
    """A bench script as a module (bench/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


generate = _load("generate")
measure = _load("measure")


def test_generation_is_seeded_and_reproducible(tmp_path: Path) -> None:
    a = list(generate.incidents(300, seed=7))
    assert a == list(generate.incidents(300, seed=7))
    assert a != list(generate.incidents(300, seed=8))
    # incident k depends only on the seed and k: a small file is a prefix of a big one
    assert list(generate.incidents(40, seed=7)) == a[:40]
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    generate.write_acled(one, 300, seed=7)
    generate.write_acled(two, 300, seed=7)
    assert one.read_bytes() == two.read_bytes()


def test_incidents_follow_the_ucdp_rows() -> None:
    ucdp = generate.load_ucdp()
    by_date: dict[str, list[tuple[float, float]]] = {}
    for row in ucdp:
        by_date.setdefault(row["date_start"], []).append(
            (float(row["latitude"]), float(row["longitude"])))
    headlines = {row["source_headline"].strip() for row in ucdp}
    rows = list(generate.incidents(300, seed=3, ucdp=ucdp))
    assert len({r["event_id_cnty"] for r in rows}) == len({r["timestamp"] for r in rows}) == 300
    actors = set(generate.ACTORS.values()) | set(generate.INSURGENTS)
    ucdp_names = {row[k] for row in ucdp for k in ("side_a", "side_b")}
    for r in rows:
        assert tuple(r) == generate.ACLED_COLUMNS
        lat, lon = float(r["latitude"]), float(r["longitude"])
        # the point of a UCDP event of the same date, moved by at most 2 km
        assert min(distance_km(lat, lon, *p) for p in by_date[r["event_date"]]) <= 2.0
        assert r["actor1"] in actors | ucdp_names and r["actor2"] in actors | ucdp_names
        assert r["notes"] in headlines
        assert r["sub_event_type"] in {s for _, s in generate.SUB_EVENTS.values()}
    assert generate.sub_event("Warplanes carry out raids on Idlib") == "air"
    assert generate.sub_event("Regime forces shell Daraa") == "shelling"
    assert generate.sub_event("Clashes continue in Aleppo") == "clash"


def test_the_acled_adapter_reads_every_generated_row(tmp_path: Path) -> None:
    path = generate.write_acled(tmp_path / "acled.csv", 200)
    items = list(read_csv(path))
    assert len(items) == 200
    reports = [validate(item[1], item[0]) for item in items if not isinstance(item, Rejection)]
    assert not [r for r in reports if isinstance(r, Rejection)]
    with path.open(newline="", encoding="utf-8") as fh:
        assert tuple(csv.DictReader(fh).fieldnames or ()) == generate.ACLED_COLUMNS


def test_variant_packs_load_with_the_asked_sizes(tmp_path: Path) -> None:
    config = generate.make_variant(tmp_path / "v", zones=60, rules=12, seed=1)
    pack = load_pack(config, "syria-2016")
    assert len(pack.zones.specs) == 60 and len(pack.rules) == 12
    real_kinds = {s.kind for s in load_pack(PROJECT_ROOT / "config", "syria-2016").zones.specs}
    assert {s.kind for s in pack.zones.specs} <= real_kinds
    assert any(r.term.endswith("-V11") for r in pack.rules)  # 11 real rules, then variants


def test_distinct_terms_load_and_each_names_its_own_attacker_and_target(tmp_path: Path) -> None:
    config = generate.make_variant(tmp_path / "v", rules=60, seed=1, distinct=True)
    pack = load_pack(config, "syria-2016")  # a branch restating `when` would be refused
    variants = [r for r in pack.rules if "-D" in r.term]
    assert len(pack.rules) == 60 and len(variants) == 60 - 11
    pairs = set()
    for rule in variants:
        when = rule.spec.when
        assert when["attacker_side"] in pack.sides, rule.term
        assert when["target_category"] in pack.spec.words.target_ids, rule.term
        assert not any({"attacker_side", "target_category"} & set(b.when) for b in rule.spec.any)
        pairs.add((rule.term.split("-D")[0], when["attacker_side"], when["target_category"]))
    assert len(pairs) == len(variants)  # no two variants of a rule are the same term


def test_budget_steps_extrapolate_only_as_extrapolation() -> None:
    step = measure.Step(budget=10.0)
    assert step.fits(1_000_000) == (True, "")  # nothing measured yet: try it
    step.record(1000, 2.0)
    ok, why = step.fits(10_000)
    assert not ok and why.startswith("skipped: over budget") and "extrapolated" in why
    step.record(2000, 8.0)  # cost grew 4x for 2x: the prediction follows the power law
    seconds, how = step.predict(4000) or (0.0, "")
    assert seconds == pytest.approx(32.0) and "exponent 2.00" in how


@pytest.mark.slow  # the whole benchmark end to end, at its smallest sizes
def test_quick_run_writes_results_with_every_table(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick", "--out", str(out),
                           "--workdir", str(tmp_path / "work")],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600, check=False,
                          env={k: v for k, v in os.environ.items() if k != "MONITOR_CACHE"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (out / "RESULTS.md").read_text("utf-8")
    for heading in ("## Machine", "## Targets",
                    "### Incidents N: import end to end vs the baseline",
                    "### A second feed: corroboration", "### Zones",
                    "### Rules", "### Ledger of", "### Daemon memory", "## Where the time goes",
                    "## Plots"):
        assert heading in text, heading
    assert "| N | baseline s |" in text and "| zone rows |" in text
    results = json.loads((out / "results.json").read_text("utf-8"))
    assert results["scale"][0]["n"] == 2000 and results["settings"]["runs"] == 1
    # the ledger's bytes against the CSV's, and every target of the speed work, are judged
    scale = results["scale"][0]
    assert scale["ledger_bytes"] > scale["csv_bytes"] > 0
    for target in ("ledger ≤ 2 × the CSV's bytes", "import ÷ baseline ≤ 5",
                   "µs/incident at most rules ≤ 1.5× at fewest", "< 0.3 s",
                   "ledger verify ≥ 300,000 entries/s"):
        assert target in text, target
    assert "## Targets" in proc.stdout  # the tables are printed at the end
    # UCDP's file into an empty ledger links nothing; into 2,000 ACLED rows drawn from it, some
    corroboration = results["corroboration"]
    assert corroboration["status"] == "measured" and corroboration["reports"] == 6170
    assert corroboration["empty_links"] == 0 < corroboration["acled_links"]
    assert corroboration["acled_median_s"] > 0 and corroboration["empty_median_s"] > 0
    # the read commands run as a user's do, with monitor.yaml's values cached by an earlier one
    assert results["findings"]["settings_cache"].startswith("warm:")
    assert ("The disk cache (`monitor.diskcache`: `monitor.yaml` as validated, the pack's "
            "names, the schema verify compares): warm:") in text
    assert list((tmp_path / "work" / "cache").glob("settings-*.bin"))
    # an analyst's verdict is timed on both ledgers, beside the targets, not among them
    verdict = next(q for q in results["findings"]["queries"] if q["query"].startswith("verdict"))
    assert verdict["target"] is False and verdict["big_median_s"] > 0 < verdict["seed_median_s"]
    assert "| verdict (dispute, confirm) |" in text and "verdict (dispute, confirm) <" not in text


def test_ledger_formats_measures_each_variant_of_a_real_ledger(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]
                                                               ) -> None:
    import sqlite3

    import zstandard

    from monitor.ledger import packing
    from tests.test_compact import cli

    formats = _load("ledger_formats")
    source, db = tmp_path / "acled.csv", tmp_path / "ledger.db"
    generate.write_acled(source, 400)
    monkeypatch.setattr(packing, "TRAIN_AT", 100)  # packed values from the second batch on
    cli(db, "import", str(source), "--format", "acled", "--no-pipeline", "--batch-size", "100")
    variants = formats.measure(db, tmp_path)
    size = {v.name: v.bytes for v in variants}
    assert list(size) == ["as stored", "lean chain", "a root per batch", "packed as bytes",
                          "incident columns derived", "no query-only indexes", "evidence alone"]
    # each step of the line stores less; the derived incident columns are a branch of it
    line = [size[n] for n in ("as stored", "lean chain", "a root per batch", "packed as bytes",
                              "no query-only indexes", "evidence alone")]
    assert line == sorted(line, reverse=True) and len(set(line)) == len(line)
    assert size["incident columns derived"] != size["packed as bytes"]
    # the copies are gone
    assert {p.name.split(".db")[0] for p in tmp_path.glob("*.db*")} == {"ledger"}
    # the derived variant keeps every incident's whole resolution: unpacked, it is the text
    # the view incidents_resolved gives
    ledger = formats.Ledger(db)
    whole = ledger.whole_resolutions()
    with sqlite3.connect(db) as conn:
        packing.register(conn)
        texts = dict(conn.execute("SELECT report_key, resolution FROM incidents_resolved"))
        (resolutions,) = conn.execute("SELECT seq FROM dictionaries WHERE stored_in = "
                                      "'incidents.resolution'").fetchone()
    assert list(ledger.dictionaries) == [resolutions]
    readers = {seq: zstandard.ZstdDecompressor(dict_data=d)
               for seq, d in ledger.dictionaries.items()}
    assert whole.keys() == texts.keys() and len(texts) == 400
    framed = {k: v for k, v in whole.items() if isinstance(v, bytes)}
    assert 0 < len(framed) < 400  # the first 100 reports are stored as they are
    for key, value in whole.items():
        if isinstance(value, bytes):
            seq = int.from_bytes(value[:4], "big")
            value = readers[seq].decompress(value[4:]).decode()
        assert value == texts[key]
    assert formats.main([str(db), str(source), "--workdir", str(tmp_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith(f"acled.csv: {source.stat().st_size:,} bytes")
    assert [row.split(" | ")[0].lstrip("| ") for row in table[4:]] == list(size)
