"""The Profile API's lookups: indexed where the engine keeps indexes, values bound, never pasted."""

from __future__ import annotations

from engagectl.warehouse import LAYOUT_VERSION, open_warehouse
from engagectl.warehouse.layout import LOOKUP_INDEXES

POSTGRES_LOOKUPS = {"identities_id_value", "computed_values_profile_id"}


def _postgres_indexes(warehouse) -> set[str]:
    rows = warehouse.fetchall(warehouse.parse(
        "SELECT indexname FROM pg_indexes WHERE schemaname = :s", s=warehouse.schema))
    return {name for (name,) in rows}


def test_postgres_indexes_the_profile_lookups(postgres_url):
    warehouse = open_warehouse(postgres_url)
    try:
        assert POSTGRES_LOOKUPS <= _postgres_indexes(warehouse)
    finally:
        warehouse.close()


def test_a_version_1_layout_gains_the_lookup_indexes_when_reopened(postgres_url):
    warehouse = open_warehouse(postgres_url)
    for name in POSTGRES_LOOKUPS:
        warehouse.execute(warehouse.parse(f'DROP INDEX "{warehouse.schema}"."{name}"'))
    warehouse.execute(warehouse.parse("DELETE FROM layout_version WHERE version > 1"))
    warehouse.close()

    warehouse = open_warehouse(postgres_url)
    try:
        assert POSTGRES_LOOKUPS <= _postgres_indexes(warehouse)
        versions = warehouse.fetchall(warehouse.parse("SELECT version FROM layout_version ORDER BY version"))
        assert versions[-1] == (LAYOUT_VERSION,)
    finally:
        warehouse.close()


def test_duckdb_layout_keeps_no_lookup_indexes(tmp_path):
    # run's bulk writes stay fast; `serve` adds the indexes while it holds the file
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    try:
        names = {name for (name,) in warehouse.fetchall("SELECT index_name FROM duckdb_indexes()")}
        assert not names & {name for _table, name, _columns, _unique in LOOKUP_INDEXES}
    finally:
        warehouse.close()


def test_prepared_statements_bind_values_and_render_once(warehouse_url):
    warehouse = open_warehouse(warehouse_url)
    try:
        hostile = "x'); DELETE FROM profiles; --"
        insert = warehouse.prepared("test.insert", lambda: warehouse.parse(
            "INSERT INTO profiles (profile_id, first_source) VALUES (:p, :s)"))
        insert.execute(p="p1", s=hostile)
        insert.execute(p="p2", s="web")
        select = warehouse.prepared("test.select", lambda: "SELECT first_source FROM profiles WHERE profile_id = :p")
        assert select.fetchall(p="p1") == [(hostile,)]
        assert select.fetch_dicts(p="p2") == [{"first_source": "web"}]
        assert warehouse.prepared("test.select", lambda: "SELECT 1") is select
        # a `%` in the SQL text is not a placeholder (psycopg's spelling)
        like = warehouse.prepared("test.like", lambda: (
            "SELECT profile_id FROM profiles WHERE first_source LIKE 'x''%' AND profile_id = :p"))
        assert like.fetchall(p="p1") == [("p1",)]
        assert warehouse.fetchall(warehouse.parse("SELECT COUNT(*) FROM profiles")) == [(2,)]
    finally:
        warehouse.close()
