"""Processes seen through Linux's /proc, for the tests of `monitor import`'s worker."""

from __future__ import annotations

from pathlib import Path


def workers(pid: int) -> list[int]:
    """The import worker processes of process ``pid`` (not multiprocessing's resource
    tracker, its other child)."""
    try:
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    found = []
    for kid in kids:
        try:
            if b"spawn_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                found.append(kid)
        except OSError:
            pass
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0]
    except OSError:
        return False
    return state != "Z"
