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

from server_support import HIGH_VALUE_USERS, REVENUE, SPACE, WRITE_KEY, WRITE_KEY_VARIABLE, basic, write_project  # noqa: E402,F401


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
