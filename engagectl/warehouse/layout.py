"""The versioned table layout engagectl owns in the warehouse (schema `engage` by default).

Every table is declared once here as (column, type) pairs; the adapters render them for their
engine. JSON columns use the engine's `JSON` type on both DuckDB and Postgres (`json`, not
`jsonb`): sqlglot's `JSONExtract`/`JSONExtractScalar` (`->>`) transpile to `->>` on DuckDB and
`JSON_EXTRACT_PATH(_TEXT)` on Postgres, both of which read that type directly.

Migrations are numbered steps; `layout_version` records the last one applied. A step only adds
(tables, columns, indexes), so an older engagectl never meets a table it cannot read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlglot import exp

if TYPE_CHECKING:
    from engagectl.warehouse.base import Warehouse

LAYOUT_VERSION = 4

TEXT = "TEXT"
JSON = "JSON"
TIMESTAMP = "TIMESTAMP"
BIGINT = "BIGINT"
INTEGER = "INTEGER"
SMALLINT = "SMALLINT"
BOOLEAN = "BOOLEAN"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]


TABLES: tuple[Table, ...] = (
    Table("layout_version", (("version", INTEGER), ("applied_at", TIMESTAMP))),
    Table("events", (
        ("message_id", TEXT), ("source", TEXT), ("type", TEXT), ("event", TEXT),
        ("user_id", TEXT), ("anonymous_id", TEXT), ("group_id", TEXT), ("previous_id", TEXT),
        ("timestamp", TIMESTAMP), ("received_at", TIMESTAMP),
        ("properties", JSON), ("context", JSON), ("traits", JSON), ("raw", JSON),
        ("profile_id", TEXT), ("seq", BIGINT),
    )),
    Table("identities", (
        ("profile_id", TEXT), ("id_type", TEXT), ("id_value", TEXT),
        ("first_seen", TIMESTAMP), ("last_seen", TIMESTAMP), ("first_message_id", TEXT),
        ("source", TEXT),
    )),
    Table("profiles", (
        ("profile_id", TEXT), ("created_at", TIMESTAMP), ("updated_at", TIMESTAMP),
        ("first_message_id", TEXT), ("last_message_id", TEXT),
        ("first_source", TEXT), ("last_source", TEXT),
    )),
    Table("merges", (
        ("merged_profile_id", TEXT), ("into_profile_id", TEXT), ("message_id", TEXT),
        ("merged_at", TIMESTAMP), ("run_id", TEXT),
    )),
    Table("profile_traits", (
        ("profile_id", TEXT), ("key", TEXT), ("value", JSON), ("updated_at", TIMESTAMP),
        ("message_id", TEXT),
    )),
    Table("computed_values", (
        ("computation_key", TEXT), ("kind", TEXT), ("profile_id", TEXT), ("value", JSON),
        ("updated_at", TIMESTAMP),
    )),
    Table("journey_progress", (
        ("journey_key", TEXT), ("step_key", TEXT), ("profile_id", TEXT), ("joined_at", TIMESTAMP),
    )),
    Table("changes", (
        ("change_id", TEXT), ("run_id", TEXT), ("as_of", TIMESTAMP), ("profile_id", TEXT),
        ("computation_key", TEXT), ("computation_kind", TEXT), ("change", TEXT),
        ("old_value", JSON), ("new_value", JSON), ("commit", TEXT),
    )),
    Table("runs", (
        ("run_id", TEXT), ("as_of", TIMESTAMP), ("started_at", TIMESTAMP), ("finished_at", TIMESTAMP),
        ("commit", TEXT),
    )),
    # The identity run's bookkeeping: the highest events.seq already resolved.
    Table("identity_watermark", (("last_seq", BIGINT), ("updated_at", TIMESTAMP))),
    # The identifiers named in each event's JSON documents (traits, properties, context), one row
    # per (event, identifier), extracted when the event is stored (`identity/identifiers.py`).
    # `type_code` is a built-in type's number, or -1 with the custom type's name in `custom_type`.
    Table("event_identifiers", (("seq", BIGINT), ("type_code", SMALLINT), ("custom_type", TEXT),
                                ("id_value", TEXT))),
    # The highest events.seq whose documents' identifiers are in `event_identifiers`.
    Table("event_identifiers_watermark", (("last_seq", BIGINT), ("updated_at", TIMESTAMP))),
)
TABLES_BY_NAME = {table.name: table for table in TABLES}

# (table, index name, columns, unique) — created on engines where an index pays off.
INDEXES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("events", "events_message_id", ("message_id",), True),
    ("events", "events_profile_id", ("profile_id",), False),
    ("identities", "identities_value", ("id_type", "id_value"), True),
    ("identities", "identities_profile", ("profile_id",), False),
    ("profiles", "profiles_id", ("profile_id",), True),
    ("profile_traits", "profile_traits_key", ("profile_id", "key"), True),
    ("computed_values", "computed_values_key", ("computation_key", "profile_id"), False),
)

# The Profile API's point lookups (engagectl/profiles/reader.py): an identifier's value, then a
# profile's traits and computed values. Each is a single-column equality, the one shape DuckDB
# answers from an ART index; on Postgres, v2 adds the two the v1 indexes did not cover.
LOOKUP_INDEXES: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("identities", "identities_id_value", ("id_value",), False),
    ("profiles", "profiles_profile_id", ("profile_id",), False),
    ("profile_traits", "profile_traits_profile_id", ("profile_id",), False),
    ("computed_values", "computed_values_profile_id", ("profile_id",), False),
)
# Already served on Postgres by a v1 index whose first column is the looked-up one.
_COVERED_BY_V1 = {"profiles_profile_id", "profile_traits_profile_id"}


# Columns the engine may store otherwise than by its default, where the default costs more to
# write or to scan than it saves (`Warehouse.stored_column`). A table created before keeps the
# default; both read the same. The price is room: after the 10M-event bench's identity run the
# DuckDB file held 705 MiB instead of 631, and 28 MB more with message ids stored plain.
# - "archive": text written once and read in few places: whole messages, identify trait values.
# - "plain": unique keys written in bulk by every identity run: profile ids, the ids of the
#   messages behind a row (zstd wrote 2M identities' message ids 0.1 s slower and stored them in
#   10% less room: ids of random characters hardly compress), and identifier values, which
#   every incremental run scans whole to find the stored profiles it meets: the 1% run took
#   0.457 s instead of 0.484 (medians of five, taking turns), for 22 MB more room. The profile
#   ids of identities and traits, scanned whole by profile, keep the default: a dictionary
#   holds each id once for its several rows, and the scan by profile took 0.024 s, not 0.028.
#   Events' message ids too, written by every ingest and scanned whole by its dedup: ingesting
#   the bench's 10M events took 25.7-29.1 s instead of 28.8-32.7 s (three pairs, taking turns),
#   for a file of 550 MB instead of 471 (its ids are 8 characters; 10M UUIDs take 387 MB plain
#   against 204 MB, and DuckDB wrote them in 1.6 s instead of 4.7 s, and read them faster).
COLUMN_STORAGE = {
    ("events", "message_id"): "plain",
    ("events", "raw"): "archive",
    ("identities", "id_value"): "plain",
    ("identities", "first_message_id"): "plain",
    ("profiles", "profile_id"): "plain",
    ("profiles", "first_message_id"): "plain",
    ("profiles", "last_message_id"): "plain",
    ("profile_traits", "value"): "archive",
    ("profile_traits", "message_id"): "plain",
    ("merges", "merged_profile_id"): "plain",
    ("merges", "into_profile_id"): "plain",
    ("merges", "message_id"): "plain",
}


def create_table(warehouse: Warehouse, table: Table) -> exp.Create:
    columns = [
        exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=exp.DataType.build(kind))
        for name, kind in table.columns
    ]
    columns = [warehouse.stored_column(column, COLUMN_STORAGE[table.name, column.name])
               if (table.name, column.name) in COLUMN_STORAGE else column for column in columns]
    return exp.Create(
        this=exp.Schema(this=warehouse.table(table.name), expressions=columns),
        kind="TABLE",
        exists=True,
    )


def _create_layout_v1(warehouse: Warehouse) -> None:
    for table in TABLES:
        warehouse.execute(create_table(warehouse, table))
    if warehouse.wants_indexes:
        for table, name, columns, unique in INDEXES:
            warehouse.create_index(table, name, columns, unique)


def _index_profile_lookups_v2(warehouse: Warehouse) -> None:
    # DuckDB keeps no indexes in the layout (ART indexes make run's bulk writes several times
    # slower); `serve` answers its lookups from a read model in memory instead (docs/serve.md).
    if warehouse.wants_indexes:
        for table, name, columns, unique in LOOKUP_INDEXES:
            if name not in _COVERED_BY_V1:
                warehouse.create_index(table, name, columns, unique)


def drop_lookup_indexes(warehouse: Warehouse) -> None:
    """Drop the Profile API's lookup indexes on an engine whose layout leaves them out (DuckDB):
    earlier versions of `serve` built them while they held the file, and every write of a later
    run would maintain them."""
    if not warehouse.wants_indexes:
        for _table, name, _columns, _unique in LOOKUP_INDEXES:
            index = exp.table_(name, db=warehouse.schema, quoted=True)
            warehouse.execute(exp.Drop(tables=[index], kind="INDEX", exists=True))


def _index_event_order_v3(warehouse: Warehouse) -> None:
    # An identity run reads the events past its watermark (`seq > n`) a dozen times, and writes
    # their profiles back by seq: without an index, every one of those is a scan of all events.
    if warehouse.wants_indexes:
        warehouse.create_index("events", "events_seq", ("seq",), unique=False)


def _extract_event_identifiers_v4(warehouse: Warehouse) -> None:
    # Events already stored are extracted by the next identity run, as far as it needs them (past
    # its watermark): the tables start empty.
    for name in ("event_identifiers", "event_identifiers_watermark"):
        warehouse.execute(create_table(warehouse, TABLES_BY_NAME[name]))
    if warehouse.wants_indexes:
        warehouse.create_index("event_identifiers", "event_identifiers_seq", ("seq",), unique=False)


# Step n brings the layout from version n-1 to n.
MIGRATIONS: dict[int, Callable[[Warehouse], None]] = {
    1: _create_layout_v1, 2: _index_profile_lookups_v2, 3: _index_event_order_v3,
    4: _extract_event_identifiers_v4}


def current_version(warehouse: Warehouse) -> int:
    if not warehouse.table_exists("layout_version"):
        return 0
    rows = warehouse.fetchall(
        exp.select(exp.func("MAX", exp.column("version"))).from_(warehouse.table("layout_version"))
    )
    return rows[0][0] or 0


def migrate(warehouse: Warehouse) -> int:
    """Create or upgrade the layout; returns the version now in place."""
    with warehouse.transaction():
        version = current_version(warehouse)
        for step in range(version + 1, LAYOUT_VERSION + 1):
            MIGRATIONS[step](warehouse)
        if version < LAYOUT_VERSION:
            # one row per upgrade: the version it reached, in the same transaction as its steps
            warehouse.execute(
                exp.insert(
                    exp.select(exp.Literal.number(LAYOUT_VERSION), exp.CurrentTimestamp()),
                    warehouse.table("layout_version"),
                )
            )
    return max(version, LAYOUT_VERSION)
