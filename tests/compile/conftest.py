"""Fixtures for compiler tests: a warehouse loaded through the real pipeline, and a scenario loop.

A scenario (specs/conformance/*) is run the way a real run does it: ingest_messages → identity
resolution → every computed trait, then every audience in dependency order, each compiled for the
warehouse's dialect, executed there and its values stored in `computed_values` so later
computations can read them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from sqlglot import exp

from engagectl.compile import Compiler
from engagectl.config.loader import Project
from engagectl.config.models import ProjectSettings, ResourceModel

RESOURCE = TypeAdapter(ResourceModel)
REPO = Path(__file__).resolve().parents[2]


def parse_as_of(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def plain(value: Any) -> Any:
    """Warehouse values as JSON-ready Python values (engines return Decimals and tuples)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def make_project(resources: list[dict], settings: dict | None = None) -> Project:
    models = [RESOURCE.validate_python(r) for r in resources]
    return Project(directory=Path("."), settings=ProjectSettings.model_validate(settings or {}),
                   resources={m.address: m for m in models})


def load_events(warehouse, events: list[dict], settings: ProjectSettings | None = None) -> None:
    """Ingest the messages and resolve identities with the real pipeline pieces."""
    from engagectl.identity import resolve_identities
    from engagectl.ingest import ingest_messages

    report = ingest_messages(warehouse, events)
    assert not getattr(report, "errors", None), report
    resolve_identities(warehouse, (settings or ProjectSettings()).identity)


def profile_of(warehouse, ident: str) -> str | None:
    id_type, _, id_value = ident.partition(":")
    rows = warehouse.fetchall(
        exp.select(exp.column("profile_id", quoted=True)).from_(warehouse.table("identities")).where(exp.and_(
            exp.column("id_type", quoted=True).eq(exp.Literal.string(id_type)),
            exp.column("id_value", quoted=True).eq(exp.Literal.string(id_value)))))
    return rows[0][0] if rows else None


@dataclass
class Outcome:
    """What one scenario run produced: members per audience, values per computed trait."""

    warehouse: Any
    members: dict[str, set[str]] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)

    def profile(self, ident: str) -> str:
        profile = profile_of(self.warehouse, ident)
        assert profile is not None, f"no profile has {ident}"
        return profile


def audience_order(project: Project) -> list:
    """Audiences after the audiences they reference (cycles are validate's business)."""
    audiences = {a.key: a for a in project.of_kind("audience")}
    ordered, seen = [], set()

    def references(node) -> set[str]:
        data = node.model_dump(by_alias=True, exclude_none=True)
        found = set()

        def walk(item):
            if isinstance(item, dict):
                for key, value in item.items():
                    if key in ("audience", "trait") and isinstance(value, str) and value in audiences:
                        found.add(value)
                    walk(value)
            elif isinstance(item, list):
                for value in item:
                    walk(value)

        walk(data)
        return found

    def visit(key):
        if key in seen:
            return
        seen.add(key)
        for dependency in sorted(references(audiences[key].where)):
            visit(dependency)
        ordered.append(audiences[key])

    for key in sorted(audiences):
        visit(key)
    return ordered


def store_values(warehouse, key: str, kind: str, values: dict[str, Any]) -> None:
    rows = [(key, kind, profile, json.dumps(value)) for profile, value in values.items()]
    if rows:
        warehouse.insert_rows(warehouse.table("computed_values"), ["computation_key", "kind", "profile_id", "value"], rows)


def run_computations(warehouse, project: Project, as_of: datetime) -> Outcome:
    compiler = Compiler(warehouse.dialect, warehouse.schema, as_of, project)
    outcome = Outcome(warehouse)
    for trait in project.of_kind("computed_trait"):
        rows = warehouse.fetchall(compiler.compile_computed_trait(trait))
        outcome.values[trait.key] = {profile: plain(value) for profile, value in rows}
        store_values(warehouse, trait.key, "computed_trait", outcome.values[trait.key])
    for audience in audience_order(project):
        rows = warehouse.fetchall(compiler.compile_audience(audience))
        outcome.members[audience.key] = {row[0] for row in rows}
        assert len(rows) == len(outcome.members[audience.key]), f"{audience.key}: duplicate members"
        store_values(warehouse, audience.key, "audience", {p: True for p in outcome.members[audience.key]})
    return outcome


def run_scenario(warehouse, document: dict) -> Outcome:
    project = make_project(document["project"]["resources"], document["project"].get("settings"))
    load_events(warehouse, document.get("events", []), project.settings)
    return run_computations(warehouse, project, parse_as_of(document["as_of"]))


def check_expectations(outcome: Outcome, document: dict) -> None:
    expect = document.get("expect", {})
    name = document["name"]
    for key, idents in (expect.get("members") or {}).items():
        for ident in idents:
            assert outcome.profile(ident) in outcome.members[key], f"{name}: {ident} should be in {key}"
    for key, idents in (expect.get("non_members") or {}).items():
        for ident in idents:
            profile = profile_of(outcome.warehouse, ident)
            assert profile not in outcome.members[key], f"{name}: {ident} should not be in {key}"
    for key, size in (expect.get("sizes") or {}).items():
        assert len(outcome.members[key]) == size, f"{name}: {key} has {len(outcome.members[key])} members, expected {size}"
    for ident, traits in (expect.get("traits") or {}).items():
        profile = outcome.profile(ident)
        for key, expected in traits.items():
            actual = outcome.values[key].get(profile)
            if isinstance(expected, dict) and "approx" in expected:
                assert actual is not None and abs(actual - expected["approx"]) <= expected.get("tolerance", 1e-6), \
                    f"{name}: {ident}.{key} = {actual!r}, expected ≈{expected['approx']}"
            else:
                assert actual == expected, f"{name}: {ident}.{key} = {actual!r}, expected {expected!r}"


@pytest.fixture
def warehouse(warehouse_url, tmp_path):
    from engagectl.warehouse import open_warehouse

    opened = open_warehouse(warehouse_url, tmp_path)
    yield opened
    opened.close()
