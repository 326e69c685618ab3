"""The planner's rules, each on SQLite and on Postgres state."""

from __future__ import annotations

from plan_samples import FACEBOOK, HIGH_VALUE


def changes_by_address(document: dict) -> dict[str, dict]:
    return {change["address"]: change for change in document["changes"]}


def test_formatting_key_order_comments_and_binding_forms_are_not_changes(applied):
    applied.write("audiences/high_value_users.yaml", """\
        # reviewed by growth, 2024
        destinations:
          - to: braze_us          # long form with the defaults
            identify: true
        where: {all: [{event: Order Completed, count: {gte: 3}, within: 90d,
                       where: {gt: 100, property: revenue}},
                      {one_of: [pro, enterprise], trait: plan}]}
        name: "High value users"
        key: high_value_users
        kind: audience
        """)
    result = applied.run("plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes. Your audiences match the applied state." in result.stdout
    document = applied.json("plan")
    assert changes_by_address(document)["audience.high_value_users"]["action"] == "no-op"


def test_env_placeholders_are_stored_as_written(applied, monkeypatch):
    monkeypatch.setenv("BRAZE_TOKEN", "s3cret-token")
    document = applied.json("state", "show", "destination.braze_us")
    assert document["spec"]["settings"]["url"] == "https://hooks.example.com/${env:BRAZE_TOKEN}"
    assert "s3cret-token" not in applied.run("state", "show", "braze_us").stdout


def test_name_only_change_is_an_update_without_recompute(applied):
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("High value users", "Big spenders"))
    change = changes_by_address(applied.json("plan"))["audience.high_value_users"]
    assert change["action"] == "update"
    assert change["reasons"] == ["name changed (no recompute)"]


def test_definition_change_says_recompute_and_names_downstream_users(applied):
    applied.write("audiences/vip.yaml", "kind: audience\nkey: vip\nwhere: {audience: high_value_users}\n")
    applied.apply()
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("gte: 3", "gte: 5"))
    change = changes_by_address(applied.json("plan"))["audience.high_value_users"]
    assert change["action"] == "update"
    assert "definition changed: recompute; members that change are synced" in change["reasons"]
    assert any("downstream recompute" in r and "audience.vip" in r for r in change["reasons"])


def test_binding_changes_name_the_destinations_added_and_removed(applied):
    applied.write("destinations/facebook.yaml", FACEBOOK)
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("[braze_us]", "[facebook_eu]"))
    change = changes_by_address(applied.json("plan"))["audience.high_value_users"]
    assert change["action"] == "update"
    assert any("facebook_eu added" in r and "resync" in r and "all members" in r for r in change["reasons"])
    assert any("braze_us removed" in r for r in change["reasons"])
    assert not any(r.startswith("definition changed") for r in change["reasons"])


def test_a_deleted_key_can_never_be_reused(applied):
    applied.remove("audiences/high_value_users.yaml")
    deletion = changes_by_address(applied.json("plan"))["audience.high_value_users"]
    assert deletion["action"] == "delete"
    applied.apply()
    serial = applied.snapshot().serial

    applied.write("audiences/again.yaml", "\n" + HIGH_VALUE.replace("gte: 3", "gte: 10"))
    document = applied.json("plan", exit_code=1)
    [error] = [d for d in document["diagnostics"] if d["severity"] == "error"]
    assert error["file"] == "audiences/again.yaml" and error["line"] == 3  # the `key:` line
    assert "high_value_users" in error["message"]
    assert "was deleted on" in error["message"] and "never be reused" in error["message"]
    assert "audience.high_value_users" not in changes_by_address(document)
    refused = applied.run("apply", "--auto-approve")
    assert refused.exit_code == 1
    assert "never be reused" in refused.stderr
    assert applied.snapshot().serial == serial


def test_reused_key_is_refused_across_kinds_of_the_trait_namespace(applied):
    applied.remove("audiences/high_value_users.yaml")
    applied.apply()
    applied.write("traits/hv.yaml", """\
        kind: computed_trait
        key: high_value_users
        event: Order Completed
        value: count
        """)
    document = applied.json("plan", exit_code=1)
    assert any("high_value_users" in d["message"] and "never be reused" in d["message"]
               for d in document["diagnostics"])


