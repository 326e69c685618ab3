"""Profile reads: the Profile API bodies for traits, external ids, events, metadata and links."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from engagectl.cli import main
from engagectl.config.models import IdentitySettings
from engagectl.identity import resolve_identities
from engagectl.ingest import ingest_messages
from engagectl.profiles import ProfileNotFound, ProfileReader
from engagectl.warehouse import open_warehouse

MESSAGES = [
    {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "m1", "timestamp": "2024-05-01T10:00:00Z",
     "traits": {"email": "Bob@Example.com", "plan": "pro", "first_name": "Bob"}},
    {"type": "track", "event": "Order Completed", "userId": "u1", "messageId": "m2",
     "timestamp": "2024-05-02T10:00:00Z", "properties": {"revenue": 42}},
    {"type": "group", "userId": "u1", "groupId": "ACME", "messageId": "m3", "timestamp": "2024-05-03T10:00:00Z"},
]


@pytest.fixture
def reader(warehouse_url):
    warehouse = open_warehouse(warehouse_url)
    ingest_messages(warehouse, MESSAGES, source="web")
    resolve_identities(warehouse, IdentitySettings())
    yield ProfileReader(warehouse, "spa_test")
    warehouse.close()


def _computed(reader, key, kind, value):
    profile_id = reader.profile_id("user_id", "u1")
    reader.warehouse.execute(reader.warehouse.parse(
        "INSERT INTO computed_values (computation_key, kind, profile_id, value) VALUES (:k, :kind, :p, :v)",
        k=key, kind=kind, p=profile_id, v=json.dumps(value)))


def test_traits_body_has_identify_traits_and_a_cursor(reader):
    body = reader.traits("email", "BOB@example.com")
    profile_id = reader.profile_id("user_id", "u1")
    assert body == {
        "traits": {"email": "Bob@Example.com", "first_name": "Bob", "plan": "pro"},
        "cursor": {"url": f"/v1/spaces/spa_test/collections/users/profiles/{profile_id}/traits",
                   "has_more": False, "next": "", "limit": 10},
    }


def test_traits_pages_by_key_order(reader):
    first = reader.traits("user_id", "u1", limit=2)
    assert list(first["traits"]) == ["email", "first_name"]
    assert (first["cursor"]["has_more"], first["cursor"]["next"]) == (True, "plan")
    second = reader.traits("user_id", "u1", limit=2, next="plan")
    assert (second["traits"], second["cursor"]["has_more"], second["cursor"]["next"]) == ({"plan": "pro"}, False, "")


def test_computed_values_audiences_and_sql_trait_columns(reader):
    _computed(reader, "high_value", "audience", True)
    _computed(reader, "churned", "audience", False)
    _computed(reader, "ltv", "computed_trait", 42)
    _computed(reader, "crm", "sql_trait", {"tier": "gold"})
    assert reader.traits("user_id", "u1", include=["high_value", "churned", "ltv", "tier"])["traits"] == {
        "churned": False, "high_value": True, "ltv": 42, "tier": "gold"}
    assert reader.traits("user_id", "u1", cls="audience")["traits"] == {"churned": False, "high_value": True}
    assert reader.traits("user_id", "u1", cls="computed_trait")["traits"] == {"ltv": 42}


def test_verbose_traits_carry_source_and_update_time(reader):
    body = reader.traits("user_id", "u1", include=["plan"], verbose=True)
    assert body["traits"] == {"plan": {"value": "pro", "source_id": "web", "updated_at": "2024-05-01T10:00:00Z"}}


def test_unknown_profiles_are_not_found(reader):
    with pytest.raises(ProfileNotFound, match="Profile was not found."):
        reader.traits("email", "nobody@example.com")


def test_external_ids_events_metadata_links(reader):
    ids = reader.external_ids("user_id", "u1")
    assert {(d["type"], d["id"]) for d in ids["data"]} == {
        ("user_id", "u1"), ("anonymous_id", "a1"), ("email", "bob@example.com"), ("group_id", "acme")}
    assert ids["data"][0] | {"type": "", "id": ""} == {
        "source_id": "web", "collection": "users", "id": "", "type": "", "created_at": "2024-05-01T10:00:00Z",
        "encoding": "none", "first_message_id": "m1"}
    assert reader.external_ids("user_id", "u1", include=["email"])["data"][0]["id"] == "bob@example.com"
    events = reader.events("user_id", "u1", now=datetime(2024, 5, 10, tzinfo=UTC))
    assert [(e["event"], e["message_id"], e["properties"]) for e in events["data"]] == [
        ("Order Completed", "m2", {"revenue": 42})]
    assert events["data"][0]["related"] == {"users": reader.profile_id("user_id", "u1")}
    metadata = reader.metadata("user_id", "u1")["metadata"]
    assert (metadata["first_message_id"], metadata["last_message_id"], metadata["created_at"]) == (
        "m1", "m3", "2024-05-01T10:00:00Z")
    links = reader.links("user_id", "u1")["data"]
    assert links[0]["to_collection"] == "accounts"
    assert [e["id"] for e in links[0]["external_ids"]] == ["acme"]


def test_events_show_only_the_last_14_days(reader):
    # m2 was tracked on 2024-05-02 at 10:00: inside the window for 14 days, then gone
    assert len(reader.events("user_id", "u1", now=datetime(2024, 5, 16, 9, tzinfo=UTC))["data"]) == 1
    assert reader.events("user_id", "u1", now=datetime(2024, 5, 16, 11, tzinfo=UTC))["data"] == []
    assert reader.events("user_id", "u1")["data"] == []  # by default the window ends now


def test_an_identifier_matches_its_type_only(reader):
    # anonymous id `a1` exists; the same value as a user id does not
    assert reader.profile_id("anonymous_id", "a1") == reader.profile_id("user_id", "u1")
    with pytest.raises(ProfileNotFound):
        reader.profile_id("user_id", "a1")


def test_profile_command_prints_the_traits_body_and_404_shape(tmp_path):
    (tmp_path / "engage.yaml").write_text("space: spa_cli\n")
    warehouse = open_warehouse("duckdb:///.engage/warehouse.duckdb", project_dir=tmp_path)
    ingest_messages(warehouse, MESSAGES)
    resolve_identities(warehouse, IdentitySettings())
    warehouse.close()
    runner = CliRunner()
    found = runner.invoke(main, ["-C", str(tmp_path), "profile", "email:bob@example.com", "--include", "plan"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.output)["traits"] == {"plan": "pro"}
    ids = runner.invoke(main, ["-C", str(tmp_path), "profile", "anonymous_id:a1", "--external-ids", "--json"])
    assert "bob@example.com" in {d["id"] for d in json.loads(ids.output)["data"]}
    missing = runner.invoke(main, ["-C", str(tmp_path), "profile", "user_id:nobody"])
    assert missing.exit_code == 1
    assert json.loads(missing.output) == {"error": {"code": "not_found", "message": "Profile was not found."}}


def test_a_hostile_identifier_resolves_and_reads_back_as_text(warehouse_url):
    hostile = "x'); drop table engage.events; --"
    warehouse = open_warehouse(warehouse_url)
    try:
        ingest_messages(warehouse, [{"type": "identify", "userId": hostile, "messageId": hostile,
                                     "timestamp": "2024-05-01T10:00:00Z", "traits": {"nick": hostile}}])
        resolve_identities(warehouse, IdentitySettings())
        reader = ProfileReader(warehouse, "spa")
        assert reader.traits("user_id", hostile)["traits"] == {"nick": hostile}
        assert reader.external_ids("user_id", hostile)["data"][0]["id"] == hostile
    finally:
        warehouse.close()
