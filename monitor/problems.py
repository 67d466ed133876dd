"""Problems found in input or configuration, reported all at once with a hint each."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import MonitorError

if TYPE_CHECKING:  # pydantic is imported by what validates, not by what reports
    from pydantic import ValidationError


@dataclass(frozen=True)
class Problem:
    """One thing wrong, located by file and key, with the fix when we can guess it.

    ``str(problem)`` reads ``config/actors.yaml: actors[12].side: 'coh_oposition' is not a side.
    Did you mean 'coh_opposition'?``"""

    file: str
    key: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        where = f"{self.file}: {self.key}: " if self.key else f"{self.file}: "
        return where + self.message + (f" {self.hint}" if self.hint else "")


class ProblemsError(MonitorError):
    """Raised when a set of files has problems; carries every one of them."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(value: object, choices: Iterable[str]) -> str:
    """A 'Did you mean ...?' hint for a value not among choices, or a list of the choices."""
    choices = sorted(set(choices))
    within = [c for c in choices if str(value).lower() in c.lower()]
    if len(within) == 1:  # "syria" -> "syrian_government"
        return f"Did you mean {within[0]!r}?"
    close = difflib.get_close_matches(str(value), choices, n=1, cutoff=0.6)
    if close:
        return f"Did you mean {close[0]!r}?"
    if len(choices) <= 12:
        return "Expected one of: " + ", ".join(repr(c) for c in choices) + "."
    return ""


def location(loc: Iterable[Any], prefix: str = "") -> str:
    """Render a pydantic error location as ``actors[12].side``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def from_validation(file: str, error: ValidationError, prefix: str = "") -> list[Problem]:
    """Turn a pydantic ValidationError into one Problem per error, each naming its field."""
    problems = []
    for err in error.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and "[" in p)]
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "is not a known field; remove it or check its spelling"
        elif err["type"] == "missing":
            msg = "is required but missing"
        problems.append(Problem(file, location(loc, prefix), msg))
    return problems


def _yaml() -> tuple[Any, Any]:
    """PyYAML, imported when a file is read (a read command that finds what it needs of the
    pack in the disk cache reads none, :mod:`monitor.settings`: ~10 ms of its start-up), and
    libyaml's parser when PyYAML was built with it (a 5,000-row zones.yaml: ~8 s with the
    pure-Python parser, well under 1 s with libyaml); a file it refuses is parsed again by the
    pure-Python one, whose messages name the line as the problems always have."""
    import yaml

    return yaml, getattr(yaml, "CSafeLoader", None)


# Limits on every YAML file the monitor reads (configuration, packs, rules, cases, feeds): a
# file larger than any real pack's, or an "alias bomb" (a few lines of anchors that expand to
# gigabytes), is a problem reported like a syntax error, never a hang or an out-of-memory.
MAX_YAML_BYTES = 20_000_000
MAX_YAML_NODES = 5_000_000  # values once every alias is expanded


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """Load a YAML file safely, within :data:`MAX_YAML_BYTES` and :data:`MAX_YAML_NODES`; a
    syntax error or a limit becomes a Problem naming the line or the limit."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
        if len(raw) > MAX_YAML_BYTES:
            return None, [Problem(str(path), "", f"is over {MAX_YAML_BYTES:,} bytes, more than "
                                  "any configuration or rule file needs; refused")]
        text = raw.decode("utf-8")
    except FileNotFoundError:
        return None, [Problem(str(path), "", "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(str(path), "", f"cannot be read: {exc}")]
    yaml, fast_loader = _yaml()
    if "*" in text and _expanded_size(text) > MAX_YAML_NODES:
        return None, [Problem(str(path), "", f"its YAML aliases (*name) expand to more than "
                              f"{MAX_YAML_NODES:,} values; refused (an alias bomb)",
                              "Write the values out instead of aliasing them.")]
    if fast_loader is not None:
        try:
            return yaml.load(text, Loader=fast_loader), []
        except yaml.YAMLError:
            pass
    try:
        return yaml.safe_load(text), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return None, [Problem(str(path), where, f"is not valid YAML: {reason}")]


def _expanded_size(text: str) -> int:
    """How many values a YAML text holds once its aliases are expanded, counted on the
    parser's events (nothing is built), stopping just past the limit; 0 when it does not
    parse (the loader then names the error)."""
    sizes: dict[str, int] = {}  # anchor -> the size of its node
    stack: list[list[Any]] = []  # [anchor, size so far] of each open collection
    total = 0
    yaml, fast_loader = _yaml()
    try:
        for event in yaml.parse(text, Loader=fast_loader or yaml.SafeLoader):
            if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                stack.append([event.anchor, 1])
                continue
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                anchor, size = stack.pop()
            elif isinstance(event, yaml.ScalarEvent):
                anchor, size = event.anchor, 1
            elif isinstance(event, yaml.AliasEvent):
                anchor, size = None, sizes.get(event.anchor, 1)
            else:
                continue
            if anchor:
                sizes[anchor] = size
            if stack:
                stack[-1][1] += size
            else:
                total += size
            if total > MAX_YAML_NODES or (stack and stack[-1][1] > MAX_YAML_NODES):
                return MAX_YAML_NODES + 1
    except yaml.YAMLError:
        return 0
    return total


def read_model(path: Path, label: str, expected: str, model: Any,
               problems: Any) -> tuple[Any, list[Problem]]:
    """A YAML mapping file validated by ``model``: (the model, []) or (None, the problems);
    ``problems(label, error, data)`` names each validation error (with the file's own hints).
    ``expected`` says which keys the top level holds."""
    from pydantic import ValidationError

    data, found = read_mapping(path, label, expected)
    if data is None:
        return None, found
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, problems(label, exc, data)


def read_mapping(path: Path, label: str, expected: str) -> tuple[dict[str, Any] | None,
                                                                 list[Problem]]:
    """A YAML file whose top level must be a mapping (``expected`` says with which keys): its
    data, or the problems named under ``label``, with an example to follow."""
    data, problems = read_yaml(path)
    if problems:
        return None, [Problem(label, p.key, p.message, p.hint) for p in problems]
    if not isinstance(data, dict):
        return None, [Problem(label, "", f"must be a mapping with {expected}",
                              f"See config/syria-2016/{path.name} for an example.")]
    return data, []
