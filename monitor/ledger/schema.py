"""The ledger's schema: its chained tables, derived tables and views, and the migrations that
create them.

Every *chained table* starts with the :data:`COMMON_COLUMNS` ``seq, recorded_at, prev_hash,
hash`` (see :mod:`monitor.ledger.chain`), carries triggers that refuse UPDATE and DELETE, and is
never altered: a new one is declared with :func:`chained_table_migration`. Derived tables are
not chained: like an index, they are rebuilt from the chained rows. Migrations are sqlite-utils'
(recorded in ``_sqlite_migrations``, set ``monitor.ledger``), applied when a ledger is opened
for writing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..vocabulary import GONE_STATUSES, SET_ASIDE_STATUSES, sql_list
from .compact import (
    EXPLANATION_SQL,
    M005_EXPLANATION_SQL,
    M005_RESOLUTION_SQL,
    M008_EXPLANATION_SQL,
    M008_RESOLUTION_SQL,
    RESOLUTION_SQL,
    STORED_EXPLANATION_SQL,
)

if TYPE_CHECKING:  # sqlite-utils is imported when a ledger is opened for writing, not to read
    import sqlite_utils

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

    @property
    def names(self) -> tuple[str, ...]:
        """Every step's name, in the order they apply."""
        return tuple(name for name, _ in self._steps)

    def apply(self, db: sqlite_utils.Database, only: frozenset[str] | None = None) -> None:
        """Apply the pending steps (``only``: just those of these names, for rebuilding the
        schema of a file that has not had the newer ones yet)."""
        from sqlite_utils import Migrations

        migrations = Migrations(self.name)
        for name, fn in self._steps:
            if only is None or name in only:
                migrations(name=name)(fn)
        migrations.apply(db)


# One set of migrations for the ledger; registration order is the order they apply in.
MIGRATIONS = _Migrations("monitor.ledger")


# Indexes that a batch of new reports of one feed does not read (the queries, Datasette,
# revisions, retractions, corroboration with another feed and the patterns do): an import of
# a big file into an empty ledger builds them once, at its end, rather than entry by entry
# (:meth:`.store.Ledger.indexes_at_end`). Each is keyed by event time, a hashed id or a party,
# which arrive in any order, so each batch changed pages all over them and its commit wrote
# them again. Measured on 1,000,000 generated rows, the indexes dropped by hand: the batches
# recorded in 141 s rather than 176 s (the importing process's system time 27 -> 8 s), and
# the ten indexes then built in 5.2 s.
INDEXES_AT_END = ("idx_incidents_incident_id", "idx_incidents_admin1", "idx_incidents_time_lat",
                  "idx_incidents_long_window", "idx_findings_occurred",
                  "idx_findings_incident_id", "idx_findings_source",
                  "idx_findings_term_occurred", "idx_finding_parties_finding",
                  "idx_finding_parties_scored")


