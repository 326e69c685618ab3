"""Segment-spec messages, staged line by line, checked and turned into `events` rows — in SQL.

A file's lines are first copied verbatim into a scratch table by the engine's own loader
(`Warehouse.load_lines`); everything after that is set-based: find the bad lines, expand
`{"batch": [...]}` envelopes, parse each message once (`Warehouse.message_record`), check types
and timestamps, and append the messages whose ids are new. Nothing loops over lines in Python.
"""

from __future__ import annotations

from sqlglot import exp

from engagectl.warehouse import Warehouse, quoted_column

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
# Page and screen calls become ordinary named events (PRODUCT.md §3).
NAMED_CALLS = {"page": "Page Viewed", "screen": "Screen Viewed"}
MAX_ERRORS_PER_FILE = 20
# The top-level message fields events are built from.
TEXT_FIELDS = ("type", "event", "messageId", "userId", "anonymousId", "groupId", "previousId", "timestamp",
               "receivedAt")
JSON_FIELDS = ("properties", "context", "traits")

LINES = "engage_lines"
MESSAGES = "engage_messages"


def json_path(*keys: str) -> exp.JSONPath:
    return exp.JSONPath(expressions=[exp.JSONPathRoot(), *[exp.JSONPathKey(this=k) for k in keys]])


def json_text(document: exp.Expression, *keys: str) -> exp.Expression:
    """The value at `keys` as text (NULL when missing or JSON null)."""
    return exp.JSONExtractScalar(this=document, expression=json_path(*keys))


def json_value(document: exp.Expression, *keys: str) -> exp.Expression:
    """The value at `keys` as JSON."""
    return exp.JSONExtract(this=document, expression=json_path(*keys))


def _col(name: str, table: str | None = None) -> exp.Column:
    return quoted_column(name, table)


def _scratch(warehouse: Warehouse, name: str, select: exp.Select) -> None:
    table = warehouse.temp_table(name)
    warehouse.execute(exp.Drop(tables=[table], kind="TABLE", exists=True))
    warehouse.execute(exp.Create(this=table, kind="TABLE", expression=select,
                                 properties=exp.Properties(expressions=[exp.TemporaryProperty()])))


def drop_scratch(warehouse: Warehouse) -> None:
    for name in (MESSAGES, LINES):
        warehouse.execute(exp.Drop(tables=[warehouse.temp_table(name)], kind="TABLE", exists=True))


# A line is blank when empty or only whitespace; trimming long lines is wasted work.
_NOT_BLANK = "line IS NOT NULL AND (LENGTH(line) > 64 OR TRIM(line) <> '')"


def count_lines(warehouse: Warehouse) -> int:
    """Non-blank lines of the staged file."""
    return warehouse.fetchall(warehouse.parse(f"SELECT COUNT(*) FROM engage_lines WHERE {_NOT_BLANK}"))[0][0]


def bad_lines(warehouse: Warehouse, limit: int = MAX_ERRORS_PER_FILE) -> list[tuple[int, str]]:
    """Lines that are not JSON documents: (line number, message)."""
    query = warehouse.parse(
        f"SELECT line_no FROM engage_lines WHERE {_NOT_BLANK} AND NOT :valid ORDER BY line_no LIMIT :limit",
        valid=warehouse.json_valid(_col("line")), limit=limit)
    return [(row[0], "not a JSON document") for row in warehouse.fetchall(query)]


def stage_messages(warehouse: Warehouse, source: str) -> None:
    """Expand lines into messages (line_no, position, msg, rec, message_id).

    A `{"batch": [...]}` line gives one message per element. `rec` is the engine's parsed form of
    the message; a message without `messageId` gets an id derived from its source, text and batch
    position, so re-reading the same file yields the same ids.
    """
    # Only lines mentioning "batch" are parsed to check for an envelope.
    batch = json_value(warehouse.parse_json(_col("line")), "batch")
    maybe_batch = "CASE WHEN STRPOS(line, '\"batch\"') > 0 THEN :batch IS NOT NULL ELSE FALSE END"
    expanded = f"""
        SELECT line_no, 0 AS position, line AS msg FROM engage_lines
        WHERE {_NOT_BLANK} AND NOT {maybe_batch}
        UNION ALL
        SELECT line_no, ROW_NUMBER() OVER (PARTITION BY line_no) AS position, CAST(item AS TEXT) AS msg
        FROM (SELECT line_no, :items AS item FROM engage_lines WHERE {_NOT_BLANK} AND {maybe_batch}) AS b"""
    generated = ("CASE WHEN :message_id IS NULL "
                 "THEN 'gen-' || MD5(:source || ':' || msg || ':' || CAST(position AS TEXT)) END")
    select = warehouse.parse(f"""
        SELECT line_no, position, msg, rec, COALESCE(:message_id, {generated}) AS message_id
        FROM (SELECT e.*, :record AS rec FROM ({expanded}) AS e) AS parsed""",
        batch=batch, items=warehouse.json_array_items(batch), record=warehouse.message_record(_col("msg")),
        message_id=field(warehouse, "messageId"), source=source)
    _scratch(warehouse, MESSAGES, select)


