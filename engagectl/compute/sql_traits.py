"""SQL traits: render the query, run it in the warehouse, hold it to Segment's contract.

The contract (reference/segment-engage-spec.md §2.4): exactly one identifier column, named as
the trait's `identifier:` says; at least one trait column (25 columns at most); no null and no
duplicate identifiers. Rows attach to profiles through `identities` (emails lower-cased); each
profile's value is a JSON object of the trait columns. A profile that drops out of the result
has no row in the new snapshot, so the diff nulls its values.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Iterator, Mapping

import jinja2
import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from engagectl.compute.errors import SqlTraitError
from engagectl.compute.snapshot import RunContext
from engagectl.compute.sql import column, json_object_text, text
from engagectl.config.models import SqlTrait

IDENTIFIER_COLUMNS = ("user_id", "email", "anonymous_id")
MAX_COLUMNS = 25  # Segment's limit, identifier included
ROW_NUMBER = "_engage_row"  # 1-based position of a row in the result, for error messages

_MISSING = object()


def render_sql(trait: SqlTrait, variables: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The trait's `sql` with `{{ env('X') }}` and `{{ var('x') }}` filled in."""
    environ = os.environ if environ is None else environ

    def env(name: str, default: Any = _MISSING) -> Any:
        if name in environ:
            return environ[name]
        if default is _MISSING:
            raise SqlTraitError(f"sql_trait {trait.key}: environment variable {name} is not set "
                                f"(used as {{{{ env('{name}') }}}} in its sql)")
        return default

    def var(name: str, default: Any = _MISSING) -> Any:
        if name in variables:
            return variables[name]
        if default is _MISSING:
            raise SqlTraitError(f"sql_trait {trait.key}: var '{name}' is not defined: add it under "
                                f"`vars:` in engage.yaml")
        return default

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        return environment.from_string(trait.sql).render(env=env, var=var)
    except jinja2.TemplateError as exc:
        raise SqlTraitError(f"sql_trait {trait.key}: cannot render its sql: {exc}") from exc


def parse_query(trait: SqlTrait, sql: str, dialect: str) -> exp.Query:
    try:
        parsed = sqlglot.parse_one(sql, read=dialect)
    except SqlglotError as exc:
        raise SqlTraitError(f"sql_trait {trait.key}: cannot parse its sql: {exc}") from exc
    if not isinstance(parsed, exp.Query):
        raise SqlTraitError(f"sql_trait {trait.key}: its sql must be a query (SELECT …), not {parsed.key.upper()}")
    return parsed


def sql_trait_snapshot(ctx: RunContext, trait: SqlTrait, variables: Mapping[str, Any]) -> exp.Table:
    """Stage the trait's new snapshot `(profile_id, value)`; raises SqlTraitError on a broken contract."""
    query = parse_query(trait, render_sql(trait, variables), ctx.warehouse.dialect)
    numbered = exp.select(
        exp.Window(this=exp.RowNumber()).as_(ROW_NUMBER), exp.column(exp.Star(), table="q")
    ).from_(query.subquery("q"))
    try:
        with _tables_of_schema_first(ctx.warehouse):
            result = ctx.staging.create(numbered, "sql")
    except Exception as exc:  # the user's SQL failed in the warehouse: say so, with its message
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SqlTraitError(f"sql_trait {trait.key}: its query failed in the warehouse: {message}") from exc

    trait_columns = _check_columns(ctx, trait, result)
    identifier = _identifier_value(trait)
    _check_no_null_identifier(ctx, trait, result)
    _check_no_duplicate_identifier(ctx, trait, result, identifier)

    pairs = [(name, column(name, "r")) for name in trait_columns]
    identities = ctx.table("identities")
    picked = (
        exp.select(
            column("profile_id", "i"),
            json_object_text(pairs, ctx.warehouse.dialect).as_("value"),
            # A profile holding two of the result's emails takes the first row.
            exp.Window(
                this=exp.RowNumber(),
                partition_by=[column("profile_id", "i")],
                order=exp.Order(expressions=[exp.Ordered(this=column(ROW_NUMBER, "r"))]),
            ).as_("pick"),
        )
        .from_(exp.alias_(result.copy(), "r"))
        .join(
            exp.alias_(identities, "i"),
            on=exp.and_(
                column("id_type", "i").eq(exp.Literal.string(trait.identifier)),
                column("id_value", "i").eq(identifier),
            ),
        )
    )
    snapshot = ctx.staging.create(
        exp.select(column("profile_id"), column("value")).from_(picked.subquery("p")).where(
            column("pick").eq(exp.Literal.number(1))),
        "sqlsnap",
    )
    ctx.staging.drop(result)
    return snapshot


