"""The whole of `engagectl run`: new events in, identities resolved, then every computation.

Ingesting is idempotent (the ingest layer skips messages it already holds), so each run simply
offers every file of every source again. The run records the git commit of the definitions it
computed, when the project folder is a git checkout.
"""

from __future__ import annotations

import subprocess
from datetime import datetime
from typing import TYPE_CHECKING, Iterable

from engagectl.compute.run import RunResult, run_computations

if TYPE_CHECKING:
    from engagectl.config.loader import Project
    from engagectl.ingest import IngestReport
    from engagectl.warehouse.base import Warehouse


def project_commit(project: "Project") -> str | None:
    """`git rev-parse HEAD` in the project folder, or None when it is not a checkout."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=project.directory, capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and commit else None


def ingest_sources(project: "Project", warehouse: "Warehouse") -> "IngestReport":
    """Offer every file (and table) of every source to the ingest layer; it skips what it holds."""
    from engagectl.ingest import IngestReport, expand_paths, ingest_files, ingest_table

    report = IngestReport()
    for source in project.settings.sources:
        if source.table:
            report.files.extend(ingest_table(warehouse, source.table, source.key).files)
        # A glob that matches nothing yet is not an error: the files may not have arrived.
        paths = [p for p in expand_paths(source.paths, project.directory) if _exists(p)]
        if paths:
            report.files.extend(ingest_files(warehouse, paths, source=source.key).files)
    return report


def _exists(path: str) -> bool:
    from pathlib import Path

    return Path(path).is_file()


def run_pipeline(project: "Project", warehouse: "Warehouse", as_of: datetime,
                 keys: Iterable[str] | None = None, commit: str | None = None,
                 ingest: bool = True) -> RunResult:
    """Ingest (unless `ingest=False`) → resolve identities → compute as of `as_of`."""
    from engagectl.identity import resolve_identities
    from engagectl.identity.replay import prepare_rules

    # The identity kernels load in a millisecond, but are built on an installation's first run
    # (seconds), and cost numba's JIT half a second of set-up per process where they cannot be:
    # started now, that runs while the warehouse loads the events.
    prepare_rules()
    ingested = ingest_sources(project, warehouse) if ingest else None
    resolve_identities(warehouse, project.settings.identity)
    result = run_computations(project, warehouse, as_of, keys=keys, commit=commit or project_commit(project))
    result.ingested = ingested
    return result
