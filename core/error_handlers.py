"""Where every error becomes a response: the API error shape, a redirect to sign-in, or a friendly page."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.types import ExceptionHandlersMap

from core.errors import DomainError, Throttled, api_domain_error_handler, api_http_error_handler

log = structlog.get_logger()

_FRIENDLY_TITLES = {
    400: "That did not work",
    401: "Please sign in",
    403: "Not allowed",
    404: "Page not found",
    405: "That did not work",
    410: "This link has expired",
    429: "Too many attempts",
    500: "Something went wrong",
}


def _is_api(request: Request[Any, Any, Any]) -> bool:
    return request.url.path.startswith("/api/") or request.url.path.startswith("/webhooks/")


def _page(status: int, message: str) -> Template:
    return Template(
        template_name="errors/error.html",
        context={"status": status, "title": _FRIENDLY_TITLES.get(status, "That did not work"), "message": message},
        status_code=status,
    )


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own errors: JSON for the API, sign-in redirect or a page for people."""
    if _is_api(request):
        return api_http_error_handler(request, exc)
    if isinstance(exc, NotAuthorizedException) and request.url.path.startswith("/staff"):
        return Redirect(f"/staff/login?next={quote(request.url.path)}", status_code=303)
    if isinstance(exc, PermissionDeniedException) and "CSRF" in str(exc.detail):
        page = _page(403, "The form was open too long or came from another site. Go back, reload it and try again.")
        page.context["title"] = "This form has expired"
        return page
    if exc.status_code >= HTTP_500_INTERNAL_SERVER_ERROR:
        return _page(500, "We could not finish that. Nothing was changed; please try again.")
    return _page(exc.status_code, str(exc.detail))


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """Errors our services raise."""
    if _is_api(request):
        return api_domain_error_handler(request, exc)
    response = _page(exc.status_code, exc.message)
    if isinstance(exc, Throttled):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A bug: log it with the path (never the body) and answer without details."""
    log.exception("unhandled_error", path=request.url.path, method=request.method, error=type(exc).__name__)
    if _is_api(request):
        return api_http_error_handler(request, HTTPException(status_code=HTTP_500_INTERNAL_SERVER_ERROR))
    return _page(500, "We could not finish that. Nothing was changed; please try again.")


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    DomainError: domain_error_handler,
    HTTPException: http_error_handler,
    Exception: unexpected_error_handler,
}
