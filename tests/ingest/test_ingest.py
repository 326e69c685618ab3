"""Ingest: Segment-spec JSON lines in, checked line by line, one transaction per file, no duplicates."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest
from click.testing import CliRunner

from engagectl.cli import main
from engagectl.ingest import ingest_files, ingest_messages, ingest_table, messages
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


def _write(path, lines: list[str]):
    path.write_text("\n".join(lines) + "\n")
    return path


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


def test_every_problem_of_a_file_is_named_in_line_order(warehouse, tmp_path):
    ingest_files(warehouse, [str(_write(tmp_path / "first.jsonl", [_line(1)]))])
    lines = [_line(i) for i in range(2, 12)]
    lines[1] = '{"type": "track", "userId": "u1", "timestamp": "2024-05-01T10:00:00Z", "messageId": "m1"}'
    lines[4] = "{oops"
    lines[6] = json.dumps({"batch": [json.loads(_line(90)), {"type": "identify", "messageId": "m91"}]})
    lines[8] = '{"type": "track", "event": "E", "timestamp": "infinity", "messageId": "m92"}'
    report = ingest_files(warehouse, [str(_write(tmp_path / "bad.jsonl", lines))])
    assert [(e.line, e.message.split(" (")[0]) for e in report.errors] == [
        (2, "a track call needs an `event` name"),  # its id is already held: still named
        (5, "not a JSON document"), (7, "missing `timestamp`"), (9, "invalid `timestamp`")]
    assert report.loaded == 0
    assert [e["message_id"] for e in _events(warehouse)] == ["m1"]


@pytest.mark.parametrize("batch", ['{"type": "track"}', '"m1"', "3"])
def test_a_batch_that_is_not_an_array_is_named_with_its_line(warehouse, tmp_path, batch):
    ingest_files(warehouse, [str(_write(tmp_path / "first.jsonl", [_line(1)]))])
    lines = [_line(2), '{"batch": ' + batch + "}", _line(3)]
    report = ingest_files(warehouse, [str(_write(tmp_path / "bad.jsonl", lines))])
    assert [(e.line, e.message) for e in report.errors] == [(2, "`batch` must be an array of messages")]
    assert report.loaded == 0
    assert [e["message_id"] for e in _events(warehouse)] == ["m1"]


def test_a_nul_character_loads_where_the_engine_can_store_it_and_is_named_where_not(warehouse, tmp_path):
    # json.dumps writes the NUL character as the escape \u0000; a backslash followed by the text
    # "u0000" is written as \\u0000, ordinary text on every engine.
    text_lookalike, nul = "a\\u0000b", "a\x00b"
    lines = [_line(1, properties={"note": text_lookalike}), _line(2, properties={"note": nul})]
    report = ingest_files(warehouse, [str(_write(tmp_path / "nul.jsonl", lines))])
    if warehouse.dialect == "postgres":
        assert [(e.line, "NUL" in e.message) for e in report.errors] == [(2, True)]
        assert _events(warehouse) == []
        assert ingest_files(warehouse, [str(_write(tmp_path / "fixed.jsonl", lines[:1]))]).errors == []
    else:
        assert (report.loaded, report.errors) == (2, [])
    note = warehouse.fetchall(warehouse.parse("SELECT properties ->> 'note' FROM events WHERE message_id = 'm1'"))
    assert note == [(text_lookalike,)]


def test_a_refused_file_inside_an_outer_transaction_leaves_nothing(warehouse, tmp_path):
    with warehouse.transaction():
        report = ingest_files(warehouse, [str(_write(tmp_path / "bad.jsonl", [_line(1), "{oops"]))])
    assert [e.line for e in report.errors] == [2]
    assert _events(warehouse) == []


@pytest.mark.parametrize("checked", ["by COUNT(DISTINCT)", "by hashes, as a large file is"])
def test_the_first_copy_of_an_id_in_a_file_wins(warehouse, tmp_path, monkeypatch, checked):
    if checked.startswith("by hashes"):  # on an engine without hash keys, a large file is counted as well
        monkeypatch.setattr(messages, "COMPILED_CHECK_ROWS", 1)
    lines = [_line(1, event="First"), _line(2), _line(1, event="Second"),
             json.dumps({"batch": [json.loads(_line(3)), json.loads(_line(2, event="Third"))]}), _line(4)]
    report = ingest_files(warehouse, [str(_write(tmp_path / "dups.jsonl", lines))])
    assert (report.lines, report.loaded, report.duplicates) == (5, 4, 2)
    events = _events(warehouse)
    assert [(e["message_id"], e["event"]) for e in events] == [
        ("m1", "First"), ("m2", "Product Viewed"), ("m3", "Product Viewed"), ("m4", "Product Viewed")]
    assert [e["seq"] for e in events] == [1, 4, 11, 13]  # three seq numbers a line: the envelope holds two


def test_blank_lines_and_the_word_batch_are_not_messages_or_envelopes(warehouse, tmp_path):
    lines = [_line(1, properties={"note": 'a "batch": [1] inside'}), "", " \t ", _line(2)]
    report = ingest_files(warehouse, [str(_write(tmp_path / "plain.jsonl", lines))])
    assert (report.lines, report.loaded, report.errors) == (2, 2, [])
    assert [e["seq"] for e in _events(warehouse)] == [1, 4]


def test_messages_without_an_id_get_a_stable_one(warehouse, tmp_path):
    line = '{"type": "page", "anonymousId": "a1", "timestamp": "2024-05-01T10:00:00Z"}'
    path = tmp_path / "noid.jsonl"
    path.write_text(line + "\n")
    assert ingest_files(warehouse, [str(path)], source="web").loaded == 1
    assert ingest_files(warehouse, [str(path)], source="web").duplicates == 1
    # The formula ids already stored were made with: source, the line's text, its batch position.
    assert _events(warehouse)[0]["message_id"] == "gen-" + hashlib.md5(f"web:{line}:0".encode()).hexdigest()


def test_line_numbers_hold_in_a_file_of_many_row_groups(tmp_path):
    """DuckDB numbers lines by their place in its scratch table, also inside an outer transaction."""
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    lines = [_line(i) for i in range(1, 300_001)]
    for n in (2, 150_000, 299_999):
        lines[n - 1] = "{oops"
    path = _write(tmp_path / "big.jsonl", lines)
    with warehouse.transaction():
        report = ingest_files(warehouse, [str(path)])
    assert [e.line for e in report.errors] == [2, 150_000, 299_999]
    warehouse.close()


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


def _extracted(warehouse) -> list[tuple]:
    return warehouse.fetchall(warehouse.parse(
        "SELECT e.message_id, x.type_code, x.custom_type, x.id_value FROM event_identifiers AS x "
        "JOIN events AS e ON e.seq = x.seq ORDER BY 1, 2, 3, 4"))


def test_the_identifiers_documents_name_are_extracted_once_as_each_file_is_stored(warehouse, tmp_path):
    # An identity run then reads them instead of parsing every document again; a refused file
    # extracts nothing, a file read again nothing more. (Types are numbered: 3 email, 7 ios.id,
    # -1 a custom one.)
    lines = [
        _line(1, context={"traits": {"email": " Bob@Example.com"}, "device": {"type": "ios", "id": "D1"}}),
        _line(2, properties={"email": "bob@example.com"}, context={"externalIds": [{"id": "C9", "type": "crm"}]}),
        _line(3),
    ]
    good = _write(tmp_path / "good.jsonl", lines)
    ingest_files(warehouse, [str(good)])
    expected = [("m1", 3, "", "bob@example.com"), ("m1", 7, "", "d1"), ("m2", -1, "crm", "c9"),
                ("m2", 3, "", "bob@example.com")]
    assert _extracted(warehouse) == expected
    bad = _write(tmp_path / "bad.jsonl", [_line(4, traits={"email": "eve@example.com"}), "not json"])
    assert ingest_files(warehouse, [str(bad)]).errors
    ingest_files(warehouse, [str(good)])
    assert _extracted(warehouse) == expected


def test_a_table_source_extracts_the_identifiers_its_documents_name(warehouse):
    table = f"{warehouse.schema}.tracks"
    warehouse.execute(warehouse.parse(
        f"CREATE TABLE {table} (id TEXT, user_id TEXT, event TEXT, \"timestamp\" TEXT, properties JSON)"))
    warehouse.execute(warehouse.parse(
        f"INSERT INTO {table} VALUES ('t1', 'u1', 'Viewed', '2024-05-01T10:00:00Z', :props)",
        props=json.dumps({"email": "Ann@Example.com"})))
    ingest_table(warehouse, table, "crm")
    assert _extracted(warehouse) == [("t1", 3, "", "ann@example.com")]
