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
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from . import schema
from .schema import DERIVED_TABLES, PARTIES_FROM_FINDINGS, quote

HEAD = re.compile(r"^(?P<seq>\d+):(?P<hash>[0-9a-f]{64})$")
_STATE_FROM_CHAIN = (
    "SELECT id AS finding_id, (SELECT s.status FROM status_changes s WHERE s.finding_id = ids.id "
    "ORDER BY s.seq DESC LIMIT 1) AS status, (SELECT c.confidence FROM confidence_changes c "
    "WHERE c.finding_id = ids.id ORDER BY c.seq DESC LIMIT 1) AS confidence FROM (SELECT "
    "finding_id AS id FROM status_changes UNION SELECT finding_id FROM confidence_changes) ids")
_PARTY_COLUMNS = "finding_id, party, instrument, term, severity, occurred, occurred_end, status"
_PARTIES_SELECT = PARTIES_FROM_FINDINGS[PARTIES_FROM_FINDINGS.index(" SELECT ") + 1:]


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
    import sqlite_utils

    db = sqlite_utils.Database(memory=True)
    if applied is None:
        migrations.apply(db)
    else:
        migrations.apply(db, only=applied)
    return _schema(db.conn)


def _applied(conn: Any) -> frozenset[str] | None:
    """The migrations a ledger has had, when some of the code's are still pending (a file
    written by an older version, opened read-only since); None when it has had them all."""
    try:
        done = {r[0] for r in conn.execute(
            "SELECT name FROM _sqlite_migrations WHERE migration_set = ?",
            [schema.MIGRATIONS.name])}
    except Exception:  # noqa: BLE001 - no migrations table: compare with the full schema
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


def schema_problems(conn: Any) -> list[str]:
    """Views, triggers and indexes that differ from the code's: missing, changed or extra. A
    file with migrations still pending (written by an older version; the next write applies
    them) is compared with what the migrations it has had create."""
    want, have = expected_schema(_applied(conn)), _schema(conn)
    out = [f"{kind} {name} is missing" for (kind, name) in sorted(want.keys() - have.keys())]
    out += [f"{kind} {name} differs from the code's definition"
            for (kind, name) in sorted(want.keys() & have.keys())
            if want[(kind, name)] != have[(kind, name)]]
    out += [f"{kind} {name} is not one the code creates"
            for (kind, name) in sorted(have.keys() - want.keys())]
    return out


def derived_problems(conn: Any) -> list[str]:
    """Rows of the derived tables that the chained entries do not give, or lack."""
    out = []
    checks = (("finding_state", "finding_id, status, confidence", _STATE_FROM_CHAIN),
              ("finding_parties", _PARTY_COLUMNS, _PARTIES_SELECT))
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    for table, columns, derived in checks:
        if table not in present:
            continue  # a ledger before its derived tables (schema_problems names it)
        # one pass over each side, both in the same order (the derived SELECT, which reads
        # every finding's JSON, runs once: three runs of it took 30 s on a million findings)
        order = ", ".join(str(i) for i in range(1, len(columns.split(", ")) + 1))
        have = conn.execute(f"SELECT {columns} FROM {table} ORDER BY {order}")
        want = conn.execute(f"SELECT * FROM ({derived}) ORDER BY {order}")
        extra, missing, rows, wanted = _compare_sorted(have, want)
        if extra or missing or rows != wanted:
            out.append(f"{table} does not match the chain: {extra} row(s) the entries do not "
                       f"give, {missing} they give missing ({rows} rows, {wanted} expected)")
    return out


def _rank(v: Any) -> tuple[int, Any]:
    """SQLite's order of values: NULL, numbers, text (by code point, which is UTF-8's byte
    order), blobs; a derived table altered by hand may hold any of them."""
    if v is None:
        return (0, 0)
    if isinstance(v, (int, float)):
        return (1, v)
    return (2, v) if isinstance(v, str) else (3, bytes(v))


def _key(row: Sequence[Any]) -> tuple[tuple[int, Any], ...]:
    return tuple(_rank(v) for v in row)


def _compare_sorted(have: Iterable[Sequence[Any]], want: Iterable[Sequence[Any]]
                    ) -> tuple[int, int, int, int]:
    """(rows of ``have`` not in ``want``, rows of ``want`` not in ``have``, rows, wanted) of
    two row streams sorted by :func:`_key`, compared as multisets in one pass."""
    extra = missing = rows = wanted = 0
    a, b = iter(have), iter(want)
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and _key(x) < _key(y)):
            extra, rows, x = extra + 1, rows + 1, next(a, None)
        elif x is None or _key(y) < _key(x):
            missing, wanted, y = missing + 1, wanted + 1, next(b, None)
        else:
            rows, wanted, x, y = rows + 1, wanted + 1, next(a, None), next(b, None)
    return extra, missing, rows, wanted


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
    conn.execute("DELETE FROM finding_parties")
    conn.execute(PARTIES_FROM_FINDINGS + " ORDER BY f.seq")
    return done


__all__ = ["DERIVED_TABLES", "check_head", "derived_problems", "expected_schema", "head_of",
           "parse_head", "rebuild", "schema_problems"]
