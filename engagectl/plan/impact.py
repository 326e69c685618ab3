"""A plan's impact: for each changed definition, how many profiles would enter and exit if applied now.

The numbers come from `engagectl.compute.impact.estimate_impact` (a real run of the changed
computations, rolled back) on the project's warehouse. The estimate is advice for the reviewer,
never a reason for the plan to fail: when the warehouse cannot be reached (no DuckDB file yet —
nothing ever ran —, a file locked by another process, a database that is down) or the estimate
itself fails, the plan carries a note saying why instead.

In `plan --json` an estimated change gets an extra key (a change without an estimate has no
`impact` key at all):
- audiences and traits: `"impact": {"entered": n, "exited": n, "changed": n, "size": n}` (a trait's
  profile entering gains a value, exiting loses it; `changed`: values that changed);
- journeys: `"impact": {"steps": {"<journey>__<step>": {...the same counts...}}}`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from engagectl.plan.canonical import step_keys
from engagectl.plan.model import Plan, ResourceChange
from engagectl.plan.reasons import definition_changed

if TYPE_CHECKING:
    from engagectl.config.loader import Project
    from engagectl.warehouse import Warehouse

COMPUTED_KINDS = ("audience", "computed_trait", "sql_trait", "journey")


class WarehouseUnavailable(Exception):
    """The warehouse cannot be read for an estimate; the message says why, for the note."""


def recomputed_changes(plan: Plan) -> list[ResourceChange]:
    """The changes whose definition changes what is computed: creates, replaces and real updates."""
    found = []
    for change in plan.pending:
        if change.kind not in COMPUTED_KINDS or change.after is None:
            continue
        if change.action in ("create", "replace") or (
                change.action == "update" and change.before is not None
                and definition_changed(change.before, change.after)):
            found.append(change)
    return found


def add_impact(plan: Plan, project: Project, as_of: datetime | None = None) -> None:
    """Estimate the impact of the plan's recomputed changes and attach it to them (or a note to the plan)."""
    changes = recomputed_changes(plan)
    if plan.has_errors or not changes:
        return
    try:
        warehouse = open_existing_warehouse(project)
    except WarehouseUnavailable as exc:
        plan.impact_note = str(exc)
        return
    from engagectl.compute.impact import estimate_impact

    try:
        counts = estimate_impact(project, warehouse, as_of or datetime.now(UTC), [c.key for c in changes])
    except Exception as exc:  # an estimate that fails (a broken SQL trait, …) must not fail the plan
        plan.impact_note = f"the estimate failed: {_first_line(exc)}"
        return
    finally:
        warehouse.close()
    plan.impact_as_of = as_of.isoformat().replace("+00:00", "Z") if as_of else None
    for change in changes:
        change.impact = change_impact(change, counts)


def change_impact(change: ResourceChange, counts: dict[str, dict[str, int]]) -> dict | None:
    """One change's `impact` from the estimate's counts per computation key."""
    if change.kind == "journey":
        steps = {key: _counts(counts[key]) for key in step_keys(change.after).values() if key in counts}
        return {"steps": steps}
    found = counts.get(change.key)
    return _counts(found) if found is not None else None


def _counts(found: dict[str, int]) -> dict[str, int]:
    return {name: int(found.get(name, 0)) for name in ("entered", "exited", "changed", "size")}


def open_existing_warehouse(project: Project) -> Warehouse:
    """The project's warehouse, if it exists and opens; never creates a DuckDB file."""
    from engagectl.config.env import resolve_env
    from engagectl.urls import parse_database_url
    from engagectl.warehouse import WarehouseError, open_warehouse

    written = project.settings.warehouse  # shown as written: `${env:…}` never resolved in messages
    try:
        url = resolve_env(written)
        parsed = parse_database_url(url, project.directory)
    except Exception as exc:
        raise WarehouseUnavailable(f"cannot read the warehouse URL {written}: {_first_line(exc)}") from exc
    if parsed.backend == "duckdb":
        database = parsed.url.database
        if not database or database == ":memory:":
            raise WarehouseUnavailable("the warehouse is in memory, so nothing has been computed to compare with")
        if not Path(database).exists():
            raise WarehouseUnavailable(f"the warehouse {written} does not exist yet (nothing has run)")
    try:
        return open_warehouse(url, project.directory)
    except Exception as exc:  # locked by `engagectl serve`, a database that is down, …: plan without it
        message = _first_line(exc)
        if not (isinstance(exc, WarehouseError) and message.startswith("cannot ")):  # else it says it already
            message = f"cannot open the warehouse {written}: {message}"
        raise WarehouseUnavailable(message) from exc


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
