"""`engagectl explain` for people: the condition tree with ✓/✗ per node and its evidence."""

from __future__ import annotations

import json

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from engagectl.compile.explain import ExplainedNode, Explanation

# Matching events printed per node in the human view (`--json` has them all).
SHOWN_EVENTS = 5


def _mark(value: bool) -> Text:
    # fold, never crop: a long description must stay readable in a narrow or piped terminal
    mark = Text("✓ ", style="bold green") if value else Text("✗ ", style="bold red")
    mark.overflow = "fold"
    return mark


def _label(node: ExplainedNode) -> Text:
    text = _mark(node.value)
    text.append(node.description)
    figures = {k: v for k, v in node.evidence.items() if k not in ("events", "identifiers")}
    if figures:
        text.append("  " + ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in figures.items()), style="dim")
    return text


def _add(tree: Tree, node: ExplainedNode) -> None:
    branch = tree.add(_label(node))
    for event in node.evidence.get("events", [])[:SHOWN_EVENTS]:
        line = f"{event['timestamp']}  {event['message_id']}"
        if "value" in event:
            line += f"  value={event['value']}"
        branch.add(Text(line, style="dim", overflow="fold"))
    hidden = len(node.evidence.get("events", [])) - SHOWN_EVENTS
    if hidden > 0:
        branch.add(Text(f"… {hidden} more (see --json)", style="dim"))
    for child in node.children:
        _add(branch, child)


def render_explanation(explanation: Explanation, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    verdict = "is a member of" if explanation.member else "is not a member of"
    if explanation.kind == "computed_trait":
        verdict = f"has {explanation.key} = {json.dumps(explanation.value, default=str)}" if explanation.value is not None \
            else "has no value for"
    headline = Text()
    headline.append_text(_mark(explanation.member))
    headline.append(f"{explanation.identifier} ({explanation.profile_id}) {verdict}"
                    + ("" if explanation.kind == "computed_trait" and explanation.value is not None else f" {explanation.key}"))
    headline.append(f"  as of {explanation.as_of.isoformat().replace('+00:00', 'Z')}", style="dim")
    tree = Tree(headline)
    eligibility = tree.add(_label(explanation.eligibility))
    for id_type, values in explanation.eligibility.evidence.get("identifiers", {}).items():
        eligibility.add(Text(f"{id_type}: {', '.join(values)}", style="dim"))
    _add(tree, explanation.condition)
    console.print(tree)
