"""The delivery queue in the state store: enqueue, page what is due, claim, settle, read back.

Everything streams: pages are read by keyset on `seq`, batches are claimed and settled with
one statement each, so memory stays flat however many deliveries are queued.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from engagectl.sync import tables as t
from engagectl.sync.provider import Delivery

SYNC_TABLES = [t.deliveries, t.payloads, t.tasks, t.task_steps, t.destination_state, t.list_bindings, t.audit]
DELIVER_STEPS = ("claim", "send", "settle")


def state_engine_for(state: Any, project_dir: Any = ".") -> Engine:
    """The state as an Engine: given an Engine, a URL (`${env:…}` resolved), or a state store."""
    if isinstance(state, Engine):
        return state
    if isinstance(state, str):
        from engagectl.config.env import resolve_env
        from engagectl.state.store import open_state

        return open_state(resolve_env(state), str(project_dir)).engine
    engine = getattr(state, "engine", None)
    if isinstance(engine, Engine):
        return engine
    raise TypeError(f"cannot open the state from {state!r}")


def open_queue(state: Any, project_dir: Any = ".") -> DeliveryQueue:
    """The queue of a state given as an Engine, a URL or a state store; close() it after use."""
    engine = state_engine_for(state, project_dir)
    if isinstance(state, str) and engine.dialect.name == "sqlite":
        _write_ahead_log(engine)
    queue = DeliveryQueue(engine)
    queue.owns_engine = isinstance(state, str)
    return queue


SYNC_LOCK = "sync"  # one delivering process per state; `run`/`apply` hold the state lock, not this


@contextmanager
def delivery_lock(engine: Engine, timeout: float = 10.0) -> Iterator[None]:
    """Hold the queue's lock; a lock left by a killed sync on this machine is taken over."""
    from engagectl.state.locks import hold_lock

    _release_if_holder_died(engine)
    with hold_lock(engine, "sync", timeout, name=SYNC_LOCK):
        yield


def _release_if_holder_died(engine: Engine) -> None:
    """A SIGKILLed sync never releases its lock; its next run must still resume the queue."""
    from engagectl.state.locks import force_unlock, read_lock

    holder = read_lock(engine, SYNC_LOCK)
    if holder is None:
        return
    match = re.fullmatch(r".*@(?P<host>[^ ]+) pid (?P<pid>\d+)", holder.holder or "")
    if match is None or match["host"] != socket.gethostname():
        return
    try:
        os.kill(int(match["pid"]), 0)
    except ProcessLookupError:
        with contextlib.suppress(Exception):
            force_unlock(engine, holder.id)
    except PermissionError:
        pass  # alive, owned by someone else


def _write_ahead_log(engine: Engine) -> None:
    """SQLite state: WAL with `synchronous=NORMAL` commits without an fsync each time.

    A killed process loses nothing committed (only a power cut can drop the last commits), and
    the queue commits twice a batch, so this is what makes delivery fast on SQLite.
    """
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    engine.dispose()  # connections opened before the listener get the pragmas when reopened


def _with_payload(query):
    return query.select_from(t.deliveries.join(t.payloads, t.payloads.c.message_id == t.deliveries.c.message_id))


@dataclass(frozen=True)
class Claim:
    """A batch taken by a task: a range of the destination's queue, as due at `claimed_at`."""

    task_id: str
    destination: str
    first_seq: int
    last_seq: int
    claimed_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"task_id": self.task_id, "destination": self.destination, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "claimed_at": self.claimed_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Claim:
        return cls(data["task_id"], data["destination"], data["first_seq"], data["last_seq"],
                   datetime.fromisoformat(data["claimed_at"]))


@dataclass
class QueueCounts:
    queued: int = 0
    retrying: int = 0
    delivered: int = 0
    discarded: int = 0
    failed: int = 0