def quote(name: str) -> str:
    """``name`` as an SQL identifier, quoted."""
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
    own = [f"{quote(c)} {_SQL_TYPES[t]}" + " UNIQUE" * (c in unique)
           + " NOT NULL" * (c in not_null) for c, t in columns.items()]
    db.execute(f"CREATE TABLE {quote(name)} (seq INTEGER PRIMARY KEY, recorded_at TEXT NOT NULL, "
               f"prev_hash TEXT NOT NULL, hash TEXT NOT NULL, {', '.join(own)})")
    for verb in ("update", "delete"):
        db.execute(f"CREATE TRIGGER {quote(f'{name}_no_{verb}')} BEFORE {verb.upper()} ON "
                   f"{quote(name)} BEGIN SELECT RAISE(ABORT, 'ledger is append-only: {name} rows "
                   f"cannot be {verb}d'); END")
    for column in indexes:
        db.execute(f"CREATE INDEX {quote(f'idx_{name}_{column}')} ON {quote(name)} "
                   f"({quote(column)})")


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
    # a calm counter's day before counters had names: no longer written (calm_counts below)
    "calm_days": ({"day": int, "start": str, "end": str, "calm": int, "consecutive": int,
                   "condition_met": int, "breaches": list}, (), ("day",), ("day",)),
    # escalations and cycles of excuses; a later entry with active 0 withdraws one
    "alerts": ({"key": str, "kind": str, "active": int, "party": str, "governorate": str,
                "start": str, "end": str, "incident_ids": list, "finding_ids": list,
                "detail": str}, (), ("key", "kind", "active"), ("key",)),
    # each attempt to deliver an alert to a webhook
    "deliveries": ({"webhook": str, "event": str, "event_key": str, "attempt": int,
                    "ok": int, "status": int, "error": str}, (), ("webhook", "event_key"),
                   ("event_key",)),
    # a feed's position, written in the same transaction as the records it covers
    "feed_cursors": ({"feed": str, "cursor": dict, "items": int}, (), ("feed",), ("feed",)),
    # one row per run of a feed: what it took, or why it failed
    "feed_health": ({"feed": str, "ok": int, "started_at": str, "finished_at": str,
                     "attempts": int, "new": int, "duplicates": int, "rejected": int,
                     "retracted": int, "findings": int, "reason": str, "lag_seconds": float},
                    (), ("feed",), ("feed",)),
}
CHAINED_TABLES.update((name, dict(spec[0])) for name, spec in _CORE.items())
# table -> its column stored compressed once the feed has a dictionary (monitor.ledger.packing)
PACKED = {"reports": "body", "incidents": "resolution"}


def current_incident_sql(row: str) -> str:
    """The incident the report of row ``row`` (of reports, or of incidents: both hold the
    report's own incident, written together) belongs to now: its latest link, else its own."""
    return (f"COALESCE((SELECT l.incident_id FROM links l WHERE l.report_key = {row}.report_key "
            f"ORDER BY l.seq DESC LIMIT 1), {row}.incident_id)")


@MIGRATIONS(name="m001_chained_tables")
def _m001_chained_tables(db: sqlite_utils.Database) -> None:
    for name, (own, unique, not_null, indexes) in _CORE.items():
        _create_chained_table(db, name, own, unique, unique + not_null, indexes)
    # A finding's current status is its latest status change (by seq), else 'alleged'; its
    # current confidence the latest re-scoring, else the one it was recorded with.
    columns = ", ".join(f"f.{quote(c)}" for c in (*COMMON_COLUMNS, *_CORE["findings"][0])
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
               f"r.revision, r.incident_id AS own_incident, {current_incident_sql('r')} AS "
               "incident_id FROM reports r")
    # Views for the common questions (README "The ledger"). A finding's day is the UTC date of
    # the middle of its event window: for a report dated to a day that is the local day.
    db.execute("CREATE VIEW current_findings AS SELECT * FROM finding_status WHERE status NOT "
               f"IN {sql_list(GONE_STATUSES)}")
    db.execute("CREATE VIEW findings_per_party_day AS SELECT date(julianday(f.occurred) + "
               "(julianday(f.occurred_end) - julianday(f.occurred)) / 2) AS day, p.value AS "
               "party, f.term, f.severity, count(*) AS findings FROM current_findings f, "
               "json_each(f.charged_to) p GROUP BY day, party, f.term, f.severity")
    db.execute("CREATE VIEW scorecard AS SELECT p.value AS party, f.instrument, f.term, "
               "f.severity, count(*) AS findings, min(f.occurred) AS first, max(f.occurred) AS "
               "last FROM current_findings f, json_each(f.charged_to) p WHERE f.status NOT IN "
               f"{sql_list(SET_ASIDE_STATUSES)} GROUP BY party, f.instrument, f.term, f.severity")
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
# in the transaction of the chained rows they are derived from (``Chain._derive``), so that the
# views the CLI, reports and Datasette read (finding_status, scorecard, findings_per_party_day)
# are joins over indexed rows instead of a correlated subquery and a json_each per finding.
DERIVED_TABLES = ("finding_state", "finding_parties")
# Chained table -> the column of it that finding_state keeps (findings feed finding_parties).
DERIVED_FROM = {"findings": "", "status_changes": "status", "confidence_changes": "confidence"}
_SCORED = f"status NOT IN {sql_list(GONE_STATUSES + SET_ASIDE_STATUSES)}"
# TERMS.md §4 "Counting": a finding's charged set, the one row of a scorecard it sits in —
# "syrian_government", "russia or syrian_government" (ambiguous), "coh_opposition and
# syrian_government" (joint), "unattributed", or "undetermined" (a clash charged to nobody).
# A finding charged to one side (most of them) takes the side itself, which is what the
# group_concat gives for one value, without setting up json_each (a third of the cost of
# writing and checking finding_parties on a million findings).
CHARGED_SET_SQL = (
    "(CASE json_array_length(f.charged_to) WHEN 0 THEN 'undetermined' WHEN 1 THEN "
    "CAST(json_extract(f.charged_to, '$[0]') AS TEXT) ELSE (SELECT "
    "group_concat(c.value, CASE WHEN f.attribution = 'joint' THEN ' and ' ELSE ' or ' END) FROM "
    "(SELECT DISTINCT value FROM json_each(f.charged_to) ORDER BY value) c) END)")
