"""Small sqlglot builders a run shares: literals, JSON text of a value, and staging tables.

Values are compared as JSON *text* (Postgres' `json` type has no equality operator), so every
snapshot keeps its value column as TEXT and casts to JSON only when writing the layout's tables.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlglot import exp

if TYPE_CHECKING:
    from engagectl.warehouse.base import Warehouse


def utc_naive(moment: datetime) -> datetime:
    """The warehouse stores UTC timestamps without a zone."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def timestamp(moment: datetime) -> exp.Expression:
    """A TIMESTAMP literal (UTC)."""
    return exp.cast(exp.Literal.string(utc_naive(moment).isoformat(sep=" ")), exp.DataType.build("TIMESTAMP"))


def text(expression: exp.Expression) -> exp.Expression:
    return exp.cast(expression, exp.DataType.build("TEXT"))


def json_of(expression: exp.Expression, dialect: str) -> exp.Expression:
    """JSON text as the layout's JSON type, for an INSERT.

    Postgres needs the cast; DuckDB's JSON is text underneath and an explicit cast would
    re-parse every value (a quarter of the cost of writing a large snapshot).
    """
    if dialect == "duckdb":
        return expression
    return exp.cast(expression, exp.DataType.build("JSON"))


def json_text(expression: exp.Expression) -> exp.Expression:
    """The JSON text of a SQL value (`TO_JSON` reads the same on DuckDB and Postgres)."""
    return text(exp.func("TO_JSON", expression))


def json_object_text(pairs: list[tuple[str, exp.Expression]], dialect: str) -> exp.Expression:
    """The JSON text of an object built from (name, value) pairs, in the engine's own function."""
    arguments: list[exp.Expression] = []
    for name, value in pairs:
        arguments.extend([exp.Literal.string(name), value])
    function = "JSON_BUILD_OBJECT" if dialect == "postgres" else "JSON_OBJECT"
    return text(exp.Anonymous(this=function, expressions=arguments))


def column(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table=table, quoted=True)


class Staging:
    """Temporary tables of one run, named uniquely and dropped when the run ends.

    They are TEMPORARY (session-local, never seen by other readers) and live only inside the
    run's transaction, so a failed run leaves nothing behind.
    """

    def __init__(self, warehouse: "Warehouse") -> None:
        self.warehouse = warehouse
        self._prefix = f"engage_stage_{uuid.uuid4().hex[:8]}"
        self._counter = itertools.count(1)
        self._names: list[str] = []

    def create(self, query: exp.Expression, label: str = "t") -> exp.Table:
        """CREATE TEMPORARY TABLE … AS query; returns the new table."""
        name = f"{self._prefix}_{label}_{next(self._counter)}"
        table = exp.to_table(name)
        self.warehouse.execute(
            exp.Create(
                this=table.copy(),
                kind="TABLE",
                expression=query,
                properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
            )
        )
        self._names.append(name)
        return table

    def drop(self, table: exp.Table) -> None:
        self.warehouse.execute(exp.Drop(tables=[table.copy()], kind="TABLE", exists=True))
        self._names = [n for n in self._names if n != table.name]

    def drop_all(self) -> None:
        for name in list(self._names):
            self.drop(exp.to_table(name))

    def columns(self, table: exp.Table) -> list[str]:
        """Column names of a staging table, in order (also when it holds no rows)."""
        # Temporary tables live in the session's own schema; their generated names are unique.
        rows = self.warehouse.fetchall(
            exp.select("column_name")
            .from_(exp.to_table("information_schema.columns"))
            .where(exp.column("table_name").eq(exp.Literal.string(table.name)))
            .order_by("ordinal_position")
        )
        return [row[0] for row in rows]
