"""Benchmark inputs drawn from the real UCDP 2016 Syria events: incidents, zones, rules.

Everything here is seeded and reproducible (``random.Random(seed)``), so two machines running
the benchmark judge the same incidents against the same variant configuration.

- :func:`incidents` — N ACLED-format rows. Each samples one UCDP GED row (with replacement),
  moves its point by at most 2 km, keeps its date, maps its sides to ACLED actor names, reads
  the sub-event type from the headline's words, and uses the headline as ``notes``. The rows
  follow the real distribution of places, dates, actors and texts; incident ``k`` depends only
  on the seed and ``k`` (the first 10k incidents of N = 1M are the N = 10k file).
- :func:`write_acled` / :func:`write_jsonl_drop` — the same incidents as an ACLED CSV export
  (for ``monitor import``) or as JSON Lines files in a drop folder (for the daemon; each line
  is the report the project's own ACLED mapping makes of the row).
- :func:`make_variant` — a copy of ``config/`` and ``rules/`` with a zones.yaml of Z rows
  and/or R rules (the real ones plus generated ones of the same kinds).

Command line (for inspection; ``run.py`` calls the functions)::

    python bench/generate.py acled 10000 /tmp/acled.csv --seed 2016
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import random
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from monitor.geo import KM_PER_DEGREE
from monitor.vocabulary import TARGET_CATEGORIES

ROOT = Path(__file__).resolve().parent.parent
UCDP = ROOT / "feeds" / "data" / "ged_syria_2016.csv"
SEED = 2016
MAX_JITTER_KM = 1.99  # "≤ 2 km", with room for rounding the coordinates to 5 decimals

# ACLED's CSV export columns (shared/data/README.md; feeds/samples/acled_syria_2016_sample.csv)
ACLED_COLUMNS = (
    "event_id_cnty", "event_date", "year", "time_precision", "disorder_type", "event_type",
    "sub_event_type", "actor1", "assoc_actor_1", "inter1", "actor2", "assoc_actor_2", "inter2",
    "interaction", "civilian_targeting", "iso", "region", "country", "admin1", "admin2",
    "admin3", "location", "latitude", "longitude", "geo_precision", "source", "source_scale",
    "notes", "fatalities", "tags", "timestamp")

# UCDP side names -> ACLED actor names. "Syrian insurgents" is decided by a seeded coin, because
# UCDP folds both the opposition and Jabhat Fateh al-Sham into it (shared/data/README.md).
ACTORS = {"Government of Syria": "Military Forces of Syria (2000-)",
          "IS": "Islamic State (Syria)", "Civilians": "Civilians (Syria)",
          "SDF": "SDF: Syrian Democratic Forces"}
INSURGENTS = ("Free Syrian Army", "Jabhat Fateh al-Sham")

# Headline words: air strike words first, then shelling, else a clash (the order).
AIR_WORDS = re.compile(
    r"\b(air[ -]?strikes?|air[ -]?raids?|raids?|warplanes?|war ?planes?|jets?|helicopters?|"
    r"barrel[ -]?bombs?|barrels|aircraft|aerial|drones?|air ?force|bombers?)\b", re.IGNORECASE)
SHELL_WORDS = re.compile(
    r"\b(shell(s|ed|ing)?|artillery|mortars?|rockets?|missiles?|bombard\w*|cannons?|"
    r"tank fire|howitzers?)\b", re.IGNORECASE)
SUB_EVENTS = {"air": ("Explosions/Remote violence", "Air/drone strike"),
              "shelling": ("Explosions/Remote violence", "Shelling/artillery/missile attack"),
              "clash": ("Battles", "Armed clash")}
BASE_TIMESTAMP = 1_700_000_000  # ACLED `timestamp`: incident k is stamped BASE + k (unique)


def load_ucdp(path: Path = UCDP) -> list[dict[str, str]]:
    """The UCDP GED rows, in file order (the order matters: sampling indexes into it)."""
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def sub_event(headline: str) -> str:
    """``air``, ``shelling`` or ``clash`` from a headline's words."""
    if AIR_WORDS.search(headline):
        return "air"
    if SHELL_WORDS.search(headline):
        return "shelling"
    return "clash"


def jitter(lat: float, lon: float, rng: random.Random) -> tuple[float, float]:
    """A point uniformly within ``MAX_JITTER_KM`` of (lat, lon), rounded to 5 decimals (~1 m)."""
    r = MAX_JITTER_KM * math.sqrt(rng.random())
    theta = rng.random() * 2 * math.pi
    dlat = r * math.cos(theta) / KM_PER_DEGREE
    dlon = r * math.sin(theta) / (KM_PER_DEGREE * math.cos(math.radians(lat)))
    return round(lat + dlat, 5), round(lon + dlon, 5)


