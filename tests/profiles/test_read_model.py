"""The read model answers `/traits` as the warehouse reader does, and follows the warehouse's changes."""

from __future__ import annotations

import json
import time

import pytest

from engagectl.config.models import IdentitySettings
from engagectl.identity import resolve_identities
from engagectl.ingest import ingest_messages
from engagectl.profiles import ProfileNotFound, ProfileReader, ReadModelReader
from engagectl.warehouse import open_warehouse

MESSAGES = [
    # an anonymous visitor with a profile of its own until the identify below merges it into u1's
    {"type": "identify", "anonymousId": "a_early", "messageId": "m0", "timestamp": "2024-04-30T10:00:00Z",
     "traits": {"referrer": "ads"}},
    {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "m1", "timestamp": "2024-05-01T10:00:00Z",
     "traits": {"email": "Bob@Example.com", "plan": "pro", "first_name": "Bob"}},
    {"type": "identify", "userId": "u1", "anonymousId": "a_early", "messageId": "m2",
     "timestamp": "2024-05-02T10:00:00Z"},
    {"type": "identify", "userId": "u2", "messageId": "m3", "timestamp": "2024-05-03T10:00:00Z",
     "traits": {"plan": "free"}},
]

REQUESTS = [
    ("email", "bob@example.com", {}),
    ("email", "BOB@example.com ", {"include": ["plan", "ltv"]}),
    ("anonymous_id", "a_early", {"include": ["high_value", "referrer", "tier"]}),
    ("user_id", "u1", {"cls": "audience"}),
    ("user_id", "u1", {"cls": "computed_trait", "verbose": True}),
    ("user_id", "u1", {"limit": 2}),
    ("user_id", "u1", {"limit": 2, "next": "high_value"}),
    ("user_id", "u1", {"verbose": True, "limit": 200}),
    ("user_id", "u2", {}),
    ("User_Id", "u2", {"include": ["plan"]}),
]


def _computed(warehouse, profile_id: str, key: str, kind: str, value) -> None:
    warehouse.execute(warehouse.parse(
        "INSERT INTO computed_values (computation_key, kind, profile_id, value, updated_at) "
        "VALUES (:k, :kind, :p, :v, TIMESTAMP '2024-05-04 10:00:00')",
        k=key, kind=kind, p=profile_id, v=json.dumps(value)))


@pytest.fixture
def warehouse(warehouse_url):
    warehouse = open_warehouse(warehouse_url)
    ingest_messages(warehouse, MESSAGES, source="web")
    resolve_identities(warehouse, IdentitySettings())
    bob = ProfileReader(warehouse, "spa_test").profile_id("user_id", "u1")
    _computed(warehouse, bob, "high_value", "audience", True)
    _computed(warehouse, bob, "churned", "audience", False)
    _computed(warehouse, bob, "ltv", "computed_trait", 42)
    _computed(warehouse, bob, "plan", "computed_trait", "enterprise")  # wins over the identify trait
    _computed(warehouse, bob, "crm", "sql_trait", {"tier": "gold", "seats": 3})
    yield warehouse
    warehouse.close()


def _answer(reader, id_type, id_value, params):
    try:
        return reader.traits(id_type, id_value, **params)
    except ProfileNotFound:
        return "not found"


def test_bodies_are_the_warehouse_readers(warehouse):
    queried, served = ProfileReader(warehouse, "spa_test"), ReadModelReader(warehouse, "spa_test")
    bob = queried.profile_id("user_id", "u1")
    for id_type, id_value, params in [*REQUESTS, ("profile_id", bob, {}), ("segment_id", bob, {"limit": 1}),
                                      ("email", "nobody@example.com", {}), ("user_id", "a1", {}),
                                      ("profile_id", bob.upper(), {})]:
        assert _answer(served, id_type, id_value, params) == _answer(queried, id_type, id_value, params), (
            id_type, id_value, params)
    body = served.traits("anonymous_id", "a_early", include=["plan", "tier", "referrer"])
    assert body["traits"] == {"plan": "enterprise", "referrer": "ads", "tier": "gold"}  # merged into u1's profile
    assert served.traits("user_id", "u1", include=["plan"], verbose=True)["traits"]["plan"]["source_id"] == "engage"


def test_every_route_finds_the_profile_through_the_model(warehouse):
    served = ReadModelReader(warehouse, "spa_test")
    external = served.external_ids("anonymous_id", "a_early")["data"]
    assert {(item["type"], item["id"]) for item in external} >= {("user_id", "u1"), ("anonymous_id", "a_early")}
    assert served.metadata("email", "bob@example.com")["metadata"]["first_message_id"] == "m0"
    with pytest.raises(ProfileNotFound):
        served.links("email", "nobody@example.com")


def test_a_commit_through_its_own_connection_is_served_at_once(warehouse):
    served = ReadModelReader(warehouse, "spa_test", refresh_seconds=3600)
    assert served.traits("user_id", "u2")["traits"] == {"plan": "free"}
    ingest_messages(warehouse, [{"type": "identify", "userId": "u2", "messageId": "m4",
                                 "timestamp": "2024-05-05T10:00:00Z", "traits": {"plan": "pro"}},
                                {"type": "identify", "userId": "u3", "messageId": "m5",
                                 "timestamp": "2024-05-05T11:00:00Z"}])
    resolve_identities(warehouse, IdentitySettings())
    assert served.traits("user_id", "u2")["traits"] == {"plan": "pro"}
    assert served.traits("user_id", "u3")["traits"] == {}


def test_a_commit_by_another_connection_is_served_within_a_second(warehouse_url, warehouse):
    served = ReadModelReader(warehouse, "spa_test")
    assert served.traits("user_id", "u2")["traits"] == {"plan": "free"}
    other = open_warehouse(warehouse_url)  # another process on Postgres; a second connection on DuckDB
    try:
        ingest_messages(other, [{"type": "identify", "userId": "u2", "messageId": "m4",
                                 "timestamp": "2024-05-05T10:00:00Z", "traits": {"plan": "pro"}}])
        resolve_identities(other, IdentitySettings())
    finally:
        other.close()
    committed = time.monotonic()
    while served.traits("user_id", "u2")["traits"] != {"plan": "pro"}:
        assert time.monotonic() - committed < 1.5, "the read model did not follow the commit"
        time.sleep(0.05)


def test_traits_run_no_statement_until_the_warehouse_may_have_moved(warehouse, monkeypatch):
    served = ReadModelReader(warehouse, "spa_test", refresh_seconds=3600)
    served.traits("user_id", "u1")
    statements: list[str] = []
    for method in ("_run", "_run_bound"):
        original = getattr(warehouse, method)
        monkeypatch.setattr(warehouse, method, lambda sql, *args, _run=original, **kw: (
            statements.append(sql), _run(sql, *args, **kw))[1])
    for _ in range(100):
        served.traits("email", "bob@example.com", include=["high_value"])
    assert statements == []
    assert served.refresh() is False  # nothing moved: the version is read, the model kept
    assert len(statements) == 1
