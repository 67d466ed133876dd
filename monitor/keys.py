"""A report's key (``feed:source_id:revision``) and its incident's id, in a module of their own:
the ledger reads them without building the report's model."""

from __future__ import annotations

import hashlib


def report_key(feed: str, source_id: str, revision: str) -> str:
    """The key of the report ``revision`` of ``source_id`` from ``feed``
    (:attr:`IncidentReport.report_key`); ``monitor.ledger.compact.REPORT_KEY_SQL`` is the same
    in SQL."""
    return f"{feed}:{_key_part(source_id)}:{_key_part(revision)}"


def _key_part(text: str) -> str:
    return text.replace("%", "%25").replace(":", "%3A") if ("%" in text or ":" in text) else text


def incident_id(feed: str, source_id: str) -> str:
    """A stable id for the incident a source record describes: the same for every revision of
    the record, and the same on every replay (:attr:`IncidentReport.incident_id`)."""
    return "i-" + hashlib.sha256(f"{feed}:{source_id}".encode("utf-8")).hexdigest()[:16]
