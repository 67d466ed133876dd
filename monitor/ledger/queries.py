"""The domain's questions to the ledger: reports, incidents, findings, alerts, feeds, and what
corroboration, patterns and escalations read. Rows come back as dicts, JSON columns decoded.

Event times are stored as UTC ISO text (:func:`iso`), so text order is time order and a time
window is a range on an index.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .. import geo
from ..keys import feed_of, same_feed_sql
from ..vocabulary import SERIOUS_SEVERITIES, sql_list
from .base import LedgerBase
from .compact import REPORT_KEY_SQL, STORED_EXPLANATION_SQL
from .errors import LedgerError
from .findings_json import json_findings
from .schema import (
    CHARGED_SET_SQL,
    RECENT_WINDOW,
    aggregate_sql,
    current_incident_sql,
    long_window_sql,
    quote,
)

# The longest event window corroboration searches back over (a month-precise report).
MAX_WINDOW = timedelta(days=32)


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


# The keyword arguments of Queries.findings (each_finding, finding_chunks and count_findings
# take the same).
_FINDINGS_ARGUMENTS = frozenset({
    "term", "party", "attribution", "instrument", "since", "until", "status", "incident_id",
    "limit", "as_json", "newest_first", "with_place", "explained", "with_aggregate"})


class Queries(LedgerBase):
    """The ledger's read queries for the rest of the monitor."""

    def known_reports(self, keys: Iterable[str]) -> set[str]:
        """Which of these report keys are recorded."""
        with self._lock:
            return {k for (k,) in self._where_in(
                "SELECT report_key FROM reports WHERE report_key IN ({marks})", keys)}

    def known_sources(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (feed, source_id) have any revision recorded."""
        by_feed: dict[str, list[str]] = {}
        for feed, source_id in dict.fromkeys(pairs):
            by_feed.setdefault(feed, []).append(source_id)
        out: set[tuple[str, str]] = set()
        with self._lock:
            for feed, ids in by_feed.items():
                out.update(self._where_in("SELECT DISTINCT feed, source_id FROM reports WHERE "
                                          "feed = ? AND source_id IN ({marks})", ids, [feed]))
        return out

    def findings(self, *, term: str | Sequence[str] | None = None,
                 party: str | Sequence[str] | None = None, attribution: str | None = None,
                 instrument: str | Sequence[str] | None = None,
                 since: str | date | None = None, until: str | date | None = None,
                 status: str | Sequence[str] | None = None,
                 incident_id: str | Sequence[str] | None = None, limit: int | None = None,
                 as_json: bool = False, newest_first: bool = False,
                 with_place: bool = False, explained: bool = True,
                 with_aggregate: bool = False) -> list[Any]:
        """Findings with their current ``status``, ordered by ``occurred`` then ``seq`` (or the
        other way round, ``newest_first``); ``with_place`` adds the latitude, longitude and place
        of the finding's incident (as its first report located it). ``party``
        is a charged set (TERMS.md §4 "Counting": "syrian_government" matches the findings
        charged to it alone; "russia or syrian_government", "undetermined", "unattributed");
        ``attribution`` is single, ambiguous, undetermined or joint. ``term``, ``party``,
        ``instrument``, ``status`` and ``incident_id`` may each be several values: any of them
        (none: no filter). ``since`` (inclusive) and ``until`` (exclusive) bound
        ``occurred``, which the writer stores as UTC ``YYYY-MM-DDTHH:MM:SS+00:00`` (text order
        is time order): a date means the start of that day in UTC (``until="2016-09-13"`` ends
        with 12 September); an aware datetime is taken in UTC. With ``as_json`` each finding
        is a JSON object in UTF-8 bytes (the same keys and values, made by SQLite, JSON
        columns embedded as stored): nothing is decoded to be encoded again. Without
        ``explained`` the rows leave the explanation out (the biggest value of a finding, put
        back from the texts it shares with others); ``with_aggregate`` adds ``aggregate``, 1
        for a tally or round-up (TERMS.md §4, the explanation's first entry) and 0 otherwise.

        Every finding at once: :meth:`each_finding` reads them a chunk at a time."""
        filters = {"term": term, "party": party, "attribution": attribution,
                   "instrument": instrument, "since": since, "until": until, "status": status,
                   "incident_id": incident_id, "limit": limit, "as_json": as_json,
                   "newest_first": newest_first, "with_place": with_place,
                   "explained": explained, "with_aggregate": with_aggregate}
        return [row for rows in self.finding_chunks(chunk=None, **filters) for row in rows]

    def each_finding(self, *, chunk: int = 2_000, **filters: Any) -> Iterator[Any]:
        """What :meth:`findings` gives for ``filters``, one at a time, read a ``chunk`` at a
        time from one statement (:meth:`finding_chunks`)."""
        for rows in self.finding_chunks(chunk=chunk, **filters):
            yield from rows

    def finding_chunks(self, *, chunk: int | None = 2_000, **filters: Any
                       ) -> Iterator[list[Any]]:
        """What :meth:`findings` gives for ``filters`` (its keyword arguments), read from one
        statement ``chunk`` findings at a time (None: all at once): what is held at once is a
        chunk, not a year of findings (a million, explanations put back, took 12 GB as one
        list)."""
        sql, params = self._findings_sql(filters)
        if not filters.get("as_json"):
            return self._chunks(sql, params, chunk, lambda cursor, fetched: self._decoded(
                cursor, fetched, "findings"))
        if not filters.get("explained", True):
            return self._chunks(sql, params, chunk, lambda _, fetched: [t for (t,) in fetched])
        return self._chunks(sql, params, chunk, lambda _, fetched: json_findings(
            fetched, self._texts_of, self._unpacker.sql))

    def count_findings(self, **filters: Any) -> int:
        """How many findings :meth:`findings` gives for ``filters`` (no ``limit``)."""
        sql, params = self._findings_sql(filters, "count(*)")
        with self._lock:
            return int(self._conn.execute(sql, params).fetchone()[0])

    def _findings_sql(self, filters: dict[str, Any],
                      count: str | None = None) -> tuple[str, list[Any]]:
        """The SQL of :meth:`findings` for ``filters`` (its keyword arguments) and its
        parameters; with ``count``, that aggregate of the findings instead of their rows."""
        unknown = sorted(set(filters) - _FINDINGS_ARGUMENTS)
        if unknown:
            raise TypeError(f"findings() got unexpected keyword argument(s) {unknown}")
        get = filters.get
        since, until, limit = get("since"), get("until"), get("limit")
        bounded = since is not None or until is not None
        # A time window is far narrower than an instrument (COH is half of the findings): the
        # unary + keeps SQLite on an index of occurred. A term and a window are one range of
        # idx_findings_term_occurred (m006).
        plus = "+" * bounded
        terms, parties, instruments, states, incidents = (_values(get(k)) for k in (
            "term", "party", "instrument", "status", "incident_id"))
        party_clause = ("EXISTS (SELECT 1 FROM finding_parties p WHERE p.finding_id = "
                        f"f.finding_id AND p.party IN {_marks(parties)})" if self._derived else
                        f"{CHARGED_SET_SQL} IN {_marks(parties)}")
        where_of = {f"f.term IN {_marks(terms)}": terms,
                    f"{plus}f.instrument IN {_marks(instruments)}": instruments,
                    "f.attribution = ?": get("attribution"),
                    f"f.status IN {_marks(states)}": states,
                    f"f.incident_id IN {_marks(incidents)}": incidents,
                    "f.occurred >= ?": _utc_bound(since), "f.occurred < ?": _utc_bound(until),
                    party_clause: parties}
        where = {clause: value for clause, value in where_of.items() if value is not None}
        t = self._tables["findings"]
        names = self._finding_columns(get("explained", True))
        # columns beyond the view's: the place from the incident's first report's row (joined
        # once for the three), and whether the finding is an aggregate's
        with_place = get("with_place", False) and count is None
        extra = {k: f"pl.{col}" for k, col in _PLACE_COLUMNS.items()} if with_place else {}
        if get("with_aggregate", False) and count is None:
            extra["aggregate"] = aggregate_sql(self._has_shared_texts)
        if count is not None:
            select = count
        elif get("as_json", False):
            # SQLite writes each finding's JSON object, JSON columns embedded as stored; the
            # explanation is put back in Python (.findings_json), between what comes before
            # it and after it
            stored = {c: f"json(f.{quote(c)})" for c in t.json}
            pairs = [f"'{c}', " + stored.get(c, f"f.{quote(c)}") for c in names] + [
                f"'{k}', {sql}" for k, sql in extra.items()]
            if "explanation" in names:
                at = names.index("explanation")
                explanation = STORED_EXPLANATION_SQL if self._has_shared_texts else \
                    "f.explanation"
                select = (f"CAST(json_object({', '.join(pairs[:at])}) AS BLOB), "
                          f"CAST({explanation} AS BLOB), "
                          "(SELECT resolution FROM incidents WHERE report_key = "
                          f"{REPORT_KEY_SQL}), "
                          f"CAST(json_object({', '.join(pairs[at + 1:])}) AS BLOB)")
            else:
                select = f"CAST(json_object({', '.join(pairs)}) AS BLOB)"
        else:
            select = ", ".join(f"f.{quote(c)}" for c in names) + "".join(
                f", {sql} AS {k}" for k, sql in extra.items())
        sql = f"SELECT {select} FROM finding_status f" + _PLACE_JOIN * with_place \
            + " WHERE " * bool(where) + " AND ".join(where)
        if count is None:
            sql += (" ORDER BY f.occurred DESC, f.seq DESC" if get("newest_first", False) else
                    " ORDER BY f.occurred, f.seq") + " LIMIT ?" * (limit is not None)
        params = [p for v in where.values() for p in (v if isinstance(v, list) else [v])]
        params += [limit] * (limit is not None and count is None)
        return sql, params

    def finding_id_from(self, given: str) -> str:
        """The finding id ``given`` names: itself, or the one id it is the start of ("f-1c35"
        or "1c35cc1e"), as `git` takes a short hash; LedgerError when it names none or several."""
        given = given.strip()
        if self.finding(given) is not None:
            return given
        prefix = given if given.startswith("f-") else f"f-{given}"
        with self._lock:
            found = [r[0] for r in self._conn.execute(
                "SELECT DISTINCT finding_id FROM findings WHERE finding_id >= ? AND "
                "finding_id < ? ORDER BY finding_id LIMIT 6", [prefix, prefix + "\uffff"])]
        if len(found) == 1 and len(prefix) >= 6:
            return found[0]
        if not found:
            raise LedgerError(f"no finding {given!r}: see `monitor findings` for ids")
        raise LedgerError(f"{given!r} is the start of several findings ("
                          + ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
                          + "): give more of the id")

    def finding(self, finding_id: str, explained: bool = True) -> dict[str, Any] | None:
        """One finding with its current status (without its explanation unless
        ``explained``), or None."""
        columns = "*" if explained else ", ".join(map(quote, self._finding_columns(False)))
        return next(iter(self._rows(f"SELECT {columns} FROM finding_status WHERE finding_id = ?",
                                    [finding_id], "findings")), None)

    def incident(self, incident_id: str) -> dict[str, Any] | None:
        """One incident as recorded, or None."""
        return next(iter(self._rows("SELECT * FROM incidents WHERE incident_id = ?",
                                    [incident_id], "incidents")), None)

    def history(self, table: str, finding_id: str) -> list[dict[str, Any]]:
        """Rows of ``status_changes``, ``confidence_changes`` or ``finding_support`` for a
        finding, oldest first."""
        if table not in ("status_changes", "confidence_changes", "finding_support"):
            raise ValueError(f"no finding history in table {table!r}")
        return self._rows(f"SELECT * FROM {quote(table)} WHERE finding_id = ? ORDER BY seq",
                          [finding_id], table, reads=(table,))

    def reports_now_in(self, incident_id: str) -> list[dict[str, Any]]:
        """Every report that belongs to an incident now (those judged in it and not linked
        away, and those linked to it), its ``body`` decoded, with its ``own_incident``, in
        recording order."""
        # the reports judged in it (by their incident rows, written with them: m010) or
        # linked to it, through their indexes (the view report_incident, filtered, read every
        # report: a scan of a year's reports each time), then those whose incident now is
        # this one
        return self._rows(
            "SELECT r.*, r.incident_id AS own_incident FROM reports r WHERE r.report_key IN ("
            "SELECT report_key FROM incidents WHERE incident_id = ?1 UNION SELECT report_key "
            f"FROM links WHERE incident_id = ?1) AND {current_incident_sql('r')} = ?1 "
            "ORDER BY r.seq", [incident_id], "reports",
            reads=("reports", "incidents", "links", "dictionaries"))  # (a packed body's)

    def report(self, report_key: str) -> dict[str, Any] | None:
        """One report as recorded (its ``body`` decoded), or None."""
        return next(iter(self._rows("SELECT * FROM reports WHERE report_key = ?", [report_key],
                                    "reports")), None)

    def incidents_of_report(self, report_key: str) -> dict[str, Any] | None:
        """A report's two incidents: ``own_incident`` (the one it was judged in) and
        ``incident_id`` (the one it belongs to now), with its key, feed, source_id and
        revision; None if no such report."""
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
                       km: float, exclude_feed: str) -> list[dict[str, Any]]:
        """Reports of other feeds whose event window overlaps [start, end) and whose point
        lies in :func:`monitor.geo.bounding_box` of ``km`` around (lat, lon), with the
        incident each belongs to now: the candidates for corroboration, in recording order,
        each with what :func:`monitor.corroborate.match` compares (not the body: a packed one
        would be unpacked for each candidate, and matching does not read its sources).
        Windows longer than MAX_WINDOW (a report dated only to a year) are not searched for.
        Rows that start up to two days before ``start`` are read by time; those that start
        earlier and overlap it last longer than two days, and are read through the index of
        long windows alone (``schema.long_window_sql``)."""
        return self.nearby_reports_many([(start, end, lat, lon, km, exclude_feed)])[0]

    def nearby_reports_many(self, searches: Sequence[tuple[datetime, datetime, float, float,
                                                           float, str]]
                            ) -> list[list[dict[str, Any]]]:
        """:meth:`nearby_reports` for each of ``searches`` (its arguments, in order), read
        for all of them at once: one statement finds which recorded reports each search
        holds (an index range each, as for one), a second reads each report found once, and
        a report found by several searches is one row in their lists (read it; do not change
        it)."""
        if not searches:
            return []
        # the feed of a row is in its key: no look-up in reports for each candidate (a search
        # of a ledger of 400,000 reports, 99 at a time: 0.22 -> 0.15 s a statement)
        near = ("SELECT q.k, i.seq FROM q CROSS JOIN incidents i WHERE i.occurred_start < q.e "
                "AND i.occurred_end > q.s AND i.lat BETWEEN q.lat_lo AND q.lat_hi AND i.lon "
                f"BETWEEN q.lon_lo AND q.lon_hi AND NOT {same_feed_sql('i.report_key', 'q.feed')}"
                " AND ")
        found: list[list[int]] = [[] for _ in searches]
        with self._lock:
            # _SEARCHES_A_STATEMENT at a time, each a row of ten parameters (bound as they
            # are: the box's floats exactly as a search of its own binds them)
            for at in range(0, len(searches), _SEARCHES_A_STATEMENT):
                params: list[Any] = []
                for k, (start, end, lat, lon, km, feed) in enumerate(
                        searches[at:at + _SEARCHES_A_STATEMENT], at):
                    params += [k, iso(end), iso(start), *geo.bounding_box(lat, lon, km), feed,
                               iso(start - RECENT_WINDOW), iso(start - MAX_WINDOW)]
                values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * (len(params) // 10))
                for k, seq in self._conn.execute(
                        "WITH q(k, e, s, lat_lo, lat_hi, lon_lo, lon_hi, feed, recent, far) AS "
                        f"(VALUES {values}) {near} i.occurred_start >= q.recent UNION ALL "
                        f"{near} i.occurred_start >= q.far AND i.occurred_start < q.recent AND "
                        f"{long_window_sql('i')}", params):
                    found[k].append(seq)
            rows = {row[0]: dict(zip(_NEARBY_COLUMNS, (row[1], row[2], feed_of(row[1]),
                                                        *row[3:]))) for row in self._where_in(
                f"SELECT i.seq, i.report_key, {current_incident_sql('i')}, i.occurred_start, "
                "i.occurred_end, i.lat, i.lon, i.location_precision, i.attacker_sides, "
                "i.target_sides, i.event_type FROM incidents i WHERE i.seq IN ({marks})",
                (seq for seqs in found for seq in seqs))}
        _shared_lists(list(rows.values()), _NEARBY_JSON)  # a few distinct lists, decoded once
        return [[rows[seq] for seq in sorted(seqs)] for seqs in found]

    def latest_reports(self, since: str) -> list[dict[str, Any]]:
        """The latest revision of each source record whose event started at or after
        ``since`` (UTC ISO), with the incident it belongs to now, in recording order."""
        return self._rows(
            f"SELECT r.*, {current_incident_sql('r')} AS incident_id FROM reports r JOIN "
            "incidents i USING (report_key) WHERE i.occurred_start >= ? AND r.seq = (SELECT "
            "max(seq) FROM reports r2 WHERE r2.feed = r.feed AND r2.source_id = r.source_id) "
            "ORDER BY r.seq", [since],
            "reports")

    def calm_findings(self, since: str, until: str, instruments: Iterable[str],
                      severities: Iterable[str] = SERIOUS_SEVERITIES,
                      ending_from: str | None = None) -> list[dict[str, Any]]:
        """Findings of ``severities`` under ``instruments`` with ``occurred`` in [since, until)
        (and, with ``ending_from``, an event window that ends at or after it: an instant's
        ends where it starts): only what a calm series reads (id, status, severity,
        instrument, event window), so a dense month costs megabytes, not the findings' whole
        evidence."""
        wanted, levels = sorted(set(instruments)), sorted(set(severities))
        # (as patterns.window reads one: a missing end, or one before the start, is an
        # instant)
        ending = (" AND max(COALESCE(NULLIF(occurred_end, ''), occurred), occurred) >= ?"
                  if ending_from else "")
        return self._rows(
            "SELECT finding_id, status, severity, confidence, instrument, occurred, occurred_end "
            f"FROM finding_status WHERE severity IN {_marks(levels)} AND instrument IN "
            f"{_marks(wanted)} AND occurred >= ? AND occurred < ?{ending} ORDER BY occurred, seq",
            [*levels, *wanted, _utc_bound(since), _utc_bound(until),
             *([_utc_bound(ending_from)] if ending_from else [])], "findings")

    def serious_findings(self, since: str | None = None,
                         until: str | None = None) -> list[dict[str, Any]]:
        """Current major and critical findings (``occurred`` in [since, until) when given),
        each with its charged set and its incident's ``governorate`` (the admin1 of the
        incident's first report), for escalations. Context findings (CTX-CIV) and findings of
        aggregate reports (TERMS.md §4; the judge records ``aggregate`` in the explanation's
        first entry) are left out. Each distinct ``charged_to`` is decoded once (a list shared by
        the rows that hold it: read it, do not change it)."""
        where = " AND occurred >= ? AND occurred < ?" if since else ""
        return _shared_lists(self._rows(
            f"SELECT finding_id, incident_id, charged_to, {CHARGED_SET_SQL} AS charged_set, "
            "severity, status, occurred, occurred_end, (SELECT i.admin1 FROM incidents i WHERE "
            "i.incident_id = f.incident_id ORDER BY i.seq LIMIT 1) AS governorate FROM "
            f"current_findings f WHERE severity IN {sql_list(SERIOUS_SEVERITIES)} AND instrument_status "
            f"IS NOT 'context' AND NOT {aggregate_sql(self._has_shared_texts)}" + where
            + " ORDER BY occurred, seq",
            [since, until] if since else []), ("charged_to",))

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
        belongs to now (``incident_id``), in recording order. A year of a big ledger is
        hundreds of thousands of rows but a few hundred distinct lists of sides and zones: each
        distinct text is decoded once, and its list is shared by the rows that hold it (read
        them; do not change them)."""
        types, sides = sorted(event_types), sorted(attackers)
        where = " AND i.occurred_start >= ? AND i.occurred_start < ?" if since else ""
        where += f" AND i.event_type IN ({', '.join('?' * len(types))})" if types else ""
        where += (" AND EXISTS (SELECT 1 FROM json_each(i.attacker_sides) WHERE value IN "
                  f"({', '.join('?' * len(sides))}))") if sides else ""
        rows = self._rows(
            f"SELECT {current_incident_sql('i')} AS current, i.report_key, i.occurred_start, "
            "i.occurred_end, i.lat, i.lon, i.location_precision, i.admin1, i.event_type, "
            "i.attacker_sides, i.target_sides, i.attribution, i.zones FROM incidents i WHERE "
            "i.attribution = 'single' AND i.lat IS NOT NULL" + where + " ORDER BY i.seq",
            [*([since, until] if since else []), *types, *sides])
        for row in rows:
            row["incident_id"] = row.pop("current")
        return _shared_lists(rows, ("attacker_sides", "target_sides", "zones"))

    def incident_rows(self, since: str | None = None, until: str | None = None, *,
                      limit: int | None = None, newest_first: bool = False
                      ) -> list[dict[str, Any]]:
        """Every report's resolved incident row (event start in [since, until), each bound
        when given), with the incident it belongs to now (``incident_id``), in recording
        order (``newest_first``: by event start, the latest first); at most ``limit``. All at
        once: :meth:`incident_chunks` reads them a chunk at a time."""
        return [row for rows in self.incident_chunks(since, until, limit=limit,
                                                     newest_first=newest_first, chunk=None)
                for row in rows]

    def incident_chunks(self, since: str | None = None, until: str | None = None, *,
                        limit: int | None = None, newest_first: bool = False,
                        chunk: int | None = 2_000) -> Iterator[list[dict[str, Any]]]:
        """What :meth:`incident_rows` gives, read from one statement ``chunk`` rows at a time
        (a million reports' rows, resolutions put back, do not fit in memory at once)."""
        where, params = self._incidents_where(since, until)
        order = " ORDER BY i.occurred_start DESC, i.seq DESC" if newest_first else \
            " ORDER BY i.seq"

        def rows_of(cursor: Any, fetched: list[Any]) -> list[dict[str, Any]]:
            rows = self._decoded(cursor, fetched, "incidents")
            for row in rows:
                row["incident_id"] = row.pop("current")
            return rows

        return self._chunks(f"SELECT i.*, {current_incident_sql('i')} AS current FROM "
                            f"incidents i{where}{order}" + " LIMIT ?" * (limit is not None),
                            params + [limit] * (limit is not None), chunk, rows_of)

    def count_incidents(self, since: str | None = None, until: str | None = None) -> int:
        """How many rows :meth:`incident_rows` gives for these bounds (no ``limit``)."""
        where, params = self._incidents_where(since, until)
        with self._lock:
            return int(self._conn.execute(f"SELECT count(*) FROM incidents i{where}",
                                          params).fetchone()[0])

    def incident_places(self, incident_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Where each of these incidents happened, as its first report located it (the row
        ``findings(with_place=True)`` reads): lat, lon, place, admin1, location_precision."""
        columns = ("lat", "lon", "place", "admin1", "location_precision")
        out: dict[str, dict[str, Any]] = {}
        with self._lock:  # an incident's rows are in one chunk of ids, in recording order
            for iid, *values in self._where_in(
                    f"SELECT incident_id, {', '.join(columns)} FROM incidents WHERE incident_id "
                    "IN ({marks}) ORDER BY seq", incident_ids):
                out.setdefault(iid, dict(zip(columns, values)))
        return out

    def incident_columns(self) -> list[str]:
        """The keys of :meth:`incident_rows`' rows, in order."""
        return list(self._tables["incidents"].columns)

    @staticmethod
    def _incidents_where(since: str | None, until: str | None) -> tuple[str, list[Any]]:
        bounds = {"i.occurred_start >= ?": since, "i.occurred_start < ?": until}
        given = {clause: value for clause, value in bounds.items() if value is not None}
        return " WHERE " * bool(given) + " AND ".join(given), list(given.values())

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

    def calm_days(self, counter: str | None = None) -> list[dict[str, Any]]:
        """The calm counters' series (one counter's with ``counter``): the latest entry of
        each day, by counter and day. A ledger older than named counters, opened read-only,
        has none."""
        if "calm_counts" not in self._tables:
            return []
        where = " AND c.counter = ?" if counter is not None else ""
        return self._rows("SELECT * FROM calm_counts c WHERE seq = (SELECT max(seq) FROM "
                          "calm_counts d WHERE d.counter = c.counter AND d.day = c.day)" + where
                          + " ORDER BY counter, day", [counter] if counter is not None else [],
                          "calm_counts")

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

    def source_findings_many(self, pairs: Iterable[tuple[str, str]]
                             ) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """For each of these (feed, source_id), the findings of every revision of that source
        record, with their current status, in the order recorded (an empty list for a record
        without findings), read at once, without their explanations (the biggest value of a
        finding, which a revision or a retraction does not need)."""
        names = self._finding_columns(explained=False)
        select = ", ".join(f"f.{quote(c)}" for c in names)
        by_feed: dict[str, list[str]] = {}
        for feed, source_id in dict.fromkeys(pairs):
            by_feed.setdefault(feed, []).append(source_id)
        out: dict[tuple[str, str], list[dict[str, Any]]] = {
            (feed, source_id): [] for feed, ids in by_feed.items() for source_id in ids}
        json_cols = self._tables["findings"].json
        with self._lock:
            for feed, ids in by_feed.items():
                for row in self._where_in(
                        f"SELECT {select} FROM finding_status f WHERE f.finding_id IN (SELECT "
                        "finding_id FROM findings WHERE feed = ? AND source_id IN ({marks}))",
                        ids, [feed]):
                    found = self._decode(json_cols, dict(zip(names, row)))
                    out[feed, found["source_id"]].append(found)
        for found in out.values():
            found.sort(key=lambda f: f["seq"])
        return out

    def _finding_columns(self, explained: bool = True) -> list[str]:
        """The columns of the ``finding_status`` view, in its order (confidence and status
        come last), the explanation left out unless ``explained``."""
        t = self._tables["findings"]
        return [*(c for c in t.columns if c != "confidence" and (explained or c != "explanation")),
                "confidence", "status"]


def _values(value: str | Sequence[str] | None) -> list[str] | None:
    """A filter's values as a list (None: no filter)."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value) or None


def _marks(values: list[str] | None) -> str:
    """``(?, ?)`` for an IN list of ``values``."""
    return "(" + ", ".join("?" * len(values or [None])) + ")"


# nearby_reports' columns, and those of them that hold JSON (lists)
_NEARBY_COLUMNS = ("report_key", "incident_id", "feed", "occurred_start", "occurred_end", "lat",
                   "lon", "location_precision", "attacker_sides", "target_sides", "event_type")
_NEARBY_JSON = ("attacker_sides", "target_sides")
# searches of nearby_reports_many a statement: ten parameters each, within the 999 an older
# SQLite takes
_SEARCHES_A_STATEMENT = 99
# what ``findings(with_place=True)`` adds, from the incident: its name -> the incidents column
# of the incident's first report (joined as ``pl``)
_PLACE_COLUMNS = {"latitude": "lat", "longitude": "lon", "place": "place"}
_PLACE_JOIN = (" LEFT JOIN incidents pl ON pl.seq = (SELECT i.seq FROM incidents i WHERE "
               "i.incident_id = f.incident_id ORDER BY i.seq LIMIT 1)")


def _shared_lists(rows: list[dict[str, Any]], columns: Sequence[str]) -> list[dict[str, Any]]:
    """``rows`` with the JSON text of ``columns`` decoded once per distinct text: the rows that
    hold the same text share its list (a year of a big ledger is hundreds of thousands of rows
    and a few hundred distinct lists of sides or zones; decoding each took most of the
    patterns' refresh)."""
    decoded: dict[str, Any] = {}
    for row in rows:
        for column in columns:
            text = row[column]
            if text is not None:
                value = decoded.get(text)
                row[column] = value if value is not None else decoded.setdefault(
                    text, json.loads(text))
    return rows
