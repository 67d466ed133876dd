"""What a ledger's bytes would be in leaner formats: the measure behind the ledger target.

Each variant is a copy of a real ledger with its chained tables rebuilt (``CREATE TABLE ... AS
SELECT``) and the copy VACUUMed; none of them is a format the monitor writes or can read.
Cumulative unless said otherwise::

    python bench/ledger_formats.py LEDGER CSV [--workdir DIR]

prints, for each variant, its bytes and their ratio to the CSV the ledger was imported from:

- **as stored**: the ledger itself, VACUUMed;
- **lean chain**: each entry's hash as its 32 bytes rather than 64 hex characters, no
  ``prev_hash`` (it is the previous entry's hash), the time as integer microseconds;
  verify could still check every entry;
- **a root per batch**: no hash or time per entry at all (a Merkle root and a time per
  committed batch, whose few rows are left out);
- **packed as bytes**: a packed body or resolution as its zstd frame, not base64 text;
- **incident columns derived** (beside the line, from *packed as bytes*): an incident row
  keeps its ids and the columns its indexes read, and its resolution is stored whole (packed
  with a dictionary trained on whole resolutions) so the other columns can be derived from it;
- **no query-only indexes** (from *packed as bytes*): without ``schema.INDEXES_AT_END``,
  which the queries, Datasette, revisions, retractions, corroboration with another feed and
  the patterns read;
- **evidence alone**: the reports, incidents and findings tables of *packed as bytes*, no
  other table and no index.
"""

from __future__ import annotations

import argparse
import base64
import datetime
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from monitor.ledger import packing
from monitor.ledger.schema import INDEXES_AT_END, quote

if TYPE_CHECKING:
    import zstandard

# (table, column) -> the SQL expression a variant stores instead; None leaves the column out
Change = Callable[[str, str], "str | None"]
CHAIN = ("prev_hash", "hash", "recorded_at")
PACKED_COLUMNS = {("reports", "body"), ("incidents", "resolution")}
EVIDENCE = ("reports", "incidents", "findings")
# what an incident row keeps when its other columns are derived from its resolution: its ids
# and what the indexes of corroboration and the patterns read
INCIDENT_KEPT = {"seq", "incident_id", "report_key", "occurred_start", "occurred_end", "lat",
                 "admin1", "resolution"}


@dataclass(frozen=True)
class Variant:
    name: str
    bytes: int


def _micros(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text).timestamp() * 1e6)


def _frame(stored: object) -> object:
    """A packed value (``"zstd:SEQ:BASE64"``) as its dictionary's seq (4 bytes) and frame."""
    if packing.is_packed(stored):
        _, seq, data = str(stored)[1:-1].split(":", 2)
        return int(seq).to_bytes(4, "big") + base64.b64decode(data)
    return stored


def lean_chain(table: str, column: str) -> str | None:
    return {"prev_hash": None, "hash": "hexbytes(hash)",
            "recorded_at": "micros(recorded_at)"}.get(column, quote(column))


def root_per_batch(table: str, column: str) -> str | None:
    return None if column in CHAIN else quote(column)


def packed_as_bytes(table: str, column: str) -> str | None:
    if (table, column) in PACKED_COLUMNS:
        return f"frame({quote(column)})"
    return root_per_batch(table, column)


def incident_columns_derived(table: str, column: str) -> str | None:
    if table != "incidents":
        return packed_as_bytes(table, column)
    if column == "resolution":
        return "whole_resolution(report_key)"
    return packed_as_bytes(table, column) if column in INCIDENT_KEPT else None


class Ledger:
    """The source ledger, read once: its chained tables and what the variants need of it."""

    def __init__(self, path: Path) -> None:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        self.chained = [name for (name,) in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE "
            "'%prev_hash TEXT NOT NULL%' ORDER BY name")]
        self._conn = conn
        self._whole: dict[str, bytes | str] | None = None
        self.dictionaries: dict[int, zstandard.ZstdCompressionDict] = {}

    def whole_resolutions(self) -> dict[str, bytes | str]:
        """Each incident's whole resolution (``incidents_resolved``), where its stored value is
        packed, as bytes (the seq of the feed's resolution dictionary, 4 bytes, and the
        frame) with a dictionary trained, as :mod:`monitor.ledger.packing` trains one, on the
        whole resolutions of the feed's first reports; else as its text. The dictionaries are
        then in :attr:`dictionaries`, by that seq."""
        if self._whole is None:
            import zstandard

            packing.register(self._conn)
            by_feed: dict[str, list[tuple[str, object, str]]] = {}
            for feed, key, stored, text in self._conn.execute(
                    "SELECT r.feed, i.report_key, i.resolution, v.resolution FROM reports r "
                    "JOIN incidents i USING (report_key) JOIN incidents_resolved v ON v.seq = "
                    "i.seq ORDER BY r.seq"):
                by_feed.setdefault(feed, []).append((key, _frame(stored), text))
            whole: dict[str, bytes | str] = {}
            for rows in by_feed.values():
                framed = [row for row in rows if isinstance(row[1], bytes)]
                if framed:
                    samples = [text.encode() for _, _, text in rows[:packing.TRAIN_AT]]
                    data = zstandard.train_dictionary(packing.DICTIONARY_BYTES, samples)
                    seq = framed[0][1][:4]
                    self.dictionaries[int.from_bytes(seq, "big")] = data
                    compressor = packing._compressor(base64.b64encode(data.as_bytes()).decode())
                for key, frame, text in rows:
                    whole[key] = (seq + compressor.compress(text.encode())
                                  if isinstance(frame, bytes) else text)
            self._whole = whole
        return self._whole


