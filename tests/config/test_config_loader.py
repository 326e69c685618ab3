"""Reading a project: every document's shape, with messages in the language's own words."""

from __future__ import annotations

import pytest

from engagectl.config import load_project
from engagectl.config.loader import read_project
from engagectl.diagnostics import DiagnosticsError


def test_a_project_loads_with_resources_by_address_and_their_locations(make_project):
    root = make_project({
        "audiences/a.yaml": """
            kind: audience
            key: buyers
            where: {event: Order Completed}
            ---
            kind: audience
            key: browsers
            where: {event: Product Viewed}
        """,
    })
    project = load_project(root)
    assert sorted(project.resources) == ["audience.browsers", "audience.buyers"]
    assert project.locations["audience.browsers"].line == 5
    assert project.settings.space == "spa_test"


def test_an_unknown_operator_is_named_as_an_operator(problems):
    lines = problems({
        "a.yaml": """
            kind: audience
            key: a
            where:
              all:
                - {trait: plan, is: pro}
                - event: Order Completed
                  where: {property: revenue, greater_than: 100}
                  count: {atleast: 2}
        """,
    })
    assert lines[0].startswith("a.yaml:5:21: audience a: unknown operator `is` (operators: eq, neq, gt,")
    assert lines[1].startswith("a.yaml:7:34: audience a: unknown operator `greater_than` (operators: eq,")
    assert lines[2] == ("a.yaml:8:15: audience a: unknown operator `atleast` (operators: gte, gt, eq, lte, lt)")
    assert len(lines) == 3


def test_an_unknown_field_suggests_the_close_one(problems):
    lines = problems({"a.yaml": "kind: audience\nkey: a\nwhere: {event: X, withn: 7d}\n"})
    assert lines == ["a.yaml:3:19: audience a: unknown field `withn` in `where` (did you mean `within`?)"]


@pytest.mark.parametrize("kind, text, message", [
    ("audience", "kind: audience\nkey: a\n", "an audience needs `where`: the condition its members meet"),
    ("computed_trait", "kind: computed_trait\nkey: a\nevent: X\n", "a computed trait needs `value`"),
    ("journey", "kind: journey\nkey: a\nentry: {event: X}\n", "a journey needs `steps`"),
    ("destination", "kind: destination\nkey: a\n", "a destination needs `provider`"),
])
def test_a_missing_required_field_says_what_it_is_for(problems, kind, text, message):
    lines = problems({"r.yaml": text})
    assert len(lines) == 1
    assert lines[0].startswith(f"r.yaml:1:1: {kind} a: {message}")


def test_a_value_of_the_wrong_type_says_what_was_expected(problems):
    lines = problems({
        "a.yaml": """
            kind: audience
            key: a
            where:
              all:
                - {event: X, count: {gt: abc}}
                - {trait: plan, eq: [pro]}
                - {trait: plan, exists: false}
        """,
    })
    assert lines == [
        "a.yaml:5:30: audience a: `where.all.0.count.gt`: expected a number, not 'abc'",
        "a.yaml:6:25: audience a: `where.all.1.eq`: expected text, a number, true or false, "
        "{parent: <property>} or {trait: <key>}, not ['pro']",
        "a.yaml:7:29: audience a: `where.all.2.exists`: `exists` only takes `true` (for the opposite use "
        "`absent: true`)",
    ]


def test_a_reference_with_a_wrong_field_reports_that_field_only(problems):
    lines = problems({"a.yaml": "kind: audience\nkey: a\nwhere: {trait: p, gte: {trait: x, y: 1}}\n"})
    assert lines == ["a.yaml:3:35: audience a: unknown field `y` in `where.gte`"]


def test_keys_and_durations_explain_their_form(problems):
    lines = problems({"a.yaml": "kind: audience\nkey: High-Value\nwhere: {event: X, within: 3 months}\n"})
    assert lines == [
        "a.yaml:2:6: audience High-Value: `key`: invalid key 'High-Value': keys are lower-case letters, digits and _, "
        "starting with a letter (^[a-z][a-z0-9_]{0,254}$)",
        "a.yaml:3:27: audience High-Value: `where.within`: invalid duration '3 months': write a whole number of hours, "
        "days or weeks (12h, 90d, 2w)",
    ]


def test_a_yaml_syntax_error_names_file_line_and_column(problems):
    lines = problems({"audiences/a.yaml": "kind: audience\nkey: a\nwhere: {event: X\n"})
    assert len(lines) == 1
    assert lines[0].startswith("audiences/a.yaml:4:1: invalid YAML:")


def test_kinds_must_be_known(problems):
    lines = problems({"a.yaml": "kind: segment\nkey: a\n---\nkey: b\n"})
    assert lines == [
        "a.yaml:1:7: unknown kind `segment` (expected one of audience, computed_trait, sql_trait, journey, "
        "destination)",
        "a.yaml:4:1: missing `kind` (one of audience, computed_trait, sql_trait, journey, destination)",
    ]


def test_a_resource_defined_twice_names_the_first(problems):
    lines = problems({
        "a.yaml": "kind: audience\nkey: a\nwhere: {event: X}\n",
        "b.yaml": "kind: audience\nkey: a\nwhere: {event: Y}\n",
    })
    assert lines == ["b.yaml:1:1: audience.a is defined twice (first at a.yaml:1)"]


def test_engage_yaml_is_checked_too(problems):
    lines = problems({"engage.yaml": "space: s\nwarehose: duckdb:///x.duckdb\n"})
    assert lines == ["engage.yaml:2:1: unknown field `warehose` (did you mean `warehouse`?)"]


def test_a_folder_without_engage_yaml_is_not_a_project(tmp_path):
    with pytest.raises(DiagnosticsError) as raised:
        read_project(tmp_path)
    assert "no engage.yaml" in str(raised.value)


def test_load_project_raises_every_error_and_read_project_keeps_them(make_project):
    root = make_project({
        "a.yaml": "kind: audience\nkey: a\nwhere: {audience: nope}\n",
        "b.yaml": "kind: audience\nkey: b\n",
    })
    project = read_project(root)
    assert len(project.diagnostics) == 2
    assert "audience.a" in project.resources
    with pytest.raises(DiagnosticsError) as raised:
        load_project(root)
    assert [d.file for d in raised.value.diagnostics] == ["a.yaml", "b.yaml"]
