"""Findings as JSON objects (``Queries.findings(as_json=True)``, what `monitor findings --format
json` writes): SQLite writes each finding's JSON before and after its explanation, and gives the
stored explanation and its report's resolution as stored (packed or not: :mod:`.packing`); the
explanation is put back here, as
``LedgerBase._full_explanations`` puts it back for the rows (:mod:`.compact`), in its canonical
text. The notes' entries are made once per distinct notes text of a chunk, where SQLite made
them for every finding (``json_each``, a join and ``group_concat``, then the whole
explanation parsed again by ``json()``): ~7 µs a finding, 0.30 -> 0.22 s for the 8,960 findings
of the bench's query on a million.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .chain import canonical_json
from .compact import (
    NOTES_MARKER_TEXT,
    full_explanation,
    full_notes,
    shared_note_seqs,
    stored_notes,
)

_MARKER_BYTES = NOTES_MARKER_TEXT.encode()


def json_findings(fetched: Sequence[Sequence[Any]],
                  texts_of: Callable[[Iterable[int]], dict[int, str]],
                  unpack: Callable[[str], str]) -> list[bytes]:
    """Findings as JSON objects (``findings(as_json=True)``) from rows of SQLite's JSON before
    the explanation, the stored explanation (a shared one put back), its report's resolution
    as stored and SQLite's JSON after it: each explanation put back as the rows read it
    (``LedgerBase._full_explanations``), in its canonical text. Each distinct resolution is
    read, and its notes made into entries, once for the chunk (a report's findings are next
    to each other: they share its event time), not for the statement: a year of reports has
    as many resolutions as reports (the zone note names the point), and a statement's output
    is written a chunk at a time so as to hold no more. ``texts_of`` reads shared texts,
    ``unpack`` gives a stored resolution's JSON text (:meth:`.packing.Unpacker.sql`)."""
    memo: dict[str, bytes] = {}  # resolution (as stored) -> its notes' entries' JSON
    wanted = {notes for _, stored, notes, _ in fetched
              if notes is not None and notes not in memo and stored is not None
              and _MARKER_BYTES in stored}
    lists = {notes: stored_notes(notes, unpack) for notes in wanted}
    texts = texts_of(n for some in lists.values() for n in shared_note_seqs(some))
    for notes, some in lists.items():
        if isinstance(some, list) and some and all(type(n) in (str, int) for n in some):
            memo[notes] = ",".join('{"resolution":' + json.dumps(n, ensure_ascii=False) + "}"
                                   for n in full_notes(some, texts)).encode()
    out = []
    for head, stored, notes, tail in fetched:
        if stored is None:
            explanation = b"null"
        elif b'"resolution_notes"' not in stored:  # no marker: as stored
            explanation = stored
        elif notes in memo and stored.count(_MARKER_BYTES) == 1:
            explanation = stored.replace(_MARKER_BYTES, memo[notes])
        else:  # the marker written otherwise, twice, or odd notes: as the rows read
            some = stored_notes(notes, unpack)
            explanation = canonical_json(full_explanation(json.loads(stored), None if (
                some is None) else full_notes(some, texts_of(shared_note_seqs(
                    some))))).encode()
        # head without its "}" and tail without its "{", a comma beside each that holds a key
        out.append(b"".join((head[:-1], b"," * (len(head) > 2), b'"explanation":', explanation,
                             b"," * (len(tail) > 2), tail[1:])))
    return out
