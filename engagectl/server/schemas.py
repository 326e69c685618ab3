"""Pydantic models of the answers, for the OpenAPI document only.

Routes hand back the bodies `engagectl.profiles.ProfileReader` builds, serialised once; these
models describe them so that clients (and schemathesis) can check every answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(BaseModel):
    code: str = Field(description="authentication_error | not_found | validation_error | invalid_request_error")
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class Cursor(Open):
    url: str
    has_more: bool
    next: str
    limit: int | None = None


class TraitsBody(BaseModel):
    traits: dict[str, Any]
    cursor: Cursor


class ExternalId(Open):
    id: str
    type: str
    collection: str | None = None
    source_id: str | None = None
    created_at: str | None = None
    encoding: str | None = None
    first_message_id: str | None = None


class ExternalIdsBody(BaseModel):
    data: list[ExternalId]
    cursor: Cursor


class ProfileEvent(Open):
    type: str
    message_id: str | None = None
    timestamp: str | None = None
    event: str | None = None
    properties: dict[str, Any] | None = None
    context: dict[str, Any] | None = None


class EventsBody(BaseModel):
    data: list[ProfileEvent]
    cursor: Cursor


class Metadata(Open):
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: str | None = None
    first_message_id: str | None = None
    first_source_id: str | None = None
    last_message_id: str | None = None
    last_source_id: str | None = None


class MetadataBody(BaseModel):
    metadata: Metadata


class Link(Open):
    to_collection: str
    external_ids: list[dict[str, Any]]


class LinksBody(Open):
    data: list[Link]


class TrackingAccepted(Open):
    success: bool


class TrackingErrorBody(BaseModel):
    success: bool
    code: str = Field(description="invalid_write_key | invalid_json | message_too_large | batch_too_large | "
                                  "no_user_anon_id | invalid_request")
    message: str


class Size(BaseModel):
    count: int
    type: str = Field(description="ACTUAL once computed, UNKNOWN before the first run")


class Definition(BaseModel):
    type: str
    query: dict[str, Any]


class ComputationSummary(Open):
    id: str
    spaceId: str
    name: str
    description: str | None
    key: str
    enabled: bool
    definition: Definition
    status: str = Field(description="COMPUTED once a run has computed it, PENDING before")
    createdAt: str | None
    updatedAt: str | None
    lastRunAt: str | None
    size: Size


class AudiencesData(BaseModel):
    audiences: list[ComputationSummary]


class AudiencesBody(BaseModel):
    data: AudiencesData


class AudienceData(BaseModel):
    audience: ComputationSummary


class AudienceBody(BaseModel):
    data: AudienceData


class ComputedTraitsData(BaseModel):
    computedTraits: list[ComputationSummary]


class ComputedTraitsBody(BaseModel):
    data: ComputedTraitsData


class ComputedTraitData(BaseModel):
    computedTrait: ComputationSummary


class ComputedTraitBody(BaseModel):
    data: ComputedTraitData
