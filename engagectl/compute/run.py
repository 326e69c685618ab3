"""A run: every computation in dependency order, in one warehouse transaction, recorded in `runs`.

One transaction for the whole run: a computation that fails (a SQL trait breaking its contract,
a query error) rolls everything back, so readers keep the previous snapshot and the change log
never holds half a run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

from sqlglot import exp

from engagectl.compute.errors import ComputationError
from engagectl.compute.order import Computation, ordered_computations
from engagectl.compute.snapshot import (
    ComputationResult,
    RunContext,
    membership_snapshot,
    record_query,
    record_snapshot,
)
from engagectl.compute.sql import Staging, column, json_text, timestamp, utc_naive
from engagectl.diagnostics import EngageError

if TYPE_CHECKING:
    from engagectl.config.loader import Project
    from engagectl.warehouse.base import Warehouse


@dataclass
class RunResult:
    """What a run computed; `queued` is filled in by the sync that follows."""

    run_id: str
    as_of: datetime
    computations: list[ComputationResult] = field(default_factory=list)
    queued: int = 0
    commit: str | None = None
    ingested: Any = None  # the pipeline's IngestReport (files read before computing), if any

    def to_json(self) -> dict:
        """The `run --json` document (PRODUCT.md §5)."""
        return {
            "run_id": self.run_id,
            "as_of": iso_timestamp(self.as_of),
            "computations": [c.to_json() for c in self.computations],
            "queued": self.queued,
        }


def iso_timestamp(moment: datetime) -> str:
    """UTC, ISO-8601, with a `Z`."""
    return utc_naive(moment).isoformat(timespec="seconds") + "Z"


def new_run_id() -> str:
    return f"run_{uuid.uuid4().hex[:16]}"


def make_compiler(project: "Project", warehouse: "Warehouse", as_of: datetime) -> Any:
    from engagectl.compile import Compiler

    return Compiler(warehouse.dialect, warehouse.schema, utc_naive(as_of), project)


class _LazyCompiler:
    """Builds the compiler on first use, so a run of SQL traits alone does not need it."""

    def __init__(self, project: "Project", warehouse: "Warehouse", as_of: datetime) -> None:
        self._args = (project, warehouse, as_of)
        self._compiler: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._compiler is None:
            self._compiler = make_compiler(*self._args)
        return getattr(self._compiler, name)


def compute_one(ctx: RunContext, compiler: Any, project: "Project",
                computation: Computation) -> list[ComputationResult]:
    """Record the computation's new snapshot; journeys record one per step."""
    resource = computation.resource
    if computation.kind == "journey":
        from engagectl.compute.journeys import run_journey

        return run_journey(ctx, compiler, resource)
    if computation.kind == "sql_trait":
        from engagectl.compute.sql_traits import sql_trait_snapshot

        snapshot = sql_trait_snapshot(ctx, resource, project.settings.vars)
        result = record_snapshot(ctx, computation.key, computation.kind, snapshot)
        ctx.staging.drop(snapshot)
        return [result]
    if computation.kind == "audience":
        members = compiler.compile_audience(resource, resource.include_anonymous)
        return [record_query(ctx, computation.key, computation.kind, membership_snapshot(members))]
    values = compiler.compile_computed_trait(resource)
    return [record_query(ctx, computation.key, computation.kind, trait_snapshot(values))]


def recorded_keys(computation: Computation) -> list[str]:
    """The `computed_values` keys a computation records (a journey: one per step)."""
    if computation.kind == "journey":
        return [computation.resource.step_audience_key(step) for step in computation.resource.steps]
    return [computation.key]


def trait_snapshot(values: exp.Select) -> exp.Select:
    """A computed trait's snapshot: its value as JSON text; a profile without a value has no row."""
    # copy=False: the compiled query is ours; deep copies of it cost more than small runs' SQL.
    return (
        exp.select(column("profile_id", "v"), json_text(column("value", "v")).as_("value"))
        .from_(values.subquery("v", copy=False), copy=False)
        .where(column("value", "v").is_(exp.null()).not_(), copy=False)
        .where(column("profile_id", "v").is_(exp.null()).not_(), copy=False)
    )


def compute_in_transaction(project: "Project", warehouse: "Warehouse", as_of: datetime,
                           keys: Iterable[str] | None, commit: str | None, run_id: str) -> RunResult:
    """The body of a run; the caller owns the transaction (a plan's impact rolls it back)."""
    as_of = utc_naive(as_of)
    started_at = utc_naive(datetime.now(timezone.utc))
    ctx = RunContext(warehouse=warehouse, staging=Staging(warehouse), run_id=run_id, as_of=as_of, commit=commit)
    compiler = _LazyCompiler(project, warehouse, as_of)
    result = RunResult(run_id=run_id, as_of=as_of, commit=commit)
    computations = ordered_computations(project, keys)
    ctx.prefetch_stored([key for computation in computations for key in recorded_keys(computation)])
    # On failure the rollback takes the staging tables with it.
    for computation in computations:
        try:
            result.computations.extend(compute_one(ctx, compiler, project, computation))
        except ComputationError:
            raise
        except EngageError as exc:  # a compile or warehouse error: say which computation met it
            raise ComputationError(f"{computation.kind} {computation.key}: {exc}") from exc
    ctx.staging.drop_all()
    # Merges identity resolution recorded since the last run belong to this one: its deliveries
    # send the survivors' values again (and alias) for them.
    merges = warehouse.table("merges")
    warehouse.execute(exp.update(merges, {"run_id": exp.Literal.string(run_id)},
                                 where=exp.column("run_id").is_(exp.null())))
    finished_at = utc_naive(datetime.now(timezone.utc))
    warehouse.execute(exp.insert(
        exp.select(
            exp.Literal.string(run_id), timestamp(as_of), timestamp(started_at), timestamp(finished_at),
            exp.Literal.string(commit) if commit else exp.cast(exp.null(), "TEXT"),
        ),
        warehouse.table("runs"),
        columns=[exp.to_identifier(c, quoted=True) for c in ("run_id", "as_of", "started_at", "finished_at", "commit")],
    ))
    return result


def run_computations(project: "Project", warehouse: "Warehouse", as_of: datetime,
                     keys: Iterable[str] | None = None, commit: str | None = None,
                     run_id: str | None = None) -> RunResult:
    """Compute traits → audiences → journeys as of `as_of`, log the changes, store the snapshots.

    `keys` restricts the run to those computations and what they depend on (an apply passes the
    keys its plan touched). Raises ComputationError (nothing written) when one fails.
    """
    run_id = run_id or new_run_id()
    with warehouse.transaction():
        return compute_in_transaction(project, warehouse, as_of, keys, commit, run_id)