def vacuumed_copy(source: Path, out: Path) -> int:
    """``source`` VACUUMed INTO ``out``; its bytes."""
    out.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as conn:
        conn.execute("VACUUM INTO ?", [str(out)])
    return out.stat().st_size


def rebuilt(ledger: Ledger, base: Path, out: Path, change: Change, *,
            drop_indexes: Iterable[str] = (), only: Iterable[str] | None = None) -> int:
    """A copy of ``base`` (a VACUUMed ledger) with each chained table rebuilt through
    ``change``, its unique keys and indexes made again where their columns are kept (less
    ``drop_indexes``), views and triggers dropped; with ``only``, every other table dropped
    and no index made. Its bytes, VACUUMed."""
    shutil.copyfile(base, out)
    conn = sqlite3.connect(out)
    conn.create_function("hexbytes", 1, bytes.fromhex, deterministic=True)
    conn.create_function("micros", 1, _micros, deterministic=True)
    conn.create_function("frame", 1, _frame, deterministic=True)
    # (the whole resolutions are read from the ledger when a variant first asks for one)
    conn.create_function("whole_resolution", 1, lambda key: ledger.whole_resolutions()[key],
                         deterministic=True)
    for kind, name in conn.execute(
            "SELECT type, name FROM sqlite_schema WHERE type IN ('view', 'trigger')").fetchall():
        conn.execute(f"DROP {kind.upper()} {quote(name)}")
    indexes = conn.execute("SELECT name, tbl_name, sql FROM sqlite_schema WHERE type = 'index' "
                           "AND sql IS NOT NULL").fetchall()
    keep = set(only) if only is not None else None
    if keep is not None:
        for (table,) in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table' AND "
                                     "name NOT LIKE 'sqlite_%'").fetchall():
            if table not in keep:
                conn.execute(f"DROP TABLE {quote(table)}")
    for table in (t for t in ledger.chained if keep is None or t in keep):
        unique = [[c[2] for c in conn.execute(f"PRAGMA index_info({quote(index[1])})")]
                  for index in conn.execute(f"PRAGMA index_list({quote(table)})")
                  if index[3] == "u"]
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({quote(table)})")]
        kept = {c: e for c in columns if (e := change(table, c)) is not None}
        conn.execute(f"CREATE TABLE {quote(table + '_v')} AS SELECT " + ", ".join(
            f"{e} AS {quote(c)}" for c, e in kept.items()) + f" FROM {quote(table)} ORDER BY seq")
        conn.execute(f"DROP TABLE {quote(table)}")
        conn.execute(f"ALTER TABLE {quote(table + '_v')} RENAME TO {quote(table)}")
        if keep is None:
            for cols in unique:
                if set(cols) <= kept.keys():
                    conn.execute(f"CREATE UNIQUE INDEX {quote('u_' + table + '_' + '_'.join(cols))}"
                                 f" ON {quote(table)} ({', '.join(map(quote, cols))})")
    if keep is None:
        dropped = set(drop_indexes)
        for name, table, sql in indexes:
            if table in ledger.chained and name not in dropped:
                try:
                    conn.execute(sql)
                except sqlite3.OperationalError:  # a column it reads is not kept
                    pass
            elif name in dropped:
                conn.execute(f"DROP INDEX IF EXISTS {quote(name)}")
    conn.commit()
    conn.execute("VACUUM")
    conn.close()
    return out.stat().st_size


def measure(ledger_path: Path, workdir: Path) -> list[Variant]:
    """Every variant of the module's docstring, in its order."""
    ledger = Ledger(ledger_path)
    base = workdir / "as_stored.db"
    variants = [Variant("as stored", vacuumed_copy(ledger_path, base))]
    for name, change, extra in (
            ("lean chain", lean_chain, {}),
            ("a root per batch", root_per_batch, {}),
            ("packed as bytes", packed_as_bytes, {}),
            ("incident columns derived", incident_columns_derived, {}),
            ("no query-only indexes", packed_as_bytes, {"drop_indexes": INDEXES_AT_END}),
            ("evidence alone", packed_as_bytes, {"only": EVIDENCE})):
        out = workdir / (name.replace(" ", "_").replace("-", "_") + ".db")
        variants.append(Variant(name, rebuilt(ledger, base, out, change, **extra)))
        out.unlink()
    base.unlink()
    return variants


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ledger", type=Path)
    parser.add_argument("csv", type=Path, help="the file the ledger was imported from")
    parser.add_argument("--workdir", type=Path, help="for the copies (default: a temporary one)")
    args = parser.parse_args(argv)
    csv_bytes = args.csv.stat().st_size
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        variants = measure(args.ledger, Path(tmp))
    print(f"{args.csv.name}: {csv_bytes:,} bytes\n")
    print("| variant | MiB | × the CSV |\n|---|---:|---:|")
    for v in variants:
        print(f"| {v.name} | {v.bytes / 2**20:.1f} | {v.bytes / csv_bytes:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
