"""Diagnostics for people: `file:line:col: message`, coloured only when writing to a terminal.

Every command that refuses input renders its diagnostics here; the JSON form is
`Diagnostic.to_json()` (PRODUCT.md §5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from rich.console import Console
from rich.text import Text

from engagectl.diagnostics import Diagnostic

if TYPE_CHECKING:
    from engagectl.config.validate import ValidationReport

_SEVERITY_STYLES = {"error": "bold red", "warning": "bold yellow"}


def error_console() -> Console:
    """A console on stderr; rich leaves out colour when stderr is not a terminal."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def diagnostic_text(diagnostic: Diagnostic) -> Text:
    """The same line as `str(diagnostic)`, with the location and severity coloured.

    The message is appended as plain text, never parsed as rich markup (it may hold `[...]`).
    """
    location = str(Diagnostic(message="", file=diagnostic.file, line=diagnostic.line,
                              column=diagnostic.column))
    text = Text()
    text.append(location, style=_SEVERITY_STYLES["error"] if diagnostic.severity == "error" else "bold")
    if diagnostic.severity != "error":
        text.append("warning: ", style=_SEVERITY_STYLES["warning"])
    text.append(diagnostic.message)
    return text


def render_diagnostics(diagnostics: Iterable[Diagnostic], console: Console | None = None) -> None:
    """Write every diagnostic, one per line, in the `file:line:col: message` form."""
    console = console or error_console()
    for diagnostic in diagnostics:
        console.print(diagnostic_text(diagnostic), soft_wrap=True)


def count_phrase(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def render_validation(
    report: "ValidationReport", console: Console | None = None, errors: Console | None = None
) -> None:
    """`engagectl validate` for people: problems on stderr, a one-line verdict."""
    errors = errors or error_console()
    render_diagnostics(report.diagnostics, errors)
    if report.valid:
        console = console or Console(highlight=False, soft_wrap=True)
        verb = "is" if report.resources == 1 else "are"
        line = Text("Success! ", style="bold green")
        line.append(f"{count_phrase(report.resources, 'resource')} {verb} valid.")
        console.print(line)
    else:
        errors.print(Text(f"{count_phrase(len(report.errors), 'error')} found.", style="bold red"))
