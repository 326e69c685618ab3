"""`expect: {error: …}`: a test that passes only when the run fails with that message."""

from __future__ import annotations

import textwrap

import pytest

from engagectl.diagnostics import DiagnosticsError
from engagectl.testing import load_test_files, run_test_files

CRM = """\
    name: {name}
    as_of: "2024-06-01T00:00:00Z"
    project:
      resources:
        - kind: sql_trait
          key: crm
          identifier: user_id
          sql: select user_id, plan_name from accounts order by seq
    events:
      - {{type: identify, userId: u1, timestamp: "2024-05-01T00:00:00Z"}}
    tables:
      accounts:
        - {{seq: 1, user_id: u1, plan_name: pro}}
        - {{seq: 2, user_id: {second}, plan_name: free}}
    expect:
      error: "{error}"
    """


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request) -> tuple[str, str | None]:
    if request.param == "duckdb":
        return "duckdb", None
    return "postgres", request.getfixturevalue("postgres_base_url")


def write_test(tmp_path, text: str):
    path = tmp_path / "t.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_run_failing_with_the_expected_message_passes(tmp_path, engine):
    path = write_test(tmp_path, CRM.format(name="null id", second="null", error="row 2: user_id is null"))
    [result] = run_test_files([path], engine[0], postgres_url=engine[1])
    assert (result.status, result.failures) == ("passed", [])


def test_a_run_failing_with_another_message_fails_and_shows_the_real_error(tmp_path):
    path = write_test(tmp_path, CRM.format(name="wrong row", second="null", error="row 1: user_id is null"))
    [result] = run_test_files([path])
    assert result.status == "failed"
    [failure] = result.failures
    assert failure.expectation == "error"
    assert "does not contain 'row 1: user_id is null'" in failure.message
    assert "sql_trait crm: row 2: user_id is null" in failure.evidence["error"]


def test_a_run_that_succeeds_fails_the_expectation_with_what_it_computed(tmp_path, engine):
    path = write_test(tmp_path, CRM.format(name="no error", second="u2", error="user_id is null"))
    [result] = run_test_files([path], engine[0], postgres_url=engine[1])
    assert result.status == "failed"
    [failure] = result.failures
    assert failure.expectation == "error"
    assert failure.message == "the run succeeded; expected it to fail with an error containing 'user_id is null'"
    assert failure.evidence == {"sizes": {"crm": 1}}


def test_error_cannot_be_combined_with_other_expectations(tmp_path):
    path = write_test(tmp_path, """\
        name: both
        as_of: "2024-06-01T00:00:00Z"
        expect:
          error: boom
          sizes: {buyers: 1}
        """)
    with pytest.raises(DiagnosticsError) as caught:
        load_test_files([path], shown_relative_to=tmp_path)
    [problem] = [str(d) for d in caught.value.diagnostics]
    assert "`expect.error` cannot be combined with sizes" in problem
    assert problem.startswith("t.yaml:")


def test_an_empty_error_is_refused(tmp_path):
    path = write_test(tmp_path, """\
        name: empty
        as_of: "2024-06-01T00:00:00Z"
        expect: {error: ""}
        """)
    with pytest.raises(DiagnosticsError) as caught:
        load_test_files([path], shown_relative_to=tmp_path)
    assert any("expect.error" in str(d) for d in caught.value.diagnostics)
