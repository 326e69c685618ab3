"""The example shop runs end to end into its `file` and `webhook` destinations; a re-run with
nothing changed sends nothing."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from engagectl.cli import main
from engagectl.config import load_project
from engagectl.sync import enqueue_run, sync_after_run
from engagectl.warehouse import open_warehouse

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)


def test_the_shop_syncs_to_file_and_webhook_and_a_rerun_sends_nothing(tmp_path, destination_server, monkeypatch):
    from engagectl.compute.pipeline import run_pipeline

    root = tmp_path / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns(".engage", "out"))
    monkeypatch.setenv("SHOP_WEBHOOK_URL", destination_server.url + "/engage")
    monkeypatch.setenv("SHOP_WEBHOOK_SECRET", "whsec_c2hvcC1kZW1vLXNlY3JldC1rZXk=")
    project = load_project(root)
    warehouse = open_warehouse(project.settings.warehouse, project.directory)
    try:
        first = run_pipeline(project, warehouse, AS_OF)
        report = sync_after_run(project, warehouse, project.settings.state, first.run_id)
        assert report.queued > 0 and report.delivered == report.queued
        assert report.to_json() == {"delivered": report.queued, "retrying": 0, "discarded": 0, "failed": 0}

        lines = (root / "out" / "engage.jsonl").read_text().splitlines()
        written = [json.loads(line) for line in lines]
        assert written and set(Counter(m["messageId"] for m in written).values()) == {1}
        assert {m["type"] for m in written} <= {"identify", "track", "alias"}
        assert all(m["context"]["personas"]["space_id"] == "spa_shop_demo" for m in written if m["type"] != "alias")
        webhook = destination_server.messages()
        assert webhook and all(r.headers["webhook-signature"].startswith("v1,") for r in destination_server.received)
        assert "${env:" not in json.dumps(webhook)

        second = run_pipeline(project, warehouse, AS_OF)
        assert enqueue_run(project, project.settings.state, warehouse, second.run_id) == 0
    finally:
        warehouse.close()
    requests_before = len(destination_server.received)
    result = CliRunner().invoke(main, ["-C", str(root), "sync", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"delivered": 0, "retrying": 0, "discarded": 0, "failed": 0}
    assert (root / "out" / "engage.jsonl").read_text().splitlines() == lines
    assert len(destination_server.received) == requests_before


def test_deliveries_and_audit_commands_show_the_queue(tmp_path, destination_server):
    from sync_fakes import identify_rows, write_project

    from engagectl.sync.queue import open_queue

    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    root = write_project(tmp_path / "proj", state_url, [
        {"key": "hook", "provider": "webhook", "settings": {"url": destination_server.url}},
        {"key": "out", "provider": "file", "settings": {"path": "out.jsonl"}},
    ])
    queue = open_queue(state_url, root)
    queue.enqueue(identify_rows(3, "hook") + identify_rows(2, "out", start=3), datetime(2024, 6, 1))
    queue.close()
    destination_server.script = [(503, {}, "busy")]
    runner = CliRunner()

    result = runner.invoke(main, ["-C", str(root), "sync", "--json"], catch_exceptions=False)
    assert json.loads(result.stdout) == {"delivered": 2, "retrying": 3, "discarded": 0, "failed": 0}

    listed = json.loads(runner.invoke(main, ["-C", str(root), "deliveries", "--destination", "hook",
                                             "--status", "retrying", "--json"]).stdout)
    assert listed["counts"]["retrying"] == 3
    assert [d["message_id"] for d in listed["deliveries"]] == [f"personas_{i:08d}" for i in range(3)]
    assert listed["deliveries"][0]["attempts"] == 1 and "503" in listed["deliveries"][0]["last_error"]

    audit = json.loads(runner.invoke(main, ["-C", str(root), "audit", "--json"]).stdout)
    assert [(e["destination"], e["error_class"], e["code"], e["messages"]) for e in audit["entries"]] == [
        ("hook", "awaiting-retry", "503", 3)]
    human = runner.invoke(main, ["-C", str(root), "audit"])
    assert human.exit_code == 0 and "awaiting-retry" in human.stdout and "503" in human.stdout

    human = runner.invoke(main, ["-C", str(root), "sync"])
    assert human.exit_code == 0 and "delivered 0, retrying 3" in human.stdout
