"""Running tests end to end on DuckDB and Postgres: pass, fail with evidence, leave nothing behind."""

from __future__ import annotations

import tempfile
import textwrap
import uuid

import pytest
from sqlalchemy import create_engine, text

from engagectl.testing import load_test_files, run_cases, run_test_files

BUYERS = """\
    name: {name}
    as_of: "2024-06-01T00:00:00Z"
    project:
      resources:
        - kind: audience
          key: buyers
          where: {{event: Order Completed, within: 30d, count: {{gte: {threshold}}}}}
        - kind: computed_trait
          key: revenue_30d
          event: Order Completed
          within: 30d
          value: {{sum: revenue}}
    events:
      - {{type: identify, userId: u1, traits: {{email: bob@example.com, plan: pro}}, timestamp: "2024-05-01T00:00:00Z"}}
      - {{type: track, event: Order Completed, userId: u1, timestamp: "2024-05-20T10:00:00Z", properties: {{revenue: 120.25}}}}
      - {{type: track, event: Order Completed, userId: u1, timestamp: "2024-05-30T10:00:00Z", properties: {{revenue: 300.25}}}}
      - {{type: track, event: Order Completed, userId: u2, timestamp: "2024-05-30T10:00:00Z", properties: {{revenue: 10}}}}
    expect:
      profile_count: 2
      members: {{buyers: ["user_id:u1"]}}
      non_members: {{buyers: ["user_id:u2"]}}
      sizes: {{buyers: 1}}
      traits:
        "user_id:u1": {{revenue_30d: 420.5, plan: pro}}
        "user_id:u2": {{revenue_30d: {{approx: 10, tolerance: 0.001}}, buyers: false}}
    """


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request) -> tuple[str, str | None]:
    """(engine, postgres url) for each engine the suite covers."""
    if request.param == "duckdb":
        return "duckdb", None
    return "postgres", request.getfixturevalue("postgres_base_url")


