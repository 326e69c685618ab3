"""The example project in examples/shop: valid, complete, and its sample data tells its stories."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from engagectl.cli import main
from engagectl.config import load_project

SHOP = Path(__file__).resolve().parents[2] / "examples" / "shop"
AS_OF = datetime(2026, 11, 28, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def messages() -> list[dict]:
    lines = (SHOP / "data" / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def when(message: dict) -> datetime:
    return datetime.fromisoformat(message["timestamp"].replace("Z", "+00:00"))


def test_engagectl_validate_accepts_the_example():
    result = CliRunner().invoke(main, ["-C", str(SHOP), "validate"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Success! ") and "resources are valid." in result.stdout


def test_the_example_shows_every_part_of_the_language():
    project = load_project(SHOP)
    assert project.settings.space == "spa_shop_demo"
    assert [s.key for s in project.settings.sources] == ["web"]
    assert project.settings.sources[0].path == "data/*.jsonl"
    assert "team@company.com" in project.settings.identity.blocked_values
    expected = {
        "audience.high_value_users", "audience.cart_abandoners", "audience.pro_plan", "audience.upsell_candidates",
        "computed_trait.orders_90d", "computed_trait.revenue_365d", "computed_trait.favourite_category",
        "computed_trait.last_page_url", "computed_trait.first_utm_source", "sql_trait.page_stats",
        "journey.onboarding", "destination.shop_file", "destination.shop_webhook",
    }
    assert expected <= set(project.resources)
    values = {r.value.type for r in project.of_kind("computed_trait")}
    assert {"count", "sum", "most_frequent", "first", "last"} <= values
    bindings = [b for r in project.resources.values() for b in getattr(r, "destinations", [])]
    assert any(isinstance(b, str) for b in bindings) and any(not isinstance(b, str) for b in bindings)
    webhook = project.get("destination", "shop_webhook")
    assert webhook.settings == {"url": "${env:SHOP_WEBHOOK_URL}", "secret": "${env:SHOP_WEBHOOK_SECRET}"}


def test_local_state_and_output_are_git_ignored():
    ignored = (SHOP / ".gitignore").read_text(encoding="utf-8").split()
    assert ".engage/" in ignored and "out/" in ignored


def test_the_sample_data_is_what_the_generator_writes(tmp_path):
    output = tmp_path / "events.jsonl"
    subprocess.run([sys.executable, str(SHOP / "generate_data.py"), str(output)], check=True)
    assert output.read_bytes() == (SHOP / "data" / "events.jsonl").read_bytes(), (
        "examples/shop/data/events.jsonl is stale: run `python examples/shop/generate_data.py`")


def test_every_message_is_a_dated_segment_message(messages):
    assert 200 <= len(messages) <= 1000
    assert len({m["messageId"] for m in messages}) == len(messages)
    for message in messages:
        assert message["type"] in ("identify", "page", "track")
        assert message["timestamp"].endswith("Z")
        assert AS_OF - timedelta(days=60) <= when(message) < AS_OF
        assert message.get("userId") or message.get("anonymousId")


def test_bob_is_high_value_and_amy_is_not(messages):
    users = {m["traits"]["email"]: m["userId"] for m in messages if m["type"] == "identify"}

    def big_orders(user_id: str) -> int:
        return sum(1 for m in messages if m.get("event") == "Order Completed" and m.get("userId") == user_id
                   and m["properties"]["revenue"] > 100 and when(m) >= AS_OF - timedelta(days=90))

    assert big_orders(users["bob@example.com"]) >= 3
    assert 0 < big_orders(users["amy@example.com"]) < 3


def test_one_browser_is_shared_by_two_users_without_a_reset(messages):
    users_on_a1 = {m["userId"] for m in messages if m.get("anonymousId") == "a1" and m.get("userId")}
    assert users_on_a1 == {"u1", "u2"}


def test_the_team_mailbox_is_shared_and_blocked(messages):
    team = {m["userId"] for m in messages if m["type"] == "identify" and m["traits"].get("email") == "team@company.com"}
    assert len(team) == 2


def test_carol_abandoned_her_cart(messages):
    carol = [m for m in messages if m.get("userId") == "u3"]
    added = [when(m) for m in carol if m.get("event") == "Product Added"]
    assert added and max(added) >= AS_OF - timedelta(days=7)
    assert not [m for m in carol if m.get("event") == "Order Completed" and when(m) > min(added)]


def test_the_journey_events_are_there(messages):
    events = {m.get("event") for m in messages}
    assert {"Signed Up", "Credit Card Added", "Subscribed", "Product Viewed", "Product Added"} <= events
    pages = [m for m in messages if m["type"] == "page"]
    assert any("utm_source" in m["properties"] for m in pages)
    assert all("url" in m["properties"] for m in pages)