# A finding of an aggregate report (TERMS.md §4): monitor.judge records it in the explanation's
# first entry (models.Finding.recorded_facts); a finding recorded before revision 2 is not one.
def aggregate_sql(shared: bool) -> str:
    """:data:`AGGREGATE_SQL` in a file with ``shared_texts`` (``shared``) or one before it."""
    explanation = STORED_EXPLANATION_SQL if shared else "f.explanation"
    return f"COALESCE(json_extract({explanation}, '$[0].finding.aggregate'), 0)"


AGGREGATE_SQL = aggregate_sql(shared=True)
# One row per finding that counts against a party (context findings, CTX-CIV, never do): its
# charged set, the columns the per-party views group by, and its current status.
PARTY_COLUMNS = ("finding_id", "party", "instrument", "term", "severity", "occurred",
                 "occurred_end", "status")
PARTY_ROW_SQL = (
    f"f.finding_id, {CHARGED_SET_SQL}, f.instrument, f.term, f.severity, f.occurred, "
    "f.occurred_end, COALESCE((SELECT s.status FROM finding_state s WHERE s.finding_id = "
    "f.finding_id), 'alleged')")
PARTY_FINDING = "f.instrument_status IS NOT 'context'"  # a finding that has a row
PARTY_FINDINGS_SQL = f"FROM findings f WHERE {PARTY_FINDING}"
# A finding's row takes the finding's seq as its rowid (m012), which verify joins them by. A row
# already under that number was put in behind the chain's back (seqs only grow): it gives way,
# so that recording goes on (verify names what it changed).
PARTIES_FROM_FINDINGS = (f"INSERT OR REPLACE INTO finding_parties (rowid, "
                         f"{', '.join(PARTY_COLUMNS)}) SELECT f.seq, {PARTY_ROW_SQL} "
                         f"{PARTY_FINDINGS_SQL}")


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
    db.execute(PARTIES_FROM_FINDINGS + " ORDER BY f.seq")
    db.execute("CREATE INDEX idx_finding_parties_finding ON finding_parties (finding_id, party)")
    # the scorecard reads this index alone, in its GROUP BY order
    db.execute("CREATE INDEX idx_finding_parties_scored ON finding_parties (party, instrument, "
               f"term, severity, occurred) WHERE {_SCORED}")
    # The same views, the same columns, now joins over the derived tables.
    for view in ("finding_status", "findings_per_party_day", "scorecard"):
        db.execute(f"DROP VIEW {view}")
    columns = ", ".join(f"f.{quote(c)}" for c in (*COMMON_COLUMNS, *_CORE["findings"][0])
                        if c != "confidence")
    db.execute(f"CREATE VIEW finding_status AS SELECT {columns}, COALESCE(s.confidence, "
               "f.confidence) AS confidence, COALESCE(s.status, 'alleged') AS status FROM "
               "findings f LEFT JOIN finding_state s ON s.finding_id = f.finding_id")
    db.execute("CREATE VIEW findings_per_party_day AS SELECT date(julianday(p.occurred) + "
               "(julianday(p.occurred_end) - julianday(p.occurred)) / 2) AS day, p.party AS "
               "party, p.term AS term, p.severity AS severity, count(*) AS findings FROM "
               f"finding_parties p WHERE p.status NOT IN {sql_list(GONE_STATUSES)} GROUP BY "
               "day, party, p.term, p.severity")
    db.execute("CREATE VIEW scorecard AS SELECT party, instrument, term, severity, count(*) AS "
               "findings, min(occurred) AS first, max(occurred) AS last FROM finding_parties "
               f"WHERE {_SCORED} GROUP BY party, instrument, term, severity")


