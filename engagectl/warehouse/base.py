"""The warehouse interface every engine adapter implements.

Callers hand over sqlglot expressions; the adapter renders them for its engine. Values travel as
sqlglot literals: named placeholders (`exp.Placeholder(this="name")`, `:name` when parsed) are
replaced by literals from `params` before rendering, so no value is ever pasted into SQL text.

Statements a caller repeats many times a second (the Profile API's reads) go through
`Warehouse.prepared()` instead: parsed and rendered once with their placeholders kept, then run
with the values bound by the driver — still never in the SQL text, and without sqlglot's
millisecond of parsing and rendering on every call.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlglot
from sqlglot import exp

from engagectl.diagnostics import EngageError
from engagectl.warehouse.json_paths import json_text, json_value


@functools.lru_cache(maxsize=1024)
def _qualified(template: str, schema: str) -> exp.Expression:
    """A Postgres-syntax template parsed once, layout tables qualified with `schema`; callers copy it."""
    from engagectl.warehouse.layout import TABLES_BY_NAME

    expression = sqlglot.parse_one(template, read="postgres")
    for table in expression.find_all(exp.Table):
        # A placeholder in table position (`FROM :events AS e`) is filled later, by the caller.
        if isinstance(table.this, exp.Placeholder):
            continue
        if not table.args.get("db") and table.name in TABLES_BY_NAME:
            table.set("db", exp.to_identifier(schema, quoted=True))
            table.set("this", exp.to_identifier(table.name, quoted=True))
    return expression


def _fill_placeholders(expression: exp.Expression, params: dict[str, Any]) -> None:
    """Replace `:name` placeholders in place (sqlglot's replace_placeholders copies the whole tree
    first, which costs more than the statement on small runs). An expression placed twice is
    copied the second time, so no node has two parents."""
    placed: set[str] = set()
    for placeholder in list(expression.find_all(exp.Placeholder)):
        name = placeholder.this
        if name not in params:
            continue
        value = params[name]
        if isinstance(value, exp.Expression) and name in placed:
            value = value.copy()
        placed.add(name)
        placeholder.replace(exp.convert(value))


class WarehouseError(EngageError):
    """The warehouse refused a statement or could not be reached."""


def quoted_column(name: str, table: str | None = None) -> exp.Column:
    """A column reference that is safe for names that are also keywords (`timestamp`, `commit`)."""
    return exp.column(name, table=table, quoted=True)


@dataclass(frozen=True)
class PreparedStatement:
    """A statement rendered once for one warehouse; each call binds its `:name` values as parameters."""

    warehouse: Warehouse
    sql: str

    def fetchall(self, **params: Any) -> list[tuple]:
        return self.warehouse._run_bound(self.sql, params, fetch=True)[1]

    def fetch_dicts(self, **params: Any) -> list[dict]:
        columns, rows = self.warehouse._run_bound(self.sql, params, fetch=True)
        return [dict(zip(columns, row, strict=True)) for row in rows]

    def execute(self, **params: Any) -> None:
        self.warehouse._run_bound(self.sql, params, fetch=False)


class Warehouse:
    """One connection to the warehouse, with the layout created and migrated on open."""

    dialect: str = ""
    wants_indexes: bool = False
    # A column store reads a few columns of a table again cheaply; a row store reads every row
    # whole, so there a result used twice is better stored than computed twice.
    columnar: bool = False

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._depth = 0
        self._prepared: dict[str, PreparedStatement] = {}
        # Transactions committed through this connection: a cache of warehouse data (the
        # server's read model) compares it to know when its own process may have changed the data.
        self.commits = 0

    # ---- naming -----------------------------------------------------------------------------

    def table(self, name: str) -> exp.Table:
        """A table of engagectl's layout, qualified with the warehouse schema."""
        return exp.table_(name, db=self.schema, quoted=True)

    @staticmethod
    def temp_table(name: str) -> exp.Table:
        """A session-local scratch table (unqualified: both engines resolve it in their temp schema)."""
        return exp.table_(name, quoted=True)

    # ---- statements -------------------------------------------------------------------------

    def render(self, expression: exp.Expression | str, params: dict[str, Any] | None = None) -> str:
        if isinstance(expression, str):
            expression = sqlglot.parse_one(expression, read=self.dialect)
        if params:
            expression = exp.replace_placeholders(expression.copy(), **params)
        # sqlglot copies the whole tree before rendering unless told not to: a statement is built
        # for this engine and run once, so rendering it in place (its rewrites for this dialect
        # give the same SQL if it is ever rendered again) saves a third of the time rendering takes.
        return expression.sql(dialect=self.dialect, copy=False)

    def parse(self, template: str, **params: Any) -> exp.Expression:
        """A statement written in Postgres syntax, as a sqlglot expression for this engine.

        Tables of engagectl's layout named without a schema are qualified with the warehouse's;
        `:name` placeholders become literals from `params` (values never enter the SQL text).
        """
        expression = _qualified(template, self.schema).copy()
        if params:
            _fill_placeholders(expression, params)
        return expression

    def prepared(self, name: str, build: Callable[[], exp.Expression | str]) -> PreparedStatement:
        """The statement called `name`, built by `build()` and rendered the first time only.

        `build` returns an expression (or Postgres-syntax text, read like `parse()`) whose values
        are `:name` placeholders; the caller binds them on each call:
        `warehouse.prepared("profile", lambda: warehouse.parse("… WHERE p = :p")).fetchall(p=…)`.
        """
        statement = self._prepared.get(name)
        if statement is None:
            expression = build()
            if isinstance(expression, str):
                expression = self.parse(expression)
            statement = PreparedStatement(self, self._render_prepared(expression))
            self._prepared[name] = statement
        return statement

    def execute(self, expression: exp.Expression | str, params: dict[str, Any] | None = None) -> None:
        self._run(self.render(expression, params), fetch=False)

    def fetchall(self, expression: exp.Expression | str, params: dict[str, Any] | None = None) -> list[tuple]:
        return self._run(self.render(expression, params), fetch=True)[1]

    def fetch_dicts(self, expression: exp.Expression | str, params: dict[str, Any] | None = None) -> list[dict]:
        columns, rows = self._run(self.render(expression, params), fetch=True)
        return [dict(zip(columns, row)) for row in rows]

    def iterate(self, expression: exp.Expression | str, params: dict[str, Any] | None = None,
                batch: int = 50_000) -> Iterator[tuple]:
        """Rows of a query, fetched in batches (large results never sit in memory at once)."""
        yield from self._run(self.render(expression, params), fetch=True)[1]

    def execute_script(self, statements: Iterable[exp.Expression]) -> None:
        for statement in statements:
            self.execute(statement)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """One transaction; nested uses join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield self
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self._rollback()
            raise
        self._depth = 0
        self._commit()
        self.commits += 1

    # ---- what each engine provides ------------------------------------------------------------

    def _run(self, sql: str, fetch: bool) -> tuple[list[str], list[tuple]]:
        raise NotImplementedError

    def _render_prepared(self, expression: exp.Expression) -> str:
        """A prepared statement's SQL, its placeholders in the driver's spelling."""
        return expression.sql(dialect=self.dialect, copy=False)

    def _run_bound(self, sql: str, params: dict[str, Any], fetch: bool) -> tuple[list[str], list[tuple]]:
        """Run SQL whose placeholders the driver fills from `params` (see `prepared()`)."""
        raise NotImplementedError

    def _begin(self) -> None:
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def table_exists(self, name: str) -> bool:
        rows = self.fetchall(
            exp.select("1")
            .from_(exp.table_("tables", db="information_schema"))
            .where(exp.column("table_schema").eq(exp.Literal.string(self.schema)))
            .where(exp.column("table_name").eq(exp.Literal.string(name)))
        )
        return bool(rows)

    def create_index(self, table: str, name: str, columns: Sequence[str], unique: bool) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def sharing_cores(self) -> Iterator[None]:
        """While the process keeps a core busy with work of its own beside a statement: an engine
        that runs in-process may hold itself to one thread fewer meanwhile. A server engine runs
        elsewhere: nothing to do."""
        yield

    def refresh_statistics(self, table: str) -> None:
        """Bring the planner's statistics of a layout table up to date after bulk writes (engines
        that keep them as they write need nothing)."""

    def stored_column(self, column: exp.ColumnDef, storage: str) -> exp.ColumnDef:
        """`column` as the engine best stores one of its kind (`layout.COLUMN_STORAGE`): "archive"
        (text written once, read in few places) or "plain" (unique keys written in bulk)."""
        return column

    def load_lines(self, target: exp.Table, path: Path) -> None:
        """Copy every line of a (plain or gzip) file into a scratch relation `target(line_no, line)`
        with the engine's loader; line_no counts from 1, a blank line is NULL or only whitespace."""
        raise NotImplementedError

    def drop_lines(self, target: exp.Table) -> None:
        """Remove what `load_lines` made (nothing when it is not there)."""
        self.execute(exp.Drop(tables=[target], kind="TABLE", exists=True))

    def insert_rows(self, target: exp.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Bulk-insert Python rows (identity results) through the engine's fast path."""
        raise NotImplementedError

    def fetch_arrays(self, expression: exp.Expression) -> dict[str, np.ndarray]:
        """A query's result as one numpy array per column (numbers only: the identity run's input)."""
        columns, rows = self._run(self.render(expression), fetch=True)
        return {name: np.array([row[i] for row in rows], dtype=np.int64) for i, name in enumerate(columns)}

    def scratch(self, name: str, query: exp.Expression) -> exp.Table:
        """A session-local scratch table holding `query`'s rows (replacing one of that name)."""
        table = self.temp_table(name)
        self._replace_scratch(table, query)
        return table

    def numbered_scratch(self, name: str, rows: exp.Select, order: list[exp.Expression], number: str) -> exp.Table:
        """A scratch table (`scratch`) of `rows`, each with its place in `order` as the column
        `number` (0, 1, …; `order` must leave no two rows tied)."""
        ranked = exp.Window(this=exp.RowNumber(), order=exp.Order(expressions=[o.copy() for o in order]))
        return self.scratch(name, exp.select((ranked - exp.Literal.number(1)).as_(number), exp.Star()).from_(
            rows.subquery("r", copy=False)))

    def _replace_scratch(self, table: exp.Table, query: exp.Expression) -> None:
        self.execute(exp.Drop(tables=[table], kind="TABLE", exists=True))
        self.execute(exp.Create(this=table.copy(), kind="TABLE", expression=query,
                                properties=exp.Properties(expressions=[exp.TemporaryProperty()])))

    def drop_scratch(self, name: str) -> None:
        """The scratch table `name` (`scratch`, `load_arrays`) gone, if there is one."""
        self.execute(exp.Drop(tables=[self.temp_table(name)], kind="TABLE", exists=True))

    def load_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> exp.Table:
        """A session-local scratch table of BIGINT columns holding `arrays` (equal lengths): a
        table, or a view of the arrays where the engine scans them in place. `drop_scratch`
        drops either."""
        table = self.temp_table(name)
        self.execute(exp.Drop(tables=[table], kind="TABLE", exists=True))
        self.execute(exp.Create(this=exp.Schema(this=table, expressions=[
            exp.ColumnDef(this=exp.to_identifier(column, quoted=True), kind=exp.DataType.build("BIGINT"))
            for column in arrays]), kind="TABLE", properties=exp.Properties(expressions=[exp.TemporaryProperty()])))
        columns = list(arrays)
        self.insert_rows(table, columns, list(zip(*(arrays[c].tolist() for c in columns), strict=True)))
        return table

    # JSON and text functions whose spelling differs per engine.

    def try_timestamp(self, text: exp.Expression) -> exp.Expression:
        """An ISO-8601 string as a UTC TIMESTAMP, or NULL when it is not one."""
        raise NotImplementedError

    def message_record(self, message: exp.Expression) -> exp.Expression:
        """A message's text parsed once, read by `message_field`; NULL when the text is not JSON."""
        raise NotImplementedError

    def message_json(self, message: exp.Expression, record: exp.Expression) -> exp.Expression:
        """The message as the JSON type (the `raw` column), given its text and `message_record`;
        NULL when the text is not JSON."""
        return record

    def message_field(self, record: exp.Expression, key: str, as_json: bool, message: exp.Expression) -> exp.Expression:
        """A top-level field of a parsed message (`record`, of the text `message`): text, or JSON
        when `as_json`."""
        return json_value(record, key) if as_json else json_text(record, key)

    def json_fields(self, rows: exp.Select, document: str,
                    fields: dict[str, tuple[tuple[str, ...], bool]]) -> exp.Select:
        """Every row of `rows` with its column `document` (JSON) replaced by one column per field:
        the text at the field's path, or the JSON there when its flag is set (NULL when missing)."""
        source = exp.column(document, table="r")
        read = [(json_value if as_json else json_text)(source, *path).as_(name)
                for name, (path, as_json) in fields.items()]
        kept = [exp.column(c, table="r") for c in rows.named_selects if c != document]
        return exp.select(*kept, *read).from_(rows.subquery("r", copy=False))

    def json_entries(self, rows: exp.Select, document: str) -> exp.Select:
        """Every row of `rows` once per key of its JSON object column `document`, with columns
        `key`, `value` (JSON) and `position` (the entry's place in the document, counted from 1:
        of a key written twice, the later entry is the one a JSON parser keeps) added; a
        document that is not an object gives no rows."""
        is_object = exp.func("JSON_TYPEOF", exp.column(document)).eq(exp.Literal.string("object"))
        # The check runs inside the subquery, before JSON_EACH sees a row (it refuses non-objects).
        return self.parse("""
            SELECT r.*, t.key, t.value, t.position
            FROM :rows AS r CROSS JOIN JSON_EACH(:document) WITH ORDINALITY AS t(key, value, position)""",
                          rows=rows.where(is_object).subquery(), document=exp.column(document, table="r"))

    def latest_rows(self, rows: exp.Select, group: list[str], order: list[str], columns: list[str]) -> exp.Select:
        """One row per `group` of `rows`: the group's columns and `columns` of its last row by
        `order` (the greatest, compared column by column; no two rows of a group may tie)."""
        ranked = exp.Window(this=exp.RowNumber(), partition_by=[exp.column(c) for c in group],
                            order=exp.Order(expressions=[exp.Ordered(this=exp.column(c), desc=True) for c in order]))
        inner = exp.select(*[exp.column(c) for c in group + columns], ranked.as_("engage_rank")).from_(
            rows.subquery("r"))
        return exp.select(*[exp.column(c) for c in group + columns]).from_(inner.subquery("ranked")).where(
            exp.column("engage_rank").eq(exp.Literal.number(1)))

    def json_array_items(self, array: exp.Expression) -> exp.Expression:
        """A set-returning select item: one row per element of a JSON array, each as JSON."""
        raise NotImplementedError

    def is_json_array(self, document: exp.Expression) -> exp.Expression:
        """True when a JSON value is an array (NULL for SQL NULL)."""
        return exp.func("JSON_TYPEOF", document).eq(exp.Literal.string("array"))

    def unstorable_text(self, line: exp.Expression) -> exp.Expression | None:
        """A condition true for a JSON line this engine cannot store as text, or None when every
        JSON line can be stored."""
        return None

    def md5_base64(self, text: exp.Expression) -> exp.Expression:
        """The MD5 digest of `text` in base64: 24 characters."""
        raise NotImplementedError

    def digest_text(self, text: exp.Expression, length: int) -> exp.Expression:
        """The first `length` characters of `md5_base64(text)`, URL-safe (base64url: `-` and `_`
        for `+` and `/`)."""
        prefix = exp.Substring(this=self.md5_base64(text), start=exp.Literal.number(1),
                               length=exp.Literal.number(length))
        # Two REPLACEs on the prefix: TRANSLATE took DuckDB twice as long.
        for plain, safe in (("+", "-"), ("/", "_")):
            prefix = exp.func("REPLACE", prefix, exp.Literal.string(plain), exp.Literal.string(safe))
        return prefix

    def hash_key(self, *parts: exp.Expression) -> exp.Expression | None:
        """A 64-bit hash of `parts`, for joining tens of millions of rows on one number instead
        of on text; None where the engine joins on the text itself. Two values may share a key:
        a caller checks its keys are distinct before it joins on them."""
        return None

    def row_locator(self, alias: str) -> exp.Expression | None:
        """Where a row of the table aliased `alias` lies, valid to the end of the transaction
        whatever is updated or deleted meanwhile, so a later UPDATE of that row finds it without
        a join on its keys. None where a row moves when it is updated (Postgres's ctid)."""
        return None

    def epoch_us(self, moment: exp.Expression) -> exp.Expression:
        """A TIMESTAMP as whole microseconds since 1970-01-01 (BIGINT)."""
        raise NotImplementedError

    def from_epoch_us(self, micros: exp.Expression) -> exp.Expression:
        """Whole microseconds since 1970-01-01 as a TIMESTAMP (the inverse of `epoch_us`)."""
        raise NotImplementedError
