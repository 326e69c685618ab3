"""The tracking API: Segment's HTTP API (`POST /v1/track|identify|page|screen|group|alias|batch`).

A source's write key (engage.yaml `sources[].write_key`) is the Basic user name, or the body's
`writeKey`. Bodies may be gzip-compressed. Limits are Segment's: 32 KB a message, 500 KB and
2,500 messages a batch; beyond them, and for a body that is not JSON, the answer is a 400.
Messages that cannot be attributed to a profile (no `userId` or `anonymousId`) or a track call
without an event name are refused: a single call answers 400, a batch stores the others and
lists the refused ones. Everything accepted is committed to the warehouse's `events` table
before the 200 is sent, and the next run resolves and computes it.
"""

from __future__ import annotations

import json
import uuid
import zlib
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from engagectl.server.auth import basic_user, context_of
from engagectl.server.errors import TrackingError
from engagectl.server.schemas import TrackingAccepted, TrackingErrorBody

MESSAGE_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
BATCH_MESSAGE_LIMIT = 2500
MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")

# The routes read the raw body themselves (size limits, gzip); the document still describes it.
MESSAGE_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "A Segment-spec message (userId or anonymousId, event for track)."}}}}}
BATCH_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["batch"],
    "properties": {"batch": {"type": "array", "items": {"type": "object"}}, "context": {"type": "object"}}}}}}}

RESPONSES = {
    400: {"model": TrackingErrorBody, "description": "Too large, not JSON, or not a valid message."},
    401: {"model": TrackingErrorBody, "description": "No write key, or not the write key of a source."},
}


def _accepted(body: dict) -> Response:
    return Response(content=json.dumps(body), media_type="application/json")


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped when sent so, refused as soon as it passes `limit` bytes."""
    too_large = TrackingError(400, "batch_too_large" if limit == BATCH_LIMIT else "message_too_large",
                              f"The request body is larger than {limit // 1024} KB.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise TrackingError(400, "invalid_request", f"Unsupported Content-Encoding {encoding!r}: send gzip or none.")
    inflater = zlib.decompressobj(wbits=31) if encoding == "gzip" else None
    body = bytearray()
    try:
        async for chunk in request.stream():
            if inflater is not None:
                # inflate at most one byte past the limit: a small bomb cannot fill memory
                chunk = inflater.decompress(chunk, limit + 1 - len(body))
            body.extend(chunk)
            if len(body) > limit:
                raise too_large
        if inflater is not None and not inflater.eof:
            raise TrackingError(400, "invalid_request", "The gzip body is truncated.")
    except zlib.error:
        raise TrackingError(400, "invalid_request", "The body is not valid gzip.") from None
    return bytes(body)


def _parse(raw: bytes) -> dict:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise TrackingError(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(document, dict):
        raise TrackingError(400, "invalid_json", "The body must be a JSON object.")
    return document


def _source_key(request: Request, document: dict) -> str:
    context = context_of(request)
    write_key = basic_user(request) or document.get("writeKey")
    if not isinstance(write_key, str) or not write_key:
        raise TrackingError(401, "invalid_write_key",
                            "Send the source's write key as the HTTP Basic user name (or as `writeKey`).")
    source = context.source_for_write_key(write_key)
    if source is None:
        raise TrackingError(401, "invalid_write_key", "The write key is not the write key of any source.")
    return source.key


def _problem(message: Any) -> tuple[str, str] | None:
    """Why a message cannot be stored, as (code, message), or None when it can."""
    if not isinstance(message, dict):
        return "invalid_request", "A message must be a JSON object."
    kind = message.get("type")
    if kind not in MESSAGE_TYPES:
        return "invalid_request", f"`type` must be one of {', '.join(MESSAGE_TYPES)}."
    if not (message.get("userId") or message.get("anonymousId")):
        return "no_user_anon_id", "A message needs a `userId` or an `anonymousId`."
    if kind == "track" and not (isinstance(message.get("event"), str) and message["event"]):
        return "missing_event_name", "A track call needs an `event` name."
    if kind == "alias" and not message.get("previousId"):
        return "invalid_request", "An alias call needs a `previousId`."
    if kind == "group" and not message.get("groupId"):
        return "invalid_request", "A group call needs a `groupId`."
    return None


def _size(message: Any) -> int:
    return len(json.dumps(message, separators=(",", ":"), default=str).encode("utf-8"))


def _normalise(message: dict, received_at: str, shared_context: dict | None) -> dict:
    """What Segment's edge adds: a message id, receivedAt, a timestamp, the batch's context."""
    stored = {k: v for k, v in message.items() if k != "writeKey"}
    stored.setdefault("messageId", f"api-{uuid.uuid4()}")
    stored["receivedAt"] = received_at
    stored.setdefault("timestamp", stored.get("sentAt") or received_at)
    if shared_context:
        own = stored.get("context") if isinstance(stored.get("context"), dict) else {}
        stored["context"] = {**shared_context, **own}
    return stored


def _store(request: Request, messages: list[dict], source: str) -> None:
    from engagectl.ingest import ingest_messages

    if not messages:
        return
    report = ingest_messages(context_of(request).warehouse, messages, source=source)
    if report.errors:
        raise TrackingError(400, "invalid_request", "; ".join(error.message for error in report.errors[:5]))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_router() -> APIRouter:
    router = APIRouter(tags=["Tracking API"], responses=RESPONSES)

    for kind in MESSAGE_TYPES:
        _add_single_route(router, kind)

    @router.post("/v1/batch", response_model=TrackingAccepted, operation_id="batch", openapi_extra=BATCH_BODY,
                 summary="Send up to 2,500 messages (500 KB) at once")
    async def batch(request: Request) -> Response:
        document = _parse(await _read_body(request, BATCH_LIMIT))
        source = _source_key(request, document)
        items = document.get("batch")
        if not isinstance(items, list):
            raise TrackingError(400, "invalid_request", "A batch body needs a `batch` list of messages.")
        if len(items) > BATCH_MESSAGE_LIMIT:
            raise TrackingError(400, "batch_too_large", f"A batch holds at most {BATCH_MESSAGE_LIMIT} messages.")
        for item in items:
            if _size(item) > MESSAGE_LIMIT:
                raise TrackingError(400, "message_too_large", "A message in the batch is larger than 32 KB.")
        received_at = _now()
        shared = document.get("context") if isinstance(document.get("context"), dict) else None
        accepted: list[dict] = []
        rejected: list[dict] = []
        for index, item in enumerate(items):
            problem = _problem(item)
            if problem is None:
                accepted.append(_normalise(item, received_at, shared))
            else:
                rejected.append({"index": index, "code": problem[0], "message": problem[1]})
        _store(request, accepted, source)
        body: dict = {"success": True}
        if rejected:
            body["rejected"] = rejected
        return _accepted(body)

    return router


def _add_single_route(router: APIRouter, kind: str) -> None:
    async def single(request: Request) -> Response:
        document = _parse(await _read_body(request, MESSAGE_LIMIT))
        source = _source_key(request, document)
        message = {**document, "type": kind}
        problem = _problem(message)
        if problem is not None:
            raise TrackingError(400, *problem)
        _store(request, [_normalise(message, _now(), None)], source)
        return _accepted({"success": True})

    router.add_api_route(f"/v1/{kind}", single, methods=["POST"], response_model=TrackingAccepted,
                         operation_id=kind, openapi_extra=MESSAGE_BODY, summary=f"Send one {kind} call", name=kind)
