"""Evidence: corroboration across feeds, confidence re-scoring, and analysts' verdicts.

A finding from one unverified report is an allegation. Reports of the same event from other
feeds are linked to its incident (:func:`monitor.corroborate.match`); independent sources raise
the confidence of the incident's findings (:func:`monitor.corroborate.score`) and two of them
make a finding ``corroborated``. Analysts confirm, dispute, discount or retract. Every change
is a new ledger entry (a link, a support, a re-scoring, a status change): nothing is rewritten.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

from .corroborate import Evidence, ReportFacts, count_independent, match, score
from .errors import MonitorError
from .ledger import Ledger
from .ledger.base import IN_CHUNK
from .models import ATTACK_EVENT_TYPES, IncidentReport, Resolution
from .vocabulary import ANALYST_VERDICTS, GONE_STATUSES, NEW_STATUS, SETTLED_STATUSES


# What EvidenceKeeper.links_ahead gives for a report whose link was not read ahead: the caller
# searches for it when it records the report (find_incident)
SEARCH: Any = object()


class EvidenceError(MonitorError, ValueError):
    """An analyst's request that cannot be carried out (unknown id, settled finding...)."""


def facts_of(report: IncidentReport, res: Resolution, incident: str) -> ReportFacts:
    """What corroboration needs to know of a report."""
    loc = report.location
    return ReportFacts(
        report_key=report.report_key, incident_id=incident, feed=report.feed,
        start=res.start, end=res.end, lat=loc.lat if loc else None,
        lon=loc.lon if loc else None, precision=loc.precision if loc else None,
        attacker_sides=tuple(res.attacker_sides), target_sides=tuple(res.target_sides),
        event_type=res.event_type, sources=tuple(report.sources))


def facts_of_row(row: dict[str, Any]) -> ReportFacts:
    """ReportFacts of a recorded report (a row of :meth:`Ledger.nearby_reports`, which has no
    ``sources``: matching does not compare them)."""
    return ReportFacts(
        report_key=row["report_key"], incident_id=row["incident_id"], feed=row["feed"],
        start=dt.datetime.fromisoformat(row["occurred_start"]),
        end=dt.datetime.fromisoformat(row["occurred_end"]), lat=row["lat"], lon=row["lon"],
        precision=row["location_precision"], attacker_sides=tuple(row["attacker_sides"]),
        target_sides=tuple(row["target_sides"]), event_type=row["event_type"])


def finding_story(ledger: Ledger, finding_id: str) -> dict[str, Any] | None:
    """A finding with its whole history and every source that supports it: read from the
    ledger alone (a read-only one will do; no pack is needed)."""
    finding = ledger.finding(finding_id)
    if finding is None:
        return None
    history = (ledger.history("status_changes", finding_id)
               + ledger.history("confidence_changes", finding_id))
    recorded = ledger.query("SELECT confidence FROM findings WHERE finding_id = ?",
                            [finding_id])[0]["confidence"]
    return {"finding": finding, "recorded_confidence": recorded,
            "history": sorted(history, key=lambda h: h["seq"]),
            "sources": EvidenceKeeper(ledger).sources_of(finding)}


