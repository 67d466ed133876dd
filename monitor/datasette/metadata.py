"""What Datasette shows about the ledger: titles, descriptions, attribution, canned queries.

Built in code (:func:`build_metadata`) rather than kept in a metadata.json, so the descriptions
sit beside the canned queries they explain and a test can check that every table and view of a
fresh ledger is described. The README section "The ledger" is the longer story.
"""

from __future__ import annotations

from typing import Any

from monitor.ledger import CHARGED_SET_SQL
from monitor.ledger.compact import REPORT_KEY_SQL
from monitor.vocabulary import SET_ASIDE_STATUSES, sql_list

DATABASE = "ledger"  # the name (and URL segment, /ledger) the ledger is served under

# The pack gives its own (pack.yaml display.credits); this says where that is when it is not.
ATTRIBUTION = "Incident data and boundaries: see the agreement pack's credits."

# Every chained table starts with these (README "The ledger": one sequence, one hash chain).
COMMON = {
    "seq": "Ledger sequence number: one sequence across every chained table, no gaps.",
    "recorded_at": "When the monitor recorded the row (UTC), not when the event happened.",
    "prev_hash": "Hash of the ledger entry before this one (64 zeros for the first).",
    "hash": "sha256(prev_hash + canonical form of this row): `monitor ledger verify` "
            "recomputes it.",
}
CHARGED_SET_TEXT = ("The charged set (TERMS.md §4 'Counting'): a side, 'side_a or side_b' "
                    "(ambiguous), 'side_a and side_b' (joint), 'undetermined' (a clash "
                    "charged to nobody), 'unattributed'.")
FINDING = {
    "finding_id": "The finding's id (`monitor finding show ID` prints its whole story).",
    "incident_id": "The incident the finding is about.",
    "term": "The agreement term broken (rules/<pack>/<term>: the pack's term id).",
    "instrument": "The instrument the term belongs to (the pack's instruments.yaml).",
    "instrument_status": "agreed, proposed (never signed), or context (recorded, never "
                         "counted among violations).",
    "charged_to": "JSON list of the sides charged; 'unattributed' when the attacker is unknown; "
                  "empty for a clash charged to nobody (attribution undetermined).",
    "severity": "minor, major or critical (the rule's).",
    "confidence": "high, medium or low (README: the confidence score).",
    "attribution": "single; ambiguous when several candidate attackers (one grade lower); "
                   "undetermined for a clash charged to nobody; joint when both sides of a "
                   "clash broke the term.",
    "rule_id": "The rule that made the finding.",
    "rule_version": "SHA-256 of the rule file when it judged.",
    "explanation": "JSON: each condition that held with its value, each exemption checked, how "
                   "each value was decided, each confidence step. Stored with "
                   "{\"resolution_notes\": \"incidents.resolution\"} in place of the notes "
                   "its incident row keeps, or as an integer, the seq of the shared_texts entry "
                   "that holds it: findings_explained shows it whole.",
    "occurred": "Start of the incident's event window (UTC).",
    "occurred_end": "End of the event window (UTC, exclusive).",
    "feed": "The feed of the report that produced the finding.",
    "source_id": "The source's own id of that report.",
    "revision": "The report's revision.",
    "supersedes": "The finding this one replaces (a source's revision, a re-judging).",
}
STATUS = "Current status: alleged, corroborated, confirmed, disputed, discounted, retracted or " \
         "superseded (the latest status change)."

TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "reports": ("One row per report as received, keyed feed:source_id:revision. Past a feed's "
                "first 1,000 reports the body is stored compressed, so a filter or search on "
                "this table's body does not see inside it: reports_received shows, and "
                "filters, every body whole (in SQL, ledger_json(body)).", {
        "report_key": "feed:source_id:revision.", "feed": "The feed it came from.",
        "source_id": "The source's own id.", "revision": "The source's revision of it.",
        "incident_id": "The incident it was judged in (see report_incident for its current one).",
        "body": "JSON: the validated report; once its feed has a dictionary, stored packed "
                "(\"zstd:SEQ:...\"): reports_received shows it whole."}),
    "incidents": ("One row per report judged: its resolution (event window in UTC, point, "
                  "sides, zones, governorate, classification). Corroborating reports of other "
                  "feeds share an incident id.", {
        "incident_id": "The incident.", "report_key": "The report resolved.",
        "occurred_start": "Event window start (UTC).",
        "occurred_end": "Event window end (UTC, exclusive).",
        "lat": "Latitude (WGS84).", "lon": "Longitude (WGS84).",
        "location_precision": "1 exact .. 7 (UCDP where_prec scale); 3 or more resolves to no "
                              "zone.",
        "place": "Place name as the source gave it.", "admin1": "Governorate (OCHA).",
        "event_type": "air_strike, shelling, attack ...", "platform": "helicopter, fixed_wing, "
        "artillery ... (explicit, else from the text)",
        "target_category": "civilians, medical, aid, military ...",
        "attacker_sides": "JSON list of candidate attacker sides.",
        "target_sides": "JSON list of target sides.", "attribution": "single or ambiguous.",
        "zones": "JSON list of the zone rows the point was in.",
        "resolution": "JSON: how each value was decided. With \"from_columns\": 1 it leaves "
                      "out the keys this row's columns hold (attacker_sides, zones, admin1 as "
                      "governorate, ...); an integer among its notes is the seq of a "
                      "shared_texts entry; once its feed has a dictionary it is stored packed "
                      "(\"zstd:SEQ:...\"): incidents_resolved shows it whole."}),
    "dictionaries": ("A feed's dictionary for compressing one column (zstd, trained on the "
                     "feed's first reports): later bodies and resolutions of the feed are "
                     "stored packed with it (\"zstd:SEQ:...\"); reports_received and "
                     "incidents_resolved show them whole.", {
        "feed": "The feed whose values it packs.",
        "stored_in": "reports.body or incidents.resolution.",
        "samples": "How many of the feed's first values it was trained on.",
        "dictionary": "The zstd dictionary, in base64."}),
    "shared_texts": ("A resolution note said of many incidents, or an explanation of many "
                     "findings, stored once: a resolution's notes or a finding's explanation "
                     "name it by its seq.", {"text": "The note, or the explanation (JSON).",
                                             "digest": "The first 16 hex digits of the "
                                                       "text's SHA-256, by which the writer "
                                                       "finds it."}),
    "findings": ("One row per term broken by an incident: the verdict as recorded, with its "
                 "explanation, rule id and version. Current status and confidence: see "
                 "finding_status.", FINDING),
    "status_changes": ("Every status entry of a finding: corroboration, an analyst's verdict, "
                       "supersession, retraction. The latest one holds.", {
        "finding_id": "The finding.", "status": "The new status.",
        "by": "Who: an analyst's name, or the monitor.", "note": "Why."}),
    "confidence_changes": ("Every re-scoring of a finding's confidence (corroboration, "
                           "unlinking). The latest one holds.", {
        "finding_id": "The finding.", "confidence": "high, medium or low.",
        "reasons": "JSON list of the score's steps."}),
    "links": ("A report linked to another feed's incident (corroboration), or unlinked by an "
              "analyst. The latest entry of a report holds.", {
        "report_key": "The report.", "incident_id": "The incident.",
        "action": "link or unlink.", "by": "Who.", "reason": "Why (distance, time, sides)."}),
    "finding_support": ("A report supporting an existing finding beyond the one that made "
                        "it.", {
        "finding_id": "The finding.", "report_key": "The supporting report.",
        "independent": "1 when it is an independent source (another feed, another origin).",
        "note": "Why."}),
    "reviews": ("Things for a human: an unknown actor name, a location too coarse for zones.", {
        "incident_id": "The incident.", "report_key": "The report.",
        "kind": "What kind of question.", "detail": "The question."}),
    "calm_days": ("A calm counter's days before counters had names (older ledgers); no "
                  "longer written: see calm_counts.", {
        "day": "Day number from Day D (1 = the first day).", "start": "Day start (UTC).",
        "end": "Day end (UTC).", "calm": "1 when no counted finding overlaps the day.",
        "consecutive": "Consecutive calm days up to this one.",
        "condition_met": "1 on the day the needed calm days are reached.",
        "breaches": "JSON list of the findings that broke the calm."}),
    "calm_counts": ("The calm counters the pack declares (pack.yaml patterns of kind calm): "
                    "one 24-hour day's state since Day D, recorded again whenever a (late) "
                    "report changes it; the latest entry of a counter's day holds.", {
        "counter": "The calm counter's name in the pack.",
        "day": "Day number from Day D (1 = the first day).", "start": "Day start (UTC).",
        "end": "Day end (UTC).", "calm": "1 when no finding the counter counts overlaps the "
        "day.", "consecutive": "Consecutive calm days up to this one.",
        "condition_met": "1 on the day the needed calm days are reached.",
        "breaches": "JSON list of the findings that broke the calm."}),
    "alerts": ("Alerts of the escalation and sequence patterns the pack declares; an entry "
               "with active 0 withdraws one. The latest entry of a key holds.", {
        "key": "The alert's identity.", "kind": "The pattern's name in the pack.",
        "active": "1 in force, 0 withdrawn.", "party": "The party concerned.",
        "governorate": "Where.", "start": "Window start (UTC).", "end": "Window end (UTC).",
        "incident_ids": "JSON list of incidents.", "finding_ids": "JSON list of findings.",
        "detail": "What happened."}),
    "deliveries": ("Each attempt to deliver an alert to a webhook.", {
        "webhook": "The webhook's name.", "event": "What was delivered.",
        "event_key": "The alert (or event) key.", "attempt": "Attempt number.",
        "ok": "1 delivered.", "status": "HTTP status.", "error": "Why it failed."}),
    "feed_cursors": ("A feed's position, written in the same transaction as the records it "
                     "covers. The latest one holds.", {
        "feed": "The feed.", "cursor": "JSON: the adapter's position.",
        "items": "Records covered by the batch."}),
    "feed_health": ("One row per run of a feed: what it took, or why it failed.", {
        "feed": "The feed.", "ok": "1 succeeded.", "started_at": "Run start (UTC).",
        "finished_at": "Run end (UTC).", "attempts": "Attempts (retries with backoff).",
        "new": "New records.", "duplicates": "Records already in the ledger.",
        "rejected": "Records refused (invalid).", "retracted": "Records the source deleted.",
        "findings": "Findings recorded.", "reason": "Why it failed.",
        "lag_seconds": "How far behind the source the feed is."}),
}
VIEWS: dict[str, tuple[str, dict[str, str]]] = {
    "finding_status": ("Every finding with its current status and confidence.",
                       {**FINDING, "status": STATUS, "confidence": "Current confidence."}),
    "current_findings": ("The findings that stand: finding_status without the superseded "
                         "and retracted ones.", {"status": STATUS}),
    "findings_per_party_day": ("Current findings per charged set (each finding in one row; "
                               "context findings in none), day, term and severity. "
                               "A finding's day is the UTC date of the middle of its event "
                               "window: for a report dated to a day, that local day.", {
        "day": "The finding's day.", "party": CHARGED_SET_TEXT, "findings": "How many."}),
    "scorecard": ("Current findings per charged set, instrument, term and severity (each "
                  "finding in one row; disputed, discounted and context ones left out).", {
        "party": CHARGED_SET_TEXT, "findings": "How many.",
        "first": "Earliest event (UTC).", "last": "Latest event (UTC)."}),
    "feed_status": ("Per feed: runs, records taken, last success, last failure and why.", {
        "last_failure_reason": "Why the latest failed run failed."}),
    "findings_explained": ("finding_status with each explanation whole, as the judge wrote "
                           "it: a shared one's text put back from shared_texts, and the resolution "
                           "notes it refers to from its report's incident row.",
                           {"explanation": "JSON: the whole explanation."}),
    "incidents_resolved": ("The incidents with each resolution whole: the keys it leaves out "
                           "put back from the row's columns, its shared notes from "
                           "shared_texts.",
                           {"resolution": "JSON: the whole resolution (how each value was "
                                          "decided)."}),
    "reports_received": ("The reports with each body whole (a packed one unpacked).",
                         {"body": "JSON: the validated report."}),
    "report_incident": ("The incident each report belongs to now (its latest link, else its "
                        "own).", {"own_incident": "The incident it was judged in.",
                                  "incident_id": "The incident it belongs to now."}),
}

