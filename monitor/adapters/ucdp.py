"""UCDP Georeferenced Event Dataset (GED): a CSV file or the GED API (feeds/data/README.md).

Mapping of one GED record (CSV row or API JSON object: the field names are the same):
``id`` → source id; the GED version (option ``version``, else the API URL's, else "1") →
revision; ``date_start``..``date_end`` → the event window; ``date_prec`` → date precision
(GED codebook: 1 the exact day, 2 a span of 2–6 days, 3 a week, 4 up to a month, 5 up to a
year: day/days/week/month/year; the 2016 file's spans are 1, 2–6, 7, 8–31 and 32–366 days);
``latitude``/``longitude``/``where_prec`` (the same 1..7 scale as Location.precision)/
``where_coordinates``/``adm_1``/``adm_2`` → location; ``low``..``high`` (``best`` for a missing
bound) → casualties; the headline → ``notes`` and the articles and offices → ``sources``, both
read by the core's classifier (GED has no weapon field).

DIRECTION (TERMS.md §4 "Who attacked"). GED's ``side_a``/``side_b`` name the two parties, not
who attacked whom. Type 3 (one-sided violence): ``side_a`` attacked civilians (target
"Civilians"), directed. Types 1/2: the parties are given as they are and ``direction: words``:
the core decides from the words about this incident (a clash when they do not say who fired;
UCDP folds Russian strikes into "Government of Syria", which the registry's ``air_sides`` says).
Names are UCDP's own (the registry knows them); coalitions UCDP joins with commas are split.

Options: ``version``; ``batch_size`` (default 500); ``token`` (accepted, not yet sent: Fetcher
cannot set the ``x-ucdp-access-token`` header). Cursor of a file: ``{"file_sha256",
"rows_done"}``: an unchanged file resumes after ``rows_done`` rows, a changed one starts over
(the ledger drops reports it holds). Of the API: ``{"next_url", "done", "page"}`` (+ ``skip``,
the page's items already recorded, mid-page); after the last page ``{"next_url": <first page>,
"done": true, "last_count": TotalCount}``: later polls fetch the first page and go on only if
TotalCount changed (or is missing).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from ..feeds import Batch, FeedSpec, Fetcher, SourceError
from ..files import open_regular
from ..problems import did_you_mean
from ..service import Rejection

Row = dict[str, Any]
Item = tuple[str, dict[str, Any]] | Rejection

CIVILIANS = "Civilians"
REQUIRED = ("id", "date_start", "latitude", "longitude", "where_prec", "side_a", "type_of_violence")
OPTIONS = ("version", "batch_size", "token")
# A day, with the API's midnight time of day (GED records no time): kept as the day alone.
_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?Z?)?")
DATE_PRECISION = {1: "day", 2: "days", 3: "week", 4: "month", 5: "year"}
MAX_NOTES, MAX_SOURCE, MAX_SOURCES, MAX_NAMES = 20_000, 2_000, 50, 20

def _text(row: Row, key: str) -> str:
    value = row.get(key)
    return "" if value is None else html.unescape(str(value)).strip()


def _number(row: Row, key: str, required: bool = True, whole: bool = True) -> Any:
    """A number of the record (the CSV gives text, the API numbers); ValueError names it."""
    text = _text(row, key)
    if not text and not required:
        return None
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{key} {text!r} is not a number" if text else f"{key} is missing"
                         ) from None
    if whole and not number.is_integer():
        raise ValueError(f"{key} {text!r} is not a whole number")
    return int(number) if whole else number


def _date(row: Row, key: str) -> dt.date | None:
    """GED dates are days: the CSV writes 2016-08-10, the API 2016-08-10T00:00:00."""
    text = _text(row, key)
    if not text:
        return None
    match = _DATE.fullmatch(text)
    try:
        return dt.date.fromisoformat(match.group(1) if match else text[:0])
    except ValueError:
        raise ValueError(f"{key} {text!r} is not a date (expected YYYY-MM-DD)") from None


def names(side: str) -> list[str]:
    """UCDP's names of one side: coalitions ("Ahrar al-Sham, Jabhat Fateh al-Sham") split."""
    return list(dict.fromkeys(n.strip() for n in side.split(",") if n.strip()))[:MAX_NAMES]


def parties(kind: int, side_a: str, side_b: str) -> tuple[list[str], list[str], str]:
    """Attacker names, target names and how the direction is known (see the module docstring)."""
    a, b = names(side_a), names(side_b)
    if kind == 3:  # one-sided violence: the armed side against civilians
        return a, [CIVILIANS], "directed"
    return a, b, "words"


