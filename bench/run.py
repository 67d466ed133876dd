"""The benchmark: times the monitor against a plain-SQLite baseline, along each
dimension that should not cost more than it must: incidents N, a second feed (corroboration),
zone rows, rules, findings in the ledger, and the daemon's memory. Writes bench/RESULTS.md, bench/results.json and PNG plots.

Every figure written is measured by this command in this run. A step predicted to exceed its
time budget is skipped and its extrapolation written as such; a run that exceeds it is killed
and only the bound that proves is written. See bench/README.md.

    python bench/run.py                      # the issue's sizes (make bench)
    python bench/run.py --quick              # N = 2000, one run: a smoke test
    python bench/run.py --sizes 2000,5000 --zones 50,500 --rules 10,50 --findings 100000 --runs 1
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # bench/ is a folder of scripts, not a package
import measure
import report
from measure import ROOT, Step, Timed, fresh_db, median, monitor_cmd, timed

SECTIONS = ("scale", "corroboration", "findings", "zones", "rules", "terms", "daemon", "profile")


def ints(text: str) -> list[int]:
    """``"10000,100000"`` (``_`` and ``k``/``M`` suffixes allowed) as a list of ints."""
    out = []
    for part in text.split(","):
        part = part.strip().lower().replace("_", "")
        scale = {"k": 1_000, "m": 1_000_000}.get(part[-1:], 1)
        out.append(int(float(part.rstrip("km")) * scale))
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=ints, default=ints("10k,100k,1M"),
                    help="incidents N for the end-to-end import and the baseline")
    ap.add_argument("--zones", type=ints, default=ints("50,500,5000"), help="zone rows")
    ap.add_argument("--rules", type=ints, default=ints("10,50,200"), help="rules")
    ap.add_argument("--dim-n", type=int, default=None,
                    help="the fixed N at which zones and rules are measured "
                         "(default: 10,000, or the largest --sizes if smaller)")
    ap.add_argument("--corroboration-n", type=int, default=100_000,
                    help="ACLED incidents already in the ledger that UCDP's file is imported "
                         "into (each of its reports searched against those near it)")
    ap.add_argument("--findings", type=int, default=1_000_000,
                    help="findings in the ledger that the queries run on")
    ap.add_argument("--findings-seed", type=int, default=5_000,
                    help="incidents imported for real before their findings are copied")
    ap.add_argument("--daemon", type=ints, default=ints("100k,1M"),
                    help="incidents taken by the daemon at which its memory is read")
    ap.add_argument("--drop-file-lines", type=int, default=10_000,
                    help="lines per JSON Lines file dropped for the daemon")
    ap.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    ap.add_argument("--budget-seconds", type=float, default=1800,
                    help="time budget of one timed run (a step predicted over it is skipped)")
    ap.add_argument("--daemon-budget-seconds", type=float, default=None,
                    help="how long the daemon may run (default: 2 x --budget-seconds)")
    ap.add_argument("--setup-budget-seconds", type=float, default=None,
                    help="budget of building the findings ledger (default: 4 x --budget-seconds)")
    ap.add_argument("--total-budget-seconds", type=float, default=None,
                    help="stop starting steps once this much time has passed (a safety net)")
    ap.add_argument("--profile", action="store_true",
                    help="also profile an in-process import with pyinstrument")
    ap.add_argument("--profile-n", type=int, default=20_000)
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"which sections to run, of {','.join(SECTIONS)}")
    ap.add_argument("--seed", type=int, default=generate.SEED)
    ap.add_argument("--out", type=Path, default=HERE,
                    help="where RESULTS.md, results.json, profile.txt and plots go")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="scratch folder for files and ledgers (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    ap.add_argument("--render-only", action="store_true",
                    help="measure nothing: rewrite RESULTS.md and the plots from the "
                         "results.json already in --out")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: N=2000, one run, small dimensions")
    args = ap.parse_args(argv)
    if args.quick:  # small everything; an explicit --out/--workdir still applies
        args.sizes, args.runs, args.zones, args.rules = [2000], 1, [50, 500], [10]
        args.dim_n, args.findings, args.findings_seed = 500, 5000, 500
        args.daemon, args.drop_file_lines, args.profile_n = [500, 1000], 250, 2000
        args.corroboration_n = 2000
    args.dim_n = args.dim_n or min(10_000, max(args.sizes))
    args.daemon_budget_seconds = args.daemon_budget_seconds or 2 * args.budget_seconds
    args.setup_budget_seconds = args.setup_budget_seconds or 4 * args.budget_seconds
    args.sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    if unknown := set(args.sections) - set(SECTIONS):
        ap.error(f"unknown section(s) {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    return args


def log(message: str) -> None:
    """Progress on stderr (stdout gets the tables at the end)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def failed(t: Timed, what: str) -> str:
    """The status of a run that exited with an error: its last line of stderr, on one line."""
    lines = [line.strip() for line in t.stderr_tail.splitlines() if line.strip()]
    last = " ".join(lines[-1].split())[:240] if lines else "no message"
    return f"error: {what} exited {t.returncode}: {last}".replace("|", "/")


