"""Selection by impact: which tests touch the definitions named (`--select`) or changed (`--changed`).

A test touches the keys its expectations and `select:` name. A definition impacts its own keys
and, transitively, every audience and journey that reads them (a changed trait selects the
audiences built on it). `--changed` compares the working tree's canonical specs with the applied
ones in the state.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

from engagectl.config.loader import Project
from engagectl.plan.canonical import canonical_spec, references, spec_hash, step_keys
from engagectl.testing.parser import TestCase


def owned_trait_keys(spec: dict) -> set[str]:
    """The keys a definition answers to: its key, and a journey's step keys."""
    return {spec["key"], *step_keys(spec).values()}


def _specs(project: Project) -> dict[str, dict]:
    return {address: canonical_spec(resource) for address, resource in project.resources.items()}


def impacted_keys(specs: dict[str, dict], start: Iterable[str]) -> set[str]:
    """`start` and every key that reads one of them, transitively."""
    readers: dict[str, set[str]] = defaultdict(set)
    owners: dict[str, set[str]] = {}
    for spec in specs.values():
        owned = owned_trait_keys(spec)
        for key in owned:
            owners[key] = owned
        for name in references(spec):
            readers[name].update(owned)
    found: set[str] = set()
    pending = list(start)
    while pending:
        key = pending.pop()
        if key in found:
            continue
        found.add(key)
        pending.extend(owners.get(key, set()) - found)
        pending.extend(readers.get(key, set()) - found)
    return found


def keys_of_test(case: TestCase, project: Project | None) -> set[str]:
    """The computation keys a test names (its `select:` and its expectations)."""
    expect = case.spec.expect
    keys = set(case.spec.select or [])
    keys.update(expect.members, expect.non_members, expect.sizes)
    for traits in expect.traits.values():
        keys.update(name.split(".", 1)[0] for name in traits)
    if expect.changes is not None:
        keys.update(expect.changes.entered or {})
        keys.update(expect.changes.exited or {})
    # a plain SQL-trait column (`open_tickets`) is read through its SQL trait
    if project is not None:
        for sql_trait in project.of_kind("sql_trait"):
            if keys & _sql_columns(sql_trait.sql):
                keys.add(sql_trait.key)
    return keys


def _sql_columns(sql: str) -> set[str]:
    """The output column names of a SQL trait's query (empty when it cannot be read)."""
    try:
        import sqlglot

        return {select.alias_or_name for select in sqlglot.parse_one(sql).selects}
    except Exception:  # templated or engine-specific SQL: fall back to the trait's key alone
        return set()


def select_tests(cases: list[TestCase], keys: Iterable[str], project: Project | None) -> list[TestCase]:
    """The tests touching any of `keys` or anything built on them."""
    chosen: list[TestCase] = []
    wanted = list(keys)
    for case in cases:
        definitions = case.project or project
        specs = _specs(definitions) if definitions is not None else {}
        if keys_of_test(case, definitions) & impacted_keys(specs, wanted):
            chosen.append(case)
    return chosen


def changed_tests(cases: list[TestCase], project: Project) -> list[TestCase]:
    """Tests on the project's definitions touching a definition changed since the last apply.

    Tests with inline definitions do not read the working tree, so no change selects them.
    """
    working = _specs(project)
    applied = applied_specs(project)
    changed: set[str] = set()
    for address in set(working) | set(applied):
        now, then = working.get(address), applied.get(address)
        if now is None or then is None or spec_hash(now) != spec_hash(then):
            changed.update(owned_trait_keys(now or then))
    impacted = impacted_keys({**applied, **working}, changed)
    return [case for case in cases if case.project is None and keys_of_test(case, project) & impacted]


def applied_specs(project: Project) -> dict[str, dict]:
    """address → canonical spec as last applied (empty when nothing was ever applied).

    A state that does not exist yet is not created just to be read.
    """
    from engagectl.config.env import resolve_env
    from engagectl.state.store import open_state
    from engagectl.urls import parse_database_url

    url = resolve_env(project.settings.state)
    parsed = parse_database_url(url, project.directory)
    if parsed.backend == "sqlite" and parsed.url.database and not Path(parsed.url.database).exists():
        return {}
    state = open_state(url, str(project.directory))
    try:
        snapshot = state.snapshot()
    finally:
        state.close()
    return {address: stored.spec for address, stored in snapshot.resources.items()}
