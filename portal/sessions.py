"""The client's portal session: a signed cookie, checked without a database read.

Opening a magic link gives the browser a cookie naming the request, its client and workspace, and
when the session ends (12 hours on, or the link's own expiry if sooner), signed with a key derived
from the app's secret key. A portal page trusts the cookie only for *who* is asking; what they may
see is still decided by the page's own query, which answers 404 for another client's request and
for a revoked one. So revoking a request ends its open sessions at once, in every process, with no
session store to read on every page: the page query was made anyway.

Staff sessions stay server-side (`core/sessions.py`): they carry roles and a selection that change.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any, NamedTuple

import msgspec
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from core.clock import utcnow
from core.security import Signer
from portal.schemas import ClientSession

COOKIE = "portal_client"
LIFETIME = dt.timedelta(hours=12)
"""A session lasts this long from the opening of its link, and never past the link's expiry."""
VERIFIED_COOKIES = 4096
"""Cookie values whose signature stays checked, per process (about 1 MB)."""
_STATE_KEY = "portal.client"
"""Key in the scope's state: the session this request's cookie verified to (the guard reads it, DI reuses it)."""


class _Signed(msgspec.Struct, array_like=True, frozen=True):
    """What the cookie carries: the session and when it ends (Unix seconds)."""

    request_id: str
    client_id: str
    workspace_id: str
    expires: int


class _Verified(NamedTuple):
    """A cookie whose signature checked out: who it signs in, and until when (Unix seconds)."""

    session: ClientSession
    expires: int


class ClientSessions:
    """Issues and verifies client session cookies for one secret key."""

    def __init__(self, secret_key: str, *, secure: bool) -> None:
        self._signer = Signer(secret_key, "client-session")
        self._secure = secure
        # A browser sends the same cookie on every page: its signature is checked once, its end on every request.
        self._decoded = functools.lru_cache(maxsize=VERIFIED_COOKIES)(self._decode)

    def cookie(self, session: ClientSession, *, link_expires_at: dt.datetime) -> Cookie:
        """The HttpOnly, SameSite=Lax (Secure on https) cookie that signs `session` in."""
        now = utcnow()
        ends = min(now + LIFETIME, link_expires_at)
        signed = _Signed(session.request_id, session.client_id, session.workspace_id, int(ends.timestamp()))
        return Cookie(
            key=COOKIE,
            value=self._signer.sign(msgspec.msgpack.encode(signed)),
            max_age=max(int((ends - now).total_seconds()), 0),
            path="/",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )

    def verify(self, value: str | None) -> ClientSession | None:
        """The session a cookie value stands for, or None: missing, tampered with, signed elsewhere or ended."""
        signed = self._decoded(value) if value else None
        if signed is None or signed.expires <= utcnow().timestamp():
            return None
        return signed.session

    def _decode(self, value: str) -> _Verified | None:
        """What a cookie value says, if this app signed it (the same text always verifies the same way)."""
        raw = self._signer.unsign(value)
        if raw is None:
            return None
        try:
            signed = msgspec.msgpack.decode(raw, type=_Signed)
        except msgspec.DecodeError:
            return None
        session = ClientSession(
            request_id=signed.request_id, client_id=signed.client_id, workspace_id=signed.workspace_id
        )
        return _Verified(session, signed.expires)

    def of(self, connection: ASGIConnection[Any, Any, Any, Any]) -> ClientSession | None:
        """The client signed in on this request, verified once per request."""
        state = connection.scope["state"]
        if _STATE_KEY not in state:
            state[_STATE_KEY] = self.verify(connection.cookies.get(COOKIE))
        session: ClientSession | None = state[_STATE_KEY]
        return session

    def ends_at(self, connection: ASGIConnection[Any, Any, Any, Any]) -> int | None:
        """When the session signed in on this request ends (Unix seconds), or None without a live one."""
        value = connection.cookies.get(COOKIE)
        signed = self._decoded(value) if value else None
        return signed.expires if signed is not None and signed.expires > utcnow().timestamp() else None