@contextlib.contextmanager
def _tables_of_schema_first(warehouse) -> Iterator[None]:
    """Resolve the query's unqualified tables in the warehouse schema first, then as usual.

    Tables loaded next to engagectl's own (a test file's `tables:`) are found by plain name,
    while a query naming `public.tickets` or any other schema still reads exactly that.
    """
    previous = warehouse.fetchall(exp.select(exp.func("current_setting", exp.Literal.string("search_path"))))[0][0]
    schema = exp.to_identifier(warehouse.schema, quoted=True).sql(warehouse.dialect)
    if warehouse.dialect == "postgres":
        def set_path(value: str) -> exp.Expression:
            # set_config(…, true) is local to the transaction: a failed run resets it as well.
            return exp.select(exp.func("set_config", exp.Literal.string("search_path"), exp.Literal.string(value),
                                       exp.true()))
        warehouse.fetchall(set_path(f"{schema}, {previous}" if previous else schema))
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # an aborted transaction restores it by itself
                warehouse.fetchall(set_path(previous))
        return

    def set_path(value: str) -> exp.Expression:
        return exp.Set(expressions=[exp.SetItem(this=exp.EQ(this=exp.var("search_path"),
                                                              expression=exp.Literal.string(value)))])
    warehouse.execute(set_path(f"{schema},{previous or 'main'}"))
    try:
        yield
    finally:
        warehouse.execute(set_path(previous or "main"))


def _identifier_value(trait: SqlTrait, alias: str | None = "r") -> exp.Expression:
    """The identifier as identities store it: text, and lower-case for emails."""
    value = text(column(trait.identifier, alias))
    return exp.func("LOWER", value) if trait.identifier == "email" else value


def _check_columns(ctx: RunContext, trait: SqlTrait, result: exp.Table) -> list[str]:
    columns = [c for c in ctx.staging.columns(result) if c != ROW_NUMBER]
    where = f"sql_trait {trait.key}"
    # Names compare without case: DuckDB keeps `USER_ID` as written, Postgres folds it.
    lowered = [c.lower() for c in columns]
    if trait.identifier not in lowered:
        raise SqlTraitError(f"{where}: the query returns no `{trait.identifier}` column "
                            f"(identifier: {trait.identifier}); columns: {', '.join(columns) or 'none'}")
    others = [c for c in columns if c.lower() in IDENTIFIER_COLUMNS and c.lower() != trait.identifier]
    if others:
        raise SqlTraitError(f"{where}: the query returns `{trait.identifier}` and `{'`, `'.join(others)}`; "
                            f"return exactly one identifier column (identifier: {trait.identifier})")
    trait_columns = [c for c in columns if c.lower() != trait.identifier]
    if not trait_columns:
        raise SqlTraitError(f"{where}: the query returns only `{trait.identifier}`; "
                            f"add at least one trait column")
    if len(columns) > MAX_COLUMNS:
        raise SqlTraitError(f"{where}: the query returns {len(columns)} columns; at most {MAX_COLUMNS} are allowed")
    return trait_columns


def _check_no_null_identifier(ctx: RunContext, trait: SqlTrait, result: exp.Table) -> None:
    rows = ctx.warehouse.fetchall(
        exp.select(exp.func("MIN", column(ROW_NUMBER))).from_(result.copy()).where(
            column(trait.identifier).is_(exp.null()))
    )
    if rows and rows[0][0] is not None:
        raise SqlTraitError(f"sql_trait {trait.key}: row {rows[0][0]}: {trait.identifier} is null "
                            f"(every row needs an identifier)")


def _check_no_duplicate_identifier(ctx: RunContext, trait: SqlTrait, result: exp.Table,
                                   identifier: exp.Expression) -> None:
    unaliased = _identifier_value(trait, alias=None)
    duplicated = (
        exp.select(unaliased.as_("identifier"), exp.func("MIN", column(ROW_NUMBER)).as_("first_row"))
        .from_(result.copy())
        .group_by(unaliased)
        .having(exp.func("COUNT", exp.Star()) > 1)
        .order_by("first_row")
        .limit(1)
    )
    first = ctx.warehouse.fetchall(duplicated)
    if not first:
        return
    value = first[0][0]
    rows = [row[0] for row in ctx.warehouse.fetchall(
        exp.select(column(ROW_NUMBER)).from_(result.copy())
        .where(unaliased.eq(exp.Literal.string(str(value)))).order_by(column(ROW_NUMBER))
    )]
    listed = ", ".join(str(r) for r in rows[:-1]) + f" and {rows[-1]}"
    raise SqlTraitError(f"sql_trait {trait.key}: {trait.identifier} '{value}' appears in rows {listed}; "
                        f"identifiers must be unique (use GROUP BY or DISTINCT)")
