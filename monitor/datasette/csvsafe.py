"""Datasette's CSV exports, made safe for spreadsheets.

A cell that starts with "=", "+", "-", "@", a tab or a carriage return is run as a formula by
spreadsheet programs (CSV injection: ``=HYPERLINK(...)``, ``=cmd|...``). The CLI's exports
prefix such cells with "'" (:func:`monitor.output.safe_csv_cell`); this ASGI wrapper does the
same to every CSV response Datasette sends, table exports and SQL results, streamed or not.
It re-reads the body record by record (a record ends at a newline outside quotes), so a
streamed export of any size passes through in constant memory.
"""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..output import safe_csv_cell

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
                   Awaitable[None]]


def is_csv_request(scope: Scope) -> bool:
    """A Datasette CSV export: ``/db/table.csv``, ``/db.csv?sql=...`` or ``?_format=csv``."""
    query = scope.get("query_string", b"").decode("latin-1")
    return scope.get("path", "").endswith(".csv") or "_format=csv" in query


class CsvRewriter:
    """Complete CSV records in, the same records with formula cells neutralised out."""

    def __init__(self) -> None:
        self._decode = codecs.getincrementaldecoder("utf-8")("replace")
        self._pending = ""
        self._quotes = 0  # '"' in the pending text up to _scanned
        self._scanned = 0

    def feed(self, data: bytes, final: bool = False) -> bytes:
        self._pending += self._decode.decode(data, final)
        cut = self._last_record_end(final)
        if cut == 0:
            return b""
        done, self._pending = self._pending[:cut], self._pending[cut:]
        self._quotes, self._scanned = 0, 0
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for row in csv.reader(io.StringIO(done, newline="")):
            writer.writerow([safe_csv_cell(cell) for cell in row])
        return out.getvalue().encode("utf-8")

    def _last_record_end(self, final: bool) -> int:
        """The end of the last complete record in the pending text (after its newline)."""
        if final:
            return len(self._pending)
        text, cut = self._pending, 0
        pos, quotes = self._scanned, self._quotes
        while True:
            nl = text.find("\n", pos)
            if nl < 0:
                break
            quotes += text.count('"', pos, nl)
            pos = nl + 1
            if quotes % 2 == 0:
                cut = pos
        self._scanned, self._quotes = pos, quotes
        if cut:  # counts restart after the cut
            self._quotes = text.count('"', cut, pos)
            self._scanned = pos - cut
        return cut


def safe_csv_exports(app: ASGIApp) -> ASGIApp:
    """Wrap Datasette's ASGI app so that every CSV it sends is spreadsheet-safe."""
    async def wrapped(scope: Scope, receive: Callable[[], Awaitable[Message]],
                      send: Callable[[Message], Awaitable[None]]) -> None:
        if scope.get("type") != "http" or not is_csv_request(scope):
            await app(scope, receive, send)
            return
        rewriter = CsvRewriter()

        async def send_safe(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"content-length"]  # the length changes
                await send({**message, "headers": headers})
            elif message["type"] == "http.response.body":
                more = bool(message.get("more_body", False))
                body = rewriter.feed(message.get("body", b""), final=not more)
                await send({**message, "body": body, "more_body": more})
            else:
                await send(message)
        await app(scope, receive, send_safe)
    return wrapped
