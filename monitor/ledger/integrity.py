"""What the hash chain alone cannot show: a cut-off tail, a rolled-back or recomputed file,
and derived state edited behind the chain's back.

**Anchored heads.** The head is the last entry, written ``SEQ:HASH``. Kept outside the file (a
checkpoint file, a webhook, a brief), it pins the chain as Certificate Transparency's signed
tree heads pin a log: :func:`check_head` fails when that entry is gone (the tail was cut off,
or an older copy of the file put back) or has another hash (the chain was recomputed after an
edit) — each of which a chain that is only checked against itself cannot reveal.

**Derived state.** ``finding_state`` and ``finding_parties`` are recomputed from the chained
entries they derive from, and the views, triggers and indexes are compared with the ones the
code creates (:func:`expected_schema`): an edited row, a dropped trigger or a redefined view
is named. :func:`rebuild` restores both from the chain and the code; the chain itself is never
touched.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .. import diskcache
from . import schema
from .schema import (
    DERIVED_TABLES,
    PARTY_COLUMNS,
    PARTY_FINDING,
    PARTY_FINDINGS_SQL,
    PARTY_ROW_SQL,
    SCORECARD_COLUMNS,
    SCORECARD_FROM_PARTIES,
    quote,
)

HEAD = re.compile(r"^(?P<seq>\d+):(?P<hash>[0-9a-f]{64})$")
_STATE_FROM_CHAIN = (
    "SELECT id AS finding_id, (SELECT s.status FROM status_changes s WHERE s.finding_id = ids.id "
    "ORDER BY s.seq DESC LIMIT 1) AS status, (SELECT c.confidence FROM confidence_changes c "
    "WHERE c.finding_id = ids.id ORDER BY c.seq DESC LIMIT 1) AS confidence FROM (SELECT "
    "finding_id AS id FROM status_changes UNION SELECT finding_id FROM confidence_changes) ids")
_PARTY_COLUMNS = ", ".join(PARTY_COLUMNS)
_PARTIES_SELECT = f"SELECT {PARTY_ROW_SQL} {PARTY_FINDINGS_SQL}"
# An intact finding_parties row has the seq of the finding it is made from as its rowid (every
# writer: schema.PARTIES_FROM_FINDINGS; a status change updates it in place). Each finding is
# then joined to its row by a seek of that rowid, in seq order, and SQLite compares the row
# with what the chain gives column by column (IS: NULL matches NULL, a blob matches no text).
# Every finding has its row and no row is left over when the joined rows are as many as the
# findings and as the table's rows: the fast check of an intact table. A table written
# otherwise (renumbered by a VACUUM, written by hand) is not wrong for that: the exact
# comparison decides.
_BY_SEQ = ("SELECT (SELECT count(*) FROM finding_parties), count(*), count(p.rowid), "
           f"coalesce(sum(({', '.join('p.' + c for c in PARTY_COLUMNS)}) IS NOT "
           f"({PARTY_ROW_SQL})), 0) FROM findings f LEFT JOIN finding_parties p ON p.rowid = "
           f"f.seq WHERE {PARTY_FINDING}")
# Whether the last row is numbered by the last finding's seq: a table numbered otherwise (a
# ledger not yet migrated by m012, read by a verify that does not write) fails it at once.
_LAST_BY_SEQ = ("SELECT (SELECT max(rowid) FROM finding_parties) IS (SELECT f.seq FROM findings "
                f"f WHERE {PARTY_FINDING} ORDER BY f.seq DESC LIMIT 1)")


def parse_head(text: str) -> tuple[int, str]:
    """``"SEQ:HASH"`` -> (seq, hash); ValueError naming the expected form."""
    m = HEAD.match(text.strip())
    if not m:
        raise ValueError(f"{text!r} is not a head: expected SEQ:HASH, as `monitor ledger head` "
                         "prints it (e.g. 1234:9f86d081...)")
    return int(m["seq"]), m["hash"]


def head_of(conn: Any, tables: Sequence[str]) -> tuple[int, str]:
    """The last entry of the chain: (seq, hash); (0, "") for an empty ledger."""
    heads = [row for name in tables for row in conn.execute(
        f"SELECT seq, hash FROM {quote(name)} ORDER BY seq DESC LIMIT 1")]
    return max(heads, default=(0, ""))


def check_head(conn: Any, tables: Sequence[str], anchor: str) -> str | None:
    """What became of an anchored head ``SEQ:HASH`` in this file, or None when it is there."""
    seq, digest = parse_head(anchor)
    found = [row for name in tables for row in conn.execute(
        f"SELECT hash, ? FROM {quote(name)} WHERE seq = ?", [name, seq])]
    last, _ = head_of(conn, tables)
    if not found:
        if last < seq:
            return (f"the anchored head {seq} is past the end of the ledger (entry {last}): "
                    "entries were cut off the tail, or an older copy of the file was put back")
        return f"the anchored head's entry {seq} is gone from the ledger"
    if found[0][0] != digest:
        return (f"entry {seq} ({found[0][1]}) does not have the anchored head's hash: the "
                "chain was recomputed after an edit, or the file was replaced by another")
    return None


def expected_schema(applied: frozenset[str] | None = None) -> dict[tuple[str, str], str]:
    """(type, name) -> SQL of every view, trigger and index the code creates in a ledger
    (``applied``: in one that has had only the migrations of these names)."""
    return _expected(schema.MIGRATIONS, tuple(schema.CHAINED_TABLES), applied)


@lru_cache(maxsize=8)
def _expected(migrations: Any, chained: tuple[str, ...],
              applied: frozenset[str] | None) -> dict[tuple[str, str], str]:
    """The schema ``migrations`` create: kept in the disk cache (:func:`_expected_entry`), else
    built in memory by sqlite-utils (importing it, and numpy with it, is ~0.1 s of a verify
    that takes ~0.25 s on a small ledger)."""
    entry = _expected_entry(migrations, applied)
    found = diskcache.load(entry) if entry is not None else None
    rows = found[0].get("schema") if found is not None else None
    if isinstance(rows, list) and all(isinstance(row, list) and len(row) == 3 and all(
            isinstance(x, str) for x in row) for row in rows):
        return {(kind, name): sql for kind, name, sql in rows}
    import sqlite_utils

    db = sqlite_utils.Database(memory=True)
    if applied is None:
        migrations.apply(db)
    else:
        migrations.apply(db, only=applied)
    made = _schema(db.conn)
    if entry is not None:
        diskcache.save(entry, {"schema": [[*key, sql] for key, sql in sorted(made.items())]}, [])
    return made


def _expected_entry(migrations: Any, applied: frozenset[str] | None,
                    code: Path = Path(__file__).parent) -> str | None:
    """The disk cache's entry for the schema ``migrations`` create: named by their steps, the
    chained tables registered, the code they are made of (this package's modules and those the
    steps are defined in) and SQLite's version; None for migrations that are not the code's
    own (a test's), built every time. ``code``: this package's folder. The migrations only
    run SQL of their own (no sqlite-utils helper writes it), so its version is not in the
    name."""
    steps = getattr(migrations, "_steps", None)
    if not isinstance(steps, list) or not all(
            getattr(fn, "__module__", "").startswith("monitor.") for _, fn in steps):
        return None
    root = code.parent  # the package's folder: monitor.ledger.schema is ledger/schema.py
    files = {*code.glob("*.py"), root / "vocabulary.py", *(
        root.joinpath(*fn.__module__.split(".")[1:]).with_suffix(".py") for _, fn in steps)}
    try:
        code_parts = diskcache.files(root, sorted(str(path.relative_to(root)) for path in files))
    except (OSError, ValueError):  # a step whose module is not a file of the package
        return None
    return diskcache.digest(
        "schema", sqlite3.sqlite_version, repr(sorted(applied) if applied is not None else None),
        repr([(name, fn.__module__, fn.__qualname__) for name, fn in steps]),
        repr(sorted((t, sorted((c, k.__name__) for c, k in cols.items()))
                    for t, cols in schema.CHAINED_TABLES.items())),
        *code_parts)


def applied(conn: Any) -> frozenset[str] | None:
    """The migrations a ledger has had, when some of the code's are still pending (a file
    written by an older version, opened read-only since); None when it has had them all."""
    try:
        done = {r[0] for r in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
            [schema.MIGRATIONS.name])}
    except sqlite3.OperationalError:  # no migrations table: compare with the full schema
        return None
    names = getattr(schema.MIGRATIONS, "names", None)  # None: not our registry (a test's)
    if names is None or set(names) <= done:
        return None
    # an older version had the first k steps; anything else (a step missing in the middle) is
    # compared with the full schema, so removing the record of a step hides nothing it made
    k = len(done & set(names))
    return frozenset(names[:k]) if set(names[:k]) == done & set(names) else None


def _schema(conn: Any) -> dict[tuple[str, str], str]:
    return {(kind, name): " ".join(str(sql).split()) for kind, name, sql in conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE type IN ('view', 'trigger', 'index') "
        "AND sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")}


_AT_END = ("{n} missing ({names}): an import of a big file into an empty ledger builds them at "
           "its end, and one is running or was stopped; the next command that writes to the "
           "ledger builds them")


def schema_problems(conn: Any) -> list[str]:
    """Views, triggers and indexes that differ from the code's: missing, changed or extra. A
    file with migrations still pending (written by an older version; the next write applies
    them) is compared with what the migrations it has had create."""
    want, have = expected_schema(applied(conn)), _schema(conn)
    missing = sorted(want.keys() - have.keys())
    at_end = [name for kind, name in missing if kind == "index" and name in schema.INDEXES_AT_END]
    out = [f"{kind} {name} is missing" for (kind, name) in missing if name not in at_end]
    if at_end:
        out.append(_AT_END.format(n=f"{len(at_end)} indexes are" if len(at_end) > 1 else
                                  "an index is", names=", ".join(at_end)))
    out += [f"{kind} {name} differs from the code's definition"
            for (kind, name) in sorted(want.keys() & have.keys())
            if want[(kind, name)] != have[(kind, name)]]
    out += [f"{kind} {name} is not one the code creates"
            for (kind, name) in sorted(have.keys() - want.keys())]
    return out


def derived_problems(conn: Any) -> list[str]:
    """Rows of the derived tables that the chained entries do not give, or lack."""
    out = []
    # finding_parties first: scorecard_counts is checked against it
    checks = (("finding_state", "finding_id, status, confidence", _STATE_FROM_CHAIN),
              ("finding_parties", _PARTY_COLUMNS, _PARTIES_SELECT),
              ("scorecard_counts", ", ".join(SCORECARD_COLUMNS), SCORECARD_FROM_PARTIES))
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.execute("SAVEPOINT derived_check")  # one snapshot for every query below
    try:
        for table, columns, derived in checks:
            if table not in present:
                continue  # a ledger before its derived tables (schema_problems names it)
            if table == "finding_parties" and _parties_by_seq(conn):
                continue
            problem = _compare(conn, table, columns, derived)
            if problem:
                out.append(problem)
    finally:
        conn.execute("RELEASE derived_check")
    return out


def _compare(conn: Any, table: str, columns: str, derived: str) -> str | None:
    """What differs between ``table`` and ``derived`` (the rows the chain gives), compared as
    multisets by SQLite in one GROUP BY (the derived SELECT, which reads every finding, runs
    once); None when nothing does. Both sides hold text and NULL, and a blob only if edited
    in: GROUP BY keeps apart values of different types."""
    extra, missing, rows, wanted = conn.execute(
        f"SELECT coalesce(sum(max(n, 0)), 0), coalesce(sum(max(-n, 0)), 0), coalesce(sum("
        f"have), 0), coalesce(sum(want), 0) FROM (SELECT sum(side) AS n, sum(side = 1) AS have, "
        f"sum(side = -1) AS want FROM (SELECT {columns}, 1 AS side FROM {table} UNION ALL "
        f"SELECT *, -1 FROM ({derived})) GROUP BY {columns})").fetchone()
    if extra or missing or rows != wanted:
        return (f"{table} does not match the chain: {extra} row(s) the entries do not give, "
                f"{missing} they give missing ({rows} rows, {wanted} expected)")
    return None


def _parties_by_seq(conn: Any) -> bool:
    """Whether finding_parties is, row for row, what the chain gives, each row numbered by its
    finding's seq (:data:`_BY_SEQ`). False only says that the exact comparison must decide."""
    try:
        if not conn.execute(_LAST_BY_SEQ).fetchone()[0]:
            return False
        rows, findings, joined, differ = conn.execute(_BY_SEQ).fetchone()
    except Exception:  # noqa: BLE001 - charged_to that is not JSON (sqlite3's or sqlean's error)
        return False
    return rows == findings == joined and differ == 0


def rebuild(conn: sqlite3.Connection) -> list[str]:
    """Restore the derived tables from the chain and the views, triggers and indexes from the
    code, in one transaction of ``conn`` (the caller's); what was restored."""
    done = derived_problems(conn) + schema_problems(conn)
    want, have = expected_schema(), _schema(conn)
    for kind, name in sorted(have.keys() - want.keys()) + [
            k for k in sorted(want.keys() & have.keys()) if want[k] != have[k]]:
        conn.execute(f"DROP {kind.upper()} IF EXISTS {quote(name)}")
    have = _schema(conn)
    # views before the triggers and indexes that may name them; tables are never re-created
    order = {"index": 0, "view": 1, "trigger": 2}
    for kind, name in sorted(want.keys() - have.keys(), key=lambda k: order[k[0]]):
        conn.execute(want[(kind, name)])
    conn.execute("DELETE FROM finding_state")
    conn.execute(f"INSERT INTO finding_state (finding_id, status, confidence) {_STATE_FROM_CHAIN}")
    schema.derive_parties(conn.execute)
    return done


__all__ = ["DERIVED_TABLES", "applied", "check_head", "derived_problems", "expected_schema",
           "head_of", "parse_head", "rebuild", "schema_problems"]
