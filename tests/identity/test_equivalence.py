"""The set-based identity run gives exactly what the event-by-event rules give.

Correctness of identity resolution is defined by Segment's event-by-event semantics (PRODUCT.md
§3): every event, in timestamp order, matched against the graph so far. `resolve_identities`
takes shortcuts for speed (one join for events whose identifiers already resolve, the ordered
logic only where the graph changes); these tests replay generated traffic — shared kiosk
devices, a shared mailbox, blocked values, limits per period — through both and compare the
profiles, the merges and every event's profile, over two incremental runs.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlglot import exp

from engagectl.config.models import IdentifierRule, IdentitySettings
from engagectl.identity import IdentityGraph, resolve_identities
from engagectl.ingest import ingest_messages
from engagectl.warehouse import open_warehouse
from engagectl.warehouse.duckdb import DuckDBWarehouse

START = datetime(2024, 3, 1, tzinfo=UTC)
SHARED_MAILBOX = "team@company.com"
PRIORITY = {"user_id": 0, "email": 1}


def _traffic(rng: random.Random, people: range, offset_days: int, prefix: str) -> list[dict]:
    """Anonymous browsing, identifies and known-user events; kiosks and a shared mailbox."""
    messages = []
    for person in people:
        moment = START + timedelta(days=offset_days + rng.random() * 20, seconds=rng.randrange(86_400))
        devices = [f"anon-{prefix}-{person}-{d}" for d in range(rng.randint(1, 3))]
        if rng.random() < 0.2:
            devices[0] = f"kiosk-{rng.randrange(2)}"
        email = SHARED_MAILBOX if rng.random() < 0.1 else f"p{person}@example.com"
        if rng.random() < 0.05:
            email = "null"  # blocked in some settings below: then never an identifier
        for device in devices:
            for _ in range(rng.randint(0, 2)):
                moment += timedelta(minutes=rng.randrange(1, 600))
                messages.append({"type": "page", "anonymousId": device, "timestamp": moment})
            moment += timedelta(minutes=rng.randrange(1, 600))
            identify = {"type": "identify", "userId": f"user-{person}", "anonymousId": device,
                        "timestamp": moment, "traits": {"email": email}}
            if rng.random() < 0.3:
                identify.pop("userId")  # an email capture on this device, before any login
            messages.append(identify)
        for _ in range(rng.randint(0, 4)):
            moment += timedelta(hours=rng.randrange(1, 200))
            messages.append({"type": "track", "event": "Product Viewed", "userId": f"user-{person}",
                             "anonymousId": rng.choice(devices), "timestamp": moment})
    for number, message in enumerate(messages):
        message["messageId"] = f"{prefix}{number}"
        message["timestamp"] = message["timestamp"].strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return messages


def _identifiers(message: dict, settings: IdentitySettings) -> list[tuple[str, str]]:
    nodes = set()
    for id_type, value in (("user_id", message.get("userId")), ("anonymous_id", message.get("anonymousId")),
                           ("email", message.get("traits", {}).get("email"))):
        if value and value not in settings.blocked_values:
            nodes.add((id_type, value))
    order = settings.priority_order([t for t, _ in nodes])
    return sorted(nodes, key=lambda n: (order.index(n[0]), n[1]))


def _event_by_event(batches: list[list[dict]], settings: IdentitySettings) -> tuple[dict, list, dict]:
    """The reference: IdentityGraph.observe on every event, in timestamp order, no shortcuts."""
    graph = IdentityGraph(settings)
    hubs = {}
    for messages in batches:
        for message in sorted(messages, key=lambda m: m["timestamp"]):
            nodes = _identifiers(message, settings)
            if nodes:
                moment = datetime.fromisoformat(message["timestamp"]).replace(tzinfo=None)
                graph.observe(nodes, moment, message["messageId"], "test")
                hubs[message["messageId"]] = nodes[0]
    events = {message_id: graph.node_profile[hub] for message_id, hub in hubs.items()}
    merges = [(m.merged_profile_id, m.into_profile_id, m.message_id) for m in graph.merges]
    identities = dict(graph.node_profile)
    return events, merges, identities


SETTINGS = {
    "defaults": IdentitySettings(),
    "strict anonymous ids": IdentitySettings(identifiers={"anonymous_id": IdentifierRule(limit=2)},
                                             blocked_values=["null"]),
    "weekly anonymous ids": IdentitySettings(identifiers={
        "anonymous_id": IdentifierRule(limit=2, period="weekly"), "email": IdentifierRule(limit=1, priority=1)}),
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_the_run_matches_event_by_event_resolution(warehouse_url, name):
    _check_against_the_reference(warehouse_url, name)


def test_identifiers_sharing_a_join_key_are_told_apart_by_their_text(tmp_path, monkeypatch):
    # DuckDB joins observations to identifiers on a 64-bit hash of them. A key of three values
    # makes every identifier share one: the run must notice and join on the text instead.
    monkeypatch.setattr(DuckDBWarehouse, "hash_key", lambda self, *parts: exp.Mod(
        this=exp.func("HASH", *parts), expression=exp.Literal.number(3)))
    _check_against_the_reference(f"duckdb:///{tmp_path / 'w.duckdb'}", "strict anonymous ids")


def test_a_blocked_value_sharing_a_join_key_is_still_no_identifier(tmp_path, monkeypatch):
    # A blocked value keyed as the shared mailbox: its observation must not reach the mailbox.
    def key(*parts):
        if len(parts) != 3:  # not an identifier's key (ingest hashes message ids as well)
            return exp.func("HASH", *parts)
        type_code, custom_type, value = parts
        value = exp.Case(ifs=[exp.If(this=value.eq(exp.Literal.string("null")),
                                     true=exp.Literal.string(SHARED_MAILBOX))], default=value.copy())
        return exp.func("HASH", type_code, custom_type, value)

    monkeypatch.setattr(DuckDBWarehouse, "hash_key", lambda self, *parts: key(*parts))
    warehouse = open_warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        ingest_messages(warehouse, [
            {"type": "identify", "messageId": "m1", "userId": "u1", "traits": {"email": SHARED_MAILBOX},
             "timestamp": "2024-03-01T10:00:00Z"},
            {"type": "identify", "messageId": "m2", "anonymousId": "a2", "traits": {"email": "null"},
             "timestamp": "2024-03-01T11:00:00Z"},
        ], source="test")
        resolve_identities(warehouse, SETTINGS["strict anonymous ids"])
        identities = warehouse.fetchall(warehouse.parse(
            "SELECT id_type, id_value FROM identities ORDER BY id_type, id_value"))
        profiles = warehouse.fetchall(warehouse.parse("SELECT COUNT(DISTINCT profile_id) FROM events"))
    finally:
        warehouse.close()
    assert identities == [("anonymous_id", "a2"), ("email", SHARED_MAILBOX), ("user_id", "u1")]
    assert profiles == [(2,)]


def _check_against_the_reference(warehouse_url: str, name: str) -> None:
    settings = SETTINGS[name]
    rng = random.Random(name)
    # Timestamps within a batch are unique: the reference orders by timestamp alone.
    batches = [_traffic(rng, range(30), 0, "a"), _traffic(rng, range(20, 40), 40, "b")]
    expected_events, expected_merges, expected_identities = _event_by_event(batches, settings)

    warehouse = open_warehouse(warehouse_url)
    try:
        for messages in batches:
            ingest_messages(warehouse, messages, source="test")
            resolve_identities(warehouse, settings)
        events = dict(warehouse.fetchall(warehouse.parse(
            "SELECT message_id, profile_id FROM events WHERE profile_id IS NOT NULL")))
        merges = warehouse.fetchall(warehouse.parse(
            "SELECT merged_profile_id, into_profile_id, message_id FROM merges ORDER BY merged_at, message_id"))
        identities = {(t, v): p for p, t, v in warehouse.fetchall(warehouse.parse(
            "SELECT profile_id, id_type, id_value FROM identities"))}
        profiles = {row[0] for row in warehouse.fetchall(warehouse.parse("SELECT profile_id FROM profiles"))}
    finally:
        warehouse.close()

    assert len(expected_merges) > 3  # the traffic exercises merges and merge protection
    assert events == expected_events
    assert identities == expected_identities
    assert sorted(merges) == sorted(expected_merges)
    assert profiles == set(expected_identities.values())
