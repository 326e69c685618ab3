"""`engagectl state` (not built yet)."""

import click


def register(group: click.Group) -> None:
    """Add this module's commands to the CLI (nothing yet)."""
