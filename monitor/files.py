"""Reading input files with limits: only regular files, never more than asked for.

A FIFO or a device named as a feed or an import (``/dev/zero``, a named pipe nobody writes to)
would hang the reader or fill memory, and a symbolic link in a drop folder could hand the
monitor any file the process can read. Every file the monitor reads as input is opened here:
without blocking (so opening a FIFO cannot hang), checked to be a regular file, and read no
further than the caller's limit.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from .errors import MonitorError


class FileRefused(MonitorError, OSError):
    """An input path that is not a regular file (or leads out of its folder): refused."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def outside(path: Path, folder: Path) -> Path | None:
    """Where ``path`` really leads, if that is outside ``folder`` (a symbolic link out of a
    drop folder); None when it stays inside."""
    real = path.resolve()
    return None if real.is_relative_to(folder.resolve()) else real


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file; FileRefused otherwise
    (OSError when it cannot be opened at all)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(f"{path}: {_kind(mode)}, not a regular file; only regular files "
                              "are read (copy the data into a file)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, max_bytes: int) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``; FileRefused for a larger one
    (read no further than the limit, whatever its size says) or one that is not regular."""
    with open_regular(path) as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FileRefused(f"{path} is over the feed's max_bytes ({max_bytes}); refused "
                          "(raise max_bytes in the feed file if the file is genuine)")
    return data
