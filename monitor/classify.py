"""Read platform, target category, event type and mission from a report's free text.

The vocabulary is data (``config/<pack>/classifier.yaml``), so another pack can bring another
language or wording. For each field it is an ordered list of classes, each a value of
:mod:`monitor.models` and a list of regular expressions. **The first class, in file order, with a
pattern matching anywhere in the text wins**; the fragments it matched are kept as the
explanation (``platform=helicopter from the words 'barrel bombs'``). Order is the whole policy:
specific before generic (medical before civilians, barrel bombs before aircraft). There is no
negation and no scoring, so a decision can always be explained by the words that made it.

Patterns match case-insensitively inside word boundaries (``\\b(?:pattern)\\b``): "ham" never
matches "Hama"; a match starts at the beginning of a word. Each field is compiled once into one
regex: a word start, then a zero-width look-ahead over the alternation of all its patterns in
class order. At each position the engine reports the first class that matches there, so the
lowest class seen anywhere is the winner, and overlapping matches of a later class cannot hide
an earlier one. For speed the text is lower-cased once and the patterns' letters at compile time
(instead of ``re.IGNORECASE``): the engine then rejects an alternative by its first letter in one
step, which is also why patterns should start with a letter, not a group.

UCDP joins the headlines of several sources with ";" into one text. With ``segment_separator``
set, a class marked ``weak`` (the casualty round-ups) decides only the segment it is found in: a
real class found in another segment outranks it. Classes that are not weak behave exactly as on
the whole text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from monitor.errors import MonitorError
from monitor.models import Mission
from monitor.problems import Problem, did_you_mean, location, read_model
from monitor.vocabspec import VocabularySpec, core_vocabulary

FIELDS = ("platform", "target_category", "event_type", "mission", "fired_by", "hit_side",
          "weapon_class")
SIDE_FIELDS = ("fired_by", "hit_side")
# the fields whose values are the pack's vocabulary (checked when the pack loads), with the key
# of pack.yaml's ``vocabulary:`` that declares them
OPEN_FIELDS = {"platform": "platforms", "target_category": "target_categories",
               "event_type": "event_types", "weapon_class": "weapon_classes"}
# What a text no class matches counts as when measuring (there is no "unknown" event type).
NOTHING = {"platform": "unknown", "target_category": "unknown", "event_type": "other",
           "mission": "unknown", "fired_by": "", "hit_side": "", "weapon_class": "unknown"}
# fired_by and hit_side values are side ids of the pack joined by "+"
# ("russia+syrian_government"), checked against the pack's sides when the pack loads
# (monitor.config)
DECISIONS_KEPT = 8_192  # texts whose decisions are kept (Classifier.classify)
SIDE_SET = re.compile(r"^[a-z][a-z0-9_]*(\+[a-z][a-z0-9_]*)*$")
_WRAP_HEAD = r"\b(?:"


def _fold(pattern: str) -> str:
    """Lower-case a pattern's letters, keeping escapes (``\\W``, ``\\S``, ``\\B``) as written."""
    out = []
    escaped = False
    for ch in pattern:
        out.append(ch if escaped else ch.lower())
        escaped = ch == "\\" and not escaped
    return "".join(out)


def _wrap(pattern: str) -> str:
    """A pattern as it is matched (against lower-cased text): whole words only."""
    return f"{_WRAP_HEAD}{_fold(pattern)})\\b"


# --- the vocabulary file -------------------------------------------------------------------


