"""JSON Lines: one incident report (the IncidentReport fields) per line.

Feed (:class:`JsonlAdapter`): ``source`` is one of

- a FILE that a partner appends to. Cursor ``{"offset": byte offset after the last complete
  line processed, "size": the file's size then, "head_sha256": sha256 of its first
  min(offset, 4096) bytes}``. The next poll resumes at ``offset`` when the head still hashes the
  same (the file was appended to); otherwise (replaced, truncated) it starts again at 0 and the
  ledger's report keys make the repeats no-ops. A last line without its newline is still being
  written: it waits for the next poll.
- a FOLDER, a drop folder for partners: its ``*.jsonl`` files in name order. Partners write to a
  temporary name (``x.jsonl.tmp``, ``x.jsonl.part`` or a name starting with ``.``) and rename
  when done, so a file is never read half written; those names are ignored. Cursor
  ``{"done": {filename: sha256}}``: a file done with the same hash is skipped, a changed one is
  read again. Files are not moved: the ledger is the memory, and a partner can see what is done.
  The done map is recorded with the batch that finishes a file once files a quarter of its
  last size are done since (every file, in a small folder), and at the end of the poll — not
  with every batch, so its size over a poll grows with the folder, not with
  its square; a crash re-reads at most those files, whose records are then no-ops. Only regular
  files inside the folder are read: a symbolic link that leads out of it, a FIFO or a device
  named ``*.jsonl`` is rejected once, by name.
- a URL: the whole body each poll. Cursor ``{"sha256": ...}``: an unchanged body yields nothing.

Options: ``batch_size`` (lines per batch, default 500). Records without ``feed`` or
``reliability`` get the feed's; a record naming another feed is rejected (a partner must not be
able to revise, and so supersede, another feed's reports).
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field

from ..feeds import Batch, FeedSpec, Fetcher
from ..files import open_regular, outside
from ..models import FileModel
from ..service import Rejection

HEAD = 4096  # bytes hashed to recognise the same file again


def parse_line(raw: bytes, where: str) -> dict[str, Any] | Rejection | None:
    """One line as a record dict, a Rejection naming the reason, or None if blank."""
    if not raw.strip():
        return None
    try:
        record = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Rejection(where, f"not UTF-8 ({exc.reason} at byte {exc.start}); "
                         "save the file as UTF-8")
    except json.JSONDecodeError as exc:
        return Rejection(where, f"not valid JSON: {exc.msg} at column {exc.colno}")
    except RecursionError:  # '[[[[...' a few thousand deep: one bad line, not a failed poll
        return Rejection(where, "not valid JSON: nested too deeply")
    except ValueError:  # an integer of over 4300 digits: one bad line, not a failed poll
        return Rejection(where, "not valid JSON: a number too long to read")
    if not isinstance(record, dict):
        return Rejection(where, "each line must be a JSON object (an incident report)")
    return record


# A line is read no further than this: a file with no newline (a 4 GB JSON array, /dev/zero
# behind a name) costs one bounded read a megabyte, never its size in memory.
MAX_LINE_BYTES = 1_000_000


def read_file(path: Path, feed: str = "jsonl", date_format: str | None = None,
              reliability: str | None = None
              ) -> Iterator[tuple[str, dict[str, Any]] | Rejection]:
    """Yield ``(where, record)`` per non-blank line; a line that is not a JSON object is a
    Rejection. Every record is ``feed``'s: the import decides a record's feed, never the
    record (:func:`own_feed`). ``date_format`` is not used: JSON Lines dates are ISO 8601.
    ``reliability`` grades the records that do not grade themselves."""
    with open_regular(path) as fh:
        for number, raw in enumerate(iter(lambda: fh.readline(MAX_LINE_BYTES + 1), b""),
                                     start=1):
            where = f"{path.name} line {number}"
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line, unread
                    raw = fh.readline(MAX_LINE_BYTES + 1)
                yield Rejection(where, f"a line of over {MAX_LINE_BYTES:,} bytes; no report "
                                "is that long (is this JSON Lines?)")
                continue
            record = parse_line(raw, where)
            if isinstance(record, dict):
                if reliability:
                    record.setdefault("reliability", reliability)
                yield own_feed(record, feed, where)
            elif record is not None:
                yield record


class JsonlOptions(FileModel):
    """The feed file's ``options`` for a JSON Lines feed (unknown keys are errors)."""

    batch_size: int = Field(default=500, ge=1, le=100_000)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lines(data: bytes, start: int = 0) -> Iterator[tuple[bytes, int]]:
    """``(line, offset after it)`` for each line from ``start``; the last one may lack its
    newline."""
    while start < len(data):
        end = data.find(b"\n", start)
        end = len(data) if end < 0 else end + 1
        yield data[start:end], end
        start = end


def _refused(entry: Path, folder: Path) -> str | None:
    """Why a drop folder entry is not read, or None: it must be a regular file inside it."""
    real = outside(entry, folder)
    if real is not None:
        return (f"a symbolic link to {real}, outside the drop folder; refused (copy the file "
                "into the folder instead)")
    try:
        mode = entry.stat().st_mode
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return "a folder, not a file; refused"
    if not stat.S_ISREG(mode):
        return "not a regular file (a FIFO or a device); refused"
    return None


