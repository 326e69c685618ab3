"""The `engagectl` command line: one module per command family, registered on one group.

Commands parse arguments, call the engine and hand the result to a view; they hold no logic.
"""

from __future__ import annotations

import importlib

import click

from engagectl import __version__
from engagectl.cli.common import CliContext

# Each module defines `register(group)`; the order is the order of `engagectl --help`.
COMMAND_MODULES = (
    "validate",
    "plan",
    "state",
    "ingest",
    "run",
    "inspect",
    "profile",
    "sync",
    "tokens",
    "serve",
    "test",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "project_dir", default=".", type=click.Path(file_okay=False), show_default=True,
              help="Run as if engagectl was started in this project folder.")
@click.version_option(__version__, prog_name="engagectl")
@click.pass_context
def main(ctx: click.Context, project_dir: str) -> None:
    """Customer audiences, computed traits and journeys kept as code."""
    ctx.obj = CliContext(project_dir=project_dir)


for _name in COMMAND_MODULES:
    importlib.import_module(f"engagectl.cli.{_name}").register(main)
