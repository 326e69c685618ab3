"""`engagectl run` for people: one line per computation with its size and what changed.

The JSON form is `RunResult.to_json()` (PRODUCT.md §5); this module renders for humans only.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from engagectl.compute.run import RunResult, iso_timestamp


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _figure(value: int, style: str) -> Text:
    return Text(f"{value:,}", style=style if value else "dim")


def render_run(result: RunResult, console: Console | None = None) -> None:
    console = console or _console()
    ingested = result.ingested
    if ingested is not None and ingested.files:
        console.print(f"Ingested {ingested.loaded:,} new messages from {len(ingested.files)} file(s)"
                      + (f", {ingested.duplicates:,} already loaded" if ingested.duplicates else "") + ".")
        for error in ingested.errors:
            console.print(Text(f"warning: {error}", style="yellow"))
    table = Table(title=f"Run {result.run_id} as of {iso_timestamp(result.as_of)}", title_justify="left")
    table.add_column("key")
    table.add_column("kind", style="dim")
    table.add_column("size", justify="right")
    table.add_column("entered", justify="right")
    table.add_column("exited", justify="right")
    table.add_column("changed", justify="right")
    for computation in result.computations:
        table.add_row(
            computation.key, computation.kind, f"{computation.size:,}",
            _figure(computation.entered, "green"), _figure(computation.exited, "red"),
            _figure(computation.changed, "yellow"),
        )
    if result.computations:
        console.print(table)
    else:
        console.print("Nothing to compute: no audiences, traits or journeys.")
    if result.commit:
        console.print(Text(f"Definitions at commit {result.commit[:12]}.", style="dim"))
    console.print(f"{result.queued:,} deliveries queued.")
