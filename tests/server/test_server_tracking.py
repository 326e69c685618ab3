"""The tracking API takes Segment's HTTP API calls and commits them before answering 200."""

from __future__ import annotations

import gzip
import json

import pytest
from fastapi.testclient import TestClient

from server_support import WRITE_KEY, WRITE_KEY_VARIABLE, basic, write_project
from engagectl.config import load_project
from engagectl.server import create_app
from engagectl.server.context import open_context
from sqlglot import exp


def _events(warehouse) -> list[dict]:
    columns = ["message_id", "source", "type", "event", "user_id", "anonymous_id"]
    query = exp.select(*[exp.column(c, quoted=True) for c in columns]).from_(warehouse.table("events"))
    return sorted(warehouse.fetch_dicts(query.order_by(exp.column("seq", quoted=True))), key=lambda r: r["message_id"])


@pytest.fixture
def any_engine(tmp_path, monkeypatch, warehouse_url):
    """The app on DuckDB and on Postgres."""
    monkeypatch.setenv(WRITE_KEY_VARIABLE, WRITE_KEY)
    directory = write_project(tmp_path / "p", warehouse_url, f"sqlite:///{tmp_path / 'state.db'}")
    context = open_context(load_project(directory))
    with TestClient(create_app(context=context)) as client:
        yield client, context.warehouse
    context.close()


def test_calls_are_stored_before_the_answer(any_engine):
    client, warehouse = any_engine
    track = {"userId": "u1", "event": "Order Completed", "properties": {"revenue": 120}, "messageId": "m-track"}
    identify = {"userId": "u1", "traits": {"email": "bob@example.com"}, "messageId": "m-identify"}
    assert client.post("/v1/track", json=track, headers=basic(WRITE_KEY)).json() == {"success": True}
    assert client.post("/v1/identify", json=identify, headers=basic(WRITE_KEY)).status_code == 200
    page = {"anonymousId": "a1", "name": "Pricing", "messageId": "m-page"}
    assert client.post("/v1/page", json=page, headers=basic(WRITE_KEY)).status_code == 200

    stored = _events(warehouse)
    assert [(e["message_id"], e["type"], e["event"], e["source"]) for e in stored] == [
        ("m-identify", "identify", None, "web"),
        ("m-page", "page", "Page Viewed", "web"),
        ("m-track", "track", "Order Completed", "web"),
    ]


def test_gzip_batches_with_the_write_key_in_the_body(any_engine):
    client, warehouse = any_engine
    body = {"writeKey": WRITE_KEY, "batch": [
        {"type": "track", "event": "Signed Up", "userId": "u2", "messageId": "b1"},
        {"type": "alias", "previousId": "a9", "userId": "u2", "messageId": "b2"},
        {"type": "track", "event": "Signed Up", "messageId": "b3"},  # nobody: refused, the rest kept
    ]}
    response = client.post("/v1/batch", content=gzip.compress(json.dumps(body).encode()),
                           headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["rejected"] == [
        {"index": 2, "code": "no_user_anon_id", "message": "A message needs a `userId` or an `anonymousId`."}]
    assert [e["message_id"] for e in _events(warehouse)] == ["b1", "b2"]


def test_a_resent_message_is_stored_once(client, context):
    message = {"userId": "u1", "event": "Clicked", "messageId": "same"}
    for _ in range(2):
        assert client.post("/v1/track", json=message, headers=basic(WRITE_KEY)).status_code == 200
    assert [e["message_id"] for e in _events(context.warehouse)] == ["same"]


def test_wrong_or_missing_write_keys_are_refused(client, context):
    message = {"userId": "u1", "event": "Clicked"}
    for headers in ({}, basic("not-the-key")):
        response = client.post("/v1/track", json=message, headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_write_key"
        assert response.json()["success"] is False
    assert _events(context.warehouse) == []


def test_size_limits_are_segments(client, context):
    big = {"userId": "u1", "event": "Clicked", "properties": {"blob": "x" * (33 * 1024)}}
    response = client.post("/v1/track", json=big, headers=basic(WRITE_KEY))
    assert (response.status_code, response.json()["code"]) == (400, "message_too_large")

    # the same message gzip-compressed is tiny on the wire, but is still too large
    response = client.post("/v1/track", content=gzip.compress(json.dumps(big).encode()),
                           headers={**basic(WRITE_KEY), "Content-Encoding": "gzip"})
    assert (response.status_code, response.json()["code"]) == (400, "message_too_large")

    in_batch = client.post("/v1/batch", json={"batch": [{**big, "type": "track"}]}, headers=basic(WRITE_KEY))
    assert (in_batch.status_code, in_batch.json()["code"]) == (400, "message_too_large")

    small = {"type": "track", "userId": "u1", "event": "Clicked", "properties": {"blob": "x" * (20 * 1024)}}
    too_many_bytes = client.post("/v1/batch", json={"batch": [small] * 26}, headers=basic(WRITE_KEY))
    assert (too_many_bytes.status_code, too_many_bytes.json()["code"]) == (400, "batch_too_large")

    tiny = {"type": "track", "userId": "u1", "event": "Clicked"}
    too_many = client.post("/v1/batch", json={"batch": [tiny] * 2501}, headers=basic(WRITE_KEY))
    assert (too_many.status_code, too_many.json()["code"]) == (400, "batch_too_large")
    assert _events(context.warehouse) == []


def test_malformed_bodies_are_400s(client, context):
    cases = [
        (b"{not json", {}, "invalid_json"),
        (b"[1, 2]", {}, "invalid_json"),
        (b"\x1f\x8b not really gzip", {"Content-Encoding": "gzip"}, "invalid_request"),
    ]
    for body, headers, code in cases:
        response = client.post("/v1/track", content=body, headers={**basic(WRITE_KEY), **headers})
        assert (response.status_code, response.json()["code"]) == (400, code), body
    response = client.post("/v1/batch", json={"batch": "nope"}, headers=basic(WRITE_KEY))
    assert (response.status_code, response.json()["code"]) == (400, "invalid_request")
    response = client.post("/v1/track", json={"userId": "u1"}, headers=basic(WRITE_KEY))
    assert (response.status_code, response.json()["code"]) == (400, "missing_event_name")
    response = client.post("/v1/identify", json={"traits": {"a": 1}}, headers=basic(WRITE_KEY))
    assert (response.status_code, response.json()["code"]) == (400, "no_user_anon_id")
    assert _events(context.warehouse) == []