# One counting rule (as the briefs and `monitor findings` count): a day runs from the pack's
# daily cut-off to the next and is named by the date of the cut-off that ends it; a finding
# belongs to the day its event window starts in; since/until are cut-offs. `monitor serve`
# gives SQLite the pack's time zone and cut-off as two functions (monitor.datasette.plugin):
# pack_day(instant) and pack_cutoff(date).
DAY = "pack_day(f.occurred)"
# TERMS.md §4 "Counting": a finding sits in one row, its charged set ("syrian_government",
# "russia or syrian_government", "undetermined", "unattributed"); the ledger writes the label
CHARGED_SET = CHARGED_SET_SQL
PARTY = f"(:party = '' OR {CHARGED_SET} = :party)"


def _period(instant: str) -> str:
    """since and until (dates: their cut-offs; the until one excluded) on an event time; an
    empty bound is open."""
    return (f"(:since = '' OR {instant} >= pack_cutoff(:since)) AND (:until = '' OR "
            f"{instant} < pack_cutoff(:until))")


MAP_PAGE = 1000  # rows per findings_map page (Datasette returns at most max_returned_rows)

# name: (title, description, SQL, the ledger's tables and views it reads)
QUERIES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "current_status": (
        "Current status of each finding",
        "Findings that stand, newest event first. Empty filters match everything: term "
        "(a term id), party (a side or charged set), status (alleged, corroborated ...).",
        "SELECT f.finding_id, f.occurred, f.term, f.instrument, f.charged_to, f.severity, "
        "f.confidence, f.status, f.attribution, f.feed, f.source_id, f.incident_id "
        f"FROM current_findings f WHERE (:term = '' OR f.term = :term) AND {PARTY} "
        "AND (:status = '' OR f.status = :status) ORDER BY f.occurred DESC, f.seq DESC",
        ("current_findings",)),
    "per_party_per_day": (
        "Findings per party per day",
        "Current findings per charged party and day, cut-off to cut-off as in the briefs "
        "(since and until as YYYY-MM-DD: from the since date's cut-off to the until date's; "
        "empty = open); disputed and discounted findings left out.",
        f"SELECT {DAY} AS day, {CHARGED_SET} AS party, count(*) AS findings, sum(CASE WHEN "
        "f.severity IN ('major', 'critical') THEN 1 ELSE 0 END) AS major_or_critical, "
        "group_concat(DISTINCT f.term) AS terms FROM current_findings f WHERE f.status NOT IN "
        f"{sql_list(SET_ASIDE_STATUSES)} AND f.instrument_status IS NOT 'context' AND {PARTY} "
        f"AND (:term = '' OR f.term = :term) AND {_period('f.occurred')} GROUP BY day, party "
        "ORDER BY day, party",
        ("current_findings",)),
    "scorecard_for_period": (
        "Scorecard for a period",
        "Current findings per party, instrument, term and severity from the since date's daily "
        "cut-off to the until date's (YYYY-MM-DD), as the briefs count; disputed and "
        "discounted findings left out.",
        f"SELECT {CHARGED_SET} AS party, f.instrument, f.term, f.severity, count(*) AS findings, "
        f"min(f.day) AS first_day, max(f.day) AS last_day FROM (SELECT *, {DAY} AS day FROM "
        f"current_findings f) f WHERE f.status NOT IN {sql_list(SET_ASIDE_STATUSES)} AND "
        f"f.instrument_status IS NOT 'context' AND {_period('f.occurred')} GROUP BY party, "
        "f.instrument, "
        "f.term, f.severity ORDER BY party, findings DESC",
        ("current_findings",)),
    "feed_health": (
        "Feed health",
        "Per feed: runs, records taken, last success, last failure and why, and its latest run.",
        "SELECT s.feed, s.runs, s.records_taken, s.last_success, s.last_failure, "
        "s.last_failure_reason, h.ok AS last_run_ok, h.finished_at AS last_run_at, h.new AS "
        "last_run_new, h.rejected AS last_run_rejected, h.lag_seconds FROM feed_status s LEFT "
        "JOIN feed_health h ON h.seq = (SELECT max(seq) FROM feed_health WHERE feed = s.feed) "
        "ORDER BY s.feed",
        ("feed_status", "feed_health")),
    "alerts_in_force": (
        "Alerts in force",
        "Alerts of the pack's escalation and sequence patterns whose latest entry is active; "
        "kind filters (a pattern's name).",
        "SELECT a.key, a.kind, a.party, a.governorate, a.start, a.end, a.detail, "
        "a.incident_ids, a.finding_ids, a.recorded_at FROM alerts a WHERE a.seq = (SELECT "
        "max(b.seq) FROM alerts b WHERE b.key = a.key) AND a.active = 1 AND (:kind = '' OR "
        "a.kind = :kind) ORDER BY a.start, a.key",
        ("alerts",)),
    "calm_series": (
        "Calm counters",
        "The latest entry of each day since Day D of every calm counter the pack declares "
        "(counter filters: a counter's name): calm or not, consecutive calm days, and whether "
        "the needed calm days are reached.",
        "SELECT c.counter, c.day, c.start, c.end, c.calm, c.consecutive, c.condition_met, "
        "c.breaches FROM calm_counts c WHERE c.seq = (SELECT max(d.seq) FROM calm_counts d "
        "WHERE d.counter = c.counter AND d.day = c.day) AND (:counter = '' OR c.counter = "
        ":counter) ORDER BY c.counter, c.day",
        ("calm_counts",)),
    "findings_map": (
        "Findings on a map",
        "One row per current finding with the point of the report that produced it "
        "(latitude, longitude), for the map. Filters as in current_status, since/until as "
        f"in scorecard_for_period; at most {MAP_PAGE} rows a page: give after_seq the last "
        "seq to get the next page (the findings map page does).",
        "SELECT f.seq, f.finding_id, f.term, f.charged_to, f.severity, f.confidence, "
        "f.status, f.attribution, f.occurred, f.day, f.feed, f.source_id, f.incident_id, "
        "i.place, i.admin1 AS governorate, i.location_precision, i.lat AS latitude, i.lon AS "
        f"longitude FROM (SELECT *, {DAY} AS day FROM current_findings f) f JOIN incidents i "
        f"ON i.report_key = {REPORT_KEY_SQL} WHERE i.lat IS "
        f"NOT NULL AND i.lon IS NOT NULL AND (:term = '' OR f.term = :term) AND {PARTY} AND "
        f"{_period('f.occurred')} AND f.seq > CAST(COALESCE(NULLIF(:after_seq, ''), "
        f"'0') AS INTEGER) ORDER BY f.seq LIMIT {MAP_PAGE}",
        ("current_findings", "incidents")),
}


