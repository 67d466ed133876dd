"""RSS and Atom feeds (news agencies, monitoring groups), with GeoRSS points when they have them.

``source`` is a URL or a file. Each entry becomes a text-only report: ``notes`` = title — summary
(HTML stripped), ``event_type`` "attack", no attacker or target (the core's classifier and actor
resolution read the notes). ``occurred`` is the entry's published (else updated) time in UTC:
when the article appeared, which is at or after the incident, never a better date than that.

Options: ``precision`` — Location precision given to GeoRSS points (default 2, "within 25 km":
a news item's point is usually the town, not the building); ``seen_max`` — entries remembered
in the cursor (default 1000).

Safety. The bytes are checked before feedparser sees them: a document whose DOCTYPE declares
any entity (``<!ENTITY``: billion laughs, external entities) raises :class:`SourceError`
"document declares XML entities; refused" — the whole document is refused, because a feed
that declares entities is either hostile or broken, and retrying later tells the operator so
every poll. A DOCTYPE without declarations (RSS 0.91's public DTD) is accepted: neither
expat nor feedparser fetches external DTDs. feedparser is handed a ``BytesIO``, not ``bytes``:
it tries ``open()`` on a ``bytes`` argument first, so a reply whose body is a path would make it
read a local file.

Cursor: ``{"seen": {entry id: revision}}`` for the last ``seen_max`` entries (oldest dropped
first). An entry whose id and revision (its ``updated`` text, else "1") are in ``seen`` is
skipped; a changed ``updated`` is a new revision and is read again. A list of ids is accepted
as ``seen`` too (any revision then counts as seen).

A malformed feed (``bozo``) that still yields entries is processed as it is; one that yields none
raises SourceError with feedparser's reason.
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit
from xml.parsers import expat

import feedparser
from pydantic import Field

from ..feeds import Batch, FeedSpec, Fetcher, SourceError
from ..models import FileModel
from ..service import Rejection

NOTES_MAX = 20_000  # IncidentReport.notes' limit


class RssOptions(FileModel):
    """The feed file's ``options`` for an RSS/Atom feed (unknown keys are errors)."""

    precision: int = Field(default=2, ge=1, le=7)
    seen_max: int = Field(default=1000, ge=1, le=100_000)


# --- refusing entity declarations --------------------------------------------------------------


class _Stop(Exception):
    """Raised from expat handlers to stop reading the prolog."""

    def __init__(self, entity: str | None = None) -> None:
        super().__init__(entity)
        self.entity = entity


