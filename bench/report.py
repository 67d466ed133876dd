"""Writing the results: bench/RESULTS.md, the stdout tables, the plots, the target verdicts.

Everything here is computed from ``results`` (what ``run.py`` measured in this run); nothing
is typed in by hand. A figure that was not measured is shown as ``–`` with its step's status.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ISSUE_N = 1_000_000  # the issue's targets are stated at N = 1M incidents and 1M findings
TARGETS = {"rate": 20_000, "ratio": 5, "zones": 1.5, "daemon": 1.2, "query_s": 0.3,
           "verify_rate": 300_000, "rules": 1.5, "ledger": 2.0}


def num(value: Any, digits: int = 0, unit: str = "") -> str:
    """A number with thousands separators, or ``–`` when there is none."""
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


NUMERIC = re.compile(r"^[–\d.,% ×/s]*$")


def table(head: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; a column of numbers (or ``–``) is right-aligned."""
    align = ["---:" if all(NUMERIC.match(str(row[i])) for row in rows) and rows else "---"
             for i in range(len(head))]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --- the tables --------------------------------------------------------------------------------


def scale_table(r: dict[str, Any]) -> str:
    rows = [[num(x["n"]), num(x.get("baseline_median_s"), 2), num(x.get("baseline_rate")),
             num(x.get("import_median_s"), 2), num(x.get("import_rate")),
             num(x.get("us_per_incident"), 1), num(x.get("ratio"), 1),
             num(x.get("maxrss_mib")), num(x.get("findings")), x.get("status", "")]
            for x in r.get("scale", [])]
    return table(["N", "baseline s", "baseline incidents/s", "import s", "import incidents/s",
                  "import µs/incident", "import ÷ baseline", "import peak RSS MiB",
                  "findings", "status"], rows)


# the variant configurations: what each section's rows vary
DIMENSIONS = {"zones": "zones", "rules": "rules: near copies, firing with their rule",
              "terms": "rules: terms of their own"}
# the quantity each section varies: its rows' key and make_variant's argument
VARIED = {"zones": "zones", "rules": "rules", "terms": "rules"}


def dim_table(r: dict[str, Any], kind: str) -> str:
    sec = r.get(kind, {})
    rows = [[num(x.get(VARIED[kind])), num(x.get("startup_s"), 2),
             num(x.get("import_median_s"), 2),
             num(x.get("us_per_incident"), 1), num(x.get("marginal_us"), 1),
             num(x.get("maxrss_mib")), num(x.get("findings")), x.get("status", "")]
            for x in sec.get("rows", [])]
    label = "zone rows" if kind == "zones" else "rules"
    return table([label, "startup s (empty file)", f"import s (N={num(sec.get('n'))})",
                  "µs/incident (total)", "µs/incident (marginal)", "peak RSS MiB", "findings",
                  "status"], rows)


def findings_table(r: dict[str, Any]) -> str:
    sec = r.get("findings", {})
    rows = []
    for q in sec.get("queries", []):
        big, seed = q.get("big_median_s"), q.get("seed_median_s")
        if q["query"] == "ledger verify":
            e, e0 = q.get("big_entries"), q.get("seed_entries")
            what = f"{num(e)} entries, {num(e / big if big and e else None)} entries/s"
            if e and e0 is not None and big and seed is not None and big > seed:
                what += f" ({num((e - e0) / (big - seed))}/s without the fixed cost)"
        elif q.get("target") is False:  # a verdict
            what = "a status entry; the patterns of the finding's window"
        else:
            what = f"{num(q.get('rows'))} rows" if "rows" in q else ""
        rows.append([q["query"], num(big, 3), num(seed, 3), what,
                     q.get("big_status", q.get("seed_status", "measured"))])
    if not rows:
        rows.append(["(ledger not built)", "–", "–", "", sec.get("status", "not run")])
    cache = sec.get("settings_cache")
    return table(["query", f"s on {num(sec.get('findings'))} findings (median)",
                  f"s on the seed ledger ({num(sec.get('seed_findings'))} findings)",
                  "output", "status"], rows) + (
        f"\n\nThe disk cache (`monitor.diskcache`: `monitor.yaml` as validated, the pack's "
        f"names, the schema verify compares): {cache}." if cache else "")


