"""The ledger's errors: an operation refused, with the reason and what to do."""

from __future__ import annotations

from ..errors import MonitorError


class LedgerError(MonitorError):
    """A ledger operation was refused; the message says why and what to do."""


class DuplicateEntryError(LedgerError):
    """An appended row repeats a unique key (a report, incident or finding already recorded)."""
