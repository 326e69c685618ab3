"""Every conformance scenario under specs/conformance/{audiences,traits} holds on DuckDB and on
Postgres, and both engines produce exactly the same members and values."""

from __future__ import annotations

import pytest
import yaml

from tests.compile.conftest import REPO, check_expectations, run_scenario

SCENARIO_FOLDERS = [REPO / "specs" / "conformance" / "audiences", REPO / "specs" / "conformance" / "traits"]


def _scenarios() -> list:
    found = []
    for folder in SCENARIO_FOLDERS:
        for path in sorted(folder.glob("*.yaml")):
            for index, document in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
                found.append(pytest.param(document, id=f"{path.parent.name}/{path.stem}#{index}"))
    return found


def _by_identifier(outcome) -> tuple[dict, dict]:
    """Members and values keyed by each profile's external ids, comparable across engines."""
    from sqlglot import exp

    rows = outcome.warehouse.fetchall(
        exp.select(exp.column("profile_id", quoted=True), exp.column("id_type", quoted=True),
                   exp.column("id_value", quoted=True)).from_(outcome.warehouse.table("identities")))
    names: dict[str, list[str]] = {}
    for profile, id_type, id_value in rows:
        names.setdefault(profile, []).append(f"{id_type}:{id_value}")
    label = {profile: ",".join(sorted(ids)) for profile, ids in names.items()}
    members = {key: sorted(label.get(p, p) for p in profiles) for key, profiles in outcome.members.items()}
    values = {key: {label.get(p, p): v for p, v in by_profile.items()} for key, by_profile in outcome.values.items()}
    return members, values


def test_there_are_many_scenarios():
    assert len(_scenarios()) >= 50


@pytest.mark.parametrize("document", _scenarios())
def test_scenario_holds_on_duckdb_and_postgres(document, tmp_path, request):
    from engagectl.warehouse import open_warehouse

    results = []
    urls = [f"duckdb:///{tmp_path / 'warehouse.duckdb'}", request.getfixturevalue("postgres_url")]
    for url in urls:
        warehouse = open_warehouse(url, tmp_path)
        try:
            outcome = run_scenario(warehouse, document)
            check_expectations(outcome, document)
            results.append(_by_identifier(outcome))
        finally:
            warehouse.close()
    duckdb_result, postgres_result = results
    assert duckdb_result[0] == postgres_result[0], "DuckDB and Postgres disagree on members"
    for key, values in duckdb_result[1].items():
        for ident, value in values.items():
            other = postgres_result[1][key].get(ident)
            if isinstance(value, float):
                assert other == pytest.approx(value), f"{key} of {ident}: DuckDB {value!r}, Postgres {other!r}"
            else:
                assert other == value, f"{key} of {ident}: DuckDB {value!r}, Postgres {other!r}"
