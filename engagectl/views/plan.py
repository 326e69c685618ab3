"""Plans and applies for people: Terraform's symbols, a line per changed attribute, the summary.

Colour only on a terminal (rich decides from the stream). The JSON forms are the result objects'
own `to_json()`; this module only renders for humans.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from engagectl.plan.model import AttributeDiff, Plan, ResourceChange

_SYMBOLS = {"create": ("+", "green"), "update": ("~", "yellow"), "delete": ("-", "red"),
            "replace": ("-/+", "red"), "no-op": (" ", "")}
_VERBS = {"create": "will be created", "update": "will be updated in-place", "delete": "will be destroyed",
          "replace": "must be replaced"}
NO_CHANGES = "No changes. Your audiences match the applied state."


def stdout_console() -> Console:
    """A console on stdout: rich leaves out colour when stdout is not a terminal."""
    return Console(highlight=False, soft_wrap=True)


def summary_line(plan: Plan) -> str:
    """`Plan: X to add, Y to change, Z to destroy.` (a replace is one add and one destroy)."""
    counts = plan.summary
    add = counts["create"] + counts["replace"]
    destroy = counts["delete"] + counts["replace"]
    return f"Plan: {add} to add, {counts['update']} to change, {destroy} to destroy."


def render_plan(plan: Plan, console: Console | None = None, *, show_impact: bool = True) -> None:
    """The plan; `show_impact`: with each change's estimated entries and exits (and why there are none)."""
    console = console or stdout_console()
    if not plan.has_changes:
        console.print(Text(NO_CHANGES, style="bold green"))
        return
    console.print("engagectl will perform the following actions:")
    legend = sorted({c.action for c in plan.pending}, key=list(_SYMBOLS).index)
    console.print("Resource actions are indicated with the following symbols:")
    for action in legend:
        console.print(Text(f"  {_SYMBOLS[action][0]:>3} ", style=_SYMBOLS[action][1]) + Text(_legend(action)))
    console.print()
    for change in plan.pending:
        render_change(change, console, show_impact=show_impact, as_of=plan.impact_as_of)
    if show_impact and plan.impact_note:
        console.print(Text(f"impact not shown: {plan.impact_note}", style="dim"))
    console.print(Text(summary_line(plan), style="bold"))


def _legend(action: str) -> str:
    return {"create": "create", "update": "update in-place", "delete": "destroy",
            "replace": "destroy and then create replacement"}[action]


def render_change(change: ResourceChange, console: Console, *, show_impact: bool = True,
                  as_of: str | None = None) -> None:
    symbol, style = _SYMBOLS[change.action]
    heading = f"  # {change.address} {_VERBS[change.action]}"
    if change.replaces:
        heading += f" (replaces {change.replaces}: the key changed)"
    console.print(Text(heading, style="bold"))
    for reason in change.reasons:
        console.print(Text(f"  # {reason}", style="dim"))
    if show_impact and change.impact is not None:
        for line in impact_lines(change, as_of):
            console.print(Text(f"  # {line}", style="cyan"))
    console.print(Text(f"  {symbol} ", style=style) + Text(f'{change.kind} "{change.key}" {{'))
    for diff in _shown_diffs(change):
        console.print(_diff_line(change, diff))
    console.print("    }\n")


def impact_lines(change: ResourceChange, as_of: str | None = None) -> list[str]:
    """`would enter 12, exit 3 (size 140) if applied now`; a journey: one line per step."""
    impact = change.impact or {}
    when = f"if applied as of {as_of}" if as_of else "if applied now"
    if change.kind == "journey":
        return [f"step {key}: {_movement(counts, False, when)}" for key, counts in impact.get("steps", {}).items()]
    return [_movement(impact, change.kind in ("computed_trait", "sql_trait"), when)]


def _movement(counts: dict, trait: bool, when: str) -> str:
    moved = f"would enter {counts['entered']}, exit {counts['exited']}"
    if trait and counts.get("changed"):
        moved += f", change value for {counts['changed']}"
    return f"{moved} (size {counts['size']}) {when}"


def _shown_diffs(change: ResourceChange) -> list[AttributeDiff]:
    if change.action == "delete":
        return []  # the address says it all; every attribute goes
    return change.attribute_diffs


def _diff_line(change: ResourceChange, diff: AttributeDiff) -> Text:
    if change.action == "create" or diff.added:
        line = Text("      + ", style="green") + Text(f"{diff.path} = {_value(diff.new)}")
    elif diff.removed:
        line = Text("      - ", style="red") + Text(f"{diff.path} = {_value(diff.old)}")
    else:
        line = Text("      ~ ", style="yellow") + Text(f"{diff.path}: {_value(diff.old)} → {_value(diff.new)}")
    if diff.forces_replacement:
        line.append(" # forces replacement", style="red")
    return line


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_apply(result, console: Console | None = None) -> None:
    """After the state transaction: what changed and the new serial."""
    console = console or stdout_console()
    counts = result.plan.summary
    if not result.applied:
        console.print(Text("Apply complete! No changes; the state is unchanged "
                           f"(serial {result.serial}).", style="bold green"))
        return
    add = counts["create"] + counts["replace"]
    destroy = counts["delete"] + counts["replace"]
    console.print(Text(f"Apply complete! Resources: {add} added, {counts['update']} changed, {destroy} destroyed.",
                       style="bold green"))
    console.print(f"State serial {result.serial} (lineage {result.lineage}).")
