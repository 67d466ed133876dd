"""The JSON Lines feed adapter with real files, a real drop folder and a real local HTTP server
(tests/servers.py): resume by byte offset, replaced files, drop-folder bookkeeping, bad lines."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

import pytest
from servers import serve

from monitor.adapters.jsonl import JsonlAdapter
from monitor.feeds import Batch, FeedSpec, HttpFetcher
from monitor.models import IncidentReport
from monitor.service import Rejection, validate

FIXTURE = Path(__file__).parent / "fixtures" / "jsonl" / "reports.jsonl"
LINES = FIXTURE.read_bytes().splitlines(keepends=True)  # five valid reports, p-001 .. p-005


def spec_for(source: str, **options: Any) -> FeedSpec:
    return FeedSpec(name="partners", adapter="jsonl", source=source, reliability="D",
                    options=options, allow_private_network=True)  # the test servers


def run(spec: FeedSpec, base: Path, cursor: dict[str, Any]) -> list[Batch]:
    """One poll: every batch the adapter yields from ``cursor``."""
    return list(JsonlAdapter(spec, base).batches(cursor, HttpFetcher(spec, base)))


def ids(batches: list[Batch]) -> list[str]:
    return [i[1]["source_id"] for b in batches for i in b.items if not isinstance(i, Rejection)]


def wheres(batches: list[Batch]) -> list[str]:
    return [i.where if isinstance(i, Rejection) else i[0] for b in batches for i in b.items]


def rejections(batches: list[Batch]) -> list[str]:
    return [str(i) for b in batches for i in b.items if isinstance(i, Rejection)]


# --- an append-only file -----------------------------------------------------------------


def test_records_become_valid_reports_with_the_feeds_defaults(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "reports.jsonl")
    [batch] = run(spec_for("reports.jsonl"), tmp_path, {})
    reports = [validate(raw, where) for where, raw in batch.items]
    assert all(isinstance(r, IncidentReport) for r in reports), reports
    assert {r.feed for r in reports} == {"partners"}
    # a record may grade itself; the others take the feed's grade
    assert [r.reliability for r in reports] == ["D", "D", "C", "D", "D"]
    assert batch.cursor == {"offset": len(FIXTURE.read_bytes()), "size": len(FIXTURE.read_bytes()),
                            "head_sha256": hashlib.sha256(FIXTURE.read_bytes()[:4096]).hexdigest()}


def test_a_file_is_resumed_from_its_offset_and_a_half_written_line_waits(tmp_path):
    path = tmp_path / "reports.jsonl"
    half = LINES[2][:40]
    path.write_bytes(LINES[0] + LINES[1] + half)  # the partner is still writing line 3
    first = run(spec_for("reports.jsonl"), tmp_path, {})
    assert ids(first) == ["p-001", "p-002"]
    assert first[-1].cursor["offset"] == len(LINES[0] + LINES[1])
    assert run(spec_for("reports.jsonl"), tmp_path, first[-1].cursor) == []  # still half

    with path.open("ab") as fh:
        fh.write(LINES[2][40:] + LINES[3])
    second = run(spec_for("reports.jsonl"), tmp_path, first[-1].cursor)
    assert ids(second) == ["p-003", "p-004"]
    assert wheres(second) == ["reports.jsonl line 3", "reports.jsonl line 4"]
    assert second[-1].cursor["offset"] == path.stat().st_size
    assert run(spec_for("reports.jsonl"), tmp_path, second[-1].cursor) == []


@pytest.mark.parametrize("replacement", [
    LINES[4] + LINES[3] + LINES[2],  # new content, longer than the old offset
    LINES[4],  # shorter than the old offset: truncated, or replaced by a smaller file
], ids=["replaced-longer", "replaced-shorter"])
def test_a_replaced_file_is_read_again_from_the_start(tmp_path, replacement):
    path = tmp_path / "reports.jsonl"
    path.write_bytes(LINES[0] + LINES[1])
    cursor = run(spec_for("reports.jsonl"), tmp_path, {})[-1].cursor
    path.write_bytes(replacement)
    batches = run(spec_for("reports.jsonl"), tmp_path, cursor)
    assert wheres(batches)[0] == "reports.jsonl line 1"
    assert len(ids(batches)) == len(replacement.splitlines())


def test_batches_hold_batch_size_lines_and_each_cursor_resumes_after_its_batch(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "reports.jsonl")
    spec = spec_for("reports.jsonl", batch_size=2)
    batches = run(spec, tmp_path, {})
    assert [ids([b]) for b in batches] == [["p-001", "p-002"], ["p-003", "p-004"], ["p-005"]]
    # a crash after the first batch: the next poll goes on from its cursor
    assert ids(run(spec, tmp_path, batches[0].cursor)) == ["p-003", "p-004", "p-005"]


@pytest.mark.parametrize("line, reason", [
    (b'{"source_id": "p-9", "notes": "caf\xe9"}\n', "not UTF-8 (invalid continuation byte"),
    (b'{"source_id": "p-9", \n', "not valid JSON: Expecting property name"),
    (b'["p-9", "2016-08-10"]\n', "each line must be a JSON object"),
    (b'"p-9"\n', "each line must be a JSON object"),
    (b'{"feed": "acled", "source_id": "SYR9001", "revision": "9999999999"}\n',
     "feed 'acled' is not the feed recording it ('partners')"),
], ids=["not-utf8", "bad-json", "array", "string", "another-feeds-record"])
def test_a_bad_line_is_rejected_with_its_number_and_the_others_go(tmp_path, line, reason):
    (tmp_path / "reports.jsonl").write_bytes(LINES[0] + line + b"\n" + LINES[1])
    batches = run(spec_for("reports.jsonl"), tmp_path, {})
    assert ids(batches) == ["p-001", "p-002"]
    [rejected] = rejections(batches)
    assert rejected.startswith(f"reports.jsonl line 2: {reason}")
    assert wheres(batches)[-1] == "reports.jsonl line 4"  # the blank line 3 is skipped


# --- a drop folder -----------------------------------------------------------------------


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """A partners' drop folder with two finished files and some that are not (yet) theirs."""
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "2016-08-a.jsonl").write_bytes(LINES[0] + b"{oops\n" + LINES[1])
    (folder / "2016-08-b.jsonl").write_bytes(LINES[2])  # no trailing newline needed
    (folder / "2016-09-c.jsonl.tmp").write_bytes(LINES[3][:30])  # still being written
    (folder / "2016-09-d.jsonl.part").write_bytes(LINES[3])
    (folder / ".2016-09-e.jsonl").write_bytes(LINES[3])  # rsync's temporary name
    (folder / "notes.txt").write_text("not a report\n")
    return folder


