"""The house rules a maintainer can rely on: no import cycle among the monitor's modules, no
module over 600 lines, comments without bug history."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.config import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "monitor"
MAX_LINES = 600


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The monitor modules ``name`` imports (``from . import x`` imports the module x)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] \
                if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            found.update(subs if len(subs) == len(node.names) else [target, *subs])
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m in known and m != name}


def test_no_import_cycle() -> None:
    known = modules()
    graph = {m: imports(m, p, known) for m, p in known.items()}
    cycles = []

    def visit(node: str, trail: list[str], done: set[str]) -> None:
        for nxt in sorted(graph[node]):
            if nxt in trail:
                cycles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in done:
                visit(nxt, [*trail, nxt], done)
        done.add(node)

    done: set[str] = set()
    for start in sorted(graph):
        if start not in done:
            visit(start, [start], done)
    assert cycles == []


# What a command that only reads the ledger must not load: the pack's models and the pipeline
# (start-up is most of such a command's time, which must stay under 0.3 s on 1M findings).
NOT_FOR_READING = ("monitor.models", "monitor.config", "monitor.vocabspec", "monitor.patternspec",
                   "monitor.service", "monitor.judge", "monitor.engine", "shapely", "durable")


def test_read_commands_start_without_the_pack_models_or_the_pipeline() -> None:
    code = ("import sys; from monitor.cli import main\n"
            "for name in ('findings', 'query', 'incidents'):\n"
            "    main.get_command(None, name)\n"
            "print('\\n'.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PROJECT_ROOT).stdout.split()
    assert "monitor.cli.findings" in out and "monitor.cli.read" in out
    loaded = [m for m in out if m.split(".")[0] in {"shapely", "durable"} or m in NOT_FOR_READING]
    assert loaded == []


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(
    p.relative_to(PROJECT_ROOT)))
def test_no_module_over_600_lines(path: Path) -> None:
    assert len(path.read_text(encoding="utf-8").splitlines()) <= MAX_LINES


def test_comments_say_what_the_code_is_not_its_history() -> None:
    code = [p for d in ("monitor", "tests", "tools", "bench") for p in (PROJECT_ROOT / d).rglob(
        "*.py")] + [PROJECT_ROOT / "Makefile"]
    history = re.compile(r"\bissue #\d+|\(#\d+\)", re.IGNORECASE)
    assert [str(p.relative_to(PROJECT_ROOT)) for p in code
            if history.search(p.read_text(encoding="utf-8"))] == []
