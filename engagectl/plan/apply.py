"""Applying a plan: turn its changes into the state's writes and commit them in one transaction."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from engagectl.plan.model import Plan
from engagectl.state.locks import current_user
from engagectl.state.records import StateChangeset, StoredResource, Tombstone
from engagectl.state.store import StateStore


@dataclass
class ApplyResult:
    """What an apply did: `applied` is False when there was nothing to change (serial unchanged)."""

    plan: Plan
    applied: bool
    lineage: str
    serial: int

    def to_json(self) -> dict:
        """The `apply --json` document (the warehouse run and the sync add their own keys)."""
        return {
            "applied": self.applied,
            "serial": self.serial,
            "lineage": self.lineage,
            "changes": [c.to_json() for c in self.plan.changes],
            "summary": self.plan.summary,
            "diagnostics": self.plan.to_json()["diagnostics"],
        }


def changeset(plan: Plan, applied_by: str | None = None, git_commit: str | None = None) -> StateChangeset:
    """The writes that make the state what the plan says, nothing more."""
    writes = StateChangeset(
        expected_lineage=None if plan.state_was_empty else plan.lineage,
        expected_serial=plan.serial, new_lineage=plan.lineage, plan_hash=plan.hash, summary=plan.summary,
        applied_by=applied_by, git_commit=git_commit)
    for change in plan.pending:
        if change.action in ("delete", "replace"):
            writes.deletes.append(change.replaces or change.address)
        if change.action in ("create", "update", "replace"):
            writes.upserts.append(StoredResource(
                address=change.address, kind=change.kind, key=change.key, spec=change.after,
                hash=change.after_hash, protect=change.after_protect))
        writes.tombstones += [Tombstone(r.namespace, r.key, r.kind, r.address, r.reason) for r in change.retired]
    # one tombstone per key, even if two retiring changes name it
    writes.tombstones = list({(t.namespace, t.key): t for t in writes.tombstones}.values())
    return writes


def apply_plan(store: StateStore, plan: Plan, project_dir: str | Path = ".") -> ApplyResult:
    """Commit the plan's changes (refused with StalePlan when the state moved on since the plan).

    The caller holds the state lock. A plan without changes writes nothing.
    """
    writes = changeset(plan, applied_by=current_user(), git_commit=git_commit(project_dir))
    serial = store.commit(writes)
    return ApplyResult(plan=plan, applied=not writes.is_empty, lineage=plan.lineage, serial=serial)


def git_commit(project_dir: str | Path) -> str | None:
    """HEAD of the project's git checkout, or None when it is not one (or git is missing)."""
    try:
        completed = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project_dir, capture_output=True, text=True,
                                   timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    sha = completed.stdout.strip()
    return sha if completed.returncode == 0 and sha else None
