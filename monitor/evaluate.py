"""Accuracy measured, not assumed: the monitor's verdicts against rows labelled blind.

A labels file (CSV: ``feed, source_id, expected, aggregate, reason``) says, for each source row,
the findings an analyst applying the pack's terms expects: ``expected`` lists ``TERM=CHARGED``
items separated by ";", CHARGED being the sides the term holds for joined by "+" ("-" for a
finding charged to nobody, "unattributed" for an unknown attacker); empty when the row breaks
nothing. The rows themselves are read from the source files through the feed adapters, judged by
the same pipeline as an import (no ledger), and compared:

- per term: precision (findings of the term on rows where it is expected / all findings of it)
  and recall (expected terms found / all expected);
- ``charged_to`` accuracy: of the findings whose term is expected, the share charged to exactly
  the expected set;
- per confidence grade and for critical findings: the share that is right (term expected and
  charged to the expected set): ``high`` must mean what an analyst would sign.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from .errors import MonitorError
from .models import Finding, IncidentReport

NOBODY = "-"
LABEL_COLUMNS = ("feed", "source_id", "expected", "aggregate", "reason")


class LabelsError(MonitorError, ValueError):
    """A labels file that cannot be read; the message names the file, line and fix."""


@dataclass(frozen=True)
class Label:
    feed: str
    source_id: str
    expected: dict[str, frozenset[str]]  # term -> charged set
    reason: str


def parse_expected(text: str, where: str) -> dict[str, frozenset[str]]:
    """``"COH-GOV=syrian_government; COH-CLASH=-"`` -> {term: charged set}."""
    out: dict[str, frozenset[str]] = {}
    for item in (p.strip() for p in text.split(";")):
        if not item:
            continue
        term, sep, charged = item.partition("=")
        if not sep or not term.strip():
            raise LabelsError(f"{where}: {item!r} is not TERM=CHARGED (e.g. "
                              "'COH-GOV=syrian_government' or 'COH-CLASH=-')")
        sides = charged.strip()
        out[term.strip()] = frozenset() if sides == NOBODY else frozenset(
            s.strip() for s in sides.split("+") if s.strip())
    return out


def _open(path: Path, encoding: str) -> TextIO:
    """A CSV file opened for reading; one that cannot be opened is a LabelsError saying why."""
    try:
        return path.open(encoding=encoding, newline="")
    except OSError as exc:
        raise LabelsError(str(exc)) from None


def read_labels(paths: Iterable[Path]) -> list[Label]:
    """Every label of the files, in order; a bad line is an error naming it."""
    labels: list[Label] = []
    seen: set[tuple[str, str]] = set()
    for path in paths:
        with _open(path, "utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise LabelsError(f"{path}: missing column(s) {', '.join(missing)}; the header "
                                  f"is {','.join(LABEL_COLUMNS)}")
            for line, row in enumerate(reader, start=2):
                key = (row["feed"].strip(), row["source_id"].strip())
                if key in seen:
                    raise LabelsError(f"{path} line {line}: {key[0]} {key[1]} is labelled twice")
                seen.add(key)
                labels.append(Label(*key, parse_expected(row["expected"] or "",
                                                         f"{path} line {line}"),
                                    row.get("reason") or ""))
    return labels


def source_reports(labels: list[Label], sources: Mapping[str, Path],
                   reliability: str | None) -> dict[tuple[str, str], IncidentReport]:
    """The labelled rows as reports, read from each feed's source file by its adapter's mapping
    (``sources``: feed -> CSV file; feeds ``ucdp`` and ``acled``)."""
    from .adapters import acled, ucdp

    wanted: dict[str, set[str]] = {}
    for label in labels:
        wanted.setdefault(label.feed, set()).add(label.source_id)
    out: dict[tuple[str, str], IncidentReport] = {}
    for feed, ids in wanted.items():
        if feed not in sources:
            raise LabelsError(f"no source file for feed {feed!r}: give --source {feed}=FILE")
        with _open(sources[feed], "utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                key = row.get("id") if feed == "ucdp" else row.get("event_id_cnty")
                if key not in ids:
                    continue
                raw = (ucdp.to_report(row, feed, reliability) if feed == "ucdp"
                       else {**acled.to_report(row, feed), "reliability": reliability})
                out[(feed, key)] = IncidentReport.model_validate(raw)
    lost = [f"{f} {s}" for f, ids in wanted.items() for s in ids if (f, s) not in out]
    if lost:
        raise LabelsError(f"labelled rows not found in the source files: {', '.join(lost[:10])}")
    return out


@dataclass
class Score:
    predicted: int = 0
    expected: int = 0
    hit: int = 0  # predicted and expected (the term)
    charged_right: int = 0  # ... and charged to the expected set

    @property
    def precision(self) -> float | None:
        return self.hit / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.hit / self.expected if self.expected else None

    @property
    def charged_to_accuracy(self) -> float | None:
        return self.charged_right / self.hit if self.hit else None

    def count(self, found: frozenset[str] | None, wanted: frozenset[str] | None) -> bool:
        """Count one term of one row: what was found (its charged set, None: no finding)
        against what was wanted; True when the term is wanted and charged as wanted."""
        right = found is not None and found == wanted
        self.predicted += found is not None
        self.expected += wanted is not None
        self.hit += found is not None and wanted is not None
        self.charged_right += right
        return right


@dataclass
class Evaluation:
    rows: int = 0
    terms: dict[str, Score] = field(default_factory=dict)
    overall: Score = field(default_factory=Score)
    grades: dict[str, Counter[str]] = field(default_factory=dict)  # grade -> right/total
    critical: Counter[str] = field(default_factory=Counter)
    mistakes: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        def score(s: Score) -> dict[str, Any]:
            return {"predicted": s.predicted, "expected": s.expected, "hit": s.hit,
                    "precision": s.precision, "recall": s.recall,
                    "charged_to_accuracy": s.charged_to_accuracy}

        return {
            "rows": self.rows,
            "overall": score(self.overall),
            "terms": {t: score(s) for t, s in sorted(self.terms.items())},
            "confidence": {g: {"findings": c["total"], "right": c["right"],
                               "share_right": c["right"] / c["total"] if c["total"] else None}
                           for g, c in self.grades.items()},
            "critical": {"findings": self.critical["total"], "right": self.critical["right"],
                         "share_right": (self.critical["right"] / self.critical["total"]
                                         if self.critical["total"] else None)},
            "mistakes": self.mistakes,
        }


def compare(labels: list[Label], judged: Mapping[tuple[str, str], list[Finding]]) -> Evaluation:
    """Score the findings of each labelled row against its label."""
    ev = Evaluation(rows=len(labels))
    ev.grades = {g: Counter() for g in ("high", "medium", "low")}
    for label in labels:
        found = {f.term: f for f in judged[(label.feed, label.source_id)]}
        for term in set(found) | set(label.expected):
            finding, expected = found.get(term), label.expected.get(term)
            charged = None if finding is None else frozenset(finding.charged_to)
            right = ev.terms.setdefault(term, Score()).count(charged, expected)
            ev.overall.count(charged, expected)
            if finding is not None:
                ev.grades[finding.confidence]["total"] += 1
                ev.grades[finding.confidence]["right"] += right
                if finding.severity == "critical":
                    ev.critical["total"] += 1
                    ev.critical["right"] += right
            if not right:
                ev.mistakes.append({
                    "row": f"{label.feed} {label.source_id}", "term": term,
                    "expected": None if expected is None else sorted(expected) or NOBODY,
                    "found": None if finding is None else (
                        sorted(finding.charged_to) or NOBODY),
                    "confidence": finding.confidence if finding else None,
                    "reason": label.reason})
    return ev


def agreement(reference: list[Label], other: list[Label]) -> Score:
    """How far a second labeller's labels agree with the first's on the rows both labelled,
    scored as the monitor is (precision and recall of terms, charged sets right): the ceiling
    against which the monitor's figures are read."""
    theirs = {(l.feed, l.source_id): l.expected for l in other}
    score = Score()
    for label in reference:
        found = theirs.get((label.feed, label.source_id))
        if found is None:
            continue
        for term in set(found) | set(label.expected):
            score.count(found.get(term), label.expected.get(term))
    return score


