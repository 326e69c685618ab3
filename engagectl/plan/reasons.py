"""Why a change happens and what it sets off downstream, in words a reviewer can act on."""

from __future__ import annotations

from engagectl.plan.canonical import LABEL_FIELDS, step_keys

_VALUE_WORDS = {"audience": "members", "journey": "members", "computed_trait": "values", "sql_trait": "values"}


def _members(kind: str) -> str:
    return _VALUE_WORDS.get(kind, "members")


def create_reasons(spec: dict) -> list[str]:
    kind = spec["kind"]
    if kind == "destination":
        return ["new destination"]
    reasons = [f"new {kind.replace('_', ' ')}: computed on the next run"]
    reasons += [f"destination {to} added: first sync sends all {_members(kind)}" for to in _binding_targets(spec)]
    for step, step_key in step_keys(spec).items():
        reasons.append(f"step {step} added: its key {step_key} starts empty")
    return reasons


def delete_reasons(spec: dict, dependents: list[str]) -> list[str]:
    reasons = [f"removed from the project: key {spec['key']} is retired for good and can never be reused"]
    retired_steps = sorted(step_keys(spec).values())
    if retired_steps:
        reasons.append(f"step keys retired for good: {', '.join(retired_steps)}")
    if spec["kind"] != "destination":
        targets = _binding_targets(spec)
        if targets:
            reasons.append(f"no further updates are sent to {', '.join(targets)}")
    reasons += _downstream(dependents)
    return reasons


def replace_reasons(old: dict, new: dict, dependents: list[str]) -> list[str]:
    kind = new["kind"]
    reasons = [
        f"key changed from {old['key']} to {new['key']}: keys are immutable, so this is a new {kind.replace('_', ' ')}",
        (f"old key {old['key']} is retired for good; new key {new['key']} starts empty "
         f"(computed on the next run, first sync sends all {_members(kind)})"),
    ]
    old_steps, new_steps = step_keys(old), step_keys(new)
    if old_steps:
        reasons.append(f"step keys retired for good: {', '.join(sorted(old_steps.values()))}; "
                       f"new step keys start empty: {', '.join(sorted(new_steps.values()))}")
    reasons += _downstream(dependents)
    return reasons


def update_reasons(before: dict, after: dict, before_protect: bool, after_protect: bool,
                   dependents: list[str]) -> list[str]:
    kind = after["kind"]
    reasons: list[str] = []
    for label in LABEL_FIELDS:
        if before.get(label) != after.get(label):
            reasons.append(f"{label} changed (no recompute)")
    if before_protect != after_protect:
        reasons.append("protect turned on: this resource cannot be deleted" if after_protect
                       else "protect turned off: this resource may be deleted by a later apply")
    if kind == "destination":
        if _strip(before, "destinations") != _strip(after, "destinations"):
            changed = sorted(k for k in set(before) | set(after)
                             if k not in ("key", "kind") + LABEL_FIELDS and before.get(k) != after.get(k))
            reasons.append(f"{', '.join(changed)} changed: later deliveries use the new values (no recompute)")
        return reasons
    step_reasons, _ = _step_reasons(before, after)
    if definition_changed(before, after):
        reasons.append(f"definition changed: recompute; {_members(kind)} that change are synced")
        reasons += _downstream(dependents)
    reasons += step_reasons
    reasons += binding_reasons(kind, before.get("destinations", []), after.get("destinations", []))
    return reasons


def definition_changed(before: dict, after: dict) -> bool:
    """Whether an update changes what is computed (not only labels, bindings or `protect`)."""
    if _strip(before, "destinations", "steps") != _strip(after, "destinations", "steps"):
        return True
    return _step_reasons(before, after)[1]


def binding_reasons(kind: str, before: list[dict], after: list[dict], prefix: str = "") -> list[str]:
    old = {b["to"]: b for b in before}
    new = {b["to"]: b for b in after}
    reasons = []
    for to in sorted(set(new) - set(old)):
        reasons.append(f"{prefix}destination {to} added: resync (first sync sends all {_members(kind)})")
    for to in sorted(set(old) - set(new)):
        reasons.append(f"{prefix}destination {to} removed: no further updates are sent to it")
    for to in sorted(set(old) & set(new)):
        if old[to] != new[to]:
            fields = sorted(k for k in set(old[to]) | set(new[to]) if old[to].get(k) != new[to].get(k))
            reasons.append(f"{prefix}destination {to} binding changed ({', '.join(fields)}): "
                           f"later updates use the new settings")
    return reasons


def _step_reasons(before: dict, after: dict) -> tuple[list[str], bool]:
    """Reasons naming each added, removed or changed journey step; and whether steps recompute."""
    old = {s["key"]: s for s in before.get("steps", [])}
    new = {s["key"]: s for s in after.get("steps", [])}
    journey = after.get("key")
    reasons: list[str] = []
    recompute = False
    for key in [s["key"] for s in after.get("steps", [])]:
        if key not in old:
            reasons.append(f"step {key} added: its key {journey}__{key} starts empty")
            recompute = True
    for key in [s["key"] for s in before.get("steps", [])]:
        if key not in new:
            reasons.append(f"step {key} removed: its key {journey}__{key} is retired for good")
            recompute = True
    if [k for k in old if k in new] != [k for k in new if k in old]:
        reasons.append("steps reordered: recompute")
        recompute = True
    for key in [k for k in new if k in old]:
        if old[key].get("name") != new[key].get("name"):
            reasons.append(f"step {key} name changed (no recompute)")
        if _strip(old[key], "destinations", "name") != _strip(new[key], "destinations", "name"):
            reasons.append(f"step {key} changed: recompute")
            recompute = True
        reasons += binding_reasons("journey", old[key].get("destinations", []), new[key].get("destinations", []),
                                   prefix=f"step {key}: ")
    return reasons, recompute


def _downstream(dependents: list[str]) -> list[str]:
    if not dependents:
        return []
    return [f"downstream recompute: {', '.join(dependents)} depend on it and are recomputed on the next run"]


def _binding_targets(spec: dict) -> list[str]:
    return sorted(b["to"] for b in spec.get("destinations", []))


def _strip(spec: dict, *fields: str) -> dict:
    return {k: v for k, v in spec.items() if k not in fields + LABEL_FIELDS}
