"""Saved plans: applied exactly, refused when stale, never applied twice."""

from __future__ import annotations

import json

from plan_samples import HIGH_VALUE


def test_a_saved_plan_applies_exactly_what_was_planned(applied, tmp_path):
    plan_file = tmp_path / "reviewed.plan"
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("gte: 3", "gte: 5"))
    assert applied.run("plan", "-out", str(plan_file)).exit_code == 0
    # the files change after review; the saved plan still applies what was reviewed
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("gte: 3", "gte: 9"))
    applied.write("audiences/late.yaml", "kind: audience\nkey: late\nwhere: {event: X}\n")
    result = applied.run("apply", str(plan_file))
    assert result.exit_code == 0, result.output
    state = applied.snapshot()
    assert state.serial == 2
    assert state.resources["audience.high_value_users"].spec["where"]["all"][0]["count"] == {"gte": 5}
    assert "audience.late" not in state.resources


def test_show_renders_a_saved_plan_like_plan_does(applied, tmp_path):
    plan_file = tmp_path / "p.plan"
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("gte: 3", "gte: 5"))
    applied.run("plan", "-out", str(plan_file))
    assert applied.json("show", str(plan_file)) == applied.json("plan")
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in applied.run("show", str(plan_file)).stdout


def test_a_saved_plan_is_refused_after_someone_elses_apply(applied, tmp_path):
    plan_file = tmp_path / "p.plan"
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("gte: 3", "gte: 5"))
    applied.run("plan", "-out", str(plan_file))
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE)
    applied.write("audiences/other.yaml", "kind: audience\nkey: other\nwhere: {event: X}\n")
    applied.apply()  # someone else's apply (another change): serial 2
    result = applied.run("apply", str(plan_file))
    assert result.exit_code == 1
    assert "stale" in result.stderr and "serial 1" in result.stderr
    state = applied.snapshot()
    assert state.serial == 2
    assert state.resources["audience.high_value_users"].spec["where"]["all"][0]["count"] == {"gte": 3}


def test_the_same_saved_plan_cannot_be_applied_twice(applied, tmp_path):
    plan_file = tmp_path / "p.plan"
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("gte: 3", "gte: 5"))
    applied.run("plan", "-out", str(plan_file))
    assert applied.run("apply", str(plan_file)).exit_code == 0
    again = applied.run("apply", str(plan_file))
    assert again.exit_code == 1 and "stale" in again.stderr
    assert applied.snapshot().serial == 2


def test_a_plan_made_against_empty_state_applies_once_only(project, tmp_path):
    plan_file = tmp_path / "first.plan"
    project.run("plan", "-out", str(plan_file))
    saved = json.loads(plan_file.read_text())
    assert saved["state_was_empty"] is True and saved["serial"] == 0
    assert project.run("apply", str(plan_file)).exit_code == 0
    state = project.snapshot()
    assert (state.lineage, state.serial) == (saved["lineage"], 1)
    again = project.run("apply", str(plan_file))
    assert again.exit_code == 1 and "empty state" in again.stderr
    assert project.snapshot().serial == 1


def test_an_edited_plan_file_is_refused(applied, tmp_path):
    plan_file = tmp_path / "p.plan"
    applied.write("audiences/high_value_users.yaml", HIGH_VALUE.replace("gte: 3", "gte: 5"))
    applied.run("plan", "-out", str(plan_file))
    plan_file.write_text(plan_file.read_text().replace('"gte": 5', '"gte": 1'))
    result = applied.run("apply", str(plan_file))
    assert result.exit_code == 1 and "edited" in result.stderr
    assert applied.snapshot().serial == 1


def test_a_plan_with_errors_is_not_saved(applied, tmp_path):
    plan_file = tmp_path / "p.plan"
    applied.remove("audiences/high_value_users.yaml")
    applied.apply()
    applied.write("audiences/hv.yaml", HIGH_VALUE)
    assert applied.run("plan", "-out", str(plan_file)).exit_code == 1
    assert not plan_file.exists()
