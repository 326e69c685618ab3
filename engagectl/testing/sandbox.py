"""Throw-away warehouses: each test gets its own, and nothing is left behind.

DuckDB: a file in a fresh temporary folder, removed afterwards. Postgres: a fresh schema,
dropped with everything in it afterwards. Both are cleaned up even when the test fails or the
pipeline raises.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Iterator

from sqlglot import exp

from engagectl.diagnostics import EngageError

ENGINES = ("duckdb", "postgres")
POSTGRES_URL_ENV = "ENGAGE_TEST_POSTGRES_URL"


class SandboxError(EngageError):
    """The throw-away warehouse could not be made (e.g. no Postgres URL for `--engine postgres`)."""


@contextlib.contextmanager
def throwaway_warehouse(engine: str = "duckdb", postgres_url: str | None = None) -> Iterator[object]:
    """An empty warehouse of `engine`, opened with engagectl's tables, destroyed on exit."""
    if engine == "duckdb":
        with _duckdb_warehouse() as warehouse:
            yield warehouse
    elif engine == "postgres":
        with _postgres_warehouse(postgres_url or os.environ.get(POSTGRES_URL_ENV)) as warehouse:
            yield warehouse
    else:
        raise SandboxError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")


@contextlib.contextmanager
def _duckdb_warehouse() -> Iterator[object]:
    from engagectl.warehouse import open_warehouse

    folder = Path(tempfile.mkdtemp(prefix="engagectl-test-"))
    try:
        warehouse = open_warehouse(f"duckdb:///{folder / 'test.duckdb'}", project_dir=str(folder))
        try:
            yield warehouse
        finally:
            warehouse.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _postgres_warehouse(base_url: str | None) -> Iterator[object]:
    from sqlalchemy import create_engine

    from engagectl.urls import parse_database_url
    from engagectl.warehouse import open_warehouse

    if not base_url:
        raise SandboxError(
            f"--engine postgres needs a Postgres URL: set {POSTGRES_URL_ENV} or use a postgresql+psycopg:// warehouse"
        )
    parsed = parse_database_url(base_url)
    if parsed.backend != "postgresql":
        raise SandboxError(f"--engine postgres needs a postgresql+psycopg:// URL, got a {parsed.backend} one")
    schema = f"engage_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(parsed.url, future=True, isolation_level="AUTOCOMMIT")
    name = exp.to_identifier(schema, quoted=True)
    # sqlglot spells a schema as a table with only its `db` part
    schema_ref = exp.Table(db=name)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(exp.Create(this=schema_ref, kind="SCHEMA").sql(dialect="postgres"))
        try:
            warehouse = open_warehouse(f"{parsed.render()}{'&' if parsed.url.query else '?'}schema={schema}")
            try:
                # A SQL trait's unqualified `from tickets` must find the test's own fixture tables.
                warehouse.execute(exp.select(exp.func(
                    "set_config", exp.Literal.string("search_path"),
                    exp.Literal.string(f"{name.sql(dialect='postgres')}, public"), exp.false())))
                yield warehouse
            finally:
                warehouse.close()
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(
                    exp.Drop(tables=[schema_ref], kind="SCHEMA", exists=True, cascade=True).sql(dialect="postgres")
                )
    finally:
        admin.dispose()
