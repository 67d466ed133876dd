"""Alerts to webhooks: a JSON POST per new finding at or above a severity, per escalation or
cycle-of-excuses alert, and per feed failure.

Deliveries run on a background thread from a bounded queue, so a slow or dead endpoint never
slows ingestion: ``notify`` only enqueues. Each attempt (retried with exponential backoff) is
recorded in the ledger's ``deliveries`` table through the ``record`` callback.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from .filemodel import FileModel
from .retry import attempts
from .vocabulary import SEVERITIES, Severity

if TYPE_CHECKING:  # httpx is imported to deliver, not to read the settings
    import httpx

log = logging.getLogger("monitor.webhooks")
# "checkpoint": the ledger's head after each daemon run (opt-in: not in the default events)
EventKind = Literal["finding", "alert", "feed_failure", "checkpoint"]


class WebhookSpec(FileModel):
    """One webhook of ``config/monitor.yaml``'s ``webhooks:`` list."""

    url: str = Field(pattern=r"^https?://")
    # what the ledger records of it: the URL's user-info, path and query may hold secrets
    # (chat webhooks put their token in the path), so only this name, or the URL's scheme and
    # host, are ever written down
    name: str | None = Field(default=None, min_length=1, max_length=100)
    min_severity: Severity = "major"
    events: list[EventKind] = Field(default_factory=lambda: ["finding", "alert", "feed_failure"])
    timeout_seconds: float = Field(default=5, gt=0, le=60)
    retries: int = Field(default=3, ge=0, le=10)


    @property
    def label(self) -> str:
        """The webhook as the ledger records it: its name, or ``scheme://host[:port]``."""
        if self.name:
            return self.name
        parts = urlsplit(self.url)
        host = parts.hostname or "?"
        return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


@dataclass(frozen=True)
class Event:
    kind: str
    key: str  # what it is about: a finding id, an alert key, a feed name + time
    payload: dict[str, Any]
    severity: str | None = None


class Notifier:
    """Delivers events to webhooks on one background thread."""

    def __init__(self, hooks: list[WebhookSpec], record: Callable[[dict[str, Any]], None],
                 max_queue: int = 10_000, sleep: Callable[[float], None] = time.sleep,
                 client: httpx.Client | None = None):
        import httpx

        self.hooks = hooks
        self.record = record
        self.queue: queue.Queue[tuple[WebhookSpec, Event] | None] = queue.Queue(max_queue)
        self.sleep = sleep
        self.client = client or httpx.Client(follow_redirects=False)
        self.thread = threading.Thread(target=self._work, name="webhooks", daemon=True)
        if hooks:
            self.thread.start()

    def wants(self, hook: WebhookSpec, event: Event) -> bool:
        if event.kind not in hook.events:
            return False
        if event.kind == "finding" and event.severity is not None:
            return SEVERITIES.index(event.severity) >= SEVERITIES.index(hook.min_severity)
        return True

    def notify(self, event: Event) -> None:
        """Queue an event for every webhook that wants it; never blocks."""
        for hook in self.hooks:
            if not self.wants(hook, event):
                continue
            try:
                self.queue.put_nowait((hook, event))
            except queue.Full:
                self._record(hook, event, 0, False, None, "queue full: delivery dropped")

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued, waiting at most ``timeout`` seconds."""
        if not self.hooks:
            return
        self.queue.put(None)
        self.thread.join(timeout)

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            hook, event = item
            self._deliver(hook, event)

    def _deliver(self, hook: WebhookSpec, event: Event) -> None:
        body = json.dumps({"event": event.kind, "key": event.key, **event.payload},
                          ensure_ascii=False, default=str).encode()
        import httpx

        for attempt, delay in attempts(hook.retries):
            status, error = None, None
            try:
                response = self.client.post(hook.url, content=body, timeout=hook.timeout_seconds,
                                            headers={"Content-Type": "application/json"})
                status = response.status_code
                if status < 300:
                    self._record(hook, event, attempt, True, status, None)
                    return
                error = f"HTTP {status}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            self._record(hook, event, attempt, False, status, error)
            if delay is not None:
                self.sleep(delay)

    def _record(self, hook: WebhookSpec, event: Event, attempt: int, ok: bool,
                status: int | None, error: str | None) -> None:
        try:
            if error:
                from .feeds import redact  # (feeds loads with the pipeline, not the settings)

                error = redact(error.replace(hook.url, hook.label))
            self.record({"webhook": hook.label, "event": event.kind,
                         "event_key": event.key, "attempt": attempt, "ok": int(ok),
                         "status": status, "error": error})
        except Exception:  # noqa: BLE001 - recording must never kill the delivery thread
            log.exception("could not record a webhook delivery")
