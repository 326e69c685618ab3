"""The Plan: data, not behaviour — a list of changes with actions and reasons, serialisable.

The same object is behind the coloured view, `plan --json`, the plan file and the apply.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from engagectl.diagnostics import Diagnostic

Action = Literal["create", "update", "delete", "replace", "no-op"]
ACTIONS: tuple[Action, ...] = ("create", "update", "delete", "replace", "no-op")
FORMAT_VERSION = "1"


@dataclass(frozen=True)
class AttributeDiff:
    """One changed attribute path (`where.all[0].count.gte`) with its old and new value."""

    path: str
    old: Any = None
    new: Any = None
    forces_replacement: bool = False

    @property
    def added(self) -> bool:
        return self.old is None and self.new is not None

    @property
    def removed(self) -> bool:
        return self.new is None and self.old is not None


@dataclass(frozen=True)
class RetiredKey:
    """A key this change retires for good: it becomes a tombstone when applied."""

    namespace: str
    key: str
    kind: str
    address: str
    reason: str


@dataclass
class ResourceChange:
    """What happens to one address. `before`/`after` are canonical specs (None: absent)."""

    address: str
    kind: str
    key: str
    action: Action
    reasons: list[str] = field(default_factory=list)
    before: dict | None = None
    after: dict | None = None
    before_protect: bool = False
    after_protect: bool = False
    after_hash: str | None = None
    replaces: str | None = None  # for a replace: the address whose key is retired
    retired: list[RetiredKey] = field(default_factory=list)
    # What the change would do to memberships now (engagectl.plan.impact); None: not estimated.
    # An estimate, not part of what the plan does: it is left out of the plan's hash.
    impact: dict | None = None

    @property
    def attribute_diffs(self) -> list[AttributeDiff]:
        from engagectl.plan.diff import attribute_diffs

        diffs = attribute_diffs(self.before, self.after)
        if self.action == "replace":
            diffs = [AttributeDiff(d.path, d.old, d.new, forces_replacement=d.path == "key") for d in diffs]
        if self.before_protect != self.after_protect and self.action in ("update", "replace", "no-op"):
            diffs.append(AttributeDiff("protect", self.before_protect, self.after_protect))
        return diffs

    def to_json(self) -> dict:
        """The PRODUCT.md §5 change shape, plus the optional `impact` key when it was estimated."""
        document = {"address": self.address, "kind": self.kind, "key": self.key, "action": self.action,
                    "reasons": list(self.reasons)}
        if self.impact is not None:
            document["impact"] = self.impact
        return document

    def to_dict(self) -> dict:
        """Everything, for the plan file."""
        return {
            **self.to_json(),
            "before": self.before, "after": self.after,
            "before_protect": self.before_protect, "after_protect": self.after_protect,
            "after_hash": self.after_hash, "replaces": self.replaces,
            "retired": [vars(r) for r in self.retired],
        }

    def hashed(self) -> dict:
        """What the change does (to_dict without the impact estimate): the part the plan hash covers."""
        data = self.to_dict()
        data.pop("impact", None)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ResourceChange:
        return cls(
            address=data["address"], kind=data["kind"], key=data["key"], action=data["action"],
            reasons=list(data["reasons"]), before=data.get("before"), after=data.get("after"),
            before_protect=bool(data.get("before_protect")), after_protect=bool(data.get("after_protect")),
            after_hash=data.get("after_hash"), replaces=data.get("replaces"),
            retired=[RetiredKey(**r) for r in data.get("retired", [])], impact=data.get("impact"),
        )


@dataclass
class Plan:
    """The changes that make the state match the project, planned against a lineage and serial.

    `state_was_empty`: no apply has written this state yet; `lineage` is then the lineage the
    first apply will record (so the same plan can never be applied twice).
    """

    lineage: str
    serial: int
    state_was_empty: bool
    changes: list[ResourceChange] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Why the changes carry no impact estimate although they could (e.g. no warehouse yet): for people.
    impact_note: str | None = None
    impact_as_of: str | None = None  # the `--as-of` the impact was estimated at (ISO); None: now

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def has_errors(self) -> bool:
        return bool(self.errors)

    @property
    def pending(self) -> list[ResourceChange]:
        """The changes that do something (everything but no-op)."""
        return [c for c in self.changes if c.action != "no-op"]

    @property
    def has_changes(self) -> bool:
        return bool(self.pending)

    @property
    def summary(self) -> dict[str, int]:
        counts = {action: 0 for action in ("create", "update", "delete", "replace")}
        for change in self.pending:
            counts[change.action] += 1
        return counts

    @property
    def hash(self) -> str:
        """sha256 of what the plan would do, against which state: the id recorded in the history."""
        body = {"lineage": self.lineage, "serial": self.serial, "changes": [c.hashed() for c in self.pending]}
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def to_json(self) -> dict:
        """The `plan --json` document of PRODUCT.md §5."""
        return {
            "format_version": FORMAT_VERSION,
            "lineage": self.lineage,
            "serial": self.serial,
            "changes": [c.to_json() for c in self.changes],
            "summary": self.summary,
            "diagnostics": [_diagnostic_json(d) for d in self.diagnostics],
        }

    def to_dict(self) -> dict:
        data = {
            "lineage": self.lineage, "serial": self.serial, "state_was_empty": self.state_was_empty,
            "changes": [c.to_dict() for c in self.changes],
            "diagnostics": [_diagnostic_json(d) for d in self.diagnostics],
        }
        if self.impact_as_of is not None:
            data["impact_as_of"] = self.impact_as_of
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Plan:
        return cls(
            lineage=data["lineage"], serial=int(data["serial"]), state_was_empty=bool(data["state_was_empty"]),
            changes=[ResourceChange.from_dict(c) for c in data["changes"]],
            diagnostics=[Diagnostic(message=d["message"], severity=d["severity"], file=d.get("file"),
                                    line=d.get("line")) for d in data.get("diagnostics", [])],
            impact_as_of=data.get("impact_as_of"),
        )


def _diagnostic_json(diagnostic: Diagnostic) -> dict:
    """Exactly the §5 diagnostic keys."""
    return {"severity": diagnostic.severity, "file": diagnostic.file, "line": diagnostic.line,
            "message": diagnostic.message}
