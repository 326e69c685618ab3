"""Broken input: every error at once, as `file:line:col: message`, exit 1, and the state untouched."""

from __future__ import annotations

import re

import pytest

LOCATED = re.compile(r"^(?P<file>[^:\s]+\.ya?ml):(?P<line>\d+):(?P<col>\d+): (?P<message>.+)$", re.MULTILINE)


def located(text: str) -> list[tuple[str, int, str]]:
    return [(m["file"], int(m["line"]), m["message"]) for m in LOCATED.finditer(text)]


@pytest.mark.parametrize("text, line, words", [
    ("kind: audience\nkey: a1\nwhere:\n  trait: plan\n  eq: [unclosed\n", None, "invalid YAML"),
    ("kind: audiencex\nkey: a1\n", 1, "unknown kind"),
    ("kind: audience\nkey: a1\nwhere:\n  trait: plan\n  equals: pro\n", 5, "unknown operator"),
    ("kind: audience\nkey: a1\nwhere: {audience: nope}\n", 3, "unknown audience"),
    ("kind: audience\nkey: Bad-Key\nwhere: {trait: plan, eq: pro}\n", 2, "key"),
])
def test_one_broken_file_names_file_line_and_column(project, text, line, words):
    project.write("audiences/a.yaml", text)
    for command in (["validate"], ["plan"], ["plan", "--detailed-exitcode"], ["apply", "--auto-approve"]):
        result = project.cli(*command)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        found = located(result.stderr + result.stdout)
        assert found, (command, result.stderr)
        assert found[0][0] == "audiences/a.yaml"
        if line is not None:
            assert found[0][1] == line, found
        assert words in found[0][2], found
    assert not (project.root / ".engage" / "state.db").exists() or \
        project.cli("state", "list", "--json").json()["serial"] == 0


def test_every_error_is_reported_at_once(project):
    project.write("audiences/a.yaml", (
        "kind: audiencex\nkey: a1\n"
        "---\nkind: audience\nkey: a2\nwhere:\n  trait: plan\n  equals: pro\n"
        "---\nkind: audience\nkey: a3\nwhere: {audience: a4}\n"
        "---\nkind: audience\nkey: a4\nwhere: {audience: a3}\n"
        "---\nkind: audience\nkey: a5\nwhere: {audience: nope}\n"))
    result = project.cli("validate")
    assert result.returncode == 1
    messages = " | ".join(m for _, _, m in located(result.stderr))
    for words in ("unknown kind", "unknown operator", "cycle", "unknown audience"):
        assert words in messages, (words, result.stderr)

    doc = project.cli("validate", "--json")
    assert doc.returncode == 1
    diagnostics = doc.json()["diagnostics"]
    assert len(diagnostics) >= 4
    for d in diagnostics:
        assert d["severity"] == "error" and d["file"] == "audiences/a.yaml" and isinstance(d["line"], int)
        assert isinstance(d["message"], str)

    plan = project.cli("plan", "--json")
    assert plan.returncode == 1
    body = plan.json()
    assert set(body) == {"format_version", "lineage", "serial", "changes", "summary", "diagnostics"}
    assert len(body["diagnostics"]) >= 4
    assert all(set(d) >= {"severity", "file", "line", "message"} for d in body["diagnostics"])


def test_a_reused_key_is_refused_with_its_location(project):
    project.write("audiences/a.yaml", "kind: audience\nkey: a1\nwhere: {trait: plan, eq: pro}\n")
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 0
    (project.root / "audiences" / "a.yaml").unlink()
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 0
    project.write("audiences/b.yaml", "kind: audience\nkey: a1\nwhere: {trait: plan, eq: enterprise}\n")

    result = project.cli("plan", "--detailed-exitcode")
    assert result.returncode == 1
    found = located(result.stderr)
    assert found and found[0][:2] == ("audiences/b.yaml", 2) and "reused" in found[0][2]

    body = project.cli("plan", "--json")
    assert body.returncode == 1
    [diagnostic] = body.json()["diagnostics"]
    assert diagnostic["severity"] == "error" and diagnostic["file"] == "audiences/b.yaml" and diagnostic["line"] == 2
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 1
    assert project.cli("state", "list", "--json").json()["serial"] == 2


def test_a_protected_resource_cannot_be_deleted_by_removing_its_file(project):
    project.write("audiences/a.yaml", "kind: audience\nkey: a1\nprotect: true\nwhere: {trait: plan, eq: pro}\n")
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 0
    (project.root / "audiences" / "a.yaml").unlink()
    result = project.cli("plan", "--detailed-exitcode")
    assert result.returncode == 1 and "protect" in result.stderr
    project.write("audiences/a.yaml", "kind: audience\nkey: a1\nprotect: false\nwhere: {trait: plan, eq: pro}\n")
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 0
    (project.root / "audiences" / "a.yaml").unlink()
    assert project.cli("plan", "--detailed-exitcode").returncode == 2


def test_an_event_destination_forwarding_raw_events_cannot_receive_audiences(project):
    project.write("destinations/raw.yaml",
                  "kind: destination\nkey: raw\nprovider: file\nsources: [web]\nsettings: {path: out/raw.jsonl}\n")
    project.write("audiences/a.yaml", "kind: audience\nkey: a1\nwhere: {trait: plan, eq: pro}\ndestinations: [raw]\n")
    result = project.cli("plan")
    assert result.returncode == 1
    assert "separate destination" in result.stderr


