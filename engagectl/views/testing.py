"""`engagectl test` for people: one line per test, and for each failure why it failed.

The JSON form is `TestReport.to_json()`; JUnit XML is `engagectl.testing.junit`.
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.text import Text
from rich.tree import Tree

from engagectl.testing.results import ExpectationFailure, TestReport, TestResult

_MARKS = {"passed": ("✓", "green"), "failed": ("✗", "red"), "error": ("✗", "bold red")}


def render_report(report: TestReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False, soft_wrap=True)
    if not report.results:
        console.print(Text("no tests to run (none found or none selected)", style="yellow"))
    for result in report.results:
        console.print(result_line(result))
        for failure in result.failures:
            render_failure(failure, console)
    summary = f"{report.count('passed')} passed, {report.count('failed')} failed, {report.count('error')} errors"
    console.print(Text(summary, style="green" if report.ok else "red"))


def result_line(result: TestResult) -> Text:
    mark, style = _MARKS[result.status]
    line = Text()
    line.append(f"{mark} ", style=style)
    line.append(result.name)
    line.append(f"  {result.file}:{result.line}", style="dim")
    if result.status == "error":
        line.append("  (error)", style=style)
    return line


def render_failure(failure: ExpectationFailure, console: Console) -> None:
    console.print(Text.assemble(("    ", ""), (failure.expectation, "bold"), (": ", ""), (failure.message, "")))
    evidence = failure.evidence or {}
    profile = evidence.get("profile")
    if profile:
        console.print(Text("      profile: " + _profile_line(profile), style="dim"))
    if "explanation" in evidence:
        explanation = evidence["explanation"]
        if isinstance(explanation, str):
            console.print(Text(f"      why: {explanation}", style="yellow"))
        else:
            tree = Tree(Text("why:", style="yellow"), guide_style="dim")
            _add_explanation(tree, explanation)
            console.print(Padding(tree, (0, 0, 0, 6), expand=False), soft_wrap=False)
    for name, value in evidence.items():
        if name not in ("profile", "explanation"):
            console.print(Text(f"      {name}: {json.dumps(value, sort_keys=True, default=str)}", style="dim"))


def _profile_line(profile: dict[str, Any]) -> str:
    ids = profile.get("external_ids") or {}
    shown = ", ".join(f"{t}:{v}" for t, values in ids.items() for v in values)
    parts = [shown or profile.get("profile_id", "?")]
    if profile.get("traits"):
        parts.append("traits " + json.dumps(profile["traits"], sort_keys=True, default=str))
    if profile.get("computed"):
        parts.append("computed " + json.dumps(profile["computed"], sort_keys=True, default=str))
    return "; ".join(parts)


def _add_explanation(tree: Tree, explanation: Any) -> None:
    """The explained condition tree (engagectl.compile.explain): one node per line, ✓/✗ and figures."""
    if not isinstance(explanation, dict) or "condition" not in explanation:
        tree.add(Text(json.dumps(explanation, sort_keys=True, default=str)))
        return
    if explanation.get("eligibility"):
        _add_node(tree, explanation["eligibility"], prefix="eligible: ")
    _add_node(tree, explanation["condition"])


def _add_node(tree: Tree, node: dict[str, Any], prefix: str = "") -> None:
    holds = node.get("value") is True
    # fold, never crop: the figures at the end of a line (count=2) are why the test failed, and CI
    # logs are narrow pipes
    line = Text(overflow="fold")
    line.append("✓ " if holds else "✗ ", style="green" if holds else "red")
    line.append(prefix + str(node.get("description", node.get("kind", "?"))))
    figures = {k: v for k, v in (node.get("evidence") or {}).items() if k != "events"}
    if figures:
        line.append("  " + ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(figures.items())),
                    style="dim")
    events = (node.get("evidence") or {}).get("events")
    if isinstance(events, list):
        line.append(f"  ({len(events)} matching event{'s' if len(events) != 1 else ''})", style="dim")
    branch = tree.add(line)
    for child in node.get("children") or []:
        _add_node(branch, child)