def test_a_key_change_is_one_replace_that_retires_the_old_key(applied):
    applied.remove("audiences/high_value_users.yaml")
    applied.write("audiences/big_spenders.yaml", HIGH_VALUE.replace("key: high_value_users", "key: big_spenders"))
    document = applied.json("plan")
    assert document["summary"] == {"create": 0, "update": 0, "delete": 0, "replace": 1}
    [change] = [c for c in document["changes"] if c["action"] != "no-op"]
    assert change["address"] == "audience.big_spenders" and change["action"] == "replace"
    reasons = " ".join(change["reasons"])
    assert "key changed from high_value_users to big_spenders" in reasons
    assert "retired for good" in reasons and "starts empty" in reasons

    human = applied.run("plan").stdout
    assert "-/+" in human and "# forces replacement" in human
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in human

    applied.apply()
    state = applied.snapshot()
    assert set(state.resources) == {"audience.big_spenders", "destination.braze_us"}
    assert ("trait", "high_value_users") in state.tombstones
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE)
    assert applied.run("plan").exit_code == 1


def test_a_protected_resource_cannot_be_deleted_until_protect_is_applied_off(applied):
    protected = HIGH_VALUE + "protect: true\n"
    applied.write("audiences/high_value_users.yaml", protected)
    change = changes_by_address(applied.json("plan"))["audience.high_value_users"]
    assert change["action"] == "update" and any("protect" in r for r in change["reasons"])
    applied.apply()
    serial = applied.snapshot().serial

    applied.remove("audiences/high_value_users.yaml")
    document = applied.json("plan", exit_code=1)
    assert any("audience.high_value_users is protected" in d["message"] for d in document["diagnostics"])
    assert applied.run("apply", "--auto-approve").exit_code == 1
    assert "audience.high_value_users" in applied.snapshot().resources
    assert applied.snapshot().serial == serial

    # a rename does not get round it either
    applied.write("audiences/renamed.yaml", protected.replace("key: high_value_users", "key: renamed"))
    assert applied.run("plan").exit_code == 1
    applied.remove("audiences/renamed.yaml")

    applied.write("audiences/high_value_users.yaml", HIGH_VALUE + "protect: false\n")
    applied.apply()
    applied.remove("audiences/high_value_users.yaml")
    assert changes_by_address(applied.json("plan"))["audience.high_value_users"]["action"] == "delete"


JOURNEY = """\
kind: journey
key: onboarding
entry: {event: Signed Up, within: 7d}
steps:
  - key: added_card
    where: {event: Credit Card Added}
  - key: not_subscribed
    wait: 2d
    where: {not: {event: Subscribed}}
"""


def test_removing_a_journey_step_retires_its_key(applied):
    applied.write("journeys/onboarding.yaml", JOURNEY)
    applied.apply()
    applied.write("journeys/onboarding.yaml", JOURNEY.split("  - key: not_subscribed")[0])
    change = changes_by_address(applied.json("plan"))["journey.onboarding"]
    assert change["action"] == "update"
    assert any("step not_subscribed removed" in r and "onboarding__not_subscribed" in r for r in change["reasons"])
    applied.apply()
    assert ("trait", "onboarding__not_subscribed") in applied.snapshot().tombstones

    applied.write("journeys/onboarding.yaml", JOURNEY)  # the step comes back: its key was retired
    document = applied.json("plan", exit_code=1)
    assert any("onboarding__not_subscribed" in d["message"] and "never be reused" in d["message"]
               for d in document["diagnostics"])


def test_removing_a_journey_retires_its_step_keys(applied):
    applied.write("journeys/onboarding.yaml", JOURNEY)
    applied.apply()
    applied.remove("journeys/onboarding.yaml")
    applied.apply()
    tombstones = applied.snapshot().tombstones
    assert {("journey", "onboarding"), ("trait", "onboarding__added_card")} <= set(tombstones)
    applied.write("audiences/step.yaml", "kind: audience\nkey: onboarding__added_card\nwhere: {event: X}\n")
    assert applied.run("plan").exit_code == 1


def test_adding_a_journey_step_is_an_update_naming_the_step(applied):
    applied.write("journeys/onboarding.yaml", JOURNEY.split("  - key: not_subscribed")[0])
    applied.apply()
    applied.write("journeys/onboarding.yaml", JOURNEY)
    change = changes_by_address(applied.json("plan"))["journey.onboarding"]
    assert change["action"] == "update"
    assert any("step not_subscribed added" in r for r in change["reasons"])
