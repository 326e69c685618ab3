"""Warehouse and state URLs: relative file paths and the `?schema=` option engagectl adds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url


@dataclass(frozen=True)
class DatabaseUrl:
    """A SQLAlchemy URL with relative paths made absolute and engagectl's own options taken out."""

    url: URL
    schema: str | None

    @property
    def backend(self) -> str:
        """`duckdb`, `sqlite` or `postgresql`."""
        return self.url.get_backend_name()

    def render(self) -> str:
        return self.url.render_as_string(hide_password=False)


def parse_database_url(raw: str, project_dir: str | Path = ".") -> DatabaseUrl:
    """`duckdb:///.engage/x.duckdb` is relative to the project; `?schema=NAME` is engagectl's."""
    url = make_url(raw)
    schema = url.query.get("schema")
    if schema is not None:
        url = url.difference_update_query(["schema"])
    if url.get_backend_name() in ("duckdb", "sqlite") and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            url = url.set(database=str((Path(project_dir) / path).resolve()))
    return DatabaseUrl(url=url, schema=schema if isinstance(schema, str) else None)
