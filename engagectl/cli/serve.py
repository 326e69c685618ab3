"""`engagectl serve`: the Profile API, the tracking API and the Audiences API over HTTP."""

from __future__ import annotations

import os

import click

from engagectl.cli.common import CliContext, handle_errors, pass_cli


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8484, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", default=None, type=click.IntRange(min=1),
              help="Processes (Postgres warehouse only; default: one per CPU). DuckDB always uses one.")
@pass_cli
@handle_errors
def serve_command(cli: CliContext, host: str, port: int, workers: int | None) -> None:
    """Serve the Profile API, the tracking API and the read-only Audiences API."""
    import uvicorn

    from engagectl.server.app import PROJECT_DIR_VARIABLE
    from engagectl.urls import parse_database_url

    project = cli.load_project()
    backend = parse_database_url(project.settings.warehouse, project.directory).backend
    if backend == "duckdb":
        # DuckDB allows one process per file: this process holds it (docs/serve.md).
        if workers not in (None, 1):
            click.echo("warning: a DuckDB warehouse is served by one process; --workers ignored", err=True)
        workers = 1
    else:
        workers = workers or os.cpu_count() or 1
    os.environ[PROJECT_DIR_VARIABLE] = str(project.directory.resolve())
    uvicorn.run("engagectl.server.app:app_from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="info", access_log=False, server_header=False)


def register(group: click.Group) -> None:
    group.add_command(serve_command)
