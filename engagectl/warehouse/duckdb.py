"""The embedded DuckDB warehouse (the default: a file under `.engage/`)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
from sqlglot import exp

from engagectl.warehouse.base import Warehouse, WarehouseError

# JSON never holds a raw 0x1F, so using it as the CSV delimiter turns every line into one field.
_LINE_DELIMITER = "\x1f"
_MAX_LINE = 64 * 1024 * 1024


def _sorted_name(name: str) -> str:
    """The table holding the rows of the numbered scratch view `name`."""
    return f"{name}_sorted"


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"
    # ART indexes slow bulk loads and cost memory; hash joins do the work instead.
    wants_indexes = False
    columnar = True

    def __init__(self, database: str, schema: str, settings: dict[str, str] | None = None) -> None:
        super().__init__(schema)
        self._numbered: set[str] = set()  # scratch names that are views (`numbered_scratch`)
        if database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.connection = duckdb.connect(database, config=settings or {})
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open the DuckDB warehouse {database}: {exc}") from exc
        self.connection.execute("SET TimeZone = 'UTC'")
        self.execute(exp.Create(this=exp.to_identifier(schema, quoted=True), kind="SCHEMA", exists=True))

    def _run(self, sql: str, fetch: bool):
        try:
            cursor = self.connection.execute(sql)
            if not fetch:
                return [], []
            columns = [d[0] for d in cursor.description] if cursor.description else []
            return columns, cursor.fetchall()
        except duckdb.Error as exc:
            raise WarehouseError(f"{exc}") from exc

    def _run_bound(self, sql: str, params: dict[str, Any], fetch: bool):
        # `$name` placeholders, filled by DuckDB from the dict
        try:
            cursor = self.connection.execute(sql, params or None)
            if not fetch:
                return [], []
            columns = [d[0] for d in cursor.description] if cursor.description else []
            return columns, cursor.fetchall()
        except duckdb.Error as exc:
            raise WarehouseError(f"{exc}") from exc

    def iterate(self, expression, params=None, batch: int = 50_000):
        try:
            cursor = self.connection.execute(self.render(expression, params))
            while rows := cursor.fetchmany(batch):
                yield from rows
        except duckdb.Error as exc:
            raise WarehouseError(f"{exc}") from exc

    def _begin(self) -> None:
        self.connection.begin()

    def _commit(self) -> None:
        self.connection.commit()

    def _rollback(self) -> None:
        self.connection.rollback()

    def close(self) -> None:
        self.connection.close()

    @contextlib.contextmanager
    def sharing_cores(self) -> Iterator[None]:
        # DuckDB's threads and the process's own work would take turns on the same cores, each
        # slowing the other; one thread fewer leaves a core to that work.
        [(threads,)] = self.fetchall(exp.select(exp.func("current_setting", exp.Literal.string("threads"))))
        if threads < 2:
            yield
            return
        self._set_threads(threads - 1)
        try:
            yield
        finally:
            self._set_threads(threads)

    def _set_threads(self, threads: int) -> None:
        # The setting is the database's: set from a connection of its own, it takes effect (and
        # is put back) whatever state this connection's transaction is in, aborted included.
        statement = exp.Set(expressions=[exp.SetItem(this=exp.EQ(this=exp.var("threads"),
                                                                 expression=exp.Literal.number(threads)))])
        with contextlib.closing(self.connection.cursor()) as cursor:
            cursor.execute(self.render(statement))

    def create_index(self, table: str, name: str, columns: Sequence[str], unique: bool) -> None:
        self.execute(
            exp.Create(
                this=exp.Index(
                    this=exp.to_identifier(name, quoted=True),
                    table=self.table(table),
                    params=exp.IndexParameters(columns=[exp.to_identifier(c, quoted=True) for c in columns]),
                ),
                kind="INDEX", exists=True, unique=unique,
            )
        )

    def stored_column(self, column: exp.ColumnDef, storage: str) -> exp.ColumnDef:
        # DuckDB's default compression of text (dictionary + FSST) is analysed and built per row
        # group as rows are written: on unique text it costs more than it saves.
        # - Long unique text such as whole messages costs it over twice the CPU zstd needs to
        #   write it, and zstd stores it smaller.
        # - Unique keys are stored as they are: nothing to build, and a scan copies nothing out.
        # On the 10M-event identity run the inserts and the commit went from 5.1-5.5 s to
        # 3.9-5.0 s (2M identities, 1.5M traits, 500k profiles and merges); with message ids
        # stored plain rather than zstd'd, the writes took 3.45-3.68 s instead of 3.63-3.87.
        compression = {"archive": "ZSTD", "plain": "UNCOMPRESSED"}[storage]
        stored = column.copy()
        stored.append("constraints", exp.ColumnConstraint(kind=exp.var(f"USING COMPRESSION {compression}")))
        return stored

    def load_lines(self, target: exp.Table, path: Path) -> None:
        # read_csv with an impossible delimiter and no quoting reads each line verbatim.
        reader = exp.func(
            "read_csv",
            exp.Literal.string(str(path)),
            exp.EQ(this=exp.var("columns"), expression=exp.Struct(expressions=[
                exp.PropertyEQ(this=exp.Literal.string("line"), expression=exp.Literal.string("VARCHAR"))])),
            exp.EQ(this=exp.var("delim"), expression=exp.Literal.string(_LINE_DELIMITER)),
            exp.EQ(this=exp.var("quote"), expression=exp.Literal.string("")),
            exp.EQ(this=exp.var("escape"), expression=exp.Literal.string("")),
            exp.EQ(this=exp.var("header"), expression=exp.false()),
            exp.EQ(this=exp.var("auto_detect"), expression=exp.false()),
            exp.EQ(this=exp.var("strict_mode"), expression=exp.false()),
            exp.EQ(this=exp.var("max_line_size"), expression=exp.Literal.number(_MAX_LINE)),
            # The default buffer is a multiple of the line limit; one line's worth reads faster.
            exp.EQ(this=exp.var("buffer_size"), expression=exp.Literal.number(_MAX_LINE)),
        )
        # With insertion order preserved (DuckDB's default) the rows are stored in file order
        # under consecutive rowids, so the line number is the rowid's distance from the first:
        # no window over the rows, which would number them on one thread. (Rows a transaction has
        # not committed yet get rowids far from 0.) Blank lines stay, as NULL.
        text, temporary = self._lines_text(target), exp.Properties(expressions=[exp.TemporaryProperty()])
        self.drop_lines(target)
        self.execute(exp.Create(this=text, kind="TABLE", properties=temporary,
                                expression=exp.select(exp.column("line")).from_(reader)))
        rowid = exp.column("rowid")
        [(first,)] = self.fetchall(exp.select(exp.func("COALESCE", exp.func("MIN", rowid), 0)).from_(text))
        line_no = rowid - exp.Literal.number(first) + exp.Literal.number(1)
        self.execute(exp.Create(this=target, kind="VIEW", properties=temporary.copy(),
                                expression=exp.select(line_no.as_("line_no"), "line").from_(text)))

    def drop_lines(self, target: exp.Table) -> None:
        self.execute(exp.Drop(tables=[target], kind="VIEW", exists=True))
        self.execute(exp.Drop(tables=[self._lines_text(target)], kind="TABLE", exists=True))

    @staticmethod
    def _lines_text(target: exp.Table) -> exp.Table:
        return exp.table_(f"{target.name}_text", quoted=True)

    def insert_rows(self, target: exp.Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        # DuckDB scans a dict of numpy arrays in place: no per-row statements.
        frame = {
            f"c{i}": np.array([row[i] for row in rows], dtype=object) for i in range(len(columns))
        }
        name = "engage_rows_buffer"
        self.connection.register(name, frame)
        try:
            select = exp.select(*[exp.column(f"c{i}") for i in range(len(columns))]).from_(name)
            self.execute(exp.insert(select, target, columns=[exp.to_identifier(c, quoted=True) for c in columns]))
        finally:
            self.connection.unregister(name)

    def fetch_arrays(self, expression) -> dict[str, np.ndarray]:
        # DuckDB hands columns over as numpy arrays without building a Python object per value.
        try:
            return self.connection.execute(self.render(expression)).fetchnumpy()
        except duckdb.Error as exc:
            raise WarehouseError(f"{exc}") from exc

    def _replace_scratch(self, table: exp.Table, query: exp.Expression) -> None:
        # One statement where the base drops, then creates: a run makes dozens of these.
        self.execute(exp.Create(this=table.copy(), kind="TABLE", expression=query, replace=True,
                                properties=exp.Properties(expressions=[exp.TemporaryProperty()])))

    def numbered_scratch(self, name: str, rows: exp.Select, order: list[exp.Expression], number: str) -> exp.Table:
        # A window numbering rows in one global order sorts them on one thread; ORDER BY sorts on
        # every core, and a table made from it holds the rows in that order under consecutive
        # rowids (as `load_lines` relies on), so the place is the rowid's distance from the first.
        # On 2M identifiers: 0.54 + 0.15 s for the two tables, against 1.0-1.35 s for the window.
        # The numbered rows are a view of the sorted table: copying them into a table of their
        # own took 0.12-0.16 s of the 10M-event identity run.
        sorted_rows = self.scratch(_sorted_name(name), exp.select(exp.Star()).from_(rows.subquery("r", copy=False))
                                   .order_by(*[o.copy() for o in order]))
        rowid = exp.column("rowid")
        [(first,)] = self.fetchall(exp.select(exp.func("COALESCE", exp.func("MIN", rowid), 0)).from_(sorted_rows))
        view = self.temp_table(name)
        self.execute(exp.Create(this=view, kind="VIEW", replace=True,
                                properties=exp.Properties(expressions=[exp.TemporaryProperty()]),
                                expression=exp.select((rowid - exp.Literal.number(first)).as_(number), exp.Star())
                                .from_(sorted_rows.copy())))
        self._numbered.add(name)
        return view

    def load_arrays(self, name: str, arrays: dict[str, np.ndarray]) -> exp.Table:
        # A view of the arrays themselves (DuckDB scans numpy arrays in place), not a table made
        # from them: the identity run loads a dozen, and copying each into a table cost a 1% run
        # 3% of its time, and the 10M-event run 0.2 s of its writes (the arrays are millions of
        # rows there). The view keeps the arrays alive until `drop_scratch` and reads them as they
        # are when queried: callers hand over arrays they no longer change.
        self.connection.register(name, {column: np.ascontiguousarray(values, dtype=np.int64)
                                        for column, values in arrays.items()})
        return self.temp_table(name)

    def drop_scratch(self, name: str) -> None:
        # DROP TABLE refuses a name that is a view: a view of arrays (`load_arrays`) is
        # unregistered first (unregistering a name that is none is no error), and numbered rows
        # (`numbered_scratch`) are a view of a table of their own.
        self.connection.unregister(name)
        if name in self._numbered:
            self.execute(exp.Drop(tables=[self.temp_table(name)], kind="VIEW", exists=True))
            self._numbered.discard(name)
            name = _sorted_name(name)
        super().drop_scratch(name)

    def json_fields(self, rows: exp.Select, document: str,
                    fields: dict[str, tuple[tuple[str, ...], bool]]) -> exp.Select:
        # json_transform parses the document once into a struct of just these fields; ->> would
        # parse it once per field. A value of another shape than asked for reads as NULL, as ->>
        # reads it.
        shape: dict = {}
        for path, as_json in fields.values():
            node = shape
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = "JSON" if as_json else "VARCHAR"
        parsed = exp.func("json_transform", exp.column(document), exp.Literal.string(json.dumps(shape)))
        kept = [c for c in rows.named_selects if c != document]
        inner = exp.select(*[exp.column(c) for c in kept], parsed.as_("engage_fields")).from_(
            rows.subquery("r", copy=False))

        def read(path: tuple[str, ...]) -> exp.Expression:
            value: exp.Expression = exp.column("engage_fields", table="p")
            for key in path:
                value = exp.func("struct_extract", value, exp.Literal.string(key))
            return value

        return exp.select(*[exp.column(c, table="p") for c in kept],
                          *[read(path).as_(name) for name, (path, _) in fields.items()]).from_(
            inner.subquery("p", copy=False))

    def json_entries(self, rows: exp.Select, document: str) -> exp.Select:
        # An object's keys and its values ('$.*'), each listed in document order: the two parses
        # take half the time of a cast to MAP, and a key written twice stays two entries (a MAP
        # cast refuses the document). Anything but an object lists no keys and gives no rows.
        # JSON null values arrive as the JSON `null`.
        keys = exp.func("json_keys", exp.column(document))
        values = exp.func("json_extract", exp.column(document), exp.Literal.string("$.*"))
        source = exp.select(exp.Star(), keys.as_("engage_keys"), values.as_("engage_values")).from_(
            rows.subquery("s")).subquery("r")
        listed = exp.column("engage_keys", table="r")
        return exp.select(
            exp.Column(this=exp.Star(except_=[exp.column("engage_keys"), exp.column("engage_values")]),
                       table=exp.to_identifier("r")),
            exp.Unnest(expressions=[listed]).as_("key"),
            exp.Unnest(expressions=[exp.column("engage_values", table="r")]).as_("value"),
            exp.Unnest(expressions=[exp.func("range", exp.Literal.number(1),
                                             exp.func("len", listed.copy()) + exp.Literal.number(1))]).as_("position"),
        ).from_(source)

    def latest_rows(self, rows: exp.Select, group: list[str], order: list[str], columns: list[str]) -> exp.Select:
        if len(order) == 1:
            # One column to order by: each column is taken from the group's row with its greatest
            # value (arg_max_null: a NULL there is taken too), and no struct is built per row.
            [last] = order
            return exp.select(*[exp.column(c) for c in group], *[
                exp.func("arg_max_null", exp.column(c), exp.column(last)).as_(c) for c in columns]).from_(
                rows.subquery("r")).group_by(*[exp.column(c) for c in group])
        # The greatest struct of the order's columns followed by the others: structs compare
        # field by field, so it holds the last row (no two rows of a group tie on the order, so
        # the other fields never decide). One hash aggregate, where the window sorts every row;
        # arg_max(columns, order) compared a second struct per row: on 3M identify trait
        # entries, on one thread, 2.5 -> 1.9 s.
        fields = order + [c for c in columns if c not in order]
        latest = exp.func("MAX", exp.Struct(expressions=[
            exp.PropertyEQ(this=exp.to_identifier(n), expression=exp.column(n)) for n in fields])).as_("engage_latest")
        inner = exp.select(*[exp.column(c) for c in group], latest).from_(rows.subquery("r")).group_by(
            *[exp.column(c) for c in group])
        return exp.select(*[exp.column(c) for c in group],
                          *[exp.Dot(this=exp.column("engage_latest"), expression=exp.to_identifier(c)).as_(c)
                            for c in columns]).from_(inner.subquery("latest"))

    def epoch_us(self, moment: exp.Expression) -> exp.Expression:
        return exp.func("epoch_us", moment)

    def md5_base64(self, text: exp.Expression) -> exp.Expression:
        return exp.ToBase64(this=exp.Unhex(this=exp.MD5(this=text)))

    def hash_key(self, *parts: exp.Expression) -> exp.Expression | None:
        return exp.func("HASH", *parts)

    def row_locator(self, alias: str) -> exp.Expression | None:
        # A row keeps its rowid through updates and others' deletes; only a checkpoint, after
        # the commit, renumbers rows.
        return exp.column("rowid", table=alias)

    def from_epoch_us(self, micros: exp.Expression) -> exp.Expression:
        return exp.func("make_timestamp", micros)

    def try_timestamp(self, text: exp.Expression) -> exp.Expression:
        # Offsets are honoured through TIMESTAMPTZ; its microseconds since the epoch are the UTC
        # wall clock (a cheaper step than a cast, which converts through the session time zone).
        # 'infinity' has none, so it is NULL, as on Postgres.
        as_tz = exp.TryCast(this=text, to=exp.DataType.build("TIMESTAMPTZ"))
        return exp.func("make_timestamp", exp.func("epoch_us", as_tz))

    def json_array_items(self, array: exp.Expression) -> exp.Expression:
        return exp.Unnest(expressions=[exp.cast(array, exp.DataType.build("JSON[]", dialect="duckdb"))])

    def is_json_array(self, document: exp.Expression) -> exp.Expression:
        return exp.func("json_type", document).eq(exp.Literal.string("ARRAY"))

    def message_record(self, message: exp.Expression) -> exp.Expression:
        # json_transform parses each message once into a struct, instead of once per field; TRY
        # turns text that is not JSON into NULL.
        from engagectl.ingest.messages import JSON_FIELDS, TEXT_FIELDS

        shape = {name: "VARCHAR" for name in TEXT_FIELDS} | {name: "JSON" for name in JSON_FIELDS}
        return exp.func("TRY", exp.func("json_transform", message, exp.Literal.string(json.dumps(shape))))

    def message_json(self, message: exp.Expression, record: exp.Expression) -> exp.Expression:
        # The struct holds no whole document: the text is cast (a check, the text is kept).
        return exp.TryCast(this=message, to=exp.DataType.build("JSON"))

    def message_field(self, record: exp.Expression, key: str, as_json: bool, message: exp.Expression) -> exp.Expression:
        return exp.func("struct_extract", record, exp.Literal.string(key))