# Tables that are bookkeeping, not evidence and not chained (hidden in Datasette): the pattern
# work queue, and the tables the ledger derives from chained rows for its views (m003), which
# are like an index and which monitor ledger verify never counts.
BOOKKEEPING: dict[str, tuple[str, dict[str, str]]] = {
    "pattern_queue": (
        "Pattern work queue (not evidence, not chained): event-time windows whose calm days "
        "and escalation and sequence alerts are due to be recomputed; emptied after each "
        "import or feed run.",
        {"id": "Queue position.", "start": "Window start (UTC, ISO 8601); empty = everything.",
         "end": "Window end (UTC, ISO 8601); empty = everything."}),
    "finding_state": (
        "Derived, not evidence, not chained: each finding's latest status and latest re-scored "
        "confidence (from status_changes and confidence_changes), only for findings that have "
        "one; finding_status reads it.",
        {"finding_id": "The finding.",
         "status": "Its latest status change (empty: none, so 'alleged').",
         "confidence": "Its latest re-scored confidence (empty: none, so the one it was "
                       "recorded with)."}),
    "finding_parties": (
        "Derived, not evidence, not chained: one row per finding that counts against a party "
        "(context findings have none), its charged set, with the finding's instrument, term, "
        "severity, event window and current status; scorecard and findings_per_party_day read "
        "it.",
        {"finding_id": "The finding.", "party": CHARGED_SET_TEXT,
         "instrument": "The finding's instrument.", "term": "The finding's term.",
         "severity": "The finding's severity.", "occurred": "Event start (UTC).",
         "occurred_end": "Event end (UTC).", "status": STATUS}),
    "scorecard_counts": (
        "Derived, not evidence, not chained: the scorecard's rows, kept up to date by "
        "finding_parties' triggers; the scorecard view reads it.",
        {"party": CHARGED_SET_TEXT, "instrument": "The instrument.", "term": "The term.",
         "severity": "The severity.",
         "findings": "Its findings that count (neither disputed, discounted, superseded nor "
                     "retracted).",
         "first": "The earliest event start of those findings (UTC).",
         "last": "The latest event start of those findings (UTC)."}),
}