@MIGRATIONS(name="m004_charged_sets")
def _m004_charged_sets(db: sqlite_utils.Database) -> None:
    # TERMS.md revision 2: a finding sits in one row, its charged set, instead of one row per
    # side charged; context findings in none. The derived table is rebuilt from the chain.
    db.execute("DELETE FROM finding_parties")
    db.execute(PARTIES_FROM_FINDINGS + " ORDER BY f.seq")


# A day of a calm counter (a pack's ``patterns`` of kind calm; TERMS.md §4 SEP-CALM is one),
# named by the counter: recorded again whenever a (late) report changes it, the latest entry of
# (counter, day) holds. It takes over from calm_days (one unnamed counter), which keeps the
# entries older ledgers hold and receives no more.
chained_table_migration("calm_counts", {"counter": str, "day": int, "start": str, "end": str,
                                        "calm": int, "consecutive": int, "condition_met": int,
                                        "breaches": list},
                        not_null=("counter", "day"), indexes=("counter",))


@MIGRATIONS(name="m005_full_views")
def _m005_full_views(db: sqlite_utils.Database) -> None:
    # Explanations and resolutions are stored without what other columns hold already
    # (monitor.ledger.compact): these views show them whole, for SQL and Datasette.
    _full_views(db, M005_EXPLANATION_SQL, M005_RESOLUTION_SQL)


def _full_views(db: sqlite_utils.Database, explanation: str, resolution: str) -> None:
    """The views findings_explained and incidents_resolved, with ``explanation`` and
    ``resolution`` as the SQL that rebuilds those columns whole."""
    columns = [*(c for c in (*COMMON_COLUMNS, *_CORE["findings"][0]) if c != "confidence"),
               "confidence", "status"]
    db.execute("CREATE VIEW findings_explained AS SELECT " + ", ".join(
        f"{explanation} AS explanation" if c == "explanation" else f"f.{quote(c)}"
        for c in columns) + " FROM finding_status f")
    db.execute("CREATE VIEW incidents_resolved AS SELECT " + ", ".join(
        f"{resolution} AS resolution" if c == "resolution" else f"i.{quote(c)}"
        for c in (*COMMON_COLUMNS, *_CORE["incidents"][0])) + " FROM incidents i")


# The scorecard's rows (m006), derived from finding_parties by its triggers, so that the
# scorecard view reads a few dozen rows instead of counting a million in an index. A group
# (party, instrument, term, severity) keeps how many scored findings it holds and their first
# and last event time; a group losing its earliest or latest finding looks the new one up in
# idx_finding_parties_scored.
SCORECARD_COLUMNS = ("party", "instrument", "term", "severity", "findings", "first", "last")
_GROUP = ("party", "instrument", "term", "severity")
SCORECARD_FROM_PARTIES = (
    "SELECT party, instrument, term, severity, count(*), min(occurred), max(occurred) FROM "
    f"finding_parties WHERE {_SCORED} GROUP BY party, instrument, term, severity")


def _of(row: str) -> str:
    """The scorecard_counts row of ``row``'s group (``NEW`` or ``OLD``; NULL matches NULL)."""
    return " AND ".join(f"{c} IS {row}.{c}" for c in _GROUP)