def test_usage_errors_exit_1_so_detailed_exitcode_stays_unambiguous(project):
    assert project.cli("plan", "--detailed-exitcode", "--no-such-option").returncode == 1
    assert project.cli("run", "--as-of", "yesterday").returncode == 1
    assert project.run("no-such-command").returncode == 1


def test_a_missing_engage_yaml_is_an_error(tmp_path, project):
    result = project.run("-C", str(tmp_path / "nowhere"), "validate", cwd=tmp_path)
    assert result.returncode == 1
    assert "engage.yaml" in result.stderr


def test_project_files_are_found_anywhere_except_hidden_folders_and_dot_engage(project):
    project.write("misc/deep/x.yml", "kind: audience\nkey: a1\nwhere: {trait: plan, eq: pro}\n---\n"
                                     "kind: audience\nkey: a2\nwhere: {audience: a1}\n")
    project.write(".hidden/x.yaml", "garbage: [\n")
    project.write(".engage/y.yaml", "kind: nonsense\n")
    result = project.cli("validate", "--json")
    assert result.returncode == 0, result.stdout
    plan = project.cli("plan", "--json").json()
    assert {c["address"] for c in plan["changes"]} == {"audience.a1", "audience.a2", "destination.out"}


def test_keys_share_one_namespace_except_destinations(project):
    project.write("a.yaml", "kind: audience\nkey: out\nwhere: {trait: plan, eq: pro}\n")
    assert project.cli("validate").returncode == 0  # destination `out` has its own namespace
    project.write("t.yaml", "kind: computed_trait\nkey: out\nevent: X\nvalue: count\n")
    result = project.cli("validate")
    assert result.returncode == 1
    assert located(result.stderr) and "share one namespace" in result.stderr
    project.write("t.yaml", "kind: journey\nkey: j\nentry: {event: S}\nsteps:\n  - key: s\n    where: {event: T}\n"
                            "---\nkind: audience\nkey: j__s\nwhere: {event: T}\n")
    result = project.cli("validate")
    assert result.returncode == 1 and "j__s" in result.stderr


def test_a_key_change_is_a_replace_not_an_update(project):
    project.write("audiences/a.yaml", "kind: audience\nkey: a1\nwhere: {trait: plan, eq: pro}\n")
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 0
    noop = project.cli("apply", "--auto-approve", "--no-run")
    assert noop.returncode == 0 and project.cli("state", "list", "--json").json()["serial"] == 1
    project.write("audiences/a.yaml", "kind: audience\nkey: a2\nwhere: {trait: plan, eq: pro}\n")
    result = project.cli("plan", "--json", "--detailed-exitcode")
    assert result.returncode == 2
    body = result.json()
    assert [(c["address"], c["action"]) for c in body["changes"] if c["action"] != "no-op"] == \
        [("audience.a2", "replace")]
    assert body["summary"] == {"create": 0, "update": 0, "delete": 0, "replace": 1}


def test_apply_without_auto_approve_refuses_a_non_terminal(project):
    project.write("audiences/a.yaml", "kind: audience\nkey: a1\nwhere: {trait: plan, eq: pro}\n")
    result = project.run("apply", "--no-run")
    assert result.returncode == 1
    assert "--auto-approve" in result.stderr
    assert project.cli("plan", "--detailed-exitcode").returncode == 2


@pytest.mark.parametrize("state, words", [("mysql://x/y", "unsupported state `mysql`"),
                                          ("garbage", "not a database URL")])
def test_an_unsupported_state_url_is_an_error_not_a_traceback(project, state, words):
    project.write("engage.yaml", f"space: spa_e2e\nstate: \"{state}\"\n")
    validate = project.cli("validate")
    assert validate.returncode == 1 and words in validate.stderr
    assert located(validate.stderr)[0][:2] == ("engage.yaml", 2)
    for command in (["plan"], ["state", "list"], ["tokens", "list"]):
        result = project.run(*command)
        assert result.returncode == 1, command
        assert "Traceback" not in result.stderr and ("state" in result.stderr), (command, result.stderr)


def test_a_saved_plan_is_refused_after_someone_elses_apply(project):
    project.write("audiences/a.yaml", "kind: audience\nkey: a1\nwhere: {trait: plan, eq: pro}\n")
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 0
    project.write("audiences/b.yaml", "kind: audience\nkey: a2\nwhere: {trait: plan, eq: pro}\n")
    saved = str(project.root / "reviewed.json")
    assert project.cli("plan", "-out", saved, "--detailed-exitcode").returncode == 2
    project.write("audiences/c.yaml", "kind: audience\nkey: a3\nwhere: {trait: plan, eq: pro}\n")
    assert project.cli("apply", "--auto-approve", "--no-run").returncode == 0  # someone else's apply
    refused = project.cli("apply", saved, "--no-run")
    assert refused.returncode == 1 and "serial" in refused.stderr
    assert project.cli("state", "list", "--json").json()["serial"] == 2