def evaluate(monitor: Any, labels: list[Label], sources: Mapping[str, Path],
             reliability: str | None = "B") -> Evaluation:
    """Judge every labelled row with ``monitor`` (a :class:`monitor.service.Monitor`, no ledger
    needed) and compare with the labels."""
    reports = source_reports(labels, sources, reliability)
    keys = list(reports)
    judged = monitor.judge_many([reports[k] for k in keys])
    findings = {k: list(result[1]) for k, result in zip(keys, judged)}
    return compare(labels, findings)


def pct(x: float | None) -> str:
    """A share as the tables print it: two decimals, or "–" when there is nothing to share."""
    return "–" if x is None else f"{x:.2f}"


def markdown(ev: Evaluation) -> str:
    """The evaluation as the README's tables."""
    d = ev.as_dict()
    lines = [f"Rows: {ev.rows}.", "",
             "| term | expected | found | precision | recall | charged_to right |",
             "|---|---:|---:|---:|---:|---:|"]
    for term, s in d["terms"].items():
        lines.append(f"| `{term}` | {s['expected']} | {s['predicted']} | {pct(s['precision'])} "
                     f"| {pct(s['recall'])} | {pct(s['charged_to_accuracy'])} |")
    o = d["overall"]
    lines.append(f"| **all** | {o['expected']} | {o['predicted']} | {pct(o['precision'])} | "
                 f"{pct(o['recall'])} | {pct(o['charged_to_accuracy'])} |")
    lines += ["", "| confidence | findings | right |", "|---|---:|---:|"]
    for grade, c in d["confidence"].items():
        lines.append(f"| {grade} | {c['findings']} | {pct(c['share_right'])} |")
    c = d["critical"]
    lines.append(f"| **critical severity** | {c['findings']} | {pct(c['share_right'])} |")
    return "\n".join(lines)


_TOP = Path(__file__).resolve().parent.parent
# the bundled evaluation set (tests/fixtures/eval/README.md) and the files its rows come from
DEFAULT_LABELS = (_TOP / "tests" / "fixtures" / "eval" / "labels.csv",)
DEFAULT_SOURCES = {"ucdp": _TOP / "feeds" / "data" / "ged_syria_2016.csv",
                   "acled": _TOP / "feeds" / "samples" / "acled_syria_2016_sample.csv"}
