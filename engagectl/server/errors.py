"""The error answers of the APIs, each a named exception carrying its status and body.

The Profile API and the Audiences API answer Segment's `{"error": {"code", "message"}}`; the
tracking API answers `{"success": false, "code", "message"}`, the shape Segment's libraries read
(`analytics-python` raises `APIError(status, body["code"], body["message"])`).
"""

from __future__ import annotations


class ApiError(Exception):
    """An answer other than 200 from the Profile API or the Audiences API."""

    status = 400
    code = "invalid_request_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class AuthenticationError(ApiError):
    status = 401
    code = "authentication_error"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class ValidationError(ApiError):
    status = 400
    code = "validation_error"


class InvalidRequest(ApiError):
    status = 400
    code = "invalid_request_error"


class MethodNotAllowed(ApiError):
    status = 405
    code = "invalid_request_error"


PROFILE_NOT_FOUND = "Profile was not found."


class TrackingError(Exception):
    """An answer other than 200 from the tracking API."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> dict:
        return {"success": False, "code": self.code, "message": self.message}
