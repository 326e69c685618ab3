"""Rendered-once statements with driver-bound values, for the profile reads the server repeats.

`ProfileReader` writes its statements as templates (`warehouse.parse("… WHERE p = :p", p=…)`).
Parsing and rendering a template with sqlglot costs about a millisecond each time, several times
the cost of the query itself, and the Profile API repeats the same few templates thousands of times
a second. This wrapper parses and renders each template once (placeholders kept, so no value is
ever in the SQL text) and hands the values to the driver as bound parameters (`$name` on DuckDB,
`%(name)s` on psycopg). Everything else is the wrapped warehouse's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engagectl.warehouse.base import Warehouse, WarehouseError


@dataclass(frozen=True)
class BoundStatement:
    sql: str
    params: dict[str, Any]


class PreparedWarehouse:
    """A warehouse whose `parse()` results run as cached SQL with bound values."""

    def __init__(self, warehouse: Warehouse) -> None:
        self._warehouse = warehouse
        self._rendered: dict[str, str] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._warehouse, name)

    def parse(self, template: str, **params: Any) -> BoundStatement:
        sql = self._rendered.get(template)
        if sql is None:
            sql = self._warehouse.parse(template).sql(dialect=self._warehouse.dialect)
            self._rendered[template] = sql
        return BoundStatement(sql, params)

    def fetchall(self, statement: Any, params: dict[str, Any] | None = None) -> list[tuple]:
        if isinstance(statement, BoundStatement):
            return self._execute(statement)[1]
        return self._warehouse.fetchall(statement, params)

    def fetch_dicts(self, statement: Any, params: dict[str, Any] | None = None) -> list[dict]:
        if isinstance(statement, BoundStatement):
            columns, rows = self._execute(statement)
            return [dict(zip(columns, row, strict=True)) for row in rows]
        return self._warehouse.fetch_dicts(statement, params)

    def _execute(self, statement: BoundStatement) -> tuple[list[str], list[tuple]]:
        connection = self._warehouse.connection  # type: ignore[attr-defined]
        try:
            cursor = connection.execute(statement.sql, statement.params or None)
        except Exception as exc:  # each driver has its own error base; the caller sees ours
            raise WarehouseError(str(exc).strip()) from exc
        description = cursor.description or []
        columns = [getattr(d, "name", None) or d[0] for d in description]
        return columns, cursor.fetchall()
