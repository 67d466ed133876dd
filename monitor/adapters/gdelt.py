"""GDELT 2.0 Events: the 15-minute export files, kept to fighting (CAMEO root 19) in Syria.

``source`` is the ``lastupdate.txt`` URL (``http://data.gdeltproject.org/gdeltv2/lastupdate.txt``)
or a file. Its lines read ``<size> <md5> <url>`` for the newest ``<slot>.export.CSV.zip``,
``.mentions.CSV.zip`` and ``.gkg.csv.zip``; only the export is read. ``masterfilelist.txt`` lists
every slot in the same format and is read only to backfill slots missed between two polls.

Options:

- ``countries``: FIPS 10-4 codes of ``ActionGeo_CountryCode`` to keep (default ``["SY"]``).
- ``masterfile_url``: default ``masterfilelist.txt`` next to ``source``.
- ``max_backfill_slots``: slots read per poll at most (default 96 = one day). When more were
  missed the oldest are read first and the next poll goes on from there, so nothing is skipped;
  ``source_lag_seconds`` shows how far behind the feed is.
- ``verify_md5``: compare each zip with the md5 the file list gives (default true): a zip that
  GDELT is still replacing, or a proxy's error page, is refused instead of half read.

Cursor: ``{"slot": "YYYYMMDDHHMMSS"}``, the last export fully processed. The first poll reads the
newest slot only (GDELT has years of history; backfilling it is an import, not a poll). A slot
over 500 kept rows is split; its batches before the last carry ``"partial": {"slot", "line"}``
so a crash between them resumes after the recorded line.

Mapping: ``GLOBALEVENTID`` → source id (revision "1": GDELT never revises an event);
``SQLDATE`` → the day; ``Actor1Name`` attacks ``Actor2Name``; ``EventCode`` → event type (table
``CAMEO_19``); ``ActionGeo_*`` → location. ``ActionGeo_Type`` 1 (country) → precision 6, 2/5
(state, ADM1) → 4, 3/4 (city) → 2. GDELT places a city event at the city's centroid whatever
the article says about the neighbourhood, and its geocoder confuses same-named places, so
"within 25 km" is as much as a GDELT point claims. Notes are built from CAMEO's label only:
GDELT carries no article text, so the classifier has no more to read than the code says.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urljoin, urlsplit

from pydantic import Field, field_validator

from ..feeds import Batch, FeedSpec, Fetcher, SourceError
from ..models import FileModel
from ..service import Rejection

# GDELT's SOURCEURL and names are short, but the csv module's 128 KiB default has been hit by
# garbage rows; a too-long field should become one rejected row, not a crashed poll.
csv.field_size_limit(2**31 - 1)

# The 61 tab-separated columns of a GDELT 2.0 Events export (codebook order; no header row).
COLUMNS: tuple[str, ...] = (
    "GLOBALEVENTID", "SQLDATE", "MonthYear", "Year", "FractionDate",
    "Actor1Code", "Actor1Name", "Actor1CountryCode", "Actor1KnownGroupCode", "Actor1EthnicCode",
    "Actor1Religion1Code", "Actor1Religion2Code", "Actor1Type1Code", "Actor1Type2Code",
    "Actor1Type3Code",
    "Actor2Code", "Actor2Name", "Actor2CountryCode", "Actor2KnownGroupCode", "Actor2EthnicCode",
    "Actor2Religion1Code", "Actor2Religion2Code", "Actor2Type1Code", "Actor2Type2Code",
    "Actor2Type3Code",
    "IsRootEvent", "EventCode", "EventBaseCode", "EventRootCode", "QuadClass", "GoldsteinScale",
    "NumMentions", "NumSources", "NumArticles", "AvgTone",
    "Actor1Geo_Type", "Actor1Geo_FullName", "Actor1Geo_CountryCode", "Actor1Geo_ADM1Code",
    "Actor1Geo_ADM2Code", "Actor1Geo_Lat", "Actor1Geo_Long", "Actor1Geo_FeatureID",
    "Actor2Geo_Type", "Actor2Geo_FullName", "Actor2Geo_CountryCode", "Actor2Geo_ADM1Code",
    "Actor2Geo_ADM2Code", "Actor2Geo_Lat", "Actor2Geo_Long", "Actor2Geo_FeatureID",
    "ActionGeo_Type", "ActionGeo_FullName", "ActionGeo_CountryCode", "ActionGeo_ADM1Code",
    "ActionGeo_ADM2Code", "ActionGeo_Lat", "ActionGeo_Long", "ActionGeo_FeatureID",
    "DATEADDED", "SOURCEURL",
)
assert len(COLUMNS) == 61
_COL = {name: i for i, name in enumerate(COLUMNS)}

# CAMEO root 19 "Fight": code → (CAMEO label, event type, platform or None for the classifier).
CAMEO_19: dict[str, tuple[str, str, str | None]] = {
    "190": ("Use conventional military force, not specified below", "attack", None),
    "191": ("Impose blockade, restrict movement", "access_denial", None),
    "192": ("Occupy territory", "ground_assault", None),
    "193": ("Fight with small arms and light weapons", "armed_clash", None),
    "194": ("Fight with artillery and tanks", "shelling", "artillery"),
    "195": ("Employ aerial weapons, not specified below", "air_strike", None),
    "1951": ("Employ precision-guided aerial munitions", "air_strike", None),
    "1952": ("Employ remotely piloted aerial munitions", "air_strike", "drone"),
    "196": ("Violate ceasefire", "attack", None),
}
# ActionGeo_Type → Location.precision (UCDP scale): 1 country, 2 US state, 3 US city,
# 4 world city, 5 world state (ADM1). Anything else is treated as a country-level guess.
GEO_PRECISION = {"1": 6, "2": 4, "3": 2, "4": 2, "5": 4}

STEP = dt.timedelta(minutes=15)
BATCH_ROWS = 500
_EXPORT = re.compile(r"(\d{14})\.export\.CSV\.zip$", re.IGNORECASE)
_MD5 = re.compile(r"[0-9a-fA-F]{32}")


class GdeltOptions(FileModel):
    """The feed file's ``options`` for a GDELT feed (unknown keys are errors)."""

    countries: list[str] = Field(default_factory=lambda: ["SY"], min_length=1)
    masterfile_url: str | None = None
    max_backfill_slots: int = Field(default=96, ge=1, le=10_000)
    verify_md5: bool = True

    @field_validator("countries")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return [c.strip().upper() for c in value]


