"""Server-side sessions (Litestar's), written only when they change.

Litestar's backend writes the session back to the store and sends its cookie again after every
response, even when nothing changed, and it stores an empty session for every visitor without one
(each 404, each expired link). Here a response stores and sends the session only when its data
differs from what the request loaded. A session's row and its cookie therefore last 12 hours
from its last change, and a visitor gets a session only once there is something in it.

Nothing is cached between requests: every request still loads its session from the store, so a
session deleted there (sign-out, expiry, purge) is gone at once, in every process.

Signing in (staff password, client magic link) calls `start_session`, which stores the new session
under a fresh random id and deletes the old one: Litestar's backend would otherwise keep the id the
browser presented, so an id planted before sign-in (session fixation) would become signed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.types import Empty, Message, ScopeSession

_LOADED = "portal.session_loaded"
"""Key in the scope's state: the session's stored bytes as this request loaded them."""
_FRESH_ID = "portal.session_fresh_id"
"""Key in the scope's state: the new session id `start_session` asked for."""


def start_session(connection: ASGIConnection[Any, Any, Any, Any], data: dict[str, Any]) -> None:
    """Replace the session with `data` under a new id (on sign-in); the id the browser had stops working."""
    connection.scope["state"][_FRESH_ID] = None  # The backend draws the id when it stores the session.
    connection.set_session(data)


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

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        """The browser's session id, or a fresh one after `start_session`."""
        state = connection.scope["state"]
        if _FRESH_ID in state:
            if state[_FRESH_ID] is None:
                state[_FRESH_ID] = self.generate_session_id()
            fresh: str = state[_FRESH_ID]
            return fresh
        return super().get_session_id(connection)

    async def store_in_message(
        self, scope_session: ScopeSession, message: Message, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> None:
        """Store the session and set its cookie, unless it is as loaded (or empty, and nothing was loaded)."""
        if _FRESH_ID in connection.scope["state"]:
            presented = connection.cookies.get(self.config.key)
            if presented and presented != "null":
                await self.delete(presented, store=self.config.get_store_from_app(connection.scope["app"]))
            await super().store_in_message(scope_session, message, connection)
            return
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