def corroboration_table(r: dict[str, Any]) -> str:
    sec = r.get("corroboration", {})
    status = sec.get("status", "not run")
    rows = [[label, num(sec.get(f"{into}_median_s"), 2), num(sec.get(f"{into}_links")), status]
            for into, label in (("empty", "an empty ledger"),
                                ("acled", f"a ledger of {num(sec.get('n'))} ACLED rows"))]
    return table([f"{sec.get('file', 'UCDP')} ({num(sec.get('reports'))} reports) into",
                  "import s (median)", "links made", "status"], rows)


def daemon_table(r: dict[str, Any]) -> str:
    rows = [[num(c["target"]), num(c.get("taken")),
             num(c["rss_kib"] / 1024 if c.get("rss_kib") else None),
             num(c.get("elapsed_s"), 1), c.get("status", "measured")]
            for c in r.get("daemon", {}).get("checkpoints", [])]
    return table(["incidents (checkpoint)", "taken when read", "daemon VmRSS MiB",
                  "seconds since start", "status"], rows)


# --- the targets -------------------------------------------------------------------------------


def _verdict(ok: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "NOT MEASURED"}[ok]


def targets(r: dict[str, Any]) -> list[list[str]]:
    """[target, where measured, measured value, verdict] for each of the issue's targets."""
    out: list[list[str]] = []
    scale = [x for x in r.get("scale", [])]
    at = next((x for x in scale if x["n"] == ISSUE_N), scale[-1] if scale else {"n": None})
    where = f"N = {num(at['n'])}" + ("" if at["n"] == ISSUE_N else
                                     f" (the issue's N is {ISSUE_N:,})")
    rate, status = at.get("import_rate"), at.get("status", "not run")
    done = [x for x in scale if x.get("import_rate")]
    if rate is None and done:  # say what was measured, at its own N, beside the status
        status += (f" (largest N measured: {done[-1]['n']:,}: {done[-1]['import_rate']:,.0f}/s, "
                   f"{done[-1].get('ratio', 0):.1f}× the baseline)")
    if rate is not None:
        out.append([f"import ≥ {TARGETS['rate']:,} incidents/s", where, f"{rate:,.0f}/s",
                    _verdict(rate >= TARGETS["rate"])])
    else:
        bound = ("fewer than" in status and at.get("n") and
                 float(status.split("fewer than ")[1].split()[0].replace(",", ""))
                 < TARGETS["rate"])
        out.append([f"import ≥ {TARGETS['rate']:,} incidents/s", where, status,
                    "FAIL (bound: killed at budget)" if bound else _verdict(None)])
    ratio, base = at.get("ratio"), at.get("baseline_s") or []
    if ratio is None and at.get("killed_after_s") and base:
        # killed at B s while the baseline took b s: the ratio is at least B / b
        floor = at["killed_after_s"] / max(base)
        out.append([f"import ÷ baseline ≤ {TARGETS['ratio']}", where,
                    f"more than {floor:,.0f} (import killed at {at['killed_after_s']:.0f} s, "
                    f"baseline {max(base):.1f} s)",
                    "FAIL (bound: killed at budget)" if floor > TARGETS["ratio"]
                    else _verdict(None)])
    else:
        out.append([f"import ÷ baseline ≤ {TARGETS['ratio']}", where,
                    num(ratio, 1) if ratio is not None else status,
                    _verdict(None if ratio is None else ratio <= TARGETS["ratio"])])
    if at.get("ledger_bytes") and at.get("csv_bytes"):
        q = at["ledger_bytes"] / at["csv_bytes"]
        out.append([f"ledger ≤ {TARGETS['ledger']:g} × the CSV's bytes", where,
                    f"{q:.1f}× ({at['ledger_bytes'] / 2**20:,.0f} MiB for "
                    f"{at['csv_bytes'] / 2**20:,.0f} MiB)", _verdict(q <= TARGETS["ledger"])])
    else:
        out.append([f"ledger ≤ {TARGETS['ledger']:g} × the CSV's bytes", where, "not measured",
                    _verdict(None)])
    for kind, what in (("terms", "terms of their own"), ("rules", "near copies")):
        rules = sorted((x for x in r.get(kind, {}).get("rows", []) if x.get("marginal_us")),
                       key=lambda x: x["rules"])
        name = f"µs/incident at most rules ≤ {TARGETS['rules']}× at fewest ({what})"
        if len(rules) >= 2:
            lo, hi = rules[0], rules[-1]
            q = hi["marginal_us"] / lo["marginal_us"]
            out.append([name, f"{num(hi['rules'])} vs {num(lo['rules'])} rules, N = "
                        f"{num(r[kind]['n'])}", f"{q:.2f}× marginal ({num(hi.get('findings'))} "
                        f"vs {num(lo.get('findings'))} findings)", _verdict(q <= TARGETS["rules"])])
        elif kind in r or kind == "terms":
            out.append([name, "–", "fewer than two rule variants measured", _verdict(None)])
    zones = sorted((x for x in r.get("zones", {}).get("rows", []) if x.get("marginal_us")),
                   key=lambda x: x["zones"])
    if len(zones) >= 2:
        lo, hi = zones[0], zones[-1]
        q = hi["marginal_us"] / lo["marginal_us"]
        qt = hi["us_per_incident"] / lo["us_per_incident"]
        out.append([f"µs/incident at most zones ≤ {TARGETS['zones']}× at fewest",
                    f"{num(hi['zones'])} vs {num(lo['zones'])} zone rows, N = "
                    f"{num(r['zones']['n'])}", f"{q:.2f}× marginal ({qt:.2f}× total)",
                    _verdict(q <= TARGETS["zones"])])
    else:
        out.append([f"µs/incident at most zones ≤ {TARGETS['zones']}× at fewest", "–",
                    "fewer than two zone variants measured", _verdict(None)])
    marks = [c for c in r.get("daemon", {}).get("checkpoints", []) if c.get("rss_kib")]
    wanted = sorted(c["target"] for c in r.get("daemon", {}).get("checkpoints", []))
    if len(marks) >= 2 and len(marks) == len(wanted):
        q = marks[-1]["rss_kib"] / marks[0]["rss_kib"]
        out.append([f"daemon memory after {num(wanted[-1])} ≤ {TARGETS['daemon']}× after "
                    f"{num(wanted[0])}", "VmRSS", f"{q:.2f}×", _verdict(q <= TARGETS["daemon"])])
    else:
        missed = [c["status"] for c in r.get("daemon", {}).get("checkpoints", [])
                  if c.get("status")]
        out.append([f"daemon memory ≤ {TARGETS['daemon']}× between checkpoints", "VmRSS",
                    f"{len(marks)} of {len(wanted)} checkpoints reached"
                    + (f" ({missed[0]})" if missed else ""), _verdict(None)])
    sec = r.get("findings", {})
    where = f"{num(sec.get('findings'))} findings"
    for q in sec.get("queries", []):
        big = q.get("big_median_s")
        if q.get("target") is False:
            continue  # measured beside the targets (a verdict)
        if q["query"] == "ledger verify":
            v = q["big_entries"] / big if big and q.get("big_entries") else None
            out.append([f"ledger verify ≥ {TARGETS['verify_rate']:,} entries/s",
                        f"{num(q.get('big_entries'))} entries", num(v, 0, "/s"),
                        _verdict(None if v is None else v >= TARGETS["verify_rate"])])
        else:
            out.append([f"{q['query']} < {TARGETS['query_s']:g} s", where, num(big, 3, " s"),
                        _verdict(None if big is None else big < TARGETS["query_s"])])
    if "findings" not in r:
        out.append([f"queries < {TARGETS['query_s']:g} s, verify ≥ {TARGETS['verify_rate']:,} "
                    "entries/s", "–", "section not run",
                    _verdict(None)])
    return out