def test_a_drop_folder_reads_finished_files_in_name_order(drop, tmp_path):
    batches = run(spec_for("drop"), tmp_path, {})
    assert ids(batches) == ["p-001", "p-002", "p-003"]
    assert rejections(batches) == [
        "2016-08-a.jsonl line 2: not valid JSON: Expecting property name enclosed in double "
        "quotes at column 2"]
    digest = {n: hashlib.sha256((drop / n).read_bytes()).hexdigest()
              for n in ("2016-08-a.jsonl", "2016-08-b.jsonl")}
    # one batch per file, each cursor remembering the files done so far
    assert [b.cursor for b in batches] == [{"done": {"2016-08-a.jsonl": digest["2016-08-a.jsonl"]}},
                                           {"done": digest}]
    assert run(spec_for("drop"), tmp_path, batches[-1].cursor) == []


def test_a_file_dropped_later_is_read_alone(drop, tmp_path):
    cursor = run(spec_for("drop"), tmp_path, {})[-1].cursor
    (drop / "2016-09-c.jsonl.tmp").write_bytes(LINES[3])
    (drop / "2016-09-c.jsonl.tmp").rename(drop / "2016-09-c.jsonl")  # the partner is done
    [batch] = run(spec_for("drop"), tmp_path, cursor)
    assert ids([batch]) == ["p-004"]
    assert set(batch.cursor["done"]) == {"2016-08-a.jsonl", "2016-08-b.jsonl", "2016-09-c.jsonl"}


def test_a_changed_file_is_read_again_and_a_removed_one_forgotten(drop, tmp_path):
    cursor = run(spec_for("drop"), tmp_path, {})[-1].cursor
    (drop / "2016-08-b.jsonl").write_bytes(LINES[2] + LINES[4])  # the partner fixed a file
    (drop / "2016-08-a.jsonl").unlink()
    [batch] = run(spec_for("drop"), tmp_path, cursor)
    assert ids([batch]) == ["p-003", "p-005"]  # p-003 again: the ledger keeps it once
    assert list(batch.cursor["done"]) == ["2016-08-b.jsonl"]


def test_a_file_longer_than_a_batch_is_done_only_with_its_last_batch(drop, tmp_path):
    batches = run(spec_for("drop", batch_size=2), tmp_path, {})
    assert [(wheres([b]), b.cursor and sorted(b.cursor["done"])) for b in batches] == [
        (["2016-08-a.jsonl line 1", "2016-08-a.jsonl line 2"], None),  # the position stays
        (["2016-08-a.jsonl line 3"], ["2016-08-a.jsonl"]),
        (["2016-08-b.jsonl line 1"], ["2016-08-a.jsonl", "2016-08-b.jsonl"]),
    ]


# --- a URL -------------------------------------------------------------------------------


def test_an_unchanged_body_yields_no_batch_and_a_changed_one_is_read(tmp_path):
    body = {"data": LINES[0] + LINES[1]}
    routes = {"/exports/reports.jsonl": lambda path, query: (200, body["data"], {}),
              "__log__": []}
    with serve(routes) as base:
        spec = spec_for(f"{base}/exports/reports.jsonl")
        first = run(spec, tmp_path, {})
        assert ids(first) == ["p-001", "p-002"]
        assert first[-1].cursor == {"sha256": hashlib.sha256(body["data"]).hexdigest()}
        assert run(spec, tmp_path, first[-1].cursor) == []
        body["data"] += LINES[2]
        second = run(spec, tmp_path, first[-1].cursor)
        assert ids(second) == ["p-001", "p-002", "p-003"]  # a body is read whole; dedup drops 2
        assert wheres(second)[-1] == "reports.jsonl line 3"
    assert len(routes["__log__"]) == 3


def test_an_unknown_option_is_an_error_naming_it(tmp_path):
    with pytest.raises(ValueError, match="batchsize"):
        JsonlAdapter(spec_for("reports.jsonl", batchsize=10), tmp_path)
