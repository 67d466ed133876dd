"""The specification the code cites is in the repository, and is the one it implements."""

from __future__ import annotations

import re

import pytest

from monitor.config import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"
SHARED = PROJECT_ROOT.parent / "shared" / "agreement"
CODE = [p for d in ("monitor", "tools", "bench") for p in (PROJECT_ROOT / d).rglob("*.py")]


@pytest.mark.parametrize("name", ["TERMS.md", "ZONES.md"])
def test_the_specification_is_in_docs(name: str) -> None:
    text = (DOCS / name).read_text(encoding="utf-8")
    if name == "TERMS.md":
        assert "**Revision 2" in text
    shared = SHARED / name
    if shared.exists():  # beside a checkout of the project: the copy is word for word
        assert text.endswith(shared.read_text(encoding="utf-8"))


def test_every_term_a_rule_implements_is_in_the_specification() -> None:
    terms = (DOCS / "TERMS.md").read_text(encoding="utf-8")
    ids = {p.parent.name for p in (PROJECT_ROOT / "rules" / "syria-2016").glob("*/rule.yaml")}
    assert len(ids) >= 10
    assert [t for t in sorted(ids) if f"`{t}`" not in terms] == []


def test_the_code_cites_only_documents_in_the_repository() -> None:
    cited = {m for p in CODE for m in re.findall(r"\b([A-Z][A-Z_]+\.md)\b",
                                                 p.read_text(encoding="utf-8"))}
    present = {p.name for p in PROJECT_ROOT.rglob("*.md") if ".venv" not in p.parts}
    assert cited and sorted(cited - present) == []