def own_feed(record: dict[str, Any], feed: str, where: str
             ) -> tuple[str, dict[str, Any]] | Rejection:
    """``(where, record)`` recorded as ``feed``, or a Rejection when the record names another
    feed: provenance is set by the ingesting side, so a record cannot pass itself off as (and,
    as a new revision, supersede) another feed's report."""
    named = record.get("feed", feed)
    if named != feed:
        return Rejection(where, f"feed {named!r} is not the feed recording it ({feed!r}): a "
                         "record cannot name its own feed; leave 'feed' out, or record it "
                         f"with --feed {named} if it truly is that feed's")
    record["feed"] = feed
    return where, record


def eligible(name: str) -> bool:
    """A finished ``*.jsonl`` file of a drop folder (not a temporary or hidden name)."""
    return (name.endswith(".jsonl") and not name.startswith(".")
            and not name.endswith((".tmp", ".part")))


class JsonlAdapter:
    """JSON Lines from an append-only file, a drop folder or a URL (see the module doc)."""

    def __init__(self, spec: FeedSpec, base: Path) -> None:
        self.spec = spec
        self.options = JsonlOptions.model_validate(spec.options)
        self.path = Path(spec.source) if Path(spec.source).is_absolute() else base / spec.source

    def batches(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        """New lines since ``cursor``, ``batch_size`` lines at a time."""
        if self.spec.is_url:
            yield from self._url(cursor, fetch)
        elif self.path.is_dir():
            yield from self._folder(cursor, fetch)
        else:
            yield from self._file(cursor, fetch)

    def _item(self, raw: bytes, where: str) -> Any:
        """``(where, record)`` with this feed's defaults, a Rejection, or None (blank)."""
        record = parse_line(raw, where)
        if not isinstance(record, dict):
            return record
        owned = own_feed(record, self.spec.name, where)
        if isinstance(owned, tuple):
            record.setdefault("reliability", self.spec.reliability)
        return owned

    def _chunks(self, data: bytes, name: str, start: int = 0,
                complete: bool = False) -> Iterator[tuple[list[Any], int]]:
        """``(items, offset after the chunk)`` per ``batch_size`` lines from ``start``.

        ``complete``: a last line without a newline is a line (a finished file or body);
        otherwise it is being written and is left out."""
        number = data.count(b"\n", 0, start)  # lines before start, for "line N"
        items: list[Any] = []
        lines = 0
        for raw, end in _lines(data, start):
            if not raw.endswith(b"\n") and not complete:
                break
            number += 1
            lines += 1
            item = self._item(raw, f"{name} line {number}")
            if item is not None:
                items.append(item)
            if lines == self.options.batch_size:
                yield items, end
                items, lines = [], 0
            start = end
        if lines:
            yield items, start

    def _file(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        data = fetch.read_bytes(self.spec.source)
        offset = int(cursor.get("offset", 0))
        if not (0 < offset <= len(data)
                and _sha256(data[:min(offset, HEAD)]) == cursor.get("head_sha256")):
            offset = 0  # first poll, or the file was replaced or truncated: read it all
        for items, end in self._chunks(data, self.path.name, offset):
            yield Batch(items=items, cursor={"offset": end, "size": len(data),
                                             "head_sha256": _sha256(data[:min(end, HEAD)])})

    def _folder(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        entries = sorted((p for p in self.path.iterdir() if eligible(p.name)),
                         key=lambda p: p.name)
        names = {p.name for p in entries}
        # forget files that are gone, so the cursor stays as small as the folder
        before = {n: h for n, h in dict(cursor.get("done") or {}).items() if n in names}
        done = dict(before)
        recorded = before  # the done map of the last cursor recorded
        finished = 0  # files done since
        for entry in entries:
            refused = _refused(entry, self.path)
            if refused:
                if done.get(entry.name) != refused:
                    done[entry.name] = refused
                    yield Batch(items=[Rejection(entry.name, refused)])
                continue
            data = fetch.read_bytes(str(PurePosixPath(self.spec.source) / entry.name))
            digest = _sha256(data)
            if done.get(entry.name) == digest:
                continue
            chunks = list(self._chunks(data, entry.name, complete=True)) or [([], 0)]
            for i, (items, _) in enumerate(chunks):
                mark = None
                if i == len(chunks) - 1:
                    done[entry.name] = digest  # only once the file's last line is in a batch
                    finished += 1
                    if finished >= max(1, len(recorded) // 4):
                        recorded, finished = dict(done), 0
                        mark = {"done": recorded}
                # a crash mid-file reads the whole file again: repeats are no-ops
                yield Batch(items=items, cursor=mark)
        if done != recorded:
            yield Batch(items=[], cursor={"done": done})

    def _url(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        data = fetch.read_bytes(self.spec.source)
        digest = _sha256(data)
        if cursor.get("sha256") == digest:
            return
        name = PurePosixPath(urlsplit(self.spec.source).path).name or self.spec.source
        chunks = list(self._chunks(data, name, complete=True)) or [([], 0)]
        for i, (items, _) in enumerate(chunks):
            last = i == len(chunks) - 1
            yield Batch(items=items, cursor={"sha256": digest} if last else dict(cursor))
