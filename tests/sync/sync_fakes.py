"""Fakes for delivery tests: a destination HTTP server on 127.0.0.1 and small project folders."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# An answer: (status, headers, body), or "hang" (never answer before the client times out),
# or "drop" (close the connection without answering).
Answer = tuple[int, dict[str, str], str] | str


@dataclass
class FakeDestination:
    """Records every request; answers from a script, then 200."""

    script: list[Answer] = field(default_factory=list)
    decide: Callable[[Received], Answer | None] | None = None
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    def answer(self, request: Received) -> Answer:
        with self.lock:
            self.received.append(request)
            if self.script:
                return self.script.pop(0)
        if self.decide is not None:
            decided = self.decide(request)
            if decided is not None:
                return decided
        return (200, {}, '{"ok": true}')

    def messages(self) -> list[dict[str, Any]]:
        """Every message of every webhook batch received."""
        return [m for r in self.received for m in r.json()["data"]]


def start_destination(fake: FakeDestination) -> tuple[ThreadingHTTPServer, FakeDestination]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # keep test output quiet
            pass

        def _handle(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Received(self.command, parts.path, parse_qs(parts.query),
                               {k.lower(): v for k, v in self.headers.items()}, body)
            answer = fake.answer(request)
            if answer == "hang":
                fake.release.wait(10)
                self.close_connection = True
                return
            if answer == "drop":
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return
            status, headers, text = answer
            payload = text.encode()
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_POST = do_PUT = do_DELETE = do_GET = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server, fake


def write_project(root: Path, state_url: str, destinations: list[dict], resources: list[dict] = (),
                  warehouse_url: str | None = None, space: str = "spa_test") -> Path:
    """A project folder with engage.yaml and one file per resource."""
    root.mkdir(parents=True, exist_ok=True)
    settings = {"space": space, "state": state_url}
    if warehouse_url:
        settings["warehouse"] = warehouse_url
    (root / "engage.yaml").write_text(yaml.safe_dump(settings))
    (root / "destinations").mkdir(exist_ok=True)
    for destination in destinations:
        (root / "destinations" / f"{destination['key']}.yaml").write_text(
            yaml.safe_dump({"kind": "destination", **destination}))
    (root / "audiences").mkdir(exist_ok=True)
    for resource in resources:
        (root / "audiences" / f"{resource['key']}.yaml").write_text(yaml.safe_dump(resource))
    return root


def identify_rows(count: int, destination: str, start: int = 0) -> list[dict[str, Any]]:
    """Queue rows of Identify messages, as the enqueuer writes them."""
    rows = []
    for i in range(start, start + count):
        message_id = f"personas_{i:08d}"
        payload = {"type": "identify", "messageId": message_id, "userId": f"u{i}",
                   "traits": {"vip": True}, "context": {"personas": {"computation_key": "vip"}}}
        rows.append({"message_id": message_id, "destination": destination, "computation_key": "vip",
                     "run_id": "run_1", "kind": "identify", "payload": json.dumps(payload)})
    return rows


WAREHOUSE_COLUMNS = {
    "identities": ("profile_id", "id_type", "id_value", "first_seen", "last_seen", "first_message_id"),
    "changes": ("change_id", "run_id", "as_of", "profile_id", "computation_key", "computation_kind", "change",
                "old_value", "new_value"),
    "computed_values": ("computation_key", "kind", "profile_id", "value", "updated_at"),
    "merges": ("merged_profile_id", "into_profile_id", "message_id", "merged_at", "run_id"),
    "runs": ("run_id", "as_of", "started_at", "finished_at"),
}


def seed(warehouse, table: str, rows: list[tuple]) -> None:
    """Rows into one of the warehouse contract tables the enqueuer reads."""
    warehouse.insert_rows(warehouse.table(table), WAREHOUSE_COLUMNS[table], rows)


def set_value(warehouse, key: str, profile_id: str, value: str | None) -> None:
    """Replace a profile's current value of a computation (None: no longer has one)."""
    import sqlglot.expressions as exp

    warehouse.execute(exp.delete(warehouse.table("computed_values")).where(
        exp.and_(exp.column("computation_key").eq(exp.Literal.string(key)),
                 exp.column("profile_id").eq(exp.Literal.string(profile_id)))))
    if value is not None:
        seed(warehouse, "computed_values", [(key, "audience", profile_id, value, None)])
