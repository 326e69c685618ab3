"""Delivering the queue: per destination, batches as tasks of checkpointed steps, with retries.

A task claims a batch (`claim`), sends it (`send`, which records the destination's answers)
and applies those answers to the deliveries (`settle`). After a crash the next sync finds the
open tasks and resumes each at its first step without `completed_at`; a resumed `send` sends
the very same batch again, so a destination that deduplicates by message id (or webhook-id)
sees each message once.
"""

from __future__ import annotations

import json
import random
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update

from engagectl.config.env import resolve_env
from engagectl.diagnostics import EngageError
from engagectl.sync import tables as t
from engagectl.sync.clock import Clock, SystemClock
from engagectl.sync.provider import Delivery, Outcome, Provider, ProviderSettingsError
from engagectl.sync.queue import Claim, DeliveryQueue
from engagectl.sync.retry import DISCARD, OK, PAUSE, RETRY, SPLIT, jitter, next_attempt

MAX_TASK_ATTEMPTS = 5  # a task that fails this often is a hard failure

Progress = Callable[[str, int, int], None]  # (destination, messages done, messages due)


@dataclass
class SyncReport:
    """What one `sync` did. `retrying` counts deliveries waiting for a later attempt."""

    delivered: int = 0
    retrying: int = 0
    discarded: int = 0
    failed: int = 0
    paused: dict[str, str] = field(default_factory=dict)  # destination → why
    queued: int = 0  # deliveries the run queued (sync_after_run), not part of `sync --json`

    def to_json(self) -> dict[str, int]:
        return {"delivered": self.delivered, "retrying": self.retrying,
                "discarded": self.discarded, "failed": self.failed}


class RateLimiter:
    """At most `per_second` requests a second, paced on the injectable clock."""

    def __init__(self, per_second: float | None, clock: Clock):
        self.interval = 1.0 / per_second if per_second else 0.0
        self.clock = clock
        self.next_at: datetime | None = None
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:  # batches in flight share the destination's pace
            now = self.clock.now()
            if self.next_at is not None and now < self.next_at:
                self.clock.sleep((self.next_at - now).total_seconds())
                now = self.clock.now()
            self.next_at = now + timedelta(seconds=self.interval)


def send_with_split(provider: Provider, batch: list[Delivery], limiter: RateLimiter) -> list[tuple[list[Delivery], Outcome]]:
    """Send a batch; when the destination refuses it as a whole, bisect down to the bad rows."""
    limiter.wait()
    outcome = provider.send(batch)
    if outcome.error_class != SPLIT:
        return [(batch, outcome)]
    if len(batch) == 1:
        return [(batch, Outcome(DISCARD, outcome.code, outcome.detail))]
    middle = len(batch) // 2
    answers = send_with_split(provider, batch[:middle], limiter)
    if any(o.error_class == PAUSE for _, o in answers):
        # Credentials failed half way: the rest is not attempted and stays queued.
        return answers + [(batch[middle:], Outcome(PAUSE, answers[-1][1].code, "not attempted: destination paused"))]
    return answers + send_with_split(provider, batch[middle:], limiter)


