"""Ingest: Segment-spec JSON lines in, checked line by line, one transaction per file, no duplicates."""

from __future__ import annotations

import gzip
import json

import pytest
from click.testing import CliRunner

from engagectl.cli import main
from engagectl.ingest import ingest_files, ingest_messages, ingest_table
from engagectl.warehouse import open_warehouse

HOSTILE = "x'); drop table engage.events; --"


def _line(i: int, **extra) -> str:
    message = {"type": "track", "event": "Product Viewed", "userId": f"u{i % 50}",
               "timestamp": "2024-05-01T10:00:00Z", "messageId": f"m{i}", **extra}
    return json.dumps(message)


@pytest.fixture
def warehouse(warehouse_url):
    opened = open_warehouse(warehouse_url)
    yield opened
    opened.close()


def _events(warehouse) -> list[dict]:
    return warehouse.fetch_dicts(warehouse.parse(
        "SELECT message_id, type, event, user_id, anonymous_id, group_id, seq FROM events ORDER BY seq"))


def test_every_call_type_is_loaded_with_page_and_screen_named(warehouse, tmp_path):
    path = tmp_path / "calls.jsonl"
    calls = [
        {"type": "identify", "userId": "u1", "traits": {"email": "a@b.c"}},
        {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {"revenue": 12}},
        {"type": "page", "anonymousId": "a1", "name": "Home"},
        {"type": "screen", "anonymousId": "a1", "name": "Cart"},
        {"type": "group", "userId": "u1", "groupId": "g1"},
        {"type": "alias", "userId": "u1", "previousId": "a1"},
    ]
    path.write_text("\n".join(json.dumps({**c, "timestamp": "2024-05-01T10:00:00Z", "messageId": f"c{i}"})
                              for i, c in enumerate(calls)) + "\n")
    report = ingest_files(warehouse, [str(path)])
    assert (report.lines, report.loaded, report.duplicates, report.errors) == (6, 6, 0, [])
    events = _events(warehouse)
    assert [(e["type"], e["event"]) for e in events] == [
        ("identify", None), ("track", "Order Completed"), ("page", "Page Viewed"),
        ("screen", "Screen Viewed"), ("group", None), ("alias", None)]
    assert events[4]["group_id"] == "g1"
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6]


def test_batch_envelopes_and_gzip(warehouse, tmp_path):
    path = tmp_path / "batch.jsonl.gz"
    batch = {"batch": [json.loads(_line(1)), json.loads(_line(2))]}
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps(batch) + "\n" + _line(3) + "\n")
    report = ingest_files(warehouse, [str(path)])
    assert (report.lines, report.loaded) == (2, 3)
    assert [e["message_id"] for e in _events(warehouse)] == ["m1", "m2", "m3"]


def test_a_bad_line_5000_lines_in_refuses_the_file_and_leaves_the_warehouse_as_it_was(warehouse, tmp_path):
    before = tmp_path / "before.jsonl"
    before.write_text(_line(0) + "\n")
    ingest_files(warehouse, [str(before)])
    snapshot = _events(warehouse)

    lines = [_line(i) for i in range(1, 6001)]
    lines[4999] = '{"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "m5000"'
    broken = tmp_path / "events.jsonl"
    broken.write_text("\n".join(lines) + "\n")
    report = ingest_files(warehouse, [str(broken)])
    assert [(e.file, e.line) for e in report.errors] == [(str(broken), 5000)]
    assert report.loaded == 0
    assert _events(warehouse) == snapshot

    lines[4999] = _line(5000)
    broken.write_text("\n".join(lines) + "\n")
    fixed = ingest_files(warehouse, [str(broken)])
    assert (fixed.errors, fixed.loaded, fixed.duplicates) == ([], 6000, 0)
    again = ingest_files(warehouse, [str(broken)])
    assert (again.loaded, again.duplicates) == (0, 6000)
    assert len(_events(warehouse)) == 6001


