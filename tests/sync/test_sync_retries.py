"""Retries as Segment does them, against a local webhook server, with a manual clock."""

from __future__ import annotations

import random

import pytest
from sync_fakes import identify_rows, write_project

from engagectl.config import load_project
from engagectl.sync import DeliveryQueue, deliver
from engagectl.sync.queue import state_engine_for


def setup(tmp_path, state_url, url, clock, count=3, **settings):
    project = load_project(write_project(tmp_path / "proj", state_url, [
        {"key": "hook", "provider": "webhook", "settings": {"url": url, "timeout": 0.5, **settings}},
    ]))
    queue = DeliveryQueue(state_engine_for(state_url, project.directory))
    queue.enqueue(identify_rows(count, "hook"), clock.now())
    return project, queue


def sync(project, state_url, clock):
    return deliver(project, state_url, clock=clock, rng=random.Random(7))


def test_429_waits_for_retry_after_then_delivers(tmp_path, state_url, destination_server, clock):
    destination_server.script = [(429, {"Retry-After": "30"}, "slow down")]
    project, queue = setup(tmp_path, state_url, destination_server.url, clock)

    first = sync(project, state_url, clock)
    assert first.to_json() == {"delivered": 0, "retrying": 3, "discarded": 0, "failed": 0}

    clock.advance(29)
    assert sync(project, state_url, clock).delivered == 0  # not due yet: nothing is sent
    assert len(destination_server.received) == 1

    clock.advance(1)
    assert sync(project, state_url, clock).to_json() == {"delivered": 3, "retrying": 0, "discarded": 0, "failed": 0}
    entries = queue.audit_log()
    assert [(e["error_class"], e["code"], e["messages"]) for e in entries] == [("awaiting-retry", "429", 3)]


def test_500_backs_off_from_one_minute(tmp_path, destination_server, clock):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    destination_server.script = [(500, {}, "oops")]
    project, queue = setup(tmp_path, state_url, destination_server.url, clock, count=1)

    assert sync(project, state_url, clock).retrying == 1
    (row,) = list(queue.list_deliveries())
    delay = (row["next_attempt_at"] - clock.now()).total_seconds()
    assert 45 <= delay <= 75  # one minute, randomised
    clock.advance(76)
    assert sync(project, state_url, clock).delivered == 1


def test_retries_stop_after_four_hours_as_failed(tmp_path, destination_server, clock):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    destination_server.decide = lambda request: (503, {}, "down")
    project, queue = setup(tmp_path, state_url, destination_server.url, clock, count=2)

    attempts = 0
    report = sync(project, state_url, clock)
    while report.failed == 0 and attempts < 20:
        # Later syncs pick up what is due from the stored schedule.
        due = min(r["next_attempt_at"] for r in queue.list_deliveries(status="retrying"))
        clock.advance((due - clock.now()).total_seconds())
        report = sync(project, state_url, clock)
        attempts += 1
    assert report.failed == 2
    (row, _) = list(queue.list_deliveries())
    assert row["status"] == "failed"
    assert 7 <= row["attempts"] <= 10  # about 9 attempts in 4 hours
    assert len(queue.audit_log()) == len(destination_server.received)  # every failure audited


def test_400_splits_the_batch_down_to_the_bad_row(tmp_path, destination_server, clock):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"

    def refuse_u2(request):
        ids = [m["userId"] for m in request.json()["data"]]
        return (400, {}, "bad row") if "u2" in ids else None

    destination_server.decide = refuse_u2
    project, queue = setup(tmp_path, state_url, destination_server.url, clock, count=5)

    report = sync(project, state_url, clock)
    assert report.to_json() == {"delivered": 4, "retrying": 0, "discarded": 1, "failed": 0}
    discarded = [r["message_id"] for r in queue.list_deliveries(status="discarded")]
    assert discarded == ["personas_00000002"]
    delivered_ids = {m["userId"] for r in destination_server.received
                     if r is not None for m in r.json()["data"]} - {"u2"}
    assert delivered_ids == {"u0", "u1", "u3", "u4"}


@pytest.mark.parametrize("status", [404, 422, 501])
def test_final_4xx_and_501_are_discarded(tmp_path, destination_server, clock, status):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    destination_server.decide = lambda request: (status, {}, "no")
    project, queue = setup(tmp_path, state_url, destination_server.url, clock, count=1)
    assert sync(project, state_url, clock).discarded == 1
    assert queue.audit_log()[0]["error_class"] == "discarded"


def test_401_pauses_the_destination_and_keeps_the_data(tmp_path, state_url, destination_server, clock):
    credentials = {"valid": False}
    destination_server.decide = lambda request: None if credentials["valid"] else (401, {}, "bad key")
    project, queue = setup(tmp_path, state_url, destination_server.url, clock, count=8, batch_size=2)

    report = sync(project, state_url, clock)
    assert report.to_json() == {"delivered": 0, "retrying": 0, "discarded": 0, "failed": 0}
    assert "hook" in report.paused and "401" in report.paused["hook"]
    assert len(destination_server.received) <= 2  # stopped after the refusal (2 batches in flight at most)
    assert queue.counts().queued == 8
    assert queue.paused("hook")
    assert queue.audit_log()[0]["error_class"] == "paused"

    credentials["valid"] = True
    report = sync(project, state_url, clock)  # credentials fixed: everything goes
    assert report.delivered == 8 and not report.paused
    assert queue.paused("hook") is None


def test_a_hang_past_the_timeout_is_retried(tmp_path, destination_server, clock):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    destination_server.script = ["hang"]
    project, queue = setup(tmp_path, state_url, destination_server.url, clock, count=2)

    assert sync(project, state_url, clock).retrying == 2
    assert queue.audit_log()[0]["code"] == "ETIMEDOUT"
    destination_server.release.set()
    clock.advance(120)
    assert sync(project, state_url, clock).delivered == 2


def test_a_dropped_connection_is_retried(tmp_path, destination_server, clock):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    destination_server.script = ["drop"]
    project, queue = setup(tmp_path, state_url, destination_server.url, clock, count=2)

    assert sync(project, state_url, clock).retrying == 2
    assert queue.audit_log()[0]["code"] == "ECONNRESET"
    clock.advance(120)
    assert sync(project, state_url, clock).delivered == 2


def test_connection_refused_is_retried(tmp_path, clock):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    project, queue = setup(tmp_path, state_url, f"http://127.0.0.1:{port}/hook", clock, count=1)
    assert sync(project, state_url, clock).retrying == 1
    assert queue.audit_log()[0]["code"] == "ECONNREFUSED"


def test_a_failing_task_is_retried_five_times_then_fails(tmp_path, destination_server, clock, monkeypatch):
    from providers.webhook.provider import WebhookProvider

    def broken(self, batch):
        raise RuntimeError("worker lost")

    monkeypatch.setattr(WebhookProvider, "send", broken)
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    project, queue = setup(tmp_path, state_url, destination_server.url, clock, count=2)

    report = sync(project, state_url, clock)
    assert report.failed == 2
    task_errors = [e for e in queue.audit_log() if e["error_class"] == "task-error"]
    assert len(task_errors) == 5
    assert queue.counts().failed == 2


def test_rate_limit_paces_requests_on_the_clock(tmp_path, destination_server, clock):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    project, _ = setup(tmp_path, state_url, destination_server.url, clock, count=4, batch_size=1, rate_limit=2)
    assert sync(project, state_url, clock).delivered == 4
    assert clock.slept == pytest.approx([0.5, 0.5, 0.5])
