"""Processes seen through Linux's /proc, for the tests of `monitor import`'s worker and of
crashes, and waiting for a state with a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO


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


class Output:
    """A process's output read line by line as it comes (by a thread), so a test can wait for
    a line with a deadline instead of sleeping."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def wait_for(self, text: str, seconds: float = 60) -> bool:
        """Whether a line holding ``text`` came within ``seconds``."""
        return wait_until(lambda: any(text in line for line in self.lines), seconds)

    def text(self) -> str:
        """Everything read; once the process has ended, its whole output."""
        self._thread.join(10)
        return "".join(self.lines)
