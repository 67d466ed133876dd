"""Feeds: definitions (``feeds/*.yaml``), the adapter contract, and the registry of adapters.

An adapter turns a source into batches of raw incident reports. It never fetches anything the
feed file does not name. Each batch carries the cursor that is true once the batch is recorded;
the service records the batch and the cursor in one ledger transaction, so a crash at any
moment neither loses nor repeats a record.
"""

from __future__ import annotations

import importlib
import ipaddress
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Protocol

from pydantic import Field, ValidationError, model_validator

from .errors import MonitorError
from .files import FileRefused, read_regular
from .models import FileModel, Name, Reliability

if TYPE_CHECKING:  # httpx is imported by the fetcher, not by reading the settings (~0.1 s)
    import httpx

    from .ledger import Ledger
from .problems import Problem, did_you_mean, from_validation, read_yaml

# adapter name -> "module:Class" (imported on first use, so a feed's extra needs stay its own)
ADAPTERS: dict[str, str] = {
    "jsonl": "monitor.adapters.jsonl:JsonlAdapter",
    "acled": "monitor.adapters.acled:AcledAdapter",
    "ucdp": "monitor.adapters.ucdp:UcdpAdapter",
    "gdelt": "monitor.adapters.gdelt:GdeltAdapter",
    "rss": "monitor.adapters.rss:RssAdapter",
}


class Schedule(FileModel):
    """How often the daemon polls a feed."""

    every_seconds: int = Field(default=900, ge=5, le=7 * 86400)
    # how late a run may start and still run (APScheduler misfire_grace_time)
    misfire_grace_seconds: int = Field(default=300, ge=1)


class FeedSpec(FileModel):
    """One feed file: ``feeds/<name>.yaml``.

    ``source`` is a path (relative to the feeds folder), a folder (a drop folder) or a URL;
    ``options`` are the adapter's own (each adapter documents them); ``reliability`` grades the
    source on the Admiralty scale (A completely reliable .. F cannot be judged)."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    adapter: str
    source: Name
    schedule: Schedule = Schedule()
    reliability: Reliability = "F"
    enabled: bool = True
    description: str = ""
    options: dict[str, Any] = Field(default_factory=dict)
    # bytes a single response or file may have before it is refused (a 1 GB reply is an error)
    max_bytes: int = Field(default=200_000_000, ge=1)
    # a URL feed may reach a loopback, private or link-local address (an internal service)
    # only when its file says so
    allow_private_network: bool = False
    timeout_seconds: float = Field(default=30, gt=0, le=600)
    retries: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _known_adapter(self) -> FeedSpec:
        if self.adapter not in ADAPTERS:
            raise ValueError(f"adapter {self.adapter!r} is unknown. "
                             + did_you_mean(self.adapter, ADAPTERS))
        return self

    @property
    def is_url(self) -> bool:
        return self.source.startswith(("http://", "https://"))


@dataclass
class Batch:
    """What one step of a feed yields.

    ``items`` are ``(where, raw report dict)`` pairs or Rejections; ``retractions`` are source
    ids the source withdrew (ACLED deletions); ``cursor`` is the feed's position once this
    batch is recorded (JSON-able)."""

    items: list[Any] = field(default_factory=list)
    retractions: list[str] = field(default_factory=list)
    cursor: dict[str, Any] = field(default_factory=dict)
    source_lag_seconds: float | None = None  # how far behind the source's newest record we are


class Fetcher(Protocol):
    """How adapters read sources: files relative to the feeds folder, URLs through httpx,
    with the feed's size limit enforced while reading."""

    def read_bytes(self, source: str) -> bytes: ...

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any: ...


class Adapter(Protocol):
    """An adapter: ``batches`` yields batches from the cursor on (``{}`` = from the start)."""

    def __init__(self, spec: FeedSpec, base: Path) -> None: ...

    def batches(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]: ...


class SourceError(MonitorError):
    """The source failed (unreachable, HTTP error, too large, garbage): retry later."""


