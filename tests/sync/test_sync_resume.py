"""A sync killed at any moment resumes where it stopped: nothing lost, no message id twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter

from sync_fakes import identify_rows, write_project

from engagectl.config import load_project
from engagectl.sync import DeliveryQueue, deliver
from engagectl.sync.queue import state_engine_for


def test_sigkill_mid_batch_then_sync_again_delivers_each_message_once(tmp_path, destination_server):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    root = write_project(tmp_path / "proj", state_url, [
        {"key": "hook", "provider": "webhook", "settings": {"url": destination_server.url, "batch_size": 10,
                                                           "timeout": 30, "secret": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="}},
    ])
    project = load_project(root)
    queue = DeliveryQueue(state_engine_for(state_url, project.directory))
    queue.enqueue(identify_rows(50, "hook"), queue_now())

    third_batch = threading.Event()

    def hold_the_third(request):
        if len(destination_server.received) == 3:
            third_batch.set()
            return "hang"  # received, never acknowledged: the sender dies waiting
        return None

    destination_server.decide = hold_the_third
    process = subprocess.Popen(ENGAGECTL + ["-C", str(root), "sync", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    try:
        assert third_batch.wait(30), process.stderr.read().decode() if process.poll() is not None else "no third batch"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    destination_server.release.set()
    destination_server.decide = None
    settled_before_the_kill = queue.counts().delivered
    from engagectl.state.locks import read_lock

    assert read_lock(queue.engine, "sync") is not None  # the killed sync never released its lock
    assert settled_before_the_kill < 50

    rerun = subprocess.run(ENGAGECTL + ["-C", str(root), "sync", "--json"],
                           capture_output=True, text=True, env=child_env(), timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout) == {"delivered": 50 - settled_before_the_kill, "retrying": 0, "discarded": 0,
                                        "failed": 0}

    # The resumed task sent the very batch that was cut off, under the same webhook-id, so a
    # receiver deduplicating by webhook-id (Standard Webhooks) holds every message exactly once.
    accepted: dict[str, list[str]] = {}
    for request in destination_server.received:
        accepted.setdefault(request.headers["webhook-id"], [m["messageId"] for m in request.json()["data"]])
    per_message = Counter(mid for ids in accepted.values() for mid in ids)
    assert sorted(per_message) == [f"personas_{i:08d}" for i in range(50)]
    assert set(per_message.values()) == {1}
    resent = [r.headers["webhook-id"] for r in destination_server.received]
    assert len(resent) - len(set(resent)) <= 2  # at most the batches in flight went twice
    assert queue.counts().delivered == 50
    assert read_lock(queue.engine, "sync") is None  # taken over from the dead process, then released


def test_file_destination_never_writes_a_message_id_twice_after_a_crash(tmp_path, clock):
    state_url = f"sqlite:///{tmp_path / 'state.db'}"
    root = write_project(tmp_path / "proj", state_url, [
        {"key": "out", "provider": "file", "settings": {"path": "out/messages.jsonl", "batch_size": 4}},
    ])
    project = load_project(root)
    queue = DeliveryQueue(state_engine_for(state_url, project.directory))
    queue.enqueue(identify_rows(10, "out"), clock.now())
    # A crash after the file got the first batch (and half a line) but before it was recorded:
    _claim, batch = queue.claim_batch("out", clock.now(), 0, 4)
    out = root / "out" / "messages.jsonl"
    out.parent.mkdir()
    out.write_text("".join(d.payload_json + "\n" for d in batch) + batch[0].payload_json[:20])

    report = deliver(project, state_url, clock=clock)
    assert report.delivered == 10
    ids = [json.loads(line)["messageId"] for line in out.read_text().splitlines()]
    assert sorted(ids) == [f"personas_{i:08d}" for i in range(10)]  # each once, torn line dropped
    assert deliver(project, state_url, clock=clock).delivered == 0
    assert len(out.read_text().splitlines()) == 10


ENGAGECTL = [sys.executable, "-c", "from engagectl.cli import main; main()"]


def queue_now():
    from engagectl.sync.clock import SystemClock

    return SystemClock().now()


def child_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    return env
