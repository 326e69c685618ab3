"""What the state store hands out and takes in: plain dataclasses, no SQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class StoredResource:
    """An applied resource: its canonical spec (as applied) and bookkeeping."""

    address: str
    kind: str
    key: str
    spec: dict
    hash: str
    protect: bool = False
    serial: int = 0
    created_serial: int = 0
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Tombstone:
    """A retired key: it can never be created again in its namespace."""

    namespace: str
    key: str
    kind: str
    address: str
    reason: str
    serial: int = 0
    deleted_at: datetime | None = None


@dataclass(frozen=True)
class ApplyRecord:
    """One entry of the apply history."""

    serial: int
    lineage: str
    applied_at: datetime
    applied_by: str | None
    git_commit: str | None
    plan_hash: str
    summary: dict

    def to_json(self) -> dict:
        return {
            "serial": self.serial,
            "lineage": self.lineage,
            "applied_at": self.applied_at.isoformat(),
            "applied_by": self.applied_by,
            "git_commit": self.git_commit,
            "plan_hash": self.plan_hash,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class LockInfo:
    """Who holds the state lock, since when, doing what."""

    id: str
    holder: str
    operation: str
    acquired_at: datetime

    def describe(self) -> str:
        return f"{self.holder} ({self.operation}, since {self.acquired_at.isoformat(timespec='seconds')}, lock id {self.id})"


@dataclass
class StateSnapshot:
    """Everything the planner needs from the state, read in one go."""

    lineage: str | None
    serial: int
    resources: dict[str, StoredResource] = field(default_factory=dict)
    tombstones: dict[tuple[str, str], Tombstone] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """No apply has ever changed this state: it has no lineage yet."""
        return self.lineage is None


@dataclass
class StateChangeset:
    """The writes of one apply, committed in one transaction.

    `expected_lineage`/`expected_serial` are what the plan was made against; the commit is
    refused when the state has moved on (or, for `expected_lineage=None`, is no longer empty).
    `new_lineage` is the lineage to record when the state was empty.
    """

    expected_lineage: str | None
    expected_serial: int
    new_lineage: str
    plan_hash: str
    summary: dict
    upserts: list[StoredResource] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    tombstones: list[Tombstone] = field(default_factory=list)
    applied_by: str | None = None
    git_commit: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.upserts or self.deletes or self.tombstones)


def spec_json(spec: dict) -> str:
    """The canonical JSON text of a spec: sorted keys, no whitespace (what the hash covers)."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
