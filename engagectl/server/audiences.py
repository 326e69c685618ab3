"""The read-only Audiences API: audiences and computed traits as Segment's Public API summarises them.

Definitions come from the project files; `createdAt`/`updatedAt` from the state (when the
resource was applied); size and last run from the warehouse (`computed_values`, `runs`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from sqlalchemy import select
from sqlglot import exp

from engagectl.config.models import Resource
from engagectl.server.auth import authenticated, context_of
from engagectl.server.errors import NotFound
from engagectl.server.profiles import ERRORS, json_response
from engagectl.server.schemas import AudienceBody, AudiencesBody, ComputedTraitBody, ComputedTraitsBody

AUDIENCE_KINDS = ("audience",)
TRAIT_KINDS = ("computed_trait", "sql_trait")
ID_PREFIX = {"audience": "aud_", "computed_trait": "tra_", "sql_trait": "tra_"}

SpacePath = Annotated[str, Path(description="The space id (engage.yaml `space`).")]
IdPath = Annotated[str, Path(description="`aud_<key>` / `tra_<key>`, or the bare key.")]


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def _sizes(warehouse, kinds: dict[str, str]) -> dict[str, int]:
    """Members of each audience (value true) and profiles with a value of each trait."""
    table = warehouse.table("computed_values")
    value_text = exp.cast(exp.column("value", quoted=True), exp.DataType.build("TEXT"))
    counted = exp.select(exp.column("computation_key", quoted=True), exp.column("kind", quoted=True),
                         exp.Count(this=exp.Star()).as_("size")).from_(table)
    counted = counted.where(exp.column("value", quoted=True).is_(exp.null()).not_())
    counted = counted.where(exp.NEQ(this=value_text, expression=exp.Literal.string("null")))
    counted = counted.where(exp.NEQ(this=value_text, expression=exp.Literal.string("false")))
    counted = counted.group_by(exp.column("computation_key", quoted=True), exp.column("kind", quoted=True))
    sizes: dict[str, int] = {}
    for key, _kind, size in warehouse.fetchall(counted):
        if key in kinds:
            sizes[key] = sizes.get(key, 0) + int(size)
    return sizes


def _last_run(warehouse) -> datetime | None:
    finished = exp.column("finished_at", quoted=True)
    rows = warehouse.fetchall(exp.select(exp.Max(this=finished)).from_(warehouse.table("runs")))
    return rows[0][0] if rows and rows[0][0] is not None else None


def _applied(context) -> dict[str, tuple[datetime | None, datetime | None]]:
    """address -> (created, updated) from the state; empty before the first apply."""
    from engagectl.state import schema

    resources, applies = schema.resources, schema.applies
    query = (select(resources.c.address, resources.c.updated_at, applies.c.applied_at)
             .select_from(resources.outerjoin(applies, applies.c.serial == resources.c.created_serial)))
    try:
        with context.tokens.engine.connect() as conn:
            return {row.address: (row.applied_at, row.updated_at) for row in conn.execute(query)}
    except Exception:  # no apply yet: the state has no resources table
        return {}


def _summary(resource: Resource, space: str, size: int | None, last_run: datetime | None,
             applied: tuple[datetime | None, datetime | None] | None) -> dict[str, Any]:
    kind = resource.kind  # type: ignore[attr-defined]
    created, updated = applied or (None, None)
    computed = last_run is not None and applied is not None and (
        updated is None or _aware(last_run) >= _aware(updated))
    definition = resource.model_dump(mode="json", by_alias=True, exclude_none=True,
                                     exclude={"key", "name", "description", "kind"})
    return {
        "id": ID_PREFIX[kind] + resource.key,
        "spaceId": space,
        "name": resource.name or resource.key,
        "description": resource.description,
        "key": resource.key,
        "enabled": True,
        "definition": {"type": kind, "query": definition},
        "status": "COMPUTED" if computed else "PENDING",
        "createdAt": _iso(created),
        "updatedAt": _iso(updated),
        "lastRunAt": _iso(last_run) if computed else None,
        "size": {"count": size or 0, "type": "EXACT" if computed else "UNKNOWN"},
    }


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def summaries(request: Request, kinds: tuple[str, ...]) -> list[dict[str, Any]]:
    context = context_of(request)
    resources = sorted((r for kind in kinds for r in context.project.of_kind(kind)), key=lambda r: r.key)
    sizes = _sizes(context.warehouse, {r.key: r.kind for r in resources})  # type: ignore[attr-defined]
    last_run = _last_run(context.warehouse)
    applied = _applied(context)
    return [_summary(r, context.space, sizes.get(r.key), last_run, applied.get(r.address)) for r in resources]


def _one(request: Request, kinds: tuple[str, ...], computation_id: str, what: str) -> dict[str, Any]:
    for summary in summaries(request, kinds):
        if computation_id in (summary["id"], summary["key"]):
            return summary
    raise NotFound(f"{what} was not found.")


def build_router() -> APIRouter:
    router = APIRouter(tags=["Audiences API"], responses=ERRORS, dependencies=[Depends(authenticated)])
    base = "/v1/spaces/{space}"

    @router.get(base + "/audiences", response_model=AudiencesBody, operation_id="list_audiences",
                summary="Every audience of the project with its definition, status, size and last run")
    async def list_audiences(request: Request, space: SpacePath) -> Response:
        return json_response({"data": {"audiences": summaries(request, AUDIENCE_KINDS)}})

    @router.get(base + "/audiences/{audience_id}", response_model=AudienceBody, operation_id="get_audience",
                summary="One audience")
    async def get_audience(request: Request, space: SpacePath, audience_id: IdPath) -> Response:
        return json_response({"data": {"audience": _one(request, AUDIENCE_KINDS, audience_id, "Audience")}})

    @router.get(base + "/computed-traits", response_model=ComputedTraitsBody, operation_id="list_computed_traits",
                summary="Every computed and SQL trait with its definition, status, size and last run")
    async def list_traits(request: Request, space: SpacePath) -> Response:
        return json_response({"data": {"computedTraits": summaries(request, TRAIT_KINDS)}})

    @router.get(base + "/computed-traits/{trait_id}", response_model=ComputedTraitBody,
                operation_id="get_computed_trait", summary="One computed or SQL trait")
    async def get_trait(request: Request, space: SpacePath, trait_id: IdPath) -> Response:
        return json_response({"data": {"computedTrait": _one(request, TRAIT_KINDS, trait_id, "Computed trait")}})

    return router

