"""A report's key (``feed:source_id:revision``), in a module of its own: the ledger reads it
without building the report's model."""

from __future__ import annotations


def report_key(feed: str, source_id: str, revision: str) -> str:
    """The key of the report ``revision`` of ``source_id`` from ``feed``
    (:attr:`IncidentReport.report_key`); ``monitor.ledger.compact.REPORT_KEY_SQL`` is the same
    in SQL."""
    return f"{feed}:{_key_part(source_id)}:{_key_part(revision)}"


def _key_part(text: str) -> str:
    return text.replace("%", "%25").replace(":", "%3A") if ("%" in text or ":" in text) else text
