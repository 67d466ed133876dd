"""The ledger file: :class:`Ledger` opens it (migrating it when writable) and joins the chain,
the queries, the pattern queue and verification."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Self

from . import integrity, schema
from .chain import canonical_json
from .base import READER_MMAP, read_only_uri
from .errors import LedgerError
from .packing import Packing
from .shared import SharedTexts
from .patterns_queue import PatternQueue
from .queries import Queries
from .verify import VerifyResult, verify_file, verify_through


PAGE_SIZE = 16384  # bytes per page of a new ledger file (SQLite's default is 4096)
# KiB of page cache a connection keeps (SQLite's default is 2 MiB): the ledger's indexes are
# keyed by event time and incident id, which arrive in any order, so a big ledger's writes and
# reads touch pages all over them.
CACHE_KIB = 65_536
# ... and while a file is imported (:meth:`Ledger.bulk_cache`). Past a few hundred thousand
# reports those indexes outgrow 64 MiB, and a batch's inserts evict and read back their pages
# again and again. Measured on 1,000,000 generated rows at 20,000 a batch, two interleaved
# pairs: 148.1 and 148.4 s -> 142.0 and 139.6 s, the importing process's system time 20 -> 12 s
# and its reads 56 -> 17 GB, for a peak RSS of 862 MiB rather than 397 (SQLite takes pages as
# it needs them: an import into a small ledger keeps the memory it kept).
BULK_CACHE_KIB = 524_288


def damaged(path: Path, exc: BaseException) -> str:
    """The one line a user reads for a ledger file SQLite cannot read, with what to do."""
    return (f"{path}: the ledger file is damaged or is not a ledger ({exc}); nothing was "
            f"written to it. Restore it from a backup, or recover what SQLite can read with "
            f"`sqlite3 {path} .recover | sqlite3 recovered.db`, then run `monitor ledger "
            "verify` on the result.")


def _refuse_damaged(conn: sqlite3.Connection, path: Path) -> None:
    """Before anything is written: a damaged file is refused, not written into. SQLite's
    quick_check reads every page once (a few tens of milliseconds for a year of data)."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    found = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    if found != "ok":
        raise sqlite3.DatabaseError(" ".join(str(found).split()))


# What checking the derived tables costs, in entries of the chain checked in the same time by
# this process: measured on a million findings (952,235 rows of finding_parties) on the AMD
# machine of bench/RESULTS.md, ~1.0 s against ~5.4 µs an entry, 0.2 of an entry a row, and
# the tables other than finding_parties a few ms (~2,000 entries).
_DERIVED_ENTRIES_PER_FINDING = 0.2
_DERIVED_FIXED_ENTRIES = 2_000


def _derived_entries(conn: sqlite3.Connection) -> int:
    """What :func:`.integrity.derived_problems` costs, in entries, from the rows of
    finding_parties (as many as the findings its counts hold, scorecard_counts: a guess that
    only moves where verify splits the chain, never its verdict)."""
    try:
        (rows,) = conn.execute("SELECT sum(findings) FROM scorecard_counts").fetchone()
    except sqlite3.OperationalError:  # a ledger before its derived tables
        rows = 0
    return _DERIVED_FIXED_ENTRIES + int((rows or 0) * _DERIVED_ENTRIES_PER_FINDING)


