"""The warehouse adapters: the table layout, migrations, values as literals, transactions."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from sqlglot import exp

from engagectl.warehouse import LAYOUT_VERSION, WarehouseError, open_warehouse
from engagectl.warehouse.layout import TABLES

CONTRACT = {
    "events": {"message_id", "source", "type", "event", "user_id", "anonymous_id", "timestamp", "received_at",
               "properties", "context", "traits", "raw", "profile_id", "seq"},
    "identities": {"profile_id", "id_type", "id_value", "first_seen", "last_seen", "first_message_id"},
    "profiles": {"profile_id", "created_at", "updated_at", "first_message_id", "last_message_id"},
    "merges": {"merged_profile_id", "into_profile_id", "message_id", "merged_at", "run_id"},
    "profile_traits": {"profile_id", "key", "value", "updated_at"},
    "computed_values": {"computation_key", "kind", "profile_id", "value", "updated_at"},
    "journey_progress": {"journey_key", "step_key", "profile_id", "joined_at"},
    "changes": {"change_id", "run_id", "as_of", "profile_id", "computation_key", "computation_kind", "change",
                "old_value", "new_value", "commit"},
    "runs": {"run_id", "as_of", "started_at", "finished_at", "commit"},
    "layout_version": {"version"},
}


@pytest.fixture
def warehouse(warehouse_url):
    opened = open_warehouse(warehouse_url)
    yield opened
    opened.close()


def _columns(warehouse, table: str) -> set[str]:
    rows = warehouse.fetchall(warehouse.parse(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t",
        s=warehouse.schema, t=table))
    return {row[0] for row in rows}


def test_open_creates_every_contract_table(warehouse):
    for table, columns in CONTRACT.items():
        assert columns <= _columns(warehouse, table), table


def test_layout_is_versioned_and_reopening_does_not_migrate_twice(warehouse_url):
    for _ in range(2):
        warehouse = open_warehouse(warehouse_url)
        rows = warehouse.fetchall(warehouse.parse("SELECT version FROM layout_version"))
        warehouse.close()
    assert rows == [(LAYOUT_VERSION,)]


def test_schema_comes_from_the_url(postgres_url, postgres_schema):
    warehouse = open_warehouse(postgres_url)
    try:
        assert warehouse.schema == postgres_schema
        assert warehouse.table("events").sql("postgres") == f'"{postgres_schema}"."events"'
    finally:
        warehouse.close()


def test_duckdb_warehouse_defaults_to_the_engage_schema(tmp_path):
    warehouse = open_warehouse("duckdb:///.engage/warehouse.duckdb", project_dir=tmp_path)
    try:
        assert warehouse.schema == "engage"
        assert (tmp_path / ".engage" / "warehouse.duckdb").exists()
    finally:
        warehouse.close()


def test_hostile_values_travel_as_literals(warehouse):
    hostile = "x'); drop table engage.events; --"
    warehouse.execute(warehouse.parse(
        "INSERT INTO profile_traits (profile_id, key, value) VALUES (:p, :k, NULL)", p=hostile, k=hostile))
    placeholder = exp.select(exp.column("key")).from_(warehouse.table("profile_traits")).where(
        exp.column("profile_id").eq(exp.Placeholder(this="p")))
    assert warehouse.fetchall(placeholder, {"p": hostile}) == [(hostile,)]
    assert _columns(warehouse, "events")


def test_a_placeholder_named_like_a_layout_table_takes_the_table_passed(warehouse):
    # `FROM :events AS e` reads whatever the caller passes, not the layout's events table.
    warehouse.load_arrays("engage_test_refs", {"seq": np.array([7, 8])})
    rows = warehouse.fetchall(warehouse.parse("SELECT COUNT(*) FROM :events AS e",
                                              events=warehouse.temp_table("engage_test_refs")))
    assert rows == [(2,)]
    assert warehouse.fetchall(warehouse.parse("SELECT COUNT(*) FROM events")) == [(0,)]


def test_a_failed_transaction_leaves_nothing(warehouse):
    with pytest.raises(RuntimeError), warehouse.transaction():
        warehouse.execute(warehouse.parse("INSERT INTO runs (run_id) VALUES ('r1')"))
        raise RuntimeError("boom")
    assert warehouse.fetchall(warehouse.parse("SELECT COUNT(*) FROM runs")) == [(0,)]
    with warehouse.transaction():
        warehouse.execute(warehouse.parse("INSERT INTO runs (run_id) VALUES ('r2')"))
    assert warehouse.fetch_dicts(warehouse.parse("SELECT run_id FROM runs")) == [{"run_id": "r2"}]


def test_loaded_arrays_are_replaced_by_a_second_load_and_gone_once_dropped(warehouse):
    # The identity run loads a name twice (identifiers attached, then those seen again) and drops
    # every scratch name at the end; a later scratch table may take the name.
    with warehouse.transaction():
        warehouse.load_arrays("engage_test_loaded", {"node": np.array([3, 1], np.int32), "flag": np.array([1, 0])})
        warehouse.load_arrays("engage_test_loaded", {"node": np.array([5, 6, 7], np.int32)})
        loaded = warehouse.fetch_arrays(warehouse.parse("SELECT node FROM engage_test_loaded ORDER BY node"))
        assert loaded["node"].tolist() == [5, 6, 7] and loaded["node"].dtype == np.int64
        warehouse.drop_scratch("engage_test_loaded")
    with pytest.raises(WarehouseError, match="engage_test_loaded"):
        warehouse.fetchall(warehouse.parse("SELECT COUNT(*) FROM engage_test_loaded"))
    warehouse.scratch("engage_test_loaded", warehouse.parse("SELECT 1 AS x"))
    assert warehouse.fetchall(warehouse.parse("SELECT x FROM engage_test_loaded")) == [(1,)]


@pytest.mark.parametrize("order", [["n"], ["n", "m"]])
def test_latest_rows_take_every_column_of_each_groups_last_row_nulls_included(warehouse, order):
    rows = warehouse.parse("""
        SELECT * FROM (VALUES ('a', 1, 5, 'first'), ('a', 3, 1, NULL), ('a', 2, 9, 'second'), ('b', 7, 0, 'only'))
        AS t(g, n, m, v)""")
    latest = warehouse.latest_rows(rows, ["g"], order, ["v", "m"])
    assert sorted(warehouse.fetchall(exp.select("g", "v", "m").from_(latest.subquery("l")))) == [
        ("a", None, 1), ("b", "only", 0)]


def test_a_numbered_scratch_table_numbers_rows_from_zero_in_the_order_given(warehouse):
    # More rows than one DuckDB row group, loaded shuffled, numbered inside a transaction (where
    # DuckDB's rowids of uncommitted rows start far from 0) and outside one.
    values = np.random.default_rng(3).permutation(150_000)
    for in_transaction in (True, False):
        with warehouse.transaction() if in_transaction else contextlib.nullcontext():
            warehouse.load_arrays("engage_test_values", {"v": values})
            warehouse.numbered_scratch("engage_test_numbered", warehouse.parse(
                "SELECT v, v % 7 AS bucket FROM engage_test_values"),
                [exp.column("bucket"), exp.Ordered(this=exp.column("v"), desc=True)], "place")
            numbered = warehouse.fetch_arrays(warehouse.parse(
                "SELECT place, v, bucket FROM engage_test_numbered ORDER BY place"))
        expected = sorted(values.tolist(), key=lambda v: (v % 7, -v))
        assert numbered["place"].tolist() == list(range(len(values)))
        assert numbered["v"].tolist() == expected
    # Once dropped, the name is free for a table.
    warehouse.drop_scratch("engage_test_numbered")
    warehouse.scratch("engage_test_numbered", warehouse.parse("SELECT 1 AS x"))
    assert warehouse.fetchall(warehouse.parse("SELECT x FROM engage_test_numbered")) == [(1,)]


def test_json_columns_read_back_with_sqlglot_json_access(warehouse):
    warehouse.execute(warehouse.parse(
        "INSERT INTO computed_values (computation_key, kind, profile_id, value) VALUES ('k', 'sql_trait', 'p', :v)",
        v='{"plan": "pro", "seats": 3}'))
    rows = warehouse.fetchall(warehouse.parse("SELECT value ->> 'plan' FROM computed_values"))
    assert rows == [("pro",)]


def test_every_table_is_declared_once():
    names = [table.name for table in TABLES]
    assert len(names) == len(set(names))
    assert set(CONTRACT) <= set(names)
