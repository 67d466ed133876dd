"""Verification: recompute the whole chain and name its first problem (at most one).

A ledger file is read through a read-only connection of its own (:func:`_reader`), so writers
are not held up. From :data:`PARALLEL_VERIFY_MIN` entries it is checked in two parts at once,
the upper one by a second process, and the parts are stitched at the boundary: the result is
the one a single pass gives. Where sqlean.py is installed, the lower part is checked by a
process of its own too, with sqlean's SQLite (faster than the standard library's, which this
process must read with, :func:`_sqlite_module`), while this one waits.

A further check (the ledger's derived tables) runs after a part of the chain, through the
snapshot that part was checked in: in the second process, with its SQLite, when there is
one; else in this process, after the chain. In sequence, not in a thread beside it: two
threads of one process sharing SQLite and the GIL took 3.4 and 3.9 s for what each does in 2
alone. Its cost moves the boundary, so that both processes end together (:func:`_boundary`).

Fast path: SQLite assembles each entry's canonical form with ``json_object`` (keys given in
sorted order; its strings are escaped as json.dumps escapes them; a REAL is written by
json_quote when that round-trips, else by canonical_json), Python only hashes. A chunk of
entries comes back from one query as a few values (the payloads joined, their lengths, the
seqs, hashes and prev_hashes as text), compared at once with what an intact chain gives
(:func:`_fast_chunk`); a chunk that differs is checked again row by row, and a row this does
not reproduce is re-checked with :func:`~.chain.entry_hash` (the contract): SQLite can make
verify slower, never wrong.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any

from .base import READER_MMAP, read_only_uri
from .chain import GENESIS_HASH, canonical_json, entry_hash
from .schema import ChainedTable, quote, read_tables

# A ledger of this many entries is split between two processes (a second process costs about
# 0.1 s to start; 100,000 entries take about half a second).
PARALLEL_VERIFY_MIN = 100_000
# What starting the second process costs (~0.1 s), in entries checked meanwhile: this process
# takes that many more.
_START_ENTRIES = 20_000
# What an entry costs the second process, in entries of this one, when it reads with sqlean's
# SQLite (:func:`_sqlite_module`), and what ``then`` (the derived tables' check) costs there:
# measured on the bench's million findings on the AMD machine of bench/RESULTS.md, 4.68 µs an
# entry there against 5.36 here (the standard library's SQLite 3.40), and ~1.0 s either way
# (it compares rows, no JSON). Guesses that move only where the chain is split.
_SQLEAN_COST = 0.87
_SQLEAN_THEN_COST = 1.0
# The second process runs ``then`` only if it is a function of one of these modules' top level.
_THEN_MODULES = ("monitor.",)
_VERIFY_CHUNK = 2048  # rows checked at once, row by row
_FAST_CHUNK = 2048  # entries checked by one query of the fast path
_DOES_NOT_FOLLOW = ("does not follow entry seq {n}: its prev_hash is not that entry's hash "
                    "(rows reordered, renumbered or rewritten?)")


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :meth:`Ledger.verify`: ``entries`` found intact before the first ``problem``
    (at ``table``, ``seq``); ``head_hash``, kept elsewhere, would reveal a cut-off tail."""

    ok: bool
    entries: int
    problem: str | None = None
    table: str | None = None
    seq: int | None = None
    head_hash: str | None = None


@dataclass(frozen=True)
class _Span:
    """What checking a range of entries found: the last sound entry (``n``, ``last_hash``), the
    first problem, and ``first``: (seq, table, prev_hash) of the range's first row when it
    was checked without the hash before it."""

    ok: bool
    n: int
    last_hash: str | None
    problem: str | None = None
    table: str | None = None
    seq: int | None = None
    first: tuple[int, str, str] | None = None

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> _Span:
        first = fields.pop("first")
        return cls(**fields, first=tuple(first) if first else None)  # type: ignore[arg-type]

    def result(self) -> VerifyResult:
        if self.ok:
            return VerifyResult(True, self.n, head_hash=self.last_hash)
        return VerifyResult(False, self.n, self.problem, self.table, self.seq, self.last_hash)