class Ledger(Packing, SharedTexts, PatternQueue, Queries):
    """One ledger file. Open it with :meth:`open`; append inside :meth:`transaction`."""

    @classmethod
    def open(cls, path: Path, *, clock: Callable[[], datetime] | None = None,
             readonly: bool = False) -> Ledger:
        """Open the ledger at ``path``; unless ``readonly``, create it (and its directory) if
        needed and apply pending migrations. A missing read-only file is FileNotFoundError."""
        path = Path(path)
        if readonly and not path.is_file():
            raise FileNotFoundError(f"{path}: no ledger file here. Record something first "
                                    "(monitor import) or give the right path (--db).")
        if not readonly:
            path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(read_only_uri(path) if readonly else path,
                               uri=readonly, timeout=30, isolation_level=None,
                               check_same_thread=False)
        try:
            if not readonly:
                _refuse_damaged(conn, path)
                # a new file: 16 KiB pages, set before anything is written. Incidents and
                # findings rows of 1-1.5 KB left about a fifth of each 4 KiB page empty
                # (measured: a ledger of 20,000 reports 73 -> 65 MB, import and verify as fast)
                if conn.execute("PRAGMA page_count").fetchone()[0] == 0:
                    conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
            conn.create_function("canonical_json", 1, canonical_json, deterministic=True)
            conn.executescript("PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; "
                               f"PRAGMA cache_size=-{CACHE_KIB};")
            if readonly:
                # A reader maps the file (as far as SQLite maps one, 2 GiB) instead of copying
                # each page it reads into the page cache: `monitor findings` of a week reads
                # 9,000 rows, one page each, scattered over a million (measured: its query
                # 0.11 -> 0.075 s). A writer keeps reading through the cache.
                conn.execute(f"PRAGMA mmap_size={READER_MMAP}")
            ledger = cls(conn, path, clock or (lambda: datetime.now(timezone.utc)), readonly)
            if not readonly:
                import sqlite_utils

                db = sqlite_utils.Database(conn)
                db.enable_wal()  # must run outside a transaction
                conn.execute("PRAGMA synchronous=NORMAL")  # safe in WAL, and far faster
                with ledger.transaction():  # two processes must not both migrate a new file
                    schema.MIGRATIONS.apply(db)
            ledger._load_tables()
            if not readonly:  # an import stopped before its end left these out
                ledger.build_missing_indexes()
            if not ledger._tables:
                raise LedgerError(f"{path} is not a ledger (it has no chained tables)")
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise LedgerError(damaged(path, exc)) from exc
        except BaseException:
            conn.close()
            raise
        return ledger

    @contextlib.contextmanager
    def bulk_cache(self) -> Iterator[Self]:
        """While a file is imported: :data:`BULK_CACHE_KIB` of page cache, not
        :data:`CACHE_KIB` (the pages beyond are freed on leaving)."""
        with self._lock:
            self._conn.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
        try:
            yield self
        finally:
            with self._lock:
                self._conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")

    @contextlib.contextmanager
    def indexes_at_end(self, wanted: bool = True) -> Iterator[Callable[[], None]]:
        """While a file is imported into an empty ledger (and ``wanted``): without the indexes
        of :data:`~.schema.INDEXES_AT_END`, which are built when the block ends, or earlier
        by the function it gives (the patterns, brought up to date at the end, read them). A
        ledger that holds a report keeps them. A batch that reads them has them built first
        (:meth:`build_missing_indexes`: a revision, a retraction, a report of another feed,
        the patterns). Killed before its end, the import leaves them missing: the next
        writable open builds them, and verify names them meanwhile."""
        dropped = False
        if wanted:
            with self.transaction():  # under the write lock: nothing is recorded meanwhile
                if self._conn.execute("SELECT 1 FROM reports LIMIT 1").fetchone() is None:
                    for name in schema.INDEXES_AT_END:
                        self._conn.execute(f"DROP INDEX IF EXISTS {schema.quote(name)}")
                    dropped = True
        try:
            yield self.build_missing_indexes if dropped else (lambda: None)
        except BaseException:
            if dropped:  # the import's own error comes first; the next open builds them
                with contextlib.suppress(sqlite3.Error, LedgerError):
                    self.build_missing_indexes()
            raise
        else:
            if dropped:
                self.build_missing_indexes()

    def build_missing_indexes(self) -> list[str]:
        """Build those of :data:`~.schema.INDEXES_AT_END` the file lacks, as the code defines
        them (:func:`.integrity.expected_schema`); their names."""
        with self._lock:
            have = {row[0] for row in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index'")}
        missing = [name for name in schema.INDEXES_AT_END if name not in have]
        if missing:  # (those the ledger's migrations make: a file of an older version's)
            want = integrity.expected_schema(integrity.applied(self._conn))
            missing = [name for name in missing if ("index", name) in want]
            with self.transaction():
                for name in missing:
                    self._conn.execute(want[("index", name)])
        return missing

    def verify(self, head: str | None = None, derived: bool = True) -> VerifyResult:
        """Recompute the whole chain and report its first problem (at most one). The file is
        read through a connection of its own, so writers are not held up; a ledger of
        :data:`~.verify.PARALLEL_VERIFY_MIN` entries or more is checked in two parts at once,
        with the result a single pass gives (:mod:`.verify`).

        Then, when the chain holds: ``head`` (``SEQ:HASH``, kept outside the file) must still
        be in it (:func:`.integrity.check_head`; ValueError for a malformed one), and unless
        not ``derived``, the derived tables must be what the chain gives and the views,
        triggers and indexes what the code creates (:mod:`.integrity`)."""
        if head is not None:
            integrity.parse_head(head)
        tables = list(self._tables.values())
        with self._lock:
            # a transaction of this connection holds rows no other connection can see yet
            if self._conn.in_transaction or not self.path.is_file():
                result = verify_through(self._conn, tables)
            else:
                result = None
        found = None
        if result is None:
            # the derived tables are checked after a part of the chain, through the snapshot
            # it was checked in: by the second process, which checks the chain's upper part,
            # when there is one (their verdict is only given when the chain holds)
            with self._lock:
                cost = _derived_entries(self._conn) if derived else 0
            result, found = verify_file(
                self.path, tables, integrity.derived_problems if derived else None, cost)
        if not result.ok:
            return result
        with self._lock:
            names = list(self._tables)
            problems = []
            if head and (moved := integrity.check_head(self._conn, names, head)):
                problems.append(moved)
            if derived:
                problems += integrity.schema_problems(self._conn)
                problems += (found if found is not None else
                             integrity.derived_problems(self._conn))
        if problems:
            return dataclasses.replace(result, ok=False, problem="; ".join(problems))
        return result

    def check_head(self, head: str) -> str | None:
        """What became of an anchored head in this file (None: it holds it); the chain itself
        is checked by :meth:`verify`. ValueError for a malformed head."""
        with self._lock:
            return integrity.check_head(self._conn, list(self._tables), head)

    def head(self) -> str:
        """The chain's last entry as ``SEQ:HASH``: keep it elsewhere, and ``verify(head=...)``
        will say whether this file still holds it (empty ledger: ``0:`` and no hash)."""
        with self._lock:
            seq, digest = integrity.head_of(self._conn, list(self._tables))
        return f"{seq}:{digest}"

    def rebuild(self) -> list[str]:
        """Restore the derived tables from the chain and the views, triggers and indexes from
        the code (:func:`.integrity.rebuild`); the chained entries are not touched. What was
        restored (empty when nothing differed)."""
        with self.transaction():
            return integrity.rebuild(self._conn)
