"""Loading a test's fixtures into its throw-away warehouse and running the pipeline on them.

The order is a real run's: events are ingested, `tables:` become real tables (for SQL traits),
identities are resolved, then the computations run at the test's `as_of`. A `changes:`
expectation needs two runs: the events up to `from` are loaded and computed at `from`, then the
rest are loaded and computed at `as_of`, so the second run's change log is what a sync would send.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlglot import exp

from engagectl.config.loader import Project
from engagectl.testing.model import parse_as_of
from engagectl.testing.parser import TestCase

FIXTURE_SOURCE = "test"


@dataclass
class FixtureRun:
    """What the expectations read: the warehouse after the last run, and that run's id."""

    warehouse: Any
    project: Project
    as_of: datetime
    run_id: str | None
    first_run_id: str | None = None
    # Fixture messages the ingest refused, with why: evidence when an expectation fails.
    rejected_events: list[str] = field(default_factory=list)


def run_fixture(case: TestCase, project: Project, warehouse: Any) -> FixtureRun:
    """Load the test's fixtures into `warehouse` and compute; returns what the expectations need."""
    keys = list(case.spec.select) if case.spec.select else None
    create_fixture_tables(warehouse, case.spec.tables)
    changes = case.spec.expect.changes
    first_run_id = None
    rejected: list[str] = []
    if changes is not None:
        before = parse_as_of(changes.from_)
        early = [m for m in case.events if not _after(m, before)]
        late = [m for m in case.events if _after(m, before)]
        rejected += _load_events(warehouse, project, early)
        first_run_id = _run_id(_compute(project, warehouse, before, keys))
        rejected += _load_events(warehouse, project, late)
    else:
        rejected += _load_events(warehouse, project, case.events)
    run_id = _run_id(_compute(project, warehouse, case.as_of, keys))
    return FixtureRun(warehouse=warehouse, project=project, as_of=case.as_of, run_id=run_id,
                      first_run_id=first_run_id, rejected_events=rejected)


def _after(message: dict, moment: datetime) -> bool:
    """Whether a message happened after `moment` (messages without a readable timestamp: no)."""
    stamp = message.get("timestamp") or message.get("originalTimestamp") or message.get("sentAt")
    if not isinstance(stamp, str):
        return False
    try:
        return parse_as_of(stamp) > moment
    except ValueError:
        return False


def _load_events(warehouse: Any, project: Project, messages: list[dict]) -> list[str]:
    """Ingest and resolve a batch of fixture messages; returns the refused ones, with why."""
    from engagectl.identity import resolve_identities
    from engagectl.ingest import ingest_messages

    rejected = []
    if messages:
        report = ingest_messages(warehouse, messages, source=FIXTURE_SOURCE)
        for error in report.errors:
            index = (error.line or 0) - 1
            shown = json.dumps(messages[index], sort_keys=True, default=str) if 0 <= index < len(messages) else "?"
            rejected.append(f"{shown}: {error.message}")
    resolve_identities(warehouse, project.settings.identity)
    return rejected


def _compute(project: Project, warehouse: Any, as_of: datetime, keys: list[str] | None) -> Any:
    from engagectl.compute import run_computations

    return run_computations(project, warehouse, as_of, keys=keys)


def _run_id(result: Any) -> str | None:
    return getattr(result, "run_id", None)


# --------------------------------------------------------------------------------------------
# `tables:` — rows for SQL traits, as real tables
# --------------------------------------------------------------------------------------------


def fixture_table(warehouse: Any, name: str) -> exp.Table:
    """Where a fixture table lives: where an unqualified name in a SQL trait's query finds it.

    DuckDB's default schema is `main` (the file is ours alone); on Postgres the test's own schema,
    so that concurrent tests never see each other's rows.
    """
    if warehouse.dialect == "duckdb":
        return exp.table_(name, quoted=True)
    return exp.table_(name, db=warehouse.schema, quoted=True)


def create_fixture_tables(warehouse: Any, tables: dict[str, list[dict[str, Any]]]) -> None:
    for name, rows in tables.items():
        columns = _columns(rows)
        target = fixture_table(warehouse, name)
        schema = exp.Schema(this=target, expressions=[
            exp.ColumnDef(this=exp.to_identifier(column, quoted=True), kind=exp.DataType.build(sql_type))
            for column, sql_type in columns.items()
        ])
        warehouse.execute(exp.Create(this=schema, kind="TABLE"))
        values = [
            exp.Tuple(expressions=[_literal(row.get(column), sql_type) for column, sql_type in columns.items()])
            for row in rows
        ]
        warehouse.execute(exp.Insert(
            this=exp.Schema(this=target, expressions=[exp.to_identifier(c, quoted=True) for c in columns]),
            expression=exp.Values(expressions=values),
        ))


def _columns(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Every column of the rows, in first-seen order, with a type inferred from its values."""
    seen: dict[str, list[Any]] = {}
    for row in rows:
        for column, value in row.items():
            seen.setdefault(str(column), []).append(value)
    return {column: infer_type([v for v in values if v is not None]) for column, values in seen.items()}


def infer_type(values: list[Any]) -> str:
    """The SQL type that holds every value: BOOLEAN, BIGINT, DOUBLE, JSON, or TEXT otherwise."""
    kinds = {_kind(v) for v in values}
    if not kinds:
        return "TEXT"
    if kinds == {"boolean"}:
        return "BOOLEAN"
    if kinds == {"integer"}:
        return "BIGINT"
    if kinds <= {"integer", "double"}:
        return "DOUBLE"
    if kinds == {"json"}:
        return "JSON"
    return "TEXT"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "double"
    if isinstance(value, (dict, list)):
        return "json"
    return "text"


def _literal(value: Any, sql_type: str) -> exp.Expression:
    if value is None:
        return exp.null()
    if sql_type == "JSON":
        return exp.cast(exp.Literal.string(json.dumps(value)), exp.DataType.build("JSON"))
    if sql_type == "TEXT":
        text = value if isinstance(value, str) else json.dumps(value)
        return exp.Literal.string(text)
    if sql_type == "DOUBLE":
        return exp.Literal.number(repr(float(value)))
    return exp.convert(value)