class SpecError(MonitorError, ValueError):
    """A vocabulary mistake with the fix; :func:`load_classifier` turns it into a Problem."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message + (f" {hint}" if hint else ""))
        self.message = message
        self.hint = hint


def _regex_hint(msg: str) -> str:
    if "missing )" in msg or "unbalanced parenthesis" in msg:
        return "Close every '(' with ')', or escape a literal bracket as '\\('."
    if "unterminated character set" in msg:
        return "Close '[' with ']', or escape a literal bracket as '\\['."
    if "nothing to repeat" in msg or "multiple repeat" in msg:
        return "'*', '+' and '?' must follow something; escape a literal one as '\\?'."
    return "Check the syntax (Python 're'); escape literal characters with '\\'."


def check_pattern(pattern: str) -> str:
    """Refuse a pattern that would not compile, or would silently misbehave when combined."""
    if "\x08" in pattern:
        raise SpecError(
            f"{pattern!r} contains a backspace character",
            "Write patterns in single quotes: in double quotes YAML turns '\\b' into a backspace.",
        )
    if not pattern.strip():
        raise SpecError("is an empty pattern", "Write the words the class stands for.")
    if re.search(r"\(\?P[<=]|\\[1-9]", pattern):
        raise SpecError(
            f"{pattern!r} uses a named group or back-reference, which cannot survive being "
            "combined with the other patterns",
            "Use a plain group '(...)' or '(?:...)'.",
        )
    try:
        re.compile(_wrap(pattern))
        empty = re.fullmatch(_fold(pattern), "")
    except re.error as exc:
        where = f" at position {max(exc.pos - len(_WRAP_HEAD), 0)}" if exc.pos is not None else ""
        raise SpecError(
            f"{pattern!r} is not a valid regular expression: {exc.msg}{where}.", _regex_hint(exc.msg)
        ) from None
    if empty is not None:
        raise SpecError(
            f"{pattern!r} matches the empty text, so its class would win for every report",
            "Make at least one word required (drop a trailing '?' or '*').",
        )
    return pattern


PatternText = Annotated[str, AfterValidator(check_pattern)]


class ClassSpec(BaseModel):
    """One class of a field: the value it gives and the words that give it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    field_name: ClassVar[str] = ""
    allowed: ClassVar[tuple[str, ...]] = ()

    value: str
    patterns: list[PatternText] = Field(min_length=1)
    note: str = ""
    weak: bool = False  # decides its own segment only; a class from another segment outranks it

    @field_validator("value")
    @classmethod
    def _known_value(cls, value: str, info: ValidationInfo) -> str:
        """A closed field's values are the Literal vocabulary of monitor/models.py; an open
        field's are the pack's vocabulary (validation context ``words``; the core one without)."""
        allowed = cls.allowed
        if not allowed:
            words = (info.context or {}).get("words") or core_vocabulary()
            allowed = words.values()[cls.field_name]
        if value not in allowed:
            raise SpecError(f"{value!r} is not a {cls.field_name} value of the pack's "
                            "vocabulary.", did_you_mean(value, allowed) or "Declare it under "
                            f"`vocabulary.{OPEN_FIELDS[cls.field_name]}` in pack.yaml.")
        return value


class PlatformClass(ClassSpec):
    field_name = "platform"


class TargetCategoryClass(ClassSpec):
    field_name = "target_category"


class EventTypeClass(ClassSpec):
    field_name = "event_type"


class WeaponClassClass(ClassSpec):
    field_name = "weapon_class"


class MissionClass(ClassSpec):
    field_name, allowed = "mission", get_args(Mission)


class FiredByClass(ClassSpec):
    """TERMS.md §4 "Who attacked": words that name who fired ("regime forces shelled X").
    The value is the set of sides they name, joined by "+"; words may narrow a report's
    candidates, never widen them."""

    field_name = "fired_by"

    @field_validator("value")
    @classmethod
    def _known_value(cls, value: str) -> str:
        if not SIDE_SET.match(value):
            raise SpecError(f"{value!r} is not a side id or sides joined by '+'.",
                            "Write e.g. 'syrian_government' or 'russia+syrian_government'.")
        return value


class HitSideClass(FiredByClass):
    """TERMS.md §4 "Target": words that say which side was hit ("shells target regime forces'
    controlled areas", "warplanes target a meeting of the Nusra Front"). They narrow the target's
    candidates in a report with a direction, never widen them, and never say who fired."""

    field_name = "hit_side"


