"""Judging: a resolved incident becomes fact sets, the engine says which terms they break.

One fact set is made per candidate attribution (attacker side × target side): TERMS.md §4,
"each term is evaluated for each candidate and the finding is recorded once, attribution:
ambiguous, charged to the candidates for which the term holds, confidence one grade lower". A
clash (no direction) has a fact set for each side in each position, so a term naming both
parties (COH-CLASH) matches whichever way round the source lists them; it charges nobody
(``charged_to: none``: attribution undetermined) or, for a term that charges the attacker, each
side of the clash (attribution joint: both broke it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from typing import Any

from .config import Pack
from .corroborate import Evidence, score
from .engine import Engine
from .ledger import iso
from .models import CONFIDENCES, Finding, IncidentReport, Resolution
from .patterns import parse_time
from .rules import DISTANCE, LoadedRule, holds, severity_for
from .staged import iso_once
from .vocabulary import UNKNOWN

# An instrument's end is given to the minute ("23:59"): it is in force through that minute.
END_GRACE = dt.timedelta(minutes=1)
UNATTRIBUTED = "unattributed"


def finding_id(incident: str, report_key: str, term: str, rule_version: str,
               supersedes: str | None = None) -> str:
    """A finding's id: the same incident, report, term and rule version give the same id on
    every replay, and anything else a different one. A finding that supersedes another
    (re-judging) also names it, so a rule changed back to an earlier version gives a new
    finding rather than the id of the one it superseded."""
    key = f"{incident}|{report_key}|{term}|{rule_version}" + (f"|{supersedes}" if supersedes
                                                              else "")
    return "f-" + hashlib.sha256(key.encode()).hexdigest()[:16]


class Judge:
    """The rules of a pack, compiled into one engine, applied to resolved incidents."""

    def __init__(self, pack: Pack):
        self.pack = pack
        self.rules: dict[str, LoadedRule] = {r.spec.id: r for r in pack.rules}
        definitions: dict[str, dict[str, Any]] = {}
        self._branch_rule: dict[str, LoadedRule] = {}
        # what the explanation says of each branch's conditions and each rule's exemptions:
        # the same text for every finding, written once
        self._conditions: dict[str, list[tuple[str, Any, str]]] = {}
        self._exemptions: dict[str, list[tuple[dict[str, Any], str]]] = {}
        for rule in pack.rules:
            definitions.update(rule.compiled)
            for name in rule.compiled:
                self._branch_rule[name] = rule
            for name, (conds, _) in rule.branches.items():
                self._conditions[name] = [(fact, expected, f"{fact} {_describe(expected)}")
                                          for fact, expected in conds.items()]
            self._exemptions[rule.spec.id] = [
                (exemption, ", ".join(f"{f} {_describe(v)}" for f, v in exemption.items()))
                for exemption in rule.spec.unless]
        self.engine = Engine(definitions)
        # each instrument's window, its end with the grace of END_GRACE (open: to the end of
        # time), in UTC as the resolution's times are: a comparison of two datetimes with the
        # same tzinfo is one of fields, with two offsets one of utcoffset() calls (~15 times
        # slower, a tenth of judging)
        forever = dt.datetime.max.replace(tzinfo=dt.timezone.utc)
        self._windows = [(inst.id, parse_time(inst.start),
                          parse_time(inst.end + END_GRACE) if inst.end is not None else forever)
                         for inst in pack.instruments.values()]
        self._milestones = [(f"after_{name}", parse_time(when) if when is not None else None)
                            for name, when in pack.milestones.items()]

    # --- facts ---------------------------------------------------------------------------

    def in_force(self, res: Resolution) -> dict[str, str]:
        """Instruments whose window overlaps the incident's: 'full' or 'partial'."""
        out = {}
        for inst, start, end in self._windows:
            if res.start < end and res.end > start:
                out[inst] = "full" if (res.start >= start and res.end <= end) else "partial"
        return out

    def facts(self, incident: str, res: Resolution, report: IncidentReport,
              in_force: dict[str, str]) -> list[dict[str, Any]]:
        """One fact set per candidate attribution (see rules/README.md for each fact)."""
        words = self.pack.words
        event = words.event_type(res.event_type)
        base: dict[str, Any] = {
            "direction": res.direction,
            "aggregate": res.aggregate,
            "split_place": res.split_place is not None,
            "event_type": res.event_type,
            "is_attack": res.event_type in words.attack_types,
            "is_air": res.platform in words.air_platforms or (event is not None and event.air),
            "platform": res.platform,
            "target_category": res.target_category,
            "mission": res.mission,
            "civilian_targeting": report.civilian_targeting,
            "coordinated": {True: "yes", False: "no", None: "unknown"}[report.coordinated],
            "location_resolved": res.location_resolved,
            "weapon_class": res.weapon_class or UNKNOWN,
        }
        # numbers are facts only when known: a comparison with an unknown number never holds
        numbers = {"calibre_mm": report.calibre_mm,
                   "casualties": report.casualties_min if report.casualties_min is not None
                   else report.casualties_max}
        numbers.update((f"{DISTANCE}_{k}", v) for k, v in res.distances_km.items())
        base.update((k, v) for k, v in numbers.items() if v is not None)
        for kind in self.pack.vocabulary.zone_kinds:
            base[f"zone_{kind}"] = kind in res.zones
        for inst in self.pack.instruments:
            base[f"in_force_{inst}"] = inst in in_force
        for fact, when in self._milestones:
            base[fact] = when is not None and res.start >= when
        first, second = res.attacker_sides, res.target_sides
        oriented = [(first, second)]
        if res.direction == "clash":
            oriented.append((second, first))
        pairs = list(dict.fromkeys(
            (a, t, len(ours) > 1, len(theirs) > 1) for ours, theirs in oriented
            for a, t in itertools.product(ours, theirs)
            if a != t or a == self.pack.spec.unknown_side))
        if not pairs:
            pairs = [(first[0], second[0], len(first) > 1, len(second) > 1)]
        return [{**base, "id": f"{incident}#{i}", "attacker_side": a, "target_side": t,
                 "attacker_set": a_set, "target_set": t_set}
                for i, (a, t, a_set, t_set) in enumerate(pairs)]

    # --- findings ------------------------------------------------------------------------

    def judge(self, incident: str, report: IncidentReport, res: Resolution) -> list[Finding]:
        """Every finding the incident gives under the pack's rules, one per term."""
        in_force = self.in_force(res)
        if not in_force:
            return []  # no instrument in force at event time: no rule can apply
        fact_sets = self.facts(incident, res, report, in_force)
        # rule id -> list of (fact set, branch name)
        matched: dict[str, list[tuple[dict[str, Any], str]]] = {}
        for facts in fact_sets:
            for branch in self.engine.evaluate(facts):
                rule = self._branch_rule[branch]
                matched.setdefault(rule.spec.id, []).append((facts, branch))
        findings = []
        when = (iso_once(res.start), iso_once(res.end))  # the window every finding records
        for rule_id, hits in matched.items():
            finding = self._finding(incident, report, res, self.rules[rule_id], hits, in_force,
                                    len(fact_sets), when)
            if finding is not None:
                findings.append(finding)
        return sorted(findings, key=lambda f: f.term)

    def _finding(self, incident: str, report: IncidentReport, res: Resolution,
                 rule: LoadedRule, hits: list[tuple[dict[str, Any], str]],
                 in_force: dict[str, str], candidates: int,
                 when: tuple[str, str]) -> Finding | None:
        spec = rule.spec
        parties = sorted({side for facts, _ in hits
                          for side in (facts["attacker_side"], facts["target_side"])})
        charged, attribution = _charged(spec.charged_to, hits, res, self.pack.spec.unknown_side)
        # with charge_bound_only, a side not bound by the instrument (pack.yaml bound_by) is
        # never charged under it; an unidentified attacker stays "unattributed"; a context
        # instrument binds nobody and records whoever acted
        if (self.pack.spec.charge_bound_only
                and self.pack.instruments[spec.instrument].status != "context"):
            charged = [side for side in charged
                       if side == UNATTRIBUTED or self.pack.bound(side, spec.instrument)]
            if spec.charged_to != "none" and not charged:
                return None
            if attribution == "joint" and len(charged) == 1:
                attribution = "single"  # the one bound side of several answers alone
        caps = [rule.branches[b][1] for _, b in hits]
        cap = None if any(c is None for c in caps) else max(caps, key=CONFIDENCES.index)
        uses_zone = any("zone" in rule.branches[b][0] for _, b in hits)
        # an ambiguous attacker; or a clash charged to both sides where a side is a candidate
        # set ("Syrian insurgents": which faction was there is not known)
        ambiguous = (res.attribution == "ambiguous" and candidates > 1) or (
            attribution == "joint" and any(f["attacker_set"] or f["target_set"] for f, _ in hits))
        loc = report.location
        # the inputs of the documented scoring (monitor.corroborate.score), kept in the
        # explanation so corroboration can re-score the finding later
        evidence = {
            "attribution_ambiguous": ambiguous,
            # e.g. UCDP's "Syrian insurgents" may be coh_opposition or nusra: the term holds
            # for some readings of who was involved, not all of them
            "partial_candidates": len({f["id"] for f, _ in hits}) < candidates,
            "location_precision": loc.precision if loc else None,
            "uses_zone": uses_zone,
            "split_place": uses_zone and res.split_place is not None,
            "aggregate": res.aggregate,
            "date_precision": res.date_precision,
            "window_partial": in_force[spec.instrument] == "partial",
            "cap": cap,
        }
        confidence, reasons = score(Evidence(reliabilities=(report.reliability,), **evidence))
        facts0 = hits[0][0]
        recorded = {"parties": parties, "aggregate": res.aggregate,
                    "claimed_target": report.claimed_target}
        explanation = [{"finding": recorded}]
        explanation += self._explain(rule, hits, in_force[spec.instrument], res, reasons, when)
        explanation.append({"evidence": evidence})
        version = rule.version
        fid = finding_id(incident, report.report_key, spec.term, version)
        return Finding(
            finding_id=fid,
            incident_id=incident,
            term=spec.term,
            instrument=spec.instrument,
            instrument_status=self.pack.instruments[spec.instrument].status,
            charged_to=charged,
            severity=severity_for(spec, facts0, self.pack.vocabulary),  # type: ignore[arg-type]
            confidence=confidence,  # type: ignore[arg-type]
            attribution=attribution,  # type: ignore[arg-type]
            **recorded,
            rule_id=spec.id,
            rule_version=version,
            explanation=explanation,
            occurred=when[0],
            occurred_end=when[1],
            feed=report.feed,
            source_id=report.source_id,
            revision=report.revision,
        )

    def _explain(self, rule: LoadedRule, hits: list[tuple[dict[str, Any], str]],
                 window: str, res: Resolution, reasons: list[str],
                 when: tuple[str, str]) -> list[dict[str, Any]]:
        """Each condition that held and the value that satisfied it, then how values were
        decided (actors, zone, words)."""
        spec, vocab = rule.spec, self.pack.vocabulary
        out: list[dict[str, Any]] = [{
            "condition": f"instrument {spec.instrument} in force at event time",
            "value": f"{when[0]} .. {when[1]} ({window})",
        }]
        if spec.deadline is not None:
            due = self.pack.milestones.get(spec.deadline)
            out.append({"condition": f"deadline {spec.deadline} passed at event time: the "
                                     "state had to hold by then",
                        "value": iso(due) if due is not None else None})
        exemptions = self._exemptions[spec.id]
        for facts, branch in hits:
            candidate = f"{facts['attacker_side']} -> {facts['target_side']}"
            for fact, expected, text in self._conditions[branch]:
                actual = ([k for k in res.zones] if fact == "zone" else
                          facts.get(f"{DISTANCE}_{expected['to']}") if fact == DISTANCE
                          and isinstance(expected, dict) else facts.get(fact))
                out.append({"condition": text, "value": actual, "candidate": candidate})
            for exemption, text in exemptions:
                held = all(holds(f, v, facts, vocab) for f, v in exemption.items())
                out.append({"exemption": text, "held": held})
        out += [{"resolution": n} for n in res.notes]
        out += [{"confidence": r} for r in reasons]
        return out


