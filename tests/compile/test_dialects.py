"""Every node compiles for every dialect, and the SQL parses back with sqlglot in that dialect."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlglot
from sqlglot import exp

from engagectl.compile import SUPPORTED_DIALECTS, CompileError, Compiler, to_sql
from engagectl.config.models import Audience, ComputedTrait

AS_OF = datetime(2024, 6, 1, tzinfo=timezone.utc)

AUDIENCE = Audience.model_validate({
    "kind": "audience", "key": "everything",
    "where": {"all": [
        {"event": "Order Completed", "where": {"property": "revenue", "gt": 100}, "within": "90d", "count": {"gte": 3}},
        {"event": "Order Completed", "between": ["30d", "90d"], "avg": {"property": "revenue", "lt": 20}},
        {"event": "Product Added", "within": "7d",
         "then_not": {"event": "Order Completed", "within": "1d", "where": {"property": "sku", "eq": {"parent": "sku"}}}},
        {"any": [
            {"trait": "plan", "one_of": ["pro", "enterprise"]},
            {"trait": "renewal", "within_last": "30d"},
            {"trait": "seats", "gte": {"trait": "min_seats"}},
        ]},
        {"not": {"audience": "churned"}},
        {"event": "Page Viewed", "where": {"any": [
            {"context": "page.url", "starts_with": "https://"}, {"property": "title", "omits": ["x", "y"]},
            {"property": "at", "before": "2024-01-01"}, {"property": "n", "none_of": [1, "two"]},
            {"property": "n", "absent": True}]}},
    ]},
})

TRAITS = [
    ComputedTrait.model_validate({"kind": "computed_trait", "key": f"t_{kind}", "event": "Order Completed",
                                  "within": "30d", "value": "count" if kind == "count" else {kind: "revenue"}})
    for kind in ("count", "sum", "avg", "min", "max", "most_frequent", "first", "last", "unique", "unique_count")
]


@pytest.mark.parametrize("dialect", SUPPORTED_DIALECTS)
def test_audience_round_trips(dialect):
    sql = to_sql(Compiler(dialect, as_of=AS_OF).compile_audience(AUDIENCE), dialect)
    parsed = sqlglot.parse_one(sql, read=dialect)
    assert [s.alias_or_name for s in parsed.selects] == ["profile_id"]


@pytest.mark.parametrize("dialect", SUPPORTED_DIALECTS)
@pytest.mark.parametrize("trait", TRAITS, ids=lambda t: t.key)
def test_computed_trait_round_trips(dialect, trait):
    sql = to_sql(Compiler(dialect, as_of=AS_OF).compile_computed_trait(trait), dialect)
    parsed = sqlglot.parse_one(sql, read=dialect)
    assert [s.alias_or_name for s in parsed.selects] == ["profile_id", "value"]


def test_windows_are_literal_instants_relative_to_as_of():
    sql = to_sql(Compiler("duckdb", as_of=AS_OF).compile_audience(AUDIENCE.where.all[0]), "duckdb")
    assert "2024-03-03 00:00:00" in sql  # 2,160 hours before the as-of
    assert "2024-06-01 00:00:00" in sql


def test_non_funnel_event_conditions_share_one_scan_of_events():
    audience = Audience.model_validate({"kind": "audience", "key": "a", "where": {"all": [
        {"event": "Order Completed", "within": "30d"},
        {"event": "Order Completed", "within": "90d", "count": {"gte": 3}},
        {"event": "Page Viewed", "sum": {"property": "seconds", "gte": 60}},
    ]}})
    query = Compiler("duckdb", as_of=AS_OF).compile_audience(audience)
    scans = [t for t in query.find_all(exp.Table) if t.name == "events"]
    assert len(scans) == 1


def test_parent_reference_outside_a_funnel_is_an_error():
    condition = Audience.model_validate({"kind": "audience", "key": "a", "where": {
        "event": "Order Completed", "where": {"property": "sku", "eq": {"parent": "sku"}}}}).where
    with pytest.raises(CompileError, match="parent"):
        Compiler("duckdb", as_of=AS_OF).compile_audience(condition)


def test_unknown_dialect_is_refused():
    with pytest.raises(ValueError, match="unknown dialect"):
        Compiler("oracle9", as_of=AS_OF)