def _columns(described: dict[str, str], common: bool) -> dict[str, str]:
    return {**COMMON, **described} if common else dict(described)


def build_metadata(title: str, available: set[str] | None = None, *,
                   tile_url: str = "/-/monitor/tiles/{z}/{x}/{y}.svg",
                   base_url: str = "/", attribution: str = ATTRIBUTION) -> dict[str, Any]:
    """Datasette metadata for the ledger served as :data:`DATABASE`.

    ``title`` is the pack's; ``available`` (tables and views the file holds, None = all)
    drops the canned queries whose relations are missing (a ledger older than its views).
    ``tile_url`` is the local base layer for datasette-cluster-map: no tile server is ever
    asked (the default would be OpenStreetMap's)."""
    tables: dict[str, Any] = {
        name: {"description": text, "columns": _columns(cols, True), "sort_desc": "seq"}
        for name, (text, cols) in TABLES.items()}
    tables.update({name: {"description": text, "columns": _columns(cols, False)}
                   for name, (text, cols) in VIEWS.items()})
    tables["findings"].update(label_column="finding_id", facets=["term", "severity"])
    tables["finding_status"].update(facets=["status", "term"])
    # sqlite-utils' record of applied migrations: plumbing, not evidence
    tables["_sqlite_migrations"] = {"hidden": True,
                                    "description": "Schema migrations applied (sqlite-utils)."}
    tables.update({name: {"hidden": True, "description": text, "columns": cols}
                   for name, (text, cols) in BOOKKEEPING.items()})
    queries = {name: {"title": q_title, "description": text, "sql": sql}
               for name, (q_title, text, sql, needs) in QUERIES.items()
               if available is None or set(needs) <= available}
    return {
        "title": f"Ceasefire compliance ledger — {title}",
        "description_html": home_html(queries, base_url),
        # the footer of every page: short; the whole attribution is on the ledger's page
        "license": "CC BY 4.0 (UCDP), CC BY-IGO (OCHA)",
        "source": "UCDP GED; OCHA boundaries",
        "databases": {DATABASE: {
            "description": "The compliance ledger (read-only: SQLite opened with mode=ro and "
                           "query_only; Datasette runs SELECT statements only). " + attribution,
            "tables": tables, "queries": queries}},
        "plugins": {"datasette-cluster-map": {
            "tile_layer": tile_url,
            "tile_layer_options": {"maxZoom": 14, "attribution": attribution}}},
    }


