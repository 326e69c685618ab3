"""Attribute diffs between two canonical specs, one line per changed leaf path (for the human view)."""

from __future__ import annotations

from typing import Any

from engagectl.plan.model import AttributeDiff


def attribute_diffs(before: dict | None, after: dict | None) -> list[AttributeDiff]:
    """Changed leaf paths, in path order; lists are compared position by position."""
    old = dict(flatten(before)) if before else {}
    new = dict(flatten(after)) if after else {}
    diffs = []
    for path in sorted(set(old) | set(new), key=_path_order):
        if old.get(path, _MISSING) != new.get(path, _MISSING):
            diffs.append(AttributeDiff(path, old.get(path), new.get(path)))
    return diffs


_MISSING = object()


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(`where.all[0].event`, "Order Completed") pairs for every leaf; empty containers are leaves."""
    if isinstance(value, dict) and value:
        items = []
        for key, child in value.items():
            items += flatten(child, f"{prefix}.{key}" if prefix else str(key))
        return items
    if isinstance(value, list) and value:
        items = []
        for index, child in enumerate(value):
            items += flatten(child, f"{prefix}[{index}]")
        return items
    return [(prefix, value)]


def _path_order(path: str) -> tuple:
    # `kind` and `key` first, like the YAML people write; then alphabetical
    head = path.split(".", 1)[0].split("[", 1)[0]
    return ({"kind": 0, "key": 1, "name": 2}.get(head, 3), path)
