"""`engagectl sync`, `deliveries` and `audit`: deliver the queue, show it, show its failures."""

from __future__ import annotations

import click

from engagectl.cli.common import CliContext, emit_json, handle_errors, pass_cli


@click.command("sync")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_cli
@handle_errors
def sync_command(cli: CliContext, as_json: bool) -> None:
    """Deliver what is queued, honouring retry schedules."""
    from engagectl.config.env import resolve_env
    from engagectl.sync import deliver, resume_enqueues
    from engagectl.views.sync import progress_reporter, render_sync_report

    project = cli.load_project()

    def open_warehouse():
        from engagectl.warehouse import open_warehouse as open_

        return open_(resolve_env(project.settings.warehouse), project.directory)

    # A run that crashed while queueing its deliveries is finished first: nothing is lost.
    resume_enqueues(project, project.settings.state, open_warehouse)
    with progress_reporter(enabled=not as_json) as progress:
        report = deliver(project, project.settings.state, progress=progress)
    emit_json(report.to_json()) if as_json else render_sync_report(report)


@click.command("deliveries")
@click.option("--destination", "destination", default=None, help="Only this destination's deliveries.")
@click.option("--status", "status", default=None,
              type=click.Choice(["queued", "retrying", "delivered", "discarded", "failed"]),
              help="Only deliveries in this status.")
@click.option("--limit", default=100, show_default=True, help="Show at most this many deliveries.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_cli
@handle_errors
def deliveries_command(cli: CliContext, destination: str | None, status: str | None, limit: int,
                       as_json: bool) -> None:
    """The delivery queue: counts by status and the deliveries themselves."""
    from engagectl.sync.queue import open_queue
    from engagectl.views.sync import deliveries_json, render_deliveries

    project = cli.load_project()
    queue = open_queue(project.settings.state, project.directory)
    try:
        counts = queue.counts(destination)
        rows = list(queue.list_deliveries(destination, status, limit=limit))
    finally:
        queue.close()
    emit_json(deliveries_json(counts, rows)) if as_json else render_deliveries(counts, rows)


@click.command("audit")
@click.option("--destination", "destination", default=None, help="Only this destination's entries.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@pass_cli
@handle_errors
def audit_command(cli: CliContext, destination: str | None, as_json: bool) -> None:
    """Every delivery or task failure, even those later retried successfully."""
    from engagectl.sync.queue import open_queue
    from engagectl.views.sync import audit_json, render_audit

    project = cli.load_project()
    queue = open_queue(project.settings.state, project.directory)
    try:
        entries = queue.audit_log(destination)
    finally:
        queue.close()
    emit_json(audit_json(entries)) if as_json else render_audit(entries)


def register(group: click.Group) -> None:
    """Add `sync`, `deliveries` and `audit` to the CLI."""
    group.add_command(sync_command)
    group.add_command(deliveries_command)
    group.add_command(audit_command)
