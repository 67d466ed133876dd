"""Ceasefire compliance monitor: agreement terms as rules, incident feeds, a hash-chained ledger."""

__version__ = "0.1.0"
