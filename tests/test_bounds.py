"""Every input path is bounded: only regular files, no more bytes than allowed, no redirect to
another host, no private address unless the feed's file says so."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from monitor.adapters.jsonl import JsonlAdapter
from monitor.feeds import FeedSpec, HttpFetcher, SourceError
from monitor.files import FileRefused, read_regular
from monitor.service import Rejection
from tests.servers import serve

LINE = (b'{"source_id": "p-1", "occurred": "2016-09-15", "attacker": "Syrian air force", '
        b'"target": "civilians", "location": {"lat": 36.2, "lon": 37.1, "precision": 1}}\n')


def spec(source: str, **extra) -> FeedSpec:
    return FeedSpec.model_validate({"name": "partners", "adapter": "jsonl", "source": source,
                                    "retries": 0, "timeout_seconds": 5, **extra})


def finishes(call, seconds: float = 10.0):
    """Run ``call`` in a thread; fail (instead of hanging the suite) if it has not returned."""
    out: dict[str, object] = {}

    def target() -> None:
        try:
            out["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            out["error"] = exc
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still reading after {seconds} s"
    return out


def test_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jsonl")
    out = finishes(lambda: HttpFetcher(spec("pipe.jsonl"), tmp_path).read_bytes("pipe.jsonl"))
    assert isinstance(out["error"], SourceError)
    assert "named pipe (FIFO), not a regular file" in str(out["error"])


def test_a_device_is_refused_not_read_to_the_end(tmp_path: Path) -> None:
    out = finishes(lambda: HttpFetcher(spec("/dev/zero"), tmp_path).read_bytes("/dev/zero"))
    assert "a character device" in str(out["error"])


def test_max_bytes_holds_whatever_the_size_says(tmp_path: Path) -> None:
    (tmp_path / "big.jsonl").write_bytes(LINE * 100)
    with pytest.raises(FileRefused, match="over the feed's max_bytes"):
        read_regular(tmp_path / "big.jsonl", len(LINE) * 99)
    assert read_regular(tmp_path / "big.jsonl", len(LINE) * 100) == LINE * 100


def test_a_drop_folder_refuses_links_out_of_it_and_fifos_once(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.jsonl").write_bytes(LINE)
    secret = tmp_path / "secret.jsonl"
    secret.write_bytes(LINE.replace(b"p-1", b"stolen"))
    (drop / "b.jsonl").symlink_to(secret)
    os.mkfifo(drop / "c.jsonl")
    feed = spec("drop")
    batches = list(JsonlAdapter(feed, tmp_path).batches({}, HttpFetcher(feed, tmp_path)))
    items = [i for b in batches for i in b.items]
    ids = [i[1]["source_id"] for i in items if not isinstance(i, Rejection)]
    refused = {i.where: i.reason for i in items if isinstance(i, Rejection)}
    assert ids == ["p-1"]
    assert "outside the drop folder" in refused["b.jsonl"] and str(secret) in refused["b.jsonl"]
    assert "not a regular file" in refused["c.jsonl"]
    # refused once: the next poll says nothing more of them
    again = JsonlAdapter(feed, tmp_path).batches(batches[-1].cursor, HttpFetcher(feed, tmp_path))
    assert [i for b in again for i in b.items] == []


def test_a_drop_folders_cursor_grows_with_the_folder_not_its_square(tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    n = 400
    for i in range(n):
        (drop / f"{i:04}.jsonl").write_bytes(LINE.replace(b"p-1", f"p-{i}".encode()))
    feed = spec("drop")
    batches = list(JsonlAdapter(feed, tmp_path).batches({}, HttpFetcher(feed, tmp_path)))
    entries = sum(len(b.cursor["done"]) for b in batches if b.cursor)
    assert len(batches[-1].cursor["done"]) == n
    assert entries <= 6 * n  # every batch holding the whole map would be ~n²/2 = 80,000


def test_a_redirect_to_another_host_is_not_followed(tmp_path: Path) -> None:
    inner = {"/secret": (200, LINE, {})}
    with serve(inner) as internal:
        other = internal.replace("127.0.0.1", "localhost")
        routes = {"/feed": (302, b"", {"Location": f"{other}/secret"}),
                  "/moved": (301, b"", {"Location": "/feed-here"}),
                  "/feed-here": (200, LINE, {})}
        with serve(routes) as base:
            fetch = HttpFetcher(spec(f"{base}/feed", allow_private_network=True), tmp_path)
            with pytest.raises(SourceError, match="redirected to another host"):
                fetch.read_bytes(f"{base}/feed")
            assert fetch.read_bytes(f"{base}/moved") == LINE  # the same host: followed


def test_a_private_address_needs_the_feeds_consent(tmp_path: Path) -> None:
    with serve({"/feed": (200, LINE, {})}) as base:
        with pytest.raises(SourceError, match="allow_private_network: true"):
            HttpFetcher(spec(f"{base}/feed"), tmp_path).read_bytes(f"{base}/feed")
        allowed = HttpFetcher(spec(f"{base}/feed", allow_private_network=True), tmp_path)
        assert allowed.read_bytes(f"{base}/feed") == LINE


def cli(db: Path, *args: str):
    from click.testing import CliRunner

    from monitor.cli import main
    from monitor.config import PROJECT_ROOT
    return CliRunner().invoke(main, ["--config", str(PROJECT_ROOT / "config"), "--db",
                                     str(db), *args])


@pytest.mark.parametrize("fmt", ["acled", "jsonl"])
def test_importing_a_fifo_or_a_device_is_refused_at_once(tmp_path: Path, fmt: str) -> None:
    os.mkfifo(tmp_path / "pipe.csv")
    for source in (tmp_path / "pipe.csv", Path("/dev/zero")):
        out = finishes(lambda s=source: cli(tmp_path / "l.db", "import", str(s), "--format", fmt))
        result = out["value"]
        assert result.exit_code == 1 and "not a regular file" in result.output
        assert result.output.startswith("Error: ") and result.output.count("\n") == 1


def test_a_jsonl_line_is_read_no_further_than_its_limit(tmp_path: Path, monkeypatch) -> None:
    from monitor.adapters import jsonl

    monkeypatch.setattr(jsonl, "MAX_LINE_BYTES", 1000)
    lines = tmp_path / "drop.jsonl"
    lines.write_bytes(LINE + b'{"notes": "' + b"x" * 5000 + b'"}\n' + LINE.replace(b"p-1", b"p-2"))
    items = list(jsonl.read_file(lines, "partners"))
    assert [i[1]["source_id"] for i in items if not isinstance(i, Rejection)] == ["p-1", "p-2"]
    [refused] = [i for i in items if isinstance(i, Rejection)]
    assert refused.where == "drop.jsonl line 2" and "over 1,000 bytes" in refused.reason


def test_an_acled_line_is_read_no_further_than_its_limit(tmp_path: Path, monkeypatch) -> None:
    from monitor.adapters import acled

    monkeypatch.setattr(acled, "MAX_LINE_CHARS", 2000)
    sample = (Path(__file__).parents[1] / "feeds" / "samples" / "acled_syria_2016_sample.csv")
    header, *rows = sample.read_text(encoding="utf-8").splitlines(keepends=True)
    huge = rows[0].replace("Air strikes", "Air strikes " + "x" * 5000, 1)
    path = tmp_path / "events.csv"
    path.write_text(header + rows[1] + huge + rows[2], encoding="utf-8")
    items = list(acled.read_csv(path))
    refused = [i for i in items if isinstance(i, Rejection)]
    assert [i.where for i in refused] == ["events.csv line 3"]
    assert "over 2,000 characters" in refused[0].reason
    assert len([i for i in items if not isinstance(i, Rejection)]) == 2
