"""The human view: colour only on a terminal, replace marked as forcing replacement."""

from __future__ import annotations

import io

from rich.console import Console

from engagectl.plan import Plan, ResourceChange
from engagectl.views.plan import render_plan

BEFORE = {"kind": "audience", "key": "old_key", "where": {"event": "X"}, "include_anonymous": False}


def _replace_plan() -> Plan:
    change = ResourceChange(address="audience.new_key", kind="audience", key="new_key", action="replace",
                            reasons=["key changed from old_key to new_key"], before=BEFORE,
                            after={**BEFORE, "key": "new_key"}, replaces="audience.old_key", after_hash="h")
    return Plan(lineage="l", serial=3, state_was_empty=False, changes=[change])


def _render(terminal: bool) -> str:
    stream = io.StringIO()
    render_plan(_replace_plan(), Console(file=stream, force_terminal=terminal, width=200))
    return stream.getvalue()


def test_colour_on_a_terminal_and_plain_text_elsewhere():
    assert "\x1b[" in _render(terminal=True)
    assert "\x1b[" not in _render(terminal=False)


def test_a_replace_shows_the_key_forcing_replacement_and_counts_as_add_and_destroy():
    text = _render(terminal=False)
    assert '-/+ audience "new_key"' in text
    assert 'key: "old_key" → "new_key" # forces replacement' in text
    assert "Plan: 1 to add, 0 to change, 1 to destroy." in text
