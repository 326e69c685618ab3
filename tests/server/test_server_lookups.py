"""On DuckDB the server indexes the Profile API's lookups while it holds the file, and only then."""

from __future__ import annotations

from engagectl.server.context import open_context
from engagectl.warehouse import open_warehouse
from engagectl.warehouse.layout import LOOKUP_INDEXES

LOOKUPS = {name for _table, name, _columns, _unique in LOOKUP_INDEXES}


def _indexes(warehouse) -> set[str]:
    return {name for (name,) in warehouse.fetchall("SELECT index_name FROM duckdb_indexes()")}


def test_serving_indexes_the_lookups_and_stopping_drops_them(project):
    context = open_context(project)
    try:
        assert _indexes(context.warehouse) >= LOOKUPS
        # point lookups run on one DuckDB thread unless the URL says otherwise
        assert context.warehouse.fetchall("SELECT current_setting('threads')") == [(1,)]
    finally:
        context.close()
    warehouse = open_warehouse(project.settings.warehouse, str(project.directory))
    try:
        assert not _indexes(warehouse) & LOOKUPS  # the next run writes without maintaining them
    finally:
        warehouse.close()