@pytest.mark.parametrize("line, problem", [
    ('{"type": "track", "event": "E", "userId": "u1"}', "missing `timestamp`"),
    ('{"type": "track", "event": "E", "userId": "u1", "timestamp": "yesterday"}', "invalid `timestamp`"),
    ('{"event": "E", "userId": "u1", "timestamp": "2024-05-01T10:00:00Z"}', "missing `type`"),
    ('{"type": "purchase", "userId": "u1", "timestamp": "2024-05-01T10:00:00Z"}', "unknown `type`"),
    ("not json at all", "not a JSON document"),
])
def test_each_bad_message_is_named_with_its_line(warehouse, tmp_path, line, problem):
    path = tmp_path / "bad.jsonl"
    path.write_text(_line(1) + "\n\n" + line + "\n")
    report = ingest_files(warehouse, [str(path)])
    assert [(e.line, problem in e.message) for e in report.errors] == [(3, True)]
    assert _events(warehouse) == []


def test_messages_without_an_id_get_a_stable_one(warehouse, tmp_path):
    path = tmp_path / "noid.jsonl"
    path.write_text('{"type": "page", "anonymousId": "a1", "timestamp": "2024-05-01T10:00:00Z"}\n')
    assert ingest_files(warehouse, [str(path)]).loaded == 1
    assert ingest_files(warehouse, [str(path)]).duplicates == 1
    assert _events(warehouse)[0]["message_id"].startswith("gen-")


def test_a_hostile_value_in_any_field_is_stored_as_text(warehouse):
    message = {"type": "identify", "userId": HOSTILE, "anonymousId": HOSTILE, "messageId": HOSTILE,
               "timestamp": "2024-05-01T10:00:00Z", "traits": {HOSTILE: HOSTILE}}
    report = ingest_messages(warehouse, [message], source=HOSTILE)
    assert report.loaded == 1
    row = warehouse.fetch_dicts(warehouse.parse("SELECT message_id, user_id, anonymous_id, source, traits FROM events"))[0]
    assert (row["message_id"], row["user_id"], row["anonymous_id"], row["source"]) == (HOSTILE,) * 4
    assert json.loads(row["traits"]) == {HOSTILE: HOSTILE}


def test_timestamps_are_stored_in_utc(warehouse):
    ingest_messages(warehouse, [json.loads(_line(1, timestamp="2024-05-01T12:00:00+02:00"))])
    moment = warehouse.fetchall(warehouse.parse('SELECT "timestamp" FROM events'))[0][0]
    assert (moment.hour, moment.tzinfo) == (10, None)


def test_a_segment_table_is_a_source(warehouse):
    table = f"{warehouse.schema}.tracks"
    warehouse.execute(warehouse.parse(
        f"CREATE TABLE {table} (id TEXT, user_id TEXT, anonymous_id TEXT, event TEXT, \"timestamp\" TEXT)"))
    warehouse.execute(warehouse.parse(
        f"INSERT INTO {table} VALUES ('t1', 'u1', NULL, 'Signed Up', '2024-05-01T10:00:00Z')"))
    report = ingest_table(warehouse, table, "crm")
    assert report.loaded == 1
    assert ingest_table(warehouse, table, "crm").duplicates == 1
    assert _events(warehouse)[0]["event"] == "Signed Up"


# ---- the command ---------------------------------------------------------------------------------


def _project(tmp_path, lines: list[str]):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "web.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "engage.yaml").write_text("space: spa_t\nsources:\n  - key: web\n    path: data/*.jsonl\n")
    return tmp_path


def test_ingest_command_reads_the_sources_and_reports_json(tmp_path):
    project = _project(tmp_path, [_line(1), _line(2)])
    runner = CliRunner()
    result = runner.invoke(main, ["-C", str(project), "ingest", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"files": 1, "lines": 2, "loaded": 2, "duplicates": 0, "errors": []}
    again = json.loads(runner.invoke(main, ["-C", str(project), "ingest", "--json"]).output)
    assert (again["loaded"], again["duplicates"]) == (0, 2)


def test_ingest_command_names_the_bad_line_and_exits_1(tmp_path):
    project = _project(tmp_path, [_line(1), "{oops"])
    result = CliRunner().invoke(main, ["-C", str(project), "ingest"])
    assert result.exit_code == 1
    assert "web.jsonl:2: not a JSON document" in result.output


def test_ingest_command_reads_stdin(tmp_path):
    project = _project(tmp_path, [])
    result = CliRunner().invoke(main, ["-C", str(project), "ingest", "-", "--json"], input=_line(7) + "\n")
    assert json.loads(result.output)["loaded"] == 1
