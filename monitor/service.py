"""The one path every report takes: validate → resolve → evaluate → record.

At about 500 lines it keeps that path in one place on purpose: submit, revisions, retractions,
corroboration and re-judging all write the same entries in the same transaction.

The daemon, ``monitor import`` and ``monitor incident add`` all call :meth:`Monitor.submit`;
nothing else writes reports or findings to the ledger.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Any

from pydantic import ValidationError

from . import timeline
from .config import Pack
from .crashpoints import crash_point
from .evidence import SEARCH, EvidenceKeeper, facts_of, finding_story
from .judge import Judge, finding_id
from .ledger import CanonicalJSON, Ledger, canonical_json, iso, share_notes
from .models import Finding, IncidentReport, Outcome, Resolution
from .patterns import window as event_window  # a finding's, as the patterns read it
from .problems import location
from .resolve import resolve, resolve_many
from .staged import Staged, stage
from .vocabulary import GONE_STATUSES
from .webhooks import Event, Notifier

# Reports re-judged to a transaction (Monitor.rejudge): another writer waits at most this many
# (about a second's work), never a whole re-judgement.
REJUDGE_BATCH = 500


@dataclass(frozen=True)
class Rejection:
    """A record that could not become a report: where it was and why."""

    where: str  # e.g. "events.csv line 12"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class BatchResult:
    """What a batch did: outcomes for accepted reports, rejections for the rest."""

    outcomes: list[Outcome] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    retracted: int = 0  # findings withdrawn because the source deleted their record

    @property
    def findings(self) -> list[Finding]:
        return [f for o in self.outcomes for f in o.findings]

    @property
    def new(self) -> int:
        return sum(1 for o in self.outcomes if not o.duplicate)

    @property
    def duplicates(self) -> int:
        return sum(1 for o in self.outcomes if o.duplicate)


def validate(record: dict[str, Any], where: str) -> IncidentReport | Rejection:
    """Validate one raw record; a bad one becomes a Rejection naming each field and reason."""
    try:
        return IncidentReport.model_validate(record)
    except ValidationError as exc:
        reasons = "; ".join(f"{location(e['loc']) or 'record'}: {e['msg']}"
                            for e in exc.errors(include_url=False))
        return Rejection(where, reasons)


def validated(item: IncidentReport | Rejection | tuple[str, dict[str, Any]]
              ) -> IncidentReport | Rejection:
    """An item of a batch as a report or a rejection: a ``(where, raw dict)`` pair is
    validated, the rest are already one or the other."""
    return validate(item[1], item[0]) if isinstance(item, tuple) else item


def _same_verdict(old: dict[str, Any], new: Finding) -> bool:
    """Whether a re-judged finding says what the recorded one says."""
    return (sorted(old["charged_to"]) == sorted(new.charged_to)
            and (old["severity"], old["attribution"]) == (new.severity, new.attribution))


class Evaluator:
    """Judges reports under a pack and records nothing: the rule suites, ``monitor rules
    evaluate`` and the import's worker process use it; :class:`Monitor` records too."""

    def __init__(self, pack: Pack):
        self.pack = pack
        self.judge = Judge(pack)
        # a batch is judged under one set of rules: swapping rules waits for it to finish
        self._lock = threading.RLock()

    def use_pack(self, pack: Pack) -> None:
        """Judge from now on under ``pack`` (the daemon reloads changed rules and config)."""
        judge = Judge(pack)  # compile first: a failure leaves the current rules in place
        with self._lock:
            self.pack, self.judge = pack, judge

    def evaluate(self, report: IncidentReport) -> tuple[str, Resolution, list[Finding]]:
        """Resolve and judge one report without recording it (rule suites use this)."""
        iid = report.incident_id
        res = resolve(report, self.pack)
        return iid, res, self.judge.judge(iid, report, res)

    def judge_many(self, reports: list[IncidentReport]
                   ) -> list[tuple[Resolution, list[Finding]]]:
        """Resolve (a batch at once) and judge reports without recording them: each one's
        resolution and findings, in order. A function of the pack alone (no ledger), which is
        what lets :mod:`monitor.pipeline`'s worker do it for :meth:`submit`."""
        return [(res, self.judge.judge(r.incident_id, r, res))
                for r, res in zip(reports, resolve_many(reports, self.pack))]