def write_test(tmp_path, text: str, name: str = "t.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_passing_test_passes_on_every_engine(tmp_path, engine):
    path = write_test(tmp_path, BUYERS.format(name="bob buys twice", threshold=2))
    [result] = run_test_files([path], engine[0], postgres_url=engine[1])
    assert (result.status, result.failures) == ("passed", [])


def test_a_broken_definition_fails_with_the_profile_and_why(tmp_path, engine):
    path = write_test(tmp_path, BUYERS.format(name="threshold raised", threshold=3))
    [result] = run_test_files([path], engine[0], postgres_url=engine[1])
    assert result.status == "failed"
    by_expectation = {f.expectation: f for f in result.failures}
    assert set(by_expectation) == {"members.buyers[user_id:u1]", "sizes.buyers"}
    failure = by_expectation["members.buyers[user_id:u1]"]
    assert failure.message == "user_id:u1 is not a member of buyers"
    assert failure.evidence["profile"]["external_ids"]["user_id"] == ["u1"]
    assert failure.evidence["profile"]["traits"]["plan"] == "pro"
    assert "explanation" in failure.evidence
    assert by_expectation["sizes.buyers"].message == "expected buyers to have 1, found 0"


def test_nothing_is_left_behind_and_a_second_run_gives_the_same_result(tmp_path, engine, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    marker = uuid.uuid4()
    monkeypatch.setattr("engagectl.testing.sandbox.uuid.uuid4", lambda: marker)
    path = write_test(tmp_path, BUYERS.format(name="twice", threshold=3))
    first = [r.to_json() for r in run_test_files([path], engine[0], postgres_url=engine[1])]
    second = [r.to_json() for r in run_test_files([path], engine[0], postgres_url=engine[1])]
    assert first == second
    assert first[0]["status"] == "failed"
    assert list(scratch.iterdir()) == []
    if engine[0] == "postgres":
        admin = create_engine(engine[1])
        with admin.connect() as connection:
            left = connection.execute(text("select count(*) from information_schema.schemata where schema_name = :s"),
                                      {"s": f"engage_test_{marker.hex[:16]}"}).scalar()
        admin.dispose()
        assert left == 0


def test_entered_and_exited_between_two_as_of_times(tmp_path, engine):
    path = write_test(tmp_path, """\
        name: u1 leaves, u2 joins
        as_of: "2024-06-01T00:00:00Z"
        project:
          resources:
            - {kind: audience, key: recent_buyers, where: {event: Order Completed, within: 10d}}
        events:
          - {type: track, event: Order Completed, userId: u1, timestamp: "2024-05-10T00:00:00Z"}
          - {type: track, event: Order Completed, userId: u2, timestamp: "2024-05-25T00:00:00Z"}
        expect:
          changes:
            from: "2024-05-15T00:00:00Z"
            entered: {recent_buyers: ["user_id:u2"]}
            exited: {recent_buyers: ["user_id:u1"]}
        ---
        name: wrong direction
        as_of: "2024-06-01T00:00:00Z"
        project:
          resources:
            - {kind: audience, key: recent_buyers, where: {event: Order Completed, within: 10d}}
        events:
          - {type: track, event: Order Completed, userId: u1, timestamp: "2024-05-10T00:00:00Z"}
          - {type: track, event: Order Completed, userId: u2, timestamp: "2024-05-25T00:00:00Z"}
        expect:
          changes:
            from: "2024-05-15T00:00:00Z"
            entered: {recent_buyers: ["user_id:u1"]}
            exited: {}
        """)
    right, wrong = run_test_files([path], engine[0], postgres_url=engine[1])
    assert (right.status, right.failures) == ("passed", [])
    assert wrong.status == "failed"
    assert sorted((f.expectation, f.message) for f in wrong.failures) == [
        ("changes.entered.recent_buyers",
         "recent_buyers: expected to have entered: user_id:u1; entered but not expected: user_id:u2"),
        ("changes.exited.recent_buyers", "recent_buyers: exited but not expected: user_id:u1"),
    ]


def test_sql_traits_read_fixture_tables_and_a_broken_one_is_an_error(tmp_path, engine):
    path = write_test(tmp_path, """\
        name: open tickets
        as_of: "2024-06-01T00:00:00Z"
        project:
          resources:
            - kind: sql_trait
              key: support
              identifier: user_id
              sql: select user_id, count(*) as open_tickets from tickets where status = 'open' group by 1
        events:
          - {type: identify, userId: u1, timestamp: "2024-05-01T00:00:00Z"}
        tables:
          tickets:
            - {user_id: u1, status: open, priority: 1}
            - {user_id: u1, status: open, priority: 2.5}
            - {user_id: u1, status: closed, priority: null}
        expect:
          traits:
            "user_id:u1": {support.open_tickets: 2, open_tickets: 2}
        ---
        name: broken sql
        as_of: "2024-06-01T00:00:00Z"
        project:
          resources:
            - {kind: sql_trait, key: support, identifier: user_id, sql: "select user_id, count(*) as n from nowhere_table group by 1"}
        events:
          - {type: identify, userId: u1, timestamp: "2024-05-01T00:00:00Z"}
        """)
    tickets, broken = run_cases(load_test_files([path]), engine[0], postgres_url=engine[1]).results
    assert (tickets.status, tickets.failures) == ("passed", [])
    assert broken.status == "error"
    assert broken.failures[0].expectation == "run"
    assert "support" in broken.failures[0].message


def test_a_misspelt_key_or_identifier_fails_instead_of_passing_vacuously(tmp_path):
    path = write_test(tmp_path, """\
        name: typos
        as_of: "2024-06-01T00:00:00Z"
        project:
          resources:
            - {kind: audience, key: buyers, where: {event: Order Completed}}
        events:
          - {type: track, event: Order Completed, userId: u1, timestamp: "2024-05-10T00:00:00Z"}
        expect:
          sizes: {buyer: 0}
          non_members: {buyers: ["user_id:u9"]}
        """)
    [result] = run_test_files([path])
    assert result.status == "failed"
    assert sorted((f.expectation, f.message) for f in result.failures) == [
        ("non_members.buyers[user_id:u9]",
         "no profile has the identifier user_id:u9 (check the fixture events and the identifier)"),
        ("sizes.buyer", "buyer is not an audience, journey step or trait of the definitions under test"),
    ]
