"""The state database's tables. Other packages (sync, tokens) add their tables to `metadata`."""

from __future__ import annotations

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine

from engagectl.urls import parse_database_url

metadata = MetaData()


def state_engine(raw_url: str, project_dir: str = ".") -> tuple[Engine, str | None]:
    """An engine for the state URL and the schema its tables live in (None: the default)."""
    parsed = parse_database_url(raw_url, project_dir)
    if parsed.backend == "sqlite" and parsed.url.database:
        from pathlib import Path

        Path(parsed.url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed.url, future=True)
    if parsed.schema:
        engine = engine.execution_options(schema_translate_map={None: parsed.schema})
    return engine, parsed.schema
