"""`engagectl validate`: check files, references, cycles and keys, with no warehouse."""

from __future__ import annotations

import sys

import click

from engagectl.cli.common import CliContext, emit_json, handle_errors, pass_cli


@click.command("validate")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document: valid, diagnostics, resources.")
@pass_cli
@handle_errors
def validate_command(cli: CliContext, as_json: bool) -> None:
    """Check the project's files, references, cycles and keys (no warehouse needed)."""
    from engagectl.config.validate import validate_project
    from engagectl.views.diagnostics import render_validation

    report = validate_project(cli.project_dir)
    if as_json:
        emit_json(report.to_json())
    else:
        render_validation(report)
    if not report.valid:
        sys.exit(1)


def register(group: click.Group) -> None:
    group.add_command(validate_command)
