"""Stored compressed: a report's ``body`` and an incident's ``resolution``, with a dictionary
trained on the feed's own first reports (zstd).

Most of what a ledger stores is these two columns, and most of each repeats what other reports
of the same feed say: the same keys, actor names, places, the same headline given to every
event of an article. Compressed one row at a time they shrink little (zlib: 522 -> 349 bytes a
body); with a dictionary of what the feed's reports say, to about a quarter (measured on UCDP's
2016 file, dictionaries from its first 1,000 reports: bodies 660 -> 175 bytes as stored, in
base64, resolutions 325 -> 94; ~2 µs a value to compress and ~1 to read).

**The contract.** A feed's first :data:`TRAIN_AT` reports are stored as they are (canonical
JSON). The batch after that trains one dictionary a column from them (``zstandard``'s
``train_dictionary``, :data:`DICTIONARY_BYTES`, deterministic for the same samples) and
appends it to the chained table ``dictionaries`` (``feed``, ``stored_in`` =
``reports.body`` or ``incidents.resolution``, ``samples``, ``dictionary``: its bytes in
base64); from then on the feed's values of that column are stored as a JSON *string*,
``"zstd:SEQ:BASE64"``: the zstd frame of the value's canonical JSON, compressed with the
dictionary of entry ``SEQ``. A body or a resolution is otherwise always a JSON object, so a
string can only be this. The chain hashes what is stored, the frame and the dictionary both: an
edit of either is named by ``monitor ledger verify`` as any other.

**Reading.** Every reader through the ledger's Python interface gets the value whole
(:meth:`Unpacker.value`); SQL gets it through the function ``ledger_json(column)`` (the JSON
text whole; anything else as it is), which the ledger registers on its connections (``monitor
query``) and ``monitor serve`` on Datasette's, and which the views ``incidents_resolved``,
``findings_explained`` and ``reports_received`` use. A feed that never reaches
:data:`TRAIN_AT` reports (hand entry, a small file) is stored as before, and read by any SQLite.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .chain import CanonicalJSON, Chain
from .schema import PACKED

if TYPE_CHECKING:  # imported when a packed value is first met: a read of a small ledger never
    import zstandard  # needs it (~10 ms)

TRAIN_AT = 1_000  # a feed's reports stored as they are, and its dictionaries' samples
DICTIONARY_BYTES = 16_384  # a dictionary's size (32 KiB: ~5 % smaller values, measured)
LEVEL = 3  # zstd's level: 9 saves ~5 % more at five times the time
PREFIX = "zstd:"
# table (of schema.PACKED) -> the SQL that reads the feed's first TRAIN_AT values of its column:
# their seqs from the index of (feed, source_id), which holds them, then those rows alone (a
# ledger written before packing may hold a million reports of the feed)
_FIRST = "(SELECT seq FROM reports WHERE feed = ? ORDER BY seq LIMIT ?)"
_SAMPLES_SQL = {
    "reports": f"SELECT body FROM reports WHERE seq IN {_FIRST} ORDER BY seq",
    "incidents": "SELECT i.resolution FROM reports r JOIN incidents i USING (report_key) "
                 f"WHERE r.seq IN {_FIRST} ORDER BY r.seq",
}


def is_packed(text: Any) -> bool:
    """Whether a stored column's text is a packed value (a JSON string ``"zstd:..."``)."""
    return isinstance(text, str) and text.startswith("\"" + PREFIX)


class Unpacker:
    """Packed values put back, reading the dictionaries they name through ``conn`` (each
    once: a dictionary entry never changes)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._readers: dict[int, zstandard.ZstdDecompressor] = {}

    def text(self, packed: str) -> str:
        """The canonical JSON a packed value (``zstd:SEQ:BASE64``, its JSON quotes off)
        stands for."""
        _, seq_text, data = packed.split(":", 2)
        seq = int(seq_text)
        reader = self._readers.get(seq)
        if reader is None:
            import zstandard

            found = self._conn.execute("SELECT dictionary FROM dictionaries WHERE seq = ?",
                                         [seq]).fetchone()
            if found is None:
                raise ValueError(f"a value packed with dictionary {seq}, which the ledger does "
                                 "not hold (`monitor ledger verify` says what changed)")
            reader = self._readers[seq] = zstandard.ZstdDecompressor(
                dict_data=zstandard.ZstdCompressionDict(base64.b64decode(found[0])))
        return reader.decompress(base64.b64decode(data)).decode()

    def value(self, stored: Any) -> Any:
        """A JSON column's decoded value, whole: a packed one (a str) unpacked."""
        if type(stored) is str and stored.startswith(PREFIX):
            return json.loads(self.text(stored))
        return stored

    def sql(self, stored: Any) -> Any:
        """``ledger_json(column)`` in SQL: a packed value's JSON text, anything else as it is."""
        if is_packed(stored):
            return self.text(stored[1:-1])
        return stored


