"""Processes seen through Linux's /proc, for the tests of `monitor import`'s worker and of
crashes, and waiting for a state with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
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


def with_env(entry: str) -> list[int]:
    """The live processes whose environment holds ``entry`` ("NAME=value"), as given when
    they started (a child started with it inherits it)."""
    needle = b"\0" + entry.encode() + b"\0"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in b"\0" + (proc / "environ").read_bytes() and alive(int(proc.name)):
                found.append(int(proc.name))
        except OSError:
            pass  # ended meanwhile, or not ours to read
    return found


def wait_until(check: Callable[[], object], seconds: float = 60) -> bool:
    """Whether ``check()`` came true within ``seconds``, asking every 50 ms. A deadline, not a
    duration: it only bounds how long a failing test waits."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
