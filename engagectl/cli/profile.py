"""`engagectl profile IDENT`: a profile as the Profile API's `/traits` (or `/external_ids`) returns it."""

from __future__ import annotations

import sys

import click

from engagectl.cli.common import CliContext, emit_json, handle_errors, pass_cli

NOT_FOUND = {"error": {"code": "not_found", "message": "Profile was not found."}}


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()] or None


@click.command("profile", short_help="A profile's traits or external ids, as the Profile API has them.")
@click.argument("ident", metavar="IDENT")
@click.option("--include", help="Comma-separated trait keys (or id types with --external-ids).")
@click.option("--class", "cls", type=click.Choice(["audience", "computed_trait"]), help="Only audiences or only computed traits.")
@click.option("--limit", type=click.IntRange(1, 200), default=None, help="Items per page (traits: 10, external ids: 25).")
@click.option("--next", "next_key", help="The cursor's `next` of the previous page.")
@click.option("--verbose", is_flag=True, help="Each trait with its source and update time.")
@click.option("--external-ids", "external_ids", is_flag=True, help="Print the external ids instead of the traits.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (the output is JSON either way).")
@pass_cli
@handle_errors
def profile_command(cli: CliContext, ident: str, include: str | None, cls: str | None, limit: int | None,
                    next_key: str | None, verbose: bool, external_ids: bool, as_json: bool) -> None:
    """Show a profile, e.g. `engagectl profile email:bob@example.com`."""
    from engagectl.config.env import resolve_env
    from engagectl.profiles import ProfileNotFound, ProfileReader
    from engagectl.warehouse import open_warehouse

    id_type, colon, id_value = ident.partition(":")
    if not colon or not id_type or not id_value:
        raise click.BadParameter("use <id_type>:<id_value>, e.g. email:bob@example.com", param_hint="IDENT")
    project = cli.load_project()
    warehouse = open_warehouse(resolve_env(project.settings.warehouse), str(project.directory))
    try:
        reader = ProfileReader(warehouse, project.settings.space)
        if external_ids:
            body = reader.external_ids(id_type, id_value, include=_split(include), limit=limit or 25,
                                       next=next_key, verbose=verbose)
        else:
            body = reader.traits(id_type, id_value, include=_split(include), cls=cls, limit=limit or 10,
                                 next=next_key, verbose=verbose)
    except ProfileNotFound:
        emit_json(NOT_FOUND)
        sys.exit(1)
    finally:
        warehouse.close()
    emit_json(body)


def register(group: click.Group) -> None:
    group.add_command(profile_command)
