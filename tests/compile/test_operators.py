"""Each trait and property operator, executed on DuckDB and on Postgres over hand-made rows."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from engagectl.compile import Compiler, to_sql
from engagectl.config.models import Audience

AS_OF = datetime(2024, 6, 1, tzinfo=timezone.utc)
HOSTILE = "x'); drop table engage.events; --"

# profile → its `plan`-like trait value (missing when absent from the dict)
TRAIT_VALUES = {
    "p_pro": "pro",
    "p_free": "free",
    "p_ten": 10,
    "p_nine": 9.0,
    "p_true": True,
    "p_date": "2024-05-20T00:00:00Z",
    "p_future": "2024-06-10T00:00:00Z",
    "p_old": "2023-01-01",
    "p_hostile": HOSTILE,
    "p_missing": None,
}

TRAIT_CASES = [
    ({"eq": "pro"}, {"p_pro"}),
    ({"neq": "pro"}, set(TRAIT_VALUES) - {"p_pro", "p_missing"}),
    ({"gt": 9}, {"p_ten"}),
    ({"gte": 9}, {"p_ten", "p_nine"}),
    ({"lt": 10}, {"p_nine"}),
    ({"lte": 10}, {"p_ten", "p_nine"}),
    ({"eq": 10}, {"p_ten"}),
    ({"eq": True}, {"p_true"}),
    ({"one_of": ["pro", "free"]}, {"p_pro", "p_free"}),
    ({"none_of": ["pro", "free"]}, set(TRAIT_VALUES) - {"p_pro", "p_free", "p_missing"}),
    ({"contains": "re"}, {"p_free"}),
    ({"contains": ["pr", "fr"]}, {"p_pro", "p_free"}),
    ({"omits": "r"}, set(TRAIT_VALUES) - {"p_pro", "p_free", "p_true", "p_hostile", "p_missing"}),
    ({"starts_with": "pr"}, {"p_pro"}),
    ({"ends_with": "ee"}, {"p_free"}),
    ({"exists": True}, set(TRAIT_VALUES) - {"p_missing"}),
    ({"absent": True}, {"p_missing"}),
    ({"before": "2024-01-01"}, {"p_old"}),
    ({"after": "2024-05-01T00:00:00Z"}, {"p_date", "p_future"}),
    ({"within_last": "30d"}, {"p_date"}),
    ({"within_next": "30d"}, {"p_future"}),
    ({"before_last": "30d"}, {"p_old"}),
    ({"after_next": "5d"}, {"p_future"}),
    ({"eq": HOSTILE}, {"p_hostile"}),
]


def _seed(warehouse, events=()):
    """Profiles with a user_id each, a `plan` identify trait where given, and some events."""
    identities = [(p, "user_id", p) for p in TRAIT_VALUES]
    warehouse.insert_rows(warehouse.table("identities"), ["profile_id", "id_type", "id_value"], identities)
    traits = [(p, "plan", json.dumps(v)) for p, v in TRAIT_VALUES.items() if v is not None]
    warehouse.insert_rows(warehouse.table("profile_traits"), ["profile_id", "key", "value"], traits)
    rows = [(f"m{i}", "track", name, profile, datetime(2024, 5, 1, 12), json.dumps(properties), "{}")
            for i, (profile, name, properties) in enumerate(events)]
    warehouse.insert_rows(warehouse.table("events"),
                          ["message_id", "type", "event", "profile_id", "timestamp", "properties", "context"], rows)


def _members(warehouse, where: dict) -> set[str]:
    audience = Audience.model_validate({"kind": "audience", "key": "a", "where": where})
    query = Compiler(warehouse.dialect, warehouse.schema, AS_OF).compile_audience(audience)
    rows = warehouse.fetchall(query)
    assert len(rows) == len({r[0] for r in rows}), "a member appears twice"
    return {r[0] for r in rows}


def test_trait_operators(warehouse):
    _seed(warehouse)
    for operator, expected in TRAIT_CASES:
        assert _members(warehouse, {"trait": "plan", **operator}) == expected, operator
        # `not` is the exact complement among eligible profiles, missing values included
        assert _members(warehouse, {"not": {"trait": "plan", **operator}}) == set(TRAIT_VALUES) - expected, operator


def test_property_operators(warehouse):
    events = [(p, "Order Completed", {"plan": v} if v is not None else {}) for p, v in TRAIT_VALUES.items()]
    _seed(warehouse, events)
    for operator, expected in TRAIT_CASES:
        where = {"event": "Order Completed", "where": {"property": "plan", **operator}}
        assert _members(warehouse, where) == expected, operator


def test_hostile_value_is_a_literal_that_matches_only_itself(warehouse):
    _seed(warehouse, [("p_hostile", "Searched", {"q": HOSTILE}), ("p_pro", "Searched", {"q": "x"}),
                      ("p_free", "Searched", {"q": HOSTILE + " "})])
    where = {"event": "Searched", "where": {"property": "q", "eq": HOSTILE}}
    audience = Audience.model_validate({"kind": "audience", "key": "a", "where": where})
    sql = to_sql(Compiler(warehouse.dialect, warehouse.schema, AS_OF).compile_audience(audience), warehouse.dialect)
    assert "'x''); drop table engage.events; --'" in sql
    assert _members(warehouse, where) == {"p_hostile"}
    assert warehouse.fetchall("SELECT COUNT(*) FROM " + f'"{warehouse.schema}"."events"')[0][0] == 3


def test_trait_names_resolve_computed_then_sql_columns_then_identify_traits(warehouse):
    from tests.compile.conftest import make_project

    project = make_project([
        {"kind": "computed_trait", "key": "plan", "event": "Plan Chosen", "value": {"last": "plan"}},
        {"kind": "sql_trait", "key": "support", "identifier": "user_id", "sql": "select 1"},
        {"kind": "audience", "key": "vip", "where": {"trait": "plan", "eq": "gold"}},
    ])
    _seed(warehouse)  # identify trait `plan` = pro for p_pro: shadowed by the computed trait `plan`
    warehouse.insert_rows(warehouse.table("computed_values"), ["computation_key", "kind", "profile_id", "value"], [
        ("plan", "computed_trait", "p_free", json.dumps("gold")),
        ("support", "sql_trait", "p_ten", json.dumps({"open_tickets": 3})),
        ("support", "sql_trait", "p_nine", json.dumps({"open_tickets": 1})),
        ("vip", "audience", "p_nine", json.dumps(True)),
    ])
    compiler = Compiler(warehouse.dialect, warehouse.schema, AS_OF, project)

    def members(where: dict) -> set[str]:
        audience = Audience.model_validate({"kind": "audience", "key": "a", "where": where})
        return {r[0] for r in warehouse.fetchall(compiler.compile_audience(audience))}

    assert members({"trait": "plan", "eq": "gold"}) == {"p_free"}
    assert members({"trait": "plan", "eq": "pro"}) == set()
    assert members({"trait": "support.open_tickets", "gte": 2}) == {"p_ten"}
    assert members({"audience": "vip"}) == {"p_nine"}
    assert members({"trait": "vip", "eq": True}) == {"p_nine"}
    # without the project, `plan` is the identify trait
    plain = Compiler(warehouse.dialect, warehouse.schema, AS_OF)
    audience = Audience.model_validate({"kind": "audience", "key": "a", "where": {"trait": "plan", "eq": "pro"}})
    assert {r[0] for r in warehouse.fetchall(plain.compile_audience(audience))} == {"p_pro"}


def test_computed_trait_without_anonymous_profiles(warehouse):
    from engagectl.config.models import ComputedTrait

    _seed(warehouse, [("p_pro", "Logged In", {}), ("anon_only", "Logged In", {}), ("anon_only", "Logged In", {})])
    warehouse.insert_rows(warehouse.table("identities"), ["profile_id", "id_type", "id_value"],
                          [("anon_only", "anonymous_id", "a-1")])
    compiler = Compiler(warehouse.dialect, warehouse.schema, AS_OF)
    for include_anonymous, expected in ((True, {"p_pro": 1, "anon_only": 2}), (False, {"p_pro": 1})):
        trait = ComputedTrait.model_validate({"kind": "computed_trait", "key": "logins", "event": "Logged In",
                                              "value": "count", "include_anonymous": include_anonymous})
        assert dict(warehouse.fetchall(compiler.compile_computed_trait(trait))) == expected
