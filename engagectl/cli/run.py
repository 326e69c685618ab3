"""`engagectl run`: ingest → identity → traits → audiences → journeys, then the sync hook.

The command parses, calls `engagectl.compute.pipeline.run_pipeline` and renders; which
definitions it computes is decided in `applied_project`, and what follows the computation (the
sync) plugs into `after_run`.
"""

from __future__ import annotations


import click

from engagectl.cli.common import CliContext, emit_json, handle_errors, parse_as_of, pass_cli


def applied_project(cli_ctx: CliContext):
    """The definitions a run computes: the APPLIED ones (what `apply` stored in the state).

    Settings (warehouse, sources, identity, vars) come from engage.yaml on disk; the resources
    from the state's canonical specs. A project that was never applied (serial 0) computes its
    definitions from disk, so a fresh checkout can `engagectl run` before its first apply.
    """
    from pydantic import TypeAdapter

    from engagectl.config.env import resolve_env
    from engagectl.config.loader import Project
    from engagectl.config.models import ResourceModel
    from engagectl.state import open_state

    project = cli_ctx.load_project()
    store = open_state(resolve_env(project.settings.state), str(project.directory))
    try:
        snapshot = store.snapshot()
    finally:
        store.close()
    if not snapshot.serial:
        return project
    adapter = TypeAdapter(ResourceModel)
    applied = Project(directory=project.directory, settings=project.settings)
    for address, stored in snapshot.resources.items():
        applied.resources[address] = adapter.validate_python({**stored.spec, "protect": stored.protect})
    return applied


def after_run(cli_ctx: CliContext, project, warehouse, result, no_sync: bool) -> int:
    """Called once the run has committed: queue its changes, deliver them unless `no_sync`.

    Returns how many deliveries the run queued.
    """
    from engagectl.cli.pipeline import sync_run

    report = sync_run(project, warehouse, result, no_sync=no_sync, show_progress=not cli_ctx.quiet)
    if not cli_ctx.quiet and not no_sync:
        from engagectl.views.sync import render_sync_report

        cli_ctx.after_render.append(lambda: render_sync_report(report))
    return report.queued


@click.command("run")
@click.option("--as-of", "as_of", metavar="TS", help="The run's 'now' (ISO-8601); default the current time.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--no-sync", is_flag=True, help="Compute and queue, but do not deliver.")
@pass_cli
@handle_errors
def run_command(cli: CliContext, as_of: str | None, as_json: bool, no_sync: bool) -> None:
    """Ingest new events, resolve identities, compute traits, audiences and journeys, then sync."""
    cli.quiet = as_json
    from engagectl.compute.pipeline import run_pipeline
    from engagectl.config.env import resolve_env
    from engagectl.warehouse import open_warehouse

    moment = parse_as_of(as_of)
    project = applied_project(cli)
    warehouse = open_warehouse(resolve_env(project.settings.warehouse), project.directory)
    try:
        result = run_pipeline(project, warehouse, moment)
        result.queued = after_run(cli, project, warehouse, result, no_sync) or 0
    finally:
        warehouse.close()
    if as_json:
        emit_json(result.to_json())
    else:
        from engagectl.views.run import render_run

        render_run(result)
        for render in cli.after_render:
            render()


def register(group: click.Group) -> None:
    group.add_command(run_command)
