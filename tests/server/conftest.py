"""Fixtures for the server: a project folder on disk, the app on its warehouse, tokens, write keys."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from engagectl.config import load_project
from engagectl.server import create_app
from engagectl.server.context import ServerContext
from engagectl.server.tokens import TokenStore

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


@pytest.fixture
def project_dir(tmp_path, monkeypatch) -> Path:
    """A project on the embedded warehouse with one audience and one computed trait."""
    monkeypatch.setenv(WRITE_KEY_VARIABLE, WRITE_KEY)
    return write_project(tmp_path / "project", "duckdb:///.engage/warehouse.duckdb", "sqlite:///.engage/state.db")


@pytest.fixture
def project(project_dir):
    return load_project(project_dir)


@pytest.fixture
def context(project):
    from engagectl.server.context import open_context

    context: ServerContext = open_context(project)
    yield context
    context.close()


@pytest.fixture
def client(context) -> TestClient:
    with TestClient(create_app(context=context)) as client:
        yield client


@pytest.fixture
def token(context) -> str:
    """A live access token for the project's space."""
    return context.tokens.create(SPACE, "tests").secret


@pytest.fixture
def tokens(context) -> TokenStore:
    return context.tokens