def _scored(row: str) -> str:
    return f"{row}.{_SCORED}"


_ADD_NEW = (
    f"INSERT INTO scorecard_counts (party, instrument, term, severity, findings) SELECT "
    f"NEW.party, NEW.instrument, NEW.term, NEW.severity, 0 WHERE {_scored('NEW')} AND NOT "
    f"EXISTS (SELECT 1 FROM scorecard_counts WHERE {_of('NEW')}); "
    "UPDATE scorecard_counts SET findings = findings + 1, first = coalesce(min(first, "
    "NEW.occurred), first, NEW.occurred), last = coalesce(max(last, NEW.occurred), last, "
    f"NEW.occurred) WHERE {_scored('NEW')} AND {_of('NEW')};")
_SCORED_OF_OLD = (f"FROM finding_parties WHERE {_SCORED} AND "
                  + " AND ".join(f"{c} IS OLD.{c}" for c in _GROUP))
_REMOVE_OLD = (
    f"UPDATE scorecard_counts SET findings = findings - 1, first = (SELECT min(occurred) "
    f"{_SCORED_OF_OLD}), last = (SELECT max(occurred) {_SCORED_OF_OLD}) WHERE "
    f"{_scored('OLD')} AND {_of('OLD')}; "
    f"DELETE FROM scorecard_counts WHERE {_scored('OLD')} AND {_of('OLD')} AND findings <= 0;")


