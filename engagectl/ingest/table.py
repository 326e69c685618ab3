"""A source that is a warehouse table with Segment's columns (`sources: [{key, table}]`).

Segment's warehouse tables (`tracks`, `identifies`, `pages`, …) carry `id`, `user_id`,
`anonymous_id`, `event`, `timestamp`, `received_at`; JSON columns `properties`, `context`,
`traits` are used when present. The call type comes from a `type` column or the table's name.
"""

from __future__ import annotations

from sqlglot import exp

from engagectl.identity.identifiers import extract_document_identifiers
from engagectl.ingest import messages as sql
from engagectl.ingest.report import FileReport, IngestReport
from engagectl.warehouse import Warehouse, quoted_column

_TYPE_BY_TABLE = {"tracks": "track", "identifies": "identify", "pages": "page", "screens": "screen",
                  "groups": "group", "aliases": "alias"}


def _columns(warehouse: Warehouse, table: exp.Table) -> set[str]:
    query = exp.select("column_name").from_(exp.table_("columns", db="information_schema")).where(
        exp.column("table_name").eq(exp.Literal.string(table.name)))
    if table.db:
        query = query.where(exp.column("table_schema").eq(exp.Literal.string(table.db)))
    return {row[0].lower() for row in warehouse.fetchall(query)}


def ingest_table(warehouse: Warehouse, table_name: str, source: str) -> IngestReport:
    """Copy new rows of a Segment-shaped table into `events` (dedup on the message id)."""
    table = exp.to_table(table_name)
    columns = _columns(warehouse, table)
    report = FileReport(path=table_name, source=source)

    def pick(*names: str) -> exp.Expression:
        for name in names:
            if name in columns:
                return exp.cast(quoted_column(name), "TEXT")
        return exp.null()

    def pick_json(name: str) -> exp.Expression:
        return exp.cast(quoted_column(name) if name in columns else exp.null(), "JSON")

    default_type = _TYPE_BY_TABLE.get(table.name.lower(), "track")
    kind = exp.func("COALESCE", exp.func("LOWER", pick("type")), exp.Literal.string(default_type))
    event = exp.Case(ifs=[
        exp.If(this=kind.eq(exp.Literal.string(call)), true=exp.Literal.string(name))
        for call, name in sql.NAMED_CALLS.items()
    ], default=pick("event"))
    timestamp = warehouse.try_timestamp(pick("timestamp"))
    received = exp.func("COALESCE", warehouse.try_timestamp(pick("received_at")), timestamp)
    mapped = exp.select(
        pick("message_id", "id").as_("message_id"), exp.Literal.string(source).as_("source"),
        kind.as_("type"), event.as_("event"), pick("user_id").as_("user_id"),
        pick("anonymous_id").as_("anonymous_id"), pick("group_id").as_("group_id"),
        pick("previous_id").as_("previous_id"), timestamp.as_("timestamp"), received.as_("received_at"),
        pick_json("properties").as_("properties"), pick_json("context").as_("context"),
        pick_json("traits").as_("traits"), pick_json("raw").as_("raw"),
    ).from_(table).where(exp.and_(pick("message_id", "id").is_(exp.null()).not_(),
                                  timestamp.is_(exp.null()).not_()))
    columns = ", ".join(f'"{c}"' for c in sql.EVENT_COLUMNS)
    insert = warehouse.parse(f"""
        INSERT INTO events ({columns}, profile_id, seq)
        SELECT {columns}, NULL,
               (SELECT COALESCE(MAX(seq), 0) FROM events) + ROW_NUMBER() OVER (ORDER BY "timestamp", message_id)
        FROM (SELECT m.*, ROW_NUMBER() OVER (PARTITION BY m.message_id ORDER BY m."timestamp") AS copy_no
              FROM :mapped AS m) AS s
        WHERE copy_no = 1 AND NOT EXISTS (SELECT 1 FROM events AS e WHERE e.message_id = s.message_id)""",
        mapped=mapped.subquery())
    with warehouse.transaction():
        report.lines = warehouse.fetchall(exp.select(exp.func("COUNT", exp.Star())).from_(mapped.subquery("m")))[0][0]
        events = warehouse.table("events")
        before = sql.count_rows(warehouse, events)
        warehouse.execute(insert)
        report.loaded = sql.count_rows(warehouse, events) - before
        report.duplicates = report.lines - report.loaded
        extract_document_identifiers(warehouse)
    return IngestReport(files=[report])
