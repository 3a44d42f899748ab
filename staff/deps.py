"""Guards and dependency providers: who is calling, and for which workspace."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from core.clock import utcnow
from core.errors import Invalid, NotAuthenticated
from core.scope import WorkspaceScope
from staff.schemas import StaffIdentity
from staff.services import scope_for_api_token
from staff.tables import StaffUser

SESSION_KEY = "staff"
STAFF_SIGN_IN_LIFETIME = 12 * 3600
"""Seconds a staff sign-in lasts however busy the session is (ASVS 3.3.2: re-authenticate every 12 hours)."""


async def require_api_token(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for the JSON API: a valid bearer token, whose workspace scopes the request."""
    header = connection.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("Missing or invalid API token.")
    connection.state.scope = await scope_for_api_token(token.strip())


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return isinstance(value, list) and any(_has_nul(item) for item in value)


async def refuse_nul_characters(request: Request[Any, Any, Any]) -> None:
    """API input may not contain NUL: PostgreSQL cannot store or compare it (a 500), SQLite would store it.

    Found by the fuzz: `GET /api/v1/invoices?q=%00` was a 500 on PostgreSQL only. Refused here, once,
    for the query and the JSON body, so both backends answer the same: 422, like any other text rule
    (the input is well-formed JSON or query; the document's strings do not say "no NUL").
    """
    if any("\x00" in value for _, value in request.query_params.multi_items()):
        raise Invalid("Text may not contain NUL characters.", fields={"query": "Contains a NUL character."})
    body = await request.body()
    if b"\\u0000" in body:
        try:
            nul = _has_nul(msgspec.json.decode(body))
        except msgspec.DecodeError:
            nul = False  # not JSON: the handler refuses it with its own 400
        if nul:
            raise Invalid("Text may not contain NUL characters.", fields={"body": "Contains a NUL character."})


async def provide_api_scope(request: Request[Any, Any, Any]) -> WorkspaceScope:
    """The workspace scope the API guard resolved."""
    scope: WorkspaceScope = request.state.scope
    return scope


def current_staff(connection: ASGIConnection[Any, Any, Any, Any]) -> StaffIdentity | None:
    """The signed-in staff member, if any."""
    data = connection.session.get(SESSION_KEY) if connection.scope.get("session") else None
    if not isinstance(data, dict):
        return None
    try:
        return StaffIdentity(**data)
    except TypeError:
        return None


async def require_staff(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard for staff pages: a signed-in session of an account that still exists, with its current role.

    The role is read from the database on every request, so a removed or demoted person loses
    access at once rather than when their session ends. A session whose sign-in is older than
    `STAFF_SIGN_IN_LIFETIME` is over even if it was in use all along (each change of the session,
    such as the selection, would otherwise extend it for ever).
    """
    staff = current_staff(connection)
    if staff is not None and utcnow().timestamp() - staff.signed_in_at > STAFF_SIGN_IN_LIFETIME:
        connection.clear_session()
        staff = None
    row = (
        await StaffUser.select(StaffUser.role).where(StaffUser.id == uuid.UUID(staff.staff_id)).first()
        if staff
        else None
    )
    if staff is None or row is None:
        raise NotAuthorizedException("Sign in to continue.")
    connection.state.staff = msgspec.structs.replace(staff, role=row["role"])


async def provide_staff(request: Request[Any, Any, Any]) -> StaffIdentity:
    """The signed-in staff member as the guard found them."""
    staff: StaffIdentity = request.state.staff
    return staff


async def provide_staff_scope(request: Request[Any, Any, Any]) -> WorkspaceScope:
    """The workspace of the signed-in staff member."""
    staff = await provide_staff(request)
    return WorkspaceScope(workspace_id=uuid.UUID(staff.workspace_id))
