"""`preview`: an audience's or journey step's members as a run would compute them now.

The preview is a real run of the computation (and of everything it reads: referenced audiences
and traits, a journey's entry and earlier steps) inside a transaction that is rolled back, so
its size is exactly what `apply` would produce and nothing is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlglot import exp

from engagectl.compile.operators import CompileError
from engagectl.compile.preview import AudiencePreview, is_previewable, sample_members
from engagectl.compute.run import compute_in_transaction, new_run_id
from engagectl.compute.sql import column

if TYPE_CHECKING:
    from engagectl.config.loader import Project
    from engagectl.warehouse.base import Warehouse


class _Discard(Exception):
    """Raised to roll the preview's transaction back once its numbers are read."""


def preview(warehouse: "Warehouse", project: "Project", key: str, as_of: datetime, limit: int = 10) -> AudiencePreview:
    """Size and sample of `key`'s members as of `as_of`, without changing anything."""
    if not is_previewable(project, key):
        raise CompileError(f"no audience or journey step with key {key!r} in the project")
    journey_key, _, _ = key.partition("__")
    computed = key if project.get("audience", key) is not None else journey_key
    result: AudiencePreview | None = None
    try:
        with warehouse.transaction():
            compute_in_transaction(project, warehouse, as_of, [computed], None, new_run_id())
            members = (exp.select(column("profile_id")).from_(warehouse.table("computed_values"))
                       .where(column("computation_key").eq(exp.Literal.string(key))))
            result = sample_members(warehouse, key, as_of, members, limit)
            raise _Discard()
    except _Discard:
        pass
    assert result is not None
    return result