class ClassifierSpec(BaseModel):
    """``classifier.yaml``: for each field, its classes in priority order (first match wins)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str = ""
    segment_separator: str | None = None  # a regex, e.g. ';' (UCDP joins source headlines)
    platform: list[PlatformClass] = Field(default_factory=list)
    target_category: list[TargetCategoryClass] = Field(default_factory=list)
    event_type: list[EventTypeClass] = Field(default_factory=list)
    mission: list[MissionClass] = Field(default_factory=list)
    fired_by: list[FiredByClass] = Field(default_factory=list)
    hit_side: list[HitSideClass] = Field(default_factory=list)
    weapon_class: list[WeaponClassClass] = Field(default_factory=list)

    @field_validator("segment_separator")
    @classmethod
    def _separator_compiles(cls, value: str | None) -> str | None:
        try:
            if value is not None and re.fullmatch(_fold(value), "") is not None:
                raise SpecError(f"{value!r} matches the empty text", "Use a character: ';'.")
        except re.error as exc:
            raise SpecError(f"{value!r} is not a valid regular expression: {exc.msg}.",
                            _regex_hint(exc.msg)) from None
        return value


# --- decisions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The value of one field and the words that decided it (None: no class matched)."""

    value: str | None
    words: tuple[str, ...] = ()
    weak: bool = False  # decided by a class marked weak (a casualty round-up)

    def note(self, field: str) -> str:
        """The explanation kept with the incident, e.g. "platform=helicopter from the words
        'barrel bombs'"."""
        if self.value is None:
            return f"{field}: no words matched"
        return f"{field}={self.value} from the words " + ", ".join(f"'{w}'" for w in self.words)


@dataclass(frozen=True)
class Classification:
    platform: Decision
    target_category: Decision
    event_type: Decision
    mission: Decision
    fired_by: Decision = Decision(None, ())
    hit_side: Decision = Decision(None, ())
    weapon_class: Decision = Decision(None, ())

    def notes(self) -> list[str]:
        """One explanation per field, in field order."""
        return [getattr(self, f).note(f) for f in FIELDS]


_NONE = Decision(None, ())
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'"})


class _FieldMatcher:
    """One field's classes compiled into a single look-ahead alternation.

    Each pattern is one alternative, in class order, ending in an empty marker group named after
    its class. Alternatives then begin with a letter, which the regex engine rejects in one step
    (a named group around each class would be entered at every word: about twice as slow), and
    ``lastindex`` (the marker, the last group to close) names the class.
    """

    def __init__(self, classes: Sequence[ClassSpec]) -> None:
        self.values = tuple(c.value for c in classes)
        self.weak = tuple(c.weak for c in classes)
        alternatives = [
            f"(?:{_fold(p)})\\b(?P<m{i}_{j}>)"
            for i, c in enumerate(classes)
            for j, p in enumerate(c.patterns)
        ]
        # A match starts at the beginning of a word; zero-width, so a later class's match never
        # consumes text an earlier class needs.
        self.regex = (re.compile(r"\b(?=\w)(?=" + "|".join(alternatives) + ")")
                      if alternatives else None)
        self.class_of = ({number: int(name[1:].split("_")[0])
                          for name, number in self.regex.groupindex.items() if name[0] == "m"}
                         if self.regex else {})

    def decide(self, text: str, folded: str, cuts: Sequence[int] = ()) -> Decision:
        """The winning class; ``folded`` is ``text`` lower-cased, ``cuts`` the separators."""
        if self.regex is None:
            return _NONE
        class_of = self.class_of
        hits = [(class_of[m.lastindex], m.start(), m.end(m.lastindex))  # type: ignore[index]
                for m in self.regex.finditer(folded)]
        if not hits:
            return _NONE
        if cuts and any(self.weak):
            segment_best: dict[int, int] = {}
            for index, start, _ in hits:
                seg = bisect_right(cuts, start)
                segment_best[seg] = min(segment_best.get(seg, index), index)
            winners = set(segment_best.values())
            best = min([i for i in winners if not self.weak[i]] or winners)
            keep = {seg for seg, i in segment_best.items() if i == best}
            hits = [h for h in hits if h[0] == best and bisect_right(cuts, h[1]) in keep]
        else:
            best = min(hits)[0]
        # Fragments are quoted from the original text unless lower-casing changed its length.
        source = text if len(text) == len(folded) else folded
        words: list[str] = []
        end = -1
        for index, start, stop in hits:
            # Each word once; a shorter match inside one already kept is skipped.
            if index == best and start >= end:
                if source[start:stop].lower() not in (w.lower() for w in words):
                    words.append(source[start:stop])
                end = stop
        return Decision(self.values[best], tuple(words), self.weak[best])


