"""A run computes traits and audiences, logs what changed between two as-of times, and stores
the current snapshot."""

from __future__ import annotations

from sqlglot import exp

from engagectl.compute import run_computations
from compute_fixtures import changes, make_project, ts, values

HIGH_VALUE = {
    "kind": "audience", "key": "high_value",
    "where": {"event": "Order Completed", "where": {"property": "revenue", "gt": 100}, "within": "30d",
              "count": {"gte": 2}},
}
REVENUE = {"kind": "computed_trait", "key": "revenue_30d", "event": "Order Completed", "within": "30d",
           "value": {"sum": "revenue"}}


def test_members_enter_then_exit_when_their_events_age_out_of_the_window(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob", email="bob@example.com")
    amy = seed.profile("prof_amy", user_id="amy")
    for day in ("2024-05-20", "2024-05-25"):
        seed.track(bob, "Order Completed", f"{day}T10:00:00Z", revenue=150)
    seed.track(amy, "Order Completed", "2024-05-25T10:00:00Z", revenue=150)
    project = make_project(tmp_path, [HIGH_VALUE])

    first = run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"))
    assert first.to_json()["computations"] == [
        {"key": "high_value", "kind": "audience", "size": 1, "entered": 1, "exited": 0, "changed": 0}]
    assert changes(warehouse, first.run_id) == [("high_value", bob, "entered", False, True)]

    # Amy's second order makes her a member; 30 days after Bob's first order he is out.
    seed.track(amy, "Order Completed", "2024-06-10T10:00:00Z", revenue=300)
    second = run_computations(project, warehouse, ts("2024-06-20T00:00:00Z"))
    assert changes(warehouse, second.run_id) == [
        ("high_value", amy, "entered", False, True),
        ("high_value", bob, "exited", True, False),
    ]
    assert values(warehouse, "high_value") == {amy: True}


def test_a_run_with_nothing_new_logs_no_changes(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    seed.track(bob, "Order Completed", "2024-05-30T10:00:00Z", revenue=120)
    project = make_project(tmp_path, [REVENUE])
    run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"))
    again = run_computations(project, warehouse, ts("2024-06-01T01:00:00Z"))
    assert changes(warehouse, again.run_id) == []
    assert again.computations[0].size == 1
    assert values(warehouse, "revenue_30d") == {bob: 120}


def test_trait_values_change_and_are_nulled_when_the_window_empties(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    seed.track(bob, "Order Completed", "2024-05-30T10:00:00Z", revenue=120)
    project = make_project(tmp_path, [REVENUE])

    first = run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"))
    assert changes(warehouse, first.run_id) == [("revenue_30d", bob, "changed", None, 120)]

    seed.track(bob, "Order Completed", "2024-06-05T10:00:00Z", revenue=30)
    second = run_computations(project, warehouse, ts("2024-06-06T00:00:00Z"))
    assert changes(warehouse, second.run_id) == [("revenue_30d", bob, "changed", 120, 150)]

    third = run_computations(project, warehouse, ts("2024-08-01T00:00:00Z"))
    assert changes(warehouse, third.run_id) == [("revenue_30d", bob, "changed", 150, None)]
    assert values(warehouse, "revenue_30d") == {}
    assert third.to_json()["computations"][0] == {
        "key": "revenue_30d", "kind": "computed_trait", "size": 0, "entered": 0, "exited": 0, "changed": 1}


def test_audiences_read_traits_and_audiences_computed_earlier_in_the_same_run(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    amy = seed.profile("prof_amy", user_id="amy")
    seed.track(bob, "Order Completed", "2024-05-30T10:00:00Z", revenue=500)
    seed.track(amy, "Order Completed", "2024-05-30T10:00:00Z", revenue=50)
    big_spenders = {"kind": "audience", "key": "big_spenders", "where": {"trait": "revenue_30d", "gte": 100}}
    not_big = {"kind": "audience", "key": "small_spenders",
               "where": {"all": [{"event": "Order Completed"}, {"not": {"audience": "big_spenders"}}]}}
    project = make_project(tmp_path, [not_big, big_spenders, REVENUE])

    result = run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"))
    assert [c.key for c in result.computations] == ["revenue_30d", "big_spenders", "small_spenders"]
    assert values(warehouse, "big_spenders") == {bob: True}
    assert values(warehouse, "small_spenders") == {amy: True}


def test_keys_restrict_the_run_to_those_computations_and_what_they_read(warehouse, seed, tmp_path):
    seed.profile("prof_bob", user_id="bob")
    big_spenders = {"kind": "audience", "key": "big_spenders", "where": {"trait": "revenue_30d", "gte": 100}}
    project = make_project(tmp_path, [HIGH_VALUE, big_spenders, REVENUE])
    result = run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"), keys=["audience.big_spenders"])
    assert [c.key for c in result.computations] == ["revenue_30d", "big_spenders"]


def test_the_run_is_recorded_with_its_commit(warehouse, seed, tmp_path):
    project = make_project(tmp_path, [REVENUE])
    result = run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"), commit="abc123", run_id="run_fixed")
    rows = warehouse.fetchall(
        exp.select(exp.column("run_id", quoted=True), exp.column("commit", quoted=True))
        .from_(warehouse.table("runs")))
    assert result.run_id == "run_fixed"
    assert rows == [("run_fixed", "abc123")]
    assert result.to_json() == {"run_id": "run_fixed", "as_of": "2024-06-01T00:00:00Z", "computations": [
        {"key": "revenue_30d", "kind": "computed_trait", "size": 0, "entered": 0, "exited": 0, "changed": 0}],
        "queued": 0}


def test_a_computation_added_later_logs_every_value_while_the_stored_ones_log_only_what_moved(
        warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    amy = seed.profile("prof_amy", user_id="amy")
    for day in ("2024-05-20", "2024-05-25"):
        seed.track(bob, "Order Completed", f"{day}T10:00:00Z", revenue=150)
    seed.track(amy, "Order Completed", "2024-05-25T10:00:00Z", revenue=40)
    run_computations(make_project(tmp_path, [HIGH_VALUE]), warehouse, ts("2024-06-01T00:00:00Z"))

    later = run_computations(make_project(tmp_path, [HIGH_VALUE, REVENUE]), warehouse,
                             ts("2024-06-01T01:00:00Z"))
    assert later.to_json()["computations"] == [
        {"key": "revenue_30d", "kind": "computed_trait", "size": 2, "entered": 0, "exited": 0, "changed": 2},
        {"key": "high_value", "kind": "audience", "size": 1, "entered": 0, "exited": 0, "changed": 0},
    ]
    assert changes(warehouse, later.run_id) == [
        ("revenue_30d", amy, "changed", None, 40),
        ("revenue_30d", bob, "changed", None, 300),
    ]
    assert values(warehouse, "revenue_30d") == {amy: 40, bob: 300}
    assert values(warehouse, "high_value") == {bob: True}


def test_float_sums_are_rounded_so_an_unchanged_total_never_jitters(warehouse, seed, tmp_path):
    # 0.1 + 0.2 is 0.30000000000000004 in floating point, and parallel engines may add in any
    # order: stored sums are rounded to 9 decimals, so the same orders always give the same value.
    bob = seed.profile("prof_bob", user_id="bob")
    for hour, revenue in (("10", 0.1), ("11", 0.2)):
        seed.track(bob, "Order Completed", f"2024-05-30T{hour}:00:00Z", revenue=revenue)
    project = make_project(tmp_path, [REVENUE])
    run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"))
    assert values(warehouse, "revenue_30d") == {bob: 0.3}
