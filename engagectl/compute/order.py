"""Which computations a run makes, and in which order: dependencies first.

A computation is one audience, computed trait, SQL trait or journey (a journey computes its
steps one after the other). Traits come first, then audiences in topological order of their
`audience:` / `trait:` references, then journeys — but any reference wins over that default, so
an audience built on a journey step runs after the journey.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Iterable

from pydantic import BaseModel

from engagectl.compute.errors import ComputationError
from engagectl.config.models import (
    Audience,
    AudienceCondition,
    ComputedTrait,
    Journey,
    SqlTrait,
    TraitCondition,
    TraitRef,
)

# Default order between independent computations.
KIND_RANK = {"computed_trait": 0, "sql_trait": 0, "audience": 1, "journey": 2}
COMPUTED_KINDS = tuple(KIND_RANK)


@dataclass
class Computation:
    """One unit of a run: a resource and the computation keys it reads."""

    key: str
    kind: str
    resource: Any
    depends_on: set[str] = field(default_factory=set)


def referenced_names(node: Any) -> Iterable[tuple[str, str]]:
    """(`audience`|`trait`, name) for every reference in a condition or predicate tree."""
    if isinstance(node, AudienceCondition):
        yield "audience", node.audience
    if isinstance(node, TraitCondition):
        yield "trait", node.trait
    if isinstance(node, TraitRef):
        yield "trait", node.trait
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from referenced_names(getattr(node, name))
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from referenced_names(item)


def producers(project) -> dict[str, str]:
    """Every trait name a computation produces → the key of the computation producing it."""
    owners: dict[str, str] = {}
    for resource in project.resources.values():
        if resource.kind in ("audience", "computed_trait", "sql_trait"):
            owners[resource.key] = resource.key
        elif resource.kind == "journey":
            owners[resource.key] = resource.key
            for step in resource.steps:
                owners[resource.step_audience_key(step)] = resource.key
    return owners


def _dependencies(resource, owners: dict[str, str], sql_trait_keys: set[str]) -> set[str]:
    if isinstance(resource, SqlTrait):
        return set()
    if isinstance(resource, Journey):
        trees: list[Any] = [resource.entry] + [step.where for step in resource.steps]
    elif isinstance(resource, (Audience, ComputedTrait)):
        trees = [resource.where]
    else:
        return set()
    found: set[str] = set()
    for _, name in referenced_names(trees):
        if name in owners:
            found.add(owners[name])
        elif "." in name and name.split(".", 1)[0] in sql_trait_keys:
            found.add(name.split(".", 1)[0])  # `support.open_tickets`: a SQL trait's column
    found.discard(resource.key)
    return found


def project_computations(project) -> dict[str, Computation]:
    owners = producers(project)
    sql_trait_keys = {r.key for r in project.of_kind("sql_trait")}
    return {
        resource.key: Computation(resource.key, resource.kind, resource,
                                  _dependencies(resource, owners, sql_trait_keys))
        for resource in project.resources.values()
        if resource.kind in COMPUTED_KINDS
    }


def selected_keys(project, keys: Iterable[str] | None) -> set[str] | None:
    """The computations named by `keys` (bare keys, `kind.key` addresses or journey-step keys)."""
    if keys is None:
        return None
    owners = producers(project)
    chosen: set[str] = set()
    for raw in keys:
        key = raw.split(".", 1)[1] if raw.split(".", 1)[0] in KIND_RANK and "." in raw else raw
        if key in owners:
            chosen.add(owners[key])
    return chosen


def ordered_computations(project, keys: Iterable[str] | None = None) -> list[Computation]:
    """The run's computations in dependency order; `keys` narrows to those and what they read."""
    computations = project_computations(project)
    wanted = selected_keys(project, keys)
    if wanted is not None:
        closure: set[str] = set()
        pending = list(wanted)
        while pending:
            key = pending.pop()
            if key in closure or key not in computations:
                continue
            closure.add(key)
            pending.extend(computations[key].depends_on)
        computations = {k: c for k, c in computations.items() if k in closure}

    waiting = {key: {d for d in c.depends_on if d in computations} for key, c in computations.items()}
    ready = [(KIND_RANK[c.kind], key) for key, c in computations.items() if not waiting[key]]
    heapq.heapify(ready)
    order: list[Computation] = []
    while ready:
        _, key = heapq.heappop(ready)
        order.append(computations[key])
        for other, needs in waiting.items():
            if key in needs:
                needs.discard(key)
                if not needs:
                    heapq.heappush(ready, (KIND_RANK[computations[other].kind], other))
    if len(order) != len(computations):
        stuck = sorted(set(computations) - {c.key for c in order})
        raise ComputationError(f"computations reference each other in a cycle: {', '.join(stuck)}")
    return order
