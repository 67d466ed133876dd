"""One vocabulary: the tuples come from the Literals, the sets that count from the statuses."""

from __future__ import annotations

from typing import get_args

import pytest

from monitor import models, vocabulary as v


@pytest.mark.parametrize("literal, values", [
    (v.Platform, v.PLATFORMS), (v.TargetCategory, v.TARGET_CATEGORIES),
    (v.EventType, v.EVENT_TYPES), (v.Severity, v.SEVERITIES), (v.Status, v.STATUSES),
    (v.Confidence, v.CONFIDENCES),
], ids=["platforms", "targets", "event-types", "severities", "statuses", "confidences"])
def test_each_tuple_is_its_literal(literal, values) -> None:
    assert values == get_args(literal) and len(set(values)) == len(values)


def test_every_status_is_counted_set_aside_or_gone_exactly_once() -> None:
    groups = [v.COUNTED_STATUSES, v.SET_ASIDE_STATUSES, v.GONE_STATUSES]
    assert sorted(s for g in groups for s in g) == sorted(v.STATUSES)
    assert v.COUNTED_STATUSES == ("alleged", "corroborated", "confirmed")


def test_the_sets_are_inside_their_vocabularies() -> None:
    assert v.ATTACK_EVENT_TYPES < set(v.EVENT_TYPES)
    assert v.AIRCRAFT_PLATFORMS < set(v.PLATFORMS)
    assert v.CIVILIAN_TARGETS < set(v.TARGET_CATEGORIES)
    assert set(v.SERIOUS_SEVERITIES) < set(v.SEVERITIES)
    assert set(v.SETTLED_STATUSES) < set(v.STATUSES)


def test_models_speak_the_same_vocabulary() -> None:
    assert models.STATUSES is v.STATUSES and models.Status is v.Status


def test_sql_lists_keep_their_order_and_quote_only_words() -> None:
    assert v.sql_list(v.SET_ASIDE_STATUSES) == "('disputed', 'discounted')"
    with pytest.raises(AssertionError):
        v.sql_list(("x'); DROP TABLE findings; --",))


def test_the_ledgers_views_are_written_from_the_vocabulary() -> None:
    from monitor.ledger.integrity import expected_schema

    views = " ".join(sql for (kind, _), sql in expected_schema().items() if kind == "view")
    assert f"NOT IN {v.sql_list(v.GONE_STATUSES)}" in views
    # what the scorecard counts: the triggers that keep its rows (m006)
    triggers = " ".join(sql for (kind, _), sql in expected_schema().items() if kind == "trigger")
    assert f"NOT IN {v.sql_list(v.GONE_STATUSES + v.SET_ASIDE_STATUSES)}" in triggers
