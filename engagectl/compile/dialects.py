"""Every place where warehouse engines disagree, decided once per dialect.

The compiler builds one portable tree (GROUP BY, CASE aggregates, EXISTS, ROW_NUMBER) and asks a
`DialectForms` for the few forms sqlglot cannot transpile faithfully: JSON access on JSON *text*
columns, safe casts, timestamp literals, sorted distinct lists and last-value aggregates. Like
sqlglot's own dialect classes, a dialect is a small subclass that overrides only what differs.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlglot import exp

SUPPORTED_DIALECTS = ("duckdb", "postgres", "snowflake", "bigquery", "spark", "databricks", "trino", "redshift")

# A string that looks like a JSON number; Postgres has no TRY_CAST, so it is checked first.
_NUMBER_PATTERN = r"^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$"
# Joins list items where an engine can only build a string (Redshift); a value holding it splits.
_LIST_SEPARATOR = ","
# The start of an ISO-8601 date or timestamp.
_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"


def naive_utc(moment: datetime) -> datetime:
    """Events are stored as naive UTC timestamps; a naive as-of already means UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


STABLE_DECIMALS = 9


class DialectForms:
    """The portable forms; subclasses override what their engine needs instead."""

    name = "duckdb"
    timestamp_type = "TIMESTAMP"
    timestamptz_type = "TIMESTAMPTZ"

    # -- JSON text columns ------------------------------------------------------------------
    def json_text(self, column: exp.Expression, path: list[str]) -> exp.Expression:
        """The scalar at `path` in a JSON text column, as text (NULL when missing or JSON null)."""
        return exp.JSONExtractScalar(this=column, expression=_json_path(path))

    # -- casts --------------------------------------------------------------------------------
    def to_number(self, text: exp.Expression) -> exp.Expression:
        """A number from text, NULL when the text is not a number (never an error)."""
        return exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"))

    def stable_number(self, number: exp.Expression) -> exp.Expression:
        """A floating-point aggregate rounded to 9 decimals.

        Parallel engines add in varying order, so an unchanged SUM can come out as
        474.61999999999995 one run and 474.62 the next; without rounding an unchanged trait would
        be logged as changed and re-sent to destinations.
        """
        return exp.Round(this=number, decimals=exp.Literal.number(STABLE_DECIMALS))

    def to_timestamp(self, text: exp.Expression) -> exp.Expression:
        """An instant from ISO-8601 text, NULL when it is not a date (never an error)."""
        return exp.TryCast(this=text, to=exp.DataType.build(self.timestamptz_type))

    def timestamp_literal(self, moment: datetime) -> exp.Expression:
        """A literal comparable with the `timestamp` column (naive UTC)."""
        text = naive_utc(moment).isoformat(sep=" ", timespec="microseconds")
        return exp.cast(exp.Literal.string(text), exp.DataType.build(self.timestamp_type))

    def instant_literal(self, moment: datetime) -> exp.Expression:
        """A literal comparable with `to_timestamp` values (time-zone aware, UTC)."""
        text = naive_utc(moment).isoformat(sep=" ", timespec="microseconds") + "+00:00"
        return exp.cast(exp.Literal.string(text), exp.DataType.build(self.timestamptz_type))

    def add_hours(self, timestamp: exp.Expression, hours: int) -> exp.Expression:
        return exp.Add(
            this=timestamp,
            expression=exp.Interval(this=exp.Literal.string(str(hours)), unit=exp.var("HOUR")),
        )

    # -- aggregates ---------------------------------------------------------------------------
    def sorted_distinct_list(self, value: exp.Expression) -> exp.Expression:
        """The distinct values of a group as a list sorted alphabetically."""
        return exp.ArrayAgg(this=exp.Order(this=exp.Distinct(expressions=[value]),
                                           expressions=[exp.Ordered(this=value.copy(), nulls_first=False)]))

    def value_at_extreme(self, value: exp.Expression, keys: list[exp.Expression], last: bool) -> exp.Expression | None:
        """An aggregate picking `value` at the largest (last) / smallest key tuple, if the engine has one.

        None means "use the portable ROW_NUMBER form".
        """
        return None


class DuckDBForms(DialectForms):
    name = "duckdb"

    def json_text(self, column, path):
        return exp.JSONExtractScalar(this=column, expression=_json_path(path))

    def value_at_extreme(self, value, keys, last):
        # arg_max over a struct key: ties on timestamp are broken by message_id, one pass
        key = exp.Tuple(expressions=keys) if len(keys) > 1 else keys[0]
        return exp.func("ARG_MAX" if last else "ARG_MIN", value, key)


