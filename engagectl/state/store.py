"""The state store: read a snapshot, take the lock, commit an apply's writes in one transaction."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.schema import CreateSchema

from engagectl.state import schema
from engagectl.state.errors import StalePlan, StateUnavailable
from engagectl.state.locks import as_utc, force_unlock, hold_lock, list_locks, utcnow
from engagectl.state.records import (
    ApplyRecord,
    LockInfo,
    StateChangeset,
    StateSnapshot,
    StoredResource,
    Tombstone,
    spec_json,
)

DEFAULT_LOCK_TIMEOUT = 10.0

# Packages that keep tables in the state database; imported (when present) before create_all.
_TABLE_MODULES = ("engagectl.sync.tables", "engagectl.server.tokens")


class StateStore:
    """What has been applied, behind SQLAlchemy (SQLite by default, Postgres by URL)."""

    def __init__(self, engine: Engine, schema_name: str | None = None):
        self.engine = engine
        self.schema = schema_name

    # -- reading ---------------------------------------------------------------------------

    def snapshot(self) -> StateSnapshot:
        """Lineage, serial, resources and tombstones, read in one transaction."""
        with self.engine.begin() as conn:
            row = conn.execute(select(schema.meta).where(schema.meta.c.id == 1)).mappings().first()
            resources = {
                r["address"]: _stored_resource(r)
                for r in conn.execute(select(schema.resources).order_by(schema.resources.c.address)).mappings()
            }
            tombstones = {
                (t["namespace"], t["key"]): _tombstone(t)
                for t in conn.execute(select(schema.tombstones)).mappings()
            }
        return StateSnapshot(
            lineage=row["lineage"] if row else None,
            serial=row["serial"] if row else 0,
            resources=resources,
            tombstones=tombstones,
        )

    def history(self, limit: int | None = None) -> list[ApplyRecord]:
        """Applies, newest first."""
        query = select(schema.applies).order_by(schema.applies.c.serial.desc())
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            ApplyRecord(serial=r["serial"], lineage=r["lineage"], applied_at=as_utc(r["applied_at"]),
                        applied_by=r["applied_by"], git_commit=r["git_commit"], plan_hash=r["plan_hash"],
                        summary=json.loads(r["summary"]))
            for r in rows
        ]

    # -- locking ---------------------------------------------------------------------------

    @contextmanager
    def lock(self, operation: str, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[LockInfo]:
        """Hold the state lock; a second writer waits up to `timeout` s, then StateLocked names us."""
        with hold_lock(self.engine, operation, timeout) as info:
            yield info

    def locks(self) -> list[LockInfo]:
        return list_locks(self.engine)

    def unlock(self, lock_id: str) -> LockInfo:
        """Release a stuck lock by id (LockNotFound when there is none); returns what was held."""
        return force_unlock(self.engine, lock_id)

    # -- writing ---------------------------------------------------------------------------

    def commit(self, changeset: StateChangeset) -> int:
        """Write an apply in one transaction and return the new serial.

        Refused (StalePlan) when the state is not at the lineage and serial the changes were
        planned against. An empty changeset writes nothing: a no-op never bumps the serial.
        """
        with self.engine.begin() as conn:
            serial = self._check_position(conn, changeset)
            if changeset.is_empty:
                return serial
            new_serial = serial + 1
            now = utcnow()
            lineage = changeset.expected_lineage or changeset.new_lineage
            if changeset.expected_lineage is None:
                conn.execute(insert(schema.meta).values(id=1, lineage=lineage, serial=new_serial, updated_at=now))
            else:
                conn.execute(update(schema.meta).where(schema.meta.c.id == 1)
                             .values(serial=new_serial, updated_at=now))
            self._write_resources(conn, changeset, new_serial, now)
            conn.execute(insert(schema.applies).values(
                serial=new_serial, lineage=lineage, applied_at=now, applied_by=changeset.applied_by,
                git_commit=changeset.git_commit, plan_hash=changeset.plan_hash,
                summary=json.dumps(changeset.summary, sort_keys=True)))
        return new_serial

    def _check_position(self, conn: Connection, changeset: StateChangeset) -> int:
        # FOR UPDATE on Postgres: a concurrent commit (someone ignoring the lock) waits, then fails here
        query = select(schema.meta).where(schema.meta.c.id == 1)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).mappings().first()
        if changeset.expected_lineage is None:
            if row is not None:
                raise StalePlan(
                    f"saved plan is stale: it was made against empty state, but the state now has lineage "
                    f"{row['lineage']} at serial {row['serial']} (was it applied already?). Run `engagectl plan` again")
            return 0
        if row is None or row["lineage"] != changeset.expected_lineage:
            found = "empty state" if row is None else f"lineage {row['lineage']}"
            raise StalePlan(
                f"saved plan does not match the state: it was made against lineage {changeset.expected_lineage}, "
                f"the state has {found}. Run `engagectl plan` against this state")
        if row["serial"] != changeset.expected_serial:
            raise StalePlan(
                f"saved plan is stale: it was made at serial {changeset.expected_serial}, the state is now at "
                f"serial {row['serial']} (someone applied since). Run `engagectl plan` again")
        return row["serial"]

    def _write_resources(self, conn: Connection, changeset: StateChangeset, serial: int, now) -> None:
        table = schema.resources
        if changeset.deletes:
            conn.execute(delete(table).where(table.c.address.in_(changeset.deletes)))
        existing = set()
        addresses = [r.address for r in changeset.upserts]
        for start in range(0, len(addresses), 500):  # stay under every driver's parameter limit
            chunk = addresses[start:start + 500]
            existing.update(conn.execute(select(table.c.address).where(table.c.address.in_(chunk))).scalars())
        created = [r for r in changeset.upserts if r.address not in existing]
        if created:
            conn.execute(insert(table), [
                {"address": r.address, "kind": r.kind, "key": r.key, "spec": spec_json(r.spec), "hash": r.hash,
                 "protect": r.protect, "serial": serial, "created_serial": serial, "updated_at": now}
                for r in created])
        for r in changeset.upserts:
            if r.address in existing:
                conn.execute(update(table).where(table.c.address == r.address).values(
                    spec=spec_json(r.spec), hash=r.hash, protect=r.protect, serial=serial, updated_at=now))
        if changeset.tombstones:
            conn.execute(insert(schema.tombstones), [
                {"namespace": t.namespace, "key": t.key, "kind": t.kind, "address": t.address,
                 "reason": t.reason, "serial": serial, "deleted_at": now}
                for t in changeset.tombstones])

    def close(self) -> None:
        self.engine.dispose()


def open_state(url: str, project_dir: str = ".") -> StateStore:
    """Open the state at `url` (relative SQLite paths are relative to the project), tables created."""
    for module in _TABLE_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:  # that part of engagectl is not built (or not installed)
            pass
    try:
        engine, schema_name = schema.state_engine(url, project_dir)
    except (ArgumentError, ImportError) as exc:  # a malformed URL or a database engagectl does not support
        # name the scheme only: the URL may carry a password resolved from the environment
        shown = url.split("://", 1)[0] + "://…" if "://" in url else "a URL without a scheme"
        raise StateUnavailable(f"cannot open the state at {shown}: use sqlite:///path or "
                               f"postgresql+psycopg://… ({type(exc).__name__})") from exc
    try:
        _create_tables(engine, schema_name)
    except DBAPIError as exc:
        engine.dispose()
        shown = engine.url.render_as_string(hide_password=True)
        raise StateUnavailable(f"cannot open the state at {shown}: {exc.orig or exc}".strip()) from exc
    return StateStore(engine, schema_name)


def _create_tables(engine: Engine, schema_name: str | None) -> None:
    if schema_name and engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(CreateSchema(schema_name, if_not_exists=True))
    try:
        schema.metadata.create_all(engine)
    except DBAPIError:
        # two processes creating the tables at once: the loser's CREATE fails; the tables exist now
        schema.metadata.create_all(engine)


def _stored_resource(row) -> StoredResource:
    return StoredResource(
        address=row["address"], kind=row["kind"], key=row["key"], spec=json.loads(row["spec"]), hash=row["hash"],
        protect=bool(row["protect"]), serial=row["serial"], created_serial=row["created_serial"],
        updated_at=as_utc(row["updated_at"]))


def _tombstone(row) -> Tombstone:
    return Tombstone(namespace=row["namespace"], key=row["key"], kind=row["kind"], address=row["address"],
                     reason=row["reason"], serial=row["serial"], deleted_at=as_utc(row["deleted_at"]))
