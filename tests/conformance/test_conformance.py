"""The project's conformance scenarios (specs/conformance/**.yaml), run by `engagectl test`'s runner.

Every test document of every scenario file runs on every engine the suite covers; a scenario
that fails is a failure here (never a skip), so behaviour that drifts from the contract shows.
A generated data set then runs on DuckDB and Postgres and their computed values must agree row
by row.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlglot import exp

from engagectl.testing import run_case
from engagectl.testing.expectations import values_match
from engagectl.testing.fixtures import run_fixture
from engagectl.testing.parser import TestCase, parse_test_file
from engagectl.testing.readings import Readings
from engagectl.testing.sandbox import throwaway_warehouse

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "specs" / "conformance"


def _scenarios() -> list:
    """One param per test document (or per unreadable file, which then fails with its errors)."""
    params = []
    for path in sorted(SCENARIOS.rglob("*.y*ml")):
        shown = str(path.relative_to(ROOT))
        cases, diagnostics = parse_test_file(path, shown)
        if diagnostics:
            params.append(pytest.param(None, "\n".join(map(str, diagnostics)), id=shown))
        for index, case in enumerate(cases):
            suffix = f"#{index + 1}" if len(cases) > 1 else ""
            params.append(pytest.param(case, None, id=f"{path.relative_to(SCENARIOS)}{suffix}"))
    return params


@pytest.fixture(params=["duckdb", "postgres"])
def engine(request) -> tuple[str, str | None]:
    if request.param == "duckdb":
        return "duckdb", None
    return "postgres", request.getfixturevalue("postgres_base_url")


def test_there_are_scenarios():
    assert len(_scenarios()) >= 10, "specs/conformance/ holds the project's behaviour; it should not be empty"


@pytest.mark.parametrize(("case", "problems"), _scenarios())
def test_scenario(case: TestCase | None, problems: str | None, engine):
    assert problems is None, f"the scenario file is malformed:\n{problems}"
    assert case.project is not None, f"{case.file}:{case.line}: a conformance scenario defines its `project:`"
    result = run_case(case, case.project, engine[0], postgres_url=engine[1])
    report = "\n".join(
        f"  {f.expectation}: {f.message}\n    {json.dumps(f.evidence, sort_keys=True, default=str)}"
        for f in result.failures
    )
    assert result.status == "passed", f"{case.file}:{case.line} {case.name!r} {result.status}:\n{report}"


# --------------------------------------------------------------------------------------------
# DuckDB and Postgres agree on a generated data set
# --------------------------------------------------------------------------------------------

GENERATED_DEFINITIONS = """\
name: generated data set
as_of: "2024-06-01T00:00:00Z"
events_file: events.jsonl
tables:
  tickets: {tickets}
project:
  settings:
    identity:
      identifiers: {{email: {{limit: 2}}}}
  resources:
    - {{kind: computed_trait, key: revenue_90d, event: Order Completed, within: 90d, value: {{sum: revenue}}}}
    - {{kind: computed_trait, key: avg_order, event: Order Completed, value: {{avg: revenue}}}}
    - {{kind: computed_trait, key: orders, event: Order Completed, value: count}}
    - {{kind: computed_trait, key: last_product, event: Product Added, value: {{last: product_id}}}}
    - {{kind: computed_trait, key: top_category, event: Product Added, value: {{most_frequent: category}}}}
    - {{kind: computed_trait, key: categories, event: Product Added, value: {{unique: category}}}}
    - kind: sql_trait
      key: support
      identifier: user_id
      sql: select user_id, count(*) as open_tickets from tickets where status = 'open' group by 1
    - kind: audience
      key: repeat_buyers
      where: {{event: Order Completed, within: 30d, count: {{gte: 2}}}}
    - kind: audience
      key: big_spenders
      where: {{event: Order Completed, within: 90d, sum: {{property: revenue, gte: 150}}}}
    - kind: audience
      key: abandoned_cart
      where: {{event: Product Added, within: 14d, then_not: {{event: Order Completed, within: 2d}}}}
    - kind: audience
      key: pro_not_repeat
      where: {{all: [{{trait: plan, eq: pro}}, {{not: {{audience: repeat_buyers}}}}]}}
    - kind: audience
      key: supported_spenders
      where: {{any: [{{trait: support.open_tickets, gte: 2}}, {{trait: revenue_90d, gt: 300}}]}}
    - kind: audience
      key: lapsed
      where: {{event: Order Completed, between: [30d, 90d]}}
    - kind: journey
      key: onboarding
      entry: {{event: Signed Up, within: 60d}}
      steps:
        - key: browsed
          where: {{event: Product Added}}
        - key: bought
          wait: 1d
          where: {{event: Order Completed}}