class PostgresForms(DialectForms):
    name = "postgres"

    def json_text(self, column, path):
        # the columns hold JSON text: cast, then `#>>` (works for the root path too)
        return exp.JSONBExtractScalar(
            this=exp.cast(column, exp.DataType.build("JSON")),
            expression=exp.Literal.string(_pg_path(path)),
        )

    def to_number(self, text):
        return exp.Case(
            ifs=[exp.If(this=exp.RegexpLike(this=text, expression=exp.Literal.string(_NUMBER_PATTERN)),
                        true=exp.cast(text.copy(), exp.DataType.build("DOUBLE")))]
        )

    def stable_number(self, number):
        # Postgres rounds NUMERIC only; back to DOUBLE so values keep their JSON form
        rounded = exp.Round(this=exp.cast(number, exp.DataType.build("DECIMAL")),
                            decimals=exp.Literal.number(STABLE_DECIMALS))
        return exp.cast(rounded, exp.DataType.build("DOUBLE"))

    def to_timestamp(self, text):
        return exp.Case(
            ifs=[exp.If(this=exp.RegexpLike(this=text, expression=exp.Literal.string(_DATE_PATTERN)),
                        true=exp.cast(text.copy(), exp.DataType.build("TIMESTAMPTZ")))]
        )


class RedshiftForms(PostgresForms):
    name = "redshift"

    def stable_number(self, number):
        # Redshift rounds DOUBLE itself (its bare DECIMAL would be DECIMAL(18, 0))
        return DialectForms.stable_number(self, number)

    def sorted_distinct_list(self, value):
        # Redshift has no ARRAY_AGG: a sorted LISTAGG split back into a SUPER array
        listed = exp.WithinGroup(
            this=exp.func("LISTAGG", exp.Distinct(expressions=[value]), exp.Literal.string(_LIST_SEPARATOR)),
            expression=exp.Order(expressions=[exp.Ordered(this=value.copy(), nulls_first=False)]),
        )
        return exp.func("SPLIT_TO_ARRAY", listed, exp.Literal.string(_LIST_SEPARATOR))

    def json_text(self, column, path):
        if not path:
            # no root path in JSON_EXTRACT_PATH_TEXT: wrap the document in an array instead
            wrapped = exp.DPipe(this=exp.DPipe(this=exp.Literal.string("["), expression=column),
                                expression=exp.Literal.string("]"))
            return exp.func("JSON_EXTRACT_ARRAY_ELEMENT_TEXT", wrapped, exp.Literal.number(0))
        return exp.func("JSON_EXTRACT_PATH_TEXT", column, *(exp.Literal.string(p) for p in path))


class BigQueryForms(DialectForms):
    name = "bigquery"
    # BigQuery's TIMESTAMP is an instant; sqlglot's TIMESTAMP means DATETIME there
    timestamp_type = "TIMESTAMPTZ"

    def sorted_distinct_list(self, value):
        # NULLs are filtered out before (BigQuery refuses them in arrays), so say NULLS FIRST,
        # BigQuery's only ascending order
        return exp.ArrayAgg(this=exp.Order(this=exp.Distinct(expressions=[value]),
                                           expressions=[exp.Ordered(this=value.copy(), nulls_first=True)]))


class SparkForms(DialectForms):
    name = "spark"

    def sorted_distinct_list(self, value):
        return exp.func("SORT_ARRAY", exp.func("COLLECT_SET", value))

    def value_at_extreme(self, value, keys, last):
        key = exp.Struct(expressions=keys) if len(keys) > 1 else keys[0]
        return exp.func("MAX_BY" if last else "MIN_BY", value, key)


class DatabricksForms(SparkForms):
    name = "databricks"


class TrinoForms(DialectForms):
    name = "trino"
    timestamptz_type = "TIMESTAMPTZ"


class SnowflakeForms(DialectForms):
    name = "snowflake"

    def to_number(self, text):
        return exp.func("TRY_TO_DOUBLE", text)

    def to_timestamp(self, text):
        return exp.func("TRY_TO_TIMESTAMP_TZ", text)

    def json_text(self, column, path):
        if not path:
            return exp.cast(exp.func("PARSE_JSON", column), exp.DataType.build("VARCHAR"))
        return super().json_text(column, path)


_FORMS = {
    forms.name: forms
    for forms in (DuckDBForms(), PostgresForms(), RedshiftForms(), BigQueryForms(), SparkForms(),
                  DatabricksForms(), TrinoForms(), SnowflakeForms())
}


def forms_for(dialect: str) -> DialectForms:
    try:
        return _FORMS[dialect]
    except KeyError:
        raise ValueError(f"unknown dialect {dialect!r}; use one of {', '.join(SUPPORTED_DIALECTS)}") from None


def _json_path(path: list[str]) -> exp.JSONPath:
    return exp.JSONPath(expressions=[exp.JSONPathRoot(), *(exp.JSONPathKey(this=p) for p in path)])


def _pg_path(path: list[str]) -> str:
    """A Postgres text-array path literal: `{"page","url"}` (each element quoted and escaped)."""
    quoted = ('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in path)
    return "{" + ",".join(quoted) + "}"