class DestinationSync:
    """Delivers everything due for one destination."""

    def __init__(self, queue: DeliveryQueue, destination: Any, provider: Provider, clock: Clock,
                 report: SyncReport, progress: Progress | None, rng: random.Random):
        self.queue = queue
        self.key = destination.key
        self.provider = provider
        self.clock = clock
        self.report = report
        self.progress = progress
        self.rng = rng
        self.limiter = RateLimiter(provider.rate_limit, clock)
        self.done = 0
        self.total = 0

    def run(self) -> None:
        self.total = self.queue.count_due(self.key, self.clock.now())
        for task in self.queue.open_tasks(self.key):
            if not self.resume(task["task_id"]):
                return
        # Up to `concurrency` batches in flight: the next batch is claimed (and the last one
        # settled) while the destination answers, so the queue and the network overlap.
        cursor = 0
        in_flight: deque[tuple[Claim, list[Delivery], Future]] = deque()
        with ThreadPoolExecutor(max_workers=self.provider.concurrency) as pool:
            keep_going = True
            while True:
                while keep_going and len(in_flight) < self.provider.concurrency:
                    claimed = self.queue.claim_batch(self.key, self.clock.now(), cursor, self.provider.batch_size)
                    if claimed is None:
                        break
                    claim, batch = claimed
                    cursor = claim.last_seq
                    in_flight.append((claim, batch, pool.submit(send_with_split, self.provider, batch, self.limiter)))
                if not in_flight:
                    return
                claim, batch, future = in_flight.popleft()
                try:
                    answers = future.result()
                except Exception as exc:  # noqa: BLE001 - a failed task is recorded, then retried
                    if self.task_failed(claim, batch, exc):
                        continue
                    keep_going = self.execute(claim, batch) and keep_going
                    continue
                keep_going = self.settle(claim, batch, answers) and keep_going

    def resume(self, task_id: str) -> bool:
        """Continue a task left open by a crash or a failure, at its first unfinished step."""
        steps = {s["name"]: s for s in self.queue.steps(task_id)}
        claim = Claim.from_json(json.loads(steps["claim"]["result"]))
        batch = self.queue.claim_batch_of(claim)
        if steps["send"]["completed_at"] is not None:
            return self.settle(claim, batch, decode_answers(steps["send"]["result"], batch))
        return self.execute(claim, batch)

    def execute(self, claim: Claim, batch: list[Delivery]) -> bool:
        """Send and settle one claimed batch, retrying the task itself up to 5 times."""
        while True:
            try:
                answers = send_with_split(self.provider, batch, self.limiter) if batch else []
                return self.settle(claim, batch, answers)
            except Exception as exc:  # noqa: BLE001 - any failure of the task is recorded and retried
                if self.task_failed(claim, batch, exc):
                    return True

    def task_failed(self, claim: Claim, batch: list[Delivery], exc: Exception) -> bool:
        """Audit a failure of the task; True when it was the last allowed (a hard failure)."""
        hard = self.queue.record_task_failure(claim, self.clock.now(), f"{type(exc).__name__}: {exc}",
                                              MAX_TASK_ATTEMPTS)
        if hard:
            self.report.failed += len(batch)
        return hard

    def settle(self, claim: Claim, batch: list[Delivery], answers: list[tuple[list[Delivery], Outcome]]) -> bool:
        """Apply the destination's answers to the deliveries; False when the destination paused."""
        now = self.clock.now()
        task_id = claim.task_id
        keep_going = True
        with self.queue.engine.begin() as conn:
            self.queue.complete_step(conn, task_id, "send", now, encode_answers(answers))
            for group, outcome in answers:
                if outcome.error_class == OK:
                    self.mark(conn, claim, group, len(batch), status=t.DELIVERED, delivered_at=now, last_error=None)
                    self.report.delivered += len(group)
                elif outcome.error_class == DISCARD:
                    self.mark(conn, claim, group, len(batch), status=t.DISCARDED, last_error=describe(outcome))
                    self.report.discarded += len(group)
                    self.queue.audit_entry(conn, now, self.key, task_id, len(group), DISCARD, outcome.code, outcome.detail)
                elif outcome.error_class == PAUSE:
                    self.mark(conn, claim, group, len(batch), last_error=describe(outcome))
                    reason = f"{outcome.code}: credentials refused; fix the destination's settings and run sync again"
                    self.queue.set_paused(conn, self.key, now, reason)
                    self.queue.audit_entry(conn, now, self.key, task_id, len(group), PAUSE, outcome.code, outcome.detail)
                    self.report.paused[self.key] = reason
                    keep_going = False
                else:
                    self.schedule_retry(conn, claim, group, outcome, now)
            if keep_going:
                self.queue.set_paused(conn, self.key, None, None)
            self.queue.complete_step(conn, task_id, "settle", now)
            conn.execute(update(t.tasks).where(t.tasks.c.task_id == task_id).values(status="done", finished_at=now))
        self.done += len(batch)
        if self.progress is not None:
            self.progress(self.key, self.done, max(self.total, self.done))
        return keep_going

    def mark(self, conn, claim: Claim, group: list[Delivery], batch_size: int, **values: Any) -> None:
        """Set the status of a group of the claim's deliveries (all of them in one statement)."""
        where = self.queue.claimed(claim)
        if len(group) != batch_size:
            where.append(t.deliveries.c.seq.in_([m.seq for m in group]))
        conn.execute(update(t.deliveries).where(*where).values(task_id=claim.task_id, **values))

    def schedule_retry(self, conn, claim: Claim, group: list[Delivery], outcome: Outcome, now: datetime) -> None:
        """awaiting-retry: back off (or honour Retry-After) within the 4-hour budget, then fail."""
        d = t.deliveries.c
        rows = conn.execute(select(d.seq, d.attempts, d.first_failed_at).where(
            *self.queue.claimed(claim), d.seq.in_([m.seq for m in group]))).all()
        failed = 0
        updates = []
        factor = jitter(self.rng)  # one draw per batch: its deliveries stay together
        for row in rows:
            attempts = row.attempts + 1
            first_failed = row.first_failed_at or now
            due = next_attempt(attempts, first_failed, now, outcome.retry_after, factor)
            failed += due is None
            updates.append({"b_seq": row.seq, "status": t.RETRYING if due is not None else t.FAILED,
                            "attempts": attempts, "first_failed_at": first_failed, "next_attempt_at": due,
                            "last_error": describe(outcome)})
        if updates:
            conn.execute(
                update(t.deliveries).where(d.seq == bindparam("b_seq")).values(
                    status=bindparam("status"), attempts=bindparam("attempts"),
                    first_failed_at=bindparam("first_failed_at"), next_attempt_at=bindparam("next_attempt_at"),
                    last_error=bindparam("last_error"), task_id=claim.task_id),
                updates,
            )
        self.report.failed += failed
        self.queue.audit_entry(conn, now, self.key, claim.task_id, len(group), RETRY if not failed else t.FAILED,
                               outcome.code, outcome.detail)


