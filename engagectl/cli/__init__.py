"""The `engagectl` command line: one module per command family, registered on one group.

Commands parse arguments, call the engine and hand the result to a view; they hold no logic.
"""

from __future__ import annotations

import importlib
import os

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


class EngageGroup(click.Group):
    """The command group; a usage error exits 1 like every other error.

    Click exits 2 on usage errors, but `plan --detailed-exitcode` means "changes" by 2, so a CI
    script reading `|| [ $? -eq 2 ]` would take a mistyped option for a pending change.
    """

    def make_context(self, *args, **kwargs):
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as error:
            error.exit_code = 1
            raise

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            error.exit_code = 1
            raise


@click.group(cls=EngageGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-C", "project_dir", default=".", type=click.Path(file_okay=False), show_default=True,
              help="Run as if engagectl was started in this project folder.")
@click.version_option(__version__, prog_name="engagectl")
@click.pass_context
def main(ctx: click.Context, project_dir: str) -> None:
    """Customer audiences, computed traits and journeys kept as code."""
    if project_dir != "." and os.path.isdir(project_dir):
        # like `git -C`: relative paths on the command line (plan -out, apply FILE, ingest PATH)
        # are read in the project folder; the previous folder is restored when the command ends
        project_dir = os.path.abspath(project_dir)
        previous = os.getcwd()
        os.chdir(project_dir)
        ctx.call_on_close(lambda: os.chdir(previous))
    ctx.obj = CliContext(project_dir=project_dir)


for _name in COMMAND_MODULES:
    importlib.import_module(f"engagectl.cli.{_name}").register(main)
