"""The FastAPI application: routes, error bodies, and a `Request-Id` on every answer.

No CORS middleware on purpose: like Segment's Profile API, this server is for servers, and an
access token must never reach a browser.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from engagectl import __version__
from engagectl.config.loader import Project
from engagectl.server import audiences, profiles, tracking
from engagectl.server.context import ServerContext, open_context
from engagectl.server.errors import ApiError, TrackingError

PROJECT_DIR_VARIABLE = "ENGAGECTL_SERVE_PROJECT_DIR"
log = logging.getLogger("engagectl.server")

DESCRIPTION = """\
engagectl's Profile API (Segment-compatible), tracking API (Segment's HTTP API) and read-only
Audiences API. Authenticate with HTTP Basic: an access token (`engagectl tokens create`) as the
user name for the Profile and Audiences APIs, a source's write key for the tracking API; the
password is empty.
"""


class RequestIdMiddleware:
    """Adds `Request-Id` to every response, the 500s of unexpected errors included (plain ASGI:
    no per-request task overhead)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex
        started = False

        async def send_with_id(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"request-id", request_id.encode("ascii"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s: unexpected error on %s %s", request_id, scope["method"], scope["path"])
            if started:
                raise
            body = json.dumps(_server_error_body(scope["method"], scope["path"])).encode("utf-8")
            await send_with_id({"type": "http.response.start", "status": 500, "headers": [
                (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode("ascii"))]})
            await send_with_id({"type": "http.response.body", "body": body})


def _server_error_body(method: str, path: str) -> dict:
    if _is_tracking(method, path):
        return {"success": False, "code": "server_error", "message": "The message was not stored; send it again."}
    return {"error": {"code": "server_error", "message": "An internal error occurred."}}


def _json(body: dict, status: int, headers: dict | None = None) -> Response:
    return Response(content=json.dumps(body), status_code=status, media_type="application/json", headers=headers)


def _is_tracking(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/") in {f"/v1/{kind}" for kind in (*tracking.MESSAGE_TYPES, "batch")}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        headers = {"WWW-Authenticate": 'Basic realm="engagectl"'} if exc.status == 401 else None
        return _json(exc.body(), exc.status, headers)

    @app.exception_handler(TrackingError)
    async def tracking_error(request: Request, exc: TrackingError) -> Response:
        return _json(exc.body(), exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid_parameter(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "header", "body")]
        name = where[-1] if where else "request"
        return _json({"error": {"code": "validation_error",
                                "message": f"The parameter `{name}` is invalid: {first.get('msg', 'invalid value')}."}},
                     400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _json({"error": {"code": "not_found", "message": "Route was not found."}}, 404)
        if exc.status_code == 405:
            return _json({"error": {"code": "invalid_request_error",
                                    "message": f"Method {request.method} is not allowed here."}}, 405)
        return _json({"error": {"code": "invalid_request_error", "message": str(exc.detail)}}, exc.status_code)


def create_app(project: Project | None = None, context: ServerContext | None = None) -> FastAPI:
    """The application for a project. Give `context` to share connections (tests); otherwise the
    warehouse and the state are opened at start-up and closed at shutdown, once per process.
    With neither, the app only describes itself (`openapi()`): it cannot start."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        owned = None
        if getattr(app.state, "context", None) is None:
            if project is None:
                raise RuntimeError("create_app() needs a project or a context to serve")
            owned = open_context(project)  # type: ignore[arg-type]
            app.state.context = owned
        try:
            yield
        finally:
            if owned is not None:
                owned.close()
                app.state.context = None

    app = FastAPI(title="engagectl", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None, openapi_url="/openapi.json")
    app.state.context = context
    app.add_middleware(RequestIdMiddleware)
    _install_error_handlers(app)
    app.include_router(profiles.build_router())
    app.include_router(audiences.build_router())
    app.include_router(tracking.build_router())
    _finish_document(app)
    return app


def _finish_document(app: FastAPI) -> None:
    """Basic auth on every route, and 400 (not FastAPI's 422) for invalid parameters."""
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        document = original()
        document.setdefault("components", {})["securitySchemes"] = {
            "accessToken": {"type": "http", "scheme": "basic",
                            "description": "An access token as the user name, empty password."},
            "writeKey": {"type": "http", "scheme": "basic",
                         "description": "A source's write key as the user name, empty password."},
        }
        for path, operations in document.get("paths", {}).items():
            scheme = "writeKey" if path.startswith("/v1/") and path.count("/") == 2 else "accessToken"
            for operation in operations.values():
                operation["security"] = [{scheme: []}]
                operation.get("responses", {}).pop("422", None)
        schemas = document.get("components", {}).get("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def app_from_environment() -> FastAPI:
    """The factory uvicorn workers call (`engagectl serve`): the project folder comes from the env."""
    from engagectl.config import load_project

    return create_app(load_project(os.environ.get(PROJECT_DIR_VARIABLE, ".")))
