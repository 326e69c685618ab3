"""Delivery: a run's changes become queued messages, delivered to destinations with retries.

- `enqueue_run(project, state, warehouse, run_id) -> int` queues a run's deliveries
  (idempotent: message ids are deterministic).
- `deliver(project, state, clock=None, progress=None) -> SyncReport` sends what is due.
- `sync_after_run(project, warehouse, state_url, run_id) -> SyncReport` does both; `run` and
  `apply` call it unless `--no-sync`.
"""

from __future__ import annotations

from typing import Any

from engagectl.sync.clock import Clock, ManualClock, SystemClock
from engagectl.sync.engine import SyncReport, deliver
from engagectl.sync.enqueue import enqueue_run, resume_enqueues
from engagectl.sync.queue import DeliveryQueue


def sync_after_run(project: Any, warehouse: Any, state_url: Any, run_id: str, clock: Clock | None = None,
                   progress: Any = None, deliver_now: bool = True) -> SyncReport:
    """Queue a run's changes, then (unless `deliver_now` is false: `--no-sync`) deliver what is due.

    `report.queued` is how many deliveries the run queued (`run --json`'s `queued`).
    """
    queued = enqueue_run(project, state_url, warehouse, run_id, clock=clock)
    report = deliver(project, state_url, clock=clock, progress=progress) if deliver_now else SyncReport()
    report.queued = queued
    return report


__all__ = ["Clock", "DeliveryQueue", "ManualClock", "SyncReport", "SystemClock", "deliver", "enqueue_run",
           "resume_enqueues", "sync_after_run"]
