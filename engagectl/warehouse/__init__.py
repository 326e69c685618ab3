"""The warehouse: engine adapters behind one interface, and the table layout engagectl owns.

`open_warehouse(url)` connects, then creates or migrates the layout (`layout.py`).
"""

from __future__ import annotations

from pathlib import Path

from engagectl.urls import parse_database_url
from engagectl.warehouse.base import Warehouse, WarehouseError, quoted_column
from engagectl.warehouse.layout import LAYOUT_VERSION, migrate

DEFAULT_SCHEMA = "engage"

__all__ = ["LAYOUT_VERSION", "Warehouse", "WarehouseError", "open_warehouse", "quoted_column"]


def open_warehouse(url: str, project_dir: str | Path = ".") -> Warehouse:
    """Connect to the warehouse at `url` (`duckdb:///…` or `postgresql+psycopg://…`), layout ready."""
    parsed = parse_database_url(url, project_dir)
    schema = parsed.schema or DEFAULT_SCHEMA
    if parsed.backend == "duckdb":
        from engagectl.warehouse.duckdb import DuckDBWarehouse

        # Other query options are DuckDB settings, e.g. `?memory_limit=2GB&threads=2`.
        settings = {key: str(value) for key, value in parsed.url.query.items()}
        warehouse: Warehouse = DuckDBWarehouse(parsed.url.database or ":memory:", schema, settings)
    elif parsed.backend == "postgresql":
        from engagectl.warehouse.postgres import PostgresWarehouse

        warehouse = PostgresWarehouse(parsed.url, schema)
    else:
        raise WarehouseError(f"unsupported warehouse {parsed.backend!r}: use duckdb:/// or postgresql+psycopg://")
    try:
        migrate(warehouse)
    except Exception:
        warehouse.close()
        raise
    return warehouse
