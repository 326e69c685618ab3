"""The Profile API: `/v1/spaces/{space}/collections/users/profiles/{id_type}:{id_value}/…`.

The same routes answer under `/v1/namespaces/{space}/…`, the older spelling Segment's FAQ uses.
Bodies come from `engagectl.profiles.ProfileReader`; this module only checks the request,
authenticates it and serialises the answer.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from engagectl.server.auth import authenticated
from engagectl.server.errors import PROFILE_NOT_FOUND, NotFound, ValidationError
from engagectl.server.schemas import (
    ErrorBody,
    EventsBody,
    ExternalIdsBody,
    LinksBody,
    MetadataBody,
    TraitsBody,
)

PREFIXES = ("/v1/spaces/{space}", "/v1/namespaces/{space}")
COLLECTIONS = ("users",)
_COLLECTION_CHARACTERS = re.compile(r"[^a-z_]")

ERRORS = {
    400: {"model": ErrorBody, "description": "A parameter is missing or invalid."},
    401: {"model": ErrorBody, "description": "No valid access token."},
    404: {"model": ErrorBody, "description": "Unknown space or profile."},
}

SpacePath = Annotated[str, Path(description="The space id (engage.yaml `space`).")]
CollectionPath = Annotated[str, Path(description="`users` (accounts are not modelled).")]
IdentifierPath = Annotated[str, Path(
    description="`<id_type>:<id_value>`, e.g. `email:bob@example.com`; URL-encode `+` as `%2B`.")]
Include = Annotated[str | None, Query(description="Comma-separated keys to return.")]
Verbose = Annotated[bool, Query(description="Return each value with its source and update time.")]
Next = Annotated[str | None, Query(description="The cursor's `next` of the previous page.")]


def json_response(body: object, status: int = 200) -> Response:
    return Response(content=json.dumps(body, default=str, separators=(",", ":")), status_code=status,
                    media_type="application/json")


def _split_keys(value: str | None) -> list[str] | None:
    if value is None:
        return None
    keys = [key.strip() for key in value.split(",") if key.strip()]
    return keys or None


def _identifier(identifier: str) -> tuple[str, str]:
    id_type, colon, id_value = identifier.partition(":")
    if not colon or not id_type or not id_value:
        raise ValidationError(
            f"The identifier `{identifier}` must read `<id_type>:<id_value>`, e.g. `email:bob@example.com`.")
    return id_type, id_value


def _check_collection(collection: str) -> None:
    invalid = sorted(set(_COLLECTION_CHARACTERS.findall(collection)))
    if invalid:
        raise ValidationError(f"The parameter `collection` has invalid character(s) `{''.join(invalid)}`")
    if collection not in COLLECTIONS:
        raise NotFound(PROFILE_NOT_FOUND)


def _read(request: Request, space: str, collection: str, identifier: str, method: str, **params) -> Response:
    """Check the path and answer what the reader returns (404 for an unknown profile).

    The router's `authenticated` dependency has already checked the token against `space`.
    """
    from engagectl.profiles import ProfileNotFound

    _check_collection(collection)
    id_type, id_value = _identifier(identifier)
    reader = request.app.state.context.reader
    try:
        body = getattr(reader, method)(id_type, id_value, **params)
    except ProfileNotFound:
        raise NotFound(PROFILE_NOT_FOUND) from None
    return json_response(body)


def build_router() -> APIRouter:
    router = APIRouter(tags=["Profile API"], responses=ERRORS, dependencies=[Depends(authenticated)])
    for index, prefix in enumerate(PREFIXES):
        _add_routes(router, prefix, suffix="" if index == 0 else "_namespace")
    return router


def _add_routes(router: APIRouter, prefix: str, suffix: str) -> None:
    """The five resources under one path prefix; `suffix` keeps operation ids unique."""
    base = prefix + "/collections/{collection}/profiles/{identifier:path}"

    @router.get(base + "/traits", response_model=TraitsBody, operation_id="get_traits" + suffix,
                summary="A profile's traits (custom, computed, SQL and audience memberships)")
    async def traits(
        request: Request, space: SpacePath, collection: CollectionPath, identifier: IdentifierPath,
        include: Include = None,
        cls: Annotated[Literal["audience", "computed_trait"] | None,
                       Query(alias="class", description="Only audiences or only computed traits.")] = None,
        limit: Annotated[int, Query(ge=1, le=200, description="Traits per page (at most 200).")] = 10,
        next: Next = None,
        verbose: Verbose = False,
    ) -> Response:
        return _read(request, space, collection, identifier, "traits", include=_split_keys(include), cls=cls,
                     limit=limit, next=next, verbose=verbose)

    @router.get(base + "/external_ids", response_model=ExternalIdsBody, operation_id="get_external_ids" + suffix,
                summary="A profile's external ids (every identifier merged into it)")
    async def external_ids(
        request: Request, space: SpacePath, collection: CollectionPath, identifier: IdentifierPath,
        include: Annotated[str | None, Query(description="Comma-separated id types to return.")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 25,
        next: Next = None,
        verbose: Verbose = False,
    ) -> Response:
        return _read(request, space, collection, identifier, "external_ids", include=_split_keys(include),
                     limit=limit, next=next, verbose=verbose)

    @router.get(base + "/events", response_model=EventsBody, operation_id="get_events" + suffix,
                summary="A profile's recent events")
    async def events(
        request: Request, space: SpacePath, collection: CollectionPath, identifier: IdentifierPath,
        start: Annotated[datetime | None, Query(description="ISO-8601; events at or after.")] = None,
        end: Annotated[datetime | None, Query(description="ISO-8601; events before.")] = None,
        include: Annotated[str | None, Query(description="Comma-separated event names to return.")] = None,
        exclude: Annotated[str | None, Query(description="Comma-separated event names to leave out.")] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        next: Next = None,
        sort: Annotated[Literal["asc", "desc"], Query()] = "desc",
    ) -> Response:
        return _read(request, space, collection, identifier, "events", start=start, end=end,
                     include=_split_keys(include), exclude=_split_keys(exclude), limit=limit, next=next, sort=sort)

    @router.get(base + "/metadata", response_model=MetadataBody, operation_id="get_metadata" + suffix,
                summary="When a profile was created and last updated")
    async def metadata(
        request: Request, space: SpacePath, collection: CollectionPath, identifier: IdentifierPath,
        verbose: Verbose = False,
    ) -> Response:
        return _read(request, space, collection, identifier, "metadata", verbose=verbose)

    @router.get(base + "/links", response_model=LinksBody, operation_id="get_links" + suffix,
                summary="Accounts linked to a profile")
    async def links(
        request: Request, space: SpacePath, collection: CollectionPath, identifier: IdentifierPath,
        limit: Annotated[int, Query(ge=1, le=20)] = 20,
    ) -> Response:
        return _read(request, space, collection, identifier, "links", limit=limit)
