"""One ledger file's connection, shared by the daemon's threads, and plain reads through it:
what writing (:mod:`.chain`), the domain queries (:mod:`.queries`) and the pattern queue
(:mod:`.patterns_queue`) build on. :class:`monitor.ledger.Ledger` joins them.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..keys import report_key
from .compact import (
    full_explanation,
    full_notes,
    full_resolution,
    has_marker,
    shared_note_seqs,
    stored_notes,
)
from .errors import LedgerError
from .schema import DERIVED_TABLES, PACKED, ChainedTable, quote, read_tables, table_names


class LedgerBase:
    """The connection to one ledger file, and what the file holds: its chained tables, and
    whether it has the derived tables."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], datetime],
                 readonly: bool) -> None:
        self._conn, self.path, self.readonly, self._clock = conn, path, readonly, clock
        self._lock = threading.RLock()  # the daemon's threads share this connection
        self._tables: dict[str, ChainedTable] = {}
        self._derived = False  # whether the file has the derived tables (m003)
        self._unpacker: Any = None  # .packing.Unpacker: ledger_json's, set by .packing.Packing

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def _load_tables(self) -> None:
        self._derived = set(DERIVED_TABLES) <= set(table_names(self._conn))
        self._tables = read_tables(self._conn)

    @property
    def _has_shared_texts(self) -> bool:
        """Whether the file has ``shared_texts`` (m008; SQL naming it fails on one before)."""
        return "shared_texts" in self._tables

    def _rows(self, sql: str, params: Sequence[Any] = (), table: str = "",
              reads: Collection[str] | None = None) -> list[dict[str, Any]]:
        """The rows of ``sql`` decoded as rows of ``table`` (:meth:`_decoded`). ``reads``: every
        table the statement reads, when the caller names them; inside
        :meth:`.Chain.deferred` only their rows appended are inserted before it runs."""
        with self._lock:  # reads too: the connection may be inside another thread's write
            reading = getattr(self._conn, "reading", None) if reads is not None else None
            cursor = (reading(reads, sql, params) if reading is not None else
                      self._conn.execute(sql, params))
            return self._decoded(cursor, cursor.fetchall(), table)

    def _chunks(self, sql: str, params: Sequence[Any], chunk: int | None,
                rows_of: Callable[[Any, list[Any]], list[Any]]) -> Iterator[list[Any]]:
        """The rows of one statement, ``chunk`` at a time (None: all at once), each chunk made
        by ``rows_of(cursor, fetched)`` holding the lock, and handed out with the lock let go
        (the caller may ask the ledger more meanwhile)."""
        with self._lock:  # reads too: the connection may be inside another thread's write
            cursor = self._conn.execute(sql, params)
        while True:
            with self._lock:
                rows = rows_of(cursor, cursor.fetchmany(chunk) if chunk else cursor.fetchall())
            if not rows:
                return
            yield rows
            if not chunk:
                return

    def _decoded(self, cursor: Any, fetched: Sequence[Sequence[Any]],
                 table: str = "") -> list[dict[str, Any]]:
        """Rows ``fetched`` from ``cursor`` as dicts, JSON columns of ``table`` decoded and
        what its rows leave out put back (:mod:`.compact`). Called holding the lock."""
        json_cols = self._tables[table].json if table in self._tables else frozenset()
        names = [d[0] for d in cursor.description]
        rows = [self._decode(json_cols, dict(zip(names, r))) for r in fetched]
        packed = PACKED.get(table)
        if packed in names:  # a body or resolution stored compressed: whole (.packing)
            unpack = self._unpacker.value
            for row in rows:
                row[packed] = unpack(row[packed])
        if table == "findings" and "explanation" in names:
            self._full_explanations(rows)
        elif table == "incidents" and "resolution" in names:
            texts = self._texts_of(
                n for row in rows if row["resolution"] is not None
                for n in shared_note_seqs(row["resolution"].get("notes")))
            for row in rows:
                if row["resolution"] is not None:
                    row["resolution"] = full_resolution(row["resolution"], row, texts)
        return rows

    def _where_in(self, sql: str, values: Iterable[Any],
                  before: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` for ``values`` (each distinct one once), :data:`IN_CHUNK` at a
        time: ``sql`` holds ``IN ({marks})``, which each query fills with a ``?`` a value;
        ``before`` are the parameters ahead of them."""
        wanted = list(dict.fromkeys(values))
        for i in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[i:i + IN_CHUNK]
            yield from self._conn.execute(sql.format(marks=", ".join("?" * len(chunk))),
                                          [*before, *chunk])

    def _texts_of(self, seqs: Iterable[int]) -> dict[int, str]:
        """The shared texts ``seqs`` (:mod:`.compact`, "Said again")."""
        return dict(self._where_in("SELECT seq, text FROM shared_texts WHERE seq IN ({marks})",
                                   seqs))

    def _full_explanations(self, rows: list[dict[str, Any]]) -> None:
        """Put back what a stored explanation leaves out (:mod:`.compact`): a shared one's
        text, and the resolution notes it refers to, from the incident rows of the findings'
        reports."""
        shared = [r for r in rows if type(r["explanation"]) is int]
        texts = self._texts_of(r["explanation"] for r in shared)
        for row in shared:
            if row["explanation"] not in texts:
                raise ValueError(f"finding {row.get('finding_id')}: its explanation is the "
                                 f"shared text {row['explanation']}, which the ledger does not "
                                 "hold")
            row["explanation"] = json.loads(texts[row["explanation"]])
        wanted = [(r, report_key(r["feed"], r["source_id"], r["revision"])) for r in rows
                  if r["explanation"] and has_marker(r["explanation"])]
        notes = {key: some for key, text in self._where_in(
            "SELECT report_key, resolution FROM incidents WHERE report_key IN ({marks})",
            (k for _, k in wanted)) if (some := stored_notes(text, self._unpacker.sql))
            is not None}
        texts = self._texts_of(n for some in notes.values() for n in shared_note_seqs(some))
        for row, key in wanted:
            row["explanation"] = full_explanation(
                row["explanation"], full_notes(notes[key], texts) if key in notes else None)

    @staticmethod
    def _decode(json_cols: frozenset[str], row: dict[str, Any]) -> dict[str, Any]:
        for column in json_cols:
            if row.get(column) is not None:  # a query may select only some columns
                row[column] = json.loads(row[column])
        return row

    def query(self, sql: str,
              params: Sequence[Any] | Mapping[str, Any] = ()) -> list[dict[str, Any]]:
        """Run read-only SQL; rows as dicts, JSON columns left as text. Writes are refused."""
        with self._lock:
            self._conn.execute("PRAGMA query_only=ON")
            try:
                cursor = self._conn.execute(sql, params)
                names = [d[0] for d in cursor.description or ()]
                return [dict(zip(names, r)) for r in cursor]
            finally:
                self._conn.execute(f"PRAGMA query_only={int(self.readonly)}")

    def user_query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = (),
                   timeout: float | None = None) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a user's SQL read-only: only reading is authorised (SQLite's authorizer refuses
        every write, ATTACH, DETACH and PRAGMA before the statement runs, whatever it is
        wrapped in). Returns (column names, rows); LedgerError explains a refusal, and a
        query still running after ``timeout`` seconds."""
        names, chunks = self.stream_query(sql, params, timeout)
        return names, [row for chunk in chunks for row in chunk]

    def stream_query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = (),
                     timeout: float | None = None, chunk: int = 1000
                     ) -> tuple[list[str], Iterator[list[tuple[Any, ...]]]]:
        """:meth:`user_query` a chunk of rows at a time, so a large result is written as it
        comes (the statement runs until the last chunk is read)."""
        refused: list[str] = []
        deadline = None if timeout is None else time.monotonic() + timeout

        def authorize(action: int, arg1: Any, arg2: Any, db: Any, source: Any) -> int:
            if action in _READ_ACTIONS:
                return sqlite3.SQLITE_OK
            refused.append(_ACTION_NAMES.get(action, f"action {action}")
                           + (f" {arg1}" if isinstance(arg1, str) else ""))
            return sqlite3.SQLITE_DENY

        def error(exc: Exception) -> LedgerError:
            if refused:
                asks = ", ".join(dict.fromkeys(refused))
                return LedgerError(f"refused: the ledger is read-only here, and this "
                                   f"statement asks for {asks}. Only SELECT (and "
                                   "WITH ... SELECT) queries are allowed.")
            if deadline is not None and time.monotonic() > deadline:
                return LedgerError(f"query stopped after {timeout:g} s, its time limit "
                                   "(--timeout SECONDS allows more)")
            return LedgerError(f"SQL error: {exc}")

        def rows(cursor: sqlite3.Cursor) -> Iterator[list[tuple[Any, ...]]]:
            try:
                while batch := cursor.fetchmany(chunk):
                    yield batch
            except (sqlite3.DatabaseError, sqlite3.Warning, sqlite3.ProgrammingError) as exc:
                raise error(exc) from None
            finally:
                release()

        def release() -> None:
            self._conn.set_progress_handler(None, 0)
            self._conn.set_authorizer(None)
            self._lock.release()

        self._lock.acquire()
        # SQLite sets up a table-valued function (json_each, json_tree) the first time a
        # connection uses one, and asks the authorizer to UPDATE sqlite_master for it: do it
        # here, unwatched, so a user's SELECT over json_each is not refused as a write
        self._conn.execute("SELECT 1 FROM json_each('[]'), json_tree('[]')").fetchall()
        self._conn.set_authorizer(authorize)
        if deadline is not None:
            # SQLite asks every ~10k virtual-machine steps whether to stop
            self._conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            cursor = self._conn.execute(sql, params)
            names = [d[0] for d in cursor.description or ()]
        except (sqlite3.DatabaseError, sqlite3.Warning, sqlite3.ProgrammingError) as exc:
            release()
            raise error(exc) from None
        except BaseException:
            release()
            raise
        return names, rows(cursor)

    def counts(self) -> dict[str, int]:
        """Rows per chained table."""
        with self._lock:
            return {name: self._conn.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0]
                    for name in sorted(self._tables)}


# What a read-only user query may do (sqlite3 authorizer action codes).
_READ_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
                           getattr(sqlite3, "SQLITE_RECURSIVE", 33)})
_ACTION_NAMES = dict(enumerate((
    "", "CREATE INDEX", "CREATE TABLE", "CREATE TEMP INDEX", "CREATE TEMP TABLE",
    "CREATE TEMP TRIGGER", "CREATE TEMP VIEW", "CREATE TRIGGER", "CREATE VIEW", "DELETE on",
    "DROP INDEX", "DROP TABLE", "DROP TEMP INDEX", "DROP TEMP TABLE", "DROP TEMP TRIGGER",
    "DROP TEMP VIEW", "DROP TRIGGER", "DROP VIEW", "INSERT into", "PRAGMA", "READ", "SELECT",
    "a TRANSACTION", "UPDATE of", "ATTACH of", "DETACH of", "ALTER TABLE", "REINDEX",
    "ANALYZE", "CREATE VIRTUAL TABLE", "DROP VIRTUAL TABLE", "FUNCTION", "a SAVEPOINT",
    "RECURSIVE")))  # SQLite's authorizer action codes 1..33, in order


# Values bound by one query's ``IN (...)`` (LedgerBase._where_in): well under SQLite's limit
# on a statement's parameters.
IN_CHUNK = 500
# Bytes of a ledger file a read-only connection maps instead of copying each page it reads
# into the page cache (SQLite caps it at its own limit, 2 GiB by default).
READER_MMAP = 1 << 40


def read_only_uri(path: Path) -> str:
    """The URI that opens the ledger file at ``path`` read-only. A ledger is in WAL mode, and
    SQLite reads one through a shared-memory file beside it: in a folder the reader may not
    write (a copy on read-only media, another user's archive) none can be made, so the file is
    opened as immutable, which is right because nothing can be writing it there either. A WAL
    with content it could not read that way is an error naming the fix."""
    path = Path(path).resolve()
    uri = path.as_uri() + "?mode=ro"
    shm, wal = (path.with_name(path.name + suffix) for suffix in ("-shm", "-wal"))
    if os.access(path.parent, os.W_OK) or shm.exists():
        return uri
    if wal.exists() and wal.stat().st_size > 0:
        raise LedgerError(f"{path}: the ledger's latest entries are still in {wal.name}, and "
                          "this folder is read-only, so SQLite cannot read them; copy the "
                          "ledger and its -wal file to a writable folder")
    return uri + "&immutable=1"
