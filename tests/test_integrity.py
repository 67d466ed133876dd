"""What the chain alone cannot show: anchored heads against truncation, rollback and a
recomputed chain; derived tables, views and triggers edited behind the chain's back."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor import diskcache
from monitor.config import PROJECT_ROOT
from monitor.ledger import Ledger, integrity, schema
from monitor.ledger.chain import entry_hash
from tests.conftest import copy_project
from tests.test_ledger import SteppingClock, record, tamper


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(path: Path):
    opened = Ledger.open(path, clock=SteppingClock())
    for n in range(1, 6):
        record(opened, n)  # 15 entries
    with opened.transaction():
        opened.append("status_changes", {"finding_id": "f-2", "status": "disputed",
                                         "by": "analyst", "note": "two sources deny it"})
    yield opened
    opened.close()


def rechain(path: Path, start: int) -> None:
    """An adversary's full cover-up: recompute every hash from ``start`` on, so the chain
    verifies against itself again."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    tables = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%prev_hash%'")]
    rows = sorted(((dict(r), t) for t in tables
                   for r in conn.execute(f'SELECT * FROM "{t}" WHERE seq >= ?', [start])),
                  key=lambda x: x[0]["seq"])
    prev = next(r[0] for t in tables for r in conn.execute(
        f'SELECT hash FROM "{t}" WHERE seq = ?', [start - 1]))
    triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
    for name, _ in triggers:
        conn.execute(f'DROP TRIGGER "{name}"')
    for row, table in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = entry_hash(table, row)
        conn.execute(f'UPDATE "{table}" SET prev_hash = ?, hash = ? WHERE seq = ?',
                     [row["prev_hash"], row["hash"], row["seq"]])
    for _, sql in triggers:
        conn.execute(sql)
    conn.commit()
    conn.close()


def test_the_head_is_seq_and_hash_and_verifies(ledger: Ledger) -> None:
    head = ledger.head()
    seq, digest = head.split(":")
    assert int(seq) == 16 and len(digest) == 64
    assert ledger.verify(head=head).ok


def test_a_cut_off_tail_fails_against_the_anchored_head(ledger: Ledger, path: Path) -> None:
    head = ledger.head()
    tamper(path, *[(f'DELETE FROM "{t}" WHERE seq > 12', ()) for t in
                   ("reports", "incidents", "findings", "status_changes")])
    assert ledger.verify(derived=False).ok  # the shorter chain still holds together
    result = ledger.verify(head=head, derived=False)
    assert not result.ok and "past the end of the ledger (entry 12)" in str(result.problem)


def test_an_older_copy_of_the_file_fails_against_the_anchored_head(path: Path) -> None:
    first = Ledger.open(path, clock=SteppingClock())
    for n in range(1, 4):
        record(first, n)
    first.close()
    old = path.with_name("old.db")
    shutil.copy(path, old)  # a backup taken now...
    later = Ledger.open(path, clock=SteppingClock())
    record(later, 4)
    head = later.head()  # ...the head anchored after more was recorded
    later.close()
    shutil.copy(old, path)  # ...and the backup put back in place of the file
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    rolled_back = Ledger.open(path)
    try:
        assert rolled_back.verify().ok
        result = rolled_back.verify(head=head)
        assert not result.ok and "cut off the tail, or an older copy" in str(result.problem)
    finally:
        rolled_back.close()


def test_a_recomputed_chain_fails_against_the_anchored_head(ledger: Ledger, path: Path) -> None:
    head = ledger.head()
    tamper(path, ("UPDATE findings SET severity = 'minor' WHERE seq = 6", ()))
    rechain(path, 6)
    assert ledger.verify(derived=False).ok  # it holds together again
    result = ledger.verify(head=head)
    assert not result.ok and "does not have the anchored head's hash" in str(result.problem)


def test_a_malformed_head_is_an_error_naming_the_form(ledger: Ledger) -> None:
    with pytest.raises(ValueError, match="expected SEQ:HASH"):
        ledger.verify(head="16-abc")


