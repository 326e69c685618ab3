"""The identity scenarios of specs/conformance/identity/, run on DuckDB and on Postgres.

Each scenario ingests its events, resolves identities with its settings, and compares each
profile's external ids with the expected ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engagectl.config.models import IdentitySettings
from engagectl.identity import resolve_identities
from engagectl.ingest import ingest_messages
from engagectl.warehouse import open_warehouse

SCENARIO_DIR = Path(__file__).resolve().parents[2] / "specs" / "conformance" / "identity"


def _scenarios() -> list:
    found = []
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append(pytest.param(document, id=f"{path.stem}: {document['name']}"))
    return found


def profiles_by_external_ids(warehouse) -> list[dict[str, list[str]]]:
    rows = warehouse.fetchall(warehouse.parse(
        "SELECT profile_id, id_type, id_value FROM identities ORDER BY profile_id, id_type, id_value"))
    profiles: dict[str, dict[str, list[str]]] = {}
    for profile_id, id_type, id_value in rows:
        profiles.setdefault(profile_id, {}).setdefault(id_type, []).append(id_value)
    return _normalise(list(profiles.values()))


def _normalise(expected: list[dict]) -> list[dict[str, list[str]]]:
    return sorted(({t: sorted(str(v) for v in p[t]) for t in sorted(p)} for p in expected), key=repr)


@pytest.mark.parametrize("scenario", _scenarios())
def test_identity_scenario(scenario, warehouse_url):
    settings = IdentitySettings.model_validate(scenario.get("project", {}).get("settings", {}).get("identity") or {})
    warehouse = open_warehouse(warehouse_url)
    try:
        report = ingest_messages(warehouse, scenario["events"])
        assert report.ok, report.errors
        resolve_identities(warehouse, settings)
        actual = profiles_by_external_ids(warehouse)
        expect = scenario["expect"]
        if "profiles" in expect:
            assert actual == _normalise(expect["profiles"])
        if "profile_count" in expect:
            assert len(actual) == expect["profile_count"]
        unresolved = warehouse.fetchall(warehouse.parse("SELECT COUNT(*) FROM events WHERE profile_id IS NULL"))
        assert unresolved[0][0] == 0
    finally:
        warehouse.close()


def test_every_rule_has_a_scenario():
    names = {path.stem for path in SCENARIO_DIR.glob("*.yaml")}
    assert {"linking_anonymous_history", "shared_anonymous_id", "blocked_values", "limits", "priority",
            "merges", "normalisation", "external_ids"} <= names
