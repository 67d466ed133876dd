"""RSS/Atom adapter against a real local HTTP server serving the fixtures in ``fixtures/rss``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from monitor.adapters.rss import RssAdapter, declared_entity, strip_html
from monitor.feeds import Batch, FeedSpec, HttpFetcher, SourceError
from monitor.models import IncidentReport
from monitor.service import Rejection
from tests.servers import serve

FIXTURES = Path(__file__).parent / "fixtures" / "rss"
XML = {"Content-Type": "application/rss+xml"}


def make_spec(source: str, **options: Any) -> FeedSpec:
    return FeedSpec.model_validate({"name": "wire", "adapter": "rss", "source": source,
                                    "reliability": "D", "options": options, "retries": 0,
                                    "timeout_seconds": 5, "allow_private_network": True})


def run(spec: FeedSpec, cursor: dict[str, Any], base: Path) -> list[Batch]:
    return list(RssAdapter(spec, base).batches(cursor, HttpFetcher(spec, base)))


def run_fixture(name: str, tmp_path: Path, cursor: dict[str, Any] | None = None,
                **options: Any) -> list[Batch]:
    """Serve one fixture file and poll it once."""
    body = (FIXTURES / name).read_bytes()
    with serve({f"/feeds/{name}": (200, body, XML)}) as base:
        return run(make_spec(f"{base}/feeds/{name}", **options), cursor or {}, tmp_path)


def reports(batches: list[Batch]) -> list[dict[str, Any]]:
    return [i[1] for b in batches for i in b.items if not isinstance(i, Rejection)]


def rejections(batches: list[Batch]) -> list[Rejection]:
    return [i for b in batches for i in b.items if isinstance(i, Rejection)]


def test_georss_items_become_valid_reports_with_lat_lon_in_the_right_order(tmp_path):
    batches = run_fixture("georss.xml", tmp_path)
    assert len(batches) == 1 and rejections(batches) == []
    strike, shelling = (IncidentReport.model_validate(r) for r in reports(batches))
    assert strike.source_id == "wire-2016-09-28-0412"
    assert strike.location is not None
    # <georss:point>36.2 37.15</georss:point> is "lat lon"; feedparser hands back (lon, lat)
    assert (strike.location.lat, strike.location.lon) == (36.2, 37.15)
    assert strike.location.precision == 2
    assert strike.occurred.isoformat() == "2016-09-28T04:45:00+00:00"
    assert strike.event_type == "attack" and strike.attacker == [] and strike.target == []
    assert strike.notes == ("Air strike hits hospital in eastern Aleppo — Warplanes struck the "
                            "al-Sakhour hospital at dawn, & put it out of service. "
                            "Two staff were killed.")
    assert strike.sources == ["https://news.example.org/2016/09/28/aleppo-hospital-strike"]
    assert strike.reliability == "D" and strike.feed == "wire" and strike.revision == "1"
    assert shelling.location is None
    assert shelling.source_id == "https://news.example.org/2016/09/28/idlib-shelling"


def test_precision_option_applies_to_georss_points(tmp_path):
    strike = reports(run_fixture("georss.xml", tmp_path, precision=1))[0]
    assert strike["location"]["precision"] == 1


def test_second_run_with_the_cursor_yields_nothing(tmp_path):
    body = (FIXTURES / "georss.xml").read_bytes()
    log: list[str] = []
    with serve({"/feeds/georss.xml": (200, body, XML), "__log__": log}) as base:
        spec = make_spec(f"{base}/feeds/georss.xml")
        first = run(spec, {}, tmp_path)
        cursor = first[-1].cursor
        assert "wire-2016-09-28-0412" in cursor["seen"]
        second = run(spec, cursor, tmp_path)
    assert reports(second) == [] and rejections(second) == []
    assert log == ["/feeds/georss.xml", "/feeds/georss.xml"]


def test_an_updated_entry_is_read_again_as_a_new_revision(tmp_path):
    old = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>
      <entry><id>urn:x:1</id><title>Strike on Atareb market</title>
      <updated>2016-09-20T08:00:00Z</updated></entry></feed>"""
    new = old.replace(b"08:00:00Z", b"12:00:00Z").replace(b"market", b"market, 12 killed")
    pages = [old, new]
    with serve({"/atom": lambda p, q: (200, pages[0], {})}) as base:
        spec = make_spec(f"{base}/atom")
        first = reports(run(spec, {}, tmp_path))
        cursor = {"seen": {"urn:x:1": first[0]["revision"]}}
        pages.pop(0)
        second = reports(run(spec, cursor, tmp_path))
    assert first[0]["revision"] == "2016-09-20T08:00:00Z"
    assert second[0]["revision"] == "2016-09-20T12:00:00Z"
    assert second[0]["notes"] == "Strike on Atareb market, 12 killed"


def test_seen_keeps_only_the_newest_entries(tmp_path):
    cursor = run_fixture("georss.xml", tmp_path, seen_max=1)[-1].cursor
    # oldest first: the 07:45 (+03:00) strike is dropped, the 11:10 GMT shelling kept
    assert list(cursor["seen"]) == ["https://news.example.org/2016/09/28/idlib-shelling"]


