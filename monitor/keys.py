"""A report's key (``feed:source_id:revision``) and its incident's id, in a module of their own:
the ledger reads them without building the report's model."""

from __future__ import annotations

import hashlib


def report_key(feed: str, source_id: str, revision: str) -> str:
    """The key of the report ``revision`` of ``source_id`` from ``feed``
    (:attr:`IncidentReport.report_key`); ``monitor.ledger.compact.REPORT_KEY_SQL`` is the same
    in SQL."""
    return f"{feed}:{_key_part(source_id)}:{_key_part(revision)}"


def feed_of(key: str) -> str:
    """The feed of a report's key: what comes before its source id and revision, which hold
    no ":" (a feed's name may)."""
    return key.rsplit(":", 2)[0]


def same_feed_sql(key: str, feed: str) -> str:
    """SQL that is true when the report key ``key`` (an SQL expression) is of the feed
    ``feed`` (another): :func:`feed_of` in SQL, so a query need not look the feed up in
    ``reports``. The key starts with the feed and a ":", and what follows is a source id and
    a revision, one ":" between them ("a:b:1:2" is of feed "a:b", not of "a")."""
    rest = f"substr({key}, length({feed}) + 2)"
    return (f"(substr({key}, 1, length({feed}) + 1) = {feed} || ':' AND "
            f"length({rest}) - length(replace({rest}, ':', '')) = 1)")


def _key_part(text: str) -> str:
    return text.replace("%", "%25").replace(":", "%3A") if ("%" in text or ":" in text) else text


def incident_id(feed: str, source_id: str) -> str:
    """A stable id for the incident a source record describes: the same for every revision of
    the record, and the same on every replay (:attr:`IncidentReport.incident_id`)."""
    return "i-" + hashlib.sha256(f"{feed}:{source_id}".encode("utf-8")).hexdigest()[:16]
