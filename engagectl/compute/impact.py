"""What applying a plan would do to memberships now: entered / exited / size per changed key.

The estimate is a real run of the changed computations (and what they read) inside a transaction
that is then rolled back: the numbers are exactly what `apply` would log, and nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Iterable

from sqlglot import exp

from engagectl.compute.order import producers, selected_keys
from engagectl.compute.run import compute_in_transaction, new_run_id
from engagectl.compute.sql import column

if TYPE_CHECKING:
    from engagectl.config.loader import Project
    from engagectl.warehouse.base import Warehouse


class _Discard(Exception):
    """Raised to roll the estimate's transaction back once its numbers are read."""


def estimate_impact(project: "Project", warehouse: "Warehouse", as_of: datetime,
                    keys: Iterable[str]) -> dict[str, dict[str, int]]:
    """For each computation named in `keys` (journeys: each step): profiles entering, exiting, and the
    size after the change. Traits count a profile gaining a value as entered and losing it as exited;
    `changed` counts value changes. Call it outside any open warehouse transaction."""
    keys = list(keys)
    wanted = selected_keys(project, keys) or set()
    if not wanted:
        return {}
    impact: dict[str, dict[str, int]] = {}
    run_id = new_run_id()
    try:
        with warehouse.transaction():
            result = compute_in_transaction(project, warehouse, as_of, list(wanted), None, run_id)
            transitions = _trait_transitions(warehouse, run_id)
            owners = producers(project)
            for computation in result.computations:
                # Dependencies run too, but only what was asked for (or its journey) is reported.
                if owners.get(computation.key) not in wanted:
                    continue
                counts = {"entered": computation.entered, "exited": computation.exited,
                          "size": computation.size, "changed": computation.changed}
                if computation.kind in ("computed_trait", "sql_trait"):
                    gained, lost = transitions.get(computation.key, (0, 0))
                    counts.update(entered=gained, exited=lost, changed=computation.changed - gained - lost)
                impact[computation.key] = counts
            raise _Discard()
    except _Discard:
        pass
    return impact


def _trait_transitions(warehouse: "Warehouse", run_id: str) -> dict[str, tuple[int, int]]:
    """computation_key → (profiles that gained a value, profiles that lost it) in this run."""
    gained = exp.func("SUM", exp.Case().when(column("old_value").is_(exp.null()), exp.Literal.number(1))
                      .else_(exp.Literal.number(0)))
    lost = exp.func("SUM", exp.Case().when(column("new_value").is_(exp.null()), exp.Literal.number(1))
                    .else_(exp.Literal.number(0)))
    rows = warehouse.fetchall(
        exp.select(column("computation_key"), gained, lost)
        .from_(warehouse.table("changes"))
        .where(column("run_id").eq(exp.Literal.string(run_id)))
        .where(column("computation_kind").isin(exp.Literal.string("computed_trait"), exp.Literal.string("sql_trait")))
        .group_by(column("computation_key"))
    )
    return {key: (int(gained or 0), int(lost or 0)) for key, gained, lost in rows}
