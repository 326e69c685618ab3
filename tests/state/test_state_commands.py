"""`state list`, `state show KEY` and `show`: what the state holds, for people and as JSON."""

from __future__ import annotations

import json


def test_state_list_prints_address_kind_hash_serial_and_protect(state_project):
    state_project.audience("high_value_users", extra="protect: true\n")
    state_project.audience("churned_users")
    assert state_project.run("apply", "--auto-approve").exit_code == 0
    state_project.audience("churned_users", name="Churned")
    assert state_project.run("apply", "--auto-approve").exit_code == 0

    document = json.loads(state_project.run("state", "list", "--json").stdout)
    assert document["serial"] == 2
    rows = {r["address"]: r for r in document["resources"]}
    assert rows["audience.high_value_users"]["protect"] is True
    assert rows["audience.high_value_users"]["serial"] == 1
    assert rows["audience.churned_users"]["serial"] == 2
    assert len(rows["audience.churned_users"]["hash"]) == 64

    human = state_project.run("state", "list").stdout
    line = next(line for line in human.splitlines() if line.startswith("audience.high_value_users"))
    assert line.split()[1:] == ["audience", rows["audience.high_value_users"]["hash"][:12], "1", "yes"]


def test_state_show_accepts_a_key_or_an_address(state_project):
    state_project.audience("high_value_users", name="High value users")
    state_project.run("apply", "--auto-approve")
    by_key = json.loads(state_project.run("state", "show", "high_value_users", "--json").stdout)
    by_address = json.loads(state_project.run("state", "show", "audience.high_value_users", "--json").stdout)
    assert by_key == by_address
    assert by_key["spec"]["name"] == "High value users" and by_key["spec"]["where"]["event"] == "Order Completed"
    human = state_project.run("state", "show", "high_value_users").stdout
    assert "name: High value users" in human and "# protect: false" in human


def test_state_show_of_a_missing_or_retired_key_fails(state_project):
    state_project.audience("gone")
    state_project.run("apply", "--auto-approve")
    (state_project.directory / "audiences" / "gone.yaml").unlink()
    state_project.run("apply", "--auto-approve")
    retired = state_project.run("state", "show", "gone")
    assert retired.exit_code == 1 and "retired" in retired.stderr
    assert state_project.run("state", "show", "never_there").exit_code == 1


def test_show_without_a_file_summarises_the_state_and_its_history(state_project):
    assert "empty" in state_project.run("show").stdout
    state_project.audience("a")
    state_project.run("apply", "--auto-approve")
    state_project.audience("b")
    state_project.run("apply", "--auto-approve")
    document = json.loads(state_project.run("show", "--json").stdout)
    assert document["serial"] == 2 and document["resources"] == 2
    assert [a["serial"] for a in document["applies"]] == [2, 1]
    assert document["applies"][0]["summary"]["create"] == 1
    assert "serial 2" in state_project.run("show").stdout