def _actor(name: str, rng: random.Random) -> str:
    if name == "Syrian insurgents":
        return INSURGENTS[rng.random() < 0.5]
    return ACTORS.get(name, name)


def _precision(value: str, scale: tuple[int, ...]) -> str:
    """A UCDP precision (1..7) on ACLED's 1..3 scale: ``scale`` gives the ACLED value per UCDP
    value from 1 (so coarse UCDP points stay coarse, and zone terms still skip them)."""
    level = int(value or 1)
    return str(scale[min(level, len(scale)) - 1])


def incidents(n: int, seed: int = SEED,
              ucdp: list[dict[str, str]] | None = None) -> Iterator[dict[str, str]]:
    """``n`` ACLED rows following the UCDP 2016 distribution (see the module doc)."""
    rows = ucdp if ucdp is not None else load_ucdp()
    rng = random.Random(seed)
    for k in range(n):
        # a fixed number of draws per incident keeps incident k independent of n
        src = rows[rng.randrange(len(rows))]
        lat, lon = jitter(float(src["latitude"]), float(src["longitude"]), rng)
        actor1, actor2 = _actor(src["side_a"], rng), _actor(src["side_b"], rng)
        headline = src["source_headline"].strip() or src["dyad_name"]
        event_type, sub = SUB_EVENTS[sub_event(headline)]
        one_sided = src["type_of_violence"] == "3"
        yield {
            "event_id_cnty": f"SYRB{k + 1:07d}", "event_date": src["date_start"],
            "year": src["year"],
            # UCDP date_prec 1 day, 2-3 days to a week, 4+ a month or more
            "time_precision": _precision(src["date_prec"], (1, 2, 2, 3)),
            "disorder_type": "Political violence", "event_type": event_type,
            "sub_event_type": sub, "actor1": actor1, "assoc_actor_1": "", "inter1": "",
            "actor2": actor2, "assoc_actor_2": "", "inter2": "", "interaction": "",
            "civilian_targeting": "Civilian targeting" if one_sided else "", "iso": "760",
            "region": "Middle East", "country": "Syria",
            "admin1": src["adm_1"].removesuffix(" Governorate"),
            "admin2": src["adm_2"].removesuffix(" district"), "admin3": "",
            "location": src["where_coordinates"], "latitude": f"{lat:.5f}",
            "longitude": f"{lon:.5f}",
            # UCDP where_prec 1 exact, 2 within 25 km, 3+ coarser (no zone: TERMS.md §3)
            "geo_precision": _precision(src["where_prec"], (1, 2, 3)),
            "source": src["source_office"], "source_scale": "", "notes": headline,
            "fatalities": src["best"], "tags": "", "timestamp": str(BASE_TIMESTAMP + k)}


def write_acled(path: Path, n: int, seed: int = SEED) -> Path:
    """Write ``n`` incidents as an ACLED CSV export."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, ACLED_COLUMNS)
        writer.writeheader()
        writer.writerows(incidents(n, seed))
    return path


class DropWriter:
    """Writes incidents as JSON Lines reports into a drop folder, one file per call of
    :meth:`next_file` (``per_file`` lines each), so a caller can stay just ahead of a daemon.

    Each line is the report the project's own ACLED mapping makes of the row (the same
    incidents as :func:`write_acled`). Files are written as ``*.tmp`` and renamed, as the
    jsonl adapter asks of partners."""

    def __init__(self, folder: Path, feed: str, total: int, seed: int = SEED,
                 per_file: int = 10_000) -> None:
        sys.path.insert(0, str(ROOT))
        from monitor.adapters.acled import to_report

        self.folder, self.feed, self.total, self.per_file = folder, feed, total, per_file
        self._to_report = to_report
        self._rows = incidents(total, seed)
        self.written = 0
        self.files: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)

    def next_file(self) -> Path | None:
        """Write the next file; None once ``total`` incidents are written."""
        count = min(self.per_file, self.total - self.written)
        if count <= 0:
            return None
        tmp = self.folder / f"bench-{len(self.files):05d}.jsonl.tmp"
        with tmp.open("w", encoding="utf-8") as fh:
            for _ in range(count):
                row = next(self._rows)
                report = self._to_report(row, self.feed)
                report["revision"] = row["timestamp"]
                fh.write(json.dumps(report, ensure_ascii=False) + "\n")
        self.written += count
        self.files.append(tmp.rename(tmp.with_suffix("")))
        return self.files[-1]


def write_jsonl_drop(folder: Path, n: int, feed: str, seed: int = SEED,
                     per_file: int = 10_000) -> list[Path]:
    """Write ``n`` incidents as JSON Lines files in a drop folder (see :class:`DropWriter`)."""
    writer = DropWriter(folder, feed, n, seed, per_file)
    while writer.next_file() is not None:
        pass
    return writer.files


# --- variant configurations ------------------------------------------------------------------


def copy_pack(dest: Path) -> Path:
    """Copy ``config/`` and ``rules/`` side by side under ``dest`` (pack.yaml finds its rules
    as ``../../rules/<pack>``); returns the new config folder."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config", "rules"):
        shutil.copytree(ROOT / name, dest / name, dirs_exist_ok=True)
    (dest / "feeds").mkdir(exist_ok=True)  # monitor.yaml's `feeds: feeds`, for `config check`
    return dest / "config"


