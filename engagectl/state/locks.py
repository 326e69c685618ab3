"""The state lock: a row in `locks` whose primary key makes a second holder impossible.

A writer inserts the row; a second writer's insert fails, so it polls until the row is gone or
its `--lock-timeout` runs out, then fails naming the holder. A crashed holder leaves its row
behind; `engagectl state unlock ID` deletes it. Within one process the lock is re-entrant, so
code that runs inside an apply (the warehouse run, the sync) may take it again without waiting
for itself.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from engagectl.state import schema
from engagectl.state.errors import LockNotFound, StateLocked
from engagectl.state.records import LockInfo

STATE_LOCK = "state"
POLL_SECONDS = 0.1

# (engine url, lock name) -> [LockInfo, depth]: locks this process holds
_held: dict[tuple[str, str], list] = {}


def current_user() -> str | None:
    """Who runs engagectl, as far as the machine knows."""
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): unknown is an honest answer
        return None


def holder_name() -> str:
    return f"{current_user() or 'unknown'}@{socket.gethostname()} pid {os.getpid()}"


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every time engagectl stores is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def read_lock(engine: Engine, name: str = STATE_LOCK) -> LockInfo | None:
    with engine.connect() as conn:
        row = conn.execute(select(schema.locks).where(schema.locks.c.name == name)).mappings().first()
    return _lock_info(row) if row else None


def list_locks(engine: Engine) -> list[LockInfo]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.locks).order_by(schema.locks.c.acquired_at)).mappings().all()
    return [_lock_info(row) for row in rows]


@contextmanager
def hold_lock(engine: Engine, operation: str, timeout: float, name: str = STATE_LOCK) -> Iterator[LockInfo]:
    """Hold the named lock for the duration of the block, waiting up to `timeout` seconds."""
    slot = (engine.url.render_as_string(hide_password=True) + str(engine.get_execution_options()), name)
    if slot in _held:
        _held[slot][1] += 1
        try:
            yield _held[slot][0]
        finally:
            _held[slot][1] -= 1
        return
    info = _acquire(engine, operation, timeout, name)
    _held[slot] = [info, 1]
    try:
        yield info
    finally:
        del _held[slot]
        _release(engine, info.id)


def _acquire(engine: Engine, operation: str, timeout: float, name: str) -> LockInfo:
    info = LockInfo(id=str(uuid.uuid4()), holder=holder_name(), operation=operation, acquired_at=utcnow())
    deadline = time.monotonic() + max(timeout, 0.0)
    while True:
        try:
            with engine.begin() as conn:
                conn.execute(insert(schema.locks).values(
                    name=name, id=info.id, holder=info.holder, operation=operation, acquired_at=info.acquired_at))
            return info
        except (IntegrityError, OperationalError):
            # IntegrityError: someone holds it; OperationalError: SQLite busy with their write
            pass
        if time.monotonic() >= deadline:
            holder = read_lock(engine, name)
            if holder is None:  # released between our insert and our look: try once more
                deadline = time.monotonic() + POLL_SECONDS
                continue
            raise StateLocked(holder, timeout)
        time.sleep(POLL_SECONDS)


def _release(engine: Engine, lock_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(delete(schema.locks).where(schema.locks.c.id == lock_id))


def force_unlock(engine: Engine, lock_id: str) -> LockInfo:
    """Remove a lock by id, whoever holds it; returns what was held."""
    with engine.begin() as conn:
        row = conn.execute(select(schema.locks).where(schema.locks.c.id == lock_id)).mappings().first()
        if row is None:
            raise LockNotFound(lock_id)
        conn.execute(delete(schema.locks).where(schema.locks.c.id == lock_id))
    return _lock_info(row)


def _lock_info(row) -> LockInfo:
    return LockInfo(id=row["id"], holder=row["holder"], operation=row["operation"],
                    acquired_at=as_utc(row["acquired_at"]))