@dataclass(frozen=True)
class ExportFile:
    """One ``<slot>.export.CSV.zip`` named by a file list."""

    slot: str  # YYYYMMDDHHMMSS, UTC
    url: str
    md5: str | None


def slot_time(slot: str) -> dt.datetime:
    """A slot stamp as an aware UTC datetime; ValueError if it is not one."""
    if not re.fullmatch(r"\d{14}", slot):
        raise ValueError(f"slot {slot!r} is not YYYYMMDDHHMMSS")
    return dt.datetime.strptime(slot, "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)


def parse_file_list(text: str, label: str, strict: bool) -> list[ExportFile]:
    """The export files of a ``lastupdate.txt`` / ``masterfilelist.txt``.

    ``strict`` (lastupdate, three lines) makes any line not ``<size> <md5> <url>`` a SourceError:
    an HTML error page or a truncated reply must not pass as "nothing new". The master list
    (hundreds of thousands of lines, a few historically odd) skips such lines instead."""
    exports = []
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 3 or not parts[0].isdigit() or not _MD5.fullmatch(parts[1]):
            if strict:
                raise SourceError(f"{label} line {number} is not '<size> <md5> <url>': "
                                  f"{line[:80]!r}")
            continue
        match = _EXPORT.search(parts[2])
        if not match:
            continue
        try:
            slot_time(match.group(1))
        except ValueError:
            if strict:
                raise SourceError(f"{label} line {number}: {match.group(1)} is not a "
                                  "YYYYMMDDHHMMSS time") from None
            continue
        exports.append(ExportFile(match.group(1), parts[2], parts[1].lower()))
    return exports


def to_report(fields: dict[str, str], feed: str, reliability: str | None = None) -> dict[str, Any]:
    """One GDELT event row (column name → text) as a raw incident report.

    ValueError when SQLDATE or the coordinates are not what the codebook says."""
    code = fields["EventCode"].strip()
    label, event_type, platform = CAMEO_19.get(code, ("Fight", "attack", None))
    try:
        # strptime alone takes "2016091" as 2016-09-01: insist on eight digits
        if not re.fullmatch(r"\d{8}", fields["SQLDATE"].strip()):
            raise ValueError
        day = dt.datetime.strptime(fields["SQLDATE"].strip(), "%Y%m%d").date()
    except ValueError:
        raise ValueError(f"SQLDATE {fields['SQLDATE']!r} is not YYYYMMDD") from None
    actor1, actor2 = fields["Actor1Name"].strip(), fields["Actor2Name"].strip()
    place = fields["ActionGeo_FullName"].strip()
    report: dict[str, Any] = {
        "feed": feed,
        "source_id": fields["GLOBALEVENTID"].strip(),
        "revision": "1",
        "occurred": day.isoformat(),
        "attacker": [actor1] if actor1 else [],
        "target": [actor2] if actor2 else [],
        "event_type": event_type,
    }
    if platform:
        report["platform"] = platform
    lat, lon = fields["ActionGeo_Lat"].strip(), fields["ActionGeo_Long"].strip()
    if lat and lon:
        try:
            latlon = float(lat), float(lon)
        except ValueError:
            raise ValueError(f"ActionGeo_Lat/Long {lat!r}, {lon!r} are not numbers") from None
        report["location"] = {
            "lat": latlon[0], "lon": latlon[1],
            "precision": GEO_PRECISION.get(fields["ActionGeo_Type"].strip(), 6),
            "place": place or None,
        }
    # Only CAMEO's own words: platform or target words added here would be read by the
    # classifier as if a reporter had written them.
    notes = f"CAMEO {code} {label}: {actor1 or '?'} → {actor2 or '?'}"
    report["notes"] = f"{notes} at {place}" if place else notes
    url = fields["SOURCEURL"].strip()
    report["sources"] = [url] if url else []
    if reliability:
        report["reliability"] = reliability
    return report


class _Guarded(io.RawIOBase):
    """A zip member's bytes, every error of opening or reading them a BadZipFile. On a corrupt
    or unusual archive zipfile raises whatever its decompressors raise: RuntimeError (an
    encrypted member), NotImplementedError (a compression method it lacks), lzma.LZMAError,
    ValueError, IndexError ..., each of which would otherwise end the poll."""

    def __init__(self, archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
        super().__init__()
        self._raw: Any = None
        try:
            self._raw = archive.open(member)
        except Exception as exc:
            raise zipfile.BadZipFile(f"{type(exc).__name__}: {exc}") from exc

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._raw.read(len(buffer))
        except Exception as exc:
            raise zipfile.BadZipFile(f"{type(exc).__name__}: {exc}") from exc
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
        super().close()


class GdeltAdapter:
    """Polls GDELT 2.0's ``lastupdate.txt``; backfills missed slots from the master list."""

    def __init__(self, spec: FeedSpec, base: Path) -> None:
        self.spec = spec
        self.base = base
        self.options = GdeltOptions.model_validate(spec.options)
        self.masterfile_url = self.options.masterfile_url or self._resolve("masterfilelist.txt")

    def _resolve(self, ref: str) -> str:
        """``ref`` relative to the source (a URL or a path relative to the feeds folder)."""
        if ref.startswith(("http://", "https://")) or PurePosixPath(ref).is_absolute():
            return ref
        if self.spec.is_url:
            return urljoin(self.spec.source, ref)
        return str(PurePosixPath(self.spec.source).parent / ref)

    def _read_list(self, fetch: Fetcher, source: str, strict: bool) -> list[ExportFile]:
        label = PurePosixPath(urlsplit(source).path).name or source
        try:
            text = fetch.read_bytes(source).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(f"{label} is not text ({exc.reason} at byte {exc.start})") from exc
        exports = parse_file_list(text, label, strict)
        return [ExportFile(e.slot, self._resolve(e.url), e.md5) for e in exports]

    def newest(self, fetch: Fetcher) -> ExportFile:
        """The newest export ``lastupdate.txt`` names; SourceError if it names none."""
        exports = self._read_list(fetch, self.spec.source, strict=True)
        if not exports:
            raise SourceError("lastupdate.txt has no export.CSV.zip line ('<size> <md5> <url>')")
        return max(exports, key=lambda e: e.slot)

    def plan(self, cursor: dict[str, Any], fetch: Fetcher) -> tuple[ExportFile, list[ExportFile]]:
        """The newest export and the exports to read now, oldest first."""
        newest = self.newest(fetch)
        last = cursor.get("slot")
        partial = cursor.get("partial") or {}
        if last is None and partial.get("slot"):
            # first run stopped inside its slot: start again at that slot
            last = (slot_time(partial["slot"]) - STEP).strftime("%Y%m%d%H%M%S")
        if last is None:
            return newest, [newest]
        last = str(last)
        slot_time(last)  # a corrupt cursor is a bug, not a source failure: ValueError
        if last >= newest.slot:
            return newest, []
        if slot_time(newest.slot) - slot_time(last) <= STEP:
            return newest, [newest]
        listed = self._read_list(fetch, self.masterfile_url, strict=False)
        if not listed:
            raise SourceError(f"{self.masterfile_url} lists no export files")
        missed = {e.slot: e for e in listed if last < e.slot <= newest.slot}
        missed.setdefault(newest.slot, newest)  # the master list may lag lastupdate.txt
        todo = [missed[s] for s in sorted(missed)]
        return newest, todo[: self.options.max_backfill_slots]

    def batches(self, cursor: dict[str, Any], fetch: Fetcher) -> Iterator[Batch]:
        """One batch per slot (or per 500 rows), oldest slot first; nothing when up to date."""
        newest, todo = self.plan(cursor, fetch)
        previous: str | None = cursor.get("slot")
        partial = cursor.get("partial") or {}
        for export in todo:
            skip = int(partial.get("line", 0)) if partial.get("slot") == export.slot else 0
            lag = (slot_time(newest.slot) - slot_time(export.slot)).total_seconds()
            yield from self._slot_batches(export, fetch, previous, skip, lag)
            previous = export.slot

    def _open(self, export: ExportFile, data: bytes,
              name: str) -> tuple[zipfile.ZipFile, zipfile.ZipInfo]:
        """The zip and its CSV member, checked against the md5 and the size limit."""
        if self.options.verify_md5 and export.md5:
            digest = hashlib.md5(data).hexdigest()
            if digest != export.md5:
                raise SourceError(f"{name}: md5 {digest} is not the listed {export.md5} "
                                  "(a file being replaced, or not GDELT's); retry later")
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = [i for i in archive.infolist() if not i.is_dir()]
        # a corrupt central directory also raises ValueError ("negative seek value")
        # and IndexError (a member with an empty name); only zipfile
        # runs in this block
        except Exception as exc:
            raise SourceError(f"{name}: not a readable zip archive ({exc})") from exc
        csvs = [i for i in members if i.filename.lower().endswith(".csv")] or members
        if not csvs:
            raise SourceError(f"{name}: the zip archive is empty")
        # ZipExtFile stops at the declared size, so checking it bounds a zip bomb
        if csvs[0].file_size > self.spec.max_bytes:
            raise SourceError(f"{name}: {csvs[0].filename} unpacks to {csvs[0].file_size} bytes, "
                              f"over the feed's max_bytes ({self.spec.max_bytes}); refused")
        return archive, csvs[0]

    def _slot_batches(self, export: ExportFile, fetch: Fetcher, previous: str | None,
                      skip: int, lag: float) -> Iterator[Batch]:
        name = PurePosixPath(urlsplit(export.url).path).name
        archive, member = self._open(export, fetch.read_bytes(export.url), name)
        done = {"slot": previous} if previous else {}
        items: list[Any] = []
        try:
            with archive, io.BufferedReader(_Guarded(archive, member)) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")
                reader = csv.reader(text, delimiter="\t", quoting=csv.QUOTE_NONE)
                for row in reader:
                    line = reader.line_num
                    if line <= skip or not row:
                        continue
                    item = self._row(row, name, line)
                    if item is None:
                        continue
                    items.append(item)
                    if len(items) >= BATCH_ROWS:
                        cursor = {**done, "partial": {"slot": export.slot, "line": line}}
                        yield Batch(items=items, cursor=cursor, source_lag_seconds=lag)
                        items = []
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, csv.Error) as exc:
            raise SourceError(f"{name}: unreadable ({exc})") from exc
        yield Batch(items=items, cursor={"slot": export.slot}, source_lag_seconds=lag)

    def _row(self, row: Sequence[str], name: str,
             line: int) -> tuple[str, dict[str, Any]] | Rejection | None:
        """A kept row as ``(where, report)``, a Rejection, or None for a row filtered out."""
        where = f"{name} line {line}"
        if len(row) != len(COLUMNS):
            return Rejection(where, f"{len(row)} tab-separated columns, expected "
                             f"{len(COLUMNS)} (GDELT 2.0 Events export)")
        if row[_COL["EventRootCode"]].strip() != "19":
            return None
        if row[_COL["ActionGeo_CountryCode"]].strip().upper() not in self.options.countries:
            return None
        try:
            return where, to_report(dict(zip(COLUMNS, row)), self.spec.name,
                                    self.spec.reliability)
        except ValueError as exc:
            return Rejection(where, str(exc))
