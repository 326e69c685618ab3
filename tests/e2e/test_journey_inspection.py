"""preview and explain of a journey step agree with what a run computes (entry, stacking, waits)."""

from __future__ import annotations

import pytest

from .conftest import events

AS_OF = "2024-06-10T00:00:00Z"

JOURNEY = """\
kind: journey
key: onboarding
entry: {event: Signed Up, within: 30d}
steps:
  - key: added_card
    where: {event: Credit Card Added}
  - key: not_subscribed
    wait: 2d
    where: {not: {event: Subscribed}}
"""


@pytest.fixture
def journey_project(project):
    project.write("journeys/j.yaml", JOURNEY)
    project.write("data/e.jsonl", events(
        # amy signed up and added a card: in step 1
        {"type": "track", "userId": "amy", "event": "Signed Up", "messageId": "a1", "timestamp": "2024-06-01T00:00:00Z"},
        {"type": "track", "userId": "amy", "event": "Credit Card Added", "messageId": "a2",
         "timestamp": "2024-06-01T01:00:00Z"},
        # zed never signed up: he is in no step of the journey, whatever he did
        {"type": "track", "userId": "zed", "event": "Credit Card Added", "messageId": "z1",
         "timestamp": "2024-06-01T01:00:00Z"},
    ))
    result = project.cli("apply", "--auto-approve", "--as-of", AS_OF, "--json")
    assert result.returncode == 0, result.stderr
    sizes = {c["key"]: c["size"] for c in result.json()["run"]["computations"]}
    # amy joined step 1 in this run, so the 2-day wait of step 2 has not passed yet
    assert sizes["onboarding__added_card"] == 1 and sizes["onboarding__not_subscribed"] == 0
    return project


def test_preview_of_a_journey_step_agrees_with_the_run(journey_project):
    added = journey_project.cli("preview", "onboarding__added_card", "--json", "--as-of", AS_OF).json()
    assert [m["external_ids"]["user_id"] for m in added["sample"]] == [["amy"]]
    stalled = journey_project.cli("preview", "onboarding__not_subscribed", "--json", "--as-of", AS_OF).json()
    assert stalled["size"] == 0, stalled


def test_explain_of_a_journey_step_agrees_with_the_run(journey_project):
    result = journey_project.cli("explain", "onboarding__added_card", "user_id:zed", "--as-of", AS_OF)
    assert result.returncode == 0
    assert "is not a member of" in " ".join(result.stdout.split())
