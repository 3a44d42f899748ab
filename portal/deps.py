"""The client's session: who is signed in through a magic link (a signed cookie, `portal/sessions.py`)."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler

from portal.schemas import ClientSession
from portal.services import ensure_session_open
from portal.sessions import ClientSessions


def current_client(connection: ASGIConnection[Any, Any, Any, Any]) -> ClientSession | None:
    """The client of this browser session, if a magic link was opened and the session has not ended."""
    sessions: ClientSessions = connection.app.state.client_sessions
    return sessions.of(connection)


async def require_client(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Portal pages need a client session; without one they do not exist (404, nothing revealed)."""
    if current_client(connection) is None:
        raise NotFoundException("Open the link from your email to see your invoices.")


async def provide_client(request: Request[Any, Any, Any]) -> ClientSession:
    """The signed-in client (the guard has checked there is one)."""
    client = current_client(request)
    assert client is not None
    return client


async def require_open_session(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A client session whose request the firm has not withdrawn: revoking a link ends every page it opened."""
    client = current_client(connection)
    if client is None:
        raise NotFoundException("Open the link from your email to see your invoices.")
    await ensure_session_open(client)
