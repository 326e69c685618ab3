"""`engagectl validate`: a verdict for people, a JSON document for scripts, exit 0 or 1."""

from __future__ import annotations

import json

from click.testing import CliRunner

from engagectl.cli import main

BROKEN = {
    "audiences/a.yaml": """
        kind: audience
        key: a
        where: {audience: missing}
        destinations: [nowhere]
    """,
    "audiences/b.yaml": """
        kind: audience
        key: b
        where: {event: X, count: {gt: abc}}
    """,
    "traits/t.yaml": "kind: computed_trait\nkey: t\nevent: [\n",
}


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_a_valid_project_exits_0_with_a_one_line_summary(make_project):
    root = make_project({"a.yaml": "kind: audience\nkey: a\nwhere: {event: X}\n---\n"
                                   "kind: computed_trait\nkey: t\nevent: X\nvalue: count\n"})
    result = run("-C", str(root), "validate")
    assert result.exit_code == 0
    assert result.output.strip() == "Success! 2 resources are valid."


def test_errors_go_to_stderr_each_with_its_place_and_exit_1(make_project):
    root = make_project(BROKEN)
    result = run("-C", str(root), "validate")
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[:4] == [
        "audiences/a.yaml:3:19: audience a: unknown audience `missing`",
        "audiences/a.yaml:4:16: audience a: unknown destination `nowhere`",
        "audiences/b.yaml:3:31: audience b: `where.count.gt`: expected a number, not 'abc'",
        "traits/t.yaml:4:1: invalid YAML: expected the node content, but found '<stream end>'",
    ]
    assert lines[4] == "4 errors found."


def test_json_lists_every_diagnostic(make_project):
    root = make_project(BROKEN)
    result = run("-C", str(root), "validate", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False
    assert document["resources"] == 1  # read, though it refers to what is missing
    assert len(document["diagnostics"]) == 4
    first = document["diagnostics"][0]
    assert first == {"severity": "error", "file": "audiences/a.yaml", "line": 3, "column": 19,
                     "message": "audience a: unknown audience `missing`"}


def test_json_of_a_valid_project(make_project):
    root = make_project({"a.yaml": "kind: audience\nkey: a\nwhere: {event: X}\n"})
    result = run("-C", str(root), "validate", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"valid": True, "diagnostics": [], "resources": 1}


def test_a_folder_without_engage_yaml_is_an_error(tmp_path):
    result = run("-C", str(tmp_path), "validate", "--json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["valid"] is False and "no engage.yaml" in document["diagnostics"][0]["message"]


def test_diagnostics_are_coloured_on_a_terminal_only_and_never_read_as_markup():
    import io

    from rich.console import Console

    from engagectl.diagnostics import Diagnostic
    from engagectl.views.diagnostics import render_diagnostics

    diagnostic = Diagnostic("`one_of` needs [pro, enterprise]", file="a.yaml", line=3, column=5)
    plain, terminal = io.StringIO(), io.StringIO()
    render_diagnostics([diagnostic], Console(file=plain, force_terminal=False, width=20))
    render_diagnostics([diagnostic], Console(file=terminal, force_terminal=True, color_system="standard"))
    assert plain.getvalue() == "a.yaml:3:5: `one_of` needs [pro, enterprise]\n"  # one line, however narrow
    assert "\x1b[" in terminal.getvalue() and "[pro, enterprise]" in terminal.getvalue()