def register(conn: sqlite3.Connection) -> Unpacker:
    """Register ``ledger_json`` on ``conn``, reading the dictionaries through it."""
    unpacker = Unpacker(conn)
    conn.create_function("ledger_json", 1, unpacker.sql, deterministic=True)
    return unpacker


class Packing(Chain):
    """Writing packed values: :meth:`pack_batch`; and ``ledger_json`` on the connection, which
    the reads put packed values back with (``LedgerBase._unpacker``)."""

    def __init__(self, conn: sqlite3.Connection, *args: Any, **kwargs: Any) -> None:
        super().__init__(conn, *args, **kwargs)
        self._unpacker = register(conn)
        # (table, feed) -> seq of its dictionary and the compressor using it
        self._packers: dict[tuple[str, str], tuple[int, zstandard.ZstdCompressor]] = {}
        self._untrainable: set[tuple[str, str]] = set()  # samples zstd could not learn from

    def pack_batch(self, values: Sequence[tuple[str, str, str]]) -> list[list[str]]:
        """Inside a transaction, for a batch of new reports, each ``(feed, body,
        resolution)`` (canonical JSON): each one's body and resolution as stored, in order.
        A feed's first :data:`TRAIN_AT` reports are stored as they are; the batch that brings
        it past them trains its dictionaries from them (appended now, ahead of the batch's
        rows), and packs every later value. Which values are packed, and with what
        dictionary, depends on the feed's reports alone, not on how they were split into
        batches (a dictionary's seq, where that batch began, does)."""
        out: list[list[str]] = [[CanonicalJSON(body), CanonicalJSON(resolution)]
                                for _, body, resolution in values]
        if "dictionaries" not in self._tables:
            return out  # a file not migrated: read-only
        by_feed: dict[str, list[int]] = {}
        for i, (feed, _, _) in enumerate(values):
            by_feed.setdefault(feed, []).append(i)
        for feed, at in by_feed.items():
            for column, table in enumerate(PACKED):  # reports (the body), then incidents
                packer, first = self._packer(table, feed, [values[i][1 + column] for i in at])
                if packer is not None:
                    seq, compressor = packer
                    for i in at[first:]:
                        frame = compressor.compress(values[i][1 + column].encode())
                        out[i][column] = CanonicalJSON(
                            f'"{PREFIX}{seq}:{base64.b64encode(frame).decode()}"')
        return out

    def _packer(self, table: str, feed: str, batch: list[str]
                ) -> tuple[tuple[int, zstandard.ZstdCompressor] | None, int]:
        """The feed's packer for ``table``, and the first of ``batch`` (its values) it packs:
        found, trained now, or none yet."""
        key, stored_in = (table, feed), f"{table}.{PACKED[table]}"
        if key in self._packers:
            return self._packers[key], 0
        if key in self._untrainable:
            return None, 0
        found = self._conn.execute(
            "SELECT seq, dictionary FROM dictionaries WHERE feed = ? AND stored_in = ? "
            "ORDER BY seq LIMIT 1", [feed, stored_in]).fetchone()
        first = 0
        if found is None:
            samples = [text for (text,) in self._conn.execute(_SAMPLES_SQL[table],
                                                              [feed, TRAIN_AT])]
            first = max(TRAIN_AT - len(samples), 0)
            if first >= len(batch):
                return None, 0  # stored as they are until the feed has more
            samples += batch[:first]
            found = self._train(feed, stored_in, samples)
            if found is None:
                self._untrainable.add(key)
                return None, 0
        self._packers[key] = (found[0], _compressor(found[1]))
        return self._packers[key], first

    def _train(self, feed: str, stored_in: str, samples: list[str]) -> tuple[int, str] | None:
        import zstandard

        try:
            data = zstandard.train_dictionary(DICTIONARY_BYTES, [s.encode() for s in samples])
        except zstandard.ZstdError:  # samples too few, too small or too alike to learn from
            return None
        encoded = base64.b64encode(data.as_bytes()).decode()
        seq = self.add("dictionaries", {"feed": feed, "stored_in": stored_in,
                                        "samples": len(samples), "dictionary": encoded})[0]
        return seq, encoded

    def _rolled_back(self, head: int) -> None:
        # a dictionary appended after ``head`` is gone with the rows it packed
        self._packers = {k: v for k, v in self._packers.items() if v[0] <= head}
        super()._rolled_back(head)


def _compressor(encoded: str) -> zstandard.ZstdCompressor:
    import zstandard

    return zstandard.ZstdCompressor(
        level=LEVEL, dict_data=zstandard.ZstdCompressionDict(base64.b64decode(encoded)),
        write_checksum=False, write_content_size=True, write_dict_id=False)
