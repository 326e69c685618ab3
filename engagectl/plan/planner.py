"""The planner: compare the project's canonical specs with the state and decide each change.

Key rules (PRODUCT.md §2, engage-faq.md):
- a key is never reused: creating a key that has a tombstone (or that this plan retires) is
  refused, because destinations would mix the members of the old and the new resource;
- a key is immutable: a new key whose definition equals one being removed is one `replace`
  (the old key retired for good, the new one starting empty), never an in-place update;
- a resource whose state says `protect: true` cannot be deleted, even when its file is gone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from engagectl.config.loader import Project
from engagectl.diagnostics import Diagnostic
from engagectl.plan.canonical import (
    TRAIT_NAMESPACE,
    canonical_spec,
    definition,
    owned_keys,
    references,
    spec_hash,
    step_keys,
)
from engagectl.plan.model import Plan, ResourceChange, RetiredKey
from engagectl.plan.reasons import (
    create_reasons,
    delete_reasons,
    replace_reasons,
    update_reasons,
)
from engagectl.state.records import StateSnapshot, StoredResource, Tombstone


@dataclass
class DesiredResource:
    """A resource of the project, canonicalised, with where it was written."""

    address: str
    kind: str
    key: str
    spec: dict
    hash: str
    protect: bool
    file: str | None = None
    line: int | None = None
    column: int | None = None


def desired_resources(project: Project) -> dict[str, DesiredResource]:
    desired = {}
    for address, resource in project.resources.items():
        spec = canonical_spec(resource)
        document = project.documents.get(address)
        location = document.location(("key",)) if document else project.locations.get(address)
        desired[address] = DesiredResource(
            address=address, kind=spec["kind"], key=spec["key"], spec=spec, hash=spec_hash(spec),
            protect=bool(getattr(resource, "protect", False)),
            file=location.file if location else None, line=location.line if location else None,
            column=location.column if location else None)
    return desired


def plan_project(project: Project, snapshot: StateSnapshot) -> Plan:
    """The plan for a project as read (`read_project`), with the project's diagnostics in it.

    A project that failed to load gets a plan with no changes (a half-read project would look
    like deletions) and every error: its own and the key-reuse refusals that can still be seen.
    """
    if any(d.severity == "error" for d in project.diagnostics):
        diagnostics = list(project.diagnostics) + reuse_diagnostics(project, snapshot)
        return Plan(lineage=snapshot.lineage or str(uuid.uuid4()), serial=snapshot.serial,
                    state_was_empty=snapshot.is_empty, changes=[], diagnostics=_ordered(diagnostics))
    plan = make_plan(project, snapshot)
    plan.diagnostics = _ordered(list(project.diagnostics) + plan.diagnostics)
    return plan


def _ordered(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """By file and line; diagnostics that name no file (a protected deletion) last."""
    return sorted(diagnostics, key=lambda d: (d.file is None, d.file or "", d.line or 0, d.column or 0, d.message))


def make_plan(project: Project, snapshot: StateSnapshot) -> Plan:
    """Every change that makes the state match the project, with refusals as error diagnostics."""
    return _Planner(desired_resources(project), snapshot).plan()


def reuse_diagnostics(project: Project, snapshot: StateSnapshot) -> list[Diagnostic]:
    """Only the key-reuse refusals: what can still be said about a project that failed to load."""
    desired = desired_resources(project)
    diagnostics = []
    for address, resource in desired.items():
        if address in snapshot.resources:
            continue
        for ns, key in owned_keys(resource.spec):
            tombstone = snapshot.tombstones.get((ns, key))
            if tombstone is not None:
                diagnostics.append(_reuse_diagnostic(resource, key, tombstone))
    return diagnostics


class _Planner:
    def __init__(self, desired: dict[str, DesiredResource], snapshot: StateSnapshot):
        self.desired = desired
        self.snapshot = snapshot
        self.stored = snapshot.resources
        self.diagnostics: list[Diagnostic] = []
        self.changes: list[ResourceChange] = []
        self.dependents = _dependents(desired)

    def plan(self) -> Plan:
        created = sorted(a for a in self.desired if a not in self.stored)
        removed = sorted(a for a in self.stored if a not in self.desired)
        retiring = self._retiring(removed)
        pairs = self._replacements(created, removed, retiring)
        replaced_old = set(pairs.values())
        for address in created:
            if address in pairs:
                self._replace(self.desired[address], self.stored[pairs[address]], retiring)
            else:
                self._create(self.desired[address], retiring)
        for address in removed:
            if address not in replaced_old:
                self._delete(self.stored[address])
        for address in sorted(a for a in self.desired if a in self.stored):
            self._update(self.desired[address], self.stored[address], retiring)
        self.changes.sort(key=lambda c: c.address)
        self.diagnostics.sort(key=lambda d: (d.file or "\uffff", d.line or 0, d.message))
        lineage = self.snapshot.lineage or str(uuid.uuid4())
        return Plan(lineage=lineage, serial=self.snapshot.serial, state_was_empty=self.snapshot.is_empty,
                    changes=self.changes, diagnostics=self.diagnostics)

    # -- the rules ---------------------------------------------------------------------------

    def _retiring(self, removed: list[str]) -> dict[tuple[str, str], str]:
        """Keys this plan retires (removed resources and journey steps) -> the address retiring them."""
        retiring = {}
        for address in removed:
            for owned in owned_keys(self.stored[address].spec):
                retiring[owned] = address
        for address, resource in self.desired.items():
            stored = self.stored.get(address)
            if stored is not None:
                for step_key in set(step_keys(stored.spec).values()) - set(step_keys(resource.spec).values()):
                    retiring[(TRAIT_NAMESPACE, step_key)] = address
        return retiring

    def _replacements(self, created: list[str], removed: list[str], retiring) -> dict[str, str]:
        """New address -> removed address with the same definition (a key change)."""
        candidates: dict[tuple[str, str], list[str]] = {}
        for address in removed:
            stored = self.stored[address]
            candidates.setdefault((stored.kind, spec_hash(definition(stored.spec))), []).append(address)
        pairs = {}
        for address in created:
            resource = self.desired[address]
            if self._reused_keys(resource, retiring, ignore_retired_by=None):
                continue  # refused as a create below, never disguised as a replace
            matches = candidates.get((resource.kind, spec_hash(definition(resource.spec))))
            if matches:
                pairs[address] = matches.pop(0)
        return pairs

    def _reused_keys(self, resource: DesiredResource, retiring, ignore_retired_by: str | None,
                     keys: list[tuple[str, str]] | None = None) -> list[Diagnostic]:
        found = []
        for ns, key in keys if keys is not None else owned_keys(resource.spec):
            tombstone = self.snapshot.tombstones.get((ns, key))
            if tombstone is not None:
                found.append(_reuse_diagnostic(resource, key, tombstone))
            elif (ns, key) in retiring and retiring[(ns, key)] not in (resource.address, ignore_retired_by):
                found.append(_reuse_diagnostic(resource, key, None, retired_by=retiring[(ns, key)]))
        return found

    def _protected(self, stored: StoredResource, verb: str) -> bool:
        if not stored.protect:
            return False
        self.diagnostics.append(Diagnostic(
            f"{stored.address} is protected (protect: true in the state since serial {stored.serial}), so no plan "
            f"may {verb} it, even when its file was removed. To {verb} it, first apply it with `protect: false`, "
            f"then remove it"))
        return True

    # -- one change per address -----------------------------------------------------------

    def _create(self, resource: DesiredResource, retiring) -> None:
        refusals = self._reused_keys(resource, retiring, ignore_retired_by=None)
        if refusals:
            self.diagnostics += refusals
            return
        self.changes.append(ResourceChange(
            address=resource.address, kind=resource.kind, key=resource.key, action="create",
            reasons=create_reasons(resource.spec), after=resource.spec, after_protect=resource.protect,
            after_hash=resource.hash))

    def _replace(self, resource: DesiredResource, old: StoredResource, retiring) -> None:
        if self._protected(old, "delete"):
            return
        # keys the old resource held are retired by this very change; anything else is a reuse
        refusals = self._reused_keys(resource, retiring, ignore_retired_by=None,
                                     keys=[k for k in owned_keys(resource.spec) if retiring.get(k) != old.address])
        if refusals:
            self.diagnostics += refusals
            return
        self.changes.append(ResourceChange(
            address=resource.address, kind=resource.kind, key=resource.key, action="replace",
            reasons=replace_reasons(old.spec, resource.spec, self._dependents_of(old.spec, old.address)),
            before=old.spec, after=resource.spec, before_protect=old.protect, after_protect=resource.protect,
            after_hash=resource.hash, replaces=old.address,
            retired=_retired(old, f"replaced by {resource.address}")))

    def _delete(self, stored: StoredResource) -> None:
        if self._protected(stored, "delete"):
            return
        self.changes.append(ResourceChange(
            address=stored.address, kind=stored.kind, key=stored.key, action="delete",
            reasons=delete_reasons(stored.spec, self._dependents_of(stored.spec, stored.address)),
            before=stored.spec, before_protect=stored.protect, retired=_retired(stored, "deleted")))

    def _update(self, resource: DesiredResource, stored: StoredResource, retiring) -> None:
        if resource.hash == stored.hash and resource.protect == stored.protect:
            self.changes.append(ResourceChange(
                address=resource.address, kind=resource.kind, key=resource.key, action="no-op",
                before=stored.spec, after=resource.spec, before_protect=stored.protect,
                after_protect=resource.protect, after_hash=resource.hash))
            return
        old_steps, new_steps = step_keys(stored.spec), step_keys(resource.spec)
        added = [(TRAIT_NAMESPACE, k) for s, k in new_steps.items() if s not in old_steps]
        refusals = self._reused_keys(resource, retiring, ignore_retired_by=None, keys=added)
        if refusals:
            self.diagnostics += refusals
            return
        retired = [
            RetiredKey(TRAIT_NAMESPACE, key, "journey_step", resource.address, f"step {step} removed from {resource.address}")
            for step, key in old_steps.items() if step not in new_steps
        ]
        self.changes.append(ResourceChange(
            address=resource.address, kind=resource.kind, key=resource.key, action="update",
            reasons=update_reasons(stored.spec, resource.spec, stored.protect, resource.protect,
                                   self._dependents_of(resource.spec, resource.address)),
            before=stored.spec, after=resource.spec, before_protect=stored.protect, after_protect=resource.protect,
            after_hash=resource.hash, retired=retired))

    def _dependents_of(self, spec: dict, address: str) -> list[str]:
        users: set[str] = set()
        for ns, key in owned_keys(spec):
            if ns == TRAIT_NAMESPACE:
                users |= self.dependents.get(key, set())
        users.discard(address)
        return sorted(users)


def _dependents(desired: dict[str, DesiredResource]) -> dict[str, set[str]]:
    """Trait-namespace key -> addresses whose conditions read it."""
    users: dict[str, set[str]] = {}
    for address, resource in desired.items():
        for key in references(resource.spec):
            users.setdefault(key, set()).add(address)
    return users


def _retired(stored: StoredResource, why: str) -> list[RetiredKey]:
    kinds = {stored.key: stored.kind}
    return [
        RetiredKey(ns, key, kinds.get(key, "journey_step"), stored.address, f"{stored.address} {why}")
        for ns, key in owned_keys(stored.spec)
    ]


def _reuse_diagnostic(resource: DesiredResource, key: str, tombstone: Tombstone | None,
                      retired_by: str | None = None) -> Diagnostic:
    if tombstone is not None:
        when = tombstone.deleted_at.strftime("%Y-%m-%d %H:%M UTC") if tombstone.deleted_at else "earlier"
        history = f"was deleted on {when} (serial {tombstone.serial}, {tombstone.reason})"
    else:
        history = f"is retired by this plan ({retired_by} is removed)"
    return Diagnostic(
        f"{resource.address}: key {key} {history} and can never be reused: destinations and downstream tools "
        f"would mix the old and the new lists under one key (engage-faq.md, \"Can I reuse audience keys?\"). "
        f"Choose a new key",
        file=resource.file, line=resource.line, column=resource.column)
