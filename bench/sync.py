"""Delivery throughput: 1M queued messages to a local webhook server, batched, end to end.

Target (the issue): at least 20,000 messages/s from the queue to acknowledged by the server,
with the delivering process under 500 MB however many messages are queued. The receiving
server runs in its own process; the delivery runs in a child process so its peak memory is
measured on its own.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.figures import Figure

SIZES = {"small": 50_000, "full": 1_000_000}
BATCH_SIZE = 2000

DELIVER = """
import json, sys, time
from bench.figures import peak_memory_mb
from engagectl.config import load_project
from engagectl.sync import deliver
project = load_project(sys.argv[1])
started, cpu_started = time.perf_counter(), time.process_time()
report = deliver(project, project.settings.state)
elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
peak_mb = peak_memory_mb()
print(json.dumps({"elapsed": elapsed, "cpu": cpu, "peak_mb": peak_mb, **report.to_json()}))
"""


def _serve(port_queue) -> None:
    """A minimal receiver: reads each batch, counts its messages, answers 200."""
    received = {"messages": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            received["messages"] += body.count(b'"messageId"')
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_queue.put(server.server_address[1])
    server.serve_forever()


def _queue_messages(project, count: int) -> float:
    from engagectl.sync.clock import SystemClock
    from engagectl.sync.queue import open_queue

    def rows():
        for i in range(count):
            mid = f"personas_{i:012d}"
            payload = {"type": "identify", "messageId": mid, "userId": f"user_{i}",
                       "traits": {"high_value_users": True, "email": f"user_{i}@example.com"},
                       "context": {"personas": {"computation_class": "audience", "computation_id": "aud_bench",
                                                "computation_key": "high_value_users", "namespace": "spa_bench",
                                                "space_id": "spa_bench"}},
                       "timestamp": "2024-06-01T00:00:00.000Z"}
            yield {"message_id": mid, "destination": "hook", "computation_key": "high_value_users",
                   "run_id": "bench", "kind": "identify", "payload": json.dumps(payload, separators=(",", ":"))}

    queue = open_queue(project.settings.state, project.directory)
    started = time.perf_counter()
    queue.enqueue(rows(), SystemClock().now(), chunk=20_000)
    elapsed = time.perf_counter() - started
    queue.close()
    return elapsed


def run(scale: str) -> list[Figure]:
    from engagectl.config import load_project

    count = SIZES[scale]
    ports: multiprocessing.Queue = multiprocessing.Queue()
    receiver = multiprocessing.Process(target=_serve, args=(ports,), daemon=True)
    receiver.start()
    try:
        port = ports.get(timeout=30)
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            (root / "engage.yaml").write_text("space: spa_bench\nstate: sqlite:///.engage/state.db\n")
            (root / "destinations").mkdir()
            (root / "destinations" / "hook.yaml").write_text(
                "kind: destination\nkey: hook\nprovider: webhook\n"
                f"settings: {{url: 'http://127.0.0.1:{port}/hook', batch_size: {BATCH_SIZE}, secret: bench-secret}}\n")
            project = load_project(root)
            enqueue_seconds = _queue_messages(project, count)
            child = subprocess.run([sys.executable, "-c", DELIVER, str(root)], capture_output=True, text=True,
                                   check=True, cwd=Path(__file__).resolve().parents[1])
            result = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        receiver.terminate()
    rate = result["delivered"] / result["elapsed"] if result["elapsed"] else 0.0
    note = (f"{result['delivered']:,} of {count:,} delivered in {result['elapsed']:.1f} s "
            f"({result['cpu']:.1f} s of CPU in the delivering process), batches of {BATCH_SIZE}")
    return [
        Figure("sync: queued messages delivered to a local webhook", rate, "messages/s", baseline=20_000,
               baseline_name="the issue's target", target_ratio=1.0, higher_is_better=True, note=note),
        Figure("sync: peak memory of the delivering process", result["peak_mb"], "MB", baseline=500,
               baseline_name="the issue's ceiling", target_ratio=1.0, note=f"{count:,} messages queued"),
        Figure("sync: enqueue into the state store", count / enqueue_seconds, "messages/s",
               note="deterministic ids, duplicates skipped"),
    ]
