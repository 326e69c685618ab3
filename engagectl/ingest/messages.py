"""Segment-spec messages, from staged lines to `events` rows — in SQL.

A file's lines are first copied verbatim into a scratch table by the engine's own loader
(`Warehouse.load_lines`). One scan measures them (lines, `{"batch": [...]}` envelopes), then one
statement parses each message once into its fields (`Warehouse.message_record`), expands the
envelopes, turns each message into an `events` row and appends the rows whose ids are new — no
staged copy of the file is materialised in between. A message with a problem (a missing `type`, a
bad `timestamp`, …) is appended too, but without an id, so no dedup can hide it: one scan of the
appended rows then names every problem with its line, and the caller rolls the file's transaction
back. Nothing loops over lines in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from engagectl.identity.replay import any_repeated
from engagectl.warehouse import Warehouse, quoted_column
from engagectl.warehouse.json_paths import json_text, json_value

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
# Page and screen calls become ordinary named events (PRODUCT.md §3).
NAMED_CALLS = {"page": "Page Viewed", "screen": "Screen Viewed"}
MAX_ERRORS_PER_FILE = 20
# The top-level message fields events are built from; `batch` marks an envelope.
TEXT_FIELDS = ("type", "event", "messageId", "userId", "anonymousId", "groupId", "previousId", "timestamp",
               "receivedAt")
JSON_FIELDS = ("properties", "context", "traits", "batch")

LINES = "engage_lines"

EVENT_COLUMNS = (
    "message_id", "source", "type", "event", "user_id", "anonymous_id", "group_id", "previous_id",
    "timestamp", "received_at", "properties", "context", "traits", "raw",
)

# A line is blank when empty or only spaces, tabs and carriage returns. Written as a CASE so that
# only short lines are trimmed wherever the test is evaluated (an OR is not always short-circuited).
_NOT_BLANK = "line IS NOT NULL AND CASE WHEN LENGTH(line) > 64 THEN TRUE ELSE TRIM(BOTH ' \t\r' FROM line) <> '' END"
# A line without this text is not an envelope, and is never parsed to look for a `batch` key.
_MAY_BE_ENVELOPE = "STRPOS(line, 'batch\"') > 0"


def _col(name: str, table: str | None = None) -> exp.Column:
    return quoted_column(name, table)


def _text(value: str) -> exp.Literal:
    return exp.Literal.string(value)


def drop_scratch(warehouse: Warehouse) -> None:
    warehouse.drop_lines(warehouse.temp_table(LINES))


@dataclass(frozen=True)
class StagedLines:
    """What the scan of a staged file found: its non-blank lines, envelopes and messages."""

    lines: int
    envelopes: int
    messages: int
    width: int  # seq numbers per line: one for the line, one per element of the largest envelope
    unusable: int = 0  # lines that cannot become messages (`line_problems`)


def field(warehouse: Warehouse, key: str) -> exp.Expression:
    """A top-level field of a parsed message (`rec`): text, or JSON for properties/context/traits/batch."""
    return warehouse.message_field(_col("rec"), key, key in JSON_FIELDS, _col("msg"))


def measure_lines(warehouse: Warehouse) -> StagedLines:
    """Count the staged file's lines, the messages its envelopes hold, and the lines that cannot
    become messages at all (`line_problems` names them), in one scan."""
    batch = warehouse.message_field(warehouse.message_record(_col("line")), "batch", True, _col("line"))
    unstorable = warehouse.unstorable_text(_col("line"))
    # An envelope's batch is parsed only on lines whose text may hold one (nested CASEs: an AND
    # may be evaluated in full).
    query = warehouse.parse(f"""
        SELECT COUNT(*), COUNT(items), COALESCE(SUM(items), 0), COALESCE(MAX(items), 0), COUNT(bad_batch),
               COUNT(problem)
        FROM (SELECT CASE WHEN may_be_envelope THEN
                       CASE WHEN :is_array THEN JSON_ARRAY_LENGTH(:batch) END END AS items,
                     CASE WHEN may_be_envelope THEN CASE WHEN :bad_batch THEN 1 END END AS bad_batch,
                     CASE WHEN :unstorable THEN 1 END AS problem
              FROM (SELECT line, {_MAY_BE_ENVELOPE} AS may_be_envelope
                    FROM engage_lines WHERE {_NOT_BLANK}) AS t) AS l""",
        batch=batch, is_array=warehouse.is_json_array(batch), bad_batch=_bad_batch(warehouse, batch),
        unstorable=unstorable if unstorable is not None else exp.false())
    lines, envelopes, items, largest, bad_batches, unstorable_lines = warehouse.fetchall(query)[0]
    return StagedLines(lines=lines, envelopes=envelopes, messages=lines - envelopes + items, width=largest + 1,
                       unusable=bad_batches + unstorable_lines)


def _bad_batch(warehouse: Warehouse, batch: exp.Expression) -> exp.Expression:
    return exp.paren(exp.and_(batch.is_(exp.null()).not_(), exp.not_(warehouse.is_json_array(batch))))


def line_problems(warehouse: Warehouse, limit: int = MAX_ERRORS_PER_FILE) -> list[tuple[int, str]]:
    """The staged lines that cannot become messages at all: a `batch` that is not an array, or
    text the engine cannot store. (line number, what is wrong), in file order."""
    batch = warehouse.message_field(warehouse.message_record(_col("line")), "batch", True, _col("line"))
    ifs = [exp.If(this=exp.and_(warehouse.parse(_MAY_BE_ENVELOPE), _bad_batch(warehouse, batch)),
                  true=_text("`batch` must be an array of messages"))]
    unstorable = warehouse.unstorable_text(_col("line"))
    if unstorable is not None:
        ifs.append(exp.If(this=unstorable, true=_text(
            "contains the escape \\u0000 (a NUL character), which this warehouse cannot store in text")))
    query = warehouse.parse(f"""
        SELECT line_no, problem FROM (SELECT line_no, :problem AS problem FROM engage_lines WHERE {_NOT_BLANK}) AS l
        WHERE problem IS NOT NULL ORDER BY line_no LIMIT :limit""", problem=exp.Case(ifs=ifs), limit=limit)
    return [(line, message) for line, message in warehouse.fetchall(query)]


def _records(warehouse: Warehouse, staged: StagedLines) -> exp.Expression:
    """Every message of the staged file: (line_no, position, msg, rec), `rec` parsed once.

    A line is one message at position 0, unless it is a `{"batch": [...]}` envelope: then each
    element is a message, at positions 1, 2, …
    """
    record = warehouse.message_record(_col("line"))
    single = f"SELECT line_no, 0 AS position, line AS msg, :record AS rec FROM engage_lines WHERE {_NOT_BLANK}"
    if not staged.envelopes:
        return warehouse.parse(single, record=record)
    batch = warehouse.message_field(record, "batch", True, _col("line"))
    # The envelope test reads the line's text and parses only the few lines that may be one (a
    # CASE, not an AND: that is evaluated in full). A test on `rec` would be pushed below the
    # parse and parse every line a second time.
    return warehouse.parse(f"""
        {single} AND CASE WHEN {_MAY_BE_ENVELOPE} THEN :batch IS NULL ELSE TRUE END
        UNION ALL
        SELECT line_no, ROW_NUMBER() OVER (PARTITION BY line_no) AS position, msg, :item_record AS rec
        FROM (SELECT line_no, CAST(item AS TEXT) AS msg
              FROM (SELECT line_no, :items AS item FROM engage_lines
                    WHERE {_NOT_BLANK} AND {_MAY_BE_ENVELOPE} AND :batch IS NOT NULL) AS e) AS b""",
        record=record, batch=batch, items=warehouse.json_array_items(batch),
        item_record=warehouse.message_record(_col("msg")))


def _rows(warehouse: Warehouse, staged: StagedLines) -> exp.Select:
    """Each message as the columns of an `events` row, plus its line, position and text."""
    kind = exp.func("LOWER", field(warehouse, "type"))
    event_name = exp.Case(ifs=[
        exp.If(this=kind.eq(_text("track")), true=field(warehouse, "event")),
        *[exp.If(this=kind.eq(_text(call)), true=_text(name)) for call, name in NAMED_CALLS.items()],
    ])
    received = exp.func("COALESCE", warehouse.try_timestamp(field(warehouse, "receivedAt")),
                        exp.cast(exp.CurrentTimestamp(), "TIMESTAMP"))
    return warehouse.parse("""
        SELECT line_no, position, msg, :message_id AS message_id, :kind AS type, :event AS event,
               :user_id AS user_id, :anonymous_id AS anonymous_id, :group_id AS group_id,
               :previous_id AS previous_id, :ts AS "timestamp", :received AS received_at,
               :properties AS properties, :context AS context, :traits AS traits, :raw AS raw
        FROM :records AS r""",
        message_id=field(warehouse, "messageId"), kind=kind, event=event_name,
        user_id=field(warehouse, "userId"), anonymous_id=field(warehouse, "anonymousId"),
        group_id=field(warehouse, "groupId"), previous_id=field(warehouse, "previousId"),
        ts=warehouse.try_timestamp(field(warehouse, "timestamp")), received=received,
        properties=field(warehouse, "properties"), context=field(warehouse, "context"),
        traits=field(warehouse, "traits"), raw=warehouse.message_json(_col("msg"), _col("rec")),
        records=_records(warehouse, staged).subquery())


def _is_known_type(kind: exp.Expression) -> exp.Expression:
    # Comparisons, not IN: DuckDB answers an IN list with a join.
    return exp.or_(*[kind.eq(_text(t)) for t in MESSAGE_TYPES])


def _is_valid(table: str | None = None) -> exp.Expression:
    """An `events` row that holds a well-formed message (a known type, a timestamp, a track's name)."""
    kind = _col("type", table)
    return exp.and_(
        _is_known_type(kind),
        _col("timestamp", table).is_(exp.null()).not_(),
        exp.or_(kind.neq(_text("track")), _col("event", table).is_(exp.null()).not_()),
    )


@dataclass(frozen=True)
class Appended:
    """The rows one file appended to `events`: every seq above `after_seq` is theirs."""

    after_seq: int
    width: int
    messages: int  # the file's messages: at most this many rows were appended

    def line_of(self, seq: int) -> int:
        return (seq - self.after_seq - 1) // self.width + 1


def append_messages(warehouse: Warehouse, source: str, staged: StagedLines) -> Appended:
    """Append every staged message whose id the warehouse has not seen, problems included.

    A message without `messageId` gets an id derived from its source, text and batch position,
    so re-reading the same file yields the same ids. seq follows file order — (line, position in
    its batch) as one number past the events held. A message with a problem gets no id: it passes
    the dedup and `problems()` finds it. A second copy of an id within the file is appended too
    (`keep_first_copies` removes it), except where a unique index on message_id would refuse it.
    """
    after_seq = warehouse.fetchall(warehouse.parse("SELECT COALESCE(MAX(seq), 0) FROM events"))[0][0]
    rows = warehouse.parse("""
        SELECT CASE WHEN :valid THEN COALESCE(m.message_id, 'gen-' || MD5(
                   :source || ':' || m.msg || ':' || CAST(m.position AS TEXT))) END AS message_id,
               :source AS source, m.type, m.event, m.user_id, m.anonymous_id, m.group_id, m.previous_id,
               m."timestamp", m.received_at, m.properties, m.context, m.traits, m.raw,
               :after_seq + (m.line_no - 1) * :width + m.position + 1 AS seq
        FROM :rows AS m""",
        valid=_is_valid("m"), source=source, after_seq=after_seq, width=staged.width,
        rows=_rows(warehouse, staged).subquery())
    if warehouse.wants_indexes:
        # The layout's unique index on message_id: only the first copy of an id may be appended.
        rows = warehouse.parse("""
            SELECT * FROM (SELECT r.*, ROW_NUMBER() OVER (PARTITION BY r.message_id ORDER BY r.seq) AS copy_no
                           FROM :rows AS r) AS c
            WHERE c.copy_no = 1 OR c.message_id IS NULL""", rows=rows.subquery())
    columns = ", ".join(f'"{c}"' for c in EVENT_COLUMNS)
    insert = warehouse.parse(f"""
        INSERT INTO events ({columns}, seq)
        SELECT {columns}, seq FROM :rows AS n
        WHERE NOT EXISTS (SELECT 1 FROM events AS e WHERE e.message_id = n.message_id)""",
        rows=rows.subquery())
    warehouse.execute(insert)
    return Appended(after_seq=after_seq, width=staged.width, messages=staged.messages)


def problems(warehouse: Warehouse, appended: Appended, limit: int = MAX_ERRORS_PER_FILE) -> list[tuple[int, str]]:
    """The appended messages that are not well formed: (line number, what is wrong), in file order."""
    kind, raw = _col("type"), _col("raw")
    problem = exp.Case(
        ifs=[
            exp.If(this=raw.is_(exp.null()), true=_text("not a JSON document")),
            exp.If(this=kind.is_(exp.null()), true=_text("missing `type`")),
            exp.If(this=exp.not_(exp.paren(_is_known_type(kind))),
                   true=_text(f"unknown `type` (expected one of {', '.join(MESSAGE_TYPES)})")),
            exp.If(this=exp.and_(_col("timestamp").is_(exp.null()), json_text(raw, "timestamp").is_(exp.null())),
                   true=_text("missing `timestamp`")),
            exp.If(this=_col("timestamp").is_(exp.null()), true=_text("invalid `timestamp` (expected ISO-8601)")),
        ],
        default=_text("a track call needs an `event` name"),
    )
    query = warehouse.parse(
        "SELECT seq, :problem FROM events WHERE seq > :after_seq AND message_id IS NULL ORDER BY seq LIMIT :limit",
        problem=problem, after_seq=appended.after_seq, limit=limit)
    return [(appended.line_of(seq), message) for seq, message in warehouse.fetchall(query)]


def remove_appended(warehouse: Warehouse, appended: Appended) -> None:
    """Take back every row of a refused file (its rollback does too, unless it joined an outer one)."""
    warehouse.execute(warehouse.parse("DELETE FROM events WHERE seq > :after_seq", after_seq=appended.after_seq))


def keep_first_copies(warehouse: Warehouse, appended: Appended) -> int:
    """Drop appended rows whose id came earlier in the same file; returns how many rows stay."""
    rows, may_repeat = _appended_ids(warehouse, appended)
    if not may_repeat:
        return rows
    warehouse.execute(warehouse.parse("""
        DELETE FROM events AS e WHERE e.seq > :after_seq AND EXISTS (
            SELECT 1 FROM events AS f
            WHERE f.message_id = e.message_id AND f.seq > :after_seq AND f.seq < e.seq)""",
        after_seq=appended.after_seq))
    return warehouse.fetchall(warehouse.parse(
        "SELECT COUNT(*) FROM events WHERE seq > :after_seq", after_seq=appended.after_seq))[0][0]


# From a file of this many messages on, the appended ids are checked by their hashes in compiled code.
COMPILED_CHECK_ROWS = 1_000_000


def _appended_ids(warehouse: Warehouse, appended: Appended) -> tuple[int, bool]:
    """How many rows the file appended, and whether two of them may share a message id. Checked
    on the ids' 64-bit hashes where the engine has them (`Warehouse.hash_key`) and the file is
    large: two ids sharing a hash only cost the exact removal a needless pass. Smaller files are
    checked by COUNT(DISTINCT), which needs no compiled code loaded (the tracking API ingests a
    batch at a time)."""
    key = warehouse.hash_key(_col("message_id"))
    appended_rows = exp.select().from_(warehouse.table("events")).where(
        _col("seq") > exp.Literal.number(appended.after_seq))
    if key is None or appended.messages < COMPILED_CHECK_ROWS:
        [(rows, ids)] = warehouse.fetchall(appended_rows.select(
            exp.func("COUNT", exp.Star()), exp.func("COUNT", exp.Distinct(expressions=[_col("message_id")]))))
        return rows, ids < rows
    keys = warehouse.fetch_arrays(appended_rows.select(key.as_("id_key")))["id_key"]
    return len(keys), any_repeated(keys)


def count_rows(warehouse: Warehouse, table: exp.Table) -> int:
    return warehouse.fetchall(exp.select(exp.func("COUNT", exp.Star())).from_(table))[0][0]
