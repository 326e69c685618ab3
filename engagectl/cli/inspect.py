"""`engagectl compile`, `preview` and `explain`: look at a computation without applying anything."""

from __future__ import annotations

import sys

import click

from engagectl.cli.common import CliContext, emit_json, handle_errors, parse_as_of, pass_cli
from engagectl.compile.dialects import SUPPORTED_DIALECTS


def _open_warehouse(project):
    from engagectl.config.env import resolve_env
    from engagectl.warehouse import open_warehouse

    return open_warehouse(resolve_env(project.settings.warehouse), str(project.directory))


@click.command("compile")
@click.argument("key")
@click.option("--dialect", type=click.Choice(SUPPORTED_DIALECTS), default="duckdb", show_default=True,
              help="The SQL dialect to print.")
@click.option("--as-of", "as_of", metavar="TS", help="The 'now' windows are relative to (ISO-8601); default now.")
@click.option("--schema", default=None, help="The schema of engagectl's tables; default the warehouse URL's, else engage.")
@pass_cli
@handle_errors
def compile_command(cli: CliContext, key: str, dialect: str, as_of: str | None, schema: str | None) -> None:
    """Print the SQL of one computation: an audience, a computed trait or a journey step (journey__step)."""
    from engagectl.compile import DEFAULT_SCHEMA, Compiler, to_sql
    from engagectl.config.env import resolve_env
    from engagectl.urls import parse_database_url

    project = cli.load_project()
    if schema is None:
        schema = parse_database_url(resolve_env(project.settings.warehouse), project.directory).schema or DEFAULT_SCHEMA
    compiler = Compiler(dialect, schema, parse_as_of(as_of), project)
    click.echo(to_sql(compiler.compile_key(key), dialect, pretty=True) + ";")


@click.command("preview")
@click.argument("key")
@click.option("--as-of", "as_of", metavar="TS", help="The 'now' of the computation (ISO-8601); default now.")
@click.option("--limit", type=click.IntRange(0, 1000), default=10, show_default=True, help="Members in the sample.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_cli
@handle_errors
def preview_command(cli: CliContext, key: str, as_of: str | None, limit: int, as_json: bool) -> None:
    """Size and a sample of an audience's members, computed now, without applying it."""
    from engagectl.compute.preview import preview
    from engagectl.views.preview import render_preview

    project = cli.load_project()
    warehouse = _open_warehouse(project)
    try:
        result = preview(warehouse, project, key, parse_as_of(as_of), limit)
    finally:
        warehouse.close()
    if as_json:
        emit_json(result.to_dict())
    else:
        render_preview(result)


@click.command("explain", short_help="Why a profile is in or out of an audience, step or trait.")
@click.argument("key")
@click.argument("ident", metavar="IDENT")
@click.option("--as-of", "as_of", metavar="TS", help="The 'now' of the computation (ISO-8601); default now.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_cli
@handle_errors
def explain_command(cli: CliContext, key: str, ident: str, as_of: str | None, as_json: bool) -> None:
    """Why IDENT (e.g. email:bob@example.com) is in or out of KEY, node by node."""
    from engagectl.compile.explain import explain
    from engagectl.profiles.reader import ProfileNotFound
    from engagectl.views.explain import render_explanation

    id_type, colon, id_value = ident.partition(":")
    if not colon or not id_type or not id_value:
        raise click.BadParameter("use <id_type>:<id_value>, e.g. email:bob@example.com", param_hint="IDENT")
    project = cli.load_project()
    warehouse = _open_warehouse(project)
    try:
        result = explain(warehouse, project, key, id_type, id_value, parse_as_of(as_of))
    except ProfileNotFound:
        message = f"no profile has the identifier {ident}"
        if as_json:
            emit_json({"error": {"code": "not_found", "message": message}})
        else:
            click.echo(f"error: {message}", err=True)
        sys.exit(1)
    finally:
        warehouse.close()
    if as_json:
        emit_json(result.to_dict())
    else:
        render_explanation(result)


def register(group: click.Group) -> None:
    group.add_command(compile_command)
    group.add_command(preview_command)
    group.add_command(explain_command)