def _charged(charged_to: str | list[str], hits: list[tuple[dict[str, Any], str]],
             res: Resolution, unknown: str) -> tuple[list[str], str]:
    """Who a finding is charged to, and its attribution (TERMS.md §4-5), sorted so that a
    charged set reads the same wherever it is counted. A list names roles (attacker, target,
    zone_responsible) and fixed sides together: each role's sides, then the sides named."""
    if charged_to == "none":
        return [], "undetermined"
    roles = [charged_to] if isinstance(charged_to, str) else charged_to
    charged: set[str] = set()
    attribution = "single"
    for role in roles:
        if role == "zone_responsible":
            charged.update(res.zone_responsible or [UNATTRIBUTED])
        elif role not in ("attacker", "target"):
            charged.add(role)  # a fixed side (a guarantor)
        elif res.direction == "clash":
            # a term that charges the attacker, broken in a clash: both sides broke it
            charged.update(UNATTRIBUTED if facts[key] == unknown else facts[key]
                           for facts, _ in hits for key in ("attacker_side", "target_side"))
            attribution = "joint"
        else:
            key = "attacker_side" if role == "attacker" else "target_side"
            charged.update(UNATTRIBUTED if facts[key] == unknown else facts[key]
                           for facts, _ in hits)
            if res.attribution == "ambiguous":
                attribution = "ambiguous"
    if isinstance(charged_to, list) and attribution == "single" and len(charged) > 1:
        attribution = "joint"  # several sides named together each answer for it
    return sorted(charged), attribution


def _describe(value: Any) -> str:
    if isinstance(value, list):
        return "in [" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return " ".join(f"{k} {v}" for k, v in value.items())
    return f"= {value}"
