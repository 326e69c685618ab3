"""`engagectl preview` for people: the size, then one line per sampled member."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from engagectl.compile.preview import PREVIEW_ID_TYPES, AudiencePreview


def render_preview(result: AudiencePreview, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    as_of = result.as_of.isoformat().replace("+00:00", "Z")
    console.print(f"{result.key}: {result.size:,} member(s) as of {as_of}")
    if not result.sample:
        return
    table = Table("profile_id", *PREVIEW_ID_TYPES, title=f"sample ({len(result.sample)})", title_justify="left")
    for profile in result.sample:
        table.add_row(profile.profile_id, *(", ".join(profile.external_ids[t]) for t in PREVIEW_ID_TYPES))
    console.print(table)
