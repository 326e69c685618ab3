"""What one server process holds: the project, one warehouse connection, the token store.

Every request of a process goes through the same warehouse connection. Routes are `async` and
call the engine directly, so a process answers one request at a time: that serialises access to
the one connection (DuckDB's is not safe to share between threads) and costs no thread hops.
Throughput comes from processes: several workers on Postgres, one process on DuckDB
(docs/serve.md says why).

On DuckDB, where every statement costs a fixed 0.3-0.5 ms of CPU and one process serves, `/traits`
and every route's identifier lookup are answered from a read model in memory
(`engagectl.profiles.ReadModelReader`), loaded when the process starts and reloaded when the
warehouse's data moves. The server runs DuckDB on one thread (unless the URL sets `threads`):
its remaining statements gain nothing from DuckDB's worker threads, and waking them costs CPU
and tail latency.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from engagectl.config.env import resolve_env
from engagectl.config.loader import Project
from engagectl.config.models import Source
from engagectl.server.tokens import TokenStore


@dataclass
class ServerContext:
    project: Project
    warehouse: Any  # engagectl.warehouse.Warehouse
    tokens: TokenStore

    @property
    def space(self) -> str:
        return self.project.settings.space

    @cached_property
    def reader(self):
        """The Profile API reader of the project's space: on DuckDB it answers `/traits` from a read
        model in memory (docs/serve.md says why), elsewhere with prepared statements."""
        from engagectl.profiles import ProfileReader, ReadModelReader

        if self.warehouse.dialect == "duckdb":
            return ReadModelReader(self.warehouse, self.space)
        return ProfileReader(self.warehouse, self.space)

    def source_for_write_key(self, write_key: str) -> Source | None:
        """The source whose write key this is; keys are resolved now, so a rotated env var applies."""
        found = None
        for source in self.project.settings.sources:
            if not source.write_key:
                continue
            try:
                expected = resolve_env(source.write_key)
            except Exception:  # an unset variable: that source cannot be written to
                continue
            # compare every key, always, so timing says nothing about which one matched
            if hmac.compare_digest(expected.encode("utf-8"), write_key.encode("utf-8")) and found is None:
                found = source
        return found

    def close(self) -> None:
        self.warehouse.close()
        self.tokens.engine.dispose()


def _prepare_duckdb(warehouse: Any, url: str, project_dir: Path) -> None:
    from sqlglot import exp

    from engagectl.urls import parse_database_url
    from engagectl.warehouse.layout import drop_lookup_indexes

    # Lookup indexes an earlier `engagectl serve` built and, killed, never dropped: the read
    # model does not need them, and `run` would pay for maintaining them.
    drop_lookup_indexes(warehouse)
    if "threads" not in parse_database_url(url, project_dir).url.query:
        warehouse.execute(exp.Set(expressions=[exp.SetItem(this=exp.EQ(
            this=exp.to_identifier("threads"), expression=exp.Literal.number(1)))]))


def open_context(project: Project) -> ServerContext:
    """Connect to the project's warehouse and state; on DuckDB, load the read model."""
    from engagectl.profiles import ReadModelReader
    from engagectl.warehouse import open_warehouse

    settings = project.settings
    warehouse = open_warehouse(settings.warehouse, str(project.directory))
    try:
        if warehouse.dialect == "duckdb":
            _prepare_duckdb(warehouse, settings.warehouse, project.directory)
        tokens = TokenStore.open(settings.state, str(project.directory))
    except Exception:
        warehouse.close()
        raise
    context = ServerContext(project=project, warehouse=warehouse, tokens=tokens)
    try:
        if isinstance(context.reader, ReadModelReader):
            context.reader.refresh()  # loaded before the first request, not during it
    except Exception:
        context.close()
        raise
    return context