def _text_for_scan(data: bytes) -> str:
    """The document as text for a markup scan: UTF-16/32 decoded, anything else as Latin-1
    (which keeps every ASCII byte, all that markup is made of)."""
    for bom, codec in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                       (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    if data[:2] == b"\x00<":
        return data.decode("utf-16-be", errors="replace")
    if data[:2] == b"<\x00":
        return data.decode("utf-16-le", errors="replace")
    return data.decode("latin-1")


def declared_entity(data: bytes) -> str | None:
    """The name of the first entity the document's prolog declares, or None.

    Expat reads the prolog only: an entity declaration stops it before anything is expanded
    (expansion happens where an entity is used, in the content after the root tag), and so does
    the root tag. A prolog expat cannot read falls back to a plain scan up to the first
    element, which errs on the side of refusing (it also sees declarations in comments)."""
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def on_entity(name: str, *args: Any) -> None:
        raise _Stop(name or "?")

    def on_root(name: str, attrs: Any) -> None:
        raise _Stop(None)

    parser.EntityDeclHandler = on_entity
    parser.UnparsedEntityDeclHandler = on_entity
    parser.StartElementHandler = on_root
    try:
        parser.Parse(data, True)
    except _Stop as stop:
        return stop.entity
    except (expat.ExpatError, ValueError, LookupError):
        pass
    text = re.sub(r"<!--.*?-->", "", _text_for_scan(data), flags=re.S)
    root = re.search(r"<[A-Za-z_]", text)
    head = text if root is None else text[: root.start()]
    match = re.search(r"<!ENTITY\s*%?\s*([^\s\"'>]*)", head, re.IGNORECASE)
    return (match.group(1) or "?") if match else None


def as_feedparser_reads(data: bytes, headers: dict[str, str]) -> bytes:
    """The document as feedparser's XML parser reads it: re-encoded as UTF-8 by feedparser's
    own encoding detection (``feedparser.parse`` does exactly this first), or unchanged when
    no encoding fits."""
    from feedparser.encodings import convert_to_utf8

    converted = convert_to_utf8(dict(headers), data, {})
    return converted if isinstance(converted, bytes) else data


# --- entries -----------------------------------------------------------------------------------


class _TextOnly(HTMLParser):
    """Collects the text of an HTML fragment (character references decoded)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def strip_html(fragment: str) -> str:
    """Plain text of an HTML fragment, whitespace collapsed."""
    parser = _TextOnly()
    parser.feed(fragment)
    parser.close()
    return " ".join("".join(parser.parts).split())


def entry_time(entry: Any) -> dt.datetime | None:
    """The entry's published (else updated) time, aware UTC (feedparser gives UTC tuples)."""
    parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if not parsed:
        return None
    try:
        return dt.datetime(*parsed[:6], tzinfo=dt.timezone.utc)
    except (TypeError, ValueError):
        return None


def entry_location(entry: Any, precision: int) -> dict[str, Any] | None:
    """The GeoRSS point of an entry. feedparser turns ``<georss:point>lat lon</georss:point>``
    into ``where = {"type": "Point", "coordinates": (lon, lat)}`` — GeoJSON order, swapped from
    the text; W3C ``geo:lat``/``geo:long`` arrive as ``geo_lat``/``geo_long`` strings."""
    where = entry.get("where") or {}
    coords = where.get("coordinates") if where.get("type") == "Point" else None
    if coords is not None and len(coords) >= 2:
        return {"lat": coords[1], "lon": coords[0], "precision": precision}
    if entry.get("geo_lat") and entry.get("geo_long"):
        # strings: the report's validation says which is bad, if one is
        return {"lat": entry["geo_lat"], "lon": entry["geo_long"], "precision": precision}
    return None  # lines, boxes and polygons say an area, not a point: no location


def entry_notes(entry: Any) -> str:
    """``title — summary`` as plain text (Atom feeds with content only: the first content)."""
    title = strip_html(entry.get("title") or "")
    body = entry.get("summary") or ""
    if not body and entry.get("content"):
        body = entry["content"][0].get("value") or ""
    summary = strip_html(body)
    text = f"{title} — {summary}" if title and summary else title or summary
    return text[:NOTES_MAX]


class RssAdapter:
    """Reads one RSS/Atom document per poll; new entries become one batch."""

    def __init__(self, spec: FeedSpec, base: Path) -> None:
        self.spec = spec
        self.base = base
        self.options = RssOptions.model_validate(spec.options)
        self.label = PurePosixPath(urlsplit(spec.source).path).name or spec.source

    def parse(self, data: bytes) -> Any:
        """The refused-or-parsed document (SourceError when refused or not a feed)."""
        # content-location lets feedparser resolve relative links against the feed's URL;
        # application/xml (not text/xml, which RFC 3023 makes US-ASCII) leaves the charset to
        # the XML declaration, and a missing content-type would itself set bozo
        headers = ({"content-location": self.spec.source, "content-type": "application/xml"}
                   if self.spec.is_url else {})
        # The raw bytes are not what feedparser parses. It re-encodes the document
        # from the encoding it settles on (UTF-32 or EBCDIC sniffed without a BOM, any codec an
        # XML declaration names, e.g. utf-7's "+ADw-!ENTITY"), and a DOCTYPE hidden that way
        # would pass a check of the raw bytes and have its entities expanded (a 400 kB UTF-32
        # document: 650 MB). So the document is also checked as feedparser's parser reads it.
        entity = declared_entity(data)
        if entity is None:
            try:
                entity = declared_entity(as_feedparser_reads(data, headers))
            except UnicodeError as exc:
                # utf-7's "+2AA-" decodes to a lone surrogate, which feedparser
                # cannot re-encode: feedparser.parse would raise it out of the poll
                raise SourceError(f"{self.label}: not a readable feed ({type(exc).__name__}: "
                                  f"{exc})") from exc
        if entity is not None:
            raise SourceError(f"{self.label}: document declares XML entities (first: {entity!r}) "
                              "in its DOCTYPE; refused (entity expansion / external entities)")
        parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)
        if parsed.bozo and not parsed.entries:
            exc = parsed.get("bozo_exception")
            raise SourceError(f"{self.label}: not a readable feed "
                              f"({type(exc).__name__}: {exc})")
        if not parsed.entries and not parsed.get("version"):
            # well-formed but no RSS/Atom (an HTML error page served with 200)
            raise SourceError(f"{self.label}: not an RSS or Atom document")
        return parsed

    def to_report(self, entry: Any, source_id: str, revision: str,
                  occurred: dt.datetime) -> dict[str, Any]:
        """One entry as a raw incident report (validated later by the service)."""
        report: dict[str, Any] = {
            "feed": self.spec.name,
            "source_id": source_id,
            "revision": revision,
            "occurred": occurred.isoformat(),
            "attacker": [],
            "target": [],
            "event_type": "attack",
            "notes": entry_notes(entry),
            "reliability": self.spec.reliability,
        }
        location = entry_location(entry, self.options.precision)
        if location is not None:
            report["location"] = location
        link = (entry.get("link") or "").strip()
        # with guidislink feedparser copies a non-URL guid into link: a source must be a URL
        report["sources"] = [link] if link.startswith(("http://", "https://")) else []
        return report

    def batches(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        """One batch of the entries not seen before (oldest first); nothing if none is new."""
        parsed = self.parse(fetch.read_bytes(self.spec.source))
        previous = cursor.get("seen") or {}
        seen: dict[str, str | None] = (dict(previous) if isinstance(previous, dict)
                                       else dict.fromkeys(previous))
        numbered = list(enumerate(parsed.entries, start=1))
        # oldest first, so the cursor's oldest-dropped order follows the feed's own time
        numbered.sort(key=lambda pair: (entry_time(pair[1]) is None,
                                        entry_time(pair[1]) or dt.datetime.min))
        items: list[Any] = []
        for number, entry in numbered:
            where = f"{self.label} entry {number}"
            source_id = (entry.get("id") or entry.get("link") or "").strip()[:500]
            if not source_id:
                items.append(Rejection(where, "entry has neither an id (guid) nor a link"))
                continue
            # dict.get: FeedParserDict.get("updated") falls back to "published" (with a
            # DeprecationWarning), which would make every dated entry a "revision"
            revision = (dict.get(entry, "updated") or "1").strip()[:100] or "1"
            if source_id in seen and seen[source_id] in (None, revision):
                seen[source_id] = seen.pop(source_id)  # still in the feed: keep it remembered
                continue
            seen.pop(source_id, None)
            seen[source_id] = revision
            occurred = entry_time(entry)
            if occurred is None:
                items.append(Rejection(where, f"entry {source_id!r} has no published or "
                                       "updated date; an incident needs a time"))
                continue
            items.append((where, self.to_report(entry, source_id, revision, occurred)))
        while len(seen) > self.options.seen_max:
            seen.pop(next(iter(seen)))
        if items:
            yield Batch(items=items, cursor={"seen": seen})
