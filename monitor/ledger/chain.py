"""The hash chain: the canonical form of an entry, its hash, and appending entries.

Every chained table (:mod:`.schema`) starts with ``seq, recorded_at, prev_hash, hash``: ``seq``
is one sequence across all of them (1, 2, 3 ... no gaps) and ``prev_hash`` is the ``hash`` of
the entry before (:data:`GENESIS_HASH`, ``"0" * 64``, for seq 1), so all the tables share one
chain, which :mod:`.verify` recomputes. Rows are never updated or deleted; a correction is a new
row pointing at the old one.

CANONICAL FORM — A CONTRACT: change anything here and every hash ever recorded changes.
    For a row of table ``T``::

        canonical = json.dumps({"table": T, **{every column except "hash"}},
                               sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        hash = sha256((prev_hash + canonical).encode("utf-8")).hexdigest()

    Values are exactly as stored: TEXT as str, INTEGER as int, REAL as a Python float (an int
    given for a REAL column is stored, and hashed, as ``5.0``), NULL as ``null``; NaN and
    infinities are refused. JSON columns (declared ``list``/``dict``) hold the text of
    :func:`canonical_json` (same dumps settings). ``recorded_at`` is ISO 8601 UTC with
    microseconds (``2026-11-22T04:00:00.123456+00:00``). Hence: never ``ALTER`` a chained table
    (a new column would enter old rows' canonical form as ``null``); add a new one with
    :func:`~.schema.chained_table_migration`.

    :func:`canonical_entry` is this definition in code, the only one in Python: appending
    hashes with it (through orjson where orjson writes the same text, :func:`entry_hash`, and
    :func:`_stored_hash` for a row as appending stores it; a property test holds the two to
    the same hash), and verify re-checks with it any row its SQL fast path (SQLite's
    ``json_object``) does not reproduce. A test checks that the fast path writes the same text
    for every entry of a real ledger.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Self

import orjson

from ..crashpoints import crash_point
from .base import LedgerBase
from .errors import DuplicateEntryError, LedgerError
from .schema import DERIVED_FROM, PARTIES_FROM_FINDINGS, ChainedTable, quote

GENESIS_HASH = "0" * 64
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)


class CanonicalJSON(str):
    """JSON text that :func:`canonical_json` wrote: given for a JSON column, it is stored (and
    hashed) as it is, not written again (the import's worker writes a report's body while the
    importing process records the one before)."""

    __slots__ = ()


def canonical_json(value: Any) -> str:
    """JSON text as the ledger stores and hashes it (sorted keys, no spaces, UTF-8): written by
    orjson where it writes the very text json writes (several times faster on a report's
    body, resolution and explanation, :func:`_fast`), else by json."""
    fast = _fast(value)
    return fast.decode() if fast is not None else _CANONICAL.encode(value)


def _fast(value: Any) -> bytes | None:
    """``value``'s canonical JSON as orjson writes it, or None where that could differ from
    json's text (then json writes it, or refuses it as the contract says)."""
    if _orjson_writes_json(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # a lone surrogate, nesting past orjson's limit
            pass
    return None


def _number_alike(value: int | float) -> bool:
    """Whether orjson writes the int or float ``value`` as json writes it: an integer of 64
    bits, a float that json writes without an exponent (json writes 1e-05 and 1e+16 where
    orjson writes 0.00001 and 1e16; NaN and infinities are False)."""
    if type(value) is int:
        return -(1 << 63) <= value < (1 << 64)
    return not value or 1e-4 <= abs(value) < 1e16


def _orjson_writes_json(value: Any) -> bool:
    """Whether ``value`` is made only of what orjson writes as json writes it (tested): dicts
    with str keys, lists, str, bool, None and the numbers of :func:`_number_alike`. json
    refuses NaN, datetimes and tuples' kin where orjson writes them. A walk with a stack of
    its own, not a call per value (a report's body: ~2 µs rather than ~3)."""
    stack = [value]
    pop, push = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is dict:
            for key in item:
                if type(key) is not str:
                    return False
            push(item.values())
        elif kind is list:
            push(item)
        elif (kind is not int and kind is not float) or not _number_alike(item):
            return False
    return True


def _entry_body(table: str, row: Mapping[str, Any]) -> dict[str, Any]:
    body = dict(row)
    body.pop("hash", None)
    body["table"] = table
    return body


def canonical_entry(table: str, row: Mapping[str, Any]) -> str:
    """The canonical form of a stored row of ``table`` (a ``hash`` key in ``row`` is ignored):
    the one definition, which appending, verifying and any faster path must agree with."""
    return _CANONICAL.encode(_entry_body(table, row))


def _flat_fast(body: Mapping[str, Any]) -> bytes | None:
    """:func:`_fast` for a stored row, whose values are scalars (a JSON column holds text):
    the same test as :func:`_orjson_writes_json`, in one loop without a call per value."""
    for key, value in body.items():
        kind = type(value)
        if type(key) is not str:
            return None
        if kind is str or value is None or kind is bool:
            continue
        if (kind is not int and kind is not float) or not _number_alike(value):
            return None  # not a scalar, or a number json writes otherwise (or NaN)
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # a lone surrogate
        return None


def entry_hash(table: str, row: Mapping[str, Any]) -> str:
    """The hash of a stored row of ``table``: sha256 of its ``prev_hash`` and canonical form
    (:func:`canonical_entry`, written the fast way where it is the same text)."""
    body = _entry_body(table, row)
    fast = _flat_fast(body)  # a stored row's ~2 KB of JSON-column text is escaped once more
    canonical = fast if fast is not None else _CANONICAL.encode(body).encode()
    return hashlib.sha256(row["prev_hash"].encode() + canonical).hexdigest()


def _stored_hash(t: ChainedTable, values: list[Any]) -> str:
    """:func:`entry_hash` of a row as :meth:`Chain._prepare` stores it (``values``, in column
    order): the same text, made without copying the row into a dict twice or sorting its keys
    (``t.canonical_keys`` are in order already). Its TEXT and JSON columns hold str or None
    there, so only seq and the INTEGER and REAL columns need :func:`_number_alike`'s test."""
    for i in t.numeric_at:
        if values[i] is not None and not _number_alike(values[i]):
            return entry_hash(t.name, dict(zip(t.columns, values)))
    values.append(t.name)
    try:
        body = dict(zip(t.canonical_keys, [values[i] for i in t.canonical_at]))
    finally:
        values.pop()
    try:
        canonical = orjson.dumps(body)
    except orjson.JSONEncodeError:  # a lone surrogate: as entry_hash does
        canonical = _CANONICAL.encode(body).encode()
    return hashlib.sha256(values[2].encode() + canonical).hexdigest()


class Chain(LedgerBase):
    """Appending to the chain: :meth:`transaction`, :meth:`append` (:meth:`add`, when the row
    is not read back), :meth:`append_many`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], datetime],
                 readonly: bool) -> None:
        super().__init__(conn, path, clock, readonly)
        # the open transaction: how deep, the thread that owns it, the chain's head in it
        self._depth, self._owner, self._head = 0, 0, (0, GENESIS_HASH)
        # inside deferred(): table -> rows appended, hashed and not yet inserted
        self._unwritten: dict[str, list[tuple[Any, ...]]] | None = None

    @contextmanager
    def deferred(self) -> Iterator[Self]:
        """Inside a transaction: the rows appended in the block are hashed and chained at once,
        as ever, and inserted a table at a time (one ``executemany`` a table, the derived
        tables brought up to date once) just before the next statement that runs on the
        connection, whatever it is (a read sees every row appended before it), and at the end
        of the block. A read that names the tables it reads (:meth:`LedgerBase._rows`'s
        ``reads``) has only theirs inserted first: the rest wait, with their derived tables,
        for a statement that needs them. The same rows, in a few statements rather than one
        or two a row; a row the database refuses (a duplicate) raises then, not at its
        append."""
        self._check_owner()
        if self._unwritten is not None:  # nested: the outer block writes them
            yield self
            return
        conn, self._unwritten = self._conn, {}
        self._conn = _WritesFirst(conn, self._write_deferred)  # type: ignore[assignment]
        try:
            yield self
            self._write_deferred()
        finally:
            self._conn, self._unwritten = conn, None

    def _write_deferred(self, tables: Collection[str] | None = None) -> None:
        """Insert the rows appended and not yet inserted (inside :meth:`deferred`): all of
        them, or those of ``tables``. A table's rows go in in seq order, and after those
        inserted before (the derived tables are written in the order of their findings). The
        order between tables does not matter: a status change of a finding not inserted yet
        is in ``finding_state``, which its ``finding_parties`` row is made from."""
        unwritten = self._unwritten
        if not unwritten:
            return
        # the rows that wait are set aside meanwhile: inserting runs statements, each of which
        # would insert whatever is left first
        self._unwritten = {}
        try:
            for name, rows in unwritten.items():
                if tables is None or name in tables:
                    self._insert(self._tables[name], rows)
        finally:
            if tables is not None:
                self._unwritten = {name: rows for name, rows in unwritten.items()
                                   if name not in tables}

    @contextmanager
    def transaction(self) -> Iterator[Self]:
        """Group appends: all of them land or none does. A nested block is a savepoint."""
        if self.readonly:
            raise LedgerError(f"{self.path} was opened read-only: nothing can be recorded")
        with self._lock:
            outer, name, saved = not self._depth, f"ledger_{self._depth}", self._head
            # IMMEDIATE takes the write lock now (waiting up to busy_timeout) and the head is
            # read under it: two writers, even in two processes, never fork the chain.
            self._conn.execute("BEGIN IMMEDIATE" if outer else f"SAVEPOINT {name}")
            self._depth += 1
            try:
                if outer:
                    self._head, self._owner = self._read_head(), threading.get_ident()
                yield self
                self._conn.execute("COMMIT" if outer else f"RELEASE {name}")
                if outer:
                    self._committed()
                    crash_point("ledger.commit")
            except BaseException:
                if self._unwritten:  # appended since the savepoint began (it wrote the rest)
                    self._unwritten = {}
                if self._conn.in_transaction:  # some errors have rolled back already
                    self._conn.execute("ROLLBACK" if outer else f"ROLLBACK TO {name}")
                    if not outer:
                        self._conn.execute(f"RELEASE {name}")
                self._head = saved  # the rows are gone, and so is their part of the chain
                self._rolled_back(saved[0])
                raise
            finally:
                self._depth -= 1

    def _committed(self) -> None:
        """Called once a transaction's rows are committed (what a subclass keeps of them)."""

    def _rolled_back(self, head: int) -> None:
        """Called when the rows after seq ``head`` were rolled back."""

    def _read_head(self) -> tuple[int, str]:
        heads = [row for name in self._tables for row in self._conn.execute(
            f"SELECT seq, hash FROM {quote(name)} ORDER BY seq DESC LIMIT 1")]
        return max(heads, default=(0, GENESIS_HASH))

    def _check_owner(self) -> None:
        if not self._depth or self._owner != threading.get_ident():
            raise LedgerError("append() must run inside `with ledger.transaction():`")

    def _writable(self, table: str) -> ChainedTable:
        self._check_owner()
        if table not in self._tables:
            raise LedgerError(f"{table!r} is not a chained table; there are "
                              f"{', '.join(sorted(self._tables))}")
        return self._tables[table]

    def _prepare(self, t: ChainedTable, row: Mapping[str, Any], seq: int,
                 prev: str) -> tuple[tuple[Any, ...], str]:
        if not row.keys() <= t.own_set:
            unknown = row.keys() - t.own_set
            raise LedgerError(f"{t.name} has no column {', '.join(sorted(unknown))}; its "
                              f"columns are {', '.join(t.own)}")
        now = self._clock()
        if now.tzinfo is None:
            raise LedgerError("the ledger clock returned a naive datetime; it must be aware")
        stamp = now.astimezone(timezone.utc).isoformat(timespec="microseconds")
        values: list[Any] = [seq, stamp, prev, None]
        for column, kind, is_json in t.plan:
            value = row.get(column)
            if value is None:
                values.append(None)
            elif is_json or (type(value) is not kind or kind is float):
                values.append(stored_value(t, column, kind, value))
            else:
                values.append(value)  # str in TEXT, int in INTEGER: stored as given
        digest = _stored_hash(t, values)
        values[3] = digest
        return tuple(values), digest

    def append(self, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """Append one row of ``table`` (its own columns; missing ones are NULL). Returns it as
        stored, seq/recorded_at/prev_hash/hash filled in; JSON columns hold the values given (a
        :class:`CanonicalJSON` as its text)."""
        stored = self.add(table, row)
        t = self._tables[table]
        out = dict(zip(t.columns, stored))
        for column in t.json:  # the value given, unless JSON would read it back otherwise
            if out[column] is not None:
                given = row[column]
                out[column] = given if type(given) in (list, dict, CanonicalJSON) else json.loads(
                    out[column])
        return out

    def add(self, table: str, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """:meth:`append`, for a caller that does not read the row back: it is returned as
        stored, a tuple in column order (JSON columns as their text), not decoded."""
        t = self._writable(table)
        stored, digest = self._prepare(t, row, self._head[0] + 1, self._head[1])
        if self._unwritten is not None:
            self._unwritten.setdefault(table, []).append(stored)
        else:
            self._insert(t, [stored])
        self._head = (stored[0], digest)
        return stored

    def append_many(self, table: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append rows to one table with a single ``executemany``; returns how many."""
        t = self._writable(table)
        with self.transaction():  # a savepoint: a duplicate half-way leaves nothing behind
            (seq, prev), batch = self._head, []
            for seq, row in enumerate(rows, seq + 1):
                stored, prev = self._prepare(t, row, seq, prev)
                batch.append(stored)
            self._insert(t, batch)
            self._head = (seq, prev)
        return len(batch)

    def _insert(self, t: ChainedTable, batch: list[tuple[Any, ...]]) -> None:
        try:
            self._conn.executemany(t.insert_sql, batch)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise DuplicateEntryError(f"{t.name}: already recorded ({exc})") from exc
            raise LedgerError(f"{t.name}: refused by the database ({exc})") from exc
        if self._derived and t.name in DERIVED_FROM:
            self._derive(t, batch)

    def _derive(self, t: ChainedTable, batch: list[tuple[Any, ...]]) -> None:
        """Bring the derived tables (m003) up to date with a batch of ``t`` just inserted, in
        the same transaction. Rows arrive in seq order, so the last one written holds."""
        if t.name == "findings":
            self._conn.execute(PARTIES_FROM_FINDINGS + " AND f.seq BETWEEN ? AND ? ORDER BY "
                               "f.seq", [batch[0][0], batch[-1][0]])
            return
        column = DERIVED_FROM[t.name]
        at, value_at = t.columns.index("finding_id"), t.columns.index(column)
        pairs = [(row[at], row[value_at]) for row in batch]
        self._conn.executemany(f"INSERT INTO finding_state (finding_id, {column}) VALUES (?, ?) "
                               f"ON CONFLICT (finding_id) DO UPDATE SET {column} = "
                               f"excluded.{column}", pairs)
        if column == "status":
            self._conn.executemany("UPDATE finding_parties SET status = ? WHERE finding_id = ?",
                                   [(status, finding) for finding, status in pairs])


class _WritesFirst:
    """A connection whose every statement first has ``write`` run (:meth:`Chain.deferred`):
    rows appended and not yet inserted go in before anything reads, writes or ends the
    transaction (:meth:`reading`: those of the tables a read names). The rest is the
    connection's."""

    def __init__(self, conn: sqlite3.Connection,
                 write: Callable[[Collection[str] | None], None]) -> None:
        self._conn, self._write = conn, write

    def execute(self, *args: Any) -> sqlite3.Cursor:
        self._write(None)
        return self._conn.execute(*args)

    def reading(self, tables: Collection[str], *args: Any) -> sqlite3.Cursor:
        """``execute`` a statement that reads only ``tables``: only their rows go in first."""
        self._write(tables)
        return self._conn.execute(*args)

    def executemany(self, *args: Any) -> sqlite3.Cursor:
        self._write(None)
        return self._conn.executemany(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def stored_value(t: ChainedTable, column: str, kind: type, value: Any) -> Any:
    """``value`` exactly as SQLite will store and return it, so that the hash computed now is
    the hash recomputed later (an int in a REAL column comes back as a float, for instance)."""
    if value is None:
        return None
    if type(value) is CanonicalJSON and column in t.json:
        return str(value)
    if column in t.json or isinstance(value, (list, dict, tuple)):
        try:
            return canonical_json(value)
        except (TypeError, ValueError) as exc:
            raise LedgerError(f"{t.name}.{column}: not JSON-serialisable ({exc})") from None
    if kind is float and type(value) in (int, float) and math.isfinite(value):
        return float(value) + 0.0  # -0.0 comes back from SQLite as 0.0
    if kind is int and isinstance(value, int):
        return int(value)  # a bool is stored, and hashed, as 0/1
    if kind is str and isinstance(value, str):
        return value
    hint = " (pass an ISO 8601 string)" * isinstance(value, date)
    raise LedgerError(f"{t.name}.{column}: cannot record {value!r:.60} in a {kind.__name__} "
                      f"column{hint}")

