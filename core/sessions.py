"""Server-side sessions (Litestar's), written only when they change.

Litestar's backend writes the session back to the store and sends its cookie again after every
response, even when nothing changed, and it stores an empty session for every visitor without one
(each 404, each expired link). Here a response stores and sends the session only when its data
differs from what the request loaded. A session's row and its cookie therefore last 12 hours
from its last change, and a visitor gets a session only once there is something in it.

Nothing is cached between requests: every request still loads its session from the store, so a
session deleted there (sign-out, expiry, purge) is gone at once, in every process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty, Message, ScopeSession

_LOADED = "portal.session_loaded"
"""Key in the scope's state: the session's stored bytes as this request loaded them."""


class UnchangedSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side backend that leaves an unchanged session, and an empty new one, alone."""

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        """The session named by the cookie, remembering its stored form for `store_in_message`."""
        if session_id := connection.cookies.get(self.config.key):
            store = self.config.get_store_from_app(connection.scope["app"])
            data = await self.get(session_id, store=store)
            if data is not None:
                connection.scope["state"][_LOADED] = data
                return self.deserialize_data(data)
        return {}

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        """Store the session and set its cookie, unless it is as loaded (or empty, and nothing was loaded)."""
        if scope_session is not Empty:
            loaded: bytes | None = connection.scope["state"].get(_LOADED)
            if loaded is None and not scope_session:
                return
            if loaded is not None and self.serialize_data(scope_session, connection.scope) == loaded:
                return
        await super().store_in_message(scope_session, message, connection)


@dataclass
class SessionConfig(ServerSideSessionConfig):
    """`ServerSideSessionConfig` with `UnchangedSessionBackend`."""

    _backend_class = UnchangedSessionBackend
