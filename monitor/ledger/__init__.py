"""The ledger: an append-only, hash-chained record of every report, incident and finding.

The only package that talks SQL: one SQLite file in WAL mode, so readers never wait for the
daemon's writer. Rows are never updated or deleted (triggers refuse both); a correction is a
new row pointing at the old one. All the chained tables share one hash chain.

Its modules, one job each:

- :mod:`.schema` — chained tables, derived tables, views, and the migrations that make them;
- :mod:`.chain` — the canonical form of an entry (a contract, documented there), its hash,
  and appending entries in transactions;
- :mod:`.queries` — the domain's read queries;
- :mod:`.compact` — what a finding's explanation and an incident's resolution leave out
  because another column holds it, and how every read puts it back;
- :mod:`.shared` — which notes and explanations are said again, and stored once (``shared_texts``);
- :mod:`.packing` — a feed's bodies and resolutions stored compressed with dictionaries trained
  on its first reports (``dictionaries``), and ``ledger_json``, which SQL reads them through;
- :mod:`.patterns_queue` — the queue of event-time windows whose patterns are stale;
- :mod:`.verify` — recomputing the chain (in two processes for a big ledger);
- :mod:`.base` — the connection the others share; :mod:`.store` — :class:`Ledger`, which opens
  a file and joins them; :mod:`.errors` — :class:`LedgerError`.
"""

from __future__ import annotations

from .chain import GENESIS_HASH, CanonicalJSON, canonical_entry, canonical_json, entry_hash
from .compact import (
    compact_explanation,
    compact_resolution,
    full_explanation,
    full_resolution,
    share_notes,
)
from .errors import DuplicateEntryError, LedgerError
from .queries import MAX_WINDOW, iso
from .schema import (
    AGGREGATE_SQL,
    CHAINED_TABLES,
    CHARGED_SET_SQL,
    COMMON_COLUMNS,
    DERIVED_TABLES,
    chained_table_migration,
)
from .store import Ledger
from .verify import VerifyResult

__all__ = [
    "AGGREGATE_SQL", "CHAINED_TABLES", "CHARGED_SET_SQL", "COMMON_COLUMNS", "DERIVED_TABLES",
    "GENESIS_HASH", "MAX_WINDOW", "CanonicalJSON", "DuplicateEntryError", "Ledger", "LedgerError",
    "VerifyResult", "canonical_entry", "canonical_json", "chained_table_migration",
    "compact_explanation", "compact_resolution", "entry_hash", "full_explanation",
    "full_resolution", "iso", "share_notes",
]