def _ring(lat: float, lon: float, km: float, sides: int = 8) -> list[list[float]]:
    """A closed regular polygon of radius ``km`` around a point, (lon, lat) pairs."""
    ring = []
    for i in range(sides):
        a = 2 * math.pi * i / sides
        ring.append([round(lon + km * math.sin(a) / (KM_PER_DEGREE * math.cos(math.radians(lat))), 5),
                     round(lat + km * math.cos(a) / KM_PER_DEGREE, 5)])
    return ring + [ring[0]]


def zone_rows(total: int, seed: int = SEED) -> tuple[str, list[dict[str, Any]]]:
    """The real zone rows plus generated polygons up to ``total`` rows (provenance, rows).

    Each generated row is a small octagon (radius 0.5-3 km) around a real UCDP place, with the
    kind and validity of the real row that holds that place (so the delineation keeps its
    meaning: a polygon overrides its pcode row with the same kind). Places no real row covers,
    or that only an overlay covers, are skipped. ``total`` below the real row count keeps the
    first ``total`` real rows."""
    sys.path.insert(0, str(ROOT))
    import datetime as dt

    from monitor.config import load_pack

    data = yaml.safe_load((ROOT / "config" / "syria-2016" / "zones.yaml").read_text("utf-8"))
    rows: list[dict[str, Any]] = data["zones"][:total]
    if total <= len(rows):
        return data["provenance"], rows
    pack = load_pack(ROOT / "config", "syria-2016")
    specs = {s.id: s for s in pack.zones.specs}
    rng, places = random.Random(seed), load_ucdp()
    while len(rows) < total:
        src = places[rng.randrange(len(places))]
        lat, lon = float(src["latitude"]), float(src["longitude"])
        day = dt.datetime.fromisoformat(src["date_start"]).replace(tzinfo=pack.tz)
        match = pack.zones.resolve(lon, lat, 1, day, day + dt.timedelta(days=1))
        base = [specs[z] for z in match.zone_ids if not specs[z].overlay]
        if not base:
            continue
        spec = base[0]
        rows.append({"id": f"bench-{len(rows):05d}", "area": f"bench polygon around "
                     f"{src['where_coordinates'] or 'a UCDP place'}", "kind": spec.kind,
                     "polygon": _ring(lat, lon, rng.uniform(0.5, 3.0)),
                     "valid_from": spec.valid_from, "valid_to": spec.valid_to,
                     "source": f"generated by bench/generate.py from zone {spec.id}"})
    return data["provenance"], rows


def _vary(rule: dict[str, Any], k: int, rng: random.Random) -> dict[str, Any]:
    """A copy of a rule with slightly different conditions (still valid for the pack): one
    list condition loses or gains a value, or the rule asks for a resolved location."""
    out = copy.deepcopy(rule)
    out["id"], out["term"] = f"{rule['id']}-v{k}", f"{rule['term']}-V{k}"
    out["title"] = f"{rule['title']} (bench variant {k})"
    out.pop("description", None)
    conds = [c for c in [out.get("when", {}), *(b["when"] for b in out.get("any", []))]
             if isinstance(c, dict)]
    lists = [(c, f) for c in conds for f, v in c.items() if isinstance(v, list) and len(v) > 1]
    choice = rng.randrange(3)
    if choice == 0 and lists:
        cond, fact = lists[rng.randrange(len(lists))]
        cond[fact] = cond[fact][:-1]  # one value fewer
    elif choice == 1 and "attacker_side" in out.get("when", {}):
        value = out["when"]["attacker_side"]
        values = value if isinstance(value, list) else [value]
        out["when"]["attacker_side"] = list(dict.fromkeys([*values, "unknown"]))
    else:
        out.setdefault("when", {})["location_resolved"] = True
    return out