# --- the profile -------------------------------------------------------------------------------


def profile_section(r: dict[str, Any]) -> str:
    p = r.get("profile")
    if not p:
        return "Not profiled in this run (`bench/run.py --profile`; `make bench` does)."
    if p.get("status") != "measured":
        return f"Profile of {num(p.get('n'))} incidents: {p.get('status')}."
    total = p["profiled_seconds"]
    text = [f"pyinstrument, in-process `monitor import --no-pipeline` of {num(p['n'])} "
            f"generated incidents (every step in one process; the timed imports above use "
            f"the default, two processes from 20,000 lines): {total:,.1f} s profiled (the "
            "profiler slows the run; shares are what matter). "
            f"Full tree: [{p['file']}]({p['file']}).", "",
            "Project functions by inclusive time (a function inside itself counted once):", "",
            table(["function", "s", "share"], [[f"`{x['function']}`", num(x["seconds"], 2),
                                                 num(100 * x["share"], 1, " %")]
                                                for x in p["inclusive"]]), "",
            "Functions by own time (any module):", "",
            table(["function", "s", "share"], [[f"`{x['function']}`", num(x["seconds"], 2),
                                                 num(100 * x["share"], 1, " %")]
                                                for x in p["own"]])]
    return "\n".join(text)


# --- plots ---------------------------------------------------------------------------------------


