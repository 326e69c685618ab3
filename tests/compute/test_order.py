"""The order of a run: traits first, then audiences by their references, journeys last."""

from __future__ import annotations

import pytest

from compute_fixtures import make_project
from engagectl.compute.order import ordered_computations

RESOURCES = [
    {"kind": "audience", "key": "after_onboarding", "where": {"audience": "onboarding__welcomed"}},
    {"kind": "journey", "key": "onboarding", "entry": {"audience": "vip"},
     "steps": [{"key": "welcomed", "where": {"trait": "support.open_tickets", "gte": 1}}]},
    {"kind": "audience", "key": "vip", "where": {"all": [{"audience": "spenders"}, {"trait": "plan", "eq": "pro"}]}},
    {"kind": "audience", "key": "spenders", "where": {"trait": "revenue", "gt": 100}},
    {"kind": "computed_trait", "key": "revenue", "event": "Order Completed", "value": {"sum": "revenue"}},
    {"kind": "sql_trait", "key": "support", "identifier": "user_id", "sql": "select user_id, 1 as open_tickets"},
    {"kind": "destination", "key": "braze_us", "provider": "braze"},
]


def test_dependencies_come_first_and_journey_steps_are_awaited(tmp_path):
    order = [c.key for c in ordered_computations(make_project(tmp_path, RESOURCES))]
    assert order == ["revenue", "support", "spenders", "vip", "onboarding", "after_onboarding"]


@pytest.mark.parametrize("keys, expected", [
    (["vip"], ["revenue", "spenders", "vip"]),
    (["onboarding__welcomed"], ["revenue", "support", "spenders", "vip", "onboarding"]),
    (["computed_trait.revenue", "unknown_key"], ["revenue"]),
])
def test_keys_bring_what_they_read(tmp_path, keys, expected):
    project = make_project(tmp_path, RESOURCES)
    assert [c.key for c in ordered_computations(project, keys)] == expected