def verify_file(path: Path, tables: Sequence[ChainedTable],
                then: Callable[[Any], Any] | None = None,
                then_entries: int = 0) -> tuple[VerifyResult, Any]:
    """Verify the ledger file at ``path``, whose chained tables are ``tables``, through a
    read-only connection of its own; then, when the chain holds, ``then(conn)``, whose
    result comes second (None when the chain does not hold, or without ``then``).
    ``then_entries``: what ``then`` costs, in entries of the chain checked in the same time.

    ``then`` runs through a snapshot in which part of the chain was checked: this
    connection's, after the whole chain, or, when a second process checks the upper part
    and ``then`` is a function of a module of the package (:func:`_importable`), that
    process's, after its part, with its SQLite (its result must then be JSON). Each
    snapshot holds every entry up to the head this one read, as they were when it began."""
    conn = _reader(path)
    try:
        conn.execute("BEGIN")  # one snapshot across all the tables, from the first read
        return _verify(conn, path, tables, then or (lambda _: None), then_entries)
    finally:
        conn.close()


def verify_through(conn: Any, tables: Sequence[ChainedTable]) -> VerifyResult:
    """Verify through ``conn`` itself, in one pass: for a connection inside a transaction,
    whose rows no other connection can see yet."""
    conn.execute("SAVEPOINT ledger_verify")  # one snapshot of every table
    try:
        return check_span(conn, tables, None, None, 0, GENESIS_HASH).result()
    finally:
        conn.execute("RELEASE ledger_verify")


