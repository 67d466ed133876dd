"""Measuring: timed subprocesses with budgets, the baseline, the big ledger, the profile.

Library half (used by ``run.py``): :func:`timed` runs one command with a hard time budget and
returns its wall time and its own peak memory; :class:`Step` decides whether a step fits its
budget before running it (from the times already measured), and says so honestly when not.

Command half, run as subprocesses so each is timed and sized on its own::

    python bench/measure.py baseline FILE.csv DB        # csv module + sqlite-utils, one transaction
    python bench/measure.py grow-findings DB TARGET     # copy real findings up to TARGET
    python bench/measure.py profile FILE.csv DB OUT     # pyinstrument on an in-process import
"""

from __future__ import annotations

import csv
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


# --- running and timing --------------------------------------------------------------------


@dataclass
class Timed:
    """One run of a command: wall seconds, the child's own peak RSS, how it ended."""

    seconds: float
    maxrss_kib: int
    returncode: int
    killed: bool  # stopped at the budget
    stderr_tail: str = ""
    stdout_tail: str = ""

    def json(self) -> Any:
        """The JSON result a ``measure.py`` command printed last, or None."""
        lines = self.stdout_tail.strip().splitlines()
        try:
            return json.loads(lines[-1]) if lines else None
        except ValueError:
            return None


def timed(cmd: list[str], budget: float, cwd: Path = ROOT,
          env: dict[str, str] | None = None) -> Timed:
    """Run ``cmd`` to completion or until ``budget`` seconds pass (then SIGKILL its process
    group). Peak memory is the child's own ``ru_maxrss`` from ``os.wait4`` — the rusage of that
    one process; ``getrusage(RUSAGE_CHILDREN)`` would be the maximum over every child so far."""
    tmp = Path(tempfile.gettempdir())
    out_path, err_path = (tmp / f"bench-{name}-{os.getpid()}.txt" for name in ("out", "err"))
    with open(out_path, "w+b") as out, open(err_path, "w+b") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err,
                                start_new_session=True)
        killed = threading.Event()

        def stop() -> None:
            killed.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group we started, by its id
            except ProcessLookupError:
                pass

        timer = threading.Timer(budget, stop)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
        tails = []
        for fh in (err, out):
            fh.seek(max(0, fh.seek(0, os.SEEK_END) - 8000))
            tails.append(fh.read().decode("utf-8", "replace"))
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    # Linux reports ru_maxrss in KiB
    return Timed(seconds, int(usage.ru_maxrss), proc.returncode, killed.is_set(), *tails)


def monitor_cmd() -> list[str]:
    """The real CLI of the interpreter running us (``.venv/bin/monitor``)."""
    script = Path(sys.executable).parent / "monitor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor"]


def fresh_db(path: Path) -> Path:
    """Remove a ledger file and its WAL companions."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


def median(values: list[float]) -> float | None:
    """Median, or None for no values."""
    return statistics.median(values) if values else None


@dataclass
class Step:
    """One kind of timed step (an import at growing N, say) and its budget.

    Before a step runs, its time is predicted from the steps of this kind already measured:
    from two or more, by the power law through the last two (exponent at least 1: nothing
    here gets cheaper per incident as it grows); from one, linearly (a lower bound if the
    cost grows faster). A step predicted over budget is skipped and the prediction recorded as
    an extrapolation, never as a measurement."""

    budget: float
    history: list[tuple[int, float]] = field(default_factory=list)  # (size, seconds) measured

    def predict(self, size: int) -> tuple[float, str] | None:
        """(seconds, how) for ``size`` from the history, or None when there is none."""
        if not self.history:
            return None
        pts = sorted(self.history)
        n1, t1 = pts[-1]
        exponent, how = 1.0, f"linear from N={n1:,} ({t1:.1f} s)"
        if len(pts) >= 2 and pts[-2][0] < n1 and pts[-2][1] > 0 and t1 > 0:
            n0, t0 = pts[-2]
            exponent = max(1.0, math.log(t1 / t0) / math.log(n1 / n0))
            how = (f"power law through N={n0:,} ({t0:.1f} s) and N={n1:,} ({t1:.1f} s), "
                   f"exponent {exponent:.2f}")
        return t1 * (size / n1) ** exponent, how

    def fits(self, size: int) -> tuple[bool, str]:
        """Whether a step of ``size`` is predicted to fit; else the honest reason."""
        guess = self.predict(size)
        if guess is None or guess[0] <= self.budget:
            return True, ""
        return False, (f"skipped: over budget ({self.budget:.0f} s), extrapolated "
                       f"≈{guess[0]:,.0f} s ({guess[1]})")

    def record(self, size: int, seconds: float) -> None:
        self.history.append((size, seconds))


def killed_note(t: Timed, budget: float, n: int | None = None) -> str:
    """The status of a run stopped at its budget: only what was measured (a bound)."""
    bound = f"; so fewer than {n / budget:,.0f} incidents/s" if n else ""
    return f"stopped: over budget, killed after {budget:.0f} s{bound}"


def machine() -> dict[str, Any]:
    """CPU model, cores, RAM, Python, OS, date, and the commit measured."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                       .splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration, ValueError):
        mem_kib = 0

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=10, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    dirty = bool(git("status", "--porcelain", "--", "monitor", "config", "rules"))
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kib / 2**20, 1),
            "python": platform.python_version(), "os": f"{platform.system()} "
            f"{platform.release()}", "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "commit": (git("rev-parse", "--short", "HEAD") or "unknown")
            + (" with uncommitted changes to monitor/, config/ or rules/" if dirty else "")}


