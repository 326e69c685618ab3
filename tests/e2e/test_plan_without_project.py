"""`plan --json` prints one JSON document even when there is no project to plan."""

from __future__ import annotations

import json

from click.testing import CliRunner

from engagectl.cli import main


def test_plan_json_without_engage_yaml_is_still_one_json_document(tmp_path):
    result = CliRunner().invoke(main, ["-C", str(tmp_path), "plan", "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["changes"] == [] and document["format_version"] == "1"
    assert document["summary"] == {"create": 0, "update": 0, "delete": 0, "replace": 0}
    [diagnostic] = document["diagnostics"]
    assert diagnostic["severity"] == "error" and "engage.yaml" in diagnostic["message"]
