"""Reading test files: what parses, and the file:line:col errors a malformed test gets."""

from __future__ import annotations

import textwrap

import pytest

from engagectl.diagnostics import DiagnosticsError
from engagectl.testing import load_test_files

TWO_TESTS = """\
name: bob is high value
as_of: "2024-06-01T00:00:00Z"
project:
  resources:
    - kind: audience
      key: buyers
      where: {event: Order Completed}
events:
  - {type: track, event: Order Completed, userId: u1, timestamp: "2024-05-30T10:00:00Z"}
expect:
  members: {buyers: ["user_id:u1"]}
  traits:
    "user_id:u1": {revenue: {approx: 420.5, tolerance: 0.01}}
---
name: nobody else
as_of: "2024-06-01T00:00:00Z"
project:
  resources:
    - kind: audience
      key: buyers
      where: {event: Order Completed}
events_file: fixtures/orders.jsonl
expect:
  sizes: {buyers: 0}
"""


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def errors_of(path) -> list[str]:
    with pytest.raises(DiagnosticsError) as caught:
        load_test_files([path], shown_relative_to=path.parent)
    return [str(d) for d in caught.value.diagnostics]


def test_a_file_holds_several_tests_each_with_its_line(tmp_path):
    write(tmp_path / "fixtures" / "orders.jsonl",
          '{"type": "track", "event": "Order Completed", "userId": "u2", "timestamp": "2024-05-01T00:00:00Z"}\n\n')
    cases = load_test_files([write(tmp_path / "t.yaml", TWO_TESTS)], shown_relative_to=tmp_path)
    assert [(c.name, c.file, c.line) for c in cases] == [("bob is high value", "t.yaml", 1), ("nobody else", "t.yaml", 15)]
    assert cases[0].events[0]["userId"] == "u1"
    assert [e["userId"] for e in cases[1].events] == ["u2"]  # events_file is relative to the test file
    assert set(cases[0].project.resources) == {"audience.buyers"}
    assert cases[0].as_of.isoformat() == "2024-06-01T00:00:00+00:00"


def test_unknown_field_is_located_like_in_definitions(tmp_path):
    path = write(tmp_path / "t.yaml", """\
        name: typo
        as_of: "2024-06-01T00:00:00Z"
        expect:
          member: {buyers: ["user_id:u1"]}
        """)
    assert errors_of(path) == ["t.yaml:4:3: test 'typo': unknown field `member` in `expect`"]


def test_missing_as_of_and_bad_identifier(tmp_path):
    path = write(tmp_path / "t.yaml", """\
        name: incomplete
        expect:
          members: {buyers: ["bob@example.com"]}
        """)
    errors = errors_of(path)
    assert "t.yaml:1:1: test 'incomplete': missing required field `as_of`" in errors
    assert any(e.startswith("t.yaml:3:") and "write type:value" in e for e in errors)


def test_inline_definitions_are_validated_with_the_resource_models(tmp_path):
    path = write(tmp_path / "t.yaml", """\
        name: broken audience
        as_of: "2024-06-01T00:00:00Z"
        project:
          resources:
            - kind: audience
              key: buyers
              where: {event: Order Completed, within: 90 days}
        """)
    errors = errors_of(path)
    assert len(errors) == 1
    assert errors[0].startswith("t.yaml:7:")
    assert "audience buyers" in errors[0] and "invalid duration '90 days'" in errors[0]


def test_yaml_syntax_errors_and_bad_event_lines_are_located(tmp_path):
    bad_yaml = write(tmp_path / "bad.yaml", "name: x\nas_of: [unclosed\n")
    assert errors_of(bad_yaml)[0].startswith("bad.yaml:3:1: invalid YAML")
    write(tmp_path / "events.jsonl", '{"type": "track"}\nnot json\n')
    bad_events = write(tmp_path / "ev.yaml", """\
        name: bad events
        as_of: "2024-06-01T00:00:00Z"
        events_file: events.jsonl
        """)
    assert errors_of(bad_events) == ["events.jsonl:2:1: invalid JSON: Expecting value"]
    missing = write(tmp_path / "missing.yaml", """\
        name: no file
        as_of: "2024-06-01T00:00:00Z"
        events_file: nowhere.jsonl
        """)
    assert errors_of(missing)[0].startswith("missing.yaml:3:14: cannot read events_file 'nowhere.jsonl'")


def test_changes_from_must_come_before_as_of(tmp_path):
    path = write(tmp_path / "t.yaml", """\
        name: backwards
        as_of: "2024-06-01T00:00:00Z"
        expect:
          changes: {from: "2024-07-01T00:00:00Z", entered: {}}
        """)
    assert any("`expect.changes.from` must be before `as_of`" in e for e in errors_of(path))