def rss_kib(pid: int) -> int | None:
    """A live process's resident memory (VmRSS, KiB), or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# --- the commands --------------------------------------------------------------------------


def baseline(csv_path: Path, db_path: Path) -> int:
    """The issue's baseline: read the CSV with the csv module, insert every row into a plain
    SQLite table with sqlite-utils, in one transaction."""
    import sqlite_utils

    db = sqlite_utils.Database(db_path)
    with csv_path.open(newline="", encoding="utf-8") as fh, db.atomic():
        db["acled"].insert_all(csv.DictReader(fh))
    return db["acled"].count


def grow_findings(db_path: Path, target: int, chunk: int = 50_000) -> dict[str, Any]:
    """Append copies of the ledger's real findings (new finding and incident ids, everything
    else as recorded) until it holds ``target`` findings, with ``Ledger.append_many`` inside one
    transaction: the rows are hashed and chained exactly as the service records them."""
    sys.path.insert(0, str(ROOT))
    from monitor.ledger import CHAINED_TABLES, COMMON_COLUMNS, Ledger

    ledger = Ledger.open(db_path)
    kinds = CHAINED_TABLES["findings"]
    seeds = []
    for row in ledger.query("SELECT * FROM findings ORDER BY seq"):
        seeds.append({k: json.loads(v) if kinds.get(k) in (list, dict) and v is not None else v
                      for k, v in row.items() if k not in COMMON_COLUMNS})
    if not seeds:
        raise SystemExit(f"{db_path}: no findings to copy; import a bigger seed file")
    have, copy = len(seeds), 0
    start = time.perf_counter()
    with ledger.transaction():
        while have < target:
            rows = []
            for _ in range(min(chunk, target - have)):
                src = seeds[copy % len(seeds)]
                tag = f"-b{copy // len(seeds) + 1}"
                rows.append({**src, "finding_id": src["finding_id"] + tag,
                             "incident_id": src["incident_id"] + tag})
                copy += 1
            have += ledger.append_many("findings", rows)
    seconds = time.perf_counter() - start
    counts = ledger.counts()
    ledger.close()
    return {"seed_findings": len(seeds), "findings": counts["findings"],
            "entries": sum(counts.values()), "append_seconds": seconds}


def profile(csv_path: Path, db_path: Path, out: Path) -> dict[str, Any]:
    """pyinstrument on ``monitor import`` run in this process (``monitor.cli.main`` with
    ``standalone_mode=False``, ``--no-pipeline``: every step in the one process profiled);
    writes the text profile to ``out`` and returns a summary."""
    sys.path.insert(0, str(ROOT))
    from pyinstrument import Profiler

    from monitor.cli import main

    args = ["--config", str(ROOT / "config"), "--db", str(db_path), "import", str(csv_path),
            "--format", "acled", "--no-pipeline"]
    profiler = Profiler(interval=0.001)
    start = time.perf_counter()
    profiler.start()
    try:
        main(args, standalone_mode=False)
    finally:
        profiler.stop()
    seconds = time.perf_counter() - start
    out.write_text(profiler.output_text(unicode=True, color=False) + "\n\nFLAT (own time)\n\n"
                   + profiler.output_text(unicode=True, color=False, flat=True), "utf-8")
    return {"seconds": seconds, **summarise(profiler.last_session.root_frame())}


def summarise(root: Any, top: int = 12) -> dict[str, Any]:
    """Top functions by own time, and the project's functions by inclusive time, each with its
    share of the whole run. Inclusive: a function nested inside itself is counted once, and a
    pure wrapper (90 % or more of its time in one project callee) is left out, so the list
    names where the time goes rather than the call chain that leads there."""
    total = root.time or 1e-9
    own: dict[str, float] = {}
    inclusive: dict[str, float] = {}
    callees: dict[str, dict[str, float]] = {}

    def name(frame: Any) -> str:
        return f"{frame.function} ({frame.file_path_short}:{frame.line_no})"

    def ours(frame: Any) -> bool:
        return "/monitor/" in (frame.file_path or "")

    def walk(frame: Any, active: frozenset[str]) -> None:
        key = name(frame)
        own[key] = own.get(key, 0.0) + frame.total_self_time  # its [self] children
        if ours(frame) and key not in active:
            inclusive[key] = inclusive.get(key, 0.0) + frame.time
        for child in frame.children:
            if child.is_synthetic:  # pyinstrument's "[self]" leaves: counted above
                continue
            if ours(frame) and ours(child):
                mine = callees.setdefault(key, {})
                mine[name(child)] = mine.get(name(child), 0.0) + child.time
            walk(child, active | {key})

    walk(root, frozenset())
    wrappers = {k for k, v in callees.items() if max(v.values()) >= 0.9 * inclusive.get(k, 0)}

    def rows(d: dict[str, float]) -> list[dict[str, Any]]:
        best = sorted(d.items(), key=lambda kv: -kv[1])[:top]
        return [{"function": k, "seconds": round(v, 3), "share": round(v / total, 4)}
                for k, v in best]

    return {"profiled_seconds": total, "own": rows(own),
            "inclusive": rows({k: v for k, v in inclusive.items() if k not in wrappers})}


def main(argv: list[str] | None = None) -> None:
    """Dispatch a command; print its result as JSON on stdout's last line."""
    args = argv if argv is not None else sys.argv[1:]
    if not args:
        raise SystemExit(__doc__)
    cmd, rest = args[0], args[1:]
    if cmd == "baseline":
        result: Any = {"rows": baseline(Path(rest[0]), Path(rest[1]))}
    elif cmd == "grow-findings":
        result = grow_findings(Path(rest[0]), int(rest[1]))
    elif cmd == "profile":
        result = profile(Path(rest[0]), Path(rest[1]), Path(rest[2]))
    else:
        raise SystemExit(f"unknown command {cmd!r}\n{__doc__}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
