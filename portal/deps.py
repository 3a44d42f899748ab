"""The client's session: who is signed in through a magic link."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler

from portal.schemas import ClientSession

SESSION_KEY = "client"


def current_client(connection: ASGIConnection[Any, Any, Any, Any]) -> ClientSession | None:
    """The client of this browser session, if a magic link was opened."""
    data = connection.session.get(SESSION_KEY) if connection.scope.get("session") else None
    if not isinstance(data, dict):
        return None
    try:
        return ClientSession(**data)
    except TypeError:
        return None


async def require_client(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Portal pages need a client session; without one they do not exist (404, nothing revealed)."""
    if current_client(connection) is None:
        raise NotFoundException("Open the link from your email to see your invoices.")


async def provide_client(request: Request[Any, Any, Any]) -> ClientSession:
    """The signed-in client (the guard has checked there is one)."""
    client = current_client(request)
    assert client is not None
    return client
