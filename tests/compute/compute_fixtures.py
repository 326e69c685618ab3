"""Helpers for run tests: projects built inline, profiles and events written into the layout.

Ingest and identity resolution have their own tests; here a profile is a set of identifiers and
its events already carry its profile_id, so every test states exactly who did what, when.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timezone
from pathlib import Path

from pydantic import TypeAdapter
from sqlglot import exp

from engagectl.config.loader import Project
from engagectl.config.models import ProjectSettings, ResourceModel

_RESOURCE = TypeAdapter(ResourceModel)


def ts(text: str) -> datetime:
    """`2024-06-01T00:00:00Z` → an aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def make_project(directory: Path, resources: list[dict], **settings) -> Project:
    project = Project(directory=directory, settings=ProjectSettings(**settings))
    for data in resources:
        resource = _RESOURCE.validate_python(data)
        project.resources[resource.address] = resource
    return project


class Seeder:
    """Writes profiles, identify traits and events into the warehouse tables."""

    def __init__(self, warehouse) -> None:
        self.warehouse = warehouse
        self._seq = itertools.count(1)

    def profile(self, profile_id: str, **identifiers: str | list[str]) -> str:
        now = datetime(2024, 1, 1)
        rows = []
        for id_type, values in identifiers.items():
            for value in [values] if isinstance(values, str) else values:
                rows.append((profile_id, id_type, value, now, now, None))
        self.warehouse.insert_rows(
            self.warehouse.table("identities"),
            ["profile_id", "id_type", "id_value", "first_seen", "last_seen", "first_message_id"], rows)
        self.warehouse.insert_rows(self.warehouse.table("profiles"), ["profile_id", "created_at", "updated_at"],
                                   [(profile_id, now, now)])
        return profile_id

    def trait(self, profile_id: str, key: str, value) -> None:
        self.warehouse.insert_rows(self.warehouse.table("profile_traits"),
                                   ["profile_id", "key", "value", "updated_at"],
                                   [(profile_id, key, json.dumps(value), datetime(2024, 1, 1))])

    def track(self, profile_id: str, event: str, timestamp: str, **properties) -> None:
        seq = next(self._seq)
        moment = ts(timestamp).replace(tzinfo=None)
        self.warehouse.insert_rows(
            self.warehouse.table("events"),
            ["message_id", "source", "type", "event", "timestamp", "received_at", "properties", "context",
             "traits", "raw", "profile_id", "seq"],
            [(f"m{seq}", "web", "track", event, moment, moment, json.dumps(properties), "{}", "{}", "{}",
              profile_id, seq)])


def values(warehouse, key: str) -> dict[str, object]:
    """profile_id → stored value of one computation."""
    rows = warehouse.fetchall(
        exp.select(exp.column("profile_id", quoted=True), exp.cast(exp.column("value", quoted=True), "TEXT"))
        .from_(warehouse.table("computed_values"))
        .where(exp.column("computation_key", quoted=True).eq(exp.Literal.string(key)))
    )
    return {profile: json.loads(value) for profile, value in rows}


def changes(warehouse, run_id: str) -> list[tuple]:
    """(computation_key, profile_id, change, old_value, new_value) of one run, sorted."""
    rows = warehouse.fetchall(
        exp.select(*[exp.column(c, quoted=True) for c in ("computation_key", "profile_id", "change")],
                   exp.cast(exp.column("old_value", quoted=True), "TEXT"),
                   exp.cast(exp.column("new_value", quoted=True), "TEXT"))
        .from_(warehouse.table("changes"))
        .where(exp.column("run_id", quoted=True).eq(exp.Literal.string(run_id)))
    )
    return sorted((k, p, c, None if o is None else json.loads(o), None if n is None else json.loads(n))
                  for k, p, c, o, n in rows)
