"""ACLED: the CSV export format (the lingua franca of conflict data) and the ACLED API.

Mapping: ``event_id_cnty`` → source id and ``timestamp`` → revision; ``actor1`` attacks
``actor2`` (associated actors are kept in the notes); ``sub_event_type`` → event type;
``geo_precision`` 1/2/3 → location precision 1/2/3; ``time_precision`` 1/2/3 → a day, a week
around the date, the month; ``civilian_targeting`` set → civilian targeting; ``fatalities`` →
casualties. ACLED gives no platform or target category: the classifier reads ``notes``.

Feed (:class:`AcledAdapter`): ``source`` is a CSV export (a path, or a URL ending ``.csv``) or
the API's read URL (``https://api.acleddata.com/acled/read``). Options: ``batch_size`` (file,
default 500); ``country``, ``key``, ``email``, ``limit`` (rows per page, default 5000) and
``deleted_url`` (``https://api.acleddata.com/deleted/read``) for the API.

Cursor: ``{"timestamp": newest ACLED timestamp recorded, "deleted_timestamp": newest deletion
processed}``, plus ``"sha256"`` of a CSV file (an unchanged file is not parsed again). ACLED
re-stamps a record whenever it changes, so "timestamp > cursor" is all that is new or revised;
a revision is a new report (same source id, newer revision); the service supersedes the old.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import hashlib
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from pydantic import Field

from ..feeds import Batch, FeedSpec, Fetcher, SourceError
from ..files import open_regular
from ..models import FileModel
from ..service import Rejection

REQUIRED = ("event_id_cnty", "event_date", "sub_event_type", "actor1", "latitude", "longitude")

SUB_EVENT_TYPES = {
    "air/drone strike": "air_strike", "shelling/artillery/missile attack": "shelling",
    "armed clash": "armed_clash", "government regains territory": "territory_change",
    "non-state actor overtakes territory": "territory_change",
    "non-violent transfer of territory": "other", "remote explosive/landmine/ied": "bombing",
    "suicide bomb": "bombing", "grenade": "bombing", "chemical weapon": "attack",
    "attack": "attack", "abduction/forced disappearance": "other", "sexual violence": "other",
    "headquarters or base established": "military_presence",
    "looting/property destruction": "other", "disrupted weapons use": "other",
    "arrests": "other", "agreement": "other", "change to group/activity": "other",
    "other": "other", "peaceful protest": "other", "protest with intervention": "other",
    "excessive force against protesters": "attack", "violent demonstration": "other",
    "mob violence": "other",
}
# When the sub-event type is new to us, the event type decides (force or not).
EVENT_TYPES = {"battles": "armed_clash", "explosions/remote violence": "attack",
               "violence against civilians": "attack"}


_NUMERIC_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})")


def parse_date(value: str, date_format: str | None = None) -> dt.date:
    """ACLED writes ISO dates in its API and '10 August 2016' in some exports; accept both.
    A spreadsheet's numeric date is read only when it has one reading: 25/08/2016 is
    day-first, 08/25/2016 month-first, and 03/04/2016 is refused unless ``date_format``
    (``--date-format``, a feed's ``date_format`` option) says the file's order."""
    value = value.strip()
    if date_format:
        try:
            return dt.datetime.strptime(value, date_format).date()
        except ValueError:
            raise ValueError(f"event_date {value!r} does not match the date format "
                             f"{date_format!r}") from None
    if len(value) == 10 and value[4] == value[7] == "-" and value[:4].isdigit():
        try:  # YYYY-MM-DD, as the API and most exports write it: ~30 times faster than strptime
            return dt.date.fromisoformat(value)
        except ValueError:
            pass  # (not a date: strptime says so below)
    for fmt in ("%Y-%m-%d", "%d %B %Y", "%d-%B-%Y"):
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    m = _NUMERIC_DATE.fullmatch(value)
    if m:
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        readings = {(y, mo, d) for d, mo, y in ((a, b, year), (b, a, year)) if mo <= 12}
        if len(readings) == 1:
            try:
                return dt.date(*readings.pop())
            except ValueError:
                pass
        elif len(readings) == 2:
            sep = value[len(m[1])]
            raise ValueError(
                f"event_date {value!r} is ambiguous ({a} {_MONTHS[b - 1]} or {b} "
                f"{_MONTHS[a - 1]} {year}?): give the file's order with --date-format "
                f"%d{sep}%m{sep}%Y or %m{sep}%d{sep}%Y")
    raise ValueError(f"event_date {value!r} is not a date (expected YYYY-MM-DD or "
                     "'10 August 2016')")


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def parse_timestamp(value: Any) -> int:
    """ACLED's ``timestamp``: whole Unix seconds (a string in CSV, a string or number in JSON)."""
    text = "" if value is None else str(value).strip()
    if not re.fullmatch(r"[0-9]{1,12}", text):
        raise ValueError(f"timestamp {text!r} is not a Unix time in whole seconds")
    return int(text)


def to_report(row: dict[str, str], feed: str, date_format: str | None = None) -> dict[str, Any]:
    """One ACLED row as a raw incident report (validated later by the service)."""
    day = parse_date(row["event_date"], date_format)
    report: dict[str, Any] = {"feed": feed, "source_id": row["event_id_cnty"].strip(),
                              "revision": (row.get("timestamp") or "1").strip() or "1",
                              "occurred": day.isoformat()}
    precision = (row.get("time_precision") or "1").strip()
    if precision == "2":
        try:
            week = day - dt.timedelta(days=3), day + dt.timedelta(days=3)
        except OverflowError:  # 9999-12-31 or 0001-01-01: one bad row, not a failed import
            raise ValueError(f"event_date {day} is too close to the calendar's end for a week "
                             "around it (time_precision 2)") from None
        report.update(occurred=week[0].isoformat(), date_precision="week",
                      occurred_end=week[1].isoformat())
    elif precision == "3":
        last = calendar.monthrange(day.year, day.month)[1]
        report.update(occurred=day.replace(day=1).isoformat(), date_precision="month",
                      occurred_end=day.replace(day=last).isoformat())
    sub = (row.get("sub_event_type") or "").strip().lower()
    etype = (row.get("event_type") or "").strip().lower()
    report["event_type"] = SUB_EVENT_TYPES.get(sub) or EVENT_TYPES.get(etype, "other")
    report["location"] = {
        "lat": row["latitude"], "lon": row["longitude"],
        "precision": (row.get("geo_precision") or "1").strip() or "1",
        "place": row.get("location") or None,
        **{k: row.get(k) or None for k in ("admin1", "admin2", "admin3")}}
    report["attacker"] = [row["actor1"]] if row.get("actor1", "").strip() else []
    report["target"] = [row["actor2"]] if row.get("actor2", "").strip() else []
    assoc = [f"{k}: {row[k]}" for k in ("assoc_actor_1", "assoc_actor_2") if row.get(k)]
    report["notes"] = " ".join([row.get("notes") or "", *(f"[{a}]" for a in assoc)]).strip()
    if row.get("source"):
        report["sources"] = [row["source"]]
    report["civilian_targeting"] = bool((row.get("civilian_targeting") or "").strip())
    fatalities = (row.get("fatalities") or "").strip()
    if fatalities:
        report["casualties_min"] = report["casualties_max"] = fatalities
    return report


def iter_rows(lines: Iterable[str], name: str, required: tuple[str, ...] = REQUIRED,
              strict: bool = False) -> Iterator[tuple[str, dict[str, str]] | Rejection]:
    """Yield ``(where, row)`` per CSV data row, or a Rejection naming the line and reason. A
    header without the ``required`` columns is one Rejection, or if ``strict`` a SourceError
    (a feed whose file is not an ACLED export is broken, not one bad row)."""
    reader = csv.DictReader(lines)
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        problem = f"missing ACLED column(s) {', '.join(missing)}; is this an ACLED CSV export?"
        if strict:
            raise SourceError(f"{name}: {problem}")
        yield Rejection(f"{name} line 1", problem)
        return
    while True:
        try:
            row = next(reader, None)
            if row is None:
                return
        except (csv.Error, UnicodeDecodeError) as exc:
            yield Rejection(f"{name} line {reader.line_num}", f"unreadable: {exc}")
            return
        where = f"{name} line {reader.line_num}"
        if None in row or None in row.values():
            yield Rejection(where, f"{'more' if None in row else 'fewer'} fields than the header")
        else:
            yield where, row


# A line is read no further than this (a file with no newline costs one bounded read a time).
MAX_LINE_CHARS = 1_000_000


def bounded_lines(fh: io.TextIOBase, too_long: list[int]) -> Iterator[str]:
    """The file's lines, each read no further than :data:`MAX_LINE_CHARS`: a longer one is
    passed over unread (an empty line in its place, its number added to ``too_long``)."""
    number = 0
    while line := fh.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS and not line.endswith("\n"):
            while line and not line.endswith("\n"):
                line = fh.readline(MAX_LINE_CHARS + 1)
            too_long.append(number)
            yield "\n"
            continue
        yield line


# A byte that was not UTF-8, as errors="surrogateescape" decodes it.
_UNDECODED = re.compile("[\udc80-\udcff]")


def _undecoded(values: Iterable[str]) -> bool:
    """Whether a row's values hold a byte that was not UTF-8: one search over them all, and
    none when they are ASCII (searching each value took ~3 µs a row of ACLED's 31 columns)."""
    text = "".join(values)
    return not text.isascii() and _UNDECODED.search(text) is not None


def read_csv(path: Path, feed: str = "acled", date_format: str | None = None,
             reliability: str | None = None) -> Iterator[tuple[str, dict[str, Any]] | Rejection]:
    """Yield ``(where, report)`` per ACLED row, or a Rejection naming the line and reason.
    ``date_format`` (strptime) reads numeric dates with no single reading (:func:`parse_date`);
    ``reliability`` grades the file's source (Admiralty scale)."""
    # utf-8-sig: spreadsheet programs put a byte-order mark before the first column name.
    # surrogateescape: with "strict" one byte that is not UTF-8 raised out of the
    # header read (a crash) or ended the file at that point (the rows after it, and the rows
    # decoded with it, neither imported nor rejected); now only its own row is rejected.
    with io.TextIOWrapper(open_regular(path), newline="", encoding="utf-8-sig",
                          errors="surrogateescape") as fh:
        too_long: list[int] = []
        for item in iter_rows(bounded_lines(fh, too_long), path.name):
            while too_long:
                yield Rejection(f"{path.name} line {too_long.pop(0)}", "a line of over "
                                f"{MAX_LINE_CHARS:,} characters; no ACLED row is that long")
            if isinstance(item, Rejection):
                yield item
                continue
            if _undecoded(item[1].values()):
                yield Rejection(item[0], "not UTF-8; save the file as UTF-8")
                continue
            try:
                yield item[0], {**to_report(item[1], feed, date_format),
                                **({"reliability": reliability} if reliability else {})}
            except (ValueError, KeyError) as exc:
                yield Rejection(item[0], str(exc))


class AcledOptions(FileModel):
    """The feed file's ``options`` for an ACLED feed (unknown keys are errors)."""

    batch_size: int = Field(default=500, ge=1, le=100_000)
    country: str | None = None
    key: str | None = None
    email: str | None = None
    limit: int = Field(default=5000, ge=1, le=100_000)
    deleted_url: str | None = None
    # strptime format of event_date when the file writes numeric dates ("%d/%m/%Y")
    date_format: str | None = None


class AcledAdapter:
    """Incremental ACLED feed: a CSV export re-read each poll, or the API paged by timestamp."""

    def __init__(self, spec: FeedSpec, base: Path) -> None:
        self.spec = spec
        self.options = AcledOptions.model_validate(spec.options)
        path = urlsplit(spec.source).path if spec.is_url else spec.source
        self.name = PurePosixPath(path).name or spec.source
        self.api = spec.is_url and not path.lower().endswith(".csv")
        self.auth = {k: v for k in ("key", "email") if (v := getattr(self.options, k))}

    def batches(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        """New and revised rows since ``cursor``; deletions on the last batch."""
        start = {k: v if k == "sha256" else int(v) for k, v in cursor.items()
                 if k in ("timestamp", "deleted_timestamp", "sha256")}
        produce = self._from_api if self.api else self._from_file
        final: Batch | None = None
        for batch in produce(start, fetch):  # hold the last one back for the deletions
            if final is not None:
                yield final
            final = batch
        # Deletions are read after the rows and ride on the last batch: a row revised and then
        # deleted while this run was paging ends deleted.
        retract, rejected, deleted = self._deletions(start, fetch)
        if final is None:
            if not (retract or rejected or (deleted or 0) > start.get("deleted_timestamp", 0)):
                return
            final = Batch(cursor=dict(start))
        final.items.extend(rejected)
        final.retractions = retract
        if deleted is not None:
            final.cursor["deleted_timestamp"] = deleted
        yield final

    def _report(self, row: dict[str, str], where: str, stamp: int) -> Any:
        """``(where, report)`` with this feed's name and reliability, or a Rejection."""
        if _undecoded(row.values()):
            return Rejection(where, "not UTF-8; save the file as UTF-8")
        try:
            report = to_report(row, self.spec.name, self.options.date_format)
        except ValueError as exc:
            return Rejection(where, str(exc))
        report["revision"] = str(stamp)  # "0001471000000" and 1471000000 are one revision
        report["reliability"] = self.spec.reliability
        return where, report

    def _from_file(self, start: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        """Rows newer than the cursor, oldest first, ``batch_size`` at a time. An export is not
        promised to be sorted, so the cursor is a timestamp, never a position."""
        data = fetch.read_bytes(self.spec.source)
        digest = hashlib.sha256(data).hexdigest()
        if start.get("sha256") == digest:
            return
        # surrogateescape: a byte that is not UTF-8 becomes a lone surrogate, and only its row
        # is rejected (by _report) instead of the whole file
        text = data.decode("utf-8-sig", errors="surrogateescape")
        since = start.get("timestamp", 0)
        # Rows without a usable timestamp cannot be placed: they sort first (as -1) and are
        # reported again each time the file changes, until someone fixes them.
        rows: list[tuple[int, str, Any]] = []
        for item in iter_rows(io.StringIO(text, newline=""), self.name,
                              (*REQUIRED, "timestamp"), strict=True):
            if isinstance(item, Rejection):
                rows.append((-1, "", item))
                continue
            where, row = item
            try:
                stamp = parse_timestamp(row["timestamp"])
            except ValueError as exc:
                rows.append((-1, "", Rejection(where, str(exc))))
                continue
            if stamp > since:
                rows.append((stamp, row["event_id_cnty"], self._report(row, where, stamp)))
        rows.sort(key=lambda r: (r[0], r[1]))
        size, n = self.options.batch_size, len(rows)
        for first in range(0, max(n, 1), size):  # one batch even if nothing is new: the hash
            chunk, end = rows[first:first + size], min(first + size, n)
            last = chunk[-1][0] if chunk else since
            # A batch may end inside a group of rows sharing a timestamp; its cursor must then
            # stay below that timestamp or a crash before the next batch would skip the rest.
            done = last if end == n or rows[end][0] > last else last - 1
            cursor: dict[str, Any] = {**start, "timestamp": max(since, done)}
            if end == n:
                cursor["sha256"] = digest  # only once every row of this file is recorded
            yield Batch(items=[r[2] for r in chunk], cursor=cursor)

    def _from_api(self, start: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        """One batch per page of rows stamped after the cursor. The cursor advances only on the
        last batch, once every page is read: ACLED promises no order within a timestamp range,
        so advancing mid-run could skip rows after a crash. A crash instead re-fetches the
        run's rows, and the ledger's report keys make those repeats no-ops."""
        since = start.get("timestamp", 0)
        country = {"country": self.options.country} if self.options.country else {}
        params = {**self.auth, **country, "timestamp": since + 1, "timestamp_where": ">="}
        newest, pending = since, None
        for label, data in self._pages(self.spec.source, params, fetch):
            items: list[Any] = []
            for number, raw in enumerate(data, start=1):
                where = f"{label} item {number}"
                try:
                    if not isinstance(raw, dict):
                        raise ValueError("not a JSON object (an ACLED event)")
                    # a missing field reads as empty: the date check or the service rejects it
                    row = {**dict.fromkeys(REQUIRED, ""),
                           **{str(k): "" if v is None else str(v) for k, v in raw.items()}}
                    stamp = parse_timestamp(row.get("timestamp"))
                except ValueError as exc:
                    items.append(Rejection(where, str(exc)))
                    continue
                if stamp <= since:  # the server ignored the filter; the cursor still holds
                    continue
                newest = max(newest, stamp)
                items.append(self._report(row, where, stamp))
            if items:
                if pending is not None:
                    yield pending
                pending = Batch(items=items, cursor=dict(start))
        if pending is not None:
            pending.cursor = {**start, "timestamp": newest}  # every page is in: advance
            yield pending

    def _deletions(self, start: dict[str, Any],
                   fetch: Fetcher) -> tuple[list[str], list[Rejection], int | None]:
        """Event ids ACLED deleted after the cursor, rejections, and the new deletion cursor."""
        if not self.options.deleted_url:
            return [], [], None
        since = start.get("deleted_timestamp", 0)
        params = {**self.auth, "deleted_timestamp": since + 1,
                  "deleted_timestamp_where": ">="}
        ids: dict[str, None] = {}  # ordered and without repeats
        rejected: list[Rejection] = []
        newest = since
        for label, data in self._pages(self.options.deleted_url, params, fetch):
            for number, raw in enumerate(data, start=1):
                raw = raw if isinstance(raw, dict) else {}
                event = str(raw.get("event_id_cnty") or "").strip()
                try:
                    stamp = parse_timestamp(raw.get("deleted_timestamp"))
                    if not event:
                        raise ValueError("no event_id_cnty")
                except ValueError as exc:
                    rejected.append(Rejection(f"{label} item {number}", f"deletion: {exc}"))
                    continue
                if stamp > since:
                    ids[event] = None
                    newest = max(newest, stamp)
        return list(ids), rejected, newest

    def _pages(self, url: str, params: dict[str, Any],
               fetch: Fetcher) -> Iterator[tuple[str, list[Any]]]:
        """``("acled/read page N", rows)`` until a page holds fewer than ``limit`` rows."""
        parts = urlsplit(url)  # a query in the feed's URL is kept, not replaced
        own, base = dict(parse_qsl(parts.query)), urlunsplit(parts._replace(query=""))
        limit, previous = self.options.limit, None
        for page in itertools.count(1):
            body = self._get(fetch, base, {**own, **params, "limit": limit, "page": page})
            label = f"{parts.path.strip('/') or url} page {page}"
            if not isinstance(body, dict):
                raise SourceError(f"{label}: not an ACLED reply (a JSON object was expected)")
            if body.get("success") is False or str(body.get("status", 200)) != "200":
                reason = body.get("error") or body.get("message") or body.get("status")
                raise SourceError(f"{label}: ACLED refused the request: {reason}")
            data = body.get("data")
            if not isinstance(data, list):
                raise SourceError(f"{label}: no 'data' list in the reply")
            if data and data == previous:
                raise SourceError(f"{label}: the rows of page {page - 1} again; 'page' is ignored")
            if data:
                yield label, data
            if len(data) < limit or body.get("count") == 0:
                return
            previous = data

    def _get(self, fetch: Fetcher, url: str, params: dict[str, Any]) -> Any:
        """GET JSON; the access key never appears in an error message (they end up in logs)."""
        try:
            return fetch.get_json(url, params)
        except SourceError as exc:  # the message names the URL, and the URL holds the key
            raise SourceError(re.sub(r"([?&]key=)[^&\s]*", r"\1***", str(exc))) from None

