"""The vocabulary rejects bad values, naming the field and the reason; a finding's ledger row."""

from __future__ import annotations

import datetime as dt
import itertools
import pickle
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from monitor.adapters import reader
from monitor.config import PROJECT_ROOT, Pack
from monitor.keys import feed_of, report_key, same_feed_sql
from monitor.models import IncidentReport
from monitor.service import Evaluator, validated

UCDP = PROJECT_ROOT / "feeds" / "data" / "ged_syria_2016.csv"

GOOD = {"source_id": "r1", "occurred": "2016-08-10",
        "location": {"lat": 35.614, "lon": 36.562, "precision": 1}}


def errors(record: dict) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        IncidentReport.model_validate(record)
    return [(".".join(map(str, e["loc"])), e["msg"]) for e in info.value.errors()]


def test_a_good_report_is_accepted() -> None:
    report = IncidentReport.model_validate(GOOD)
    assert report.occurred == dt.date(2016, 8, 10)
    assert report.report_key == "manual:r1:1"


def test_report_keys_never_collide() -> None:
    """A ":" inside a source id or a revision cannot make two reports one key."""
    pairs = [("dup:1", "2"), ("dup", "1:2"), ("dup%3A1", "2"), ("dup:1:2", "1"), ("dup", "1%3A2")]
    keys = [IncidentReport.model_validate({**GOOD, "source_id": sid, "revision": rev}).report_key
            for sid, rev in pairs]
    assert len(set(keys)) == len(pairs)
    assert keys[0] == "manual:dup%3A1:2" and keys[1] == "manual:dup:1%3A2"


_KEY_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                    min_size=1, max_size=12) | st.sampled_from(["a", "a:b", ":", "a%3A", "%"])


@settings(max_examples=300, deadline=None)
@given(feed=_KEY_TEXT, source_id=_KEY_TEXT, revision=_KEY_TEXT, other=_KEY_TEXT)
def test_a_keys_feed_is_read_back_from_it_in_python_and_in_sql(feed, source_id, revision,
                                                                other) -> None:
    """The ledger reads a report's feed from its key (corroboration looks for other feeds'
    reports without a look-up in ``reports``): exactly, whatever ":" and "%" the feed, the
    source id and the revision hold ("a:b" is not of feed "a")."""
    key = report_key(feed, source_id, revision)
    assert feed_of(key) == feed
    conn = sqlite3.connect(":memory:")
    for name in (feed, other, feed + ":" + other):
        (same,) = conn.execute(f"SELECT {same_feed_sql('?1', '?2')}", [key, name]).fetchone()
        assert bool(same) == (name == feed), (key, name)


def test_a_reports_key_is_made_once_and_a_changed_copy_makes_its_own() -> None:
    """The key is made once a report (recording asks for it several times), so a report does
    not change; a copy with another revision is another report, with its own key, and neither
    the copy nor the pickled report carries the key into its fields."""
    report = IncidentReport.model_validate(GOOD)
    assert report.report_key == "manual:r1:1" and report.report_key is report.report_key
    with pytest.raises(ValidationError, match="frozen"):
        report.revision = "2"  # type: ignore[misc]
    copy = report.model_copy(update={"revision": "2", "source_id": "r:2"})
    assert (copy.report_key, report.report_key) == ("manual:r%3A2:2", "manual:r1:1")
    again = pickle.loads(pickle.dumps(report))
    assert again == report and again.report_key == report.report_key
    assert "report_key" not in report.model_dump() and "report_key" not in again.model_dump_json()


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"location": {"lat": 95, "lon": 36.5}}, "location.lat", "less than or equal to 90"),
    ({"location": {"lat": 35, "lon": 181}}, "location.lon", "less than or equal to 180"),
    ({"location": {"lat": float("nan"), "lon": 36.5}}, "location.lat", "finite number"),
    ({"platform": "Zeppelin!"}, "platform", "should match pattern"),
    ({"occurred": "2016-08-10T14:00:00"}, "occurred", "has no UTC offset"),
    ({"occurred": "10/08/2016"}, "occurred", "date"),
    ({"casualties_min": 5, "casualties_max": 2}, "", "casualties_min (5) is above"),
    ({"casualties_min": -1}, "casualties_min", "greater than or equal to 0"),
    ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ({"occurred_end": "2016-08-01"}, "", "occurred_end is before occurred"),
], ids=["latitude 95", "longitude 181", "NaN latitude", "platform not an id",
        "naive timestamp", "not a date", "casualties reversed",
        "negative casualties", "unknown field", "end before start"])
