"""`engagectl run`: ingest the sources, resolve identities, compute, print the run."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from engagectl.cli import main

ENGAGE_YAML = """\
space: spa_test
sources:
  - key: web
    path: data/*.jsonl
"""
DEFINITIONS = """\
kind: audience
key: buyers
where: {event: Order Completed, within: 30d}
---
kind: computed_trait
key: revenue
event: Order Completed
value: {sum: revenue}
"""
EVENTS = [
    {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m1",
     "timestamp": "2024-05-30T10:00:00Z", "properties": {"revenue": 120}},
    {"type": "track", "event": "Order Completed", "userId": "u2", "messageId": "m2",
     "timestamp": "2024-04-01T10:00:00Z", "properties": {"revenue": 80}},
]


def project(tmp_path):
    (tmp_path / "engage.yaml").write_text(ENGAGE_YAML)
    (tmp_path / "definitions.yaml").write_text(DEFINITIONS)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "events.jsonl").write_text("\n".join(json.dumps(e) for e in EVENTS) + "\n")
    return tmp_path


def run(directory, *args):
    return CliRunner().invoke(main, ["-C", str(directory), "run", *args])


def test_run_json_reports_every_computation(tmp_path):
    result = run(project(tmp_path), "--as-of", "2024-06-01T00:00:00Z", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["as_of"] == "2024-06-01T00:00:00Z"
    assert document["run_id"].startswith("run_")
    assert document["queued"] == 0
    assert document["computations"] == [
        {"key": "revenue", "kind": "computed_trait", "size": 2, "entered": 0, "exited": 0, "changed": 2},
        {"key": "buyers", "kind": "audience", "size": 1, "entered": 1, "exited": 0, "changed": 0},
    ]


def test_a_second_run_reports_the_exit_in_the_table(tmp_path):
    directory = project(tmp_path)
    assert run(directory, "--as-of", "2024-06-01T00:00:00Z").exit_code == 0
    result = run(directory, "--as-of", "2024-07-15T00:00:00Z", "--no-sync")
    assert result.exit_code == 0, result.output
    buyers = next(line for line in result.output.splitlines() if "buyers" in line)
    # key, kind, size, entered, exited, changed
    assert re.findall(r"\w+", buyers) == ["buyers", "audience", "0", "0", "1", "0"]


def test_a_bad_as_of_is_refused(tmp_path):
    result = run(project(tmp_path), "--as-of", "yesterday")
    assert result.exit_code == 1
    assert "is not an ISO-8601 time" in result.output


def test_run_computes_the_applied_definitions_not_unapplied_edits(tmp_path):
    directory = project(tmp_path)
    applied = CliRunner().invoke(main, ["-C", str(directory), "apply", "--auto-approve", "--no-run"])
    assert applied.exit_code == 0, applied.output
    (directory / "later.yaml").write_text("kind: audience\nkey: sellers\nwhere: {event: Order Completed}\n")

    result = run(directory, "--as-of", "2024-06-01T00:00:00Z", "--json")
    assert result.exit_code == 0, result.output
    assert [c["key"] for c in json.loads(result.output)["computations"]] == ["revenue", "buyers"]
