"""`engagectl compile`, `preview` and `explain` on a small project, on DuckDB and on Postgres."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner

from engagectl.cli import main
from engagectl.compile import SUPPORTED_DIALECTS
from tests.compile.conftest import load_events

AS_OF = "2024-06-01T00:00:00Z"

RESOURCES = """
kind: audience
key: high_value_users
where:
  all:
    - {event: Order Completed, where: {property: revenue, gt: 100}, within: 90d, count: {gte: 2}}
    - {trait: plan, one_of: [pro, enterprise]}
---
kind: audience
key: cart_abandoners
where: {event: Product Added, within: 7d, then_not: {event: Order Completed, within: 1d}}
---
kind: computed_trait
key: revenue_90d
event: Order Completed
within: 90d
value: {sum: revenue}
---
kind: journey
key: onboarding
entry: {event: Signed Up}
steps:
  - key: ordered
    where: {event: Order Completed}
"""

EVENTS = [
    {"type": "identify", "userId": "bob", "timestamp": "2024-05-01T00:00:00Z",
     "traits": {"email": "bob@example.com", "plan": "pro"}},
    {"type": "track", "event": "Order Completed", "userId": "bob", "messageId": "o1",
     "timestamp": "2024-05-10T00:00:00Z", "properties": {"revenue": 150}},
    {"type": "track", "event": "Order Completed", "userId": "bob", "messageId": "o2",
     "timestamp": "2024-05-20T00:00:00Z", "properties": {"revenue": 200}},
    {"type": "identify", "userId": "amy", "timestamp": "2024-05-01T00:00:00Z",
     "traits": {"email": "amy@example.com", "plan": "free"}},
    {"type": "track", "event": "Order Completed", "userId": "amy", "messageId": "o3",
     "timestamp": "2024-05-10T00:00:00Z", "properties": {"revenue": 150}},
    {"type": "track", "event": "Product Added", "anonymousId": "anon-7", "userId": "amy", "messageId": "p1",
     "timestamp": "2024-05-30T00:00:00Z"},
    # both entered the onboarding journey, so both can be in its `ordered` step
    {"type": "track", "event": "Signed Up", "userId": "bob", "messageId": "s1", "timestamp": "2024-05-02T00:00:00Z"},
    {"type": "track", "event": "Signed Up", "userId": "amy", "messageId": "s2", "timestamp": "2024-05-02T00:00:00Z"},
]


@pytest.fixture
def project_dir(tmp_path, warehouse_url) -> Path:
    from engagectl.config import load_project
    from engagectl.warehouse import open_warehouse

    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "engage.yaml").write_text(f"space: spa_test\nwarehouse: {warehouse_url}\n", encoding="utf-8")
    (folder / "resources.yaml").write_text(RESOURCES, encoding="utf-8")
    project = load_project(folder)
    warehouse = open_warehouse(project.settings.warehouse, folder)
    try:
        load_events(warehouse, EVENTS, project.settings)
    finally:
        warehouse.close()
    return folder


def _run(project_dir: Path, *args: str):
    return CliRunner().invoke(main, ["-C", str(project_dir), *args], catch_exceptions=False)


def test_compile_prints_sql_that_parses_in_every_dialect(project_dir):
    for key in ("high_value_users", "cart_abandoners", "revenue_90d", "onboarding__ordered"):
        for dialect in SUPPORTED_DIALECTS:
            result = _run(project_dir, "compile", key, "--dialect", dialect, "--as-of", AS_OF)
            assert result.exit_code == 0, result.output
            parsed = sqlglot.parse_one(result.output.strip().rstrip(";"), read=dialect)
            assert parsed.selects[0].alias_or_name == "profile_id"


def test_compile_unknown_key_fails(project_dir):
    result = _run(project_dir, "compile", "nope")
    assert result.exit_code == 1
    assert "nope" in result.output


def test_preview_json_has_size_and_sample_with_external_ids(project_dir):
    result = _run(project_dir, "preview", "high_value_users", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert set(body) == {"key", "as_of", "size", "sample"}
    assert body["key"] == "high_value_users"
    assert body["as_of"] == AS_OF
    assert body["size"] == 1
    [member] = body["sample"]
    assert set(member) == {"profile_id", "external_ids"}
    assert member["external_ids"] == {"user_id": ["bob"], "email": ["bob@example.com"], "anonymous_id": []}


def test_preview_human_shows_size(project_dir):
    result = _run(project_dir, "preview", "cart_abandoners", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "cart_abandoners: 1 member(s)" in result.output
    assert "amy@example.com" in result.output


def test_preview_limit_bounds_the_sample_not_the_size(project_dir):
    result = _run(project_dir, "preview", "onboarding__ordered", "--as-of", AS_OF, "--json", "--limit", "1")
    body = json.loads(result.output)
    assert body["size"] == 2 and len(body["sample"]) == 1


def test_explain_json_says_why_amy_is_out(project_dir):
    result = _run(project_dir, "explain", "high_value_users", "email:amy@example.com", "--as-of", AS_OF, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["member"] is False
    assert body["eligibility"]["value"] is True
    orders, plan = body["condition"]["children"]
    assert orders["value"] is False and orders["evidence"]["count"] == 1
    assert [e["message_id"] for e in orders["evidence"]["events"]] == ["o3"]
    assert plan["value"] is False and plan["evidence"]["value"] == "free"


def test_explain_human_tree_marks_each_node(project_dir):
    result = _run(project_dir, "explain", "high_value_users", "email:bob@example.com", "--as-of", AS_OF)
    assert result.exit_code == 0, result.output
    assert "is a member of" in result.output
    assert "✓ performed Order Completed" in result.output
    assert "✗" not in result.output


def test_explain_computed_trait_shows_value_and_events(project_dir):
    result = _run(project_dir, "explain", "revenue_90d", "user_id:bob", "--as-of", AS_OF, "--json")
    body = json.loads(result.output)
    assert body["value"] == pytest.approx(350)
    assert [e["message_id"] for e in body["condition"]["evidence"]["events"]] == ["o1", "o2"]


def test_explain_unknown_profile_exits_1(project_dir):
    result = _run(project_dir, "explain", "high_value_users", "email:nobody@example.com")
    assert result.exit_code == 1
    assert "nobody@example.com" in result.output
