"""`monitor import` in two processes (monitor/pipeline.py): the ledger it writes is the one a
single process writes, a worker that dies is a clear error that loses nothing, and a killed
import takes its worker with it."""

from __future__ import annotations

import csv
import itertools
import json
import importlib.util
import os
import pickle
import pickletools
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from monitor import pipeline
from monitor.crashpoints import ENV
from monitor.ledger import Ledger, store
from monitor.staged import stored_explanations

sys.path.insert(0, str(Path(__file__).parent))
from procs import alive, wait_until, workers  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MONITOR = [sys.executable, "-m", "monitor"]
# what differs between two ledgers of the same records: when and in which chain they were written
UNCOMPARED = {"recorded_at", "hash", "prev_hash"}


def generated_acled(path: Path, n: int) -> Path:
    """``n`` ACLED rows drawn from the real UCDP 2016 events (the benchmark's generator)."""
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    return generate.write_acled(path, n)


def env_for(tmp_path: Path, db: str) -> dict[str, str]:
    return {**os.environ, "MONITOR_CONFIG": str(ROOT / "config"),
            "MONITOR_DB": str(tmp_path / db), "PYTHONUNBUFFERED": "1"}


def content(db: Path) -> dict[str, list[tuple]]:
    """Every table's rows in order, without the columns of when they were written."""
    conn = sqlite3.connect(db)
    out = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name "
                                 "NOT LIKE 'sqlite_%' AND name != '_sqlite_migrations'"):
        cols = [r[1] for r in conn.execute(f'PRAGMA table_info("{table}")')
                if r[1] not in UNCOMPARED]
        out[table] = conn.execute(f'SELECT {", ".join(f"[{c}]" for c in cols)} FROM "{table}" '
                                  "ORDER BY 1, 2").fetchall()
    conn.close()
    return out


