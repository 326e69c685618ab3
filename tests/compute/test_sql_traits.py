"""SQL traits: the query's rows become JSON objects on profiles, under Segment's contract."""

from __future__ import annotations

import pytest
from sqlglot import exp

from compute_fixtures import changes, make_project, ts, values
from engagectl.compute import SqlTraitError, run_computations
from engagectl.compute.sql_traits import render_sql
from engagectl.config.models import SqlTrait

OPEN_TICKETS = ("select user_id, count(*) as open_tickets from tickets "
                "where status = 'open' group by user_id")


def support(sql: str = OPEN_TICKETS, identifier: str = "user_id") -> dict:
    return {"kind": "sql_trait", "key": "support", "identifier": identifier, "sql": sql}


def tickets(warehouse, rows: list[tuple]) -> None:
    """(Re)create the `tickets` table in the warehouse schema with these rows."""
    table = warehouse.table("tickets")
    warehouse.execute(exp.Drop(tables=[table], kind="TABLE", exists=True))
    warehouse.execute(exp.Create(this=exp.Schema(this=table.copy(), expressions=[
        exp.ColumnDef(this=exp.to_identifier(name), kind=exp.DataType.build("TEXT"))
        for name in ("user_id", "email", "status")]), kind="TABLE"))
    warehouse.insert_rows(table, ["user_id", "email", "status"], rows)


def test_rows_attach_to_profiles_and_dropping_out_nulls_the_values(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="u1")
    amy = seed.profile("prof_amy", user_id="u2")
    tickets(warehouse, [("u1", None, "open"), ("u1", None, "open"), ("u2", None, "open"),
                        ("u9", None, "open")])  # u9 is nobody's: no profile gets it
    project = make_project(tmp_path, [support()])

    first = run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"))
    assert values(warehouse, "support") == {bob: {"open_tickets": 2}, amy: {"open_tickets": 1}}
    assert first.computations[0].to_json() == {
        "key": "support", "kind": "sql_trait", "size": 2, "entered": 0, "exited": 0, "changed": 2}

    tickets(warehouse, [("u1", None, "open")])
    second = run_computations(project, warehouse, ts("2024-06-02T00:00:00Z"))
    assert changes(warehouse, second.run_id) == [
        ("support", amy, "changed", {"open_tickets": 1}, None),
        ("support", bob, "changed", {"open_tickets": 2}, {"open_tickets": 1}),
    ]
    assert values(warehouse, "support") == {bob: {"open_tickets": 1}}


def test_emails_match_whatever_their_case(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", email="bob@example.com")
    tickets(warehouse, [(None, "Bob@Example.com", "open")])
    sql = "select email, count(*) as open_tickets from tickets group by email"
    run_computations(make_project(tmp_path, [support(sql, "email")]), warehouse, ts("2024-06-01T00:00:00Z"))
    assert values(warehouse, "support") == {bob: {"open_tickets": 1}}


@pytest.mark.parametrize("sql, message", [
    ("select user_id, status from tickets",
     "sql_trait support: user_id 'u1' appears in rows 1 and 3; identifiers must be unique"),
    ("select email, status from tickets", "the query returns no `user_id` column (identifier: user_id)"),
    ("select user_id from tickets group by user_id", "add at least one trait column"),
    ("select user_id, email as anonymous_id, status from tickets where status = 'closed'",
     "the query returns `user_id` and `anonymous_id`; return exactly one identifier column"),
    ("select user_id, status from tickets where status = 'open' union all select null, 'x'",
     "row 3: user_id is null"),
    ("select user_id, count(*) as n from no_such_table group by 1", "its query failed in the warehouse"),
])
def test_contract_errors_name_the_problem(warehouse, seed, tmp_path, sql, message):
    seed.profile("prof_bob", user_id="u1")
    tickets(warehouse, [("u1", None, "open"), ("u2", None, "open"), ("u1", None, "closed")])
    with pytest.raises(SqlTraitError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run_computations(make_project(tmp_path, [support(sql)]), warehouse, ts("2024-06-01T00:00:00Z"))


def test_a_failed_sql_trait_leaves_the_previous_snapshot_intact(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="u1")
    tickets(warehouse, [("u1", None, "open")])
    project = make_project(tmp_path, [support()])
    run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"))

    tickets(warehouse, [("u1", None, "open"), (None, None, "open")])
    with pytest.raises(SqlTraitError, match="row 2: user_id is null"):
        run_computations(project, warehouse, ts("2024-06-02T00:00:00Z"), run_id="run_failed")
    assert values(warehouse, "support") == {bob: {"open_tickets": 1}}
    assert changes(warehouse, "run_failed") == []
    runs = warehouse.fetchall(exp.select(exp.func("COUNT", exp.Star())).from_(warehouse.table("runs")))
    assert runs == [(1,)]


def test_sql_renders_vars_and_environment_variables(monkeypatch):
    trait = SqlTrait(kind="sql_trait", key="support", identifier="user_id",
                     sql="select user_id from {{ var('schema') }}.tickets where team = '{{ env('TEAM') }}'")
    monkeypatch.setenv("TEAM", "emea")
    assert render_sql(trait, {"schema": "crm"}) == "select user_id from crm.tickets where team = 'emea'"
    with pytest.raises(SqlTraitError, match="var 'schema' is not defined: add it under `vars:` in engage.yaml"):
        render_sql(trait, {})
    monkeypatch.delenv("TEAM")
    with pytest.raises(SqlTraitError, match="environment variable TEAM is not set"):
        render_sql(trait, {"schema": "crm"})


def test_a_failure_rolls_back_the_computations_before_it(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="u1")
    seed.track(bob, "Order Completed", "2024-05-30T10:00:00Z")
    orders = {"kind": "computed_trait", "key": "orders", "event": "Order Completed", "value": "count"}
    tickets(warehouse, [("u1", None, "open")])
    project = make_project(tmp_path, [orders, support()])
    run_computations(project, warehouse, ts("2024-06-01T00:00:00Z"))

    seed.track(bob, "Order Completed", "2024-06-01T10:00:00Z")
    tickets(warehouse, [("u1", None, "open"), (None, None, "open")])
    with pytest.raises(SqlTraitError):
        run_computations(project, warehouse, ts("2024-06-02T00:00:00Z"))  # orders runs first, then support
    assert values(warehouse, "orders") == {bob: 1}


def test_the_identifier_column_name_is_read_without_case(warehouse, seed, tmp_path):
    bob = seed.profile("prof_bob", user_id="u1")
    tickets(warehouse, [("u1", None, "open")])
    sql = "select user_id as USER_ID, count(*) as Open_Tickets from tickets group by 1"
    run_computations(make_project(tmp_path, [support(sql)]), warehouse, ts("2024-06-01T00:00:00Z"))
    assert [{k.lower(): v for k, v in value.items()} for value in values(warehouse, "support").values()] == [
        {"open_tickets": 1}]
    assert list(values(warehouse, "support")) == [bob]
