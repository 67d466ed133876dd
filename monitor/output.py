"""Rendering rows for people and programs: tables (rich), JSON, CSV."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

if TYPE_CHECKING:  # rich is imported to print a table, not to write JSON or CSV
    from rich.console import Console

# Cells that a spreadsheet would run as a formula (CSV injection: '=cmd|...').
FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float made None: JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(value: Any, indent: int | None = None) -> str:
    """Valid JSON for any output: non-finite numbers become null (``1e999`` in a query is
    Infinity, which JSON parsers refuse), other objects their text."""
    return json.dumps(_finite(value), indent=indent, ensure_ascii=False, default=str,
                      allow_nan=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def safe_csv_cell(value: Any) -> str:
    """A CSV cell that spreadsheets show as text, never run as a formula; a list of words
    ("charged_to") is "a; b", anything else structured is JSON."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        text = "; ".join(value)
    else:
        text = _cell(value) if not isinstance(value, (list, dict)) else json.dumps(
            value, ensure_ascii=False)
    if text.startswith(FORMULA_LEAD) and not _is_number(text):
        return "'" + text
    return text


# A plain decimal number, as a spreadsheet reads one. Not float(): it also takes "-inf", "+nan",
# "-1_0" and surrounding whitespace ("\t1", "\r-1"), which a spreadsheet takes for a formula or
# text starting with a formula character, which is escaped; ASCII
# digits only ("-٣" is not a number to a spreadsheet).
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)


def _is_number(text: str) -> bool:
    return _NUMBER.fullmatch(text) is not None


def _csv_line(cells: Sequence[Any]) -> str:
    r"""One CSV row ending in "\n". Written with "\r\n" as the terminator, then cut back: the
    csv module quotes a cell only for the terminator's own characters, so with "\n" a cell
    holding "\r" would go out unquoted, and spreadsheets start a new row at the "\r" ("Kafr
    Nabl\r=cmd|..." would put a formula cell on a line of its own)."""
    line = io.StringIO()
    csv.writer(line, lineterminator="\r\n").writerow(cells)
    return line.getvalue()[:-2] + "\n"


def render(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None,
           title: str | None = None, console: Console | None = None,
           drop: Sequence[str] = ()) -> str | None:
    """Render rows as 'table' (printed to ``console``), 'json' or 'csv' (returned as text).

    A table on a terminal fits its width: the ``drop`` columns are left out, in that order,
    while it does not even without its outer rules (a caption names them), and those rules
    only when it does not fit with them; ids are never broken over lines. Anywhere
    else (a pipe, a file) a table is one tab-separated line a row under a header line."""
    cols = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        return to_json(list(rows), indent=2)
    if fmt == "jsonl":
        return "\n".join(to_json(r) for r in rows)
    if fmt == "csv":
        return "".join(csv_lines(rows, cols))
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console(emoji=False, highlight=False)
    if not console.is_terminal:
        write_tsv(rows, cols, console.file)
        return None
    cells = {c: [_cell(row.get(c)) for row in rows] for c in cols}

    def whole(col: str) -> bool:  # ids and times are never broken over lines
        return col in WHOLE_COLUMNS or col.endswith(("_id", "_key"))

    def narrowest(col: str) -> int:  # a column's least width: its widest id, else its
        if whole(col):                 # longest word (a party, a name), up to a limit
            return max([len(col), *(len(v) for v in cells[col])])
        words = (len(w) for v in (col, *cells[col]) for w in v.split())
        return min(max(words, default=0), _WORD_MAX)

    least = {c: narrowest(c) for c in cols}  # read once: every cell of the column

    def fits(shown: list[str], edge: bool) -> bool:  # each column: its cell, a space either
        # side, a rule; then the last rule; without the edge, neither outer rule nor the space
        # inside it
        return sum(least[c] + 3 for c in shown) + 1 - (0 if edge else 4) <= console.width

    # the ``drop`` columns go, in order, only while the table does not fit even without its
    # outer rules, and those go only when it does not fit with them; then a column left out
    # that fits again comes back, the last left out first (a narrow one may fit where the
    # wider one left out after it does not)
    droppable, dropped = [c for c in drop if c in cols], []
    while droppable and not fits(cols, False):
        dropped.append(droppable.pop(0))
        cols.remove(dropped[-1])
    for col in dropped[::-1]:
        back = [c for c in cells if c in cols or c == col]  # in the columns' own order
        if fits(back, False):
            cols, dropped = back, [c for c in dropped if c != col]
    edge = fits(cols, True)
    # a column left out is said under the table, so no one takes it for missing
    caption = (f"not shown at {console.width} columns: {', '.join(dropped)} (a wider terminal "
               "shows them; --format csv or json has every column)") if dropped else None
    table = Table(title=title, caption=caption, show_lines=False, show_edge=edge, pad_edge=edge)
    # the values as they are, never read as rich markup or emoji codes: "[east] Aleppo" stays
    # whole, "[link=...]" links nowhere and "manual:a:1" is not "manual🅰1"
    for col in cols:
        table.add_column(Text(col), no_wrap=whole(col), min_width=least[col],
                         overflow="fold")
    for i in range(len(rows)):
        table.add_row(*(Text(cells[c][i]) for c in cols))
    console.print(table)
    return None