def plots(r: dict[str, Any], out: Path) -> list[str]:
    """PNG plots of µs per incident against N, zones and rules (and the daemon's memory)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        return []
    made = []

    def save(fig: Any, name: str) -> None:
        for ax in fig.axes:  # plain numbers on the log axes, at the measured values only
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            ax.xaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        fig.tight_layout()
        fig.savefig(out / name, dpi=100)
        plt.close(fig)
        made.append(name)

    scale = [x for x in r.get("scale", []) if x.get("us_per_incident")]
    if scale:
        fig, ax = plt.subplots(figsize=(6, 4))
        ns = [x["n"] for x in scale]
        ax.plot(ns, [x["us_per_incident"] for x in scale], "o-", label="monitor import")
        base = [(x["n"], x["baseline_median_s"] / x["n"] * 1e6) for x in scale
                if x.get("baseline_median_s")]
        if base:
            ax.plot(*zip(*base), "s--", label="baseline (csv + sqlite-utils)")
        ax.axhline(1e6 / TARGETS["rate"], color="grey", ls=":", label="target (20,000/s)")
        ax.set(xscale="log", yscale="log", xlabel="incidents N", ylabel="µs per incident",
               title="Cost per incident against N", xticks=ns)
        ax.legend()
        save(fig, "cost_vs_n.png")
    for kind in ("zones", "rules", "terms"):
        rows = [x for x in r.get(kind, {}).get("rows", []) if x.get("us_per_incident")]
        if not rows:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        xs = [x[VARIED[kind]] for x in rows]
        ax.plot(xs, [x["us_per_incident"] for x in rows], "o-", label="total (with startup)")
        if all(x.get("marginal_us") is not None for x in rows):
            ax.plot(xs, [x["marginal_us"] for x in rows], "s--", label="marginal (startup removed)")
        ax.set(xscale="log", xlabel="zone rows" if kind == "zones" else "rules", xticks=xs,
               ylabel="µs per incident", ylim=(0, None),
               title=f"Cost per incident against {DIMENSIONS[kind]} (N = {r[kind]['n']:,})")
        ax.legend()
        save(fig, f"cost_vs_{kind}.png")
    samples = [s for s in r.get("daemon", {}).get("samples", []) if s.get("rss_kib")]
    if samples:
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([s["taken"] for s in samples], [s["rss_kib"] / 1024 for s in samples], ".-")
        ax.set(xlabel="incidents taken by the daemon", ylabel="VmRSS MiB", ylim=(0, None),
               title="Daemon resident memory")
        save(fig, "daemon_rss.png")
    return made


# --- the documents ---------------------------------------------------------------------------


def tables(r: dict[str, Any]) -> str:
    """The tables alone (printed to stdout at the end of a run)."""
    parts = ["## Targets", table(["target", "where", "measured", "verdict"], targets(r))]
    if "scale" in r:
        parts += ["## Incidents N: import end to end vs the baseline", scale_table(r)]
    if "corroboration" in r:
        parts += ["## A second feed: corroboration", corroboration_table(r)]
    for kind in ("zones", "rules", "terms"):
        if kind in r:
            parts += [f"## {DIMENSIONS[kind].capitalize()} (cost per incident at N = "
                      f"{num(r[kind].get('n'))})", dim_table(r, kind)]
    if "findings" in r:
        parts += [f"## Ledger of {num(r['findings'].get('findings'))} findings: queries",
                  findings_table(r)]
    if "daemon" in r:
        parts += ["## Daemon memory", daemon_table(r)]
    return "\n\n".join(parts) + "\n"


def write(r: dict[str, Any], out: Path) -> str:
    """Write RESULTS.md (and the plots) into ``out``; return the text."""
    m, s = r["machine"], r["settings"]
    made = plots(r, out)
    f = r.get("findings", {})
    d = r.get("daemon", {})
    doc = [
        "# Benchmark results",
        "",
        f"Written by `bench/run.py` on {m['date']}; every figure below was measured by that "
        "run (re-run `make bench` rather than editing). `–` = not measured; the status says "
        "why. A step predicted to exceed its budget was skipped (its extrapolation is "
        "labelled as such); a run that exceeded it was killed.",
        "",
        "## Machine",
        "",
        table(["CPU", "cores", "RAM", "Python", "OS", "code measured"],
              [[m["cpu"], m["cores"], f"{m['ram_gib']} GiB", m["python"], m["os"],
                m["commit"]]]),
        "",
        f"Settings: {s['runs']} run(s) per figure (median); budget {s['budget_seconds']:.0f} s "
        f"per run (daemon {s['daemon_budget_seconds']:.0f} s)"
        + (f", {s['total_budget_seconds']:.0f} s in all" if s.get("total_budget_seconds")
           else "") + f"; seed {s['seed']}; whole run {r.get('elapsed_s', 0):,.0f} s.",
        "",
        tables(r).replace("## ", "### ").replace("### Targets", "## Targets", 1),
        "",
        "Notes on method:",
        "",
        "- Incidents: ACLED-format rows drawn from the real UCDP GED 2016 Syria events "
        "(`bench/generate.py`: a UCDP row per incident, its point moved ≤ 2 km, its date, its "
        "sides as ACLED actors, the sub-event type from its headline's words).",
        "- Baseline: the same CSV read with the csv module and inserted with sqlite-utils "
        "`insert_all` into a plain table in one transaction. Import: the real CLI, "
        "`monitor --db <fresh> import FILE --format acled`, in a subprocess (as a user runs "
        "it: from 20,000 lines a second process reads, resolves and judges while the first "
        "records). Both timed as whole processes (interpreter start included); import ÷ "
        "baseline is the ratio of their median times. Peak RSS: `ru_maxrss` from `os.wait4`, "
        "the largest of the import's processes.",
        "- Zones and rules: the real pack copied with a zones.yaml of that many rows (the real "
        "rows plus octagons of 0.5–3 km around real UCDP places, each with the kind and "
        "validity of the real row holding that place) or that many rules (the real ones plus "
        "near copies `<TERM>-V<k>` with one condition changed, which fire with their rule; or "
        "terms of their own `<TERM>-D<k>`, a real rule's conditions held for one attacking "
        "side and one target category). *Marginal* µs/incident removes the fixed cost (an "
        "import of an empty file with the same configuration); the zones and rules targets "
        "are judged on it, the rules target on the terms of their own.",
        f"- Findings ledger: {num(f.get('seed_incidents'))} generated incidents imported for "
        f"real ({num(f.get('seed_findings'))} findings), then those findings copied with new "
        "finding and incident ids through `Ledger.append_many` in one transaction until the "
        f"ledger held {num(f.get('findings'))} ({num(f.get('entries'))} chained entries). "
        f"Query: {_query(s)}. Each query is the CLI in a subprocess; the seed-ledger column "
        "shows the same command's fixed cost.",
        f"- Daemon: `monitor run` on a jsonl drop folder fed {num(d.get('drop_file_lines'))} "
        "incidents per file, kept five files ahead; the ledger's reports counted read-only "
        "every second and the daemon's VmRSS read from /proc, then stopped with SIGTERM "
        f"({_stopped(d)}).",
        "",
        "## Where the time goes",
        "",
        profile_section(r),
        "",
        "## Plots",
        "",
        *(f"![{name}]({name})" for name in made),
        *([] if made else ["No plots (matplotlib is not installed: `make bench` installs it)."]),
        "",
    ]
    text = "\n".join(doc)
    (out / "RESULTS.md").write_text(text, "utf-8")
    return text


def _stopped(d: dict[str, Any]) -> str:
    stop = d.get("stop") or {}
    if stop.get("how") == "SIGTERM":
        return f"it exited in {stop.get('stop_s')} s with status {stop.get('returncode')}"
    return stop.get("how", "not run")


def _query(s: dict[str, Any]) -> str:
    q = s.get("query")
    if not q:
        return "–"
    return (f"`--term {q['term']} --party {q['party']} --since {q['since']} --until "
            f"{q['until']} --format json`")