def test_bad_values_are_rejected_with_field_and_reason(change, field, reason) -> None:
    found = errors({**GOOD, **change})
    assert any(loc.startswith(field) and reason in msg for loc, msg in found), found


def test_a_time_with_an_offset_is_kept_as_given() -> None:
    report = IncidentReport.model_validate({**GOOD, "occurred": "2016-08-10T14:00:00+03:00"})
    assert report.occurred == dt.datetime(2016, 8, 10, 11, tzinfo=dt.timezone.utc)


def test_a_single_name_is_a_list_of_one() -> None:
    report = IncidentReport.model_validate({**GOOD, "attacker": "Syrian army"})
    assert report.attacker == ["Syrian army"]


def test_a_findings_ledger_row_is_its_model_dump_without_the_ledgers_own_columns(
        pack: Pack) -> None:
    """Finding.ledger_row reads the model's values instead of dumping (and deep-copying) them:
    for real findings it gives what model_dump gave, key for key and in order."""
    reports = list(itertools.islice((r for r in map(validated, reader("ucdp")(UCDP, feed="ucdp"))
                                     if isinstance(r, IncidentReport) and r.occurred.month == 9),
                                    300))
    findings = [f for _, found in Evaluator(pack).judge_many(reports) for f in found]
    assert len(findings) > 50
    left_out = {"status", "recorded_at", "parties", "aggregate", "claimed_target"}
    for f in findings:
        row = f.ledger_row()
        assert row == f.model_dump(exclude=left_out)
        assert list(row) == list(f.model_dump(exclude=left_out))


def _state(model: object) -> tuple:
    return (type(model), model.__dict__, model.__pydantic_fields_set__,  # type: ignore[attr-defined]
            model.__pydantic_extra__, model.__pydantic_private__)  # type: ignore[attr-defined]


def test_what_an_import_hands_between_processes_pickles_whole_and_lean(pack: Pack) -> None:
    """Reports, resolutions and findings (what an import's worker hands over) pickle as their
    class and state (monitor.models.Handed), not through pydantic's four-key state dict: each
    copy has the original's values, set fields and cached key, and stays as frozen."""
    reports = list(itertools.islice((r for r in map(validated, reader("ucdp")(UCDP, feed="ucdp"))
                                     if isinstance(r, IncidentReport)), 300))
    for r in reports[::2]:
        assert r.report_key and r.incident_id  # made once, kept in the state
    judged = Evaluator(pack).judge_many(reports)
    models = [*reports, *(r.location for r in reports if r.location)]
    models += [m for res, found in judged for m in (res, *found)]
    assert {type(m).__name__ for m in models} == {"IncidentReport", "Location", "Resolution",
                                                  "Finding"}
    pickled = pickle.dumps(models, protocol=pickle.HIGHEST_PROTOCOL)
    assert b"__pydantic_fields_set__" not in pickled  # pydantic's own state dict is not used
    back = pickle.loads(pickled)
    assert back == models
    assert [_state(m) for m in back] == [_state(m) for m in models]
    assert "report_key" in back[0].__dict__ and "report_key" not in back[1].__dict__
    with pytest.raises(ValidationError, match="frozen"):
        back[0].revision = "2"
    at = max(i for i, m in enumerate(models) if type(m).__name__ == "Finding")
    back[at].recorded_at = "2026-12-07T00:00:00+00:00"  # a finding's fields stay its own
    assert "recorded_at" in back[at].model_fields_set
    assert "recorded_at" not in models[at].model_fields_set