# The findings table as an analyst reads it: what, who, how bad, how sure, when; the chain's
# columns and the long explanation left out (the row page has them all).
FINDINGS_PAGE = (f"{DATABASE}/findings?_sort_desc=occurred" + "".join(
    f"&_nocol={c}" for c in ("recorded_at", "prev_hash", "hash", "explanation", "rule_version",
                             "rule_id")))


def home_html(queries: dict[str, Any], base_url: str = "/") -> str:
    """The home page: what the ledger is, then where to start: the findings, the map and
    every canned query, one click away (links under ``base_url``)."""
    from html import escape

    base = base_url.rstrip("/") + "/"
    links = "".join(f'<li><a href="{base}{DATABASE}/{name}">{escape(q["title"])}</a></li>'
                    for name, q in queries.items())
    return ("<p>Read-only view of the monitor's append-only, hash-chained ledger: every "
            "report, incident, finding and status change.</p>"
            f'<p><strong><a href="{base}{escape(FINDINGS_PAGE)}">The findings, newest first'
            f'</a></strong> · <a href="{base}-/findings-map">the findings on a map</a> (no '
            "internet needed)</p>"
            f'<p>Common questions:</p><ul class="canned-queries">{links}</ul>')


def missing_queries(available: set[str]) -> list[str]:
    """Canned queries a ledger cannot answer (it lacks a table or view they read)."""
    return [name for name, (*_, needs) in QUERIES.items() if not set(needs) <= available]
