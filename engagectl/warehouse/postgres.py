"""Postgres as the warehouse (a `postgresql+psycopg://…` URL)."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.string import TextLoader
from sqlalchemy.engine import URL
from sqlglot import exp

from engagectl.warehouse.base import Warehouse, WarehouseError
from engagectl.warehouse.json_paths import json_value

_COPY_CHUNK = 1 << 20

# Postgres 15 has no `IS JSON` nor TRY_CAST: two small functions in the warehouse schema give
# the loader "parse or NULL" semantics. Their bodies hold no values, only the schema name.
_HELPERS = (
    """CREATE OR REPLACE FUNCTION {schema}.engage_try_jsonb(t text) RETURNS jsonb
       LANGUAGE plpgsql VOLATILE AS $$ BEGIN RETURN t::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END $$""",
    """CREATE OR REPLACE FUNCTION {schema}.engage_try_timestamp(t text) RETURNS timestamp
       LANGUAGE plpgsql VOLATILE AS $$ BEGIN
         IF t IS NULL OR t !~ '^\\d{{4}}-\\d{{2}}-\\d{{2}}' THEN RETURN NULL; END IF;
         RETURN (t::timestamptz) AT TIME ZONE 'UTC';
       EXCEPTION WHEN others THEN RETURN NULL; END $$""",
)


def _conninfo(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresWarehouse(Warehouse):
    dialect = "postgres"
    wants_indexes = True

    def __init__(self, url: URL, schema: str) -> None:
        super().__init__(schema)
        try:
            self.connection = psycopg.connect(_conninfo(url), autocommit=True)
        except psycopg.Error as exc:
            raise WarehouseError(f"cannot connect to the Postgres warehouse: {exc}") from exc
        self.connection.execute("SET TIME ZONE 'UTC'")
        # JSON comes back as text, as it does from DuckDB: callers parse it where they need to.
        for json_type in ("json", "jsonb"):
            self.connection.adapters.register_loader(json_type, TextLoader)
        self.execute(exp.Create(this=exp.to_identifier(schema, quoted=True), kind="SCHEMA", exists=True))
        quoted_schema = exp.to_identifier(schema, quoted=True).sql("postgres")
        for helper in _HELPERS:
            self._run(helper.format(schema=quoted_schema), fetch=False)
        self._transaction = None

    def _run(self, sql: str, fetch: bool):
        try:
            cursor = self.connection.execute(sql, prepare=False)
            if not fetch:
                return [], []
            columns = [d.name for d in cursor.description] if cursor.description else []
            return columns, cursor.fetchall()
        except psycopg.Error as exc:
            raise WarehouseError(f"{exc}".strip()) from exc

    def _render_prepared(self, expression: exp.Expression) -> str:
        # With parameters, psycopg reads every `%` as the start of a placeholder: double the
        # ones inside string literals (`LIKE 'a%'`).
        def escape(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.Literal) and node.is_string and "%" in node.this:
                return exp.Literal.string(node.this.replace("%", "%%"))
            return node

        return expression.transform(escape).sql(dialect=self.dialect)

    def _run_bound(self, sql: str, params: dict[str, Any], fetch: bool):
        # `%(name)s` placeholders; psycopg prepares a statement server-side once it repeats
        try:
            cursor = self.connection.execute(sql, params or None)
            if not fetch:
                return [], []
            columns = [d.name for d in cursor.description] if cursor.description else []
            return columns, cursor.fetchall()
        except psycopg.Error as exc:
            raise WarehouseError(f"{exc}".strip()) from exc

    def _begin(self) -> None:
        self._transaction = self.connection.transaction()
        self._transaction.__enter__()

    def _commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        transaction.__exit__(None, None, None)

    def _rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        try:
            raise _Rollback()
        except _Rollback as exc:
            transaction.__exit__(type(exc), exc, exc.__traceback__)

    def close(self) -> None:
        self.connection.close()

    def create_index(self, table: str, name: str, columns: Sequence[str], unique: bool) -> None:
        self.execute(
            exp.Create(
                this=exp.Index(
                    this=exp.to_identifier(f"{name}", quoted=True),
                    table=self.table(table),
                    params=exp.IndexParameters(columns=[exp.to_identifier(c, quoted=True) for c in columns]),
                ),
                kind="INDEX", exists=True, unique=unique,
            )
        )

    def refresh_statistics(self, table: str) -> None:
        # Autovacuum analyzes a freshly loaded table only later: until then the planner takes
        # `seq > n` for a third of the table and scans it all instead of using the index.
        self.execute(exp.Analyze(tables=[self.table(table)]))

    def _copy_sql(self, target: exp.Table, columns: Sequence[str], options: str) -> str:
        column_list = ", ".join(exp.to_identifier(c, quoted=True).sql("postgres") for c in columns)
        return f"COPY {target.sql('postgres')} ({column_list}) FROM STDIN {options}"

    def load_lines(self, target: exp.Table, path: Path) -> None:
        self.execute(exp.Drop(tables=[target], kind="TABLE", exists=True))
        self.execute(exp.Create(this=exp.Schema(this=target, expressions=[
            exp.ColumnDef(this=exp.to_identifier("line_no"), kind=exp.DataType(this=exp.DataType.Type.BIGSERIAL),
                          constraints=[]),
            exp.ColumnDef(this=exp.to_identifier("line"), kind=exp.DataType.build("TEXT")),
        ]), kind="TABLE", properties=exp.Properties(expressions=[exp.TemporaryProperty()])))
        # CSV with quote and delimiter bytes JSON never contains: each line arrives verbatim (the
        # text format would undo JSON's backslash escapes). line_no is assigned in file order.
        sql = self._copy_sql(target, ["line"], "WITH (FORMAT csv, DELIMITER E'\\x1f', QUOTE E'\\x1e')")
        opener = gzip.open if _is_gzip(path) else open
        try:
            with opener(path, "rb") as handle, self.connection.cursor().copy(sql) as copy:
                while chunk := handle.read(_COPY_CHUNK):
                    copy.write(chunk)
        except psycopg.Error as exc:
            raise WarehouseError(f"{exc}".strip()) from exc

    def insert_rows(self, target: exp.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            with self.connection.cursor().copy(self._copy_sql(target, columns, "")) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise WarehouseError(f"{exc}".strip()) from exc

    def message_record(self, message: exp.Expression) -> exp.Expression:
        # Parsed once into jsonb, whose fields are read without parsing again (a json value is
        # text: each field read would parse the whole message).
        return self._helper("engage_try_jsonb", message)

    def message_field(self, record: exp.Expression, key: str, as_json: bool, message: exp.Expression) -> exp.Expression:
        if not as_json:
            return exp.Anonymous(this="jsonb_extract_path_text", expressions=[record, exp.Literal.string(key)])
        # Documents keep their text as it came (jsonb would reorder keys and rewrite numbers), so
        # they are read from the message's text, once `record` has shown it is JSON.
        return exp.If(this=record.is_(exp.null()).not_(),
                      true=json_value(exp.cast(message, exp.DataType.build("JSON")), key))

    def message_json(self, message: exp.Expression, record: exp.Expression) -> exp.Expression:
        return exp.If(this=record.is_(exp.null()).not_(), true=exp.cast(message, exp.DataType.build("JSON")))

    def try_timestamp(self, text: exp.Expression) -> exp.Expression:
        # The helper's exception block costs a subtransaction per call, even for NULL.
        return exp.If(this=text.is_(exp.null()).not_(), true=self._helper("engage_try_timestamp", text.copy()))

    def _helper(self, name: str, argument: exp.Expression) -> exp.Expression:
        """A call of one of the schema's helper functions (see _HELPERS)."""
        return exp.Dot(this=exp.to_identifier(self.schema, quoted=True),
                       expression=exp.Anonymous(this=name, expressions=[argument]))

    def json_array_items(self, array: exp.Expression) -> exp.Expression:
        return exp.func("json_array_elements", array)

    def unstorable_text(self, line: exp.Expression) -> exp.Expression:
        # Postgres text cannot hold a NUL character, so a JSON string with the escape \u0000
        # cannot be read out of a json value. The escape is the one after an even run of
        # backslashes (an odd run escapes the backslash itself); most lines skip the regex.
        escape = exp.RegexpLike(this=line, expression=exp.Literal.string(r"(^|[^\\])(\\\\)*\\u0000"))
        mentions = exp.GT(this=exp.func("STRPOS", line, exp.Literal.string("\\u0000")),
                          expression=exp.Literal.number(0))
        return exp.Case(ifs=[exp.If(this=mentions, true=escape)], default=exp.false())

    def md5_base64(self, text: exp.Expression) -> exp.Expression:
        # Base64 of 16 bytes is 24 characters: ENCODE breaks lines only past 76.
        return exp.func("ENCODE", exp.func("DECODE", exp.MD5(this=text), exp.Literal.string("hex")),
                        exp.Literal.string("base64"))

    def epoch_us(self, moment: exp.Expression) -> exp.Expression:
        # EXTRACT(EPOCH …) is numeric (exact) since Postgres 14: no float rounding of microseconds.
        seconds = exp.Extract(this=exp.var("EPOCH"), expression=moment)
        return exp.cast(exp.Mul(this=seconds, expression=exp.Literal.number(1_000_000)), "BIGINT")

    def from_epoch_us(self, micros: exp.Expression) -> exp.Expression:
        # Interval arithmetic is in whole microseconds: exact, unlike to_timestamp(double).
        epoch = exp.cast(exp.Literal.string("1970-01-01 00:00:00"), "TIMESTAMP")
        step = exp.Interval(this=exp.Literal.string("1"), unit=exp.var("MICROSECOND"))
        return exp.Add(this=epoch, expression=exp.Mul(this=micros, expression=step))


class _Rollback(Exception):
    pass


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"