# Credentials in a URL's query never reach a log or the ledger's feed-health reasons.
_SECRET = re.compile(r"(?i)\b(key|token|password|access_token|api_key)=[^&\s:]+")


def redact(text: str) -> str:
    """``text`` with credential values in URLs replaced by ``***``."""
    return _SECRET.sub(lambda m: f"{m.group(1)}=***", text)


_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def expand_env(value: Any, env: Mapping[str, str], where: str, problems: list[Problem],
               file: str) -> Any:
    """Replace ``${NAME}`` in strings of a feed file by the environment's value, so keys stay
    out of feed files; an unset variable is a problem naming the key."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                problems.append(Problem(file, where, f"environment variable {m.group(1)} is "
                                        "not set", f"Export {m.group(1)} before starting."))
                return m.group(0)
            return env[m.group(1)]
        return _ENV_REF.sub(sub, value)
    if isinstance(value, dict):
        return {k: expand_env(v, env, f"{where}.{k}" if where else str(k), problems, file)
                for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, env, f"{where}[{i}]", problems, file) for i, v in enumerate(value)]
    return value


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or {"http": 80, "https": 443}.get(url.scheme)


def private_address(host: str) -> str | None:
    """The first address ``host`` resolves to that is loopback, private, link-local,
    multicast, reserved or unspecified; None when every address is public (or it does not
    resolve: the request itself then fails with the resolver's error)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        mapped = getattr(address, "ipv4_mapped", None)
        if mapped is not None:
            address = mapped
        if not address.is_global or address.is_multicast:
            return str(address)
    return None


class HttpFetcher:
    """The one place feeds touch the network or the disk, with limits.

    Only regular files are read (:mod:`monitor.files`). Responses and files larger than the
    feed's ``max_bytes`` are cut off and refused. A redirect is followed only on the same
    scheme, host and port, at most ``MAX_REDIRECTS`` times; a host that resolves to a loopback,
    private, link-local or reserved address is refused unless the feed's file sets
    ``allow_private_network``. Connection errors, timeouts and HTTP errors become
    :class:`SourceError` with the reason."""

    MAX_REDIRECTS = 5

    def __init__(self, spec: FeedSpec, base: Path, client: httpx.Client | None = None):
        import httpx

        self.spec = spec
        self.base = base
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(spec.timeout_seconds, connect=min(5, spec.timeout_seconds)),
            follow_redirects=False, headers={"User-Agent": "ceasefire-monitor"})

    def path(self, source: str) -> Path:
        p = Path(source)
        return p if p.is_absolute() else self.base / p

    def read_bytes(self, source: str) -> bytes:
        if not source.startswith(("http://", "https://")):
            path = self.path(source)
            try:
                return read_regular(path, self.spec.max_bytes)
            except FileRefused as exc:
                raise SourceError(str(exc)) from exc
            except OSError as exc:
                raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from exc
        import httpx

        try:
            url = httpx.URL(source)
            origin = _origin(url)
            for _ in range(self.MAX_REDIRECTS + 1):
                self._check_address(url, source)
                with self.client.stream("GET", url) as response:
                    if not response.has_redirect_location:
                        return self._body(response, source)
                    target = url.join(response.headers["location"])
                if _origin(target) != origin:
                    raise SourceError(redact(
                        f"GET {source}: redirected to another host ({target.host}); not "
                        "followed — put the address it redirects to in the feed file"))
                url = target
            raise SourceError(redact(f"GET {source}: more than {self.MAX_REDIRECTS} redirects"))
        except httpx.TimeoutException as exc:
            raise SourceError(redact(f"GET {source}: timed out ({type(exc).__name__})")) from exc
        except httpx.HTTPError as exc:
            raise SourceError(redact(f"GET {source}: {type(exc).__name__}: {exc}")) from exc

    def _check_address(self, url: httpx.URL, source: str) -> None:
        if self.spec.allow_private_network:
            return
        private = private_address(url.host)
        if private:
            raise SourceError(redact(
                f"GET {source}: {url.host} is {private}, a loopback, private or reserved "
                "address; a feed reaches one only if its file says allow_private_network: true"))

    def _body(self, response: httpx.Response, source: str) -> bytes:
        if response.status_code >= 400:
            raise SourceError(redact(f"GET {source}: HTTP {response.status_code}"))
        chunks, total = [], 0
        for chunk in response.iter_bytes():
            total += len(chunk)
            if total > self.spec.max_bytes:
                raise SourceError(redact(f"GET {source}: response over the feed's "
                                         f"max_bytes ({self.spec.max_bytes}); refused"))
            chunks.append(chunk)
        return b"".join(chunks)

    def get_json(self, url: str, params: dict[str, Any] | None = None) -> Any:
        import json

        import httpx

        if params:
            # keep the URL's own query (``...?country=Syria``) and add the params to it
            url = str(httpx.URL(url).copy_merge_params(params))
        data = self.read_bytes(url)
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SourceError(redact(f"GET {url}: not JSON ({exc})")) from exc