def _distinct(rule: dict[str, Any], k: int, sides: list[str]) -> dict[str, Any]:
    """A term of its own made from a rule: the rule's conditions, held for one side acting
    against one kind of target (``attacker_side`` and ``target_category``, cycled over the
    pack's sides and the core target categories by ``k``), as a pack of many terms holds
    ("no strikes by S on T"): each incident can break only the few of them that name its
    attacker and target, as a real pack's terms decide different incidents."""
    out = copy.deepcopy(rule)
    out["id"], out["term"] = f"{rule['id']}-d{k}", f"{rule['term']}-D{k}"
    out["title"] = f"{rule['title']} (bench term {k})"
    out.pop("description", None)
    fixed = {"attacker_side": sides[k % len(sides)],
             "target_category": TARGET_CATEGORIES[(k // len(sides)) % len(TARGET_CATEGORIES)]}
    branches = []
    for branch in out.get("any", []):  # a branch may not restate a condition of `when`
        when = {f: v for f, v in branch.get("when", {}).items() if f not in fixed}
        if when and when not in (b["when"] for b in branches):
            branches.append({**branch, "when": when})
    if branches:
        out["any"] = branches
    else:
        out.pop("any", None)
    out["when"] = {**out.get("when", {}), **fixed}
    return out


def write_rules(rules_dir: Path, total: int, seed: int = SEED, distinct: bool = False) -> int:
    """Fill ``rules_dir`` (a copy of the real rules folder) up to ``total`` rules with variants
    of the real ones, named ``<TERM>-V<k>`` (``<TERM>-D<k>`` when ``distinct``); returns the
    number of rules. ``total`` below the
    real count keeps the first ``total`` real rules (in name order).

    ``distinct``: each variant is a term of its own (:func:`_distinct`) rather than a near copy
    of its rule (:func:`_vary`) that fires on the same incidents."""
    real = sorted(p for p in rules_dir.iterdir() if (p / "rule.yaml").exists())
    for extra in real[total:]:
        shutil.rmtree(extra)
    originals = [yaml.safe_load((p / "rule.yaml").read_text("utf-8")) for p in real[:total]]
    rng = random.Random(seed)
    sides = [s["id"] for s in yaml.safe_load(
        (rules_dir.parent.parent / "config" / rules_dir.name / "pack.yaml").read_text("utf-8")
    )["sides"]] if distinct else []
    for k in range(len(originals), total):
        rule = originals[k % len(originals)]
        variant = _distinct(rule, k, sides) if distinct else _vary(rule, k, rng)
        folder = rules_dir / variant["term"]
        folder.mkdir()
        (folder / "rule.yaml").write_text(
            "# generated by bench/generate.py: a variant of a real rule, for timing only\n"
            + yaml.safe_dump(variant, sort_keys=False, allow_unicode=True), "utf-8")
    return sum(1 for p in rules_dir.iterdir() if (p / "rule.yaml").exists())


def make_variant(dest: Path, zones: int | None = None, rules: int | None = None,
                 seed: int = SEED, distinct: bool = False) -> Path:
    """A pack copy under ``dest`` with ``zones`` zone rows and/or ``rules`` rules (None keeps
    the real ones); returns its config folder (``monitor --config``)."""
    config = copy_pack(dest)
    if zones is not None:
        provenance, rows = zone_rows(zones, seed)
        text = yaml.safe_dump({"provenance": provenance, "zones": rows}, sort_keys=False,
                              allow_unicode=True)
        (config / "syria-2016" / "zones.yaml").write_text(text, "utf-8")
    if rules is not None:
        write_rules(dest / "rules" / "syria-2016", rules, seed, distinct)
    return config


def main(argv: list[str] | None = None) -> None:
    """``generate.py acled N OUT`` | ``jsonl N FOLDER`` | ``variant DEST --zones Z --rules R``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("acled", "jsonl", "variant"))
    ap.add_argument("n", type=int, nargs="?", default=0, help="incidents (acled, jsonl)")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--zones", type=int)
    ap.add_argument("--rules", type=int)
    args = ap.parse_args(argv)
    if args.what == "acled":
        print(write_acled(args.out, args.n, args.seed))
    elif args.what == "jsonl":
        print(*write_jsonl_drop(args.out, args.n, "bench", args.seed), sep="\n")
    else:
        print(make_variant(args.out, args.zones, args.rules, args.seed))


if __name__ == "__main__":
    main()