@pytest.fixture(scope="module")
def acled_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3,000 generated rows, then a bad one, a row repeated, and more rows after them."""
    folder = tmp_path_factory.mktemp("pipeline")
    path = generated_acled(folder / "events.csv", 3000)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    bad = {**rows[5], "event_id_cnty": "BAD1", "event_date": "2016-13-45"}
    far = {**rows[6], "event_id_cnty": "BAD2", "latitude": "nan"}
    rows = rows[:1500] + [bad, rows[10], far] + rows[1500:]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.slow  # 3,000 rows imported twice each way, compared (make test-slow)
def test_two_processes_write_the_ledger_one_writes(tmp_path: Path, acled_file: Path) -> None:
    runs = {}
    for mode in ("--no-pipeline", "--pipeline"):
        db = f"{mode[2:]}.db"
        command = MONITOR + ["import", str(acled_file), "--format", "acled", mode,
                             "--batch-size", "500"]  # six batches through the worker
        first = subprocess.run(command, env=env_for(tmp_path, db), capture_output=True,
                               text=True)
        again = subprocess.run(command, env=env_for(tmp_path, db), capture_output=True,
                               text=True)
        runs[mode] = (first, again, content(tmp_path / db))
        assert first.returncode == 1  # the rejections
        assert "3000 new report(s), 1 already recorded, 2 rejected" in first.stdout
        assert "2 record(s) rejected; the others were recorded" in first.stderr
        assert "0 new report(s), 3001 already recorded" in again.stdout
    one, two = runs["--no-pipeline"], runs["--pipeline"]
    assert [r.stdout for r in one[:2]] == [r.stdout for r in two[:2]]
    assert [r.stderr for r in one[:2]] == [r.stderr for r in two[:2]]
    assert "events.csv line 1502" in one[0].stderr  # the bad row, named where it is
    assert one[2] == two[2]
    assert len(one[2]["reports"]) == 3000 and len(one[2]["findings"]) > 500
    assert Ledger.open(tmp_path / "pipeline.db", readonly=True).verify().ok


pytestmark = pytest.mark.skipif(not Path("/proc/self/task").exists(),
                                reason="finds the worker process through Linux's /proc")


def test_a_worker_that_dies_is_a_clear_error_and_the_rerun_completes(
        tmp_path: Path, acled_file: Path) -> None:
    env = env_for(tmp_path, "l.db")
    command = MONITOR + ["import", str(acled_file), "--format", "acled", "--pipeline",
                         "--batch-size", "500"]
    # the worker is killed once it has handed over its 3rd batch; the importing process lives
    crashed = subprocess.run(command, env={**env, ENV: "pipeline.hand_over:3"},
                             capture_output=True, text=True, timeout=600)
    assert "crash injected at pipeline.hand_over:3" in crashed.stderr
    assert crashed.returncode == 1, crashed.stderr
    assert "worker process ended unexpectedly" in crashed.stderr
    assert "Run the same import again" in crashed.stderr
    ledger = Ledger.open(tmp_path / "l.db", readonly=True)
    taken = ledger.counts()["reports"]
    # whole batches: the importing process's own (the first OWN_PIECES), then those the
    # worker handed over before it died; a batch it was still writing when it died is lost
    # with it, never recorded in part (the 2 rejected rows and the repeated one are in the
    # 4th batch of 500)
    whole = [500 * k - 3 * (k >= 4) for k in range(pipeline.OWN_PIECES, pipeline.OWN_PIECES + 3)]
    assert taken in whole, (taken, whole)
    assert ledger.verify().ok
    rerun = subprocess.run(command, env=env, capture_output=True, text=True)
    assert f"{3000 - taken} new report(s), {taken + 1} already recorded" in (
        rerun.stdout)  # the row repeated in the file
    assert Ledger.open(tmp_path / "l.db", readonly=True).verify().ok


def test_a_killed_import_takes_its_worker_with_it(tmp_path: Path, acled_file: Path) -> None:
    proc = subprocess.Popen(MONITOR + ["import", str(acled_file), "--format", "acled",
                                       "--pipeline"], env=env_for(tmp_path, "l.db"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_until(lambda: bool(workers(proc.pid)))
    (worker,) = workers(proc.pid)
    proc.kill()
    proc.wait()
    assert wait_until(lambda: not alive(worker), 10), "the worker outlived the import"


def test_big_files_take_the_second_process_unless_told() -> None:
    big, small = pipeline.PIPELINE_MIN_LINES, pipeline.PIPELINE_MIN_LINES - 1
    assert pipeline.wanted(None, big) == ((os.cpu_count() or 1) >= 2)
    assert not pipeline.wanted(None, small)
    assert pipeline.wanted(True, 10) and not pipeline.wanted(False, big)


def test_a_worker_killed_half_way_through_handing_over_a_batch_is_a_clear_error(
        acled_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A judged batch of 500 reports is far bigger than the pipe under the channel (64 KiB):
    # while nobody reads, the worker's first batch stays half written. Killed then (at its
    # second hand-over), the importing process must not wait forever for the rest of it.
    monkeypatch.setenv(ENV, "pipeline.hand_over:2")  # the worker's; this process read its own
    with pipeline.Worker(ROOT / "config", "syria-2016", "acled", acled_file, "acled",
                         500) as worker:
        monkeypatch.delenv(ENV)
        # a spawned worker shows as one once it has started Python (it then loads its pack)
        assert wait_until(lambda: workers(os.getpid()), 60), "no worker started"
        (pid,) = workers(os.getpid())
        assert wait_until(lambda: not alive(pid), 120), "the worker was not killed"
        ended: list[BaseException] = []

        def read() -> None:
            try:
                list(worker)
            except BaseException as exc:  # noqa: BLE001 - the test looks at what it was
                ended.append(exc)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(60)
        assert ended, "the import waits forever for the rest of a batch its dead worker sent"
        assert isinstance(ended[0], pipeline.PipelineError), repr(ended[0])
        assert "worker process ended unexpectedly" in str(ended[0])


def test_the_worker_judges_from_the_piece_after_those_the_importing_process_judges(
        acled_file: Path) -> None:
    from monitor.adapters import reader
    from monitor.service import Rejection, validated

    def key(item: Any) -> str:  # a report's source id, or where a rejected row is
        return item.where if isinstance(item, Rejection) else item.source_id

    with pipeline.Worker(ROOT / "config", "syria-2016", "acled", acled_file, "acled", 500,
                         piece=500, skip=2) as worker:
        handed = [[key(i) for i in prepared.items] for prepared in worker]
    read = [[key(validated(i)) for i in items] for items in pipeline.pieces(
        reader("acled")(acled_file, feed="acled"), 500, 500)]
    assert len(read) == 7 and handed == read[2:]  # none of the first two, all of the rest
    # the rows the worker rejects are those of its own pieces (2 in the 4th piece of 500)
    assert sum(k.startswith("events.csv line") for p in handed for k in p) == 2


class Announced:
    """A notifier (as :class:`monitor.webhooks.Notifier` is to the monitor) that hands each
    event's kind and key to a function, at the moment the monitor announces it: the real one
    delivers later, on a thread of its own, so what it delivered could not tell whether the
    announcement came before the commit or after."""

    def __init__(self, to: Any) -> None:
        self.to = to

    def notify(self, event: Any) -> None:
        self.to(event.kind, event.key)


def _import(db: Path, path: Path, *, two: bool = False, batch_size: int, piece: int,
            sizes: list[int] | None = None, commits: list[int] | None = None,
            notify: Any = None, on_batch: Any = None) -> Any:
    """``monitor import`` of ``path`` into ``db`` through :func:`import_file`: each piece's
    size recorded in ``sizes`` (or given to ``on_batch``), the reports in the ledger at each
    commit in ``commits``, and each event announced given to ``notify(kind, key)`` (as to
    webhooks)."""
    from monitor.config import load_pack
    from monitor.imports import import_file
    from monitor.service import Monitor

    ledger = Ledger.open(db)
    committed, caches = ledger._committed, set()

    def counted() -> None:  # the ledger's own hook, run once a transaction has committed
        committed()
        if commits is not None:
            commits.append(ledger.counts()["reports"])
            caches.add(ledger._conn.execute("PRAGMA cache_size").fetchone()[0])

    ledger._committed = counted  # type: ignore[method-assign]

    def monitor() -> Monitor:
        made = Monitor(load_pack(ROOT / "config", "syria-2016"), ledger)
        if notify is not None:
            made.notifier = Announced(notify)  # type: ignore[assignment]
        return made

    try:
        result = import_file(
            path, "acled", monitor,
            config=ROOT / "config", pack="syria-2016", pipeline=two, batch_size=batch_size,
            piece=piece, on_batch=on_batch or (sizes if sizes is not None else []).append)
        if commits is not None:  # the import's page cache while it recorded, and after
            assert caches == {-store.BULK_CACHE_KIB}
            assert ledger._conn.execute("PRAGMA cache_size").fetchone()[0] == -store.CACHE_KIB
        return result
    finally:
        ledger.close()


@pytest.mark.parametrize("two", [False, True], ids=["one process", "two processes"])
def test_an_import_records_a_small_first_batch_then_batches_of_the_size_given(
        tmp_path: Path, acled_file: Path, two: bool) -> None:
    sizes: list[int] = []
    result = _import(tmp_path / "l.db", acled_file, two=two, batch_size=1200, piece=1200,
                     sizes=sizes)
    # recording starts once FIRST_BATCH reports are judged, not once 1,200 are
    assert sizes == [pipeline.FIRST_BATCH, 1200, 1200, 3003 - 1200 * 2 - pipeline.FIRST_BATCH]
    assert result.new == 3000 and len(result.rejections) == 2
    assert list(itertools.islice(pipeline.transaction_sizes(200), 3)) == [200, 200, 200]
    assert list(itertools.islice(pipeline.piece_sizes(1200, 500), 8)) == [
        500, 500, 500, 200, 500, 500, 200, 500]


@pytest.mark.parametrize("two", [False, True], ids=["one process", "two processes"])
def test_a_batch_is_recorded_in_pieces_and_committed_once_and_records_what_small_batches_do(
        tmp_path: Path, acled_file: Path, two: bool) -> None:
    sizes: list[int] = []
    commits: list[int] = []
    result = _import(tmp_path / "big.db", acled_file, two=two, batch_size=1000, piece=500,
                     sizes=sizes, commits=commits)
    assert sizes == [500] * 6 + [3]  # handed over and recorded 500 at a time
    # committed after the first 500 items, then every 1,000 (the rejected and the repeated
    # rows are in the third batch), and once more for the patterns at the end
    assert commits == [500, 1500, 2497, 3000, 3000]
    assert result.new == 3000 and result.duplicates == 1 and len(result.rejections) == 2
    small = _import(tmp_path / "small.db", acled_file, two=two, batch_size=500, piece=500)
    assert (small.new, small.by_term) == (result.new, result.by_term)
    assert content(tmp_path / "big.db") == content(tmp_path / "small.db")


@pytest.mark.slow  # an import through the worker failed half-way, then run again (make test-slow)
def test_a_failure_in_a_later_piece_rolls_back_its_whole_batch_and_the_rerun_completes(
        tmp_path: Path, acled_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor import service
    from monitor.imports import ImportStopped

    submit, calls = service.Monitor.submit, []

    def failing(self: Any, items: Any, **kw: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:  # the second piece of the second batch: the disk is full
            raise sqlite3.OperationalError("database or disk is full")
        return submit(self, items, **kw)

    monkeypatch.setattr(service.Monitor, "submit", failing)
    with pytest.raises(ImportStopped, match=r"the 500 report\(s\) before it are recorded"):
        _import(tmp_path / "l.db", acled_file, batch_size=1000, piece=500)
    ledger = Ledger.open(tmp_path / "l.db", readonly=True)
    assert ledger.counts()["reports"] == 500  # the batch's first piece went with it
    assert ledger.verify().ok
    ledger.close()
    monkeypatch.setattr(service.Monitor, "submit", submit)
    rerun = _import(tmp_path / "l.db", acled_file, batch_size=1000, piece=500)
    assert (rerun.new, rerun.duplicates) == (2500, 501)
    _import(tmp_path / "clean.db", acled_file, batch_size=1000, piece=500)
    assert content(tmp_path / "l.db") == content(tmp_path / "clean.db")


def test_findings_of_a_batch_are_announced_once_it_is_committed(
        tmp_path: Path, acled_file: Path) -> None:
    db = tmp_path / "l.db"
    seen: list[tuple[str, bool]] = []  # each finding announced, and whether a reader sees it

    def notify(kind: str, key: str) -> None:
        if kind == "finding":
            reader = sqlite3.connect(f"file:{db}?mode=ro", uri=True)  # sees what is committed
            seen.append((key, reader.execute("SELECT 1 FROM findings WHERE finding_id = ?",
                                             [key]).fetchone() is not None))
            reader.close()

    result = _import(db, acled_file, batch_size=1000, piece=500, notify=notify)
    assert len(seen) == result.findings > 500
    assert all(visible for _, visible in seen)


def _objects(pickled: bytes) -> int:
    """How many objects reading ``pickled`` back makes (each one pickle memoizes)."""
    return sum(op.name == "MEMOIZE" for op, _, _ in pickletools.genops(pickled))


def _judged_reports(acled_file: Path, n: int) -> list:
    from monitor.adapters import reader
    from monitor.config import load_pack
    from monitor.service import Evaluator, validated

    reports = [validated(item) for item in itertools.islice(
        reader("acled")(acled_file, feed="acled"), n)]
    return Evaluator(load_pack(ROOT / "config", "syria-2016")).judge_many(reports)


def test_a_batch_is_handed_over_with_each_repeated_note_once_and_explanations_as_text(
        acled_file: Path) -> None:
    judged = _judged_reports(acled_file, 400)
    before = pickle.dumps(judged, protocol=pickle.HIGHEST_PROTOCOL)
    texts = pipeline.hand_over(judged)
    after = pickle.dumps((judged, texts), protocol=pickle.HIGHEST_PROTOCOL)
    notes = [n for res, _ in judged for n in res.notes]
    assert len({id(n) for n in notes}) == len(set(notes)) < len(notes)  # one object a text
    findings = [f for _, fs in judged for f in fs]
    assert findings and all(f.explanation is None for f in findings)  # handed over as text
    # what reading it back makes: a piece's findings were ~20 dicts each, now a string
    assert _objects(after) < 0.8 * _objects(before)
    back, texts = pickle.loads(after)
    pipeline.taken_over(back, texts)
    assert back == pickle.loads(before)  # the same values, explanations included
    assert all(texts[i] == stored_explanations(*made) for i, made in enumerate(back))


def test_an_explanation_is_taken_over_value_for_value_even_a_number_past_64_bits(
        acled_file: Path) -> None:
    judged = [made for made in _judged_reports(acled_file, 50) if made[1]][:1]
    finding = judged[0][1][0]
    finding.explanation.append({"value": 2 ** 70})  # read back as an int, not a float
    whole = pickle.loads(pickle.dumps(finding.explanation))
    texts = pipeline.hand_over(judged)
    pipeline.taken_over(judged, texts)
    assert finding.explanation == whole
    assert type(finding.explanation[-1]["value"]) is int


def test_settled_heap_collects_cycles_only_past_its_threshold_and_restores_the_collector():
    import gc

    before = gc.get_threshold()
    runs: list[int] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "stop" and info["generation"] == 0:
            runs.append(info["collected"])

    gc.callbacks.append(seen)
    try:
        with pipeline.settled_heap():
            assert gc.get_threshold()[0] == pipeline.BATCH_GC_THRESHOLD
            kept = [[] for _ in range(pipeline.BATCH_GC_THRESHOLD // 2)]  # alive, acyclic
            assert runs == []  # half the threshold of young objects: the collector waits
            for _ in range(pipeline.BATCH_GC_THRESHOLD):  # cyclic garbage
                a: list = []
                a.append(a)
                del a
            assert runs and sum(runs) > 0  # ...and collects it once past the threshold
            del kept
    finally:
        gc.callbacks.remove(seen)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


@pytest.mark.parametrize("two", [False, True], ids=["one process", "two processes"])
def test_a_report_said_twice_in_one_piece_is_recorded_with_its_first_body(
        tmp_path: Path, two: bool) -> None:
    """The same report key twice in a piece judged by the worker, the second with other
    words: the first is recorded, body and incident alike (the second is a duplicate)."""
    path = generated_acled(tmp_path / "twice.csv", 20)
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    again = {**rows[12], "notes": "Other words entirely: a later copy of the same record."}
    rows = rows[:13] + [again] + rows[13:]  # rows 12 and 13: the third piece, the worker's
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = _import(tmp_path / "l.db", path, two=two, batch_size=10, piece=5)
    assert (result.new, result.duplicates) == (20, 1)
    conn = sqlite3.connect(tmp_path / "l.db")
    (body,) = conn.execute("SELECT body FROM reports WHERE source_id = ?",
                           [rows[12]["event_id_cnty"]]).fetchone()
    conn.close()
    assert json.loads(body)["notes"] == rows[12]["notes"] != again["notes"]