def _boundary(head: int, then_entries: int, upper_cost: float = 1.0,
              then_there: float | None = None, apart: bool = False) -> int:
    """The last entry of the lower part when a second process checks the rest: both end
    together when the lower part (and ``then``, run here) takes as long as the other's start
    and part (and ``then``, when it runs there at ``then_there`` of its cost here), an entry
    of the upper part costing ``upper_cost`` of one here (:func:`_upper_costs`). With
    ``apart`` the lower part has a process like the second one: its entries cost as much,
    and both start alike."""
    lower_cost, start = (upper_cost, 0) if apart else (1.0, _START_ENTRIES)
    then_here = then_entries if then_there is None else -then_entries * then_there
    return max(0, min(head, int((head * upper_cost + start - then_here)
                                // (lower_cost + upper_cost))))


def _upper_costs() -> tuple[float, float]:
    """What an entry, and ``then``, cost the second process, in what they cost this one:
    less when it reads with sqlean's SQLite (looked up, not imported: this process never
    loads it)."""
    if importlib.util.find_spec("sqlean") is None:
        return 1.0, 1.0
    return _SQLEAN_COST, _SQLEAN_THEN_COST


def _importable(then: Callable[[Any], Any]) -> str | None:
    """``then`` as ``module:name``, for the second process to run it, when it is a function
    of a module of the package's top level (its name leads back to it); else None."""
    module, name = getattr(then, "__module__", None), getattr(then, "__qualname__", "")
    if not isinstance(module, str) or not module.startswith(_THEN_MODULES) or not (
            name.isidentifier()) or getattr(sys.modules.get(module), name, None) is not then:
        return None
    return f"{module}:{name}"


def _verify(conn: Any, path: Path, tables: Sequence[ChainedTable], then: Callable[[Any], Any],
            then_entries: int) -> tuple[VerifyResult, Any]:
    head = _seq_range(conn, tables)[1] or 0
    # Rows above this snapshot's head (appended meanwhile) are left out.
    if head < PARALLEL_VERIFY_MIN:
        result = check_span(conn, tables, None, head, 0, GENESIS_HASH).result()
        return result, then(conn) if result.ok else None
    # The upper part (mid, head] in a second process, started first, and ``then`` after it
    # there when it can; the lower part here (and ``then`` after it, when it cannot), or, when
    # the second process reads with a faster SQLite than this one (sqlean's), in a third
    # process with that SQLite while this one waits.
    name = _importable(then)
    chain_cost, then_cost = _upper_costs()
    apart = chain_cost < 1
    mid = _boundary(head, then_entries, chain_cost, then_cost if name is not None else None,
                    apart)
    proc = _start_part(path, mid + 1, head, mid, name)
    below = _start_part(path, None, mid, 0, None, GENESIS_HASH) if apart and proc else None
    upper, found = None, _NOT_RUN
    try:
        done = _part_result(below) if below is not None else None
        lower = done[0] if done is not None else check_span(conn, tables, None, mid, 0,
                                                              GENESIS_HASH)
        if lower.ok and lower.n < mid:  # entries deleted up to mid: one pass names the first
            lower = _missing(lower)
        if not lower.ok:
            return lower.result(), None
        if name is None or proc is None:
            found = then(conn)
        done = _part_result(proc) if proc is not None else None
        if done is not None:
            upper, found = done[0], done[1] if done[1] is not _NOT_RUN else found
    finally:
        for started in (proc, below):
            if started is not None and started.poll() is None:
                started.kill()  # the lower part has the first problem: the rest is not needed
                started.wait()
    if upper is None:  # no second process here, or it failed: check the range here
        upper = check_span(conn, tables, mid + 1, head, mid, None)
    result = _stitch(conn, tables, lower, upper)
    if not result.ok:
        return result, None
    return result, then(conn) if found is _NOT_RUN else found


_NOT_RUN = object()  # ``then`` has not run (yet)


def _part_result(proc: subprocess.Popen[bytes]) -> tuple[_Span, Any] | None:
    """What a process of :func:`_start_part` found, once it ends: its span, and ``then``'s
    result where it ran it (else :data:`_NOT_RUN`); None if it failed."""
    out, _ = proc.communicate()
    if proc.returncode != 0:
        return None
    fields = json.loads(out)
    there = fields.pop("then", _NOT_RUN)
    return _Span.from_fields(fields), there


def _stitch(conn: Any, tables: Sequence[ChainedTable], lower: _Span,
            upper: _Span) -> VerifyResult:
    """The result of one pass, from a sound lower part and the upper part checked without
    knowing the hash before it."""
    first = upper.first
    if first is not None and first[2] != lower.last_hash:
        t = next(t for t in tables if t.name == first[1])
        return VerifyResult(False, lower.n, _row_problem(
            conn, t, first[0], _DOES_NOT_FOLLOW.format(n=lower.n)), t.name, first[0],
            lower.last_hash)
    if upper.last_hash is None:  # it failed at its first row
        upper = _Span(upper.ok, upper.n, lower.last_hash, upper.problem, upper.table,
                      upper.seq, None)
    return upper.result()


def chain_sql(tables: Sequence[ChainedTable], where: str = "") -> str:
    """One query over every chained table, rows merged by SQLite in (seq, table) order: seq,
    the table's index in ``tables``, prev_hash + the canonical form as bytes (the fast path),
    hash, prev_hash. ``where`` (e.g. `` WHERE seq >= ?``) applies to each table."""
    parts = []
    for i, t in enumerate(tables):
        floats = {c for c, kind in zip(t.own, t.kinds) if kind is float}
        args = []
        for k in sorted(["table", *t.columns[:3], *t.own]):
            value = (f"'{t.name}'" if k == "table" else quote(k) if k not in floats else
                     f"json(CASE WHEN CAST(json_quote({quote(k)}) AS REAL) = {quote(k)} THEN "
                     f"json_quote({quote(k)}) ELSE canonical_json({quote(k)}) END)")
            args.append(f"'{k}', {value}")
        parts.append(f"SELECT seq AS s, {i} AS i, CAST(prev_hash || json_object("
                     f"{', '.join(args)}) AS BLOB) AS p, hash AS h, prev_hash AS ph FROM "
                     f"{quote(t.name)}{where}")
    return " UNION ALL ".join(parts) + " ORDER BY 1, 2"


def check_span(conn: Any, tables: Sequence[ChainedTable], lo: int | None, hi: int | None,
               n: int, last_hash: str | None) -> _Span:
    """Check, reading through ``conn`` (a connection to a ledger file whose chained tables are
    ``tables``), the entries with seq in [lo, hi] (None: unbounded), the entry before them
    being seq ``n`` with hash ``last_hash`` (None: not known here; the first row's
    prev_hash is then returned in ``first`` for the caller to check).

    :data:`_FAST_CHUNK` entries at a time, each one query whose rows SQLite joins into a few
    values (:func:`_fast_chunk`); a chunk that is not exactly what an intact chain gives is
    checked again row by row (:func:`_check_range`), which names its first problem."""
    low, high = _seq_range(conn, tables)
    if lo is None and low is not None and low <= n:  # an entry numbered 0 or less: by rows
        return _check_range(conn, tables, lo, hi, n, last_hash, None)
    hi = high if hi is None else hi
    first, present, sqls = None, _present_sql(tables), dict[tuple[int, ...], str]()
    while hi is not None and n < hi:
        b = min(n + _FAST_CHUNK, hi)
        digest = None
        if last_hash is not None:
            # only the tables with entries in the chunk: SQLite merges no empty ones
            (flags,) = conn.execute(present, [n + 1, b]).fetchall()
            which = tuple(i for i, flag in enumerate(flags) if flag)
            if which and which not in sqls:
                sqls[which] = _fast_sql([tables[i] for i in which])
            if which:
                digest = _fast_chunk(conn, sqls[which], len(which), n, b, last_hash)
        if digest is not None:
            n, last_hash = b, digest
            continue
        span = _check_range(conn, tables, n + 1, b, n, last_hash, first)
        if not span.ok:
            return span
        if span.n == n:  # no entry in n+1..b: the rest row by row names the next one, if any
            return _check_range(conn, tables, n + 1, hi, n, last_hash, first)
        n, last_hash, first = span.n, span.last_hash, span.first
    return _Span(True, n, last_hash, first=first)


def _present_sql(tables: Sequence[ChainedTable]) -> str:
    """Whether each table has an entry with seq in [?1, ?2] (a seek in each seq index)."""
    return "SELECT " + ", ".join(f"EXISTS (SELECT 1 FROM {quote(t.name)} WHERE seq BETWEEN ?1 "
                                 "AND ?2)" for t in tables)


def _seq_range(conn: Any, tables: Sequence[ChainedTable]) -> tuple[int | None, int | None]:
    """The lowest and the highest seq of any entry (None, None: no entries)."""
    ends = [row for t in tables for row in conn.execute(  # each an end of the seq index
        f"SELECT (SELECT min(seq) FROM {quote(t.name)}), (SELECT max(seq) FROM "
        f"{quote(t.name)})") if row[0] is not None]
    if not ends:
        return None, None
    return min(e[0] for e in ends), max(e[1] for e in ends)


def _fast_sql(tables: Sequence[ChainedTable]) -> str:
    """One chunk of the chain (seq BETWEEN ? AND ?, each table) as one row: how many entries,
    how many hashes and prev_hashes (not NULL), the seqs in order (text), the payloads joined
    (a BLOB), their lengths, the hashes and the prev_hashes in order (text)."""
    return ("SELECT count(*), count(h), count(ph), group_concat(s), CAST(group_concat(p, '') AS "
            "BLOB), group_concat(length(p)), group_concat(h), group_concat(ph) FROM ("
            + chain_sql(tables, " WHERE seq BETWEEN ? AND ?") + ")")


_HEXDIGEST = type(hashlib.sha256()).hexdigest


def _fast_chunk(conn: Any, sql: str, parts: int, n: int, b: int, last_hash: str) -> str | None:
    """The hash of entry ``b`` when entries n+1..b are exactly what an intact chain gives
    after ``last_hash``: every seq once and in order, every payload's sha256 its hash, every
    prev_hash the hash before it. None when anything differs or SQLite refuses the chunk (the
    caller then checks it row by row)."""
    try:
        count, hashed, linked, seqs, joined, lengths, hashes, prevs = conn.execute(
            sql, [n + 1, b] * parts).fetchone()
    except Exception:  # noqa: BLE001 - a BLOB json_object refuses (sqlite3's or sqlean's error)
        return None
    k = b - n
    if not count == hashed == linked == k or seqs != ",".join(map(str, range(n + 1, b + 1))):
        return None
    ends = list(accumulate(map(int, lengths.split(","))))
    if len(ends) != k or ends[-1] != len(joined):
        return None
    view = memoryview(joined)
    digests = list(map(_HEXDIGEST, map(hashlib.sha256, map(view.__getitem__, map(
        slice, [0, *ends[:-1]], ends)))))
    # Each digest is 64 characters without a comma: equal texts are equal values, one by one
    # (count(hash) = k: no NULL was left out of the text).
    if ",".join(digests) != hashes or prevs != f"{last_hash},{hashes}"[:-65]:
        return None
    return digests[-1]


def _check_range(conn: Any, tables: Sequence[ChainedTable], lo: int | None, hi: int | None,
                 n: int, last_hash: str | None, first: tuple[int, str, str] | None) -> _Span:
    """:func:`check_span`'s verdict on the entries with seq in [lo, hi], row by row."""
    where = " WHERE " * (lo is not None or hi is not None) + " AND ".join(
        [*["seq >= ?"] * (lo is not None), *["seq <= ?"] * (hi is not None)])
    bounds = [b for b in (lo, hi) if b is not None]
    try:
        cursor = conn.execute(chain_sql(tables, where), bounds * len(tables))
        return _check_rows(conn, tables, cursor, n, last_hash, first)
    except Exception as exc:  # noqa: BLE001 - sqlite3's or sqlean's error: the module varies
        wrong = _wrong_type(conn, tables, where, bounds)
        if wrong is None:
            raise
        t, seq, column = wrong
        span = _Span(True, n, last_hash, first=first)
        if lo is None or seq > lo:  # the entries before it first: they may fail sooner
            span = _check_range(conn, tables, lo, seq - 1, n, last_hash, first)
            if not span.ok:
                return span
            if span.n < seq - 1:
                return _missing(span)
        return _Span(False, seq - 1, span.last_hash, _row_problem(
            conn, t, seq, f"was altered: {column} holds a BLOB, which no entry can hold "
            f"({exc})"), t.name, seq, span.first)


def _missing(span: _Span) -> _Span:
    """The verdict when the entry after the sound ``span`` is missing."""
    return _Span(False, span.n, span.last_hash, f"entry seq {span.n + 1} is missing (deleted?)",
                 None, span.n + 1, span.first)


def _check_rows(conn: Any, tables: Sequence[ChainedTable], cursor: Any, n: int,
                last_hash: str | None, first: tuple[int, str, str] | None = None) -> _Span:
    sha, last = hashlib.sha256, -1

    def fail(problem: str, table: str | None, seq: int) -> _Span:
        return _Span(False, n, last_hash, problem, table, seq, first)

    while rows := cursor.fetchmany(_VERIFY_CHUNK):
        seqs, index, payloads, stored, prevs = zip(*rows)
        # A whole chunk at once: consecutive seqs, every hash reproduced, each prev_hash
        # the hash before it. Else row by row, to name the first problem.
        if (seqs == tuple(range(n + 1, n + 1 + len(rows)))
                and prevs[0] == (prevs[0] if last_hash is None else last_hash)
                and prevs[1:] == stored[:-1]
                and [sha(p).hexdigest() for p in payloads] == list(stored)):
            if last_hash is None:
                first = (seqs[0], tables[index[0]].name, prevs[0])
            n, last_hash, last = seqs[-1], stored[-1], index[-1]
            continue
        for seq, i, payload, digest, prev in rows:
            if seq != n + 1:
                if seq <= n:
                    return fail(f"entry seq {seq} appears twice (in {tables[last].name} "
                                f"and {tables[i].name})", tables[i].name, seq)
                return fail(f"entry seq {n + 1} is missing (deleted?)", None, n + 1)
            if sha(payload).hexdigest() != digest and _altered(conn, tables[i], seq):
                problem = "was altered: its hash does not match its contents"
            elif last_hash is not None and prev != last_hash:
                problem = _DOES_NOT_FOLLOW.format(n=n)
            else:
                if last_hash is None:
                    first = (seq, tables[i].name, prev)
                last_hash, last, n = digest, i, seq
                continue
            t = tables[i]
            return fail(_row_problem(conn, t, seq, problem), t.name, seq)
    return _Span(True, n, last_hash, first=first)


def _wrong_type(conn: Any, tables: Sequence[ChainedTable], where: str,
                bounds: list[int]) -> tuple[ChainedTable, int, str] | None:
    """The first row (table, seq, column) holding a value no entry can hold (a BLOB: entries
    are text, numbers and JSON), which the fast path's json_object cannot read."""
    found = []
    for t in tables:
        test = " OR ".join(f"typeof({quote(c)}) = 'blob'" for c in t.columns)
        cond = f"{where} AND ({test})" if where else f" WHERE {test}"
        row = conn.execute(f"SELECT seq, * FROM {quote(t.name)}{cond} ORDER BY seq LIMIT 1",
                           bounds).fetchone()
        if row is not None:
            column = next(c for c, v in zip(t.columns, row[1:]) if isinstance(v, bytes))
            found.append((row[0], t, column))
    if not found:
        return None
    seq, t, column = min(found, key=lambda f: f[0])
    return t, seq, column


def _row_problem(conn: Any, t: ChainedTable, seq: int, problem: str) -> str:
    """``problem`` of row ``seq`` of ``t``, naming the row by its first own column."""
    (ident,) = conn.execute(f"SELECT {quote(t.own[0])} FROM {quote(t.name)} WHERE seq = ?",
                            [seq]).fetchone()
    return f"{t.name} row seq {seq} ({t.own[0]} {ident}) {problem}"


def _altered(conn: Any, t: ChainedTable, seq: int) -> bool:
    """Whether row ``seq`` of ``t`` fails the contract: its hash is not the one
    :func:`~.chain.entry_hash` gives for its contents."""
    row = conn.execute(f"SELECT * FROM {quote(t.name)} WHERE seq = ?", [seq]).fetchone()
    return bool(entry_hash(t.name, dict(zip(t.columns, row))) != row[3])


def _sql_canonical_json(value: Any) -> Any:
    """``canonical_json`` as the SQL function verify's query calls (for REALs)."""
    return canonical_json(value)


def _sqlite_module() -> Any:
    """The sqlite3-compatible module the second process of :func:`verify_file` reads with:
    sqlean.py's when installed (a recent SQLite, whose json_object builds the canonical form
    10-20 % faster than the SQLite Python 3.11 ships with), else the standard library's.
    Either gives the same result: a string SQLite builds differently is re-checked in Python.

    Only there: that process opens the file with no other SQLite. Two copies of SQLite in one
    process do not see each other's POSIX locks (sqlite.org/howtocorrupt.html, 2.2.1): the
    standard library's next connection takes itself for the first, truncates the -shm file
    sqlean has mapped, and sqlean's reader dies of a Bus error or reads a "malformed" file
    (tests/test_ledger.py, test_verify_in_a_process_that_writes_reads_with_its_own_sqlite)."""
    try:
        import sqlean  # type: ignore[import-untyped]
    except ImportError:
        return sqlite3
    return sqlean


def _reader(path: Path, engine: Any = sqlite3) -> Any:
    """A read-only connection to the ledger file at ``path`` for verify (mmap: no copy of
    each page read), through ``engine``: the standard library's sqlite3, which every other
    connection of this process uses, unless the process opens no other (see
    :func:`_sqlite_module`)."""
    # sqlean.py's statement cache slows its reads down (measured on the bench's million
    # findings: the chain 4.48 -> 4.26 µs an entry, the derived tables 2.30 -> 1.71 s
    # without it); the standard library's does not (5.06 and 2.73 with it, 5.24 and 2.70
    # without)
    cache = {} if engine is sqlite3 else {"cached_statements": 0}
    conn = engine.connect(read_only_uri(Path(path)), uri=True, timeout=30,
                          isolation_level=None, check_same_thread=False, **cache)
    conn.create_function("canonical_json", 1, _sql_canonical_json, deterministic=True)
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute(f"PRAGMA mmap_size={READER_MMAP}")
    return conn


def _start_part(path: Path, lo: int | None, hi: int, n: int, then: str | None = None,
                last_hash: str | None = None) -> subprocess.Popen[bytes] | None:
    """Start checking entries lo..hi of the ledger at ``path`` (:func:`check_span`: lo None
    from the first, the entry before being seq ``n`` with hash ``last_hash``, None: not
    known there) in another Python process (a fresh interpreter: forking the daemon's
    threads is unsafe), and then, if they hold, running ``then`` (``module:name``,
    :func:`_importable`) through the same snapshot. None if it cannot start."""
    package_root = str(Path(__file__).resolve().parents[2])  # the folder holding monitor/
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        return subprocess.Popen(
            [sys.executable, "-c", "from monitor.ledger.verify import _part_main as m; m()",
             str(Path(path).resolve()), "-" if lo is None else str(lo), str(hi), str(n),
             then or "-", last_hash or "-"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            env=env)
    except OSError:
        return None


def _part_main() -> None:
    """A process of :func:`_start_part`: argv PATH LO HI N MODULE:NAME LAST_HASH ("-" for
    None); the span as JSON, with ``then``: that function's result on the same snapshot,
    when the span holds."""
    path, lo, hi, n, then, last = sys.argv[1:7]
    out: dict[str, Any] = {}
    conn = _reader(Path(path), _sqlite_module())
    try:
        tables = list(read_tables(conn).values())
        conn.execute("BEGIN")
        span = check_span(conn, tables, None if lo == "-" else int(lo), int(hi), int(n),
                          None if last == "-" else last)
        out.update(span.__dict__)
        if span.ok and then.startswith(_THEN_MODULES):
            module, name = then.split(":")
            out["then"] = getattr(importlib.import_module(module), name)(conn)
    finally:
        conn.close()
    sys.stdout.write(json.dumps(out))
