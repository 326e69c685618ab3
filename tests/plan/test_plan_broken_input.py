"""Broken input: every error at once, with file and line, exit 1, and the state untouched."""

from __future__ import annotations

from plan_samples import HIGH_VALUE


def test_every_error_is_reported_at_once_and_nothing_is_applied(applied):
    applied.remove("audiences/high_value_users.yaml")
    applied.apply()  # high_value_users is now a retired key
    before = applied.snapshot()

    applied.write("audiences/invalid_yaml.yaml", "kind: audience\nkey: broken\nwhere: {event: [unclosed\n")
    applied.write("audiences/wrong_operator.yaml",
                  "kind: audience\nkey: wrong_op\nwhere:\n  trait: plan\n  is_exactly: pro\n")
    applied.write("audiences/cycle.yaml",
                  "kind: audience\nkey: ping\nwhere: {audience: pong}\n---\n"
                  "kind: audience\nkey: pong\nwhere: {audience: ping}\n")
    applied.write("audiences/missing.yaml", "kind: audience\nkey: lonely\nwhere: {audience: nobody_here}\n")
    applied.write("audiences/reused.yaml", HIGH_VALUE)

    document = applied.json("plan", exit_code=1)
    errors = [d for d in document["diagnostics"] if d["severity"] == "error"]
    by_file = {}
    for error in errors:
        assert error["file"] is not None and isinstance(error["line"], int), error
        by_file.setdefault(error["file"], []).append(error["message"])
    assert set(by_file) >= {"audiences/invalid_yaml.yaml", "audiences/wrong_operator.yaml", "audiences/cycle.yaml",
                            "audiences/missing.yaml", "audiences/reused.yaml"}
    assert any("nobody_here" in m for m in by_file["audiences/missing.yaml"])
    assert any("cycle" in m.lower() for m in by_file["audiences/cycle.yaml"])
    assert any("never be reused" in m for m in by_file["audiences/reused.yaml"])
    assert document["changes"] == []

    human = applied.run("plan")
    assert human.exit_code == 1
    for name in by_file:
        assert name in human.stderr

    assert applied.run("apply", "--auto-approve").exit_code == 1
    after = applied.snapshot()
    assert (after.lineage, after.serial, set(after.resources)) == (before.lineage, before.serial,
                                                                    set(before.resources))


def test_a_broken_engage_yaml_is_reported_and_the_state_left_alone(applied):
    before = applied.snapshot()
    applied.write("engage.yaml", f"space: spa_test\nstate: {applied.state_url}\nwarehose: duckdb:///x.duckdb\n")
    document = applied.json("plan", exit_code=1)
    assert [(d["file"], d["line"]) for d in document["diagnostics"]] == [("engage.yaml", 3)]
    assert applied.run("apply", "--auto-approve").exit_code == 1
    assert applied.snapshot().serial == before.serial
