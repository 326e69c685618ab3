"""The state database's tables. Other packages (sync, tokens) add their tables to `metadata`.

- `meta`: one row, the state's lineage (a uuid fixed at the first apply) and serial (bumped by
  every apply that changes something, never by a no-op).
- `resources`: each applied resource's canonical spec, its hash, `protect`, and the serial that
  last wrote it.
- `tombstones`: every key ever retired, per namespace, so it is never reused.
- `applies`: the history of applies (when, who, git commit, plan hash, serial).
- `locks`: at most one row per lock name, naming its holder; the row is the lock.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
)
from sqlalchemy.engine import Engine

from engagectl.urls import parse_database_url

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1: the state has one lineage
    Column("lineage", String(64), nullable=False),
    Column("serial", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

resources = Table(
    "resources",
    metadata,
    Column("address", String(300), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("key", String(255), nullable=False),
    Column("spec", Text, nullable=False),  # canonical JSON, `${env:…}` kept as written
    Column("hash", String(64), nullable=False),
    Column("protect", Boolean, nullable=False, default=False),
    Column("serial", Integer, nullable=False),  # the apply that last wrote this row
    Column("created_serial", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

tombstones = Table(
    "tombstones",
    metadata,
    # keys are unique per namespace: audiences, traits and journey steps share `trait`
    Column("namespace", String(32), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("address", String(300), nullable=False),
    Column("reason", Text, nullable=False),
    Column("serial", Integer, nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=False),
)

applies = Table(
    "applies",
    metadata,
    Column("serial", Integer, primary_key=True),
    Column("lineage", String(64), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
    Column("applied_by", String(255), nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("plan_hash", String(64), nullable=False),
    Column("summary", Text, nullable=False),  # JSON: the plan's summary counts
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(64), primary_key=True),  # the primary key makes a second holder impossible
    Column("id", String(64), nullable=False, unique=True),
    Column("holder", String(255), nullable=False),
    Column("operation", String(64), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
)


def state_engine(raw_url: str, project_dir: str = ".") -> tuple[Engine, str | None]:
    """An engine for the state URL and the schema its tables live in (None: the default)."""
    parsed = parse_database_url(raw_url, project_dir)
    connect_args: dict = {}
    if parsed.backend == "sqlite" and parsed.url.database:
        from pathlib import Path

        if parsed.url.database != ":memory:":
            Path(parsed.url.database).parent.mkdir(parents=True, exist_ok=True)
        # a second writer waits for SQLite's file lock instead of failing at once
        connect_args["timeout"] = 30
    engine = create_engine(parsed.url, future=True, connect_args=connect_args)
    if parsed.schema:
        engine = engine.execution_options(schema_translate_map={None: parsed.schema})
    return engine, parsed.schema