class DeliveryQueue:
    """The sync tables of one state store."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.owns_engine = False
        from engagectl.state.schema import metadata

        metadata.create_all(engine, tables=SYNC_TABLES)

    def close(self) -> None:
        if self.owns_engine:
            self.engine.dispose()

    # ---------------------------------------------------------------- writing the queue

    def enqueue(self, rows: Iterable[dict[str, Any]], now: datetime, chunk: int = 5000) -> int:
        """Insert deliveries, skipping message ids already queued; the number inserted."""
        inserted = 0
        buffer: list[dict[str, Any]] = []
        for row in rows:
            buffer.append(row)
            if len(buffer) >= chunk:
                inserted += self._insert_new(buffer, now)
                buffer = []
        if buffer:
            inserted += self._insert_new(buffer, now)
        return inserted

    def _insert_new(self, rows: list[dict[str, Any]], now: datetime) -> int:
        unique: dict[str, dict[str, Any]] = {}
        for row in rows:
            unique.setdefault(row["message_id"], row)
        with self.engine.begin() as conn:
            existing = set(
                conn.scalars(select(t.deliveries.c.message_id).where(t.deliveries.c.message_id.in_(list(unique))))
            )
            fresh = [row for mid, row in unique.items() if mid not in existing]
            if fresh:
                conn.execute(insert(t.payloads), [{"message_id": r["message_id"], "payload": r["payload"]} for r in fresh])
                conn.execute(insert(t.deliveries), [
                    {"status": t.QUEUED, "attempts": 0, "created_at": now,
                     **{k: v for k, v in row.items() if k != "payload"}} for row in fresh])
        return len(fresh)

    # ---------------------------------------------------------------- delivering

    def _due(self, destination: str, now: datetime):
        d = t.deliveries.c
        return and_(
            d.destination == destination,
            d.status.in_(t.DUE_STATUSES),
            or_(d.next_attempt_at.is_(None), d.next_attempt_at <= now),
        )

    def count_due(self, destination: str, now: datetime) -> int:
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(t.deliveries).where(self._due(destination, now)))

    def claim_batch(self, destination: str, now: datetime, after_seq: int, limit: int) -> tuple[Claim, list[Delivery]] | None:
        """Take the next due batch into a new task whose `claim` step is complete.

        The claim is a seq range and the time it was made, stored in the step: the rows are not
        rewritten, and a resumed task finds exactly the same batch again.
        """
        d = t.deliveries.c
        with self.engine.begin() as conn:
            rows = conn.execute(
                _with_payload(select(d.seq, d.message_id, d.kind, t.payloads.c.payload))
                .where(self._due(destination, now), d.seq > after_seq)
                .order_by(d.seq)
                .limit(limit)
            ).all()
            if not rows:
                return None
            claim = Claim(f"task_{uuid.uuid4().hex}", destination, rows[0].seq, rows[-1].seq, now)
            conn.execute(insert(t.tasks), {"task_id": claim.task_id, "kind": "deliver", "destination": destination,
                                           "status": "open", "attempts": 0, "created_at": now})
            conn.execute(insert(t.task_steps), [
                {"task_id": claim.task_id, "position": i, "name": name,
                 "completed_at": now if name == "claim" else None,
                 "result": json.dumps(claim.to_json()) if name == "claim" else None}
                for i, name in enumerate(DELIVER_STEPS)
            ])
        return claim, [Delivery(r.seq, r.message_id, r.kind, r.payload) for r in rows]

    def claimed(self, claim: Claim) -> list:
        """The deliveries of a claim still waiting for its answer: the page's filter, its range."""
        d = t.deliveries.c
        return [self._due(claim.destination, claim.claimed_at), d.seq >= claim.first_seq, d.seq <= claim.last_seq]

    def open_tasks(self, destination: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.tasks).where(t.tasks.c.destination == destination, t.tasks.c.status == "open",
                                      t.tasks.c.kind == "deliver")
                .order_by(t.tasks.c.created_at, t.tasks.c.task_id)
            ).mappings().all()
        return [dict(r) for r in rows]

    def steps(self, task_id: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.task_steps).where(t.task_steps.c.task_id == task_id).order_by(t.task_steps.c.position)
            ).mappings().all()
        return [dict(r) for r in rows]

    def claim_batch_of(self, claim: Claim) -> list[Delivery]:
        d = t.deliveries.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                _with_payload(select(d.seq, d.message_id, d.kind, t.payloads.c.payload))
                .where(*self.claimed(claim)).order_by(d.seq)
            ).all()
        return [Delivery(r.seq, r.message_id, r.kind, r.payload) for r in rows]

    def complete_step(self, conn: Connection, task_id: str, name: str, now: datetime, result: Any = None) -> None:
        conn.execute(
            update(t.task_steps)
            .where(t.task_steps.c.task_id == task_id, t.task_steps.c.name == name)
            .values(completed_at=now, result=None if result is None else json.dumps(result))
        )

    def open_enqueue_task(self, run_id: str, step_names: list[str], now: datetime) -> str:
        """The run's enqueue task: the open one left by a crash, or a new one."""
        task_id = f"enqueue_{run_id}"
        with self.engine.begin() as conn:
            status = conn.scalar(select(t.tasks.c.status).where(t.tasks.c.task_id == task_id))
            if status is None:
                conn.execute(insert(t.tasks), {"task_id": task_id, "kind": "enqueue", "run_id": run_id,
                                               "status": "open", "attempts": 0, "created_at": now})
                conn.execute(insert(t.task_steps), [
                    {"task_id": task_id, "position": i, "name": name} for i, name in enumerate(step_names)])
            elif status == "done":
                # Enqueueing a run again re-checks every step; message ids keep it idempotent.
                conn.execute(update(t.tasks).where(t.tasks.c.task_id == task_id).values(status="open"))
                conn.execute(update(t.task_steps).where(t.task_steps.c.task_id == task_id).values(completed_at=None))
        return task_id

    def completed_steps(self, task_id: str) -> set[str]:
        return {s["name"] for s in self.steps(task_id) if s["completed_at"] is not None}

    def finish_task(self, task_id: str, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(t.tasks).where(t.tasks.c.task_id == task_id).values(status="done", finished_at=now))

    def open_enqueue_runs(self) -> list[str]:
        with self.engine.connect() as conn:
            return list(conn.scalars(select(t.tasks.c.run_id).where(
                t.tasks.c.kind == "enqueue", t.tasks.c.status == "open").order_by(t.tasks.c.created_at)))

    def record_task_failure(self, claim: Claim, now: datetime, error: str, max_attempts: int) -> bool:
        """Count a failure of the task itself; True when it is now a hard failure."""
        tasks = t.tasks.c
        with self.engine.begin() as conn:
            attempts = (conn.scalar(select(tasks.attempts).where(tasks.task_id == claim.task_id)) or 0) + 1
            hard = attempts >= max_attempts
            conn.execute(update(t.tasks).where(tasks.task_id == claim.task_id).values(
                attempts=attempts, status="failed" if hard else "open", finished_at=now if hard else None))
            self.audit_entry(conn, now, claim.destination, claim.task_id, 0, "task-error", f"attempt {attempts}", error)
            if hard:
                conn.execute(update(t.deliveries).where(*self.claimed(claim))
                             .values(status=t.FAILED, last_error=error[:2000], task_id=claim.task_id))
        return hard

    # ---------------------------------------------------------------- destinations

    def paused(self, destination: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.scalar(select(t.destination_state.c.paused_reason).where(
                t.destination_state.c.destination == destination, t.destination_state.c.paused_at.is_not(None)))

    def set_paused(self, conn: Connection, destination: str, now: datetime | None, reason: str | None) -> None:
        exists = conn.scalar(select(func.count()).select_from(t.destination_state).where(
            t.destination_state.c.destination == destination))
        values = {"paused_at": now, "paused_reason": reason}
        if exists:
            conn.execute(update(t.destination_state).where(t.destination_state.c.destination == destination)
                         .values(**values))
        else:
            conn.execute(insert(t.destination_state), {"destination": destination, **values})

    def audit_entry(self, conn: Connection, now: datetime, destination: str, task_id: str | None, messages: int,
                    error_class: str, code: str | None, detail: str) -> None:
        conn.execute(insert(t.audit), {"at": now, "destination": destination, "task_id": task_id,
                                       "messages": messages, "error_class": error_class, "code": code,
                                       "detail": detail[:2000]})

    # ---------------------------------------------------------------- list bindings

    def list_binding_first_run(self, destination: str, computation_key: str) -> str | None:
        """The run whose queue held the binding's first full sync, None if it never had one."""
        with self.engine.connect() as conn:
            return conn.scalar(select(t.list_bindings.c.first_synced_run).where(
                t.list_bindings.c.destination == destination, t.list_bindings.c.computation_key == computation_key))

    def mark_list_binding(self, destination: str, computation_key: str, run_id: str, now: datetime) -> None:
        if self.list_binding_first_run(destination, computation_key) is not None:
            return
        with self.engine.begin() as conn:
            conn.execute(insert(t.list_bindings), {"destination": destination, "computation_key": computation_key,
                                                   "first_synced_run": run_id, "created_at": now})

    # ---------------------------------------------------------------- reading back

    def counts(self, destination: str | None = None) -> QueueCounts:
        d = t.deliveries.c
        query = select(d.status, func.count()).group_by(d.status)
        if destination:
            query = query.where(d.destination == destination)
        counts = QueueCounts()
        with self.engine.connect() as conn:
            for status, n in conn.execute(query):
                setattr(counts, status, n)
        return counts

    def list_deliveries(self, destination: str | None = None, status: str | None = None,
                        limit: int | None = None) -> Iterator[dict[str, Any]]:
        """Deliveries in queue order, streamed page by page."""
        d = t.deliveries.c
        after, page, seen = 0, 1000, 0
        columns = [d.seq, d.message_id, d.destination, d.computation_key, d.kind, d.status, d.attempts,
                   d.next_attempt_at, d.last_error, d.created_at, d.delivered_at]
        while True:
            query = select(*columns).where(d.seq > after).order_by(d.seq).limit(page)
            if destination:
                query = query.where(d.destination == destination)
            if status:
                query = query.where(d.status == status)
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
            if not rows:
                return
            for row in rows:
                yield dict(row)
                seen += 1
                if limit is not None and seen >= limit:
                    return
            after = rows[-1]["seq"]

    def audit_log(self, destination: str | None = None) -> list[dict[str, Any]]:
        query = select(t.audit).order_by(t.audit.c.audit_id)
        if destination:
            query = query.where(t.audit.c.destination == destination)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]
