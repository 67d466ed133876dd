"""The ledger: an append-only, hash-chained record of every report, incident and finding.

The only module that talks SQL: one SQLite file in WAL mode, so readers never wait for the
daemon's writer. Rows are never updated or deleted (triggers refuse both); a correction is a new
row pointing at the old one (STYLE.md §7). Every *chained table* starts with ``seq, recorded_at,
prev_hash, hash``: ``seq`` is one sequence across all of them (1, 2, 3 ... no gaps) and
``prev_hash`` is the ``hash`` of the entry before (``"0" * 64`` for seq 1), so all the tables
share one chain, which :meth:`Ledger.verify` recomputes.

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
    :func:`chained_table_migration`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .crashpoints import crash_point

if TYPE_CHECKING:  # sqlite-utils is imported when a ledger is opened for writing, not to read
    import sqlite_utils

GENESIS_HASH = "0" * 64
# The longest event window corroboration searches back over (a month-precise report).
MAX_WINDOW = timedelta(days=32)
COMMON_COLUMNS = ("seq", "recorded_at", "prev_hash", "hash")
_SQL_TYPES = {str: "TEXT", int: "INTEGER", float: "REAL", list: "TEXT", dict: "TEXT"}
_KIND_OF_SQL: dict[str, type] = {"TEXT": str, "INTEGER": int, "REAL": float}

# Table -> column -> Python type, for every chained table this code knows (common columns left
# out). ``list``/``dict`` mark JSON columns: stored as canonical JSON text, decoded on read.
CHAINED_TABLES: dict[str, dict[str, type]] = {}


class _Migrations:
    """sqlite-utils 4's ``Migrations`` (recorded in ``_sqlite_migrations``), registered now and
    built on first :meth:`apply`: importing sqlite-utils costs a read-only command (``monitor
    findings``, ``monitor query``) a tenth of a second it never needs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._steps: list[tuple[str, Callable[..., None]]] = []

    def __call__(self, *, name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
        def register(fn: Callable[..., None]) -> Callable[..., None]:
            if any(step == name for step, _ in self._steps):
                raise ValueError(f"Migration {name!r} is already registered in set {self.name!r}")
            self._steps.append((name, fn))
            return fn
        return register

    def apply(self, db: sqlite_utils.Database) -> None:
        from sqlite_utils import Migrations

        migrations = Migrations(self.name)
        for name, fn in self._steps:
            migrations(name=name)(fn)
        migrations.apply(db)


# One set of migrations for the ledger; registration order is the order they apply in.
MIGRATIONS = _Migrations("monitor.ledger")

_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)


def canonical_json(value: Any) -> str:
    """JSON text as the ledger stores and hashes it (sorted keys, no spaces, UTF-8)."""
    return _CANONICAL.encode(value)


def entry_hash(table: str, row: Mapping[str, Any]) -> str:
    """The hash of a stored row of ``table`` (a ``hash`` key in ``row`` is ignored)."""
    body = {"table": table, **{k: v for k, v in row.items() if k != "hash"}}
    return hashlib.sha256((row["prev_hash"] + _CANONICAL.encode(body)).encode()).hexdigest()


class LedgerError(Exception):
    """A ledger operation was refused; the message says why and what to do."""


