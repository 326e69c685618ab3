"""`engagectl ingest` for people: one line per file, then any errors as `file:line: message`.

(`engagectl profile` prints JSON either way: the Profile API body is the output.)
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from engagectl.ingest import IngestReport


def render_ingest(report: IngestReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    for file in report.files:
        status = "refused" if file.errors else f"{file.loaded:,} loaded, {file.duplicates:,} duplicates"
        console.print(Text(f"{file.path} ({file.source}): {file.lines:,} lines, {status}"))
    for error in report.errors:
        errors.print(Text(str(error), style="red"))
    console.print(f"{len(report.files)} file(s), {report.lines:,} lines, {report.loaded:,} loaded, "
                  f"{report.duplicates:,} duplicates" + (f", {len(report.errors)} error(s)" if report.errors else ""))
