"""The pipeline's shortcuts give what the slow, obvious code gives (monitor/service.py)."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
from pathlib import Path

import pytest

from monitor.adapters import ucdp
from monitor.config import load_pack
from monitor.resolve import resolve, resolve_many
from monitor.service import Rejection, validate
from monitor.staged import OPTIONAL_RESOLUTION, resolution_json

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def resolved() -> list:
    pack = load_pack(ROOT / "config", "syria-2016")
    with (ROOT / "feeds" / "data" / "ged_syria_2016.csv").open(newline="") as fh:
        rows = list(itertools.islice(csv.DictReader(fh), 1500))
    reports = [r for r in (validate(ucdp.to_report(row, "ucdp", None), f"row {i}")
                           for i, row in enumerate(rows)) if not isinstance(r, Rejection)]
    assert len(reports) > 1000
    return [(r, res, pack) for r, res in zip(reports, resolve_many(reports, pack))]


def test_resolution_json_is_pydantics_json_dump(resolved: list) -> None:
    """Pydantic's dump, without the optional facts a pack that uses none of them leaves unset
    (weapon class, distances, responsible sides): what such a pack records is unchanged."""
    for _, res, _ in resolved:
        dump = res.model_dump(mode="json")
        assert {k: dump.pop(k) for k in OPTIONAL_RESOLUTION} == {
            "weapon_class": None, "distances_km": {}, "zone_responsible": []}
        assert resolution_json(res) == dump
    res = resolved[0][1].model_copy(update={"weapon_class": "tank", "distances_km": {"x": 1.5},
                                            "zone_responsible": ["turkey"]})
    assert resolution_json(res) == res.model_dump(mode="json")
    # microseconds and a non-UTC zone are written as pydantic writes them too
    res = resolved[0][1].model_copy(update={
        "start": dt.datetime(2016, 9, 1, 1, 2, 3, 4567, tzinfo=dt.timezone.utc)})
    assert resolution_json(res) == res.model_dump(mode="json", exclude=set(OPTIONAL_RESOLUTION))


def test_a_batch_resolves_as_each_report_alone(resolved: list) -> None:
    for report, res, pack in resolved[::25]:
        assert resolve(report, pack) == res


def test_a_times_texts_are_made_once_an_instant_and_the_memo_stays_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor import staged
    from monitor.ledger import iso

    monkeypatch.setattr(staged, "_TEXTS", {})
    monkeypatch.setattr(staged, "_TEXTS_MAX", 3)
    local = dt.datetime(2016, 2, 27, 0, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    texts = staged._texts(local)
    assert texts == (iso(local), "2016-02-26T22:00:00.123456Z") == (
        "2016-02-26T22:00:00+00:00", "2016-02-26T22:00:00.123456Z")
    assert staged._texts(local.astimezone(dt.timezone.utc)) is texts  # one instant, one entry
    assert staged.iso_once(local) == iso(local)  # the judge's text of the time (a finding's)
    for hours in range(1, 6):
        later = local + dt.timedelta(hours=hours)
        assert staged._texts(later)[0] == iso(later)
        assert len(staged._TEXTS) <= 3


def test_a_reports_window_is_made_once_per_time_and_is_what_its_times_give() -> None:
    """resolve's memo of event windows (resolve._window): a date is the local day, a time a
    minute; one instant written at two offsets is one entry with one window; a date and the
    midnight that starts it are two entries (a day, and a minute)."""
    from monitor import resolve as r

    tz = load_pack(ROOT / "config", "syria-2016").tz
    utc = dt.timezone.utc
    r._window.cache_clear()
    day = r._window(dt.date(2016, 8, 10), None, None, tz)
    assert day == r._window.__wrapped__(dt.date(2016, 8, 10), None, None, tz) == (
        dt.datetime(2016, 8, 9, 21, tzinfo=utc), dt.datetime(2016, 8, 10, 21, tzinfo=utc), "day",
        dt.date(2016, 8, 10))
    local = dt.datetime(2016, 8, 10, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=3)))
    minute = r._window(local, None, None, tz)
    assert minute == (dt.datetime(2016, 8, 9, 21, 30, tzinfo=utc),
                      dt.datetime(2016, 8, 9, 21, 31, tzinfo=utc), "time", dt.date(2016, 8, 10))
    assert r._window(local.astimezone(utc), None, None, tz) is minute  # one instant, one entry
    midnight = r._window(dt.datetime(2016, 8, 9, 21, tzinfo=utc), None, None, tz)
    assert midnight[2] == "time" and r._window.cache_info().currsize == 3
    longer = r._window(dt.date(2016, 8, 10), dt.date(2016, 8, 12), "days", tz)
    assert longer[:3] == (day[0], dt.datetime(2016, 8, 12, 21, tzinfo=utc), "days")
    report = validate({"source_id": "w", "occurred": "2016-08-10",
                       "occurred_end": "2016-08-12", "date_precision": "days"}, "row 1")
    assert r.time_window(report, tz) == longer[:3]


def test_a_recorded_finding_says_when_the_ledger_recorded_it(monitor) -> None:
    record = {"feed": "acled", "source_id": "SYR1", "revision": "1", "occurred": "2016-08-10",
              "attacker": "Military Forces of Syria (2000-)", "target": "Civilians (Syria)",
              "event_type": "air_strike", "location": {"lat": 35.614, "lon": 36.562},
              "notes": "helicopters dropped barrel bombs on the market"}
    [outcome] = monitor.submit([("r1", record)]).outcomes
    assert {f.term for f in outcome.findings} == {"MAY-CIV", "JIG-SAAF"}
    stored = {f["finding_id"]: f["recorded_at"] for f in monitor.ledger.findings()}
    assert {f.finding_id: f.recorded_at for f in outcome.findings} == stored
    assert all(stored.values())
