"""`engagectl ingest [PATH...]`: load Segment-spec JSON lines into the warehouse.

Without paths, every source's `path` globs (relative to the project folder) are read, each file
under its source's key; `-` reads stdin. Identity is resolved later, by `engagectl run`.
"""

from __future__ import annotations

import sys

import click

from engagectl.cli.common import CliContext, emit_json, handle_errors, pass_cli


@click.command("ingest")
@click.argument("paths", nargs=-1)
@click.option("--source", "source_key", default=None, help="Source key for the given paths (default: `default`).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_cli
@handle_errors
def ingest_command(cli: CliContext, paths: tuple[str, ...], source_key: str | None, as_json: bool) -> None:
    """Load Segment-spec JSONL (plain or gzip, globs, - for stdin); re-loading a file adds nothing."""
    from engagectl.config.env import resolve_env
    from engagectl.ingest import IngestReport, expand_paths, ingest_files, ingest_table
    from engagectl.views.profile import render_ingest
    from engagectl.warehouse import open_warehouse

    project = cli.load_project()
    warehouse = open_warehouse(resolve_env(project.settings.warehouse), str(project.directory))
    try:
        report = IngestReport()
        if paths:
            files = expand_paths(paths, ".")
            report.files.extend(ingest_files(warehouse, files, source=source_key or "default").files)
        else:
            for source in project.settings.sources:
                if source.table:
                    report.files.extend(ingest_table(warehouse, source.table, source.key).files)
                files = expand_paths(source.paths, project.directory)
                report.files.extend(ingest_files(warehouse, files, source=source.key).files)
    finally:
        warehouse.close()
    if as_json:
        emit_json(report.to_json())
    else:
        render_ingest(report)
    if not report.ok:
        sys.exit(1)


def register(group: click.Group) -> None:
    group.add_command(ingest_command)