class EvidenceKeeper:
    """Corroboration and analyst verdicts on one ledger (used inside its transactions)."""

    def __init__(self, ledger: Ledger, distance_km: float = 10.0, coarse_precision: int = 3,
                 attack_types: frozenset[str] = ATTACK_EVENT_TYPES, unknown_side: str = "unknown"):
        self.ledger = ledger
        self.distance_km = distance_km
        self.attack_types = attack_types
        self.unknown_side = unknown_side
        self.coarse_precision = coarse_precision

    # --- corroboration -------------------------------------------------------------------

    def find_incident(self, new: ReportFacts,
                      feeds: set[str] | None = None) -> tuple[str, str] | None:
        """The incident of another feed this report describes, with the reason; or None.
        ``feeds``: the feeds the ledger holds, when the caller knows (spares the search when
        no other feed has reported anything)."""
        return self.find_incidents([new], feeds)[0]

    def find_incidents(self, news: Sequence[ReportFacts], feeds: set[str] | None = None
                       ) -> list[tuple[str, str] | None]:
        """:meth:`find_incident` for each of ``news``, the candidates of all of them read from
        the ledger at once (:meth:`Ledger.nearby_reports_many`), each read once. Only reports
        already recorded are candidates: a caller recording ``news`` one after the other asks
        this first only when none of them can be a candidate for another (one feed's reports
        never corroborate each other)."""
        searched = [new for new in news
                    if new.lat is not None and new.lon is not None
                    and (new.precision or 7) < self.coarse_precision
                    and (feeds is None or feeds - {new.feed})]
        candidates = self.ledger.nearby_reports_many([
            (new.start, new.end, new.lat, new.lon, self.distance_km, new.feed)
            for new in searched])
        # a report found by several searches is one row: its facts are made once
        distinct = {id(row): row for rows in candidates for row in rows}
        facts = {key: facts_of_row(row) for key, row in distinct.items()}
        found: dict[int, tuple[str, str] | None] = {}
        for new, rows in zip(searched, candidates):
            best = match(new, [facts[id(row)] for row in rows], distance_km=self.distance_km,
                         coarse_precision=self.coarse_precision, attack_types=self.attack_types,
                         unknown_side=self.unknown_side)
            found[id(new)] = (best.incident_id, best.reason) if best else None
        return [found.get(id(new)) for new in news]

    def links_ahead(self, batch: Sequence[tuple[IncidentReport, Resolution, str]],
                    feeds: set[str]) -> Iterable[tuple[str, str] | None | object]:
        """For a batch of new reports about to be recorded in order (each with its resolution
        and its own incident id), what each one links to (:meth:`find_incident`), read at
        once: when its reports are of one feed, they cannot be candidates for each other (and
        while no other feed has reported, there is nothing to search). A batch of several
        feeds gives :data:`SEARCH` for each: a report may describe one recorded before it."""
        batch_feeds = {report.feed for report, _, _ in batch}
        if len(batch_feeds) != 1:
            return repeat(SEARCH)
        if not feeds - batch_feeds:
            return repeat(None)
        return self.find_incidents([facts_of(*made) for made in batch], feeds)

    def standing(self, incidents: Iterable[str]) -> dict[str, dict[str, dict[str, Any]]]:
        """The findings standing on each of ``incidents`` now (neither superseded nor
        retracted), by term (of two, the later), without their explanations, read a few
        hundred incidents a statement."""
        wanted = list(dict.fromkeys(incidents))
        found: dict[str, dict[str, dict[str, Any]]] = {iid: {} for iid in wanted}
        for start in range(0, len(wanted), IN_CHUNK):
            for f in self.ledger.findings(incident_id=wanted[start:start + IN_CHUNK],
                                          explained=False):
                if f["status"] not in GONE_STATUSES:
                    found[f["incident_id"]][f["term"]] = f
        return found

    def standing_ahead(self, links: Iterable[tuple[str, str] | None | object]
                       ) -> dict[str, dict[str, dict[str, Any]]]:
        """:meth:`standing` for the incidents a batch links to, when :meth:`links_ahead` read
        them (a list); else nothing (each report's are read when it is recorded)."""
        if not isinstance(links, list):
            return {}
        return self.standing(link[0] for link in links if isinstance(link, tuple))

    def link(self, report_key: str, incident: str, by: str, reason: str) -> None:
        self.ledger.append("links", {"report_key": report_key, "incident_id": incident,
                                     "action": "link", "by": by, "reason": reason})

    def support(self, finding: dict[str, Any], report_key: str) -> None:
        """Record that ``report_key`` also supports a finding; re-score it."""
        self.ledger.append("finding_support", {"finding_id": finding["finding_id"],
                                               "report_key": report_key, "independent": 1,
                                               "note": "the report describes the same event"})
        self.rescore(finding, by="corroboration")

    def carry_over(self, old_id: str, new: dict[str, Any], by: str) -> None:
        """Finding ``new`` (its row as just recorded, its explanation whole) supersedes
        ``old_id`` on the same incident (a revision of its source record, a rule re-judged):
        the other reports that supported the old one and still describe the incident support
        the new one too (recorded again, for it), and it is re-scored. A revision of one source
        leaves the others' word standing. ``new`` is recorded by the caller just before, so
        what the ledger would say of it is known here: its supports are the ones carried over
        now, and it has no status or confidence change of its own."""
        new_id = new["finding_id"]
        in_incident = self.ledger.reports_now_in(new["incident_id"])
        reports = {r["report_key"] for r in in_incident}
        carried = []
        for s in self.ledger.history("finding_support", old_id):
            if s["report_key"] in reports:
                carried.append(s["report_key"])
                self.ledger.append("finding_support", {
                    "finding_id": new_id, "report_key": s["report_key"],
                    "independent": s["independent"],
                    "note": f"carried over from {old_id}, which this finding supersedes"})
        # in_incident still holds: recording a support moves no report
        self.rescore(new, by=by, in_incident=in_incident, fresh=carried)

    def sources_of(self, finding: dict[str, Any],
                   in_incident: list[dict[str, Any]] | None = None,
                   supports: list[str] | None = None) -> list[dict[str, Any]]:
        """The reports that support a finding now: the one that produced it and every
        supporting report still linked to its incident (``in_incident``: the reports in the
        incident now, :meth:`.Ledger.reports_now_in`, when the caller has read them;
        ``supports``: the keys of the reports recorded as supporting it, when the caller
        knows them)."""
        if in_incident is None:
            in_incident = self.ledger.reports_now_in(finding["incident_id"])
        reports = {r["report_key"]: r for r in in_incident}
        keys = [k for k in reports if reports[k]["feed"] == finding["feed"]
                and reports[k]["source_id"] == finding["source_id"]]
        if supports is None:
            supports = [s["report_key"] for s in self.ledger.history(
                "finding_support", finding["finding_id"])]
        keys += [k for k in supports if k in reports]
        return [reports[k] for k in dict.fromkeys(keys)]

    def rescore(self, finding: dict[str, Any], by: str,
                in_incident: list[dict[str, Any]] | None = None,
                fresh: list[str] | None = None) -> None:
        """Re-score a finding from its current sources; a new entry only if it changed. Two
        independent sources make an alleged finding corroborated (and fewer, alleged again).
        ``finding`` needs its id, incident, feed and source id; its explanation (whole, a
        list), when it has it, gives the inputs of the score, else they are read;
        ``in_incident`` as for :meth:`sources_of`. ``fresh``: the finding's row was just
        recorded, as given (its confidence), with no status of its own yet, and these are the
        keys of its supports: nothing about it is read back."""
        sources = self.sources_of(finding, in_incident, fresh)
        facts = [_facts_of_report(r) for r in sources]
        independent = count_independent(facts) if facts else 1
        reliabilities = tuple(r["body"].get("reliability") for r in sources) or (None,)
        given = isinstance(finding.get("explanation"), list)  # else read with the rest
        current = ({"confidence": finding["confidence"], "status": NEW_STATUS}
                   if fresh is not None else
                   self.ledger.finding(finding["finding_id"], explained=not given))
        assert current is not None
        grade, reasons = _score(_evidence_of(finding if given else current), reliabilities,
                                independent)
        if grade != current["confidence"]:
            self.ledger.append("confidence_changes", {"finding_id": finding["finding_id"],
                                                      "confidence": grade, "reasons": reasons})
        status = current["status"]
        if status in SETTLED_STATUSES:
            return
        wanted = "corroborated" if independent >= 2 else NEW_STATUS
        if wanted != status:
            self.ledger.append("status_changes", {
                "finding_id": finding["finding_id"], "status": wanted, "by": by,
                "note": f"{independent} independent source(s): "
                        + ", ".join(r["report_key"] for r in sources)})

    # --- analysts ------------------------------------------------------------------------

    def verdict(self, finding_id: str, verb: str, by: str, note: str) -> dict[str, Any]:
        """An analyst's verdict on a finding, recorded with who, when (the entry's time) and
        why. Raises EvidenceError for an unknown id or a finding replaced by a newer one."""
        if verb not in ANALYST_VERDICTS:
            raise EvidenceError(f"{verb!r} is not a verdict: use one of "
                                + ", ".join(ANALYST_VERDICTS))
        if not by.strip() or not note.strip():
            raise EvidenceError("a verdict needs who gives it (--by) and why (--note)")
        finding = self.ledger.finding(finding_id)
        if finding is None:
            raise EvidenceError(f"no finding {finding_id!r}: see `monitor findings` for ids")
        if finding["status"] == "superseded":
            raise EvidenceError(f"{finding_id} was superseded by a newer revision or rule; "
                                "give the verdict on the finding that replaced it")
        return self.ledger.append("status_changes", {
            "finding_id": finding_id, "status": ANALYST_VERDICTS[verb], "by": by.strip(),
            "note": note.strip()})


def _facts_of_report(row: dict[str, Any]) -> ReportFacts:
    body = row["body"]
    return ReportFacts(report_key=row["report_key"], incident_id=row["incident_id"],
                       feed=row["feed"], start=dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                       end=dt.datetime.min.replace(tzinfo=dt.timezone.utc), lat=None, lon=None,
                       precision=None, attacker_sides=(), target_sides=(), event_type="",
                       sources=tuple(body.get("sources", [])))


def _evidence_of(finding: dict[str, Any]) -> dict[str, Any]:
    """The evidence inputs a finding was scored with (kept in its explanation)."""
    for item in finding["explanation"]:
        if "evidence" in item:
            return dict(item["evidence"])
    return {}


def _score(base: dict[str, Any], reliabilities: tuple[str | None, ...],
           independent: int) -> tuple[str, list[str]]:
    """Score with the sources' grades: the first ``independent`` grades stand for the
    independent sources."""
    grades = reliabilities[:max(1, independent)]
    return score(Evidence(**{**base, "reliabilities": grades}))
