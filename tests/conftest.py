"""Fixtures shared by the whole suite: Postgres schemas of our own, project folders."""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_URL = os.environ.get("ENGAGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    """None when Postgres answers, else the reason it does not."""
    try:
        import psycopg

        dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except Exception as exc:  # any failure to connect means "not reachable"
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


_POSTGRES_PROBLEM = _postgres_reachable()


@pytest.fixture(scope="session")
def postgres_base_url() -> str:
    """The Postgres URL, or a skip when none is reachable outside CI (under CI=true: a failure)."""
    if _POSTGRES_PROBLEM is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but Postgres at {POSTGRES_URL} is not reachable: {_POSTGRES_PROBLEM}")
        pytest.skip(f"Postgres at {POSTGRES_URL} is not reachable ({_POSTGRES_PROBLEM}); set CI=true to require it")
    return POSTGRES_URL


@pytest.fixture
def postgres_schema(postgres_base_url):
    """A fresh schema name, dropped (with everything in it) after the test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    dsn = postgres_base_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture
def postgres_url(postgres_base_url, postgres_schema) -> str:
    """A Postgres URL whose engagectl tables live in a schema of this test's own."""
    return f"{postgres_base_url}?schema={postgres_schema}"


@pytest.fixture(params=["sqlite", "postgres"])
def state_url(request, tmp_path) -> str:
    """Run a test once on SQLite state and once on Postgres state."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path) -> str:
    """Run a test once on the embedded DuckDB warehouse and once on Postgres."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("postgres_url")