@pytest.mark.parametrize("statements, named", [
    ([("UPDATE finding_parties SET party = 'isil' WHERE finding_id = 'f-1'", ())],
     "finding_parties does not match the chain"),
    ([("UPDATE finding_state SET status = 'confirmed' WHERE finding_id = 'f-2'", ())],
     "finding_state does not match the chain"),
    ([("DELETE FROM finding_state", ())], "finding_state does not match the chain"),
    ([("INSERT INTO finding_parties SELECT * FROM finding_parties WHERE finding_id = 'f-1'",
       ())], "finding_parties does not match the chain"),
    ([("UPDATE finding_parties SET occurred = 20160101 WHERE finding_id = 'f-1'", ())],
     "finding_parties does not match the chain"),
    ([("UPDATE scorecard_counts SET findings = findings + 1", ())],
     "scorecard_counts does not match the chain"),
    ([("DELETE FROM scorecard_counts", ())], "scorecard_counts does not match the chain"),
    ([("DROP VIEW scorecard", ()),
      ("CREATE VIEW scorecard AS SELECT 'x' AS party, 1 AS findings", ())],
     "view scorecard differs from the code's definition"),
], ids=["party-moved", "status-changed", "state-emptied", "row-doubled", "number-for-text",
        "count-raised", "counts-emptied", "view-redefined"])
def test_derived_state_edited_with_sql_fails_verify_and_rebuild_restores_it(
        ledger: Ledger, path: Path, statements: Any, named: str) -> None:
    before = ledger.query("SELECT * FROM finding_parties ORDER BY finding_id")
    tamper(path, *statements)
    result = ledger.verify()
    assert not result.ok and named in str(result.problem)
    assert named.split(" does")[0].split(" differs")[0] in " ".join(ledger.rebuild())
    assert ledger.verify().ok
    assert ledger.query("SELECT * FROM finding_parties ORDER BY finding_id") == before
    assert integrity._parties_by_seq(ledger._conn)  # rebuilt numbered by the findings' seqs


def test_each_finding_parties_row_is_numbered_by_its_findings_seq(ledger: Ledger) -> None:
    # written with the findings, and updated in place by a status change (the fixture's)
    numbered = ledger.query("SELECT p.rowid AS at, f.seq, f.finding_id, p.status FROM "
                            "finding_parties p JOIN findings f ON f.finding_id = p.finding_id "
                            "ORDER BY f.seq")
    assert len(numbered) == 5 and all(r["at"] == r["seq"] for r in numbered)
    assert [r["status"] for r in numbered if r["finding_id"] == "f-2"] == ["disputed"]


def test_a_row_put_in_under_a_coming_seq_gives_way_and_recording_goes_on(
        ledger: Ledger, path: Path) -> None:
    (head,) = ledger.query("SELECT max(seq) AS n FROM findings")
    coming = range(head["n"] + 1, head["n"] + 12)  # whatever entries come next
    tamper(path, *[("INSERT INTO finding_parties (rowid, finding_id, status) VALUES (?, "
                    "'f-forged', 'alleged')", (n,)) for n in coming])
    record(ledger, 6)  # its finding takes one of those numbers
    (new,) = ledger.query("SELECT seq FROM findings WHERE finding_id = 'f-6'")
    assert new["seq"] in coming
    assert ledger.query("SELECT finding_id FROM finding_parties WHERE rowid = ?",
                        [new["seq"]]) == [{"finding_id": "f-6"}]
    result = ledger.verify()  # the forged rows left are named
    assert not result.ok and "finding_parties does not match the chain" in str(result.problem)
    ledger.rebuild()
    assert ledger.verify().ok and integrity._parties_by_seq(ledger._conn)


