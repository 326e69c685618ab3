"""Cross-resource checks: references, cycles, key namespaces, destination bindings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engagectl.diagnostics import Diagnostic

if TYPE_CHECKING:
    from engagectl.config.loader import Project


def check_project(project: "Project") -> list[Diagnostic]:
    """Every cross-resource problem in the project (placeholder until the checks land)."""
    return []