class Classifier:
    """Fills platform, target category, event type and mission from free text."""

    def __init__(self, matchers: Mapping[str, _FieldMatcher],
                 separator: re.Pattern[str] | None = None) -> None:
        self._matchers = dict(matchers)
        self._separator = separator
        # the decisions of texts seen lately: feeds repeat texts (UCDP gives one headline to
        # every event of an article), and a text always decides the same
        self._memo: OrderedDict[str, Classification] = OrderedDict()

    @classmethod
    def from_spec(cls, spec: ClassifierSpec) -> Classifier:
        """Compile a validated vocabulary (once; classifying then only runs the regexes)."""
        separator = re.compile(_fold(spec.segment_separator)) if spec.segment_separator else None
        return cls({f: _FieldMatcher(getattr(spec, f)) for f in FIELDS}, separator)

    def classify(self, text: str) -> Classification:
        """Each field's decision for ``text``; an empty text decides nothing."""
        found = self._memo.get(text)
        if found is not None:
            self._memo.move_to_end(text)
            return found
        found = self._classify(text)
        self._memo[text] = found
        if len(self._memo) > DECISIONS_KEPT:
            self._memo.popitem(last=False)
        return found

    def _classify(self, text: str) -> Classification:
        if not text or not text.strip():
            return Classification(_NONE, _NONE, _NONE, _NONE, _NONE, _NONE, _NONE)
        # typographic apostrophes ("regime’s") read as the plain one the patterns are written
        # with; one character for one, so the words quoted keep their place in the text
        folded = text.lower().translate(_APOSTROPHES)
        cuts = [m.start() for m in self._separator.finditer(folded)] if self._separator else []
        fields = self._matchers
        return Classification(
            platform=fields["platform"].decide(text, folded, cuts),
            target_category=fields["target_category"].decide(text, folded, cuts),
            event_type=fields["event_type"].decide(text, folded, cuts),
            mission=fields["mission"].decide(text, folded, cuts),
            fired_by=fields["fired_by"].decide(text, folded, cuts),
            hit_side=fields["hit_side"].decide(text, folded, cuts),
            weapon_class=fields["weapon_class"].decide(text, folded, cuts),
        )

    def side_sets(self) -> list[tuple[str, int, str, list[str]]]:
        """Each fired_by and hit_side class's field, index, value and sides, for checking
        against the pack."""
        return [(f, i, v, v.split("+")) for f in SIDE_FIELDS
                for i, v in enumerate(self._matchers[f].values)]


def load_classifier(path: Path, file_label: str | None = None,
                    words: VocabularySpec | None = None) -> tuple[Classifier | None,
                                                                  list[Problem]]:
    """Read and check ``classifier.yaml``; every problem is returned at once, with a hint.
    Platform, target category, event type and weapon class values must be declared by
    ``words``, the pack's vocabulary (the core one when None)."""
    class _InPack:  # validates with the pack's vocabulary as context
        @staticmethod
        def model_validate(data: Any) -> ClassifierSpec:
            return ClassifierSpec.model_validate(data, context={"words": words})

    spec, problems = read_model(path, file_label or str(path), "keys " + ", ".join(FIELDS),
                                _InPack, _problems)
    return (Classifier.from_spec(spec) if spec is not None else None), problems


def _problems(label: str, error: ValidationError, data: dict[str, Any]) -> list[Problem]:
    """One Problem per validation error, naming the class a bad pattern belongs to."""
    out = []
    for err in error.errors(include_url=False):
        loc = list(err["loc"])
        key = location(loc)
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, SpecError):
            message, hint = cause.message, cause.hint
            if len(loc) >= 3 and loc[2] == "patterns":
                value = _class_value(data, loc[0], loc[1])
                message = f"in class {value!r}, {message}" if value else message
        elif err["type"] == "extra_forbidden":
            message = "is not a known field; remove it or check its spelling"
            known = ClassifierSpec.model_fields if len(loc) == 1 else ClassSpec.model_fields
            hint = did_you_mean(loc[-1], known)
        elif err["type"] == "missing":
            message, hint = "is required but missing", ""
        else:
            message, hint = err["msg"], ""
        out.append(Problem(label, key, message, hint))
    return out


