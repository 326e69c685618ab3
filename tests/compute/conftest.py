"""Fixtures for run tests: a fresh warehouse (DuckDB and Postgres) and a seeder for it."""

from __future__ import annotations

import pytest

from compute_fixtures import Seeder
from engagectl.warehouse import open_warehouse


@pytest.fixture
def warehouse(warehouse_url, tmp_path):
    opened = open_warehouse(warehouse_url, tmp_path)
    yield opened
    opened.close()


@pytest.fixture
def seed(warehouse) -> Seeder:
    return Seeder(warehouse)
