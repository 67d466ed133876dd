"""Real HTTP servers on 127.0.0.1 for feed tests (no mocks): routes map a path to a response.

    with serve({"/page1": (200, b"...", {"Content-Type": "application/json"})}) as base:
        httpx.get(base + "/page1")

A route may be a callable ``(path, query) -> (status, body, headers)`` for stateful sources
(pages that change between polls, a server that fails twice then recovers, a slow reply).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Union
from urllib.parse import parse_qs, urlsplit

Response = tuple[int, bytes, dict[str, str]]
Route = Union[Response, Callable[[str, dict[str, list[str]]], Response]]


@contextmanager
def serve(routes: dict[str, Route]) -> Iterator[str]:
    """Serve ``routes`` on 127.0.0.1 (a free port); yield the base URL; log every request
    path in ``routes['__log__']`` and every POST body in ``routes['__posts__']`` if those
    keys are lists."""
    log: list[str] = routes.get("__log__", [])  # type: ignore[assignment]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            log.append(self.path)
            route: Any = routes.get(parts.path)
            if route is None:
                status, body, headers = 404, b"not found", {}
            elif callable(route):
                status, body, headers = route(parts.path, parse_qs(parts.query))
            else:
                status, body, headers = route
            try:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            posts: list[bytes] = routes.get("__posts__", [])  # type: ignore[assignment]
            posts.append(self.rfile.read(length))
            self.do_GET()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
