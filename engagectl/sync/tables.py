"""The delivery queue's tables in the state store: deliveries, tasks and their steps, audit.

A delivery is one message for one destination, written before any request is made. Deliveries
are claimed in batches by a task; a task's steps record `completed_at` so that a crashed sync
resumes at the first unfinished step instead of starting again.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from engagectl.state.schema import metadata

# Status of one delivery: queued → delivered | retrying | discarded | failed. A batch in flight
# keeps its status: its task's `claim` step records which deliveries it holds.
QUEUED, RETRYING, DELIVERED, DISCARDED, FAILED = "queued", "retrying", "delivered", "discarded", "failed"
DUE_STATUSES = (QUEUED, RETRYING)
STATUSES = (QUEUED, RETRYING, DELIVERED, DISCARDED, FAILED)

deliveries = Table(
    "sync_deliveries",
    metadata,
    # `seq` is the queue order and the keyset the engine pages on.
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(80), nullable=False, unique=True),
    Column("destination", String(255), nullable=False),
    Column("computation_key", String(255)),
    Column("run_id", String(255)),
    Column("kind", String(32), nullable=False),  # identify | track | alias | list_add | list_remove
    Column("status", String(16), nullable=False, default=QUEUED),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime),  # naive UTC; null means due now
    Column("first_failed_at", DateTime),  # start of the 4-hour retry budget
    Column("last_error", Text),
    Column("task_id", String(80)),  # the task that last settled it
    Column("created_at", DateTime, nullable=False),
    Column("delivered_at", DateTime),
)
# Payloads live apart from the deliveries: status updates then rewrite narrow rows only.
payloads = Table(
    "sync_payloads",
    metadata,
    Column("message_id", String(80), primary_key=True),
    Column("payload", Text, nullable=False),  # the message as JSON text, sent verbatim
)

Index("ix_sync_deliveries_destination_seq", deliveries.c.destination, deliveries.c.seq)
Index("ix_sync_deliveries_task", deliveries.c.task_id)
Index("ix_sync_deliveries_run", deliveries.c.run_id)

tasks = Table(
    "sync_tasks",
    metadata,
    Column("task_id", String(80), primary_key=True),
    Column("kind", String(16), nullable=False),  # deliver | enqueue
    Column("destination", String(255)),
    Column("run_id", String(255)),
    Column("status", String(16), nullable=False),  # open | done | failed
    Column("attempts", Integer, nullable=False, default=0),  # failures of the task itself
    Column("created_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
)
Index("ix_sync_tasks_status", tasks.c.status)

task_steps = Table(
    "sync_task_steps",
    metadata,
    Column("task_id", String(80), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(32), nullable=False),
    Column("result", Text),  # what the step learnt (e.g. the destination's answers), JSON
    Column("completed_at", DateTime),
)

destination_state = Table(
    "sync_destinations",
    metadata,
    Column("destination", String(255), primary_key=True),
    Column("paused_at", DateTime),  # set on 401/403: nothing is sent or discarded while paused
    Column("paused_reason", Text),
)

# Which list bindings have had their first (full) sync: later runs send only adds and removes.
list_bindings = Table(
    "sync_list_bindings",
    metadata,
    Column("destination", String(255), primary_key=True),
    Column("computation_key", String(255), primary_key=True),
    Column("first_synced_run", String(255)),
    Column("created_at", DateTime, nullable=False),
)

audit = Table(
    "sync_audit",
    metadata,
    Column("audit_id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime, nullable=False),
    Column("destination", String(255)),
    Column("task_id", String(80)),  # the task that last settled it
    Column("messages", Integer, nullable=False, default=0),
    Column("error_class", String(32), nullable=False),  # awaiting-retry | discarded | paused | failed | task-error
    Column("code", String(64)),  # HTTP status or transport error name
    Column("detail", Text),
)