def _sources(row: Row) -> list[str]:
    """Each article citation (GED quotes them and joins them with ';') and each office."""
    article, office = _text(row, "source_article"), _text(row, "source_office")
    parts = next(csv.reader([article.replace("\n", " ")], delimiter=";")) if article else []
    parts += office.split(";")
    found = dict.fromkeys(p.strip()[:MAX_SOURCE] for p in parts if p.strip())
    return list(found)[:MAX_SOURCES]


def to_report(row: Row, feed: str, reliability: str | None, *,
              version: str = "1") -> dict[str, Any]:
    """One GED record as a raw incident report (validated later by the service).

    Raises ValueError naming the field when the record cannot be mapped."""
    source_id, side_a = _text(row, "id"), _text(row, "side_a")
    start, end = _date(row, "date_start"), _date(row, "date_end")
    for key, value in (("id", source_id), ("date_start", start), ("side_a", side_a)):
        if not value:
            raise ValueError(f"{key} is missing")
    if end is not None and end < start:
        raise ValueError(f"date_end {end} is before date_start {start}")
    kind = _number(row, "type_of_violence")
    if kind not in (1, 2, 3):
        raise ValueError(f"type_of_violence {kind} is not 1, 2 or 3")
    headline = _text(row, "source_headline")
    attacker, target, direction = parties(kind, side_a, _text(row, "side_b"))
    # low..high, with best standing in for a missing bound. UCDP's three disagree in 15 of the
    # 6,170 rows of 2016 (best outside low..high; low 8 > high 7 in event 236249): the range
    # then covers all three rather than losing the event.
    deaths = [n for k in ("low", "best", "high") if (n := _number(row, k, False)) is not None]
    report: dict[str, Any] = {
        "feed": feed, "source_id": source_id, "revision": version,
        "occurred": start.isoformat(),
        "location": {
            "lat": _number(row, "latitude", whole=False),
            "lon": _number(row, "longitude", whole=False), "precision": _number(row, "where_prec"),
            "place": _text(row, "where_coordinates")[:500] or None,
            "admin1": _text(row, "adm_1")[:500] or None,
            "admin2": _text(row, "adm_2")[:500] or None,
        },
        "attacker": attacker, "target": target, "direction": direction,
        "event_type": "attack",  # the core's classifier refines it from the headline
        "civilian_targeting": kind == 3,
        "casualties_min": min(deaths, default=None),
        "casualties_max": max(deaths, default=None),
        "notes": headline[:MAX_NOTES],
        "sources": _sources(row),
        "reliability": reliability,
    }
    if end is not None and end != start:
        report["occurred_end"] = end.isoformat()
    precision = _number(row, "date_prec", required=False)
    if precision in DATE_PRECISION:  # an unknown code: the window still says it all
        report["date_precision"] = DATE_PRECISION[precision]
    return report


def _endpoint(url: str) -> tuple[str, str, int | None, str]:
    parsed = httpx.URL(url)  # UCDP pages differ in the query only
    return parsed.scheme, parsed.host, parsed.port, parsed.path


