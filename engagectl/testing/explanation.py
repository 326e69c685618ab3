"""Why a profile is in or out: the condition tree with the values that decided it.

The same engine as `engagectl explain` (engagectl.compile). Only this module knows how to call it,
so a failure report degrades to "explanation unavailable" (with the reason) instead of failing
when the explainer cannot answer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engagectl.config.loader import Project

UNAVAILABLE = "explanation unavailable"


def explain_membership(project: Project, warehouse: Any, as_of: datetime, key: str, identifier: str) -> Any:
    """The explained condition tree of `key` (an audience or `journey__step`) for the profile
    holding `identifier` (`type:value`), as `engagectl explain KEY IDENT --json` shows it."""
    try:
        from engagectl.compile.explain import explain
    except ImportError:
        return f"{UNAVAILABLE}: the explain engine is not available in this build"
    try:
        id_type, _, id_value = identifier.partition(":")
        tree = explain(warehouse, project, key, id_type, id_value, as_of)
    except Exception as exc:  # an explanation is evidence, never a reason for the test to error
        return f"{UNAVAILABLE}: {type(exc).__name__}: {exc}"
    return _as_data(tree)


def _as_data(tree: Any) -> Any:
    """Explain results as plain JSON-able data (they may be dataclasses or pydantic models)."""
    if hasattr(tree, "to_dict"):
        return tree.to_dict()
    if hasattr(tree, "to_json"):
        return tree.to_json()
    if hasattr(tree, "model_dump"):
        return tree.model_dump(mode="json")
    import dataclasses

    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        return dataclasses.asdict(tree)
    return tree
