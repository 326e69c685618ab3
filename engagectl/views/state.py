"""The state for people: `state list`, `state show KEY`, `show` without a file, `state unlock`.

The JSON forms are built here too (`*_json`), so both renderings read the same records.
"""

from __future__ import annotations

import yaml
from rich.console import Console
from rich.table import Table
from rich.text import Text

from engagectl.state.records import (
    ApplyRecord,
    LockInfo,
    StateSnapshot,
    StoredResource,
    Tombstone,
)


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def resource_json(resource: StoredResource, with_spec: bool = False) -> dict:
    document = {
        "address": resource.address, "kind": resource.kind, "key": resource.key, "hash": resource.hash,
        "serial": resource.serial, "protect": resource.protect,
    }
    if with_spec:
        document["created_serial"] = resource.created_serial
        document["updated_at"] = resource.updated_at.isoformat() if resource.updated_at else None
        document["spec"] = resource.spec
    return document


def tombstone_json(tombstone: Tombstone) -> dict:
    return {"namespace": tombstone.namespace, "key": tombstone.key, "kind": tombstone.kind,
            "address": tombstone.address, "reason": tombstone.reason, "serial": tombstone.serial,
            "deleted_at": tombstone.deleted_at.isoformat() if tombstone.deleted_at else None}


def state_list_json(snapshot: StateSnapshot) -> dict:
    return {
        "lineage": snapshot.lineage, "serial": snapshot.serial,
        "resources": [resource_json(r) for r in snapshot.resources.values()],
        "tombstones": [tombstone_json(t) for t in sorted(snapshot.tombstones.values(), key=lambda t: t.key)],
    }


def render_state_list(snapshot: StateSnapshot, console: Console | None = None) -> None:
    console = console or _console()
    if snapshot.is_empty:
        console.print("The state is empty: nothing has been applied yet.")
        return
    table = Table("address", "kind", "hash", "serial", "protect", box=None, pad_edge=False)
    for resource in snapshot.resources.values():
        table.add_row(resource.address, resource.kind, resource.hash[:12], str(resource.serial),
                      "yes" if resource.protect else "no")
    console.print(table)
    console.print(f"{len(snapshot.resources)} resources, {len(snapshot.tombstones)} retired keys; "
                  f"serial {snapshot.serial}, lineage {snapshot.lineage}")


def render_resource(resource: StoredResource, console: Console | None = None) -> None:
    console = console or _console()
    console.print(Text(f"# {resource.address}", style="bold"))
    console.print(f"# hash {resource.hash}")
    console.print(f"# applied at serial {resource.serial} (created at serial {resource.created_serial})"
                  + (f", {resource.updated_at.isoformat(timespec='seconds')}" if resource.updated_at else ""))
    console.print(f"# protect: {'true' if resource.protect else 'false'}")
    console.print(Text(yaml.safe_dump(resource.spec, sort_keys=True, allow_unicode=True).rstrip()))


def state_summary_json(snapshot: StateSnapshot, history: list[ApplyRecord]) -> dict:
    kinds: dict[str, int] = {}
    for resource in snapshot.resources.values():
        kinds[resource.kind] = kinds.get(resource.kind, 0) + 1
    return {
        "lineage": snapshot.lineage, "serial": snapshot.serial, "resources": len(snapshot.resources),
        "by_kind": kinds, "retired_keys": len(snapshot.tombstones),
        "applies": [record.to_json() for record in history],
    }


def render_state_summary(snapshot: StateSnapshot, history: list[ApplyRecord], console: Console | None = None) -> None:
    console = console or _console()
    if snapshot.is_empty:
        console.print("The state is empty: nothing has been applied yet.")
        return
    summary = state_summary_json(snapshot, history)
    console.print(f"Lineage {snapshot.lineage}, serial {snapshot.serial}")
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(summary["by_kind"].items())) or "none"
    console.print(f"Resources: {len(snapshot.resources)} ({kinds}); retired keys: {len(snapshot.tombstones)}")
    if history:
        console.print("Last applies:")
        for record in history:
            counts = record.summary
            console.print(
                f"  serial {record.serial}  {record.applied_at.isoformat(timespec='seconds')}  "
                f"by {record.applied_by or 'unknown'}  commit {(record.git_commit or '-')[:12]}  "
                f"+{counts.get('create', 0)} ~{counts.get('update', 0)} -{counts.get('delete', 0)} "
                f"-/+{counts.get('replace', 0)}  plan {record.plan_hash[:12]}")


def render_unlocked(lock: LockInfo, console: Console | None = None) -> None:
    console = console or _console()
    console.print(f"Released lock {lock.id}, held by {lock.holder} ({lock.operation}, since "
                  f"{lock.acquired_at.isoformat(timespec='seconds')}).")


def lock_json(lock: LockInfo) -> dict:
    return {"id": lock.id, "holder": lock.holder, "operation": lock.operation,
            "acquired_at": lock.acquired_at.isoformat()}