def counts_of(t: Timed) -> dict[str, int]:
    """New reports and findings from ``monitor import``'s summary line."""
    m = re.search(r"(\d+)\s+new\s+report\(s\).*?(\d+)\s+rejected;\s+(\d+)\s+finding",
                  t.stdout_tail, re.DOTALL)
    return ({"new": int(m[1]), "rejected": int(m[2]), "findings": int(m[3])} if m else {})


class Bench:
    """Runs the sections and collects their results."""

    def __init__(self, args: argparse.Namespace, caller_cache: bool = False) -> None:
        self.args, self.caller_cache = args, caller_cache
        self.work = args.workdir or Path(tempfile.mkdtemp(prefix="monitor-bench-"))
        self.work.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        self.import_step = Step(args.budget_seconds)  # end-to-end imports, by N
        self.results: dict[str, Any] = {
            "machine": measure.machine(),
            "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                         if k not in ("out", "workdir", "keep")}}

    # --- helpers ---------------------------------------------------------------------------

    def budget(self, wanted: float | None = None) -> float:
        """This step's budget: the per-step one, cut to what the total budget has left."""
        wanted = wanted or self.args.budget_seconds
        if self.args.total_budget_seconds is None:
            return wanted
        left = self.args.total_budget_seconds - (time.monotonic() - self.started)
        return max(0.0, min(wanted, left))

    def acled(self, n: int) -> Path:
        """The ACLED file of ``n`` incidents (generated once per run)."""
        path = self.work / "data" / f"acled-{n}.csv"
        if not path.exists():
            log(f"generating {n:,} ACLED incidents")
            generate.write_acled(path.with_suffix(".tmp"), n, self.args.seed).rename(path)
        return path

    def empty_acled(self) -> Path:
        """An ACLED file with a header and no rows: an import of it is the fixed cost."""
        path = self.work / "data" / "acled-0.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(",".join(generate.ACLED_COLUMNS) + "\n", "utf-8")
        return path

    def monitor(self, config: Path, db: Path, *args: str) -> list[str]:
        return [*monitor_cmd(), "--config", str(config), "--db", str(db), *args]

    def import_runs(self, config: Path, csv_path: Path, n: int, tag: str,
                    with_baseline: bool = False) -> dict[str, Any]:
        """``runs`` end-to-end imports of ``csv_path`` into fresh ledgers (and, interleaved so
        both see the same machine, as many baseline runs); medians, rates, peak memory."""
        out: dict[str, Any] = {"n": n, "import_s": [], "maxrss_kib": []}
        if with_baseline:
            out["baseline_s"] = []
        for run in range(self.args.runs):
            budget = self.budget()
            if budget <= 0:
                out["status"] = "skipped: total budget exhausted"
                break
            if with_baseline:
                db = fresh_db(self.work / f"baseline-{tag}.db")
                b = timed([sys.executable, str(HERE / "measure.py"), "baseline", str(csv_path),
                           str(db)], budget)
                if b.killed or b.returncode:
                    out["status"] = (measure.killed_note(b, budget, n) if b.killed else
                                     failed(b, "baseline"))
                    break
                out["baseline_s"].append(b.seconds)
            db = fresh_db(self.work / f"ledger-{tag}.db")
            t = timed(self.monitor(config, db, "import", str(csv_path), "--format", "acled"),
                      budget)
            if t.killed:
                out["status"] = measure.killed_note(t, budget, n)
                out["killed_after_s"] = budget
                break
            if t.returncode:
                out["status"] = failed(t, "import")
                break
            out["import_s"].append(t.seconds)
            out["maxrss_kib"].append(t.maxrss_kib)
            out.update(counts_of(t))
            # the ledger on disk (with its WAL, as a user's folder holds it) against the CSV
            out["ledger_bytes"] = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
            out["csv_bytes"] = csv_path.stat().st_size
            log(f"  {tag} run {run + 1}: import {t.seconds:.2f} s"
                + (f", baseline {out['baseline_s'][-1]:.2f} s" if with_baseline else ""))
            fresh_db(db)
        if "status" in out:
            log(f"  {tag}: {out['status']}")
        if out["import_s"]:
            if "status" in out:  # the medians below are of fewer runs than asked: say so
                out["status"] = (f"measured in {len(out['import_s'])} of {self.args.runs} "
                                 f"run(s), then {out['status']}")
            out.setdefault("status", "measured")
            imp = out["import_median_s"] = median(out["import_s"])
            out["import_rate"] = n / imp if imp else None
            out["us_per_incident"] = imp / n * 1e6 if n else None
            out["maxrss_mib"] = max(out["maxrss_kib"]) / 1024
            if with_baseline and out["baseline_s"]:
                base = out["baseline_median_s"] = median(out["baseline_s"][:len(out["import_s"])])
                out["baseline_rate"] = n / base
                out["ratio"] = imp / base  # how many times slower than the baseline
        return out

    # --- sections ----------------------------------------------------------------------------

    def scale(self) -> None:
        """End-to-end import and baseline at each N."""
        rows = self.results["scale"] = []
        for n in self.args.sizes:
            ok, why = self.import_step.fits(n)
            if not ok:
                log(f"N={n:,}: {why}")
                rows.append({"n": n, "status": why})
                continue
            log(f"N={n:,}: baseline and import, {self.args.runs} run(s)")
            row = self.import_runs(ROOT / "config", self.acled(n), n, f"n{n}",
                                   with_baseline=True)
            if row.get("import_median_s"):
                self.import_step.record(n, row["import_median_s"])
            rows.append(row)

    def sized_section(self, name: str, n: int, **fields: Any) -> dict[str, Any]:
        """The results section ``name`` of a measurement at ``n`` rows; its ``status`` says why
        it is skipped when the import step's estimate says ``n`` rows do not fit the budget."""
        sec: dict[str, Any] = {"n": n, **fields}
        self.results[name] = sec
        ok, why = self.import_step.fits(n)
        if not ok:
            sec["status"] = why
        return sec

    def corroboration(self) -> None:
        """A second feed: UCDP's own file (6,170 reports) imported into a ledger of
        ``--corroboration-n`` generated ACLED rows, each of its reports searched against the
        reports of the other feed near it in time and space (the generated rows sit near
        UCDP's places: many candidates each), and into an empty ledger (nothing to search)."""
        n, config = self.args.corroboration_n, ROOT / "config"
        sec = self.sized_section("corroboration", n, file=generate.UCDP.name, runs=[])
        if "status" in sec:
            return
        log(f"corroboration: UCDP's file into an empty ledger and one of {n:,} ACLED rows")
        base = fresh_db(self.work / "corroboration-base.db")
        setup = self.budget(self.args.setup_budget_seconds)  # building, not a measurement
        t = timed(self.monitor(config, base, "import", str(self.acled(n)), "--format", "acled"),
                  setup)
        if t.killed or t.returncode:
            sec["status"] = (measure.killed_note(t, setup, n) if t.killed else
                             failed(t, "the ACLED import"))
            return
        db = self.work / "corroboration.db"
        for run in range(self.args.runs):
            for into in ("empty", "acled"):
                fresh_db(db)
                if into == "acled":
                    for suffix in ("", "-wal"):
                        if Path(f"{base}{suffix}").exists():
                            shutil.copy(f"{base}{suffix}", f"{db}{suffix}")
                t = timed(self.monitor(config, db, "import", str(generate.UCDP), "--format",
                                       "ucdp"), self.budget())
                if t.killed or t.returncode:
                    sec["status"] = (measure.killed_note(t, self.budget()) if t.killed else
                                     failed(t, f"the UCDP import ({into})"))
                    return
                conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
                links = conn.execute("SELECT count(*) FROM links").fetchone()[0]
                conn.close()
                sec["runs"].append({"into": into, "s": t.seconds, "links": links, **counts_of(t)})
                log(f"  corroboration run {run + 1}: into {into} {t.seconds:.2f} s, "
                    f"{links:,} links")
        fresh_db(db)
        for into in ("empty", "acled"):
            runs = [r for r in sec["runs"] if r["into"] == into]
            sec[f"{into}_median_s"] = median([r["s"] for r in runs])
            sec[f"{into}_links"] = runs[-1]["links"]
            sec["reports"] = runs[-1].get("new")
        sec["status"] = "measured"

    def dimension(self, kind: str, values: list[int]) -> None:
        """Cost per incident at a fixed N under variant configurations: ``zones`` rows,
        ``rules`` (the real rules plus near copies of them, which fire with them) or ``terms``
        (the real rules plus terms of their own, each deciding other incidents)."""
        param = report.VARIED[kind]
        n = self.args.dim_n
        section = self.results[kind] = {"n": n, "rows": []}
        ok, why = self.import_step.fits(n)
        csv_path = self.acled(n) if ok else None
        for value in values:
            row: dict[str, Any] = {param: value}
            section["rows"].append(row)
            if csv_path is None:
                row["status"] = why
                continue
            log(f"{kind}={value:,}: building the variant configuration")
            try:
                config = generate.make_variant(self.work / f"{kind}-{value}", seed=self.args.seed,
                                               distinct=kind == "terms", **{param: value})
            except Exception as exc:  # noqa: BLE001 - a bad variant is a result, not a crash
                row["status"] = f"error: variant not built: {exc}"
                continue
            empty = self.import_runs(config, self.empty_acled(), 0, f"{kind}{value}-empty")
            row["startup_s"] = empty.get("import_median_s")
            row.update(self.import_runs(config, csv_path, n, f"{kind}{value}"))
            if row.get("import_median_s") and row["startup_s"] is not None:
                row["marginal_us"] = (row["import_median_s"] - row["startup_s"]) / n * 1e6
            if empty.get("status", "measured") != "measured" and row.get("status") == "measured":
                row["status"] = f"measured (startup: {empty['status']})"
            shutil.rmtree(self.work / f"{kind}-{value}", ignore_errors=True)

    def findings(self) -> None:
        """Query latency and verify speed on a ledger of ``--findings`` findings."""
        seed_n, target = self.args.findings_seed, self.args.findings
        sec: dict[str, Any] = {"target": target, "seed_incidents": seed_n, "queries": []}
        self.results["findings"] = sec
        db = fresh_db(self.work / "findings.db")
        config = ROOT / "config"
        log(f"findings: importing {seed_n:,} incidents, then copying findings to {target:,}")
        setup = self.budget(self.args.setup_budget_seconds)  # building, not a measurement
        t = timed(self.monitor(config, db, "import", str(self.acled(seed_n)), "--format",
                               "acled"), setup)
        if t.killed or t.returncode:
            sec["status"] = (measure.killed_note(t, setup) if t.killed else
                             failed(t, "seed import"))
            return
        sec["seed_import_s"] = t.seconds
        seed_db = fresh_db(self.work / "findings-seed.db")  # the same queries, for reference
        for suffix in ("", "-wal"):
            if Path(f"{db}{suffix}").exists():
                shutil.copy(f"{db}{suffix}", f"{seed_db}{suffix}")
        setup = self.budget(self.args.setup_budget_seconds)
        g = timed([sys.executable, str(HERE / "measure.py"), "grow-findings", str(db),
                   str(target)], setup)
        if g.killed or g.returncode or not g.json():
            sec["status"] = (measure.killed_note(g, setup) if g.killed else
                             failed(g, "grow-findings"))
            return
        sec.update(g.json(), grow_s=g.seconds, status="measured")
        a = self.args
        q = self.results["settings"]["query"] = {
            "term": "COH-GOV", "party": "syrian_government", "since": "2016-09-12",
            "until": "2016-09-20"}
        queries = {
            "findings (filtered, json)": ["findings", "--term", q["term"], "--party", q["party"],
                                          "--since", q["since"], "--until", q["until"],
                                          "--format", "json"],
            "scorecard view": ["query", "SELECT * FROM scorecard"],
            "ledger verify": ["ledger", "verify"],
            # what an analyst waits for on a big ledger (not a target of the speed work): a verdict
            # on a serious finding of the seed, which both ledgers hold, disputed and confirmed
            # in turn, each a status entry and the patterns of its event window recomputed
            VERDICT: ["finding", VERB, serious_finding(seed_db), "--by", "bench", "--note",
                      "measured"]}
        # A read command runs as a user's does: with the disk cache (what monitor.yaml says,
        # the pack's names, the schema verify compares) filled by earlier commands, here each
        # of them once, untimed, on the seed ledger, in a folder of this run's own; unless
        # MONITOR_CACHE was set by whoever runs the bench.
        env, sec["settings_cache"] = None, "as set by MONITOR_CACHE"
        if not self.caller_cache:
            env = {**os.environ, "MONITOR_CACHE": str(self.work / "cache")}
            warm = [timed(self.monitor(config, seed_db, *with_verb(cmd, "dispute")),
                          self.budget(), env=env) for cmd in queries.values()]
            sec["settings_cache"] = ("warm: a folder of the run's own, filled by each command "
                                     "run once, untimed" if not any(w.returncode for w in warm)
                                     else "warm-up failed")
        for name, cmd in queries.items():
            entry: dict[str, Any] = {"query": name, "command": "monitor " + " ".join(
                f'"{c}"' if " " in c else c for c in cmd)}
            sec["queries"].append(entry)
            if name == VERDICT:
                entry["target"] = False
            verbs = itertools.cycle(("confirm", "dispute"))
            for label, path in (("big", db), ("seed", seed_db)):
                runs = []
                for _ in range(a.runs):
                    r = timed(self.monitor(config, path, *with_verb(cmd, next(verbs))),
                              self.budget(), env=env)
                    if r.killed or r.returncode:
                        entry[f"{label}_status"] = (measure.killed_note(r, self.budget())
                                                    if r.killed else failed(r, name))
                        break
                    runs.append(r.seconds)
                    if name == "ledger verify":
                        m = re.search(r"(\d+) entries", r.stdout_tail)
                        entry[f"{label}_entries"] = int(m[1]) if m else None
                entry[f"{label}_s"] = runs
                entry[f"{label}_median_s"] = median(runs)
            if name.startswith("findings") and entry.get("big_median_s") is not None:
                out = subprocess.run(self.monitor(config, db, *cmd), capture_output=True,
                                     cwd=ROOT, check=False)  # untimed: how many rows it gives
                try:
                    entry["rows"] = len(json.loads(out.stdout or b"[]"))
                except ValueError:
                    entry["rows"] = None
            log(f"  {name}: {entry.get('big_median_s')} s on the big ledger")

    def daemon(self) -> None:
        """The daemon's resident memory after it has taken each of ``--daemon`` incidents."""
        marks, a = sorted(self.args.daemon), self.args
        budget = self.budget(a.daemon_budget_seconds)
        sec: dict[str, Any] = {"checkpoints": [], "samples": [], "budget_s": budget,
                               "drop_file_lines": a.drop_file_lines}
        self.results["daemon"] = sec
        home = self.work / "daemon"
        shutil.rmtree(home, ignore_errors=True)
        config = generate.copy_pack(home)
        (home / "feeds" / "bench.yaml").write_text(
            "name: bench\nadapter: jsonl\nsource: drop\nreliability: C\n"
            "schedule: {every_seconds: 5, misfire_grace_seconds: 60}\n", "utf-8")
        db = fresh_db(home / "ledger.db")
        writer = generate.DropWriter(home / "feeds" / "drop", "bench", marks[-1], a.seed,
                                     a.drop_file_lines)
        ahead = 5 * a.drop_file_lines  # files waiting, so the daemon never idles between polls
        while writer.written < ahead and writer.next_file():
            pass
        log(f"daemon: up to {marks[-1]:,} incidents through a drop folder, for at most "
            f"{budget:.0f} s")
        err = (home / "daemon.log").open("wb")
        proc = subprocess.Popen(self.monitor(config, db, "run"), cwd=ROOT, stdout=err,
                                stderr=err, start_new_session=True)
        start, pending = time.monotonic(), list(marks)
        try:
            while pending and time.monotonic() - start < budget and proc.poll() is None:
                taken = reports_count(db)
                while writer.written < taken + ahead and writer.next_file():
                    pass  # stay ahead, as partners dropping files would
                rss, elapsed = measure.rss_kib(proc.pid), time.monotonic() - start
                sec["samples"].append({"t": round(elapsed, 1), "taken": taken, "rss_kib": rss})
                while pending and taken >= pending[0]:
                    sec["checkpoints"].append({"target": pending.pop(0), "taken": taken,
                                               "rss_kib": rss, "elapsed_s": elapsed})
                    log(f"  daemon: {taken:,} taken, VmRSS {rss / 1024:.0f} MiB")
                time.sleep(1.0)
        finally:
            sec["stop"] = stop_daemon(proc)
            err.close()
        if sec["stop"]["how"] == "exited by itself":  # a crash: keep why, the folder goes
            lines = (home / "daemon.log").read_text("utf-8", "replace").strip().splitlines()
            sec["log_tail"] = lines[-20:]
        last = sec["samples"][-1] if sec["samples"] else {}
        for target in pending:
            rss = f", VmRSS {last['rss_kib'] / 1024:,.0f} MiB" if last.get("rss_kib") else ""
            sec["checkpoints"].append({"target": target, "status": (
                f"not reached within {budget:.0f} s: the daemon had taken "
                f"{last.get('taken', 0):,}{rss}"
                + (f" (it exited with {proc.returncode}: {sec['log_tail'][-1][:200]})"
                   if sec.get("log_tail") else ""))})
        sec["status"] = "measured"

    def profile(self) -> None:
        """pyinstrument on an in-process import; the summary goes into RESULTS.md."""
        n = self.args.profile_n
        sec = self.sized_section("profile", n)
        if "status" in sec:
            return
        log(f"profile: in-process import of {n:,} incidents under pyinstrument")
        out = self.args.out / "profile.txt"
        p = timed([sys.executable, str(HERE / "measure.py"), "profile", str(self.acled(n)),
                   str(fresh_db(self.work / "profile.db")), str(out)], self.budget())
        if p.killed or p.returncode or not p.json():
            sec["status"] = (measure.killed_note(p, self.budget(), n) if p.killed else
                             failed(p, "profile"))
            return
        sec.update(p.json(), status="measured", file=out.name)

    def run(self) -> dict[str, Any]:
        for name in SECTIONS:
            if name not in self.args.sections or (name == "profile" and not self.args.profile):
                continue
            if self.args.total_budget_seconds is not None and self.budget() <= 0:
                self.results[name] = {"status": "skipped: total budget exhausted"}
                continue
            if name in ("zones", "rules", "terms"):
                self.dimension(name, self.args.zones if name == "zones" else self.args.rules)
            else:
                getattr(self, name)()
        self.results["elapsed_s"] = time.monotonic() - self.started
        return self.results


VERDICT, VERB = "verdict (dispute, confirm)", "<verb>"  # the runs fill VERB in, in turn


def with_verb(cmd: list[str], verb: str) -> list[str]:
    """``cmd`` with :data:`VERB` (the verdict's) replaced by ``verb``."""
    return [verb if c is VERB else c for c in cmd]


def serious_finding(db: Path) -> str:
    """The id of the first major or critical finding recorded in the ledger ``db``."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        row = conn.execute("SELECT finding_id FROM findings WHERE severity IN ('major', "
                           "'critical') ORDER BY seq LIMIT 1").fetchone()
    if row is None:
        raise RuntimeError(f"{db}: no major or critical finding to give a verdict on")
    return str(row[0])


def reports_count(db: Path) -> int:
    """Reports in the daemon's ledger, read-only (0 before it exists)."""
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return int(conn.execute("SELECT count(*) FROM reports").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def stop_daemon(proc: subprocess.Popen[bytes], grace: float = 120) -> dict[str, Any]:
    """SIGTERM (the daemon finishes its batch and exits); SIGKILL if it does not in time."""
    if proc.poll() is not None:
        return {"how": "exited by itself", "returncode": proc.returncode}
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
        return {"how": "SIGTERM", "returncode": proc.returncode,
                "stop_s": round(time.monotonic() - start, 2)}
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return {"how": f"SIGKILL after {grace:.0f} s of SIGTERM", "returncode": proc.returncode}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # every import loads its pack cold, as before the zone cache existed (monitor.zones.cache),
    # so that start-up figures compare across runs; MONITOR_CACHE set by the caller wins (the
    # read commands of the findings section run with a cache folder of the run's own)
    caller_cache = "MONITOR_CACHE" in os.environ
    os.environ.setdefault("MONITOR_CACHE", "")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.render_only:  # the same measurements, written again (after a change of report.py)
        results = json.loads((args.out / "results.json").read_text("utf-8"))
        report.write(results, args.out)
        print(report.tables(results))
        return 0
    bench = Bench(args, caller_cache)
    log(f"scratch folder {bench.work}")
    try:
        results = bench.run()
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(bench.work, ignore_errors=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str), "utf-8")
    text = report.write(results, args.out)
    print(report.tables(results))
    log(f"wrote {args.out / 'RESULTS.md'} ({len(text):,} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
