"""explain(): every node's value and evidence for one profile, and the eligibility check."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engagectl.compile.explain import explain
from engagectl.profiles.reader import ProfileNotFound
from tests.compile.conftest import load_events, make_project

AS_OF = datetime(2024, 6, 1, tzinfo=timezone.utc)

PROJECT = make_project([
    {"kind": "audience", "key": "cart_abandoners",
     "where": {"event": "Product Added", "within": "7d", "then_not": {"event": "Order Completed", "within": "1d"}}},
    {"kind": "audience", "key": "big_spenders", "where": {"any": [
        {"event": "Order Completed", "sum": {"property": "revenue", "gte": 500}},
        {"not": {"trait": "plan", "eq": "free"}},
    ]}},
])

EVENTS = [
    {"type": "track", "event": "Product Added", "userId": "bob", "messageId": "a1", "timestamp": "2024-05-27T10:00:00Z"},
    {"type": "track", "event": "Order Completed", "userId": "bob", "messageId": "o1", "timestamp": "2024-05-27T11:00:00Z",
     "properties": {"revenue": 120}},
    {"type": "track", "event": "Product Added", "userId": "bob", "messageId": "a2", "timestamp": "2024-05-29T10:00:00Z"},
    {"type": "identify", "userId": "bob", "timestamp": "2024-05-01T00:00:00Z", "traits": {"plan": "free"}},
    {"type": "track", "event": "Product Added", "anonymousId": "anon-1", "messageId": "a3",
     "timestamp": "2024-05-29T10:00:00Z"},
]


@pytest.fixture
def loaded(warehouse):
    load_events(warehouse, EVENTS)
    return warehouse


def test_funnel_evidence_lists_the_qualifying_parent(loaded):
    result = explain(loaded, PROJECT, "cart_abandoners", "user_id", "bob", AS_OF)
    assert result.member is True
    assert result.condition.value is True
    assert result.condition.evidence["qualifying_parents"] == 1
    # the first Product Added was followed by an order; only the second one qualifies
    assert [e["message_id"] for e in result.condition.evidence["events"]] == ["a2"]


def test_anonymous_profile_is_not_eligible(loaded):
    result = explain(loaded, PROJECT, "cart_abandoners", "anonymous_id", "anon-1", AS_OF)
    assert result.condition.value is True
    assert result.eligibility.value is False
    assert result.eligibility.evidence["identifiers"] == {"anonymous_id": ["anon-1"]}
    assert result.member is False


def test_tree_shows_sum_and_trait_value(loaded):
    result = explain(loaded, PROJECT, "big_spenders", "user_id", "bob", AS_OF)
    total, negated = result.condition.children
    assert total.value is False and total.evidence["sum"] == pytest.approx(120)
    assert total.evidence["count"] == 1
    assert negated.value is False
    [plan] = negated.children
    assert plan.value is True and plan.evidence["value"] == "free"
    assert result.member is False
    assert result.to_dict()["condition"]["children"][1]["children"][0]["description"] == "trait plan = 'free'"


def test_unknown_identifier_raises(loaded):
    with pytest.raises(ProfileNotFound):
        explain(loaded, PROJECT, "cart_abandoners", "email", "nobody@example.com", AS_OF)