class Monitor(Evaluator):
    """Judges reports under a pack and records them in its ledger."""

    def __init__(self, pack: Pack, ledger: Ledger,
                 clock: Callable[[], dt.datetime] | None = None):
        super().__init__(pack)
        self.ledger = ledger
        self.clock = clock or (lambda: dt.datetime.now(dt.timezone.utc))
        self.evidence = EvidenceKeeper(ledger, pack.spec.corroboration_km,
                                       pack.spec.coarse_precision, pack.words.attack_types,
                                       pack.spec.unknown_side)
        self.notifier: Notifier | None = None  # webhooks, set by the caller
        # announcements of the submits inside :meth:`transaction`, made once it commits
        self._held: list[Callable[[], None]] | None = None

    def use_pack(self, pack: Pack) -> None:
        super().use_pack(pack)
        with self._lock:
            self.evidence.distance_km = pack.spec.corroboration_km

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Several :meth:`submit` calls as one ledger transaction (an import's pieces), each a
        savepoint of it: all of them land or none does, and what they found is announced once
        it is committed, not before."""
        with self._lock:
            if self._held is not None:  # nested: the outer one commits and announces
                with self.ledger.transaction():
                    yield
                return
            held: list[Callable[[], None]] = []
            self._held = held
            try:
                with self.ledger.transaction():
                    yield
            finally:
                self._held = None
        for announce in held:
            announce()

    def notify(self, kind: str, key: str, payload: dict[str, Any],
               severity: str | None = None) -> None:
        """Hand an event to the webhooks, if any (never blocks)."""
        if self.notifier is not None:
            self.notifier.notify(Event(kind, key, payload, severity))

    def record_delivery(self, row: dict[str, Any]) -> None:
        """Record one webhook delivery attempt (called from the delivery thread)."""
        with self.ledger.transaction():
            self.ledger.append("deliveries", row)

    def submit(self, items: Iterable[IncidentReport | Rejection | tuple[str, dict[str, Any]]],
               *, feed: str | None = None, cursor: dict[str, Any] | None = None,
               retractions: Iterable[str] = (), refresh: bool = True,
               judged: Sequence[tuple[Resolution, list[Finding]] | None] | None = None,
               bodies: Sequence[str | None] | None = None,
               explanations: Sequence[dict[str, str] | None] | None = None) -> BatchResult:
        """Judge and record a batch in one transaction: all of it lands, or none of it.

        ``items`` are validated reports, rejections (passed through for the caller to report)
        or ``(where, raw dict)`` pairs, validated here. A report already in the ledger (same
        feed, source id and revision) is a duplicate and adds nothing. ``retractions`` are
        source ids of ``feed`` the source withdrew. ``cursor`` is ``feed``'s position once this
        batch is recorded: it is written in the same transaction, so a crash at any moment
        neither loses nor repeats a record. The event-time windows the batch touched are
        queued for the patterns (:mod:`monitor.timeline`); with ``refresh`` the patterns are
        brought up to date in the same transaction, else the caller runs
        :meth:`refresh_patterns` when the run is over (bulk imports: once, at the end).
        ``judged``, item by item, is each report's resolution and findings under this pack
        (:meth:`judge_many`), made already by :mod:`monitor.pipeline`'s worker: they are
        recorded as given, and so are, with them, ``bodies`` (:func:`.staged.body_json`) and
        ``explanations`` (:func:`.staged.stored_explanations`), where given.
        """
        result = BatchResult()
        alerts: list[dict[str, Any]] = []
        with self._lock, self.ledger.transaction():
            held = self._held  # inside Monitor.transaction: announced when it commits
            count, reports, made, given_of = 0, [], [], {}
            if judged is None:
                per_item = zip(items, repeat(None), repeat(None), repeat(None))
            else:  # made by the worker, item by item
                per_item = zip(items, judged, *(given if given is not None else
                                                repeat(None, len(judged))
                                                for given in (bodies, explanations)), strict=True)
            for item, ready, body, explained in per_item:
                count += 1
                where = item[0] if isinstance(item, tuple) else None
                item = validated(item)
                if not isinstance(item, Rejection):
                    # open vocabularies: a value the pack does not declare is refused here
                    unknown = self.pack.unknown_values(item)
                    if unknown:
                        item = Rejection(where or item.report_key, "; ".join(unknown))
                if isinstance(item, Rejection):
                    result.rejections.append(item)
                else:
                    reports.append(item)
                    made.append(ready)
                    # (a key said twice: the first is recorded)
                    given_of.setdefault(item.report_key, (body, explained))
            # one look-up per batch, not per report: what the ledger already holds
            known = self.ledger.known_reports(r.report_key for r in reports)
            fresh: list[tuple[IncidentReport, tuple[Resolution, list[Finding]] | None]] = []
            for report, ready in zip(reports, made):
                if report.report_key in known:
                    result.outcomes.append(Outcome(report_key=report.report_key,
                                                   incident_id=None, duplicate=True))
                    continue
                known.add(report.report_key)
                fresh.append((report, ready))
                result.outcomes.append(None)  # type: ignore[arg-type]  # filled in below
            sources = self.ledger.known_sources((r.feed, r.source_id) for r, _ in fresh)
            feeds = self.ledger.feeds()
            if sources or retractions or refresh or feeds - {r.feed for r, _ in fresh}:
                # revisions, retractions, corroboration and the patterns read indexes that an
                # import into an empty ledger builds at its end (Ledger.indexes_at_end)
                self.ledger.build_missing_indexes()
            # the findings of the records revised, read for the batch at once
            revised = self.ledger.source_findings_many(sources)
            windows: list[tuple[dt.datetime, dt.datetime]] = []
            if judged is None:
                fresh = list(zip([r for r, _ in fresh], self.judge_many([r for r, _ in fresh])))
            # what the ledger stores of each (the worker made the bodies and explanations)
            rows = [stage(r, *ready, *given_of[r.report_key]) for r, ready in fresh]
            # notes and explanations said again in the batch are stored once (what the
            # incident row keeps already left out first: monitor.ledger.compact)
            texts = {fid: CanonicalJSON(text) for row in rows
                     for fid, text in row.explanations.items()}
            shared = self.ledger.share_texts(chain(
                (n for _, (res, _) in fresh for n in res.notes), texts.values()))
            # a shared text's seq, else the text, stored as written here (not written again)
            explanations = {fid: shared.get(text, text) for fid, text in texts.items()}
            # bodies and resolutions as stored: compressed once the feed has enough of them to
            # train a dictionary (monitor.ledger.packing)
            packed = self.ledger.pack_batch([
                (r.feed, row.body, canonical_json(share_notes(row.incident["resolution"], shared)))
                for (r, _), row in zip(fresh, rows)])
            links = self.evidence.links_ahead(  # corroboration: read for the batch at once
                [(r, res, r.incident_id) for r, (res, _) in fresh], feeds)
            # ... and the findings standing on the incidents linked to
            standing = self.evidence.standing_ahead(links)
            with self.ledger.deferred():  # a table's rows of the batch in one statement
                recorded = iter([self._record(r, *ready, sources, feeds, windows, explanations,
                                              row, stored, link, standing, revised)
                                 for (r, ready), row, stored, link in zip(fresh, rows, packed,
                                                                          links)])
            result.outcomes = [o if o is not None else next(recorded) for o in result.outcomes]
            for source_id in retractions:
                if feed is None:
                    raise ValueError("retractions need the feed they belong to")
                result.retracted += self._retract(feed, source_id, windows)
            if windows:
                # a new report (even one breaking nothing), a finding superseded or retracted
                # can change the series where it happened
                self.ledger.queue_patterns(timeline.merged(windows))
            if feed is not None and cursor is not None:
                self.ledger.append("feed_cursors", {"feed": feed, "cursor": cursor,
                                                    "items": count})
                crash_point("service.cursor")
            if refresh:
                alerts = self._refresh_patterns()

        def announce() -> None:  # only what was committed (made into payloads for webhooks only)
            for f in result.findings if self.notifier is not None else ():
                self.notify("finding", f.finding_id, f.model_dump(mode="json"), f.severity)
            self._announce(alerts)

        if held is None:
            announce()
        else:
            held.append(announce)
        return result

    def refresh_patterns(self) -> list[dict[str, Any]]:
        """Bring the patterns up to date with what was queued (after submits made with
        ``refresh=False``, or left by a crash); returns the alerts recorded now."""
        with self._lock, self.ledger.transaction():
            alerts = self._refresh_patterns()
        self._announce(alerts)
        return alerts

    def _refresh_patterns(self) -> list[dict[str, Any]]:
        last, windows = self.ledger.pattern_work()
        if not last:
            return []
        alerts = timeline.refresh(self.ledger, self.pack, windows)["new_alerts"]
        self.ledger.pattern_done(last)
        return alerts

    def _announce(self, alerts: list[dict[str, Any]]) -> None:
        for alert in alerts:
            self.notify("alert", alert["key"], alert)

    # --- re-judging under changed rules ---------------------------------------

    def stale_since(self) -> str | None:
        """The event time of the earliest standing finding made by a rule that has since
        changed or gone (its version is not the pack's), or None: where a re-judging must
        start so that the ledger says what the current rules say."""
        versions = sorted({r.version for r in self.pack.rules})
        rows = self.ledger.query(
            "SELECT min(occurred) AS since FROM current_findings WHERE rule_version NOT IN ("
            + ", ".join("?" * len(versions)) + ")", versions)
        return rows[0]["since"] if rows and rows[0]["since"] else None

    def rejudge(self, since: str) -> dict[str, int]:
        """Re-evaluate the latest revision of every report whose event started at or after
        ``since`` (UTC ISO) under the current rules. A finding whose rule changed and whose
        verdict changed is superseded by a new one (``supersedes`` points back); one the new
        rule no longer finds is superseded; a term now found is recorded. Verdicts that did
        not change stay as they are, with the rule version that made them.

        Reports are re-judged ``REJUDGE_BATCH`` to a transaction, so another writer (a hand
        entry, the daemon) waits at most one batch, never the whole run; a run cut short is
        finished by running it again (what was re-judged is then unchanged)."""
        counts = {"reports": 0, "new": 0, "superseded": 0, "unchanged": 0}
        versions = {r.spec.term: r.version for r in self.pack.rules}
        rows = self.ledger.latest_reports(since)
        for start in range(0, len(rows), REJUDGE_BATCH):
            with self.ledger.transaction():
                self._rejudge_batch(rows[start:start + REJUDGE_BATCH], versions, counts)
        with self.ledger.transaction():
            timeline.refresh(self.ledger, self.pack)
        return counts

    def _rejudge_batch(self, rows: list[dict[str, Any]], versions: dict[str, str],
                       counts: dict[str, int]) -> None:
        for row in rows:
            counts["reports"] += 1
            report = IncidentReport.model_validate(row["body"])
            incident = row["incident_id"]
            _, _, findings = self.evaluate(report)
            new = {f.term: f for f in findings}
            on_incident = self.evidence.standing([incident])[incident]
            mine = {t: f for t, f in on_incident.items()
                    if (f["feed"], f["source_id"]) == (report.feed, report.source_id)}
            for term, old in mine.items():
                if old["rule_version"] == versions.get(term):
                    counts["unchanged"] += 1
                    continue
                fresh = new.get(term)
                if fresh is not None and _same_verdict(old, fresh):
                    counts["unchanged"] += 1
                    continue
                note = (f"rule {old['rule_id']} changed ({versions.get(term, 'removed')})"
                        + ("" if fresh else ": the term no longer holds"))
                self.ledger.append("status_changes", {
                    "finding_id": old["finding_id"], "status": "superseded",
                    "by": "rejudge", "note": note})
                counts["superseded"] += 1
                if fresh is not None:
                    made = self._append_finding(fresh, incident, report.report_key,
                                                supersedes=old["finding_id"])
                    self.evidence.carry_over(old["finding_id"], made, by="rejudge")
                    counts["new"] += 1
            for term, fresh in new.items():
                if term not in on_incident:
                    self._append_finding(fresh, incident, report.report_key)
                    counts["new"] += 1

    def _append_finding(self, finding: Finding, incident: str, report_key: str,
                        supersedes: str | None = None) -> dict[str, Any]:
        finding = finding.model_copy(update={"incident_id": incident, "finding_id": finding_id(
            incident, report_key, finding.term, finding.rule_version, supersedes)})
        row = finding.ledger_row()
        row["supersedes"] = supersedes
        return self.ledger.append("findings", row)

    # --- analysts -------------------------------------------------------------

    def verdict(self, finding_id: str, verb: str, by: str, note: str) -> dict[str, Any]:
        """An analyst confirms, disputes, discounts or retracts a finding."""
        with self.ledger.transaction():
            entry = self.evidence.verdict(finding_id, verb, by, note)
            # it counts, or stops counting, only where it happened (timeline: not the whole
            # span, which took 9.6 s on a ledger of 400,000 reports)
            finding = self.ledger.finding(finding_id, explained=False)
            assert finding is not None  # (evidence.verdict refused an unknown id)
            timeline.refresh(self.ledger, self.pack, [event_window(finding)])
        return entry

    def story(self, finding_id: str) -> dict[str, Any] | None:
        """A finding with its whole history and every source that supports it
        (:func:`.evidence.finding_story`)."""
        return finding_story(self.ledger, finding_id)

    def unlink(self, report_key: str, by: str, note: str) -> Outcome:
        """Undo corroboration: the report returns to its own incident and is judged there;
        its findings on the incident it leaves are superseded and that incident re-scored."""
        from .evidence import EvidenceError

        where = self.ledger.incidents_of_report(report_key)
        if where is None:
            raise EvidenceError(f"no report {report_key!r} (keys are feed:source_id:revision)")
        if where["incident_id"] == where["own_incident"]:
            raise EvidenceError(f"{report_key} is not linked to another incident")
        left = where["incident_id"]
        recorded = self.ledger.report(report_key)
        assert recorded is not None
        report = IncidentReport.model_validate(recorded["body"])
        with self.ledger.transaction():
            self.ledger.append("links", {"report_key": report_key,
                                         "incident_id": where["own_incident"],
                                         "action": "unlink", "by": by, "reason": note})
            windows = []  # where the patterns can change: see the refresh below
            for f in self.ledger.findings(incident_id=left):
                if f["status"] in GONE_STATUSES:
                    continue
                windows.append(event_window(f))
                if (f["feed"], f["source_id"]) == (report.feed, report.source_id):
                    self.ledger.append("status_changes", {
                        "finding_id": f["finding_id"], "status": "superseded", "by": by,
                        "note": f"{report_key} unlinked from {left}: {note}"})
                else:
                    self.evidence.rescore(f, by=by)
            own, res, findings = self.evaluate(report)
            recorded = []
            for finding in findings:
                row = finding.ledger_row()
                row["supersedes"] = None
                self.ledger.append("findings", row)
                recorded.append(finding)
            # the findings superseded or re-scored on the incident left, and the report's own
            # window: it is an incident of its own again there, with its own findings
            timeline.refresh(self.ledger, self.pack, [*windows, (res.start, res.end)])
        return Outcome(report_key=report_key, incident_id=own, findings=recorded)

    # --- revisions and retractions: new entries, never rewrites -----------------

    def _current(self, feed: str, source_id: str,
                 sources: set[tuple[str, str]] | None = None,
                 ahead: dict[tuple[str, str], list[dict[str, Any]]] | None = None
                 ) -> list[dict[str, Any]]:
        """The findings in force of every revision of a source record; ``sources`` (the
        records known to have revisions, when the caller looked them up) spares a query, and
        so does ``ahead`` (:meth:`.Ledger.source_findings_many`, read for a batch before its
        first record: a record's are taken from it once, by its first revision recorded; the
        next one reads what that one changed)."""
        if (feed, source_id) not in sources if sources is not None else (
                not self.ledger.has_source(feed, source_id)):
            return []  # the common case: a record seen for the first time
        found = ahead.pop((feed, source_id), None) if ahead is not None else None
        if found is None:
            found = self.ledger.source_findings_many([(feed, source_id)])[feed, source_id]
        return [f for f in found if f["status"] not in GONE_STATUSES]

    def _retract(self, feed: str, source_id: str,
                 windows: list[tuple[dt.datetime, dt.datetime]]) -> int:
        """Retract the standing findings of a record its source withdrew; note their event
        windows in ``windows``."""
        current = self._current(feed, source_id)
        for f in current:
            windows.append(event_window(f))
            self.ledger.append("status_changes", {
                "finding_id": f["finding_id"], "status": "retracted", "by": f"feed:{feed}",
                "note": f"the source withdrew record {source_id}"})
        return len(current)

    def _supersede(self, report: IncidentReport, sources: set[tuple[str, str]],
                   windows: list[tuple[dt.datetime, dt.datetime]],
                   revised: dict[tuple[str, str], list[dict[str, Any]]] | None = None
                   ) -> dict[str, str]:
        """Supersede the findings of a record's earlier revisions (``revised``: read ahead,
        :meth:`_current`); return term -> old id."""
        replaced: dict[str, str] = {}
        for f in self._current(report.feed, report.source_id, sources, revised):
            if f["revision"] == report.revision:
                continue
            replaced[f["term"]] = f["finding_id"]
            windows.append(event_window(f))
            self.ledger.append("status_changes", {
                "finding_id": f["finding_id"], "status": "superseded",
                "by": f"feed:{report.feed}",
                "note": f"revision {report.revision} of {report.source_id} replaces revision "
                        f"{f['revision']}"})
        return replaced

    def feed_cursor(self, feed: str) -> dict[str, Any]:
        """Where a feed stopped (``{}`` before its first run)."""
        return self.ledger.feed_cursor(feed)

    def record_feed_health(self, feed: str, run: Any, started: dt.datetime) -> None:
        """One feed-health entry per run: counts, or the reason it failed."""
        with self.ledger.transaction():
            self.ledger.append("feed_health", {
                "feed": feed, "ok": int(run.ok), "started_at": iso(started),
                "finished_at": iso(self.clock()), "attempts": run.attempts, "new": run.new,
                "duplicates": run.duplicates, "rejected": run.rejected,
                "retracted": run.retracted, "findings": run.findings, "reason": run.reason,
                "lag_seconds": run.lag_seconds})

    def _record(self, report: IncidentReport, res: Resolution, findings: list[Finding],
                sources: set[tuple[str, str]], feeds: set[str],
                windows: list[tuple[dt.datetime, dt.datetime]],
                explanations: dict[str, Any], staged: Staged, stored: Sequence[str],
                link: Any = SEARCH,
                standing: dict[str, dict[str, dict[str, Any]]] | None = None,
                revised: dict[tuple[str, str], list[dict[str, Any]]] | None = None) -> Outcome:
        """Record one new report resolved as ``res`` and judged as ``findings``; note its
        event window in ``windows``. ``sources`` and ``feeds`` (what the ledger holds) are
        kept up to date here; ``explanations`` each finding's explanation as stored (by
        finding id), ``staged`` the report's incident row (:func:`monitor.staged.stage`),
        ``stored`` its body and resolution as stored (:meth:`.Ledger.pack_batch`; the notes
        said again in the batch shared), ``link`` the incident of
        another feed it describes and why (:meth:`EvidenceKeeper.links_ahead`; searched for
        now when :data:`~monitor.evidence.SEARCH`), ``standing`` the findings standing on the
        incidents the batch links to, read before its first record
        (:meth:`EvidenceKeeper.standing_ahead`): an incident's are taken from it once, by the
        first report recorded on it (the next one reads what that one changed), and a
        supersession empties it (it may have changed any incident's); ``revised`` the findings
        of the records the batch revises, read before its first record, each taken once, as
        ``standing`` (:meth:`_current`)."""
        crash_point("service.record")
        own = report.incident_id
        key = report.report_key
        ledger = self.ledger
        # corroboration: the same event reported by another feed is one incident
        linked = (link if link is not SEARCH else self.evidence.find_incident(
            facts_of(report, res, own), feeds) if feeds - {report.feed} else None)
        feeds.add(report.feed)
        iid = linked[0] if linked else own
        ledger.add("reports", {
            "report_key": key, "feed": report.feed, "source_id": report.source_id,
            "revision": report.revision, "incident_id": own,
            "body": stored[0],
        })
        loc = report.location
        ledger.add("incidents", {**staged.incident, "resolution": stored[1]})
        review = [f"unknown actor name {n!r}" for n in res.unresolved_names]
        for name in res.unresolved_names:
            ledger.add("reviews", {"incident_id": iid, "report_key": key,
                                   "kind": "unknown_actor", "detail": name})
        if loc is not None and not res.location_resolved and loc.precision >= (
                self.pack.spec.coarse_precision):
            detail = (f"location precision {loc.precision} is too coarse for zone-based terms "
                      "(TERMS.md §3)")
            review.append(detail)
            ledger.add("reviews", {"incident_id": iid, "report_key": key,
                                   "kind": "coarse_location", "detail": detail})
        if linked:
            self.evidence.link(key, iid, "corroboration", linked[1])
        replaced = self._supersede(report, sources, windows, revised)
        sources.add((report.feed, report.source_id))
        standing = {} if standing is None else standing
        if replaced:
            standing.clear()
        ahead = standing.pop(iid, None)  # as it stood before the batch, and still stands
        existing = {} if not linked else ahead if ahead is not None else \
            self.evidence.standing([iid])[iid]
        recorded, supported = [], []
        for finding in findings:
            explanation = explanations[finding.finding_id]
            if finding.term in existing:
                # the incident already has this finding: the report is one more source of it
                self.evidence.support(existing[finding.term], key)
                supported.append(existing[finding.term]["finding_id"])
                continue
            if linked:
                finding = finding.model_copy(update={"incident_id": iid, "finding_id": finding_id(
                    iid, key, finding.term, finding.rule_version)})
            row = finding.ledger_row()
            row["explanation"] = explanation
            row["supersedes"] = replaced.get(finding.term)
            recorded_at = ledger.add("findings", row)[1]  # (seq, recorded_at, ...)
            if row["supersedes"] is not None:  # the other sources' support stands
                self.evidence.carry_over(row["supersedes"],
                                         {**row, "explanation": finding.explanation},
                                         by=f"feed:{report.feed}")
            finding.recorded_at = recorded_at  # judged for this record alone
            recorded.append(finding)
        windows.append((res.start, res.end))
        return Outcome(report_key=key, incident_id=iid, findings=recorded, review=review,
                       linked=linked[1] if linked else None, corroborates=supported)