class UcdpAdapter:
    """GED events from a CSV file (relative to the feeds folder) or the GED API (a URL)."""

    def __init__(self, spec: FeedSpec, base: Path) -> None:
        self.spec, self.base = spec, base
        for key in spec.options:
            if key not in OPTIONS:
                raise ValueError(f"feed {spec.name}: unknown ucdp option {key!r}. "
                                 + did_you_mean(key, OPTIONS))
        size = spec.options.get("batch_size", 500)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"feed {spec.name}: batch_size must be a whole number ≥ 1")
        self.batch_size = size
        in_url = re.search(r"/gedevents/([^/?#]+)", spec.source)
        self.version = str(spec.options.get("version") or (in_url and in_url[1]) or "1")
        # `token` would go in the x-ucdp-access-token header, which Fetcher cannot send yet.

    def batches(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        """Batches of at most ``batch_size`` items, each with the cursor after it."""
        if self.spec.is_url:
            yield from self._api(cursor, fetch)
        else:
            yield from self._file(cursor, fetch)

    def _item(self, row: Any, where: str) -> Item:
        if not isinstance(row, dict):
            return Rejection(where, "not a JSON object (a GED event)")
        if None in row:
            return Rejection(where, "more fields than the header has columns")
        try:  # bad bytes were kept as surrogates so they cost this row only, not the file
            "\x00".join(v for v in row.values() if isinstance(v, str)).encode("utf-8")
        except UnicodeEncodeError:
            return Rejection(where, "bytes that are not UTF-8; save the file as UTF-8")
        try:
            return where, to_report(row, self.spec.name, self.spec.reliability,
                                    version=self.version)
        except ValueError as exc:
            return Rejection(where, str(exc))

    def _file(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        data = fetch.read_bytes(self.spec.source)
        sha = hashlib.sha256(data).hexdigest()
        skip = int(cursor.get("rows_done", 0)) if cursor.get("file_sha256") == sha else 0
        name = Path(self.spec.source).name
        reader = csv.DictReader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig",
                                                 errors="surrogateescape", newline=""))
        try:
            missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        except csv.Error as exc:
            raise SourceError(f"{name} line 1: unreadable CSV header ({exc})") from exc
        if missing:
            raise SourceError(f"{name}: missing GED column(s) {', '.join(missing)}; "
                              "is this a UCDP GED CSV file?")
        items: list[Item] = []
        done, yielded = 0, False
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # the reader cannot resync: retry once the file is fixed
                raise SourceError(f"{name} line {reader.line_num}: bad CSV ({exc})") from exc
            done += 1
            if done <= skip:
                continue
            # line_num is where the record ends (its start too, unless a quoted field wraps)
            items.append(self._item(row, f"{name} line {reader.line_num}"))
            if len(items) == self.batch_size:
                yield Batch(items, cursor={"file_sha256": sha, "rows_done": done})
                items, yielded = [], True
        after = {"file_sha256": sha, "rows_done": done}
        if items or (not yielded and after != cursor):
            yield Batch(items, cursor=after)

    def _api(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        first = self.spec.source
        url, page_no, skip, known = first, 1, 0, None
        if cursor.get("done") and cursor.get("next_url") == first:
            known = cursor.get("last_count")  # go on only if TotalCount changed
        elif (cursor.get("next_url") and not cursor.get("done")
              and _endpoint(str(cursor["next_url"])) == _endpoint(first)):  # else: new source
            url, page_no = str(cursor["next_url"]), int(cursor.get("page", 1))
            skip = int(cursor.get("skip", 0))
        seen: set[str] = set()
        while True:
            if url in seen:
                raise SourceError(f"GET {url}: NextPageUrl leads back to a page already read")
            seen.add(url)
            result, next_url, total = self._page(fetch.get_json(url), url)
            if known is not None:
                if total == known:
                    return
                known = None
            items = [self._item(obj, f"{url} page {page_no} item {i}")
                     for i, obj in enumerate(result, start=1)]
            if next_url:
                after = {"next_url": next_url, "done": False, "page": page_no + 1}
            else:
                after = {"next_url": first, "done": True, "last_count": total}
            for pos in range(skip, len(items), self.batch_size) or [skip]:  # [] still moves on
                end = pos + self.batch_size
                yield Batch(items[pos:end], cursor=after if end >= len(items) else {
                    "next_url": url, "done": False, "page": page_no, "skip": end})
            if not next_url:
                return
            url, page_no, skip = next_url, page_no + 1, 0

    def _page(self, page: Any, url: str) -> tuple[list[Any], str | None, int | None]:
        """A page's records, next page URL and TotalCount; a malformed page is a SourceError."""
        if not isinstance(page, dict):
            raise SourceError(f"GET {url}: not a GED API page (a JSON {type(page).__name__})")
        result = page.get("Result")
        if not isinstance(result, list):
            raise SourceError(f"GET {url}: the page's Result is not a list "
                              f"({type(result).__name__})")
        total = page.get("TotalCount")
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        next_url = page.get("NextPageUrl") or None
        if next_url is None:
            return result, None, total
        if not isinstance(next_url, str):
            raise SourceError(f"GET {url}: NextPageUrl is not a URL ({next_url!r})")
        joined = str(httpx.URL(url).join(next_url))
        if _endpoint(joined) != _endpoint(self.spec.source):  # fetch only what the feed names
            raise SourceError(f"GET {url}: NextPageUrl {next_url!r} is not the feed's endpoint")
        return result, joined, total


def read_csv(path: Path, feed: str = "ucdp", date_format: str | None = None,
             reliability: str | None = None) -> Iterator[Item]:
    """Yield ``(where, report)`` per GED row of a CSV file (``monitor import --format ucdp``),
    or a Rejection naming the line and reason. ``date_format`` is not used: GED dates are ISO
    8601. ``reliability`` grades the file's source (Admiralty scale)."""
    with io.TextIOWrapper(open_regular(path), encoding="utf-8-sig", errors="surrogateescape",
                          newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            yield Rejection(f"{path.name} line 1", "not a UCDP GED file: no column "
                            + ", ".join(missing))
            return
        for row in reader:
            where = f"{path.name} line {reader.line_num}"
            if None in row:
                yield Rejection(where, "more fields than the header has columns")
                continue
            try:
                "\x00".join(v for v in row.values() if isinstance(v, str)).encode("utf-8")
                yield where, to_report(row, feed, reliability)
            except UnicodeEncodeError:
                yield Rejection(where, "bytes that are not UTF-8; save the file as UTF-8")
            except ValueError as exc:
                yield Rejection(where, str(exc))
