"""What every command shares: the project folder, JSON output, and how errors end a command."""

from __future__ import annotations

import functools
import json
import sys
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Any, Callable

import click

from engagectl.diagnostics import Diagnostic, DiagnosticsError, EngageError


@dataclass
class CliContext:
    project_dir: str = "."
    quiet: bool = False  # set by commands printing JSON: nothing else may reach stdout
    after_render: list[Callable[[], None]] = field(default_factory=list)

    def load_project(self, check: bool = True):
        from engagectl.config import load_project

        return load_project(self.project_dir, check=check)


pass_cli = click.make_pass_decorator(CliContext)


def parse_as_of(value: str | None, *, default_now: bool = True) -> datetime | None:
    """`--as-of` (ISO-8601; a time without a zone is UTC) as aware UTC.

    Without a value: the current time (to the second), or None when `default_now` is false.
    """
    if value is None:
        return datetime.now(timezone.utc).replace(microsecond=0) if default_now else None
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time such as 2024-06-01T00:00:00Z",
                                 param_hint="--as-of") from exc
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def emit_json(document: Any) -> None:
    """`--json` prints exactly one JSON document on stdout."""
    click.echo(json.dumps(document, indent=2, default=str))


def print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        click.echo(str(diagnostic), err=True)


def handle_errors(func: Callable) -> Callable:
    """Turn engine errors into `file:line:col: message` on stderr and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except DiagnosticsError as exc:
            print_diagnostics(exc.diagnostics)
            sys.exit(1)
        except EngageError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper
