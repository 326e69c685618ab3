"""What `plan` prints: the §5 JSON document, the Terraform-style view, the exit codes."""

from __future__ import annotations

from plan_samples import HIGH_VALUE


def test_plan_json_matches_the_contract_exactly(project):
    document = project.json("plan")
    assert list(document) == ["format_version", "lineage", "serial", "changes", "summary", "diagnostics"]
    assert document["format_version"] == "1"
    assert isinstance(document["lineage"], str) and document["lineage"]
    assert document["serial"] == 0
    assert document["summary"] == {"create": 2, "update": 0, "delete": 0, "replace": 0}
    assert document["diagnostics"] == []
    change = next(c for c in document["changes"] if c["address"] == "audience.high_value_users")
    assert list(change) == ["address", "kind", "key", "action", "reasons"]
    assert change["kind"] == "audience" and change["key"] == "high_value_users" and change["action"] == "create"
    assert all(isinstance(r, str) for r in change["reasons"])


def test_plan_json_after_an_apply_carries_the_state_lineage_and_serial(applied):
    state = applied.snapshot()
    document = applied.json("plan")
    assert (document["lineage"], document["serial"]) == (state.lineage, 1)
    assert {c["action"] for c in document["changes"]} == {"no-op"}
    assert document["summary"] == {"create": 0, "update": 0, "delete": 0, "replace": 0}


def test_detailed_exitcode_separates_no_changes_changes_and_errors(project):
    assert project.run("plan").exit_code == 0
    assert project.run("plan", "--detailed-exitcode").exit_code == 2
    project.apply()
    assert project.run("plan", "--detailed-exitcode").exit_code == 0
    project.write("audiences/broken.yaml", "kind: audience\nkey: broken\nwhere: {trait: plan, is: pro}\n")
    assert project.run("plan", "--detailed-exitcode").exit_code == 1


def test_human_plan_has_symbols_attribute_lines_and_the_summary(applied):
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("gte: 3", "gte: 5"))
    applied.write("audiences/vip.yaml", "kind: audience\nkey: vip\nwhere: {audience: high_value_users}\n")
    output = applied.run("plan").stdout
    assert "+ audience \"vip\"" in output
    assert "~ audience \"high_value_users\"" in output
    assert "where.all[0].count.gte: 3 → 5" in output
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in output
    assert "\x1b[" not in output  # no colour when stdout is not a terminal

    applied.remove("audiences/vip.yaml")
    applied.remove("audiences/high_value_users.yaml")
    output = applied.run("plan").stdout
    assert "- audience \"high_value_users\"" in output
    assert "Plan: 0 to add, 0 to change, 1 to destroy." in output


def test_plan_takes_no_write_and_leaves_the_state_empty(project):
    project.run("plan")
    assert project.snapshot().is_empty