def describe(outcome: Outcome) -> str:
    return f"{outcome.error_class} {outcome.code}: {outcome.detail}".strip()[:2000]


def encode_answers(answers: list[tuple[list[Delivery], Outcome]]) -> list[dict[str, Any]]:
    return [{"seqs": [m.seq for m in group], "class": o.error_class, "code": o.code, "detail": o.detail[:500],
             "retry_after": o.retry_after} for group, o in answers]


def decode_answers(result: str | None, batch: list[Delivery]) -> list[tuple[list[Delivery], Outcome]]:
    by_seq = {m.seq: m for m in batch}
    answers = []
    for entry in json.loads(result or "[]"):
        group = [by_seq[s] for s in entry["seqs"] if s in by_seq]
        answers.append((group, Outcome(entry["class"], entry["code"], entry["detail"], entry["retry_after"])))
    return answers


def open_provider(project: Any, destination: Any) -> Provider:
    """The destination's provider with its settings resolved (`${env:…}` only now, never stored)."""
    from providers.registry import load_provider

    provider_class = load_provider(destination.provider)
    settings = resolve_env(destination.settings)
    return provider_class(destination.key, settings, space=project.settings.space, project_dir=project.directory)


def deliver(project: Any, state: Any, clock: Clock | None = None, progress: Progress | None = None,
            destinations: list[str] | None = None, rng: random.Random | None = None) -> SyncReport:
    """Deliver what is due for every destination of the project, honouring retry schedules."""
    from engagectl.sync.queue import delivery_lock, open_queue

    clock = clock or SystemClock()
    rng = rng or random.Random()
    queue = open_queue(state, project.directory)
    try:
        with delivery_lock(queue.engine):
            return deliver_queue(project, queue, clock, progress, destinations, rng)
    finally:
        queue.close()


def deliver_queue(project: Any, queue: DeliveryQueue, clock: Clock, progress: Progress | None,
                  destinations: list[str] | None, rng: random.Random) -> SyncReport:
    report = SyncReport()
    for destination in sorted(project.of_kind("destination"), key=lambda r: r.key):
        if destinations and destination.key not in destinations:
            continue
        try:
            provider = open_provider(project, destination)
        except (EngageError, ProviderSettingsError) as exc:
            # Configuration, not data: nothing is sent and nothing is discarded.
            if queue.count_due(destination.key, clock.now()):
                report.paused[destination.key] = str(exc)
                with queue.engine.begin() as conn:
                    queue.audit_entry(conn, clock.now(), destination.key, None, 0, PAUSE, "INVALID_SETTINGS", str(exc))
            continue
        try:
            DestinationSync(queue, destination, provider, clock, report, progress, rng).run()
        finally:
            provider.close()
    report.retrying = queue.counts().retrying
    return report
