"""Store what cannot be derived: what a finding's explanation and an incident's resolution leave
out of the ledger because another column already holds it, and how a read puts it back.

**Explanation.** The judge ends a finding's explanation with one ``{"resolution": NOTE}`` entry
per note of the resolution it judged (how each value was decided), and the incident row of the
same report keeps those notes already (``incidents.resolution`` → ``notes``). So when they are
exactly the notes of that row, the stored explanation holds :data:`NOTES_MARKER` in their place:
the row is the one whose ``report_key`` is the finding's report (``feed:source_id:revision``,
:data:`REPORT_KEY_SQL`). An explanation without the marker (any ledger written before, a
finding re-judged under a resolution the incident row does not hold, a report without notes) is
stored, and read, as the judge wrote it.

**Resolution.** The keys of :data:`RESOLUTION_COLUMNS` repeat columns of the same incident row
(``attacker_sides``, ``zones``, ``admin1`` for ``governorate``...): a key is left out when the
column gives back its value exactly, and the stored resolution then says so with
:data:`FROM_COLUMNS` (``"from_columns": 1``); a read puts the missing keys back from the
columns. A resolution without that key (every one recorded before; older ones lack keys added
since, ``governorate`` for one) is read as stored.

**Said again.** Most notes are said of many incidents ("attacker: 'Military Forces of Syria
(2000-)' -> syrian_government ...", "platform=unknown ...") and most explanations (as stored,
the notes left out) of many findings: a text that repeats is stored once, as an entry of the
chained table ``shared_texts`` (:meth:`.shared.SharedTexts.share_texts` says which), and the
row holds that entry's ``seq``, an integer, in its place: a resolution's ``notes`` in place of
a note (a note is otherwise text), a finding's ``explanation`` in place of the whole
explanation (one is otherwise a list). The chain covers both the reference and the text it
names.

:func:`full_explanation` and :func:`full_resolution` are the rebuilding, the one definition:
every reader of the ledger's Python interface gets it (``LedgerBase._rows``).
:data:`EXPLANATION_SQL` and :data:`RESOLUTION_SQL` do the same in SQL, for the views
``findings_explained`` and ``incidents_resolved`` (plain SQL and Datasette); a test checks them
against what the judge produced on a real ledger (the explanation byte for byte, the resolution
value for value). The JSON of ``findings(as_json=True)`` is SQLite's, but for the explanation:
the stored one and its report's notes are read, and Python puts them back as these functions
do, each report's notes once (:mod:`.findings_json`; SQLite took ~7 µs a finding more).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

# What a stored explanation holds in place of its incident's resolution notes.
NOTES_MARKER: dict[str, str] = {"resolution_notes": "incidents.resolution"}
NOTES_MARKER_TEXT = '{"resolution_notes":"incidents.resolution"}'  # as canonical JSON


def _utc_z(column: Any) -> Any:
    # the resolution writes UTC as "Z" (pydantic's form), the column as "+00:00" (ledger.iso)
    return column[:-6] + "Z" if isinstance(column, str) and column.endswith("+00:00") else None


def _same(column: Any) -> Any:
    return column


# The key of a stored resolution that left out keys its row's columns hold (its value: the
# revision of RESOLUTION_COLUMNS that says which column gives which key).
FROM_COLUMNS = "from_columns"
# resolution key -> (incidents column, how the column's value gives the key's)
RESOLUTION_COLUMNS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "attacker_sides": ("attacker_sides", _same), "target_sides": ("target_sides", _same),
    "attribution": ("attribution", _same), "event_type": ("event_type", _same),
    "platform": ("platform", _same), "target_category": ("target_category", _same),
    "zones": ("zones", _same), "governorate": ("admin1", _same),
    "start": ("occurred_start", _utc_z), "end": ("occurred_end", _utc_z),
}


def compact_explanation(explanation: Sequence[Mapping[str, Any]],
                        notes: Sequence[str]) -> list[Any]:
    """The explanation to store for a finding whose report's incident row keeps ``notes``:
    when its ``{"resolution": note}`` entries are one run and exactly those notes, the run
    becomes :data:`NOTES_MARKER`; otherwise (or without notes) it is stored as it is."""
    out = list(explanation)
    at = [i for i, entry in enumerate(out) if len(entry) == 1 and "resolution" in entry]
    if notes and at and at == list(range(at[0], at[0] + len(notes))) and [
            out[i]["resolution"] for i in at] == list(notes):
        return out[:at[0]] + [dict(NOTES_MARKER)] + out[at[-1] + 1:]
    return out


def has_marker(explanation: Sequence[Any]) -> bool:
    """Whether a stored explanation needs its incident's notes to be read."""
    return NOTES_MARKER in explanation


