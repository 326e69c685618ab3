"""`apply`: confirmation, one transaction, no serial bump on a no-op, the history, the hook."""

from __future__ import annotations

import json
import subprocess

from plan_samples import HIGH_VALUE

import engagectl.cli.plan as plan_cli


def test_apply_refuses_to_wait_for_an_answer_without_a_terminal(project):
    result = project.run("apply")
    assert result.exit_code == 1
    assert "use --auto-approve or apply a saved plan" in result.stderr
    assert project.snapshot().is_empty


def test_apply_on_a_terminal_applies_only_after_yes(project, monkeypatch):
    monkeypatch.setattr(plan_cli, "stdin_is_terminal", lambda: True)
    declined = project.run("apply", input="no\n")
    assert declined.exit_code == 1
    assert "Only 'yes' will be accepted" in declined.output
    assert project.snapshot().is_empty
    accepted = project.run("apply", input="yes\n")
    assert accepted.exit_code == 0, accepted.output
    assert project.snapshot().serial == 1


def test_apply_json_reports_the_changes_and_the_new_serial(project):
    document = project.json("apply", "--auto-approve")
    assert list(document)[:5] == ["applied", "serial", "lineage", "changes", "summary"]
    assert document["applied"] is True and document["serial"] == 1
    assert document["summary"] == {"create": 2, "update": 0, "delete": 0, "replace": 0}
    assert document["lineage"] == project.snapshot().lineage
    assert {c["address"] for c in document["changes"]} == {"audience.high_value_users", "destination.braze_us"}


def test_a_no_op_apply_does_not_bump_the_serial(applied):
    document = applied.json("apply", "--auto-approve")
    assert document["applied"] is False and document["serial"] == 1
    assert applied.snapshot().serial == 1
    assert len(applied.json("show")["applies"]) == 1


def test_the_history_records_who_the_commit_and_the_plan_hash(project, monkeypatch, tmp_path):
    monkeypatch.setenv("USER", "ada")
    git = ["git", "-C", str(project.directory), "-c", "user.email=a@example.com", "-c", "user.name=A"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "audiences"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()
    plan_file = tmp_path / "p.plan"
    project.run("plan", "-out", str(plan_file))
    assert project.run("apply", str(plan_file)).exit_code == 0
    [record] = project.json("show")["applies"]
    assert record["applied_by"] == "ada" and record["git_commit"] == head and record["serial"] == 1
    assert record["plan_hash"] == json.loads(plan_file.read_text())["plan_hash"]


def test_apply_calls_the_after_apply_hook_after_the_state_commits(project, monkeypatch):
    seen = {}

    def hook(cli_ctx, applied_project, result, *, as_of=None, no_run=False, no_sync=False):
        seen.update(serial=project.snapshot().serial, result=result, as_of=as_of, no_run=no_run,
                    resources=set(applied_project.resources))
        return {"run": {"computations": []}}

    monkeypatch.setattr(plan_cli, "after_apply", hook)
    document = project.json("apply", "--auto-approve", "--as-of", "2024-06-01T00:00:00Z", "--no-run")
    assert seen["serial"] == 1 and seen["result"].serial == 1
    assert seen["as_of"].isoformat() == "2024-06-01T00:00:00+00:00" and seen["no_run"] is True
    assert seen["resources"] == {"audience.high_value_users", "destination.braze_us"}
    assert document["run"] == {"computations": []}


def test_an_apply_with_a_refused_change_leaves_the_state_untouched(applied):
    applied.remove("audiences/high_value_users.yaml")
    applied.apply()
    before = applied.snapshot()
    applied.write("audiences/new.yaml", "kind: audience\nkey: fresh\nwhere: {event: X}\n")
    applied.write("audiences/hv.yaml", HIGH_VALUE)
    document = applied.json("apply", "--auto-approve", exit_code=1)
    assert document["applied"] is False
    after = applied.snapshot()
    assert (after.serial, set(after.resources)) == (before.serial, set(before.resources))