@MIGRATIONS(name="m006_scorecard_counts")
def _m006_scorecard_counts(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE scorecard_counts (party TEXT, instrument TEXT, term TEXT, "
               "severity TEXT, findings INTEGER NOT NULL, first TEXT, last TEXT)")
    db.execute("CREATE INDEX idx_scorecard_counts_group ON scorecard_counts (party, "
               "instrument, term, severity)")
    db.execute(f"INSERT INTO scorecard_counts ({', '.join(SCORECARD_COLUMNS)}) "
               f"{SCORECARD_FROM_PARTIES}")
    db.execute(f"CREATE TRIGGER finding_parties_counted AFTER INSERT ON finding_parties BEGIN "
               f"{_ADD_NEW} END")
    db.execute(f"CREATE TRIGGER finding_parties_recounted AFTER UPDATE ON finding_parties "
               f"BEGIN {_REMOVE_OLD} {_ADD_NEW} END")
    db.execute(f"CREATE TRIGGER finding_parties_uncounted AFTER DELETE ON finding_parties "
               f"BEGIN {_REMOVE_OLD} END")
    db.execute("DROP VIEW scorecard")
    db.execute(f"CREATE VIEW scorecard AS SELECT {', '.join(SCORECARD_COLUMNS)} FROM "
               "scorecard_counts ORDER BY party, instrument, term, severity")
    # `monitor findings --term T --since S --until U`: a range of this index, where the index
    # of term alone (which it replaces) or of occurred alone read every finding of the term,
    # or of the period, from the table
    db.execute("DROP INDEX idx_findings_term")
    db.execute("CREATE INDEX idx_findings_term_occurred ON findings (term, occurred)")


@MIGRATIONS(name="m007_no_prefix_indexes")
def _m007_no_prefix_indexes(db: sqlite_utils.Database) -> None:
    # Each of these indexes is the first column of another index of its table, which serves
    # every query it served: 54 bytes a report, 1.7 % of a ledger of 100,000 ACLED rows.
    for name in ("idx_incidents_occurred_start", "idx_reports_feed", "idx_links_report_key"):
        db.execute(f"DROP INDEX {name}")


# A note said of many incidents, or an explanation of many findings, stored once: a resolution's
# notes, a finding's explanation refer to it by its seq (monitor.ledger.compact, "Said again";
# monitor.ledger.shared writes them).
# Found by ``digest`` (the first 16 hex digits of the text's SHA-256): an index of the texts
# themselves, a kilobyte an explanation, held them twice (71 bytes a report of 30,000 ACLED rows).
chained_table_migration("shared_texts", {"text": str, "digest": str},
                        not_null=("text", "digest"), indexes=("digest",))


@MIGRATIONS(name="m008_shared_texts")
def _m008_shared_texts(db: sqlite_utils.Database) -> None:
    # the full views put back the shared texts a resolution's notes or an explanation refer to
    db.execute("DROP VIEW findings_explained")
    db.execute("DROP VIEW incidents_resolved")
    _full_views(db, M008_EXPLANATION_SQL, M008_RESOLUTION_SQL)


# An incident row whose event window is longer than a day and a half (a report dated to a week
# or a month): corroboration (Ledger.nearby_reports) reads the rows that start in the two days
# before a new report's window through idx_incidents_time_lat, and these alone through an index
# of their own further back (up to MAX_WINDOW): a row that starts more than two days before a
# window and still overlaps it lasts longer than two days. Before, it read 32 days of
# idx_incidents_time_lat for every report (~9 ms a report on a ledger of 400,000). The margin
# between a day and a half and two days keeps a day-dated row out of the index whatever
# julianday's rounding does, and every row the search needs in it.
LONG_WINDOW_DAYS = 1.5
RECENT_WINDOW = dt.timedelta(days=2)  # read by time alone; more than LONG_WINDOW_DAYS


def long_window_sql(row: str = "") -> str:
    """The condition of ``idx_incidents_long_window``, on row alias ``row`` (a query must say
    it as the index does for SQLite to use the index)."""
    at = f"{row}." if row else ""
    return (f"julianday({at}occurred_end) - julianday({at}occurred_start) > "
            f"{LONG_WINDOW_DAYS}")


@MIGRATIONS(name="m009_long_windows")
def _m009_long_windows(db: sqlite_utils.Database) -> None:
    db.execute("CREATE INDEX idx_incidents_long_window ON incidents (occurred_start, lat) WHERE "
               + long_window_sql())


# reports.incident_id is the incident row's incident_id (the one writer, Monitor._record,
# writes both rows of a report together, keyed by its report_key): idx_incidents_incident_id
# finds a report by its incident (Ledger.reports_now_in), and this second index of the same
# values was written for nothing. Incident ids are hashes, so each of its inserts lands
# anywhere in it, and each commit of a big import rewrote most of its pages: measured on
# 1,000,000 generated rows, 143.0 -> 138.8 s, 30.6 -> 26.2 GB written, ~30 MB of the file.
@MIGRATIONS(name="m010_no_reports_incident_index")
def _m010_no_reports_incident_index(db: sqlite_utils.Database) -> None:
    db.execute("DROP INDEX idx_reports_incident_id")


# A feed's reports' bodies and resolutions stored compressed, with a dictionary trained on its
# first reports (monitor.ledger.packing): the dictionaries are entries of the chain like the
# values they pack, and the views read packed values whole through ledger_json().
chained_table_migration("dictionaries", {"feed": str, "stored_in": str, "samples": int,
                                         "dictionary": str},
                        not_null=("feed", "stored_in", "dictionary"), indexes=("feed",))


@MIGRATIONS(name="m011_packed_views")
def _m011_packed_views(db: sqlite_utils.Database) -> None:
    db.execute("DROP VIEW findings_explained")
    db.execute("DROP VIEW incidents_resolved")
    _full_views(db, EXPLANATION_SQL, RESOLUTION_SQL)
    db.execute("CREATE VIEW reports_received AS SELECT " + ", ".join(
        "ledger_json(r.body) AS body" if c == "body" else f"r.{quote(c)}"
        for c in (*COMMON_COLUMNS, *_CORE["reports"][0])) + " FROM reports r")


def derive_parties(execute: Callable[..., Any]) -> None:
    """Make finding_parties again from the chain, each row numbered by its finding's seq, and
    scorecard_counts from it, through ``execute`` (a connection's, in its transaction): the
    table's indexes and triggers are set aside meanwhile and the counts made in one GROUP BY,
    as m006 made them (on a million findings ~7 s, where the triggers row by row took 27)."""
    kept = execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'finding_parties'"
                   " AND type IN ('index', 'trigger') AND sql IS NOT NULL").fetchall()
    for kind, name, _ in kept:
        execute(f"DROP {kind.upper()} {quote(name)}")
    execute("DELETE FROM finding_parties")
    execute(PARTIES_FROM_FINDINGS + " ORDER BY f.seq")
    execute("DELETE FROM scorecard_counts")
    execute(f"INSERT INTO scorecard_counts ({', '.join(SCORECARD_COLUMNS)}) "
            f"{SCORECARD_FROM_PARTIES}")
    for _, _, sql in kept:
        execute(sql)