def test_a_list_of_ids_is_accepted_as_seen(tmp_path):
    cursor = {"seen": ["wire-2016-09-28-0412"]}
    ids = [r["source_id"] for r in reports(run_fixture("georss.xml", tmp_path, cursor))]
    assert ids == ["https://news.example.org/2016/09/28/idlib-shelling"]


@pytest.mark.parametrize("name", ["billion_laughs.xml", "external_entity.xml"],
                         ids=["billion-laughs", "external-entity"])
def test_documents_declaring_entities_are_refused_before_parsing(tmp_path, name):
    started = time.perf_counter()
    with pytest.raises(SourceError, match="declares XML entities; refused|declares XML entit"):
        run_fixture(name, tmp_path)
    # 10^9 "lol"s would take minutes and gigabytes; refusing is a scan of the prolog
    assert time.perf_counter() - started < 2


def test_entity_check_reads_only_the_prolog():
    started = time.perf_counter()
    assert declared_entity((FIXTURES / "billion_laughs.xml").read_bytes()) == "lol"
    assert time.perf_counter() - started < 0.1
    cdata = (b'<?xml version="1.0"?><rss version="2.0"><channel><item><description>'
             b'<![CDATA[how <!ENTITY lol "lol"> attacks work]]></description></item>'
             b'</channel></rss>')
    assert declared_entity(cdata) is None  # an article about the attack is not the attack
    utf16 = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE r [<!ENTITY a "b">]><r/>'
    assert declared_entity(utf16.encode("utf-16")) == "a"


def test_a_doctype_without_entity_declarations_is_accepted(tmp_path):
    batches = run_fixture("rss091_doctype.xml", tmp_path)
    # parsed: its one item has no date (RSS 0.91 items have none), so it is rejected
    assert [r.reason for r in rejections(batches)] == [
        "entry 'https://news.example.org/2016/03/10/daraya' has no published or updated date; "
        "an incident needs a time"]


def test_malformed_xml_with_entries_is_still_processed(tmp_path):
    batches = run_fixture("malformed.xml", tmp_path)
    found = [IncidentReport.model_validate(r) for r in reports(batches)]
    assert [r.source_id for r in found] == ["https://news.example.org/2016/09/12/ramouseh",
                                            "https://news.example.org/2016/09/13/convoy"]
    assert found[0].notes == ("Clashes in Ramouseh & the 1070 housing project — "
                              "Fighting continued after the truce began.")
    assert found[1].notes == "Aid convoy waits at the Turkish border"


def test_an_entry_without_a_date_is_a_rejection(tmp_path):
    batches = run_fixture("no_date.xml", tmp_path)
    assert [r["source_id"] for r in reports(batches)] == [
        "https://news.example.org/2016/09/14/hama"]
    (rejected,) = rejections(batches)
    assert rejected.where == "no_date.xml entry 2"
    assert "has no published or updated date" in rejected.reason
    # remembered, so the next poll does not reject it again
    assert run_fixture("no_date.xml", tmp_path, batches[-1].cursor) == []


@pytest.mark.parametrize("body,reason", [
    (b"this is not xml at all", "not a readable feed"),
    (b"<html><body><h1>Service unavailable</h1></body></html>", "not an RSS or Atom document"),
], ids=["bozo-without-entries", "html-error-page"])
def test_a_document_without_entries_that_is_no_feed_is_a_source_error(tmp_path, body, reason):
    with serve({"/feed": (200, body, {})}) as base:
        with pytest.raises(SourceError, match=reason):
            run(make_spec(f"{base}/feed"), {}, tmp_path)


def test_an_http_error_is_a_source_error(tmp_path):
    with serve({}) as base:
        with pytest.raises(SourceError, match="HTTP 404"):
            run(make_spec(f"{base}/missing.xml"), {}, tmp_path)


def test_w3c_geo_lat_long_and_relative_links(tmp_path):
    body = b"""<?xml version="1.0"?>
      <rss version="2.0" xmlns:geo="http://www.w3.org/2003/01/geo/wgs84_pos#">
      <channel><title>t</title>
      <item><title>Strike on Saraqib</title><link>/2016/09/30/saraqib</link>
      <pubDate>Fri, 30 Sep 2016 10:00:00 GMT</pubDate>
      <geo:lat>35.8623</geo:lat><geo:long>36.8045</geo:long></item></channel></rss>"""
    with serve({"/feeds/rss.xml": (200, body, XML)}) as base:
        (report,) = reports(run(make_spec(f"{base}/feeds/rss.xml"), {}, tmp_path))
        assert report["sources"] == [f"{base}/2016/09/30/saraqib"]
    location = IncidentReport.model_validate(report).location
    assert location is not None and (location.lat, location.lon) == (35.8623, 36.8045)


def test_a_local_file_source_is_read_relative_to_the_feeds_folder(tmp_path):
    (tmp_path / "georss.xml").write_bytes((FIXTURES / "georss.xml").read_bytes())
    assert len(reports(run(make_spec("georss.xml"), {}, tmp_path))) == 2


def test_unknown_option_is_an_error(tmp_path):
    with pytest.raises(ValidationError, match="precison"):
        RssAdapter(make_spec("x.xml", precison=1), tmp_path)


def test_strip_html_keeps_text_and_drops_scripts():
    assert strip_html("<p>a &amp; b</p><script>alert(1)</script><p>c<br>d</p>") == "a & b c d"