def field(warehouse: Warehouse, key: str) -> exp.Expression:
    """A top-level field of a staged message: text, or JSON for properties/context/traits."""
    return warehouse.message_field(_col("rec"), key, key in JSON_FIELDS)


def bad_messages(warehouse: Warehouse, limit: int = MAX_ERRORS_PER_FILE) -> list[tuple[int, str]]:
    """Messages whose type or timestamp is missing or wrong: (line number, message)."""
    kind = exp.func("LOWER", field(warehouse, "type"))
    raw_timestamp = field(warehouse, "timestamp")
    problem = exp.Case(
        ifs=[
            exp.If(this=kind.is_(exp.null()), true=exp.Literal.string("missing `type`")),
            exp.If(this=exp.not_(kind.isin(*[exp.Literal.string(t) for t in MESSAGE_TYPES])),
                   true=exp.Literal.string(f"unknown `type` (expected one of {', '.join(MESSAGE_TYPES)})")),
            exp.If(this=raw_timestamp.is_(exp.null()), true=exp.Literal.string("missing `timestamp`")),
            exp.If(this=warehouse.try_timestamp(raw_timestamp).is_(exp.null()),
                   true=exp.Literal.string("invalid `timestamp` (expected ISO-8601)")),
            exp.If(this=exp.and_(kind.eq(exp.Literal.string("track")), field(warehouse, "event").is_(exp.null())),
                   true=exp.Literal.string("a track call needs an `event` name")),
        ],
    )
    query = warehouse.parse(
        "SELECT line_no, :problem FROM engage_messages WHERE :problem IS NOT NULL "
        "ORDER BY line_no, position LIMIT :limit", problem=problem, limit=limit)
    return [(row[0], row[1]) for row in warehouse.fetchall(query)]


EVENT_COLUMNS = (
    "message_id", "source", "type", "event", "user_id", "anonymous_id", "group_id", "previous_id",
    "timestamp", "received_at", "properties", "context", "traits", "raw",
)


def insert_new_events(warehouse: Warehouse, source: str) -> int:
    """Append staged messages whose id the warehouse has not seen; returns how many."""
    kind = exp.func("LOWER", field(warehouse, "type"))
    event_name = exp.Case(ifs=[
        exp.If(this=kind.eq(exp.Literal.string("track")), true=field(warehouse, "event")),
        *[exp.If(this=kind.eq(exp.Literal.string(call)), true=exp.Literal.string(name))
          for call, name in NAMED_CALLS.items()],
    ])
    received = exp.func("COALESCE", warehouse.try_timestamp(field(warehouse, "receivedAt")),
                        exp.cast(exp.CurrentTimestamp(), "TIMESTAMP"))
    # seq follows file order: (line, position in its batch) as one number past the events held.
    width = warehouse.fetchall(warehouse.parse("SELECT COALESCE(MAX(position), 0) + 1 FROM engage_messages"))[0][0]
    ordinal = f"(m.line_no - 1) * {int(width)} + m.position + 1"
    firsts = ""
    if warehouse.fetchall(warehouse.parse(
            "SELECT COUNT(*) - COUNT(DISTINCT message_id) FROM engage_messages"))[0][0]:
        # The first copy of a message id within the file wins.
        firsts = f"""JOIN (SELECT MIN({ordinal}) AS first FROM engage_messages AS m GROUP BY m.message_id) AS f
                     ON f.first = {ordinal}"""
    insert = warehouse.parse(f"""
        INSERT INTO events ({", ".join(f'"{c}"' for c in EVENT_COLUMNS)}, profile_id, seq)
        SELECT m.message_id, :source, :kind, :event, :user_id, :anonymous_id, :group_id, :previous_id,
               :ts, :received, :properties, :context, :traits, :raw, NULL,
               (SELECT COALESCE(MAX(seq), 0) FROM events) + {ordinal}
        FROM engage_messages AS m {firsts}
        WHERE NOT EXISTS (SELECT 1 FROM events AS e WHERE e.message_id = m.message_id)""",
        source=source, kind=kind, event=event_name, user_id=field(warehouse, "userId"),
        anonymous_id=field(warehouse, "anonymousId"), group_id=field(warehouse, "groupId"),
        previous_id=field(warehouse, "previousId"), ts=warehouse.try_timestamp(field(warehouse, "timestamp")),
        received=received, properties=field(warehouse, "properties"), context=field(warehouse, "context"),
        traits=field(warehouse, "traits"), raw=exp.cast(_col("msg"), exp.DataType.build("JSON")))
    events = warehouse.table("events")
    before = count_rows(warehouse, events)
    warehouse.execute(insert)
    return count_rows(warehouse, events) - before


def count_rows(warehouse: Warehouse, table: exp.Table) -> int:
    return warehouse.fetchall(exp.select(exp.func("COUNT", exp.Star())).from_(table))[0][0]
