"""HTTP Basic credentials: an access token (Profile and Audiences APIs) or a write key (tracking).

Both travel as the Basic user name with an empty password, the way Segment's APIs take them.
"""

from __future__ import annotations

import base64
import binascii

from fastapi import Request

from engagectl.server.context import ServerContext
from engagectl.server.errors import AuthenticationError, NotFound
from engagectl.server.tokens import AccessToken

MISSING_TOKEN = "Send an access token as the HTTP Basic user name with an empty password."
INVALID_TOKEN = "The access token is not valid: it is unknown or has been revoked."
SPACE_NOT_FOUND = "Space was not found."


def basic_user(request: Request) -> str | None:
    """The user name of an `Authorization: Basic …` header, or None when there is none."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, _, _password = decoded.partition(":")
    return user or None


def context_of(request: Request) -> ServerContext:
    return request.app.state.context


def require_token(request: Request, space: str) -> AccessToken:
    """The caller's live token for `space`: 401 without a valid one, 404 for another space."""
    presented = basic_user(request)
    if presented is None:
        raise AuthenticationError(MISSING_TOKEN)
    context = context_of(request)
    token = context.tokens.authenticate(presented)
    if token is None:
        raise AuthenticationError(INVALID_TOKEN)
    # A token never reveals whether another space exists: both cases read "not found".
    if token.space != space or space != context.space:
        raise NotFound(SPACE_NOT_FOUND)
    return token


async def authenticated(request: Request) -> AccessToken:
    """A route dependency: runs before parameters are validated, so a bad token is a 401 first."""
    return require_token(request, request.path_params.get("space", ""))
