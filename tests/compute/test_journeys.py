"""Journeys: entry, stacked steps with waits, forward-only progress, exit after N."""

from __future__ import annotations

from compute_fixtures import changes, make_project, ts, values
from engagectl.compute import run_computations

ONBOARDING = {
    "kind": "journey", "key": "onboarding",
    "entry": {"event": "Signed Up", "within": "7d"},
    "exit_after": "30d",
    "steps": [
        {"key": "added_card", "where": {"event": "Credit Card Added", "within": "1d"}},
        {"key": "not_subscribed", "wait": "2d", "where": {"not": {"event": "Subscribed"}}},
    ],
}


def sizes(result) -> dict[str, int]:
    return {c.key: c.size for c in result.computations}


def test_a_later_step_can_count_more_profiles_than_an_earlier_one(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    seed.track(bob, "Signed Up", "2024-06-01T00:00:00Z")
    seed.track(bob, "Credit Card Added", "2024-06-01T01:00:00Z")
    project = make_project(tmp_path, [ONBOARDING])

    first = run_computations(project, warehouse, ts("2024-06-01T02:00:00Z"))
    assert sizes(first) == {"onboarding": 1, "onboarding__added_card": 1, "onboarding__not_subscribed": 0}
    assert changes(warehouse, first.run_id) == [("onboarding__added_card", bob, "entered", False, True)]

    # Two days later the card event is out of its 1-day window: Bob leaves step 1's count, but
    # his progress stays, so after the wait he joins step 2.
    second = run_computations(project, warehouse, ts("2024-06-03T03:00:00Z"))
    assert sizes(second) == {"onboarding": 1, "onboarding__added_card": 0, "onboarding__not_subscribed": 1}
    assert changes(warehouse, second.run_id) == [
        ("onboarding__added_card", bob, "exited", True, False),
        ("onboarding__not_subscribed", bob, "entered", False, True),
    ]


def test_a_step_waits_from_when_the_previous_step_was_joined(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    seed.track(bob, "Signed Up", "2024-06-01T00:00:00Z")
    seed.track(bob, "Credit Card Added", "2024-06-01T01:00:00Z")
    project = make_project(tmp_path, [ONBOARDING])
    run_computations(project, warehouse, ts("2024-06-01T02:00:00Z"))  # joins added_card now

    almost = run_computations(project, warehouse, ts("2024-06-03T01:59:00Z"))
    assert sizes(almost)["onboarding__not_subscribed"] == 0
    waited = run_computations(project, warehouse, ts("2024-06-03T02:00:00Z"))
    assert sizes(waited)["onboarding__not_subscribed"] == 1


def test_progress_is_forward_only_and_the_step_condition_is_judged_now(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    seed.track(bob, "Signed Up", "2024-06-01T00:00:00Z")
    seed.track(bob, "Credit Card Added", "2024-06-01T01:00:00Z")
    project = make_project(tmp_path, [ONBOARDING])
    run_computations(project, warehouse, ts("2024-06-01T02:00:00Z"))
    run_computations(project, warehouse, ts("2024-06-03T03:00:00Z"))
    assert values(warehouse, "onboarding__not_subscribed") == {bob: True}

    # Subscribing takes Bob out of the step's audience; a new card event puts him back in
    # step 1's count — he never moves back, and the entry window has long passed.
    seed.track(bob, "Subscribed", "2024-06-10T00:00:00Z")
    seed.track(bob, "Credit Card Added", "2024-06-10T00:00:00Z")
    later = run_computations(project, warehouse, ts("2024-06-10T01:00:00Z"))
    assert sizes(later) == {"onboarding": 1, "onboarding__added_card": 1, "onboarding__not_subscribed": 0}
    assert changes(warehouse, later.run_id) == [
        ("onboarding__added_card", bob, "entered", False, True),
        ("onboarding__not_subscribed", bob, "exited", True, False),
    ]


def test_exit_after_takes_profiles_out_of_every_step_for_good(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    seed.track(bob, "Signed Up", "2024-06-01T00:00:00Z")
    seed.track(bob, "Credit Card Added", "2024-06-01T01:00:00Z")
    project = make_project(tmp_path, [ONBOARDING])
    run_computations(project, warehouse, ts("2024-06-01T02:00:00Z"))
    run_computations(project, warehouse, ts("2024-06-03T03:00:00Z"))

    exit_time = run_computations(project, warehouse, ts("2024-07-01T02:00:00Z"))  # 30 days after entry
    assert exit_time.computations[0].to_json() == {
        "key": "onboarding", "kind": "journey", "size": 0, "entered": 0, "exited": 1, "changed": 0}
    assert changes(warehouse, exit_time.run_id) == [("onboarding__not_subscribed", bob, "exited", True, False)]

    # Signing up again does not re-enter a profile that has exited.
    seed.track(bob, "Signed Up", "2024-07-02T00:00:00Z")
    again = run_computations(project, warehouse, ts("2024-07-02T01:00:00Z"))
    assert sizes(again)["onboarding"] == 0


def test_steps_without_a_condition_hold_everyone_who_reached_them(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="bob")
    amy = seed.profile("prof_amy", user_id="amy")
    seed.track(bob, "Signed Up", "2024-06-01T00:00:00Z")
    seed.track(amy, "Signed Up", "2024-05-01T00:00:00Z")  # outside the 7-day entry window
    journey = {"kind": "journey", "key": "welcome", "entry": {"event": "Signed Up", "within": "7d"},
               "steps": [{"key": "day_two", "wait": "1d"}]}
    project = make_project(tmp_path, [journey])
    run_computations(project, warehouse, ts("2024-06-01T01:00:00Z"))
    later = run_computations(project, warehouse, ts("2024-06-02T01:00:00Z"))
    assert values(warehouse, "welcome__day_two") == {bob: True}
    assert sizes(later) == {"welcome": 1, "welcome__day_two": 1}
