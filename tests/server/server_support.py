"""Constants and helpers the server tests share (a module of its own: `conftest` names clash)."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml

SPACE = "spa_test"
WRITE_KEY = "wk_test_web"
WRITE_KEY_VARIABLE = "ENGAGE_TEST_WEB_WRITE_KEY"

HIGH_VALUE_USERS = {
    "kind": "audience",
    "key": "high_value_users",
    "name": "High value users",
    "where": {"event": "Order Completed", "where": {"property": "revenue", "gt": 100}, "within": "90d",
              "count": {"gte": 2}},
}
REVENUE = {"kind": "computed_trait", "key": "revenue_365d", "event": "Order Completed", "within": "365d",
           "value": {"sum": "revenue"}}


def basic(user: str) -> dict[str, str]:
    """An `Authorization` header with `user` as the Basic user name and an empty password."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:".encode()).decode()}


def write_project(directory: Path, warehouse_url: str, state_url: str, resources=(HIGH_VALUE_USERS, REVENUE)) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    settings = {
        "space": SPACE,
        "warehouse": warehouse_url,
        "state": state_url,
        "sources": [{"key": "web", "write_key": "${env:%s}" % WRITE_KEY_VARIABLE}],
    }
    (directory / "engage.yaml").write_text(yaml.safe_dump(settings))
    (directory / "audiences").mkdir(exist_ok=True)
    (directory / "audiences" / "resources.yaml").write_text(yaml.safe_dump_all(list(resources)))
    return directory
