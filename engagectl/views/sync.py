"""Renderings of delivery results: the sync report, the queue, the audit log; progress bars."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from engagectl.sync.engine import SyncReport
from engagectl.sync.queue import QueueCounts


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _iso(value: Any) -> Any:
    return value.isoformat() + "Z" if isinstance(value, datetime) else value


@contextlib.contextmanager
def progress_reporter(enabled: bool = True) -> Iterator[Any]:
    """A progress callback drawing one bar per destination, only on a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    bars: dict[str, Any] = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as progress:
        def report(destination: str, done: int, total: int) -> None:
            if destination not in bars:
                bars[destination] = progress.add_task(destination, total=total)
            progress.update(bars[destination], completed=done, total=total)

        yield report


def render_sync_report(report: SyncReport) -> None:
    console = _console()
    console.print(f"delivered {report.delivered}, retrying {report.retrying}, "
                  f"discarded {report.discarded}, failed {report.failed}")
    for destination, reason in sorted(report.paused.items()):
        console.print(f"[yellow]paused[/yellow] {destination}: {reason}", markup=True)


def deliveries_json(counts: QueueCounts, rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"counts": vars(counts), "deliveries": [{k: _iso(v) for k, v in row.items()} for row in rows]}


def render_deliveries(counts: QueueCounts, rows: list[dict[str, Any]]) -> None:
    console = _console()
    console.print(", ".join(f"{status} {n}" for status, n in vars(counts).items()))
    if not rows:
        return
    table = Table("message id", "destination", "computation", "kind", "status", "attempts", "next attempt",
                  "last error")
    for row in rows:
        table.add_row(row["message_id"], row["destination"], row["computation_key"] or "", row["kind"], row["status"],
                      str(row["attempts"]), str(_iso(row["next_attempt_at"]) or ""), (row["last_error"] or "")[:60])
    console.print(table)


def audit_json(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entries": [{k: _iso(v) for k, v in entry.items()} for entry in entries]}


def render_audit(entries: list[dict[str, Any]]) -> None:
    console = _console()
    if not entries:
        console.print("no failures recorded")
        return
    table = Table("at", "destination", "class", "code", "messages", "detail")
    for entry in entries:
        table.add_row(str(_iso(entry["at"])), entry["destination"] or "", entry["error_class"], entry["code"] or "",
                      str(entry["messages"]), (entry["detail"] or "")[:80])
    console.print(table)