# finding_parties' rows numbered by their findings' seqs, for verify to join them by (on a
# million findings 1.8 -> 1.0 s of its derived check); made again from the chain, as rebuild
# makes them (and m004 did).
@MIGRATIONS(name="m012_parties_by_seq")
def _m012_parties_by_seq(db: sqlite_utils.Database) -> None:
    derive_parties(db.execute)


@dataclass(frozen=True)
class ChainedTable:
    """What writing, reading and verifying need to know of one chained table of a file."""

    name: str
    columns: tuple[str, ...]  # all of them, in table order: the common four first
    kinds: tuple[type, ...]  # Python type of each own column, from its declared SQL type
    json: frozenset[str]  # the JSON columns (declared list or dict in CHAINED_TABLES)
    own: tuple[str, ...] = field(init=False)  # the columns after the common four
    own_set: frozenset[str] = field(init=False)
    plan: tuple[tuple[str, type, bool], ...] = field(init=False)  # (column, type, is JSON)
    insert_sql: str = field(init=False)
    # the keys of an entry's canonical form in their sorted order ("table" among them, "hash"
    # not), and where each one's value is in a stored row with the table's name after it
    canonical_keys: tuple[str, ...] = field(init=False)
    canonical_at: tuple[int, ...] = field(init=False)
    numeric_at: tuple[int, ...] = field(init=False)  # seq and the INTEGER and REAL columns

    def __post_init__(self) -> None:
        own = self.columns[len(COMMON_COLUMNS):]
        object.__setattr__(self, "own", own)
        object.__setattr__(self, "own_set", frozenset(own))
        object.__setattr__(self, "plan", tuple(
            (c, k, c in self.json) for c, k in zip(own, self.kinds)))
        object.__setattr__(self, "insert_sql", f"INSERT INTO {quote(self.name)} VALUES "
                                               f"({', '.join('?' * len(self.columns))})")
        at = {c: i for i, c in enumerate(self.columns) if c != "hash"}
        at["table"] = len(self.columns)  # (a column named "table" is refused: _register)
        keys = tuple(sorted(at))
        object.__setattr__(self, "canonical_keys", keys)
        object.__setattr__(self, "canonical_at", tuple(at[k] for k in keys))
        object.__setattr__(self, "numeric_at", (0, *(
            i for i, k in enumerate(self.kinds, len(COMMON_COLUMNS)) if k in (int, float))))


def table_names(conn: Any) -> list[str]:
    """The names of the tables in the file ``conn`` reads."""
    return [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]


def read_tables(conn: Any) -> dict[str, ChainedTable]:
    """The chained tables of the file ``conn`` reads, by name. Read from the file, not from
    CHAINED_TABLES alone: the chain's head and verification must take in every chained table
    the file holds, even one created by newer code."""
    tables = {}
    for name in table_names(conn):
        info = conn.execute(f"PRAGMA table_info({quote(name)})").fetchall()
        columns = tuple(r[1] for r in info)
        if columns[:len(COMMON_COLUMNS)] == COMMON_COLUMNS:
            json_cols = frozenset(c for c, t in CHAINED_TABLES.get(name, {}).items()
                                  if t in (list, dict))
            kinds = tuple(_KIND_OF_SQL.get(r[2].upper(), str) for r in info[len(COMMON_COLUMNS):])
            tables[name] = ChainedTable(name, columns, kinds, json_cols)
    return tables
