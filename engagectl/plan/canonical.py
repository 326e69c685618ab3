"""Canonical specs: what a resource means, independent of how its YAML was written.

Formatting, key order and comments are not changes; neither is the short form of a binding
(`- braze_us` is `{to: braze_us}` with the defaults) nor the order of bindings. The hash is the
sha256 of the canonical JSON. `${env:…}` placeholders are kept as written, never resolved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from engagectl.config.models import Resource
from engagectl.state.records import spec_json

# Audience, trait and journey-step keys share one namespace (each becomes a profile trait).
TRAIT_NAMESPACE = "trait"
NAMESPACES = {
    "audience": TRAIT_NAMESPACE,
    "computed_trait": TRAIT_NAMESPACE,
    "sql_trait": TRAIT_NAMESPACE,
    "journey": "journey",
    "destination": "destination",
}
LABEL_FIELDS = ("name", "description")
_DEFAULT_TRACK = {"enter": "Audience Entered", "exit": "Audience Exited", "event": "Trait Computed"}


def canonical_spec(resource: Resource) -> dict:
    """The resource as stored and compared: JSON data, bindings normalised, `protect` left out."""
    data = resource.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.pop("protect", None)
    if "destinations" in data:
        data["destinations"] = normalise_bindings(data["destinations"])
    for step in data.get("steps", []):
        if "destinations" in step:
            step["destinations"] = normalise_bindings(step["destinations"])
    return sort_keys(data)


def normalise_bindings(bindings: list) -> list[dict]:
    """Short and long forms, `track: true` and the default names, in a stable order."""
    normalised = []
    for binding in bindings:
        long = {"to": binding} if isinstance(binding, str) else dict(binding)
        long.setdefault("identify", True)
        long.setdefault("track", False)
        if long["track"] is True:
            long["track"] = dict(_DEFAULT_TRACK)
        normalised.append(long)
    return sorted(normalised, key=lambda b: b["to"])


def sort_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: sort_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sort_keys(v) for v in value]
    return value


def spec_hash(spec: dict) -> str:
    return hashlib.sha256(spec_json(spec).encode("utf-8")).hexdigest()


def namespace(kind: str) -> str:
    return NAMESPACES.get(kind, kind)


def step_keys(spec: dict) -> dict[str, str]:
    """A journey's steps by step key, each with its audience key `<journey>__<step>`."""
    if spec.get("kind") != "journey":
        return {}
    return {step["key"]: f"{spec['key']}__{step['key']}" for step in spec.get("steps", [])}


def owned_keys(spec: dict) -> list[tuple[str, str]]:
    """Every (namespace, key) a resource occupies: its own key, and a journey's step keys."""
    keys = [(namespace(spec["kind"]), spec["key"])]
    keys += [(TRAIT_NAMESPACE, k) for k in step_keys(spec).values()]
    return keys


def definition(spec: dict) -> dict:
    """The spec without its key and labels: two resources with equal definitions mean the same."""
    return {k: v for k, v in spec.items() if k not in ("key",) + LABEL_FIELDS}


def references(spec: dict) -> set[str]:
    """Trait-namespace keys a spec's conditions read (`audience: k`, `trait: k`, `{trait: k}`)."""
    found: set[str] = set()
    for node in _walk(spec):
        for field in ("audience", "trait"):
            value = node.get(field)
            if isinstance(value, str):
                found.add(value.split(".", 1)[0])  # `support.open_tickets` reads SQL trait `support`
    return found


def _walk(value: Any) -> Iterator[dict]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)
