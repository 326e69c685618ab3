"""The README's set-up on a copy of examples/shop: validate → test → plan → apply → profile, and the §5 shapes."""

from __future__ import annotations

import json
import shutil

import pytest

from .conftest import SHOP, Project

AS_OF = "2026-11-28T00:00:00Z"
PLAN_KEYS = {"format_version", "lineage", "serial", "changes", "summary", "diagnostics"}
CHANGE_KEYS = {"address", "kind", "key", "action", "reasons"}
RUN_COMPUTATION_KEYS = {"key", "kind", "size", "entered", "exited", "changed"}
SYNC_KEYS = {"delivered", "retrying", "discarded", "failed"}


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Project:
    """examples/shop, planned with -out and applied at a fixed as-of (module-wide: it is slow-ish)."""
    root = tmp_path_factory.mktemp("applied") / "shop"
    shutil.copytree(SHOP, root, ignore=shutil.ignore_patterns(".engage", "out", "__pycache__"))
    p = Project(root, env={"SHOP_WRITE_KEY": "wk_shop_e2e_secret"})
    before = p.run("plan", "--detailed-exitcode")
    assert before.returncode == 2, before.stderr
    saved = p.run("plan", "-out", "plan.json")
    assert saved.returncode == 0, saved.stderr
    result = p.run("apply", "plan.json", "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    return p


def test_readme_commands_succeed_on_a_copy_of_the_example(shop):
    for args in (["validate"], ["test"], ["plan"], ["apply", "--auto-approve"]):
        result = shop.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "Success!" in shop.run("validate").stdout
    body = shop.run("profile", "email:bob@example.com").json()
    assert body["traits"]["email"] == "bob@example.com"
    assert set(body["cursor"]) >= {"url", "has_more", "next"}


def test_plan_detailed_exitcode_is_2_before_apply_and_0_after(applied):
    after = applied.cli("plan", "--detailed-exitcode")
    assert after.returncode == 0, after.stderr
    assert applied.cli("plan").returncode == 0


def test_a_saved_plan_is_refused_once_applied(applied):
    again = applied.cli("apply", str(applied.root / "plan.json"))
    assert again.returncode == 1
    assert "stale" in again.stderr or "state" in again.stderr


def test_plan_json_shape_before_and_after_apply(shop, applied):
    fresh = shop.cli("plan", "--json")
    assert fresh.returncode == 0
    doc = fresh.json()
    assert set(doc) == PLAN_KEYS
    assert doc["format_version"] == "1" and isinstance(doc["lineage"], str) and doc["serial"] == 0
    assert set(doc["summary"]) == {"create", "update", "delete", "replace"}
    assert doc["summary"]["create"] == len(doc["changes"]) > 0
    hv = next(c for c in doc["changes"] if c["address"] == "audience.high_value_users")
    assert set(hv) >= CHANGE_KEYS
    assert hv["kind"] == "audience" and hv["key"] == "high_value_users" and hv["action"] == "create"
    assert all(isinstance(r, str) for r in hv["reasons"])
    assert doc["diagnostics"] == []

    later = applied.cli("plan", "--json").json()
    assert later["serial"] == 1
    assert later["summary"] == {"create": 0, "update": 0, "delete": 0, "replace": 0}
    assert all(c["action"] == "no-op" for c in later["changes"])


def test_validate_json_lists_no_diagnostics_for_the_example(shop):
    result = shop.cli("validate", "--json")
    assert result.returncode == 0
    assert result.json()["diagnostics"] == []


def test_profile_json_is_the_profile_api_body(applied):
    result = applied.cli("profile", "email:bob@example.com", "--json", "--include", "high_value_users")
    assert result.returncode == 0, result.stderr
    body = result.json()
    assert set(body) == {"traits", "cursor"}
    assert body["traits"] == {"high_value_users": True}
    assert isinstance(body["cursor"]["url"], str) and isinstance(body["cursor"]["has_more"], bool)
    assert isinstance(body["cursor"]["next"], str)


def test_profile_of_an_unknown_identifier_is_not_found(applied):
    result = applied.cli("profile", "email:nobody@nowhere.example", "--json")
    assert result.returncode == 1
    assert result.json() == {"error": {"code": "not_found", "message": "Profile was not found."}}


def test_preview_json_shape(applied):
    result = applied.cli("preview", "high_value_users", "--json", "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    doc = result.json()
    assert set(doc) == {"key", "as_of", "size", "sample"}
    assert doc["key"] == "high_value_users" and doc["as_of"].startswith("2026-11-28T00:00:00")
    assert doc["size"] == len(doc["sample"]) >= 1
    for member in doc["sample"]:
        assert set(member) == {"profile_id", "external_ids"}
        assert set(member["external_ids"]) == {"user_id", "email", "anonymous_id"}
    emails = [e for m in doc["sample"] for e in m["external_ids"]["email"]]
    assert "bob@example.com" in emails


def test_run_and_sync_json_shapes_and_a_repeat_sends_nothing(applied):
    run = applied.cli("run", "--json", "--as-of", AS_OF)
    assert run.returncode == 0, run.stderr
    doc = run.json()
    assert set(doc) == {"run_id", "as_of", "computations", "queued"}
    assert isinstance(doc["run_id"], str) and doc["as_of"].startswith("2026-11-28T00:00:00")
    assert doc["computations"] and all(set(c) == RUN_COMPUTATION_KEYS for c in doc["computations"])
    hv = next(c for c in doc["computations"] if c["key"] == "high_value_users")
    assert hv["kind"] == "audience" and hv["size"] >= 1
    # nothing changed since the apply at the same as-of: nothing enters, exits or is queued
    assert hv["entered"] == hv["exited"] == 0 and doc["queued"] == 0

    sync = applied.cli("sync", "--json")
    assert sync.returncode == 0
    assert set(sync.json()) == SYNC_KEYS
    assert sync.json()["delivered"] == 0


def test_file_destination_writes_segment_messages_never_twice(applied):
    path = applied.root / "out" / "engage.jsonl"
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines
    ids = [m["messageId"] for m in lines]
    assert len(ids) == len(set(ids))
    identify = next(m for m in lines if m["type"] == "identify" and "high_value_users" in m["traits"])
    assert identify["traits"]["high_value_users"] is True
    assert identify.get("userId") or identify.get("anonymousId")
    personas = identify["context"]["personas"]
    assert personas["computation_key"] == "high_value_users" and personas["computation_class"] == "audience"
    assert personas["space_id"] == personas["namespace"] == "spa_shop_demo"
    assert identify["timestamp"]

    applied.run("run", "--as-of", AS_OF)
    applied.run("sync")
    again = [json.loads(line)["messageId"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(again) == len(set(again))


def test_the_write_key_is_never_stored_in_state_plans_or_logs(applied):
    secret = "wk_shop_e2e_secret"
    assert secret not in (applied.root / "plan.json").read_text(encoding="utf-8")
    for path in (applied.root / ".engage").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    for args in (["state", "list"], ["state", "show", "shop_webhook"], ["show"], ["plan"], ["audit"],
                 ["deliveries"]):
        result = applied.cli(*args)
        assert secret not in result.stdout + result.stderr, args
    shown = applied.cli("state", "show", "shop_webhook").stdout
    assert "${env:SHOP_WEBHOOK_URL}" in shown


def test_dash_c_runs_a_project_from_elsewhere(applied, tmp_path):
    result = applied.run("-C", str(applied.root), "state", "list", cwd=tmp_path)
    assert result.returncode == 0
    assert "audience.high_value_users" in result.stdout
    assert applied.run("-C", str(applied.root), "validate", cwd=tmp_path).returncode == 0
    assert applied.run("validate", cwd=tmp_path).returncode == 1


def test_explain_says_why_bob_is_in(applied):
    result = applied.cli("explain", "high_value_users", "email:bob@example.com", "--as-of", AS_OF)
    assert result.returncode == 0, result.stderr
    assert "is a member of high_value_users" in " ".join(result.stdout.split())


def test_compile_prints_sql_for_every_dialect(applied):
    for dialect in ("duckdb", "postgres", "snowflake", "bigquery", "spark", "databricks", "trino", "redshift"):
        result = applied.cli("compile", "high_value_users", "--dialect", dialect)
        assert result.returncode == 0, (dialect, result.stderr)
        assert "select" in result.stdout.lower() and "Order Completed" in result.stdout, dialect
    assert applied.cli("compile", "no_such_key").returncode == 1


def test_state_deliveries_and_audit(applied):
    listing = json.loads(applied.cli("state", "list", "--json").stdout)
    assert listing["serial"] == 1
    assert "audience.high_value_users" in {r["address"] for r in listing["resources"]}
    assert applied.cli("state", "show", "nope").returncode == 1
    deliveries = applied.cli("deliveries", "--destination", "shop_file", "--status", "delivered")
    assert deliveries.returncode == 0 and "delivered" in deliveries.stdout
    # the webhook has no URL in this environment: it is paused, and the audit says so
    audit = applied.cli("audit", "--json")
    assert audit.returncode == 0
    assert any(e["destination"] == "shop_webhook" for e in audit.json()["entries"])


def test_a_broken_definition_fails_its_test_and_says_why(shop):
    path = shop.root / "audiences" / "high_value_users.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("count: {gte: 3}", "count: {gte: 30}"), encoding="utf-8")
    result = shop.run("test", "--select", "high_value_users")
    assert result.returncode == 1
    text = " ".join(result.stdout.split())
    assert "email:bob@example.com is not a member of high_value_users" in text
    # the figure that decided it is printed whole, even in a narrow CI log
    assert "≥ 30 time(s) count=3" in text


def test_the_example_syncs_to_file_and_webhook_once(shop):
    import http.server
    import threading

    received: list[dict] = []

    class Hook(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            received.extend(body["data"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        shop.env.update({"SHOP_WEBHOOK_URL": f"http://127.0.0.1:{server.server_port}/engage",
                         "SHOP_WEBHOOK_SECRET": "whsec_" + "c2VjcmV0c2VjcmV0c2VjcmV0"})
        applied = shop.cli("apply", "--auto-approve", "--as-of", AS_OF, "--json")
        assert applied.returncode == 0, applied.stderr
        assert applied.json()["sync"]["failed"] == 0 and applied.json()["sync"]["retrying"] == 0
        assert received
        ids = [m["messageId"] for m in received]
        assert len(ids) == len(set(ids))
        assert any(m["type"] == "track" and m["event"] == "Audience Entered" for m in received)
        before = len(received)
        again = shop.cli("run", "--as-of", AS_OF, "--json")
        assert again.json()["queued"] == 0
        assert shop.cli("sync", "--json").json()["delivered"] == 0
        assert len(received) == before
    finally:
        server.shutdown()
        server.server_close()
