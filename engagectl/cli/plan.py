"""`engagectl plan`, `apply` and `show`: parse, call the planner and the state, render.

`apply` is shaped for what comes after the state change: once the state transaction has
committed (and while the state lock is still held), it calls `after_apply`, where the
warehouse run and the sync plug in.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from pydantic import TypeAdapter

from engagectl.cli.common import CliContext, emit_json, handle_errors, parse_as_of, pass_cli
from engagectl.diagnostics import Diagnostic, DiagnosticsError, EngageError
from engagectl.state.records import StateSnapshot

CONFIRM_PROMPT = "Do you want to perform these actions? Only 'yes' will be accepted"


def after_apply(cli_ctx: CliContext, project, result, *, as_of: datetime | None = None, no_run: bool = False,
                no_sync: bool = False) -> dict | None:
    """The hook `apply` calls after the state transaction commits — the place for run and sync.

    Called on every successful apply (also when `result.applied` is False: nothing changed in
    the state, the serial did not move), while the state lock is still held (the lock is
    re-entrant in this process, so code here may take it again).

    - `project`: the project as applied (`engagectl.config.Project`; for `apply FILE` it is built
      from the saved plan's specs, not from the files on disk).
    - `result`: `engagectl.plan.ApplyResult` (plan, applied, lineage, serial).
    - `as_of`: the `--as-of` time (UTC) or None for now; `no_run`/`no_sync`: stop earlier.

    Returns None, or the extra top-level sections of `apply --json` (`{"run": …, "sync": …}`):
    the computations the change touched are run, then their changes are synced.
    """
    from engagectl.cli.pipeline import run_after_apply

    return run_after_apply(project, result, as_of=as_of, no_run=no_run, no_sync=no_sync,
                           quiet=cli_ctx.quiet)


def stdin_is_terminal() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):  # closed or replaced stdin
        return False


# -- shared by plan, apply, show and state ----------------------------------------------------

def project_settings(project_dir: str):
    """engage.yaml alone (the state URL), without reading the resources."""
    from engagectl.config.loader import find_project_dir, load_settings

    root = find_project_dir(project_dir)
    settings, _, diagnostics = load_settings(root, root)
    if settings is None:
        raise DiagnosticsError(diagnostics)
    return root, settings


def open_project_state(project_dir: str | Path, settings):
    """The project's state store (`state:` of engage.yaml; `${env:…}` resolved here)."""
    from engagectl.config.env import resolve_env
    from engagectl.state import open_state

    return open_state(resolve_env(settings.state), str(project_dir))


def _read_project(cli: CliContext):
    """The project with every problem collected (never raises for bad resources)."""
    from engagectl.config.loader import read_project

    return read_project(cli.project_dir)


def _settings_broken(project) -> bool:
    """engage.yaml itself has errors, so even the state URL cannot be trusted."""
    from engagectl.config.loader import PROJECT_FILE

    return any(d.severity == "error" and d.file == PROJECT_FILE for d in project.diagnostics)


def _render_errors(plan) -> None:
    from engagectl.views.diagnostics import render_diagnostics

    render_diagnostics(plan.diagnostics)


lock_timeout_option = click.option(
    "--lock-timeout", type=click.FloatRange(min=0), default=10.0, show_default=True, metavar="SECONDS",
    help="How long to wait for another writer's state lock before failing.")


# -- plan ---------------------------------------------------------------------------------------

def empty_plan_json(diagnostics) -> dict:
    """The `plan --json` document of a plan that could not even start (PRODUCT.md §5)."""
    return {"format_version": "1", "lineage": "", "serial": 0, "changes": [],
            "summary": {"create": 0, "update": 0, "delete": 0, "replace": 0},
            "diagnostics": [d.to_json() for d in diagnostics]}


@click.command("plan")
@click.option("-out", "--out", "out_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Save the plan to FILE; `engagectl apply FILE` applies exactly it.")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON document.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 without changes, 1 on error, 2 with changes.")
@click.option("--no-data", is_flag=True,
              help="Do not estimate in the warehouse how many profiles each changed definition moves.")
@click.option("--as-of", "as_of", metavar="TS", help="The estimate's 'now' (ISO-8601); default the current time.")
@lock_timeout_option
@pass_cli
@handle_errors
def plan_command(cli: CliContext, out_file: str | None, as_json: bool, detailed_exitcode: bool, no_data: bool,
                 as_of: str | None, lock_timeout: float) -> None:
    """Show what `apply` would change in the state, and why.

    For each audience, trait or journey whose definition changes, the plan also shows how many
    profiles would enter and exit if it were applied now (read from the warehouse when it exists
    and can be opened; `--no-data` skips this).
    """
    from engagectl.plan import plan_project, write_plan_file
    from engagectl.plan.impact import add_impact
    from engagectl.views.plan import render_plan

    as_of_time = parse_as_of(as_of, default_now=False)

    try:
        project = _read_project(cli)
    except EngageError as exc:  # no engage.yaml, unreadable settings: still one JSON document
        if not as_json:
            raise
        diagnostics = (exc.diagnostics if isinstance(exc, DiagnosticsError)
                       else [Diagnostic(str(exc))])
        emit_json(empty_plan_json(diagnostics))
        sys.exit(1)
    if _settings_broken(project):
        snapshot = StateSnapshot(lineage=None, serial=0)  # the state URL itself is in doubt: leave it alone
    else:
        store = open_project_state(project.directory, project.settings)
        try:
            with store.lock("plan", lock_timeout):
                snapshot = store.snapshot()
        finally:
            store.close()
    plan = plan_project(project, snapshot)
    if not no_data:
        add_impact(plan, project, as_of_time)  # after the state lock: the estimate may take a while
    if as_json:
        emit_json(plan.to_json())
    elif plan.has_errors:
        _render_errors(plan)
    else:
        _render_errors(plan)  # warnings
        render_plan(plan)
    if plan.has_errors:
        sys.exit(1)
    if out_file:
        write_plan_file(plan, out_file)
        if not as_json:
            click.echo(f"\nSaved the plan to {out_file}. To apply exactly these changes: engagectl apply {out_file}")
    if detailed_exitcode and plan.has_changes:
        sys.exit(2)


# -- apply --------------------------------------------------------------------------------------

@click.command("apply")
@click.argument("plan_file", required=False, type=click.Path(exists=True, dir_okay=False), metavar="[FILE]")
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--as-of", "as_of", metavar="TS", help="The run's 'now' (ISO-8601); default the current time.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as one JSON document.")
@click.option("--no-run", is_flag=True, help="Change the state only; do not compute in the warehouse.")
@click.option("--no-sync", is_flag=True, help="Do not deliver to destinations after the run.")
@lock_timeout_option
@pass_cli
@handle_errors
def apply_command(cli: CliContext, plan_file: str | None, auto_approve: bool, as_of: str | None, as_json: bool,
                  no_run: bool, no_sync: bool, lock_timeout: float) -> None:
    """Change the state to match the project (or a saved plan), then compute and sync."""
    as_of_time = parse_as_of(as_of, default_now=False)
    cli.quiet = as_json
    if plan_file:
        _apply_saved_plan(cli, plan_file, as_of_time, as_json, no_run, no_sync, lock_timeout)
        return
    if not auto_approve and not stdin_is_terminal():
        raise EngageError("apply needs a confirmation, and stdin is not a terminal: "
                          "use --auto-approve or apply a saved plan (engagectl plan -out FILE; engagectl apply FILE)")
    from engagectl.plan import apply_plan, plan_project
    from engagectl.views.plan import render_apply, render_plan

    project = _read_project(cli)
    if _settings_broken(project):
        _refuse(plan_project(project, StateSnapshot(lineage=None, serial=0)), as_json)
    store = open_project_state(project.directory, project.settings)
    try:
        with store.lock("apply", lock_timeout):
            plan = plan_project(project, store.snapshot())
            if plan.has_errors:
                _refuse(plan, as_json)
            if not as_json:
                _render_errors(plan)  # warnings
                render_plan(plan)
            if plan.has_changes and not auto_approve:
                answer = click.prompt(f"\n{CONFIRM_PROMPT}", prompt_suffix="\n  Enter a value: ", default="",
                                      show_default=False, err=True)
                if answer.strip() != "yes":
                    raise EngageError("apply cancelled: nothing was changed")
            result = apply_plan(store, plan, project.directory)
            if not as_json:
                render_apply(result)
            extra = after_apply(cli, project, result, as_of=as_of_time, no_run=no_run, no_sync=no_sync)
    finally:
        store.close()
    if as_json:
        emit_json({**result.to_json(), **(extra or {})})


def _refuse(plan, as_json: bool) -> None:
    if as_json:
        emit_json({"applied": False, "serial": plan.serial, "lineage": plan.lineage,
                   "changes": [c.to_json() for c in plan.changes], "summary": plan.summary,
                   "diagnostics": plan.to_json()["diagnostics"]})
    else:
        _render_errors(plan)
    sys.exit(1)


def _apply_saved_plan(cli: CliContext, plan_file: str, as_of_time, as_json: bool, no_run: bool, no_sync: bool,
                      lock_timeout: float) -> None:
    """Apply exactly the saved changes, refused when the state moved on since the plan."""
    from engagectl.config.loader import Project
    from engagectl.plan import apply_plan, read_plan_file
    from engagectl.views.plan import render_apply, render_plan

    plan = read_plan_file(plan_file)
    if plan.has_errors:
        raise EngageError(f"{plan_file} holds a plan with errors; fix them and plan again")
    root, settings = project_settings(cli.project_dir)
    project = Project(directory=root, settings=settings, resources=planned_resources(plan))
    store = open_project_state(root, settings)
    try:
        with store.lock("apply", lock_timeout):
            result = apply_plan(store, plan, root)  # StalePlan when lineage or serial moved
            if not as_json:
                render_plan(plan, show_impact=False)  # the saved estimate is of the time of planning
                render_apply(result)
            extra = after_apply(cli, project, result, as_of=as_of_time, no_run=no_run, no_sync=no_sync)
    finally:
        store.close()
    if as_json:
        emit_json({**result.to_json(), **(extra or {})})


def planned_resources(plan) -> dict:
    """The resources a plan leaves in place, rebuilt from its canonical specs (address -> model)."""
    from engagectl.config.models import ResourceModel

    adapter = TypeAdapter(ResourceModel)
    return {
        change.address: adapter.validate_python({**change.after, "protect": change.after_protect})
        for change in plan.changes if change.after is not None
    }


# -- show -----------------------------------------------------------------------------------------

@click.command("show")
@click.argument("plan_file", required=False, type=click.Path(exists=True, dir_okay=False), metavar="[FILE]")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (a saved plan: the plan shape).")
@pass_cli
@handle_errors
def show_command(cli: CliContext, plan_file: str | None, as_json: bool) -> None:
    """Show a saved plan, or (without FILE) a summary of the state."""
    if plan_file:
        from engagectl.plan import read_plan_file
        from engagectl.views.plan import render_plan

        plan = read_plan_file(plan_file)
        emit_json(plan.to_json()) if as_json else render_plan(plan)
        return
    from engagectl.views.state import render_state_summary, state_summary_json

    root, settings = project_settings(cli.project_dir)
    store = open_project_state(root, settings)
    try:
        snapshot, history = store.snapshot(), store.history(limit=5)
    finally:
        store.close()
    emit_json(state_summary_json(snapshot, history)) if as_json else render_state_summary(snapshot, history)


def register(group: click.Group) -> None:
    group.add_command(plan_command)
    group.add_command(apply_command)
    group.add_command(show_command)