class DuplicateEntryError(LedgerError):
    """An appended row repeats a unique key (a report, incident or finding already recorded)."""


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :meth:`Ledger.verify`: ``entries`` found intact before the first ``problem``
    (at ``table``, ``seq``); ``head_hash``, kept elsewhere, would reveal a cut-off tail."""

    ok: bool
    entries: int
    problem: str | None = None
    table: str | None = None
    seq: int | None = None
    head_hash: str | None = None


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _register(name: str, columns: Mapping[str, type]) -> dict[str, type]:
    bad = [c for c, t in columns.items()
           if c in (*COMMON_COLUMNS, "table") or not c.isidentifier() or t not in _SQL_TYPES]
    if name in CHAINED_TABLES or not name.isidentifier() or not columns or bad:
        raise ValueError(f"chained table {name!r}: the name is taken or invalid, or it has no "
                         f"columns, or these are reserved or not str/int/float/list/dict: {bad}")
    CHAINED_TABLES[name] = dict(columns)
    return CHAINED_TABLES[name]


def _create_chained_table(db: sqlite_utils.Database, name: str, columns: Mapping[str, type],
                          unique: Iterable[str] = (), not_null: Iterable[str] = (),
                          indexes: Iterable[str] = ()) -> None:
    unique, not_null = set(unique), set(not_null)
    own = [f"{_q(c)} {_SQL_TYPES[t]}" + " UNIQUE" * (c in unique) + " NOT NULL" * (c in not_null)
           for c, t in columns.items()]
    db.execute(f"CREATE TABLE {_q(name)} (seq INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, "
               f"prev_hash TEXT NOT NULL, hash TEXT NOT NULL, {', '.join(own)})")
    for verb in ("update", "delete"):
        db.execute(f"CREATE TRIGGER {_q(f'{name}_no_{verb}')} BEFORE {verb.upper()} ON {_q(name)} "
                   f"BEGIN SELECT RAISE(ABORT, 'ledger is append-only: {name} rows cannot be "
                   f"{verb}d'); END")
    for column in indexes:
        db.execute(f"CREATE INDEX {_q(f'idx_{name}_{column}')} ON {_q(name)} ({_q(column)})")


def chained_table_migration(
    name: str, columns: Mapping[str, type], *, unique: Iterable[str] = (),
    not_null: Iterable[str] = (), indexes: Iterable[str] = (),
) -> Callable[[sqlite_utils.Database], None]:
    """Declare a new chained table: registered in :data:`CHAINED_TABLES`, and created (common
    columns, append-only triggers, indexes) by a migration that the next :meth:`Ledger.open`
    applies. Call it when the owning module is imported, e.g.
    ``chained_table_migration("corrections", {"finding_id": str, "detail": dict})``."""
    cols, spec = _register(name, columns), (tuple(unique), tuple(not_null), tuple(indexes))

    def migrate(db: sqlite_utils.Database) -> None:
        _create_chained_table(db, name, cols, *spec)

    migrate.__name__ = f"chained_table_{name}"
    return MIGRATIONS(name=migrate.__name__)(migrate)


# table: (columns, unique and not-null columns, other not-null columns, indexed columns)
_CORE: dict[str, tuple[dict[str, type], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "reports": ({"report_key": str, "feed": str, "source_id": str, "revision": str,
                 "incident_id": str, "body": dict}, ("report_key",), (), ("incident_id", "feed")),
    "incidents": ({"incident_id": str, "report_key": str, "occurred_start": str,
                   "occurred_end": str, "lat": float, "lon": float, "location_precision": int,
                   "place": str, "admin1": str, "event_type": str, "platform": str,
                   "target_category": str, "attacker_sides": list, "target_sides": list,
                   "attribution": str, "zones": list, "resolution": dict},
                  # one row per report judged: a source's revisions and, later, corroborating
                  # reports of other feeds share the incident id
                  ("report_key",), ("incident_id",), ("occurred_start", "incident_id")),
    "findings": ({"finding_id": str, "incident_id": str, "term": str, "instrument": str,
                  "instrument_status": str, "charged_to": list, "severity": str,
                  "confidence": str, "attribution": str, "rule_id": str, "rule_version": str,
                  "explanation": list, "occurred": str, "occurred_end": str, "feed": str,
                  "source_id": str, "revision": str, "supersedes": str},
                 ("finding_id",), (), ("term", "occurred", "incident_id")),
    "status_changes": ({"finding_id": str, "status": str, "by": str, "note": str}, (),
                       ("finding_id", "status"), ("finding_id",)),
    "reviews": ({"incident_id": str, "report_key": str, "kind": str, "detail": str}, (), (), ()),
    # which incident a report belongs to, when corroboration linked it to another feed's
    # incident, or an analyst undid that (action "link" / "unlink"; the latest one holds)
    "links": ({"report_key": str, "incident_id": str, "action": str, "by": str,
               "reason": str}, (), ("report_key", "incident_id", "action"),
              ("report_key", "incident_id")),
    # reports that support a finding beyond the one that produced it (corroboration)
    "finding_support": ({"finding_id": str, "report_key": str, "independent": int,
                         "note": str}, (), ("finding_id", "report_key"), ("finding_id",)),
    # a finding's confidence re-scored (corroboration, unlinking); the latest one holds
    "confidence_changes": ({"finding_id": str, "confidence": str, "reasons": list}, (),
                           ("finding_id", "confidence"), ("finding_id",)),
    # SEP-CALM: a day's state, recorded again whenever a (late) report changes it
    "calm_days": ({"day": int, "start": str, "end": str, "calm": int, "consecutive": int,
                   "condition_met": int, "breaches": list}, (), ("day",), ("day",)),
    # escalations and cycles of excuses; a later entry with active 0 withdraws one
    "alerts": ({"key": str, "kind": str, "active": int, "party": str, "governorate": str,
                "start": str, "end": str, "incident_ids": list, "finding_ids": list,
                "detail": str}, (), ("key", "kind", "active"), ("key",)),
    # each attempt to deliver an alert to a webhook (issue #5)
    "deliveries": ({"webhook": str, "event": str, "event_key": str, "attempt": int,
                    "ok": int, "status": int, "error": str}, (), ("webhook", "event_key"),
                   ("event_key",)),
    # a feed's position, written in the same transaction as the records it covers (issue #3)
    "feed_cursors": ({"feed": str, "cursor": dict, "items": int}, (), ("feed",), ("feed",)),
    # one row per run of a feed: what it took, or why it failed
    "feed_health": ({"feed": str, "ok": int, "started_at": str, "finished_at": str,
                     "attempts": int, "new": int, "duplicates": int, "rejected": int,
                     "retracted": int, "findings": int, "reason": str, "lag_seconds": float},
                    (), ("feed",), ("feed",)),
}
CHAINED_TABLES.update((name, dict(spec[0])) for name, spec in _CORE.items())


@MIGRATIONS(name="m001_chained_tables")
def _m001_chained_tables(db: sqlite_utils.Database) -> None:
    for name, (columns, unique, not_null, indexes) in _CORE.items():
        _create_chained_table(db, name, columns, unique, unique + not_null, indexes)
    # A finding's current status is its latest status change (by seq), else 'alleged'; its
    # current confidence the latest re-scoring, else the one it was recorded with.
    columns = ", ".join(f"f.{_q(c)}" for c in (*COMMON_COLUMNS, *_CORE["findings"][0])
                        if c != "confidence")
    db.execute(f"CREATE VIEW finding_status AS SELECT {columns}, COALESCE((SELECT c.confidence "
               "FROM confidence_changes c WHERE c.finding_id = f.finding_id ORDER BY c.seq DESC "
               "LIMIT 1), f.confidence) AS confidence, COALESCE((SELECT s.status FROM "
               "status_changes s WHERE s.finding_id = f.finding_id ORDER BY s.seq DESC LIMIT 1),"
               " 'alleged') AS status FROM findings f")
    # Indexes for the hot path of ingestion (a source's earlier revisions; corroboration's
    # search by time and place).
    db.execute("CREATE INDEX idx_reports_source ON reports (feed, source_id)")
    db.execute("CREATE INDEX idx_findings_source ON findings (feed, source_id)")
    db.execute("CREATE INDEX idx_incidents_time_lat ON incidents (occurred_start, lat)")
    db.execute("CREATE INDEX idx_incidents_admin1 ON incidents (admin1)")
    db.execute("CREATE INDEX idx_links_report ON links (report_key, seq)")
    # The incident each report belongs to now: its latest link, else the one it was judged in.
    db.execute("CREATE VIEW report_incident AS SELECT r.report_key, r.feed, r.source_id, "
               "r.revision, r.incident_id AS own_incident, COALESCE((SELECT l.incident_id FROM "
               "links l WHERE l.report_key = r.report_key ORDER BY l.seq DESC LIMIT 1), "
               "r.incident_id) AS incident_id FROM reports r")
    # Views for the common questions (README "The ledger"). A finding's day is the UTC date of
    # the middle of its event window: for a report dated to a day that is the local day.
    db.execute("CREATE VIEW current_findings AS SELECT * FROM finding_status WHERE status NOT "
               "IN ('superseded', 'retracted')")
    db.execute("CREATE VIEW findings_per_party_day AS SELECT date(julianday(f.occurred) + "
               "(julianday(f.occurred_end) - julianday(f.occurred)) / 2) AS day, p.value AS "
               "party, f.term, f.severity, count(*) AS findings FROM current_findings f, "
               "json_each(f.charged_to) p GROUP BY day, party, f.term, f.severity")
    db.execute("CREATE VIEW scorecard AS SELECT p.value AS party, f.instrument, f.term, "
               "f.severity, count(*) AS findings, min(f.occurred) AS first, max(f.occurred) AS "
               "last FROM current_findings f, json_each(f.charged_to) p WHERE f.status NOT IN "
               "('disputed', 'discounted') GROUP BY party, f.instrument, f.term, f.severity")
    db.execute("CREATE VIEW feed_status AS SELECT feed, count(*) AS runs, sum(new) AS "
               "records_taken, max(CASE WHEN ok THEN finished_at END) AS last_success, "
               "max(CASE WHEN NOT ok THEN finished_at END) AS last_failure, (SELECT h2.reason "
               "FROM feed_health h2 WHERE h2.feed = h.feed AND NOT h2.ok ORDER BY h2.seq DESC "
               "LIMIT 1) AS last_failure_reason FROM feed_health h GROUP BY feed")


@MIGRATIONS(name="m002_pattern_queue")
def _m002_pattern_queue(db: sqlite_utils.Database) -> None:
    # Event-time windows whose patterns (monitor.timeline) await recomputation: written with
    # the batch that made them stale, emptied by the refresh that recomputed them. Not chained:
    # bookkeeping, like an index. A NULL start means "recompute everything".
    db.execute("CREATE TABLE pattern_queue (id INTEGER PRIMARY KEY, start TEXT, end TEXT)")


# Derived tables (m003): NOT chained and never evidence, like an index. Written by the ledger
# in the transaction of the chained rows they are derived from (``Ledger._derive``), so that the
# views the CLI, reports and Datasette read (finding_status, scorecard, findings_per_party_day)
# are joins over indexed rows instead of a correlated subquery and a json_each per finding.
DERIVED_TABLES = ("finding_state", "finding_parties")
_SCORED = "status NOT IN ('superseded', 'retracted', 'disputed', 'discounted')"
# TERMS.md §4 "Counting": a finding's charged set, the one row of a scorecard it sits in —
# "syrian_government", "russia or syrian_government" (ambiguous), "coh_opposition and
# syrian_government" (joint), "unattributed", or "undetermined" (a clash charged to nobody).
CHARGED_SET_SQL = (
    "(CASE WHEN json_array_length(f.charged_to) = 0 THEN 'undetermined' ELSE (SELECT "
    "group_concat(c.value, CASE WHEN f.attribution = 'joint' THEN ' and ' ELSE ' or ' END) FROM "
    "(SELECT DISTINCT value FROM json_each(f.charged_to) ORDER BY value) c) END)")
# A finding of an aggregate report (TERMS.md §4): monitor.judge records it in the explanation's
# first entry (models.Finding.recorded_facts); a finding recorded before revision 2 is not one.
AGGREGATE_SQL = "COALESCE(json_extract(f.explanation, '$[0].finding.aggregate'), 0)"
# One row per finding that counts against a party (context findings, CTX-CIV, never do): its
# charged set, the columns the per-party views group by, and its current status.
_PARTIES_FROM_FINDINGS = (
    "INSERT INTO finding_parties (finding_id, party, instrument, term, severity, occurred, "
    f"occurred_end, status) SELECT f.finding_id, {CHARGED_SET_SQL}, f.instrument, f.term, "
    "f.severity, f.occurred, f.occurred_end, COALESCE((SELECT s.status FROM finding_state s "
    "WHERE s.finding_id = f.finding_id), 'alleged') FROM findings f WHERE f.instrument_status "
    "IS NOT 'context'")


@MIGRATIONS(name="m003_finding_state")
def _m003_finding_state(db: sqlite_utils.Database) -> None:
    # finding_state: a finding's latest status and latest re-scored confidence (NULL: none
    # recorded), only for findings that have one.
    db.execute("CREATE TABLE finding_state (finding_id TEXT PRIMARY KEY, status TEXT, "
               "confidence TEXT) WITHOUT ROWID")
    db.execute("CREATE TABLE finding_parties (finding_id TEXT NOT NULL, party TEXT, "
               "instrument TEXT, term TEXT, severity TEXT, occurred TEXT, occurred_end TEXT, "
               "status TEXT NOT NULL)")
    db.execute("INSERT INTO finding_state (finding_id, status, confidence) SELECT id, (SELECT "
               "s.status FROM status_changes s WHERE s.finding_id = ids.id ORDER BY s.seq DESC "
               "LIMIT 1), (SELECT c.confidence FROM confidence_changes c WHERE c.finding_id = "
               "ids.id ORDER BY c.seq DESC LIMIT 1) FROM (SELECT finding_id AS id FROM "
               "status_changes UNION SELECT finding_id FROM confidence_changes) ids")
    db.execute(_PARTIES_FROM_FINDINGS + " ORDER BY f.seq")
    db.execute("CREATE INDEX idx_finding_parties_finding ON finding_parties (finding_id, party)")
    # the scorecard reads this index alone, in its GROUP BY order
    db.execute("CREATE INDEX idx_finding_parties_scored ON finding_parties (party, instrument, "
               f"term, severity, occurred) WHERE {_SCORED}")
    # The same views, the same columns, now joins over the derived tables.
    for view in ("finding_status", "findings_per_party_day", "scorecard"):
        db.execute(f"DROP VIEW {view}")
    columns = ", ".join(f"f.{_q(c)}" for c in (*COMMON_COLUMNS, *_CORE["findings"][0])
                        if c != "confidence")
    db.execute(f"CREATE VIEW finding_status AS SELECT {columns}, COALESCE(s.confidence, "
               "f.confidence) AS confidence, COALESCE(s.status, 'alleged') AS status FROM "
               "findings f LEFT JOIN finding_state s ON s.finding_id = f.finding_id")
    db.execute("CREATE VIEW findings_per_party_day AS SELECT date(julianday(p.occurred) + "
               "(julianday(p.occurred_end) - julianday(p.occurred)) / 2) AS day, p.party AS "
               "party, p.term AS term, p.severity AS severity, count(*) AS findings FROM "
               "finding_parties p WHERE p.status NOT IN ('superseded', 'retracted') GROUP BY "
               "day, party, p.term, p.severity")
    db.execute("CREATE VIEW scorecard AS SELECT party, instrument, term, severity, count(*) AS "
               "findings, min(occurred) AS first, max(occurred) AS last FROM finding_parties "
               f"WHERE {_SCORED} GROUP BY party, instrument, term, severity")


@MIGRATIONS(name="m004_charged_sets")
def _m004_charged_sets(db: sqlite_utils.Database) -> None:
    # TERMS.md revision 2: a finding sits in one row, its charged set, instead of one row per
    # side charged; context findings in none. The derived table is rebuilt from the chain.
    db.execute("DELETE FROM finding_parties")
    db.execute(_PARTIES_FROM_FINDINGS + " ORDER BY f.seq")


@dataclass(frozen=True)
class _Table:  # what writing, reading and verifying need to know of one chained table
    name: str
    columns: tuple[str, ...]  # all of them, in table order: the common four first
    own: tuple[str, ...]
    kinds: tuple[type, ...]  # Python type of each own column, from its declared SQL type
    json: frozenset[str]
    insert_sql: str

    @property
    def own_set(self) -> frozenset[str]:
        return self._cache()[0]

    @property
    def plan(self) -> tuple[tuple[str, type, bool], ...]:
        """(column, Python type, is JSON) of each own column, in table order."""
        return self._cache()[1]

    def canonical(self, values: Sequence[Any]) -> str:
        """The canonical form of a stored row given as values in column order (the hash
        column ignored): the same text as ``canonical_json({"table": name, **row})`` (the
        module's contract), assembled from the sorted columns without building a dict."""
        parts = self._cache()[2]
        encode = _ENCODERS
        return "{" + ",".join(
            prefix + (self_json if index < 0 else (
                "null" if (v := values[index]) is None else encode[type(v)](v)))
            for prefix, index, self_json in parts) + "}"

    def _cache(self) -> tuple[frozenset[str], tuple[tuple[str, type, bool], ...],
                              tuple[tuple[str, int, str], ...]]:
        cached = _TABLE_CACHE.get(self)
        if cached is None:
            plan = tuple((c, k, c in self.json) for c, k in zip(self.own, self.kinds))
            order = sorted([*(c for c in self.columns if c != "hash"), "table"])
            parts = tuple((("," if False else "") + json.dumps(k) + ":",
                           -1 if k == "table" else self.columns.index(k),
                           json.dumps(self.name)) for k in order)
            cached = _TABLE_CACHE[self] = (frozenset(self.own), plan, parts)
        return cached


# Chained table -> the column of it that finding_state keeps (findings feed finding_parties).
_DERIVE_FROM = {"findings": "", "status_changes": "status", "confidence_changes": "confidence"}
# Per-table lookups built once (a frozen dataclass cannot hold them itself).
_TABLE_CACHE: dict[_Table, tuple[frozenset[str], tuple[tuple[str, type, bool], ...],
                                 tuple[tuple[str, int, str], ...]]] = {}
# How the canonical form writes each stored value type (json's own choices: its C string
# encoder, int.__repr__, float.__repr__).
_ENCODERS: dict[type, Callable[[Any], str]] = {
    str: json.encoder.encode_basestring,  # type: ignore[attr-defined]
    int: int.__repr__, float: float.__repr__}


class Ledger:
    """One ledger file. Open it with :meth:`open`; append inside :meth:`transaction`."""

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Callable[[], datetime],
                 readonly: bool) -> None:
        self._conn, self.path, self.readonly, self._clock = conn, path, readonly, clock
        self._lock = threading.RLock()  # the daemon's threads share this connection
        self._depth, self._owner, self._head = 0, 0, (0, GENESIS_HASH)  # head: in transactions
        self._tables: dict[str, _Table] = {}
        self._derived = False  # whether the file has the derived tables (m003)

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
        conn = sqlite3.connect(path.resolve().as_uri() + "?mode=ro" if readonly else path,
                               uri=readonly, timeout=30, isolation_level=None,
                               check_same_thread=False)
        try:
            conn.create_function("canonical_json", 1, canonical_json, deterministic=True)
            # 64 MiB of page cache (SQLite's default is 2): the ledger's indexes are keyed by
            # event time, which arrives in any order, so a big ledger's writes and reads touch
            # pages all over them.
            conn.executescript("PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000; "
                               "PRAGMA cache_size=-65536;")
            ledger = cls(conn, path, clock or (lambda: datetime.now(timezone.utc)), readonly)
            if not readonly:
                import sqlite_utils

                db = sqlite_utils.Database(conn)
                db.enable_wal()  # must run outside a transaction
                conn.execute("PRAGMA synchronous=NORMAL")  # safe in WAL, and far faster
                with ledger.transaction():  # two processes must not both migrate a new file
                    MIGRATIONS.apply(db)
            ledger._load_tables()
            if not ledger._tables:
                raise LedgerError(f"{path} is not a ledger (it has no chained tables)")
        except BaseException:
            conn.close()
            raise
        return ledger

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def _load_tables(self) -> None:
        # Read from the file, not CHAINED_TABLES alone: the head and verify() must take in every
        # chained table the file holds, even one created by newer code.
        self._tables = {}
        names = [n for (n,) in self._conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")]
        self._derived = set(DERIVED_TABLES) <= set(names)
        for name in names:
            info = self._conn.execute(f"PRAGMA table_info({_q(name)})").fetchall()
            columns = tuple(r[1] for r in info)
            if columns[:4] == COMMON_COLUMNS:
                json_cols = frozenset(c for c, t in CHAINED_TABLES.get(name, {}).items()
                                      if t in (list, dict))
                kinds = tuple(_KIND_OF_SQL.get(r[2].upper(), str) for r in info[4:])
                self._tables[name] = _Table(name, columns, columns[4:], kinds, json_cols,
                                            f"INSERT INTO {_q(name)} VALUES "
                                            f"({', '.join('?' * len(columns))})")

    # --- writing ---------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Ledger]:
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
                    crash_point("ledger.commit")
            except BaseException:
                if self._conn.in_transaction:  # some errors have rolled back already
                    self._conn.execute("ROLLBACK" if outer else f"ROLLBACK TO {name}")
                    if not outer:
                        self._conn.execute(f"RELEASE {name}")
                self._head = saved  # the rows are gone, and so is their part of the chain
                raise
            finally:
                self._depth -= 1

    def _read_head(self) -> tuple[int, str]:
        heads = [row for name in self._tables for row in self._conn.execute(
            f"SELECT seq, hash FROM {_q(name)} ORDER BY seq DESC LIMIT 1")]
        return max(heads, default=(0, GENESIS_HASH))

    def _writable(self, table: str) -> _Table:
        if not self._depth or self._owner != threading.get_ident():
            raise LedgerError("append() must run inside `with ledger.transaction():`")
        if table not in self._tables:
            raise LedgerError(f"{table!r} is not a chained table; there are "
                              f"{', '.join(sorted(self._tables))}")
        return self._tables[table]

    def _prepare(self, t: _Table, row: Mapping[str, Any], seq: int,
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
                values.append(_stored(t, column, kind, value))
            else:
                values.append(value)  # str in TEXT, int in INTEGER: stored as given
        digest = hashlib.sha256((prev + t.canonical(values)).encode()).hexdigest()
        values[3] = digest
        return tuple(values), digest

    def append(self, table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        """Append one row of ``table`` (its own columns; missing ones are NULL). Returns it as
        stored, seq/recorded_at/prev_hash/hash filled in; JSON columns hold the values given."""
        t = self._writable(table)
        stored, digest = self._prepare(t, row, self._head[0] + 1, self._head[1])
        self._insert(t, [stored])
        self._head = (stored[0], digest)
        out = dict(zip(t.columns, stored))
        for column in t.json:  # the value given, unless JSON would read it back otherwise
            if out[column] is not None:
                given = row[column]
                out[column] = given if type(given) in (list, dict) else json.loads(out[column])
        return out

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

    def _insert(self, t: _Table, batch: list[tuple[Any, ...]]) -> None:
        try:
            self._conn.executemany(t.insert_sql, batch)
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise DuplicateEntryError(f"{t.name}: already recorded ({exc})") from exc
            raise LedgerError(f"{t.name}: refused by the database ({exc})") from exc
        if self._derived and t.name in _DERIVE_FROM:
            self._derive(t, batch)

    def _derive(self, t: _Table, batch: list[tuple[Any, ...]]) -> None:
        """Bring the derived tables (m003) up to date with a batch of ``t`` just inserted, in
        the same transaction. Rows arrive in seq order, so the last one written holds."""
        if t.name == "findings":
            self._conn.execute(_PARTIES_FROM_FINDINGS + " AND f.seq BETWEEN ? AND ? ORDER BY "
                               "f.seq", [batch[0][0], batch[-1][0]])
            return
        column = _DERIVE_FROM[t.name]
        at, value_at = t.columns.index("finding_id"), t.columns.index(column)
        pairs = [(row[at], row[value_at]) for row in batch]
        self._conn.executemany(f"INSERT INTO finding_state (finding_id, {column}) VALUES (?, ?) "
                               f"ON CONFLICT (finding_id) DO UPDATE SET {column} = "
                               f"excluded.{column}", pairs)
        if column == "status":
            self._conn.executemany("UPDATE finding_parties SET status = ? WHERE finding_id = ?",
                                   [(status, finding) for finding, status in pairs])

    # --- reading ---------------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any] = (), table: str = "") -> list[dict[str, Any]]:
        json_cols = self._tables[table].json if table in self._tables else frozenset()
        with self._lock:  # reads too: the connection may be inside another thread's write
            cursor = self._conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [self._decode(json_cols, dict(zip(names, r))) for r in cursor]

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

    def user_query(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()
                   ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a user's SQL read-only: only reading is authorised (SQLite's authorizer refuses
        every write, ATTACH, DETACH and PRAGMA before the statement runs, whatever it is
        wrapped in). Returns (column names, rows); LedgerError explains a refusal."""
        refused: list[str] = []

        def authorize(action: int, arg1: Any, arg2: Any, db: Any, source: Any) -> int:
            if action in _READ_ACTIONS:
                return sqlite3.SQLITE_OK
            refused.append(_ACTION_NAMES.get(action, f"action {action}")
                           + (f" {arg1}" if isinstance(arg1, str) else ""))
            return sqlite3.SQLITE_DENY

        with self._lock:
            self._conn.set_authorizer(authorize)
            try:
                cursor = self._conn.execute(sql, params)
                names = [d[0] for d in cursor.description or ()]
                return names, cursor.fetchall()
            except sqlite3.DatabaseError as exc:
                if refused:
                    asks = ", ".join(dict.fromkeys(refused))
                    raise LedgerError(f"refused: the ledger is read-only here, and this "
                                      f"statement asks for {asks}. Only SELECT (and "
                                      "WITH ... SELECT) queries are allowed.") from None
                raise LedgerError(f"SQL error: {exc}") from None
            except (sqlite3.Warning, sqlite3.ProgrammingError) as exc:
                raise LedgerError(f"SQL error: {exc}") from None
            finally:
                self._conn.set_authorizer(None)

    def has_report(self, report_key: str) -> bool:
        """Whether the report with this key (``feed:source_id:revision``) is recorded."""
        return bool(self._rows("SELECT 1 FROM reports WHERE report_key = ?", [report_key]))

    def known_reports(self, keys: Iterable[str]) -> set[str]:
        """Which of these report keys are recorded (one query per 500 keys)."""
        keys, out = list(dict.fromkeys(keys)), set()
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i:i + 500]
                out.update(k for (k,) in self._conn.execute(
                    f"SELECT report_key FROM reports WHERE report_key IN "
                    f"({', '.join('?' * len(chunk))})", chunk))
        return out

    def known_sources(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (feed, source_id) have any revision recorded."""
        by_feed: dict[str, list[str]] = {}
        for feed, source_id in dict.fromkeys(pairs):
            by_feed.setdefault(feed, []).append(source_id)
        out: set[tuple[str, str]] = set()
        with self._lock:
            for feed, ids in by_feed.items():
                for i in range(0, len(ids), 500):
                    chunk = ids[i:i + 500]
                    out.update(self._conn.execute(
                        f"SELECT DISTINCT feed, source_id FROM reports WHERE feed = ? AND "
                        f"source_id IN ({', '.join('?' * len(chunk))})", [feed, *chunk]))
        return out

    def report_keys(self, feed: str) -> set[str]:
        """Keys of every report recorded from ``feed``."""
        return {r["report_key"] for r in self._rows(
            "SELECT report_key FROM reports WHERE feed = ?", [feed])}

    def findings(self, *, term: str | None = None, party: str | None = None,
                 attribution: str | None = None,
                 instrument: str | None = None, since: str | date | None = None,
                 until: str | date | None = None, status: str | None = None,
                 incident_id: str | None = None, limit: int | None = None,
                 as_json: bool = False) -> list[Any]:
        """Findings with their current ``status``, ordered by ``occurred`` then ``seq``. ``party``
        is a charged set (TERMS.md §4 "Counting": "syrian_government" matches the findings
        charged to it alone; "russia or syrian_government", "undetermined", "unattributed");
        ``attribution`` is single, ambiguous, undetermined or joint. ``since`` (inclusive) and ``until`` (exclusive)
        bound ``occurred``, which the writer stores as UTC ``YYYY-MM-DDTHH:MM:SS+00:00`` (text
        order is time order): a date means the start of that day in UTC (``until="2016-09-13"``
        ends with 12 September); an aware datetime is taken in UTC. With ``as_json`` each
        finding is the text of a JSON object (the same keys and values, made by SQLite, JSON
        columns embedded as stored): nothing is decoded to be encoded again."""
        bounded = since is not None or until is not None
        # A time window is far narrower than a term or an instrument (COH-GOV is half of the
        # findings): the unary + keeps SQLite on the index of occurred.
        plus = "+" * bounded
        party_clause = ("EXISTS (SELECT 1 FROM finding_parties p WHERE p.finding_id = "
                        "f.finding_id AND p.party = ?)" if self._derived else
                        f"{CHARGED_SET_SQL} = ?")
        filters = {f"{plus}f.term = ?": term, f"{plus}f.instrument = ?": instrument,
                   "f.attribution = ?": attribution,
                   "f.status = ?": status, "f.incident_id = ?": incident_id,
                   "f.occurred >= ?": _utc_bound(since), "f.occurred < ?": _utc_bound(until),
                   party_clause: party}
        where = {clause: value for clause, value in filters.items() if value is not None}
        t = self._tables["findings"]
        if as_json:
            # the view's columns, in its order (confidence and status come last)
            names = [*(c for c in t.columns if c != "confidence"), "confidence", "status"]
            select = "json_object(" + ", ".join(
                f"'{c}', " + (f"json(f.{_q(c)})" if c in t.json else f"f.{_q(c)}")
                for c in names) + ")"
        else:
            select = "f.*"
        sql = f"SELECT {select} FROM finding_status f" + " WHERE " * bool(where)
        sql += " AND ".join(where) + " ORDER BY f.occurred, f.seq" + " LIMIT ?" * (
            limit is not None)
        params = [*where.values(), *[limit] * (limit is not None)]
        if as_json:
            with self._lock:
                return [text for (text,) in self._conn.execute(sql, params)]
        return self._rows(sql, params, "findings")

    def finding(self, finding_id: str) -> dict[str, Any] | None:
        """One finding with its current status, or None."""
        return next(iter(self._rows("SELECT * FROM finding_status WHERE finding_id = ?",
                                    [finding_id], "findings")), None)

    def status_history(self, finding_id: str) -> list[dict[str, Any]]:
        """Every status change of a finding, oldest first."""
        return self._rows("SELECT * FROM status_changes WHERE finding_id = ? ORDER BY seq",
                          [finding_id])

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        """One incident as recorded, or None."""
        return next(iter(self._rows("SELECT * FROM incidents WHERE incident_id = ?",
                                    [incident_id], "incidents")), None)

    def reports_for_incident(self, incident_id: str) -> list[dict[str, Any]]:
        """The reports of an incident, in recording order."""
        return self._rows("SELECT * FROM reports WHERE incident_id = ? ORDER BY seq",
                          [incident_id], "reports")

    def reviews(self) -> list[dict[str, Any]]:
        """What was flagged for a human (unknown actors, coarse locations...), oldest first."""
        return self._rows("SELECT * FROM reviews ORDER BY seq")

    def history(self, table: str, finding_id: str) -> list[dict[str, Any]]:
        """Rows of ``status_changes``, ``confidence_changes`` or ``finding_support`` for a
        finding, oldest first."""
        if table not in ("status_changes", "confidence_changes", "finding_support"):
            raise ValueError(f"no finding history in table {table!r}")
        return self._rows(f"SELECT * FROM {_q(table)} WHERE finding_id = ? ORDER BY seq",
                          [finding_id], table)

    def incident_reports(self, incident_id: str) -> list[dict[str, Any]]:
        """Every report that belongs to an incident now (its own, and those linked to it),
        with the report's body, in recording order."""
        return self._rows("SELECT r.*, ri.own_incident FROM report_incident ri JOIN reports r "
                          "USING (report_key) WHERE ri.incident_id = ? ORDER BY r.seq",
                          [incident_id], "reports")

    def report(self, report_key: str) -> dict[str, Any] | None:
        """One report as recorded (its ``body`` decoded), or None."""
        return next(iter(self._rows("SELECT * FROM reports WHERE report_key = ?", [report_key],
                                    "reports")), None)

    def report_incident(self, report_key: str) -> dict[str, Any] | None:
        """A report's own incident and the incident it belongs to now."""
        return next(iter(self._rows("SELECT * FROM report_incident WHERE report_key = ?",
                                    [report_key])), None)

    def feeds(self) -> set[str]:
        """The feeds with reports in the ledger (an index skip-scan: one seek per feed)."""
        with self._lock:
            return {f for (f,) in self._conn.execute(
                "WITH RECURSIVE f(feed) AS (SELECT min(feed) FROM reports UNION ALL SELECT "
                "(SELECT min(feed) FROM reports WHERE feed > f.feed) FROM f WHERE feed IS NOT "
                "NULL) SELECT feed FROM f WHERE feed IS NOT NULL")}

    def nearby_reports(self, start: datetime, end: datetime, lat: float, lon: float,
                       dlat: float, exclude_feed: str) -> list[dict[str, Any]]:
        """Reports of other feeds whose event window overlaps [start, end) and whose point
        lies within ``dlat`` degrees of latitude (and the same distance in longitude), with
        the incident each belongs to now: the candidates for corroboration. Windows longer
        than MAX_WINDOW (a report dated only to a year) are not searched for."""
        dlon = dlat / max(0.1, math.cos(math.radians(lat)))
        rows = self._rows(
            "SELECT i.report_key, ri.incident_id, r.feed, i.occurred_start, i.occurred_end, "
            "i.lat, i.lon, i.location_precision, i.attacker_sides, i.target_sides, "
            "i.event_type, r.body FROM incidents i JOIN reports r USING (report_key) "
            "JOIN report_incident ri USING (report_key) WHERE i.occurred_start < ? AND "
            "i.occurred_start >= ? AND i.occurred_end > ? AND i.lat BETWEEN ? AND ? AND "
            "i.lon BETWEEN ? AND ? AND r.feed != ? ORDER BY i.seq",
            [iso(end), iso(start - MAX_WINDOW), iso(start), lat - dlat,
             lat + dlat, lon - dlon, lon + dlon, exclude_feed])
        return [self._decode(frozenset({"attacker_sides", "target_sides", "body"}), r)
                for r in rows]

    def latest_reports(self, since: str) -> list[dict[str, Any]]:
        """The latest revision of each source record whose event started at or after
        ``since`` (UTC ISO), with the incident it belongs to now, in recording order."""
        return self._rows(
            "SELECT r.*, ri.incident_id AS incident_id FROM reports r JOIN incidents i "
            "USING (report_key) JOIN report_incident ri USING (report_key) WHERE "
            "i.occurred_start >= ? AND r.seq = (SELECT max(seq) FROM reports r2 WHERE "
            "r2.feed = r.feed AND r2.source_id = r.source_id) ORDER BY r.seq", [since],
            "reports")

    def calm_findings(self, since: str, until: str,
                      instruments: Iterable[str]) -> list[dict[str, Any]]:
        """Major and critical findings under ``instruments`` with ``occurred`` in
        [since, until): only what the calm series reads (id, status, severity, instrument,
        event window), so a dense month costs megabytes, not the findings' whole evidence."""
        wanted = sorted(set(instruments))
        return self._rows(
            "SELECT finding_id, status, severity, confidence, instrument, occurred, occurred_end "
            "FROM finding_status WHERE severity IN ('major', 'critical') AND instrument IN ("
            + ", ".join("?" * len(wanted)) + ") AND occurred >= ? AND occurred < ? "
            "ORDER BY occurred, seq", [*wanted, _utc_bound(since), _utc_bound(until)],
            "findings")

    def serious_findings(self, since: str | None = None,
                         until: str | None = None) -> list[dict[str, Any]]:
        """Current major and critical findings (``occurred`` in [since, until) when given),
        each with its charged set and its incident's ``governorate`` (the admin1 of the
        incident's first report), for escalations. Context findings (CTX-CIV) and findings of
        aggregate reports (TERMS.md §4; the judge records ``aggregate`` in the explanation's
        first entry) are left out."""
        where = " AND occurred >= ? AND occurred < ?" if since else ""
        return self._rows(
            f"SELECT finding_id, incident_id, charged_to, {CHARGED_SET_SQL} AS charged_set, "
            "severity, status, occurred, occurred_end, (SELECT i.admin1 FROM incidents i WHERE "
            "i.incident_id = f.incident_id ORDER BY i.seq LIMIT 1) AS governorate FROM "
            "current_findings f WHERE severity IN ('major', 'critical') AND instrument_status "
            f"IS NOT 'context' AND NOT {AGGREGATE_SQL}" + where
            + " ORDER BY occurred, seq",
            [since, until] if since else [], "findings")

    def event_span(self) -> list[tuple[datetime, datetime]]:
        """[(earliest event start, latest event end)] of every incident row ([] if none)."""
        with self._lock:
            first, last = self._conn.execute(
                "SELECT min(occurred_start), max(occurred_end) FROM incidents").fetchone()
        return [(datetime.fromisoformat(first), datetime.fromisoformat(last))] if first else []

    def pattern_incidents(self, since: str | None = None, until: str | None = None,
                          event_types: Iterable[str] = (), attackers: Iterable[str] = ()
                          ) -> list[dict[str, Any]]:
        """Incidents with an unambiguous attacker and a point (of ``event_types`` and with one
        of ``attackers`` if given) whose event starts in [since, until) when given, with only
        the columns patterns need (not the resolution notes), and the incident each report
        belongs to now (``incident_id``), in recording order."""
        types, sides = sorted(event_types), sorted(attackers)
        where = " AND i.occurred_start >= ? AND i.occurred_start < ?" if since else ""
        where += f" AND i.event_type IN ({', '.join('?' * len(types))})" if types else ""
        where += (" AND EXISTS (SELECT 1 FROM json_each(i.attacker_sides) WHERE value IN "
                  f"({', '.join('?' * len(sides))}))") if sides else ""
        rows = self._rows(
            "SELECT ri.incident_id AS current, i.report_key, i.occurred_start, i.occurred_end, "
            "i.lat, i.lon, i.location_precision, i.admin1, i.event_type, i.attacker_sides, "
            "i.target_sides, i.attribution, i.zones FROM incidents i JOIN report_incident ri "
            "USING (report_key) WHERE i.attribution = 'single' AND i.lat IS NOT NULL" + where
            + " ORDER BY i.seq", [*([since, until] if since else []), *types, *sides],
            "incidents")
        for row in rows:
            row["incident_id"] = row.pop("current")
        return rows

    def incident_rows(self, since: str | None = None, until: str | None = None
                      ) -> list[dict[str, Any]]:
        """Every report's resolved incident row (event start in [since, until) when given),
        with the incident it belongs to now (``incident_id``), in recording order."""
        where = " WHERE i.occurred_start >= ? AND i.occurred_start < ?" if since else ""
        rows = self._rows("SELECT i.*, ri.incident_id AS current FROM incidents i JOIN "
                          "report_incident ri USING (report_key)" + where + " ORDER BY i.seq",
                          [since, until] if since else [], "incidents")
        for row in rows:
            row["incident_id"] = row.pop("current")
        return rows

    def alerts(self, kind: str | None = None, since: str | None = None,
               until: str | None = None, by: str = "start") -> list[dict[str, Any]]:
        """Alerts in force: the latest entry of each key, when it is active; with ``since``
        and ``until``, only those whose ``by`` column (start or end) is in [since, until)."""
        if by not in ("start", "end"):
            raise ValueError(f"alerts by {by!r}: use start or end")
        where = " AND kind = ?" * bool(kind) + f' AND "{by}" >= ? AND "{by}" < ?' * bool(since)
        return self._rows("SELECT * FROM alerts a WHERE seq = (SELECT max(seq) FROM alerts b "
                          "WHERE b.key = a.key) AND active = 1" + where + " ORDER BY start, key",
                          [*([kind] if kind else []), *([since, until] if since else [])],
                          "alerts")

    # --- the patterns' work queue (not chained: derived bookkeeping) -----------------------

    def queue_patterns(self, windows: Iterable[tuple[datetime, datetime]] | None) -> None:
        """Note event-time windows whose patterns must be recomputed (None: all of them), in
        the caller's transaction, for :meth:`pattern_work`."""
        self._writable("reports")  # inside a transaction, like an append
        rows = [(None, None)] if windows is None else [(iso(a), iso(b))
                                                        for a, b in windows]
        self._conn.executemany("INSERT INTO pattern_queue (start, end) VALUES (?, ?)", rows)

    def pattern_work(self) -> tuple[int, list[tuple[datetime, datetime]] | None]:
        """The queue: its last id (0 when empty) and its windows (None: recompute all)."""
        with self._lock:
            rows = self._conn.execute("SELECT id, start, end FROM pattern_queue").fetchall()
        if any(start is None for _, start, _ in rows):
            return max(r[0] for r in rows), None
        return max((r[0] for r in rows), default=0), [
            (datetime.fromisoformat(a), datetime.fromisoformat(b)) for _, a, b in rows]

    def pattern_done(self, last: int) -> None:
        """Drop the queue up to ``last`` (in the transaction that recorded the refresh)."""
        self._writable("reports")
        self._conn.execute("DELETE FROM pattern_queue WHERE id <= ?", [last])

    def calm_days(self) -> list[dict[str, Any]]:
        """The SEP-CALM series: the latest entry of each day."""
        return self._rows("SELECT * FROM calm_days c WHERE seq = (SELECT max(seq) FROM "
                          "calm_days d WHERE d.day = c.day) ORDER BY day", [], "calm_days")

    def feed_cursor(self, feed: str) -> dict[str, Any]:
        """The latest cursor recorded for a feed (``{}`` when it never ran)."""
        rows = self._rows("SELECT cursor FROM feed_cursors WHERE feed = ? ORDER BY seq DESC "
                          "LIMIT 1", [feed], "feed_cursors")
        return rows[0]["cursor"] if rows else {}

    def feed_health(self) -> list[dict[str, Any]]:
        """Every feed run, oldest first."""
        return self._rows("SELECT * FROM feed_health ORDER BY seq", [], "feed_health")

    def has_source(self, feed: str, source_id: str) -> bool:
        """Whether any revision of this source record was recorded."""
        with self._lock:
            return self._conn.execute("SELECT 1 FROM reports WHERE feed = ? AND source_id = ? "
                                      "LIMIT 1", [feed, source_id]).fetchone() is not None

    def source_findings(self, feed: str, source_id: str) -> list[dict[str, Any]]:
        """Findings of every revision of one source record, with their current status."""
        return self._rows("SELECT * FROM finding_status WHERE finding_id IN (SELECT finding_id "
                          "FROM findings WHERE feed = ? AND source_id = ?) ORDER BY seq",
                          [feed, source_id], "findings")

    def counts(self) -> dict[str, int]:
        """Rows per chained table."""
        with self._lock:
            return {name: self._conn.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0]
                    for name in sorted(self._tables)}

    # --- verification ----------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Recompute the whole chain and report its first problem (at most one). A ledger of
        :data:`PARALLEL_VERIFY_MIN` entries or more is checked in two parts at once, the upper
        one by a second process; the result is the one a single pass gives. The file is read
        through a connection of its own (:func:`_reader`), so writers are not held up."""
        with self._lock:
            # a transaction of this connection holds rows no other connection can see yet
            if self._conn.in_transaction or not self.path.is_file():
                self._conn.execute("SAVEPOINT ledger_verify")  # one snapshot of every table
                try:
                    return self._check_span(self._conn, None, None, 0, GENESIS_HASH).result()
                finally:
                    self._conn.execute("RELEASE ledger_verify")
        conn = _reader(self.path)
        try:
            conn.execute("BEGIN")  # one snapshot across all the tables, from the first read
            return self._verify(conn)
        finally:
            conn.close()

    def _verify(self, conn: Any) -> VerifyResult:
        head = max((conn.execute(f"SELECT max(seq) FROM {_q(name)}").fetchone()[0] or 0
                    for name in self._tables), default=0)
        # Rows above this snapshot's head (appended meanwhile) are left out.
        if head < PARALLEL_VERIFY_MIN:
            return self._check_span(conn, None, head, 0, GENESIS_HASH).result()
        # The upper part (mid, head] in a second process, started first; the lower part here.
        # The second process starts about 0.1 s late, so this one takes a little more.
        mid = int(head * _LOWER_SHARE)
        proc = _start_upper(self.path, mid + 1, head, mid)
        upper = None
        try:
            lower = self._check_span(conn, None, mid, 0, GENESIS_HASH)
            if not lower.ok:
                return lower.result()
            if proc is not None:
                out, _ = proc.communicate()
                upper = _Span.from_json(out) if proc.returncode == 0 else None
        finally:
            if proc is not None and proc.poll() is None:
                proc.kill()  # the lower part has the first problem: the rest is not needed
                proc.wait()
        if upper is None:  # no second process here, or it failed: check the range here
            upper = self._check_span(conn, mid + 1, head, mid, None)
        return self._stitch(conn, lower, upper)

    def _stitch(self, conn: Any, lower: _Span, upper: _Span) -> VerifyResult:
        """The result of one pass, from a sound lower part and the upper part checked without
        knowing the hash before it."""
        first = upper.first
        if first is not None and first[2] != lower.last_hash:
            t = self._tables[first[1]]
            return VerifyResult(False, lower.n, self._row_problem(
                conn, t, first[0], _DOES_NOT_FOLLOW.format(n=lower.n)), t.name, first[0],
                lower.last_hash)
        if upper.last_hash is None:  # it failed at its first row
            upper = _Span(upper.ok, upper.n, lower.last_hash, upper.problem, upper.table,
                          upper.seq, None)
        return upper.result()

    def _chain_sql(self, where: str) -> str:
        """One query over every chained table, rows merged by SQLite in (seq, table) order:
        seq, the table's index, prev_hash + the canonical form as bytes, hash, prev_hash.

        Fast path: SQLite assembles the canonical form with json_object (keys given in sorted
        order; its strings are escaped as json.dumps escapes them; a REAL is written by
        json_quote when that round-trips, else by canonical_json), Python only hashes. A row
        this does not reproduce is re-checked in Python (the contract): SQLite can make verify
        slower, never wrong."""
        parts = []
        for i, t in enumerate(self._tables.values()):
            floats = {c for c, kind in zip(t.own, t.kinds) if kind is float}
            args = []
            for k in sorted(["table", *t.columns[:3], *t.own]):
                value = (f"'{t.name}'" if k == "table" else _q(k) if k not in floats else
                         f"json(CASE WHEN CAST(json_quote({_q(k)}) AS REAL) = {_q(k)} THEN "
                         f"json_quote({_q(k)}) ELSE canonical_json({_q(k)}) END)")
                args.append(f"'{k}', {value}")
            parts.append(f"SELECT seq, {i}, CAST(prev_hash || json_object({', '.join(args)}) "
                         f"AS BLOB), hash, prev_hash FROM {_q(t.name)}{where}")
        return " UNION ALL ".join(parts) + " ORDER BY 1, 2"

    def _check_span(self, conn: Any, lo: int | None, hi: int | None, n: int,
                    last_hash: str | None) -> _Span:
        """Check, reading through ``conn`` (a connection to this ledger's file), the entries
        with seq in [lo, hi] (None: unbounded), the entry before them
        being seq ``n`` with hash ``last_hash`` (None: not known here; the first row's
        prev_hash is then returned in ``first`` for the caller to check)."""
        tables = list(self._tables.values())
        where = " WHERE " * (lo is not None or hi is not None) + " AND ".join(
            [*["seq >= ?"] * (lo is not None), *["seq <= ?"] * (hi is not None)])
        bounds = [b for b in (lo, hi) if b is not None]
        cursor = conn.execute(self._chain_sql(where), bounds * len(tables))
        sha, last, first = hashlib.sha256, -1, None

        def fail(problem: str, table: str | None, seq: int) -> _Span:
            return _Span(False, n, last_hash, problem, table, seq, first)

        while rows := cursor.fetchmany(_VERIFY_CHUNK):
            seqs, index, payloads, stored, prevs = zip(*rows)
            # A whole chunk at once: consecutive seqs, every hash reproduced, each prev_hash
            # the hash before it. Else row by row, to name the first problem.
            if (seqs == tuple(range(n + 1, n + 1 + len(rows)))
                    and prevs[0] == (prevs[0] if last_hash is None else last_hash)
                    and prevs[1:] == stored[:-1]
                    and [sha(p).hexdigest() for p in payloads] == list(stored)):
                if last_hash is None:
                    first = (seqs[0], tables[index[0]].name, prevs[0])
                n, last_hash, last = seqs[-1], stored[-1], index[-1]
                continue
            for seq, i, payload, digest, prev in rows:
                if seq != n + 1:
                    if seq <= n:
                        return fail(f"entry seq {seq} appears twice (in {tables[last].name} "
                                    f"and {tables[i].name})", tables[i].name, seq)
                    return fail(f"entry seq {n + 1} is missing (deleted?)", None, n + 1)
                if sha(payload).hexdigest() != digest and self._altered(conn, tables[i], seq):
                    problem = "was altered: its hash does not match its contents"
                elif last_hash is not None and prev != last_hash:
                    problem = _DOES_NOT_FOLLOW.format(n=n)
                else:
                    if last_hash is None:
                        first = (seq, tables[i].name, prev)
                    last_hash, last, n = digest, i, seq
                    continue
                t = tables[i]
                return fail(self._row_problem(conn, t, seq, problem), t.name, seq)
        return _Span(True, n, last_hash, first=first)

    def _row_problem(self, conn: Any, t: _Table, seq: int, problem: str) -> str:
        """``problem`` of row ``seq`` of ``t``, naming the row by its first own column."""
        (ident,) = conn.execute(f"SELECT {_q(t.own[0])} FROM {_q(t.name)} WHERE seq = ?",
                                [seq]).fetchone()
        return f"{t.name} row seq {seq} ({t.own[0]} {ident}) {problem}"

    def _altered(self, conn: Any, t: _Table, seq: int) -> bool:
        row = conn.execute(f"SELECT * FROM {_q(t.name)} WHERE seq = ?", [seq]).fetchone()
        return bool(entry_hash(t.name, dict(zip(t.columns, row))) != row[3])


# verify() splits a ledger of this many entries between two processes (a second process costs
# about 0.1 s to start; 100,000 entries take about half a second).
PARALLEL_VERIFY_MIN = 100_000
_LOWER_SHARE = 0.51  # of the entries, checked by this process while the second one starts
_VERIFY_CHUNK = 2048  # rows checked at once
_VERIFY_MMAP = 1 << 40  # SQLite caps it at its own limit (2 GiB by default)
_DOES_NOT_FOLLOW = ("does not follow entry seq {n}: its prev_hash is not that entry's hash "
                    "(rows reordered, renumbered or rewritten?)")


def _sql_canonical_json(value: Any) -> Any:
    """``canonical_json`` as the SQL function verify's query calls (for REALs)."""
    return canonical_json(value)


def _sqlite_module() -> Any:
    """The sqlite3-compatible module verify reads with: sqlean.py's when installed (a recent
    SQLite, whose json_object builds the canonical form 10-20 % faster than the SQLite
    Python 3.11 ships with: issue #6), else the standard library's. Either gives the same
    result: a string SQLite builds differently is re-checked in Python."""
    try:
        import sqlean  # type: ignore[import-untyped]
    except ImportError:
        return sqlite3
    return sqlean


def _reader(path: Path) -> Any:
    """A read-only connection to the ledger file at ``path`` for verify (mmap: no copy of
    each page read)."""
    engine = _sqlite_module()
    conn = engine.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True, timeout=30,
                          isolation_level=None, check_same_thread=False)
    conn.create_function("canonical_json", 1, _sql_canonical_json, deterministic=True)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute(f"PRAGMA mmap_size={_VERIFY_MMAP}")
    return conn


@dataclass(frozen=True)
class _Span:
    """What checking a range of entries found: the last sound entry (``n``, ``last_hash``), the
    first problem, and ``first``: (seq, table, prev_hash) of the range's first row when it
    was checked without the hash before it."""

    ok: bool
    n: int
    last_hash: str | None
    problem: str | None = None
    table: str | None = None
    seq: int | None = None
    first: tuple[int, str, str] | None = None

    @classmethod
    def from_json(cls, text: bytes) -> _Span:
        fields = json.loads(text)
        first = fields.pop("first")
        return cls(**fields, first=tuple(first) if first else None)  # type: ignore[arg-type]

    def result(self) -> VerifyResult:
        if self.ok:
            return VerifyResult(True, self.n, head_hash=self.last_hash)
        return VerifyResult(False, self.n, self.problem, self.table, self.seq, self.last_hash)


def _start_upper(path: Path, lo: int, hi: int, n: int) -> subprocess.Popen[bytes] | None:
    """Start checking entries lo..hi of the ledger at ``path`` in a second Python process
    (a fresh interpreter: forking the daemon's threads is unsafe). None if it cannot start."""
    package_root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        return subprocess.Popen(
            [sys.executable, "-c", "from monitor.ledger import _verify_span_main as m; m()",
             str(Path(path).resolve()), str(lo), str(hi), str(n)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env=env)
    except OSError:
        return None


def _verify_span_main() -> None:
    """The second process of :meth:`Ledger.verify`: argv PATH LO HI N; the span as JSON."""
    path, lo, hi, n = sys.argv[1], *map(int, sys.argv[2:5])
    ledger = Ledger.open(Path(path), readonly=True)  # the tables' columns
    conn = _reader(Path(path))
    try:
        conn.execute("BEGIN")
        span = ledger._check_span(conn, lo, hi, n, None)
    finally:
        conn.close()
        ledger.close()
    sys.stdout.write(json.dumps(span.__dict__))


def _stored(t: _Table, column: str, kind: type, value: Any) -> Any:
    """``value`` exactly as SQLite will store and return it, so that the hash computed now is
    the hash recomputed later (an int in a REAL column comes back as a float, for instance)."""
    if value is None:
        return None
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


def iso(value: datetime) -> str:
    """An aware time as the ledger writes it: UTC, seconds, '+00:00' (so text order is time
    order)."""
    return value.astimezone(timezone.utc).isoformat(timespec="seconds")


def _utc_bound(value: str | date | None) -> str | None:
    """A time bound as text comparable with the stored UTC ISO strings."""
    if value is None or isinstance(value, str) and len(value) <= 10:
        return value  # a date 'YYYY-MM-DD' sorts before every time of that day
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    if isinstance(value, datetime) and value.tzinfo is None:
        raise LedgerError(f"time bound {value.isoformat()} has no UTC offset; add one")
    return (value.astimezone(timezone.utc) if isinstance(value, datetime) else value).isoformat()
