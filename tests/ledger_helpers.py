"""Questions only the tests ask of a ledger, answered with its read-only ``query``.

The monitor never needs these, so they are not part of ``monitor.ledger``. JSON columns come
back as the text the ledger stores.
"""

from __future__ import annotations

from typing import Any

from monitor.ledger import Ledger


def has_report(ledger: Ledger, report_key: str) -> bool:
    """Whether the report with this key (``feed:source_id:revision``) is recorded."""
    return bool(ledger.query("SELECT 1 FROM reports WHERE report_key = ?", [report_key]))


def report_keys_of_feed(ledger: Ledger, feed: str) -> set[str]:
    """The keys of every report recorded from ``feed``."""
    return {r["report_key"] for r in ledger.query(
        "SELECT report_key FROM reports WHERE feed = ?", [feed])}


def reports_judged_in(ledger: Ledger, incident_id: str) -> list[dict[str, Any]]:
    """The reports whose own incident is ``incident_id`` (the one each was judged in; links
    to other incidents not followed), in recording order."""
    return ledger.query("SELECT * FROM reports WHERE incident_id = ? ORDER BY seq",
                        [incident_id])


def reviews(ledger: Ledger) -> list[dict[str, Any]]:
    """Every row of ``reviews`` (what was flagged for a human), oldest first."""
    return ledger.query("SELECT * FROM reviews ORDER BY seq")
