"""The Profile API over HTTP: Segment's routes, both path spellings, encoded ids, errors, cursors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from server_support import SPACE, basic

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def _at(hours_ago: int) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


MESSAGES = [
    # an anonymous visitor, its own profile until the identify below merges it into bob's
    {"type": "track", "anonymousId": "a_early", "event": "Product Viewed", "messageId": "t0", "timestamp": _at(50),
     "properties": {"sku": "Z9"}},
    {"type": "identify", "userId": "u_bob", "anonymousId": "a_early", "messageId": "i0", "timestamp": _at(45)},
    {"type": "identify", "userId": "u_bob", "anonymousId": "a_bob", "messageId": "i1", "timestamp": _at(40),
     "traits": {"email": "bob+vip@example.com", "plan": "pro", "first_name": "Bob"}},
    {"type": "track", "anonymousId": "a_bob", "event": "Order Completed", "messageId": "t1", "timestamp": _at(30),
     "properties": {"revenue": 150}},
    {"type": "track", "userId": "u_bob", "event": "Order Completed", "messageId": "t2", "timestamp": _at(20),
     "properties": {"revenue": 240}},
    {"type": "track", "userId": "u_bob", "event": "Product Viewed", "messageId": "t3", "timestamp": _at(10),
     "properties": {"sku": "A1"}},
]


@pytest.fixture
def seeded(context, project):
    from engagectl.compute.pipeline import run_pipeline
    from engagectl.ingest import ingest_messages

    ingest_messages(context.warehouse, MESSAGES, source="web")
    run_pipeline(project, context.warehouse, as_of=NOW)


def _get(client, token, path, prefix="spaces", **params):
    url = f"/v1/{prefix}/{SPACE}/collections/users/profiles/{path}"
    return client.get(url, params=params, headers=basic(token))


@pytest.mark.parametrize("prefix", ["spaces", "namespaces"])
def test_traits_by_any_identifier_under_both_prefixes(seeded, client, token, prefix):
    for identifier in ("user_id:u_bob", "anonymous_id:a_bob", "anonymous_id:a_early", "email:bob%2Bvip@example.com"):
        response = _get(client, token, f"{identifier}/traits", prefix=prefix, include="high_value_users,plan")
        assert response.status_code == 200, (identifier, response.text)
        assert response.json()["traits"] == {"high_value_users": True, "plan": "pro"}
        assert set(response.json()["cursor"]) >= {"url", "has_more", "next"}
        assert response.headers["request-id"]


def test_traits_class_limit_and_verbose(seeded, client, token):
    audiences = _get(client, token, "user_id:u_bob/traits", **{"class": "audience"}).json()["traits"]
    assert audiences == {"high_value_users": True}
    computed = _get(client, token, "user_id:u_bob/traits", **{"class": "computed_trait"}).json()["traits"]
    assert computed == {"revenue_365d": 390}

    first = _get(client, token, "user_id:u_bob/traits", limit=1).json()
    assert len(first["traits"]) == 1 and first["cursor"]["has_more"] is True and first["cursor"]["next"]
    rest = _get(client, token, "user_id:u_bob/traits", limit=200, next=first["cursor"]["next"]).json()
    assert not set(rest["traits"]) & set(first["traits"])

    verbose = _get(client, token, "user_id:u_bob/traits", include="plan", verbose="true").json()["traits"]
    assert verbose["plan"]["value"] == "pro"


def test_external_ids_events_metadata_links(seeded, client, token):
    external = _get(client, token, "user_id:u_bob/external_ids").json()
    assert {(item["type"], item["id"]) for item in external["data"]} >= {
        ("user_id", "u_bob"), ("anonymous_id", "a_bob"), ("anonymous_id", "a_early"), ("email", "bob+vip@example.com")}

    events = _get(client, token, "user_id:u_bob/events", sort="asc").json()["data"]
    tracked = [e["message_id"] for e in events if e["type"] == "track"]
    assert tracked == ["t0", "t1", "t2", "t3"]
    only = _get(client, token, "user_id:u_bob/events", include="Product Viewed").json()["data"]
    assert [e["message_id"] for e in only] == ["t3", "t0"]  # newest first by default

    metadata = _get(client, token, "user_id:u_bob/metadata").json()["metadata"]
    assert metadata["first_message_id"] == "t0"
    assert _get(client, token, "user_id:u_bob/links").json()["data"] == []


def test_unknown_profiles_and_bad_requests(seeded, client, token):
    for resource in ("traits", "external_ids", "events", "metadata", "links"):
        response = _get(client, token, f"email:nobody@example.com/{resource}")
        assert response.status_code == 404
        assert response.json() == {"error": {"code": "not_found", "message": "Profile was not found."}}

    for path, params in (("no-colon/traits", {}), ("user_id:u_bob/traits", {"limit": 201}),
                         ("user_id:u_bob/traits", {"class": "journey"}),
                         ("user_id:u_bob/events", {"start": "yesterday"})):
        response = _get(client, token, path, **params)
        assert response.status_code == 400, (path, params)
        assert response.json()["error"]["code"] == "validation_error"

    odd = client.get(f"/v1/spaces/{SPACE}/collections/us!ers/profiles/user_id:u_bob/traits", headers=basic(token))
    assert odd.status_code == 400
    assert odd.json()["error"]["message"] == "The parameter `collection` has invalid character(s) `!`"
    accounts = client.get(f"/v1/spaces/{SPACE}/collections/accounts/profiles/group_id:g1/traits", headers=basic(token))
    assert accounts.status_code == 404
