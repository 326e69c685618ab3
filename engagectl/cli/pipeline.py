"""What `run` and `apply` share: compute in the warehouse, then queue and deliver the changes."""

from __future__ import annotations

from datetime import datetime, timezone

from engagectl.config.env import resolve_env

# Kinds whose definitions are computed in the warehouse (destinations are not).
COMPUTED_KINDS = ("audience", "computed_trait", "sql_trait", "journey")


def sync_run(project, warehouse, run_result, *, no_sync: bool, show_progress: bool):
    """Queue the run's changes as deliveries and, unless `no_sync`, deliver what is due."""
    from engagectl.sync import sync_after_run
    from engagectl.views.sync import progress_reporter

    with progress_reporter(enabled=show_progress and not no_sync) as progress:
        report = sync_after_run(project, warehouse, project.settings.state, run_result.run_id,
                                progress=progress, deliver_now=not no_sync)
    run_result.queued = report.queued
    return report


def touched_keys(plan) -> list[str]:
    """Keys of the computations an apply created, changed or replaced: what it must compute."""
    return [change.key for change in plan.changes
            if change.kind in COMPUTED_KINDS and change.action in ("create", "update", "replace")]


def run_after_apply(project, result, *, as_of: datetime | None, no_run: bool, no_sync: bool,
                    quiet: bool) -> dict | None:
    """After the state changed: compute what the change touched, then sync (PRODUCT.md §4)."""
    if no_run:
        return None
    keys = touched_keys(result.plan)
    if not keys:
        return None
    from engagectl.compute.pipeline import run_pipeline
    from engagectl.warehouse import open_warehouse

    moment = as_of or datetime.now(timezone.utc).replace(microsecond=0)
    warehouse = open_warehouse(resolve_env(project.settings.warehouse), project.directory)
    try:
        run_result = run_pipeline(project, warehouse, moment, keys=keys)
        report = sync_run(project, warehouse, run_result, no_sync=no_sync, show_progress=not quiet)
    finally:
        warehouse.close()
    if not quiet:
        from engagectl.views.run import render_run
        from engagectl.views.sync import render_sync_report

        render_run(run_result)
        if not no_sync:
            render_sync_report(report)
    return {"run": run_result.to_json(), "sync": report.to_json()}
