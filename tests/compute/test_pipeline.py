"""run_pipeline: new files in, identities resolved, computations run, the git commit recorded."""

from __future__ import annotations

import json
import subprocess

from sqlglot import exp

from compute_fixtures import make_project, ts, values
from engagectl.compute.pipeline import project_commit, run_pipeline
from engagectl.config.models import Source


def write_events(path, events):
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n")


def test_each_run_loads_only_new_messages_and_resolves_them(warehouse, tmp_path):
    (tmp_path / "data").mkdir()
    write_events(tmp_path / "data" / "day1.jsonl", [
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m1",
         "timestamp": "2024-05-30T10:00:00Z", "properties": {"revenue": 120}}])
    project = make_project(tmp_path, [
        {"kind": "computed_trait", "key": "orders", "event": "Order Completed", "value": "count"}],
        sources=[Source(key="web", path="data/*.jsonl")])

    first = run_pipeline(project, warehouse, ts("2024-06-01T00:00:00Z"))
    assert first.ingested.loaded == 1
    assert list(values(warehouse, "orders").values()) == [1]

    write_events(tmp_path / "data" / "day2.jsonl", [
        {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m2",
         "timestamp": "2024-06-01T10:00:00Z", "properties": {"revenue": 80}}])
    second = run_pipeline(project, warehouse, ts("2024-06-02T00:00:00Z"))
    assert (second.ingested.loaded, second.ingested.duplicates) == (1, 1)
    assert list(values(warehouse, "orders").values()) == [2]
    assert second.computations[0].changed == 1


def test_the_commit_of_a_checkout_is_recorded_with_the_run(warehouse, tmp_path):
    project = make_project(tmp_path, [])
    assert project_commit(project) is None  # not a checkout (yet)
    git = ["git", "-c", "user.email=dev@example.com", "-c", "user.name=dev", "-C", str(tmp_path)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tmp_path / "engage.yaml").write_text("space: spa_test\n")
    subprocess.run([*git, "add", "engage.yaml"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "definitions"], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()

    result = run_pipeline(project, warehouse, ts("2024-06-01T00:00:00Z"))
    assert result.commit == head
    rows = warehouse.fetchall(exp.select(exp.column("commit", quoted=True)).from_(warehouse.table("runs")))
    assert rows == [(head,)]