def csv_lines(rows: Iterable[dict[str, Any]], cols: Sequence[str]) -> Iterator[str]:
    """``rows`` as CSV lines, the header first, a row's line when it is asked for."""
    yield _csv_line(cols)
    for row in rows:
        yield _csv_line([safe_csv_cell(row.get(c)) for c in cols])


def write_csv(rows: Iterable[dict[str, Any]], cols: Sequence[str], out: TextIO) -> None:
    """``rows`` as CSV (:func:`csv_lines`) to ``out``, a row at a time."""
    for line in csv_lines(rows, cols):
        out.write(line)
    out.flush()


def write_tsv(rows: Iterable[dict[str, Any]], cols: Sequence[str], file: TextIO) -> None:
    """A table for a pipe or a file: one line a row, tab-separated, header first (as `gh`
    does), so that grep, cut and sort see whole rows and whole ids; written row by row."""
    file.write(_tsv_line(cols))
    for row in rows:
        file.write(_tsv_line([_cell(row.get(c)) for c in cols]))
    file.flush()


# A column whose text wraps is never narrower than its longest word ("syrian_government" was
# broken "syrian_go / vernment" in 80 columns), but a longer word than this is broken.
_WORD_MAX = 24


# Columns a table never breaks over lines: what a user copies or greps for.
WHOLE_COLUMNS = frozenset({"finding_id", "incident_id", "report_key", "occurred", "source",
                           "term", "seq", "head"})


def _tsv_line(cells: Sequence[str]) -> str:
    return "\t".join(" ".join(str(c).split()) for c in cells) + "\n"


def write_json_texts(chunks: Iterable[Sequence[bytes]], fmt: str, out: BinaryIO) -> None:
    """Write rows already made as JSON object texts in UTF-8 (``Ledger.finding_chunks(
    as_json=True)``), a chunk at a time, to ``out`` as 'json' (an array, one object a line)
    or 'jsonl' (one object a line): never decoded and encoded again, nor turned into Python
    text, nor held all at once (9,000 findings are 25 MB, a year of them gigabytes)."""
    between = b"\n" if fmt == "jsonl" else b",\n"
    started = False
    for chunk in chunks:
        if chunk:
            out.write(between if started else b"[\n" * (fmt == "json"))
            out.write(between.join(chunk))
            started = True
    if fmt == "json":
        out.write(b"\n]\n" if started else b"[]\n")
    elif started:
        out.write(b"\n")
    out.flush()


def write_json_rows(chunks: Iterable[Sequence[dict[str, Any]]], fmt: str, out: TextIO) -> None:
    """Rows, a chunk at a time, to ``out`` as 'json' (the array :func:`render` gives, each
    object indented) or 'jsonl' (one object a line)."""
    started = False
    for chunk in chunks:
        for row in chunk:
            if fmt == "jsonl":
                out.write(to_json(row) + "\n")
            else:
                out.write(",\n" if started else "[\n")
                out.write(textwrap.indent(to_json(row, indent=2), "  "))
            started = True
    if fmt == "json":
        out.write("\n]\n" if started else "[]\n")
    out.flush()


def write_feature_collection(features: Iterable[dict[str, Any]], out: TextIO) -> None:
    """A GeoJSON FeatureCollection of ``features``, the text :func:`to_json` gives the whole
    collection, written a feature at a time (a year of findings does not fit in memory)."""
    out.write('{"type": "FeatureCollection", "features": [')
    for n, feature in enumerate(features):
        out.write(", " * bool(n) + to_json(feature))
    out.write("]}\n")
    out.flush()
