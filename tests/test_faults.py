"""Faults: a full disk, writers at the same time, a config broken under a running daemon,
and every kind of tampering with the ledger."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from monitor.ledger import Ledger, LedgerError

ROOT = Path(__file__).resolve().parents[1]
MONITOR = [sys.executable, "-m", "monitor"]
sys.path.insert(0, str(Path(__file__).parent))
from procs import Output, wait_until  # noqa: E402
from test_daemon import ucdp_subset  # noqa: E402


def project(tmp_path: Path) -> dict[str, str]:
    """A copy of the configuration and rules, an empty feeds folder, and the environment."""
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "feeds").mkdir()
    return {**os.environ, "MONITOR_CONFIG": str(tmp_path / "config"),
            "MONITOR_DB": str(tmp_path / "l.db"), "PYTHONUNBUFFERED": "1", "COLUMNS": "300"}


def jsonl(path: Path, n: int, start: int = 0, lat: float | None = None) -> Path:
    with path.open("w") as fh:
        for i in range(start, start + n):
            fh.write(json.dumps({"source_id": f"r{i}", "occurred": "2016-08-10",
                                 "attacker": "Syrian air force", "target": "civilians",
                                 "event_type": "air_strike",
                                 "location": {"lat": lat or 35.0 + (i % 500) / 1000,
                                              "lon": 36.562 if lat else 36.5,
                                              "precision": 1},
                                 "notes": "barrel bombs on the market " + "x" * 400}) + "\n")
    return path


def test_a_full_disk_gives_a_clear_error_and_leaves_a_verified_ledger(tmp_path):
    env = project(tmp_path)
    source = jsonl(tmp_path / "big.jsonl", 3000)
    small = jsonl(tmp_path / "small.jsonl", 10, start=90000)
    subprocess.run(MONITOR + ["import", str(small), "--format", "jsonl"], env=env, check=True,
                   capture_output=True)
    limit = (tmp_path / "l.db").stat().st_size + 1_500_000

    def full_disk() -> None:
        # the file system "fills up": no file may grow past the limit (EFBIG, like ENOSPC)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = subprocess.run(MONITOR + ["import", str(source), "--format", "jsonl"], env=env,
                            capture_output=True, text=True, preexec_fn=full_disk)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "the ledger could not be written" in result.stderr
    assert "Traceback" not in result.stderr
    ledger = Ledger.open(tmp_path / "l.db", readonly=True)
    assert ledger.verify().ok
    reports = ledger.counts()["reports"]
    assert 10 <= reports < 3010 and (reports - 10) % 500 == 0  # whole batches only
    # with space again, the same import completes, skipping what was recorded
    again = subprocess.run(MONITOR + ["import", str(source), "--format", "jsonl"], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert Ledger.open(tmp_path / "l.db", readonly=True).counts()["reports"] == 3010


@pytest.mark.slow  # three processes on one ledger for some seconds (make test-slow)
def test_a_query_a_hand_entry_and_the_daemon_at_the_same_time(tmp_path):
    env = project(tmp_path)
    ucdp_subset(tmp_path / "feeds" / "ucdp.csv", 1500)
    (tmp_path / "feeds" / "ucdp.yaml").write_text(
        "name: ucdp\nadapter: ucdp\nsource: ucdp.csv\noptions: {batch_size: 50}\n")
    daemon = subprocess.Popen(MONITOR + ["run", "--once"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    errors: list[str] = []

    def hand_entries() -> None:
        for i in range(8):
            record = {"source_id": f"hand-{i}", "occurred": "2016-09-14",
                      "attacker": "Syrian army", "event_type": "military_presence",
                      "location": {"lat": 36.259, "lon": 37.105}}
            r = subprocess.run(MONITOR + ["incident", "add", "--json", "-"], env=env,
                               input=json.dumps(record), capture_output=True, text=True)
            if r.returncode != 0:
                errors.append(r.stderr)

    def queries() -> None:
        while daemon.poll() is None:
            r = subprocess.run(MONITOR + ["query", "SELECT count(*) FROM findings"], env=env,
                               capture_output=True, text=True)
            # before the daemon's first commit there is no ledger yet to query
            if r.returncode != 0 and not ("no ledger file" in r.stderr
                                          or "is not a ledger" in r.stderr):
                errors.append(r.stderr)

    threads = [threading.Thread(target=hand_entries), threading.Thread(target=queries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    _, daemon_err = daemon.communicate(timeout=300)
    assert daemon.returncode == 0, daemon_err
    assert not any("locked" in e for e in errors + [daemon_err]), errors
    assert errors == []
    ledger = Ledger.open(tmp_path / "l.db", readonly=True)
    feeds = {r["feed"]: r["n"] for r in ledger.query(
        "SELECT feed, count(*) AS n FROM reports GROUP BY feed")}
    assert feeds == {"ucdp": 1500, "manual": 8}
    assert ledger.verify().ok


@pytest.mark.slow  # a daemon polling while its rules are broken and mended (make test-slow)
def test_a_rule_broken_under_the_daemon_keeps_the_last_good_rules(tmp_path):
    env = project(tmp_path)
    drop = tmp_path / "feeds" / "drop"
    drop.mkdir()
    (tmp_path / "feeds" / "partners.yaml").write_text(
        "name: partners\nadapter: jsonl\nsource: drop\nschedule: {every_seconds: 5}\n")
    jsonl(drop / "a.jsonl", 2, lat=35.614)  # Kafr Nabl: a designated area
    daemon = subprocess.Popen(MONITOR + ["run"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    output = Output(daemon.stdout)
    db = tmp_path / "l.db"

    def findings() -> int:
        try:
            return Ledger.open(db, readonly=True).counts().get("findings", 0)
        except (FileNotFoundError, LedgerError):
            return 0  # the daemon is still creating the ledger

    assert wait_until(lambda: findings() >= 4, 120), output.text()
    assert findings() == 4  # MAY-CIV and JIG-SAAF for each
    rule = tmp_path / "rules" / "syria-2016" / "JIG-SAAF" / "rule.yaml"
    rule.write_text(rule.read_text() + "\nwhen: [unclosed\n")
    # the daemon looks at its configuration every second; new reports wait until it has seen
    assert output.wait_for("keeping the last good rules", 120), output.text()
    jsonl(drop / "b.jsonl", 2, start=100, lat=35.614)
    assert wait_until(lambda: findings() >= 8, 120), output.text()
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(60)
    out = output.text()
    assert findings() == 8, out  # still judged with the last good JIG-SAAF rule
    assert "JIG-SAAF/rule.yaml" in out
    restart = subprocess.run(MONITOR + ["run", "--once"], env=env, capture_output=True,
                             text=True)
    assert restart.returncode == 1
    assert "JIG-SAAF/rule.yaml: line" in restart.stderr and "not valid YAML" in restart.stderr


@pytest.fixture(scope="module")
def filled_once(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("filled")
    env = project(folder)
    sample = ROOT / "feeds" / "samples" / "acled_syria_2016_sample.csv"
    subprocess.run(MONITOR + ["import", str(sample), "--format", "acled"], env=env,
                   check=True, capture_output=True)
    return folder / "l.db"


@pytest.fixture
def filled(filled_once, tmp_path) -> Path:
    """A ledger of the ACLED sample, a copy of its own for each test to tamper with."""
    for suffix in ("", "-wal"):
        if Path(f"{filled_once}{suffix}").exists():
            shutil.copy(f"{filled_once}{suffix}", tmp_path / f"l.db{suffix}")
    return tmp_path / "l.db"


def tamper(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        conn.execute(f"DROP TRIGGER {name}")
    conn.executescript(sql)
    conn.close()


@pytest.mark.parametrize(("sql", "named"), [
    ("UPDATE findings SET severity = 'minor' WHERE seq = (SELECT min(seq) FROM findings)",
     "was altered"),
    ("UPDATE reports SET body = '{}' WHERE seq = (SELECT max(seq) FROM reports)",
     "was altered"),
    ("DELETE FROM incidents WHERE seq = (SELECT min(seq) FROM incidents)", "is missing"),
    ("UPDATE findings SET seq = seq + 100000 WHERE seq = (SELECT min(seq) FROM findings)",
     "missing"),
    ("INSERT INTO reviews (seq, recorded_at, prev_hash, hash, kind) SELECT max(seq) + 1, "
     "'2026-01-01T00:00:00+00:00', 'x', 'y', 'forged' FROM reviews",
     "seq"),
], ids=["altered finding", "altered report", "deleted incident", "reordered finding",
        "forged row"])
def test_any_row_altered_deleted_or_reordered_is_named(filled, sql, named):
    tamper(filled, sql)
    result = subprocess.run(MONITOR + ["--db", str(filled), "ledger", "verify"],
                            capture_output=True, text=True, env={**os.environ})
    assert result.returncode == 1
    assert "ledger verification FAILED" in result.stderr and named in result.stderr