def test_an_intact_finding_parties_is_checked_row_for_row_without_the_exact_comparison(
        ledger: Ledger, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def exact(*args: Any) -> None:
        raise AssertionError("the exact comparison ran on finding_parties")

    real = integrity._compare
    monkeypatch.setattr(integrity, "_compare", lambda conn, table, *rest: (
        exact() if table == "finding_parties" else real(conn, table, *rest)))
    assert ledger.verify().ok


@pytest.mark.parametrize("statements, by_seq, ok", [
    ([], True, True),
    # the same rows written in another order, or numbered otherwise (as a VACUUM may): not
    # numbered by seq, and the exact comparison passes them
    ([("CREATE TEMP TABLE t AS SELECT * FROM finding_parties ORDER BY rowid DESC", ()),
      ("DELETE FROM finding_parties", ()), ("INSERT INTO finding_parties SELECT * FROM t", ())],
     False, True),
    ([("UPDATE finding_parties SET rowid = rowid + 1000", ())], False, True),
    # two rows that swap numbers: each seq finds another finding's row
    ([("UPDATE finding_parties SET rowid = -rowid WHERE finding_id IN ('f-1', 'f-4')", ()),
      ("UPDATE finding_parties SET rowid = (SELECT seq FROM findings WHERE finding_id = "
       "'f-4') WHERE finding_id = 'f-1'", ()),
      ("UPDATE finding_parties SET rowid = (SELECT seq FROM findings WHERE finding_id = "
       "'f-1') WHERE finding_id = 'f-4'", ())], False, True),
    ([("UPDATE finding_parties SET status = 'confirmed' WHERE finding_id = 'f-4'", ())],
     False, False),
    ([("UPDATE finding_parties SET term = NULL WHERE finding_id = 'f-4'", ())], False, False),
    ([("UPDATE finding_parties SET term = 'null' WHERE finding_id = 'f-4'", ())], False, False),
    ([("UPDATE finding_parties SET term = CAST(term AS BLOB) WHERE finding_id = 'f-4'", ())],
     False, False),
    ([("DELETE FROM finding_parties WHERE finding_id = 'f-5'", ())], False, False),
    ([("INSERT INTO finding_parties SELECT * FROM finding_parties WHERE finding_id = 'f-5'",
       ())], False, False),
    # a row numbered by no finding's seq, besides every finding's own
    ([("INSERT INTO finding_parties (rowid, finding_id, status) VALUES (9999, 'f-9', "
       "'alleged')", ())], False, False),
], ids=["intact", "reordered", "renumbered", "swapped", "status", "null", "null-text", "blob",
        "last-deleted", "last-doubled", "extra"])
def test_finding_parties_by_seq_or_not_the_verdict_is_the_exact_one(
        ledger: Ledger, path: Path, statements: Any, by_seq: bool, ok: bool) -> None:
    tamper(path, *statements)
    conn = sqlite3.connect(path)
    try:
        assert integrity._parties_by_seq(conn) is by_seq
    finally:
        conn.close()
    result = ledger.verify()
    assert result.ok is ok
    if not ok:
        assert "finding_parties does not match the chain" in str(result.problem)


def test_the_exact_comparison_counts_rows_extra_and_missing(ledger: Ledger, path: Path) -> None:
    tamper(path, ("INSERT INTO finding_parties SELECT * FROM finding_parties WHERE finding_id = "
                  "'f-1'", ()),
           ("UPDATE finding_parties SET party = 'isil' WHERE finding_id = 'f-3'", ()))
    # (the triggers were off: scorecard_counts no longer matches finding_parties either)
    assert str(ledger.verify().problem).startswith(
        "finding_parties does not match the chain: 2 row(s) the entries do not give, 1 they "
        "give missing (6 rows, 5 expected); scorecard_counts does not match")


def test_a_removed_trigger_is_named_at_once(ledger: Ledger, path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute('DROP TRIGGER "findings_no_update"')
    conn.commit()
    conn.close()
    result = ledger.verify()
    assert not result.ok and "trigger findings_no_update is missing" in str(result.problem)
    ledger.rebuild()
    with pytest.raises(sqlite3.IntegrityError, match="cannot be updated"):
        sqlite3.connect(path).execute("UPDATE findings SET severity = 'minor'")


# --- the schema the code creates, kept in the disk cache ------------------------------------


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own, and no schema remembered in this process."""
    monkeypatch.setenv(diskcache.ENV, str(tmp_path / "cache"))
    integrity._expected.cache_clear()
    yield tmp_path / "cache"
    integrity._expected.cache_clear()


def test_the_schema_read_from_the_cache_is_the_one_the_migrations_create(
        cache: Path, monkeypatch: pytest.MonkeyPatch, ledger: Ledger, path: Path) -> None:
    built = integrity.expected_schema()
    assert list(cache.glob("schema-*.bin"))
    integrity._expected.cache_clear()
    with monkeypatch.context() as m:  # sqlite-utils cannot run: the cache must answer
        m.setitem(sys.modules, "sqlite_utils", None)
        assert integrity.expected_schema() == built
        assert ledger.verify().ok
        conn = sqlite3.connect(path)
        conn.execute("DROP VIEW finding_status")
        conn.execute("CREATE VIEW finding_status AS SELECT * FROM findings")
        conn.commit()
        conn.close()
        result = ledger.verify()  # an edited view is named against the cached schema
        assert not result.ok and "view finding_status differs" in str(result.problem)
    monkeypatch.setenv(diskcache.ENV, "")
    integrity._expected.cache_clear()
    assert integrity.expected_schema() == built  # without a cache: built, the same


@pytest.mark.parametrize("damage", ["garbage", "wrong shape", "deleted"])
def test_a_damaged_schema_entry_is_built_again(cache: Path, damage: str) -> None:
    built = integrity.expected_schema()
    [entry] = cache.glob("schema-*.bin")
    if damage == "garbage":
        entry.write_bytes(b"\x00" * 64)
    elif damage == "wrong shape":
        diskcache.save(entry.stem, {"schema": [["view", "finding_status"]]}, [])
    else:
        entry.unlink()
    integrity._expected.cache_clear()
    assert integrity.expected_schema() == built
    integrity._expected.cache_clear()
    assert integrity.expected_schema() == built  # made again, and read back


def test_the_schema_entrys_name_holds_the_code_the_steps_and_what_was_applied(
        tmp_path: Path) -> None:
    code = tmp_path / "ledger"
    shutil.copytree(Path(schema.__file__).parent, code, ignore=shutil.ignore_patterns(
        "__pycache__"))
    shutil.copy(Path(schema.__file__).parent.parent / "vocabulary.py", tmp_path)
    real = schema.MIGRATIONS
    name = integrity._expected_entry(real, None, code)
    assert name == integrity._expected_entry(real, None)
    names = {name, integrity._expected_entry(real, frozenset(real.names[:3]), code)}
    for edited in (code / "compact.py", code / "integrity.py", tmp_path / "vocabulary.py"):
        text = edited.read_text()
        edited.write_text(text + "\n# changed\n")
        names.add(integrity._expected_entry(real, None, code))
        edited.write_text(text)
    fewer = schema._Migrations(real.name)
    for step, fn in real._steps[:-1]:
        fewer(name=step)(fn)
    names.add(integrity._expected_entry(fewer, None, code))
    assert len(names) == 6 and None not in names
    elsewhere = schema._Migrations(real.name)  # steps defined outside the code: not kept
    elsewhere(name="m001")(lambda db: None)
    assert integrity._expected_entry(elsewhere, None) is None


def test_verify_with_the_schema_cached_starts_without_sqlite_utils(tmp_path: Path,
                                                                   ledger: Ledger,
                                                                   path: Path) -> None:
    """Importing sqlite-utils (and numpy with it) was ~0.1 s of a verify that took ~0.25 s."""
    script = ("import sys\nfrom monitor.cli import main\n"
              f"main(['--db', {str(path)!r}, 'ledger', 'verify'], standalone_mode=False)\n"
              "print(sorted(sys.modules), file=sys.stderr)")
    env = {"PATH": "/usr/bin:/bin", diskcache.ENV: str(tmp_path / "cache"),
           "MONITOR_CONFIG": str(PROJECT_ROOT / "config")}
    loaded = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             check=True, cwd=tmp_path, env=env)
        assert "ledger OK" in out.stdout
        loaded.append({n.split(".")[0] for n in eval(out.stderr.strip().splitlines()[-1])})
    assert "sqlite_utils" in loaded[0] and "sqlite_utils" not in loaded[1]


# --- the command line and the daemon ----------------------------------------------------


def cli(path: Path, *args: str):
    from click.testing import CliRunner

    from monitor.cli import main
    from monitor.config import PROJECT_ROOT
    return CliRunner().invoke(main, ["--config", str(PROJECT_ROOT / "config"), "--db",
                                     str(path), *args])


def test_the_commands_print_check_and_rebuild(ledger: Ledger, path: Path, tmp_path: Path) -> None:
    head = cli(path, "ledger", "head")
    assert head.exit_code == 0 and head.output.strip() == ledger.head()
    ok = cli(path, "ledger", "verify")
    assert ok.exit_code == 0 and f"head {ledger.head()}" in ok.output
    assert "derived state matches" in ok.output
    checkpoints = tmp_path / "checkpoints.txt"
    checkpoints.write_text(f"2016-09-19T16:00:00+00:00 {ledger.head()}\n")
    assert cli(path, "ledger", "verify", "--checkpoints", str(checkpoints)).exit_code == 0
    tamper(path, *[(f'DELETE FROM "{t}" WHERE seq > 12', ()) for t in
                   ("reports", "incidents", "findings", "status_changes")])
    ledger.rebuild()  # the derived rows of the deleted findings go too: only the head shows it
    cut = cli(path, "ledger", "verify", "--checkpoints", str(checkpoints))
    assert cut.exit_code == 1 and "checkpoints.txt line 1" in cut.output
    assert "past the end of the ledger" in cut.output
    bad = cli(path, "ledger", "verify", "--head", "12")
    assert bad.exit_code == 1 and "expected SEQ:HASH" in bad.output
    tamper(path, ("UPDATE finding_parties SET party = 'isil'", ()))
    failing = cli(path, "ledger", "verify")
    assert failing.exit_code == 1 and "finding_parties does not match the chain" in failing.output
    fixed = cli(path, "ledger", "rebuild")
    assert fixed.exit_code == 0 and "restored: finding_parties" in fixed.output
    assert cli(path, "ledger", "verify").exit_code == 0


def test_the_daemon_writes_the_head_outside_the_ledger_after_every_run(
        pack, tmp_path: Path) -> None:
    from monitor.daemon import Daemon
    from monitor.feeds import FeedSpec
    from monitor.service import Monitor

    (tmp_path / "partners.jsonl").write_text(
        '{"source_id": "p1", "occurred": "2016-09-15", "attacker": "Syrian air force", '
        '"target": "civilians", "location": {"lat": 36.2, "lon": 37.1}}\n')
    spec = FeedSpec(name="partners", adapter="jsonl", source="partners.jsonl")
    ledger = Ledger.open(tmp_path / "ledger.db")
    checkpoints = tmp_path / "var" / "checkpoints.txt"
    try:
        daemon = Daemon(Monitor(pack, ledger), [spec], tmp_path, sleep=lambda s: False,
                        checkpoints=checkpoints)
        daemon.run_once()
        daemon.run_once()
        lines = checkpoints.read_text().splitlines()
        assert len(lines) == 2 and lines[-1].split()[-1] == ledger.head()
        assert all(ledger.check_head(line.split()[-1]) is None for line in lines)
    finally:
        ledger.close()


# --- provenance: set by the ingesting side --------------------------------------------------


def test_a_record_cannot_name_its_feed_and_supersede_another_feeds(tmp_path: Path) -> None:
    import json

    from monitor.config import PROJECT_ROOT

    db = tmp_path / "ledger.db"
    sample = PROJECT_ROOT / "feeds" / "samples" / "acled_syria_2016_sample.csv"
    assert cli(db, "import", str(sample), "--format", "acled").exit_code == 0
    ledger = Ledger.open(db)
    target = ledger.query("SELECT source_id FROM findings WHERE feed = 'acled' AND "
                          "severity = 'critical' LIMIT 1")[0]["source_id"]
    before = ledger.query("SELECT finding_id, status FROM finding_status ORDER BY finding_id")
    ledger.close()
    forged = {"feed": "acled", "source_id": target, "revision": "99", "occurred": "2016-09-15",
              "attacker": "unknown", "target": "unknown", "notes": "nothing happened here",
              "location": {"lat": 36.2, "lon": 37.1}}
    lines = tmp_path / "forged.jsonl"
    lines.write_text(json.dumps(forged) + "\n")
    imported = cli(db, "import", str(lines), "--format", "jsonl")
    assert "feed 'acled' is not the feed recording it ('jsonl')" in " ".join(
        imported.output.split())
    entry = tmp_path / "forged.json"
    entry.write_text(json.dumps(forged))
    added = cli(db, "incident", "add", "--json", str(entry))
    assert "feed 'acled' is not the feed recording it ('manual')" in " ".join(
        added.output.split())
    ledger = Ledger.open(db)
    try:
        after = ledger.query("SELECT finding_id, status FROM finding_status ORDER BY finding_id")
        assert after == before  # nothing superseded, nothing added
        assert ledger.query("SELECT count(*) AS n FROM reports WHERE feed != 'acled'")[0]["n"] == 0
    finally:
        ledger.close()


# --- no lock errors: a long re-judgement commits in batches ----------------------------------


def ucdp_month(month: str) -> list[tuple[str, dict]]:
    import csv

    from monitor.adapters.ucdp import to_report
    from monitor.config import PROJECT_ROOT

    with (PROJECT_ROOT / "feeds" / "data" / "ged_syria_2016.csv").open(encoding="utf-8") as fh:
        return [(r["id"], to_report(r, "ucdp", "B")) for r in csv.DictReader(fh)
                if r["date_start"].startswith(month)]


@pytest.mark.slow  # a year re-judged while hand entries go in (make test-slow)
def test_rejudge_commits_in_batches_while_hand_entries_go_in(tmp_path: Path, monkeypatch) -> None:
    import subprocess
    import sys
    import threading

    from monitor import service
    from monitor.config import load_pack
    from monitor.service import Monitor

    config = copy_project(tmp_path)
    db = tmp_path / "ledger.db"
    ledger = Ledger.open(db)
    Monitor(load_pack(config, "syria-2016"), ledger).submit(ucdp_month("2016-09"))
    reports = ledger.query("SELECT count(*) AS n FROM reports")[0]["n"]
    rule = tmp_path / "rules/syria-2016/COH-CLASH/rule.yaml"
    rule.write_text(rule.read_text().replace("severity: major", "severity: critical", 1))
    # in this process: every batch is its own transaction
    monkeypatch.setattr(service, "REJUDGE_BATCH", 50)
    commits = []
    original = ledger.transaction

    def counted():
        commits.append(1)
        return original()
    monkeypatch.setattr(ledger, "transaction", counted)
    changed = Monitor(load_pack(config, "syria-2016"), ledger)
    monkeypatch.setattr(changed.ledger, "transaction", counted)
    result = changed.rejudge("2016-01-01T00:00:00+00:00")
    assert result["reports"] == reports > 200 and result["superseded"] > 50
    assert len(commits) >= reports // 50
    ledger.close()
    # and for real: the command line re-judges in one process while another enters by hand
    rule.write_text(rule.read_text().replace("severity: critical", "severity: major", 1))
    base = [sys.executable, "-m", "monitor", "--config", str(config), "--db", str(db)]
    rejudge = subprocess.Popen([*base, "rules", "rejudge", "--since", "2016-01-01"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    outcomes: list[subprocess.CompletedProcess] = []

    def hand_entries() -> None:
        for i in range(4):
            outcomes.append(subprocess.run(
                [*base, "incident", "add", "--occurred", "2016-09-20", "--attacker",
                 "Syrian air force", "--target", "civilians", "--lat", "36.2", "--lon", "37.1",
                 "--source-id", f"hand-{i}"], capture_output=True, text=True, timeout=120))
    thread = threading.Thread(target=hand_entries)
    thread.start()
    out, _ = rejudge.communicate(timeout=300)
    thread.join(300)
    assert rejudge.returncode == 0, out
    assert [o.returncode for o in outcomes] == [0] * 4, [o.stderr for o in outcomes]
    assert not any("locked" in o.stdout + o.stderr for o in outcomes)
    assert Ledger.open(db).verify().ok


# --- a broken file: one line, and nothing written --------------------------------------------


def broken_copies(ledger: Ledger, path: Path, tmp_path: Path) -> dict[str, Path]:
    # a page of the findings table in the middle of its pages: its b-tree header flipped
    pages = [r["pageno"] for r in ledger.query(
        "SELECT pageno FROM dbstat WHERE name = 'findings' ORDER BY pageno")]
    (size,) = ledger.query("PRAGMA page_size")[0].values()
    ledger.close()
    data = bytearray(path.read_bytes())
    flipped = bytearray(data)
    page = size * (pages[len(pages) // 2] - 1)
    for i in range(page, page + 12):
        flipped[i] ^= 0xFF
    copies = {"flipped": bytes(flipped), "truncated": bytes(data[: len(data) // 3]),
              "not-a-database": b"ceasefire " * 500}
    out = {}
    for name, content in copies.items():
        out[name] = tmp_path / f"{name}.db"
        out[name].write_bytes(content)
    return out


@pytest.mark.parametrize("kind", ["flipped", "truncated", "not-a-database"])
def test_a_broken_file_is_one_line_and_never_written(ledger: Ledger, path: Path, tmp_path: Path,
                                                     kind: str) -> None:
    for n in range(6, 40):
        record(ledger, n)  # enough pages that the middle of the file is data
    broken = broken_copies(ledger, path, tmp_path)[kind]
    before = broken.read_bytes()
    added = cli(broken, "incident", "add", "--occurred", "2016-09-20", "--attacker",
                "Syrian air force", "--target", "civilians", "--lat", "36.2", "--lon", "37.1")
    assert added.exit_code == 1 and "Traceback" not in added.output
    assert added.output.startswith("Error: ") and added.output.count("\n") == 1
    assert "the ledger file is damaged or is not a ledger" in added.output
    assert ".recover" in added.output
    assert broken.read_bytes() == before
    checked = cli(broken, "ledger", "verify")
    assert checked.exit_code == 1 and checked.output.startswith("Error: ")
    assert checked.output.count("\n") == 1


def test_verify_names_a_value_of_the_wrong_type(ledger: Ledger, path: Path) -> None:
    tamper(path, ("UPDATE findings SET severity = CAST('major' AS BLOB) WHERE seq = 9", ()))
    result = ledger.verify()
    assert not result.ok and (result.table, result.seq) == ("findings", 9)
    assert "severity holds a BLOB" in str(result.problem)


def test_an_unexpected_error_is_one_line_unless_debugging(ledger: Ledger, path: Path,
                                                          monkeypatch) -> None:
    def broken(self):
        raise ValueError("day is out of range for month")
    monkeypatch.setattr(Ledger, "head", broken)
    out = cli(path, "ledger", "head")
    assert out.exit_code == 1 and out.output.count("\n") == 1
    assert out.output.startswith("Error: unexpected ValueError: day is out of range")
    monkeypatch.setenv("MONITOR_DEBUG", "1")
    assert isinstance(cli(path, "ledger", "head").exception, ValueError)


@pytest.mark.parametrize("fmt", ["json"])
def test_json_output_is_valid_json_even_for_infinite_numbers(ledger: Ledger, path: Path,
                                                             fmt: str) -> None:
    import json

    def refuse(name: str) -> None:
        raise AssertionError(f"{name} is not JSON")
    out = cli(path, "query", "SELECT 1e999 AS big, -1e999 AS small, 0.5 AS half", "--format", fmt)
    assert out.exit_code == 0
    row = json.loads(out.output, parse_constant=refuse)[0]
    assert row == {"big": None, "small": None, "half": 0.5}


# --- bounded queries ------------------------------------------------------------------------

NEVER_ENDING = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n"


def test_a_never_ending_query_stops_at_its_time_limit(ledger: Ledger, path: Path) -> None:
    import time

    started = time.monotonic()
    out = cli(path, "query", NEVER_ENDING, "--timeout", "1")
    assert time.monotonic() - started < 30
    assert out.exit_code == 1 and "query stopped after 1 s, its time limit" in out.output
    assert cli(path, "query", "SELECT count(*) AS n FROM findings").exit_code == 0


def test_query_streams_rows_a_chunk_at_a_time(ledger: Ledger) -> None:
    names, chunks = ledger.stream_query("SELECT seq FROM findings ORDER BY seq", chunk=2)
    sizes = [len(c) for c in chunks]
    assert names == ["seq"] and sizes == [2, 2, 1]  # five findings, two at a time
    with pytest.raises(Exception, match="refused"):
        ledger.user_query("DELETE FROM findings")
    assert ledger.user_query("SELECT count(*) FROM findings")[1] == [(5,)]  # lock released


# --- YAML anywhere: the same limits ----------------------------------------------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))


def test_a_yaml_alias_bomb_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    from monitor.problems import read_yaml

    bomb = tmp_path / "feed.yaml"
    bomb.write_text(BOMB)  # 10^9 list items once expanded
    data, problems = read_yaml(bomb)
    assert data is None and "alias bomb" in problems[0].message


def test_a_huge_yaml_file_is_refused_unread(tmp_path: Path, monkeypatch) -> None:
    from monitor import problems as p

    monkeypatch.setattr(p, "MAX_YAML_BYTES", 1000)
    big = tmp_path / "zones.yaml"
    big.write_text("zones:\n" + "  - {id: z}\n" * 200)
    data, found = p.read_yaml(big)
    assert data is None and "is over 1,000 bytes" in found[0].message


def test_the_settings_file_is_read_with_the_limits(tmp_path: Path) -> None:
    from monitor.config import PROJECT_ROOT

    config = tmp_path / "config"
    shutil.copytree(PROJECT_ROOT / "config", config)
    (config / "monitor.yaml").write_text("pack: syria-2016\n" + BOMB)
    out = cli(tmp_path / "l.db", "--config", str(config), "config", "check")
    assert out.exit_code == 1 and "alias bomb" in out.output


# --- ambiguous dates ------------------------------------------------------------------------

DATES_CSV = (
    "event_id_cnty,event_date,year,time_precision,event_type,sub_event_type,actor1,actor2,"
    "admin1,location,latitude,longitude,geo_precision,source,notes,fatalities,timestamp\n"
    + "".join(f"X{i},{day},2016,1,Explosions/Remote violence,Air/drone strike,Military Forces "
              "of Syria (2000-),Civilians (Syria),Aleppo,Atareb,36.136,36.830,1,SOHR,Air strikes "
              "hit a market,3,1460000000\n" for i, day in enumerate(["03/04/2016", "25/04/2016"])))


@pytest.mark.parametrize("pipeline", ["--no-pipeline", "--pipeline"])
def test_an_ambiguous_date_is_refused_unless_the_import_says_the_order(tmp_path: Path,
                                                                        pipeline: str) -> None:
    rows = tmp_path / "dates.csv"
    rows.write_text(DATES_CSV)
    first = cli(tmp_path / "a.db", "import", str(rows), "--format", "acled", pipeline)
    text = " ".join(first.output.split())
    assert first.exit_code == 1 and "1 new report(s)" in text
    assert "'03/04/2016' is ambiguous (3 April or 4 March 2016?)" in text
    told = cli(tmp_path / "b.db", "import", str(rows), "--format", "acled", pipeline,
               "--date-format", "%d/%m/%Y")
    assert told.exit_code == 0 and "2 new report(s)" in told.output
    ledger = Ledger.open(tmp_path / "b.db")
    try:
        days = sorted(r["occurred_start"][:10] for r in ledger.query(
            "SELECT occurred_start FROM incidents"))
    finally:
        ledger.close()
    assert days == ["2016-04-02", "2016-04-24"]  # local days start at 21:00 UTC the day before


def test_a_ledger_in_a_read_only_folder_is_read(ledger: Ledger, path: Path, monkeypatch) -> None:
    """A WAL ledger needs a shared-memory file beside it to be read; in a folder nobody may
    write (the tests run as root, so the folder is said to be read-only) it is opened
    immutable, and read commands and verify answer."""
    ledger.close()  # checkpointed: nothing left in the -wal file
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, *a, **k: False if Path(p) == path.parent
                        and mode == os.W_OK else real(p, mode, *a, **k))
    from monitor.ledger.base import read_only_uri
    assert read_only_uri(path).endswith("&immutable=1")
    reader = Ledger.open(path, readonly=True)
    try:
        assert len(reader.findings()) == 5 and reader.verify().ok
    finally:
        reader.close()
    listed = cli(path, "findings")
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 1 + 5


def test_monitor_run_writes_the_checkpoints_beside_its_ledger(tmp_path: Path) -> None:

    config = copy_project(tmp_path)
    feeds = tmp_path / "feeds"
    (feeds / "drop").mkdir(parents=True)
    (feeds / "partners.yaml").write_text("name: partners\nadapter: jsonl\nsource: drop\n")
    (feeds / "drop" / "a.jsonl").write_text(
        '{"source_id": "p1", "occurred": "2016-09-15", "attacker": "Syrian air force", '
        '"target": "civilians", "location": {"lat": 36.2, "lon": 37.1}}\n')
    settings = (config / "monitor.yaml").read_text().replace("feeds: feeds", f"feeds: {feeds}")
    (config / "monitor.yaml").write_text(settings)
    db = tmp_path / "ledger" / "l.db"
    out = cli(db, "--config", str(config), "run", "--once")
    assert out.exit_code == 0, out.output
    [line] = (db.parent / "checkpoints.txt").read_text().splitlines()
    assert cli(db, "ledger", "verify", "--checkpoints", str(db.parent / "checkpoints.txt")
               ).exit_code == 0
    assert line.split()[-1] == cli(db, "ledger", "head").output.strip()
