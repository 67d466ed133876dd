"""The one root of the monitor's own errors.

Every error the monitor raises for its user to act on (a bad file, a bad option, a ledger that
does not verify) derives from `MonitorError`; its message is one line that names what is wrong
and how to fix it. The command line turns any of them into that line and a non-zero exit.
"""
from __future__ import annotations


class MonitorError(Exception):
    """An error reported to the user as one line: what went wrong, and the fix."""