def adapter_for(spec: FeedSpec, base: Path) -> Adapter:
    """Instantiate the adapter a feed names."""
    module, cls = ADAPTERS[spec.adapter].split(":")
    return getattr(importlib.import_module(module), cls)(spec, base)  # type: ignore[no-any-return]


def load_feeds(folder: Path, label: str | None = None, env: Mapping[str, str] | None = None
               ) -> tuple[list[FeedSpec], list[Problem]]:
    """Every ``*.yaml`` feed file of a folder, validated, ``${VAR}`` expanded from ``env``,
    and its adapter built (so an option typo is caught now); every problem at once."""
    feeds: list[FeedSpec] = []
    problems: list[Problem] = []
    if not folder.is_dir():
        return [], [Problem(str(folder), "", "feeds folder not found",
                            "Create it or set `feeds:` in config/monitor.yaml.")]
    names: dict[str, str] = {}
    for path in sorted(folder.glob("*.yaml")):
        file = f"{label or folder}/{path.name}"
        data, errs = read_yaml(path)
        problems += [Problem(file, e.key, e.message, e.hint) for e in errs]
        if errs:
            continue
        if env is not None and isinstance(data, dict):
            data = expand_env(data, env, "", errs, file)
            problems += errs
        try:
            spec = FeedSpec.model_validate(data or {})
            adapter_for(spec, folder)
        except ValidationError as exc:
            problems += from_validation(file, exc)
            continue
        except ValueError as exc:
            problems.append(Problem(file, "options", str(exc)))
            continue
        if spec.name in names:
            problems.append(Problem(file, "name", f"{spec.name!r} is also the name of "
                                    f"{names[spec.name]}", "Feed names must be unique."))
        names[spec.name] = file
        feeds.append(spec)
    return feeds, problems


def status(specs: list[FeedSpec], ledger: Ledger | None) -> list[dict[str, Any]]:
    """Per feed: its settings, and its health as the ledger's ``feed_status`` view has it
    (runs, records taken, last success, last failure and why), with the lag behind the source
    of the latest run that measured one. ``ledger`` None: no run yet."""
    health: dict[str, dict[str, Any]] = {}
    lag: dict[str, float] = {}
    if ledger is not None:
        health = {r["feed"]: r for r in ledger.query("SELECT * FROM feed_status")}
        lag = {r["feed"]: r["lag_seconds"] for r in ledger.query(
            "SELECT feed, lag_seconds FROM feed_health WHERE seq IN (SELECT max(seq) FROM "
            "feed_health WHERE lag_seconds IS NOT NULL GROUP BY feed)")}
    rows = []
    for spec in specs:
        runs = health.get(spec.name, {})
        rows.append({
            "feed": spec.name, "adapter": spec.adapter, "enabled": spec.enabled,
            "every_seconds": spec.schedule.every_seconds,
            "last_success": runs.get("last_success"),
            "last_failure": runs.get("last_failure"),
            "failure_reason": runs.get("last_failure_reason"),
            "records_taken": runs.get("records_taken", 0),
            "runs": runs.get("runs", 0),
            "lag_seconds": lag.get(spec.name),
        })
    return rows
