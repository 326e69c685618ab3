"""What one server process holds: the project, one warehouse connection, the token store.

Every request of a process goes through the same warehouse connection. Routes are `async` and
call the engine directly, so a process answers one request at a time: that serialises access to
the one connection (DuckDB's is not safe to share between threads) and costs no thread hops.
Throughput comes from processes: several workers on Postgres, one process on DuckDB
(docs/serve.md says why).

On DuckDB the server is the only process holding the warehouse file, so it indexes the Profile
API's lookups while it runs and drops those indexes when it stops: `run`'s bulk writes would pay
for maintaining them, and only the server's point lookups need them. It also runs DuckDB on one
thread (unless the URL sets `threads`): a point lookup gains nothing from DuckDB's worker threads,
and waking them costs CPU and tail latency.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from functools import cached_property
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
        """The Profile API reader of the project's space (its statements are prepared once)."""
        from engagectl.profiles import ProfileReader

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
        from engagectl.warehouse import WarehouseError
        from engagectl.warehouse.layout import drop_lookup_indexes

        try:
            drop_lookup_indexes(self.warehouse)
        except WarehouseError:
            pass  # the connection is already lost; the next server start finds the indexes in place
        self.warehouse.close()
        self.tokens.engine.dispose()


def open_context(project: Project) -> ServerContext:
    """Connect to the project's warehouse and state."""
    from sqlglot import exp

    from engagectl.urls import parse_database_url
    from engagectl.warehouse import open_warehouse
    from engagectl.warehouse.layout import create_lookup_indexes

    settings = project.settings
    warehouse = open_warehouse(settings.warehouse, str(project.directory))
    try:
        create_lookup_indexes(warehouse)
        if warehouse.dialect == "duckdb" and "threads" not in parse_database_url(
                settings.warehouse, project.directory).url.query:
            warehouse.execute(exp.Set(expressions=[exp.SetItem(this=exp.EQ(
                this=exp.to_identifier("threads"), expression=exp.Literal.number(1)))]))
    except Exception:
        warehouse.close()
        raise
    tokens = TokenStore.open(settings.state, str(project.directory))
    return ServerContext(project=project, warehouse=warehouse, tokens=tokens)
