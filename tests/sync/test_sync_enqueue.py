"""From a run's changes to queued deliveries: fan-out, id_sync, exits, lists, merges, new ids."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from sync_fakes import seed, set_value, write_project

from engagectl.config import load_project
from engagectl.sync import DeliveryQueue, enqueue_run
from engagectl.sync.queue import state_engine_for
from engagectl.warehouse import open_warehouse

T0 = datetime(2024, 5, 1)
T1, T2, T3, T4 = (datetime(2024, 6, d) for d in (1, 2, 3, 4))

RESOURCES = [
    {"kind": "audience", "key": "vip", "where": {"trait": "plan", "eq": "pro"},
     "destinations": [
         {"to": "hook_a", "identify": True, "track": {"enter": "VIP In", "exit": "VIP Out"}, "id_sync": {"email": "last"}},
         "hook_b",
         "fb",
     ]},
    {"kind": "computed_trait", "key": "ltv", "event": "Order Completed", "value": {"sum": "revenue"},
     "destinations": ["hook_b", "fb"]},
]
DESTINATIONS = [
    {"key": "hook_a", "provider": "webhook", "settings": {"url": "http://127.0.0.1:9/a"}},
    {"key": "hook_b", "provider": "webhook", "settings": {"url": "http://127.0.0.1:9/b", "secret": "${env:HOOK_SECRET}"}},
    {"key": "fb", "provider": "facebook_custom_audiences",
     "settings": {"access_token": "${env:FB_TOKEN}", "audience_ids": {"vip": "123"}}},
]


@pytest.fixture
def world(tmp_path, warehouse_url):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    project = load_project(write_project(tmp_path / "proj", state_url, DESTINATIONS, RESOURCES))
    warehouse = open_warehouse(warehouse_url, project.directory)
    seed(warehouse, "identities", [
        ("p1", "user_id", "u1", T0, T0, "m1"),
        ("p1", "email", "a@example.com", T0, T0, "m1"),
        ("p1", "email", "b@example.com", datetime(2024, 5, 2), T0, "m2"),
        ("p1", "anonymous_id", "anon1", T0, T0, "m1"),
        ("p2", "email", "c@example.com", T0, T0, "m3"),
    ])
    seed(warehouse, "runs", [("r1", T1, T1, T1)])
    seed(warehouse, "changes", [
        ("c001", "r1", T1, "p1", "vip", "audience", "entered", None, "true"),
        ("c002", "r1", T1, "p2", "vip", "audience", "entered", None, "true"),
        ("c003", "r1", T1, "p1", "ltv", "computed_trait", "changed", None, "42.5"),
    ])
    seed(warehouse, "computed_values", [
        ("vip", "audience", "p1", "true", T1), ("vip", "audience", "p2", "true", T1),
        ("ltv", "computed_trait", "p1", "42.5", T1),
    ])
    queue = DeliveryQueue(state_engine_for(state_url, project.directory))
    yield project, warehouse, queue, state_url
    warehouse.close()


def payloads(queue, destination, run_id=None):
    from sqlalchemy import select

    from engagectl.sync.tables import deliveries, payloads

    query = (select(deliveries.c.kind, payloads.c.payload)
             .join_from(deliveries, payloads, payloads.c.message_id == deliveries.c.message_id)
             .where(deliveries.c.destination == destination))
    if run_id:
        query = query.where(deliveries.c.run_id == run_id)
    with queue.engine.connect() as conn:
        return [(kind, json.loads(p)) for kind, p in conn.execute(query.order_by(deliveries.c.seq))]


def addressee(message):
    return message.get("userId") if not (message.get("traits", {}).get("email") or
                                         message.get("context", {}).get("traits", {}).get("email")) else (
        message.get("traits", {}).get("email") or message["context"]["traits"]["email"])


def test_first_run_fans_out_per_identifier_and_binding(world):
    project, warehouse, queue, state_url = world
    assert enqueue_run(project, state_url, warehouse, "r1") == 14

    hook_a = payloads(queue, "hook_a")
    # id_sync {email: last}: only the newest email, Identify and the renamed Track.
    assert sorted((k, addressee(p)) for k, p in hook_a) == [
        ("identify", "b@example.com"), ("identify", "c@example.com"),
        ("track", "b@example.com"), ("track", "c@example.com")]
    track = next(p for k, p in hook_a if k == "track")
    assert track["event"] == "VIP In" and track["properties"] == {"audience_key": "vip", "vip": True}
    assert track["userId"] == "u1" and track["context"]["traits"] == {"email": "b@example.com"}
    assert track["context"]["personas"]["computation_class"] == "audience"
    assert track["context"]["personas"]["computation_key"] == "vip"
    assert track["context"]["personas"]["space_id"] == "spa_test"
    assert track["messageId"].startswith("personas_")

    hook_b = payloads(queue, "hook_b")
    vip = sorted(addressee(p) for k, p in hook_b if "vip" in p["traits"])
    assert vip == ["a@example.com", "b@example.com", "c@example.com", "u1"]  # every user_id and email
    ltv = [p for k, p in hook_b if "ltv" in p["traits"]]
    assert {p["traits"]["ltv"] for p in ltv} == {42.5}
    assert len(ltv) == 4  # computed traits include anonymous ids: u1, two emails, anon1
    assert ltv[0]["context"]["personas"]["computation_class"] == "trait"

    fb = payloads(queue, "fb")  # list destination: first sync sends every member, no traits
    assert sorted(p["profile_id"] for k, p in fb) == ["p1", "p2"]
    assert {k for k, p in fb} == {"list_add"}


def test_enqueueing_a_run_twice_queues_nothing_new(world):
    project, warehouse, queue, state_url = world
    assert enqueue_run(project, state_url, warehouse, "r1") == 14
    assert enqueue_run(project, state_url, warehouse, "r1") == 0
    assert queue.counts().queued == 14


def test_exits_go_to_every_identifier_and_lists_remove(world):
    project, warehouse, queue, state_url = world
    enqueue_run(project, state_url, warehouse, "r1")
    seed(warehouse, "runs", [("r2", T2, T2, T2)])
    seed(warehouse, "changes", [("c004", "r2", T2, "p1", "vip", "audience", "exited", "true", None)])
    set_value(warehouse, "vip", "p1", None)

    assert enqueue_run(project, state_url, warehouse, "r2") == 10
    hook_a = payloads(queue, "hook_a", "r2")
    assert sorted((k, addressee(p)) for k, p in hook_a) == sorted(
        (k, who) for k in ("identify", "track") for who in ("u1", "a@example.com", "b@example.com"))
    track = next(p for k, p in hook_a if k == "track")
    assert track["event"] == "VIP Out" and track["properties"]["vip"] is False
    assert all(p["traits"]["vip"] is False for k, p in hook_a if k == "identify")
    assert [(k, p["action"], p["profile_id"]) for k, p in payloads(queue, "fb", "r2")] == [("list_remove", "remove", "p1")]


def test_a_merge_sends_alias_and_the_current_values_again(world):
    project, warehouse, queue, state_url = world
    enqueue_run(project, state_url, warehouse, "r1")
    seed(warehouse, "runs", [("r3", T3, T3, T3)])
    seed(warehouse, "merges", [("p9", "p1", "m9", T3, "r3")])

    assert enqueue_run(project, state_url, warehouse, "r3") > 0
    for destination in ("hook_a", "hook_b"):
        aliases = [p for k, p in payloads(queue, destination, "r3") if k == "alias"]
        assert [(a["userId"], a["previousId"]) for a in aliases] == [("u1", "anon1")]
    resent = [p for k, p in payloads(queue, "hook_b", "r3") if k == "identify"]
    assert {addressee(p) for p in resent if "vip" in p["traits"]} == {"u1", "a@example.com", "b@example.com"}
    assert not [p for k, p in payloads(queue, "fb", "r3") if k == "alias"]  # lists take no alias
    assert enqueue_run(project, state_url, warehouse, "r3") == 0


def test_a_new_identifier_gets_the_current_values(world):
    project, warehouse, queue, state_url = world
    enqueue_run(project, state_url, warehouse, "r1")
    seed(warehouse, "runs", [("r4", T4, T4, T4)])
    seed(warehouse, "identities", [("p2", "email", "d@example.com", datetime(2024, 6, 3, 12), T4, "m4")])

    assert enqueue_run(project, state_url, warehouse, "r4") == 4
    assert sorted((k, addressee(p)) for k, p in payloads(queue, "hook_a", "r4")) == [
        ("identify", "d@example.com"), ("track", "d@example.com")]
    assert [addressee(p) for k, p in payloads(queue, "hook_b", "r4")] == ["d@example.com"]
    (fb,) = payloads(queue, "fb", "r4")
    assert fb[1]["identifiers"]["email"] == ["c@example.com", "d@example.com"]


def test_env_placeholders_stay_unresolved_in_the_queue(world, monkeypatch):
    monkeypatch.setenv("FB_TOKEN", "secret-token-value")
    project, warehouse, queue, state_url = world
    enqueue_run(project, state_url, warehouse, "r1")
    with queue.engine.connect() as conn:
        from sqlalchemy import text

        dump = " ".join(str(row) for row in conn.execute(text("select * from sync_deliveries join sync_payloads using (message_id)")))
    assert "secret-token-value" not in dump


@pytest.mark.parametrize("id_sync,expected", [
    ({"email": "first"}, [("email", "a@example.com")]),
    ({"email": "last"}, [("email", "b@example.com")]),
    ({"email": "all", "user_id": "first"}, [("email", "a@example.com"), ("email", "b@example.com"), ("user_id", "u1")]),
    (None, [("user_id", "u1"), ("email", "a@example.com"), ("email", "b@example.com")]),
])
def test_id_sync_picks_identifiers_but_exits_go_to_all(id_sync, expected):
    from engagectl.config.models import DestinationBinding
    from engagectl.sync.enqueue import Identities, Identity, Route
    from engagectl.sync.messages import Computation
    from engagectl.sync.provider import Capabilities

    identities = Identities([
        Identity("user_id", "u1", T0), Identity("email", "a@example.com", T0),
        Identity("email", "b@example.com", T1), Identity("anonymous_id", "anon1", T0),
    ])
    route = Route(Computation("vip", "audience", "spa"), False, DestinationBinding(to="x", id_sync=id_sync), "x",
                  Capabilities("event", identify=True))
    entering = [(r.id_type, r.id_value) for r in identities.recipients(route, exiting=False)]
    assert entering == expected
    leaving = {(r.id_type, r.id_value) for r in identities.recipients(route, exiting=True)}
    assert leaving >= {("user_id", "u1"), ("email", "a@example.com"), ("email", "b@example.com")}
    assert ("anonymous_id", "anon1") not in leaving  # anonymous ids only with include_anonymous


def test_journey_step_lists_are_add_only(tmp_path, warehouse_url):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    journey = {"kind": "journey", "key": "onb", "entry": {"event": "Signed Up", "within": "7d"},
               "steps": [{"key": "carded", "where": {"event": "Card Added"}, "destinations": ["fb", "hook_a"]}]}
    project = load_project(write_project(tmp_path / "proj", state_url, DESTINATIONS, [journey]))
    warehouse = open_warehouse(warehouse_url, project.directory)
    try:
        seed(warehouse, "identities", [("p1", "email", "a@example.com", T0, T0, "m1")])
        seed(warehouse, "runs", [("r1", T1, T1, T1), ("r2", T2, T2, T2)])
        seed(warehouse, "computed_values", [("onb__carded", "journey_step", "p1", "true", T1)])
        seed(warehouse, "changes", [
            ("c1", "r1", T1, "p1", "onb__carded", "journey_step", "entered", None, "true"),
            ("c2", "r2", T2, "p1", "onb__carded", "journey_step", "exited", "true", None),
        ])
        assert enqueue_run(project, state_url, warehouse, "r1") == 2  # list add + Identify
        assert enqueue_run(project, state_url, warehouse, "r2") == 1  # the Identify only: no list remove
    finally:
        warehouse.close()
    queue = DeliveryQueue(state_engine_for(state_url, project.directory))
    assert [k for k, p in payloads(queue, "fb")] == ["list_add"]
    (identify_exit,) = [p for k, p in payloads(queue, "hook_a", "r2")]
    assert identify_exit["traits"] == {"email": "a@example.com", "onb__carded": False}
    assert identify_exit["context"]["personas"]["computation_class"] == "journey_step"