def _class_value(data: dict[str, Any], field: Any, index: Any) -> str | None:
    try:
        value = data[field][index].get("value")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return value if isinstance(value, str) else None


# --- measurement ---------------------------------------------------------------------------


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def evaluate(
    classifier: Classifier,
    rows: Iterable[Mapping[str, str]],
    fields: Iterable[str] = ("platform", "target_category", "event_type"),
    text_key: str = "source_headline",
) -> dict[str, dict[str, Any]]:
    """Compare the classifier with hand labels, per field and per class.

    A prediction of None counts as the field's "nothing" label (``unknown``; ``other`` for
    event types), so "the text does not say" agrees with "no words matched". ``micro`` counts
    only real values: its precision is over predictions other than the nothing label, its
    recall over labels other than it. Per class: ``precision`` (None when never predicted),
    ``recall`` (None when never labelled), ``support`` (labelled), ``predicted``, ``correct``.
    ``mistakes`` lists (row id, label, prediction, words) for reading the errors.
    """
    fields = tuple(fields)
    pairs: dict[str, list[tuple[str, str]]] = {f: [] for f in fields}
    mistakes: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = {f: [] for f in fields}
    for row in rows:
        result = classifier.classify(row.get(text_key, "") or "")
        for f in fields:
            decision: Decision = getattr(result, f)
            gold = row[f].strip()
            pred = decision.value or NOTHING[f]
            pairs[f].append((gold, pred))
            if gold != pred:
                mistakes[f].append((row.get("id", ""), gold, pred, decision.words))
    report: dict[str, dict[str, Any]] = {}
    for f in fields:
        nothing = NOTHING[f]
        classes = {}
        for value in sorted({v for pair in pairs[f] for v in pair}):
            support = sum(g == value for g, _ in pairs[f])
            predicted = sum(p == value for _, p in pairs[f])
            correct = sum(g == p == value for g, p in pairs[f])
            classes[value] = {"precision": _ratio(correct, predicted),
                              "recall": _ratio(correct, support),
                              "support": support, "predicted": predicted, "correct": correct}
        real_pred = sum(p != nothing for _, p in pairs[f])
        real_gold = sum(g != nothing for g, _ in pairs[f])
        real_correct = sum(g == p != nothing for g, p in pairs[f])
        report[f] = {
            "n": len(pairs[f]),
            "accuracy": _ratio(sum(g == p for g, p in pairs[f]), len(pairs[f])),
            "micro": {"precision": _ratio(real_correct, real_pred),
                      "recall": _ratio(real_correct, real_gold),
                      "predicted": real_pred, "support": real_gold, "correct": real_correct},
            "classes": classes,
            "mistakes": mistakes[f],
        }
    return report


def markdown_table(field_report: Mapping[str, Any], field: str) -> str:
    """One field of :func:`evaluate` as a Markdown table (for the README)."""

    def pct(x: float | None) -> str:
        return "–" if x is None else f"{x:.2f}"

    lines = [f"| {field} | precision | recall | labelled | predicted |", "|---|---:|---:|---:|---:|"]
    for value, c in field_report["classes"].items():
        lines.append(f"| `{value}` | {pct(c['precision'])} | {pct(c['recall'])} | "
                     f"{c['support']} | {c['predicted']} |")
    micro = field_report["micro"]
    lines.append(f"| **micro, excluding `{NOTHING[field]}`** | {pct(micro['precision'])} | "
                 f"{pct(micro['recall'])} | {micro['support']} | {micro['predicted']} |")
    lines.append(f"| **accuracy, all {field_report['n']} rows** | {pct(field_report['accuracy'])} "
                 "| | | |")
    return "\n".join(lines)
