"""Domain errors and their one mapping to the API error shape (contract §4)."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR


class DomainError(Exception):
    """Base of every error a user can cause; carries the API code and status."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, *, fields: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class BadRequest(DomainError):
    """The request is malformed."""


class NotAuthenticated(DomainError):
    """No or invalid credentials."""

    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """Signed in, but not allowed."""

    status_code = 403
    code = "forbidden"


class NotFound(DomainError):
    """No such object in this workspace (other workspaces' objects are reported the same way)."""

    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    """The object's state does not allow the change."""

    status_code = 409
    code = "conflict"


class Invalid(DomainError):
    """Well-formed input that breaks a business rule; `fields` says which."""

    status_code = 422
    code = "invalid"


class Throttled(DomainError):
    """Too many attempts; `retry_after` seconds to wait."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ErrorBody(msgspec.Struct):
    """`{"code", "message", "fields"}` inside the `error` envelope."""

    code: str
    message: str
    fields: dict[str, str]
    """Input field → what is wrong with it; always present, empty when no one field is to blame."""


class ErrorEnvelope(msgspec.Struct):
    """The contract's error shape."""

    error: ErrorBody


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Response[Any]:
    """A JSON response in the contract's error shape."""
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, fields=fields or {}))
    return Response(content=body, status_code=status)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


def api_domain_error_handler(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """Map a domain error to the API error shape."""
    response = error_response(exc.status_code, exc.code, exc.message, exc.fields)
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def api_http_error_handler(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Map Litestar's own errors (validation, 404 route, 405…) to the API error shape."""
    status = exc.status_code
    if status >= HTTP_500_INTERNAL_SERVER_ERROR:
        return error_response(status, "internal_error", "Something went wrong on our side.")
    fields: dict[str, str] = {}
    message = exc.detail or "Bad request"
    if isinstance(exc, ValidationException):
        message = "Some fields are invalid."
        for item in exc.extra if isinstance(exc.extra, list) else []:
            if isinstance(item, dict):
                key = str(item.get("key") or item.get("source") or "body")
                fields[key] = str(item.get("message", "invalid"))
        if not fields:
            fields["body"] = str(exc.detail)
    if isinstance(exc, NotAuthorizedException):
        message = exc.detail if exc.detail != "Unauthorized" else "Missing or invalid API token."
    return error_response(status, _HTTP_CODES.get(status, "error"), message, fields)
