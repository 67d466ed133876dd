"""The clause rules file (``clauses.yaml``): the words that set a part of a clause aside as
negated or non-hostile, and the words that say a text reports several events. See
:mod:`monitor.places`."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

# The regex parser, to read the words a clause rule can start with (ClauseRules.trigger).
from re import _constants as _sre  # type: ignore[attr-defined]
from re import _parser as _sre_parse  # type: ignore[attr-defined]
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from monitor.classify import _fold, check_pattern
from monitor.models import FileModel
from monitor.places.gazetteer import (
    _problems,
)
from monitor.problems import Problem, read_model

PatternText = Annotated[str, AfterValidator(check_pattern)]


class ClauseRulesSpec(FileModel):
    """``clauses.yaml``: mentions that decide nothing (TERMS.md §4, last sentence).

    Patterns are Python regular expressions matched on whole words against a clause in normal
    form (:func:`normalise`: lower-case ASCII words separated by single spaces; apostrophes,
    punctuation and the article "al-" dropped), case-insensitively."""

    description: str = ""
    negated: list[PatternText] = Field(default_factory=list)
    non_hostile: list[PatternText] = Field(default_factory=list)
    # words that say the text reports several events ("kill 8 people in 3 towns")
    several: list[PatternText] = Field(default_factory=list)
    # kinds of event ("fighting", "strike"): a text none of whose clauses names the place and
    # whose words report two kinds ("clashes in X and regime forces shell Y") reports several
    event_kinds: dict[str, list[PatternText]] = Field(default_factory=dict)


class ClauseRules:
    """The negated and non-hostile patterns compiled into one regex, searched once per text.

    Each pattern is an alternative ending in an empty marker group named after its list, so the
    match says which list it came from (as :mod:`monitor.classify` does for its classes). Most
    texts match none: ``trigger``, a regex of the literal words a match can start with (read
    from the parsed patterns: "no", "aid", "agree…"), turns them away at a fifth of the cost;
    it is None when some pattern can start with any word, and then every text is searched."""

    _KINDS = {"n": "negated", "h": "non-hostile"}

    def __init__(self, spec: ClauseRulesSpec) -> None:
        lists = (("n", [_fold(p) for p in spec.negated]),
                 ("h", [_fold(p) for p in spec.non_hostile]))
        alternatives = [f"(?:{p})\\b(?P<{kind}{i}>)"
                        for kind, patterns in lists for i, p in enumerate(patterns)]
        self.several = (re.compile(r"\b(?:" + "|".join(_fold(p) for p in spec.several) + r")\b")
                        if spec.several else None)
        self.event_kinds = {kind: re.compile(r"\b(?:" + "|".join(_fold(p) for p in ps) + r")\b")
                            for kind, ps in spec.event_kinds.items() if ps}
        self.regex = (re.compile(r"\b(?=\w)(?:" + "|".join(alternatives) + ")")
                      if alternatives else None)
        starts = [_starts(list(_sre_parse.parse(p)), True) for _, ps in lists for p in ps]
        self.trigger = None
        if starts and all(s is not None for s in starts):
            self.trigger = re.compile(r"\b" + _trie({w for s in starts if s for w in s}))

    def set_aside(self, normalised_clause: str) -> str:
        """"negated", "non-hostile", or "" when the clause may decide."""
        return self.set_aside_each([normalised_clause])[0]

    def set_aside_each(self, clauses: Sequence[str]) -> list[str]:
        """:meth:`set_aside` for each clause, with one search over all of them."""
        out = [""] * len(clauses)
        # " | " cannot be crossed by a pattern: "|" is neither a word character nor a space.
        joined = " | ".join(clauses)
        if self.regex is None or (self.trigger is not None and not self.trigger.search(joined)):
            return out
        offsets = list(accumulate(len(c) + 3 for c in clauses[:-1]))
        for match in self.regex.finditer(joined):
            index = bisect_right(offsets, match.start())
            out[index] = out[index] or self._KINDS[(match.lastgroup or "n")[0]]
        return out

    def kinds(self, normalised_clauses: Sequence[str]) -> list[str]:
        """The kinds of event (``event_kinds``) the clauses report, in file order."""
        text = " | ".join(normalised_clauses)
        return [kind for kind, regex in self.event_kinds.items() if regex.search(text)]


def _trie(words: set[tuple[str, bool]]) -> str:
    """A regex of the words as a trie ("agree", "agreed\\b", "aid" → ``a(?:gree(?:d\\b|)|id)``):
    the engine then rejects a position by its first letters, not word by word (twice as fast)."""
    root: dict[str, Any] = {}
    for word, whole in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = node.get("", True) and whole  # a word that ends here; whole: \b must follow

    def emit(node: dict[str, Any]) -> str:
        alternatives = [re.escape(ch) + emit(node[ch]) for ch in sorted(node) if ch]
        if "" in node:
            alternatives.append(r"\b" if node[""] else "")
        return alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"

    return emit(root)


def _starts(items: list[Any], then_space: bool) -> set[tuple[str, bool]] | None:
    """The literal words a match of a parsed pattern can start with, as (words, whole): whole
    when a space must follow them, else a prefix ("agree" of ``agree\\w*``). None when a match
    may start with anything (a class first, or only optional parts). ``then_space``: a space
    follows the items."""
    out: set[tuple[str, bool]] = set()
    for n, (op, arg) in enumerate(items):
        rest = items[n + 1:]
        space_next = rest[0] == (_sre.LITERAL, 32) if rest else then_space
        if op is _sre.LITERAL:
            run = ""
            for op2, arg2 in items[n:]:
                if op2 is not _sre.LITERAL:
                    break
                run += chr(arg2)
            whole = run.endswith(" ") or (len(run) == len(items) - n and then_space)
            if not whole and " " in run:
                run, whole = run[:run.rindex(" ")], True
            out.add((run.rstrip(" "), whole))
            return out
        if op is _sre.SUBPATTERN or op is _sre.BRANCH:
            branches = [arg[-1]] if op is _sre.SUBPATTERN else arg[1]
            for branch in branches:
                found = _starts(list(branch), space_next)
                if found is None:
                    return None
                out |= found
            if all(branches):  # no empty branch: the match starts in this group
                return out
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
            found = _starts(list(arg[2]), False)
            if found is None:
                return None
            out |= found
            if arg[0] >= 1:
                return out
        else:
            return None
    return None


def load_clause_rules(path: Path, file_label: str | None = None) -> tuple[ClauseRules | None,
                                                                          list[Problem]]:
    """Read and check ``clauses.yaml``; a pattern that would not compile, or would match the
    empty text, is a Problem naming the file, the key (``negated[3]``) and the fix."""
    spec, problems = read_model(path, file_label or str(path), "keys 'negated', 'non_hostile'",
                                ClauseRulesSpec,
                                lambda lab, exc, _: _problems(lab, exc, ClauseRulesSpec))
    return (ClauseRules(spec) if spec is not None else None), problems