"""


def _generated_events(seed: int = 7, users: int = 30) -> tuple[list[dict], list[dict]]:
    """Deterministic events for `users` people: anonymous browsing, sign-ups, orders, merges."""
    rng = random.Random(seed)
    start = datetime(2024, 2, 1, tzinfo=timezone.utc)
    stamp = lambda: (start + timedelta(hours=rng.randrange(0, 24 * 125))).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    events: list[dict] = []
    tickets: list[dict] = []
    for n in range(users):
        user, anon = f"u{n}", f"a{n}"
        email = f"user{n}@example.com"
        events.append({"type": "track", "event": "Product Added", "anonymousId": anon, "timestamp": stamp(),
                       "properties": {"product_id": f"p{rng.randrange(5)}", "category": rng.choice("abc")}})
        events.append({"type": "identify", "userId": user, "anonymousId": anon, "timestamp": stamp(),
                       "traits": {"email": email, "plan": rng.choice(["free", "pro", "enterprise"])}})
        if rng.random() < 0.6:
            events.append({"type": "track", "event": "Signed Up", "userId": user, "timestamp": stamp()})
        for _ in range(rng.randrange(0, 6)):
            events.append({"type": "track", "event": "Product Added", "userId": user, "timestamp": stamp(),
                           "properties": {"product_id": f"p{rng.randrange(5)}", "category": rng.choice("abc")}})
        for _ in range(rng.randrange(0, 5)):
            events.append({"type": "track", "event": "Order Completed", "userId": user, "timestamp": stamp(),
                           "properties": {"revenue": round(rng.uniform(5, 150), 2)}})
        for _ in range(rng.randrange(0, 3)):
            tickets.append({"user_id": user, "status": rng.choice(["open", "closed"])})
    return events, tickets


def _computed(case: TestCase, engine: str, postgres_url: str | None) -> dict[tuple[str, str], object]:
    with throwaway_warehouse(engine, postgres_url) as warehouse:
        run_fixture(case, case.project, warehouse)
        read = Readings(warehouse)
        keys = [row[0] for row in warehouse.fetchall(
            exp.select("computation_key").distinct().from_(warehouse.table("computed_values")))]
        values = {(key, profile): value for key in keys for profile, value in read.computed_values(key).items()}
        values.update({("identities", profile): ids for profile, ids in read.external_ids().items()})
        return values


def test_duckdb_and_postgres_compute_the_same_values(tmp_path, postgres_base_url):
    events, tickets = _generated_events()
    (tmp_path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    test_file = tmp_path / "generated.yaml"
    test_file.write_text(GENERATED_DEFINITIONS.format(tickets=json.dumps(tickets)), encoding="utf-8")
    cases, diagnostics = parse_test_file(test_file)
    assert diagnostics == []
    duckdb = _computed(cases[0], "duckdb", None)
    postgres = _computed(cases[0], "postgres", postgres_base_url)
    assert len(duckdb) > 100, "the generated data set should exercise every computation"
    assert {k for k, _ in duckdb} >= {"revenue_90d", "repeat_buyers", "support", "onboarding__browsed", "identities"}
    only_duckdb = sorted(set(duckdb) - set(postgres))
    only_postgres = sorted(set(postgres) - set(duckdb))
    assert (only_duckdb, only_postgres) == ([], [])
    differing = {row: (duckdb[row], postgres[row]) for row in duckdb if not values_match(duckdb[row], postgres[row])}
    assert differing == {}