def full_explanation(stored: Sequence[Any], notes: Sequence[str] | None) -> list[Any]:
    """The explanation as the judge wrote it, from the stored one and the notes of its report's
    incident row (what :func:`compact_explanation` left out)."""
    try:
        at = stored.index(NOTES_MARKER)
    except ValueError:
        return list(stored)
    if notes is None:
        raise ValueError("the explanation refers to its incident's resolution notes, and the "
                         "ledger has no incident row of its report")
    if not isinstance(notes, list):
        raise ValueError(f"the explanation refers to its incident's resolution notes, and "
                         f"they are not a list: {notes!r:.80}")
    return [*stored[:at], *({"resolution": n} for n in notes), *stored[at + 1:]]


def compact_resolution(resolution: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The resolution to store in the incident row ``row``: without the keys the row's columns
    give back exactly, marked :data:`FROM_COLUMNS` when it left any out."""
    if FROM_COLUMNS in resolution:
        raise ValueError(f"a resolution has no key {FROM_COLUMNS!r} of its own")
    out = {k: v for k, v in resolution.items()
           if not (k in RESOLUTION_COLUMNS and RESOLUTION_COLUMNS[k][0] in row
                   and RESOLUTION_COLUMNS[k][1](row[RESOLUTION_COLUMNS[k][0]]) == v)}
    return out | {FROM_COLUMNS: 1} if len(out) < len(resolution) else out


def share_notes(resolution: Mapping[str, Any], shared: Mapping[str, int]) -> Mapping[str, Any]:
    """A resolution to store with each note that ``shared`` holds (text -> seq of its
    ``shared_texts`` entry) replaced by its seq (:func:`full_notes` puts them back)."""
    if not shared or not resolution.get("notes"):
        return resolution
    return {**resolution, "notes": [shared.get(n, n) for n in resolution["notes"]]}


def shared_note_seqs(notes: Any) -> list[int]:
    """The ``shared_texts`` entries a stored resolution's ``notes`` refer to."""
    return [n for n in notes if type(n) is int] if isinstance(notes, list) else []


def full_notes(notes: Any, texts: Mapping[int, str]) -> Any:
    """A stored resolution's ``notes`` with each reference replaced by the text ``texts``
    (seq -> text of the ``shared_texts`` entries) gives it."""
    seqs = shared_note_seqs(notes)
    if not seqs:  # (not a list, or a list without references: as stored)
        return notes
    missing = [n for n in seqs if n not in texts]
    if missing:
        raise ValueError(f"the resolution refers to shared_texts entries {missing} the ledger "
                         "does not hold")
    return [texts[n] if type(n) is int else n for n in notes]


def full_resolution(stored: Mapping[str, Any], row: Mapping[str, Any],
                    texts: Mapping[int, str] | None = None) -> dict[str, Any]:
    """An incident's resolution as resolved (its keys sorted, as stored JSON has them), from the
    stored one, the columns of its row and ``texts``, the shared notes it refers to (seq ->
    text); one without :data:`FROM_COLUMNS` is as stored, but for its notes."""
    if shared_note_seqs(stored.get("notes")):
        stored = {**stored, "notes": full_notes(stored["notes"], texts or {})}
    if stored.get(FROM_COLUMNS) != 1:
        return dict(stored)
    out = {k: v for k, v in stored.items() if k != FROM_COLUMNS}
    for key, (column, value_of) in RESOLUTION_COLUMNS.items():
        if key not in out:
            if column not in row:
                raise ValueError(f"the resolution is read without the column {column} that "
                                 f"gives its {key}: select the incident's whole row")
            out[key] = value_of(row[column])
    return dict(sorted(out.items()))


def stored_notes(resolution: str | None, unpack: Callable[[str], str]) -> Any:
    """The ``notes`` of an incident's resolution as stored (its text, packed or not; None for
    no row), as stored: None when it has none."""
    value = None if resolution is None else json.loads(unpack(resolution))
    return value.get("notes") if isinstance(value, dict) else None


# --- the same in SQL -----------------------------------------------------------------------

def _key_part_sql(column: str) -> str:
    return f"replace(replace({column}, '%', '%25'), ':', '%3A')"


# A finding's report key, as monitor.models.report_key builds it, from a findings row ``f``.
REPORT_KEY_SQL = (f"(f.feed || ':' || {_key_part_sql('f.source_id')} || ':' || "
                  f"{_key_part_sql('f.revision')})")
# A note of incident ``i``'s stored resolution, ``n`` (a row of json_each over its notes), as
# the text it stands for: an integer is the seq of a shared_texts entry
NOTE_SQL = ("(CASE n.type WHEN 'integer' THEN (SELECT t.text FROM shared_texts t WHERE t.seq = "
            "n.value) ELSE n.value END)")


def _stored_resolution(packed: bool) -> str:
    """Incident ``i``'s stored resolution in SQL: unpacked by ``ledger_json`` (.packing) in
    a file that may hold packed ones (``packed``)."""
    return "ledger_json(i.resolution)" if packed else "i.resolution"


def _notes_entries_sql(note: str, packed: bool) -> str:
    """finding ``f``'s explanation as the judge wrote it, as canonical JSON text: the marker
    replaced by the notes' entries (a marker is only stored for a report with notes), each
    note given by the SQL ``note``."""
    return ("(SELECT substr(a, 2, length(a) - 2) FROM (SELECT json_group_array(json_object("
            f"'resolution', {note})) AS a FROM incidents i, json_each("
            f"{_stored_resolution(packed)}, '$.notes') n WHERE i.report_key = {REPORT_KEY_SQL}))")


def _replace_marker(entries: str, explanation: str) -> str:
    """A stored explanation, ``explanation`` (SQL), with its marker replaced by ``entries``
    (SQL giving the notes' entries as JSON text)."""
    return (f"(CASE WHEN instr({explanation}, '{NOTES_MARKER_TEXT}') THEN replace({explanation}, "
            f"'{NOTES_MARKER_TEXT}', {entries}) ELSE {explanation} END)")


# finding ``f``'s stored explanation as JSON text: a shared one's (an integer) put back
STORED_EXPLANATION_SQL = (
    "(CASE WHEN f.explanation GLOB '[0-9]*' THEN (SELECT t.text FROM shared_texts t WHERE "
    "t.seq = CAST(f.explanation AS INTEGER)) ELSE f.explanation END)")


def _with_notes(entries: str, shared: bool) -> str:
    """Finding ``f``'s explanation whole: its stored one (a shared one put back, once, if the
    file has ``shared_texts``) with its marker replaced by ``entries``."""
    if not shared:
        return _replace_marker(entries, "f.explanation")
    return (f"(SELECT {_replace_marker(entries, 'e')} FROM (SELECT {STORED_EXPLANATION_SQL} "
            "AS e))")


def explanation_sql(shared: bool, packed: bool = True) -> str:
    """finding ``f``'s explanation as the judge wrote it, as canonical JSON text, in a file
    with ``shared_texts`` (``shared``) or one written before it (which SQL naming that table
    would not run on)."""
    return _with_notes(_notes_entries_sql(NOTE_SQL if shared else "n.value", packed), shared)


EXPLANATION_SQL = explanation_sql(shared=True)
# As migrations m005 (before shared_texts) and m008 (before packed resolutions) created the view
# findings_explained: kept, so that the schema a ledger of that time holds is the one its
# migrations give.
M005_EXPLANATION_SQL = explanation_sql(shared=False, packed=False)
M008_EXPLANATION_SQL = explanation_sql(shared=True, packed=False)


def _resolution_value_sql(column: str, value_of: Callable[[Any], Any]) -> str:
    if value_of is _utc_z:
        return f"substr(i.{column}, 1, length(i.{column}) - 6) || 'Z'"
    return f"json(i.{column})" if column in ("attacker_sides", "target_sides", "zones") \
        else f"i.{column}"


def _resolution_sql(notes: bool, packed: bool) -> str:
    """incident ``i``'s resolution as resolved, as JSON text (the keys put back come last),
    with its shared notes' texts put back if ``notes``, unpacked if ``packed``."""
    if packed:  # unpacked once, not once for each use of it
        return (f"(SELECT {_resolved_sql('p.r', notes)} FROM (SELECT "
                f"{_stored_resolution(packed)} AS r) p)")
    return _resolved_sql("i.resolution", notes)


def _resolved_sql(stored: str, notes: bool) -> str:
    """:func:`_resolution_sql` of the stored resolution ``stored`` (SQL), whole."""
    resolution = (
        f"(CASE WHEN json_extract({stored}, '$.{FROM_COLUMNS}') = 1 THEN json_remove("
        f"json_insert({stored}, " + ", ".join(
            f"'$.{key}', {_resolution_value_sql(column, value_of)}"
            for key, (column, value_of) in RESOLUTION_COLUMNS.items())
        + f"), '$.{FROM_COLUMNS}') ELSE {stored} END)")
    if not notes:
        return resolution
    each = f"FROM json_each({stored}, '$.notes') n"
    return (f"(CASE WHEN EXISTS (SELECT 1 {each} WHERE n.type = 'integer') THEN json_set("
            f"{resolution}, '$.notes', json((SELECT json_group_array({NOTE_SQL}) {each}))) "
            f"ELSE {resolution} END)")


RESOLUTION_SQL = _resolution_sql(notes=True, packed=True)
# as m005 and m008 created incidents_resolved
M005_RESOLUTION_SQL = _resolution_sql(notes=False, packed=False)
M008_RESOLUTION_SQL = _resolution_sql(notes=True, packed=False)
