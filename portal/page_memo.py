"""Reloads of an unchanged request page are answered from memory, without rendering it again.

A client's request page is a pure function of a few inputs: the rows of its one query (the request, its
firm, its client and every invoice), the browser's cookies (who is signed in, and the CSRF token written
into the page for htmx) and today's date (an invoice turns overdue at midnight UTC). `RequestPageMemo`
reads those rows itself, on every request, and keys the finished answer on all of those inputs. A reload
whose inputs are all unchanged gets the bytes the handler produced the first time; any change (a payment,
a sync, a revocation, a new day, another browser) is a different key, so there is nothing to invalidate,
in this process or any other. The handler is handed the rows that were read, so a kept page is exactly the
one for its key.

Only what the handler answered 200 to, for these very cookies, is kept, so its checks (a signed-in
session, the request belongs to that client and is not withdrawn) held for it; the rows, in the key, still
say the same. A kept answer is used only until the session it was rendered for ends. Never kept: an
answer that sets a cookie (a first visit gets its CSRF cookie from the handler), or a page with a payment
in progress (showing it may release an abandoned 3-D Secure attempt, which must happen on the request).
Security headers are added on the way out to every answer, kept or not.

Litestar's own response cache was not enough: its key comes from the request alone (a synchronous key
builder), and entries live until they expire, so a page could not be keyed on what its query returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from cachetools import LRUCache
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from core.clock import utcnow
from core.db import Row, row_values
from core.errors import NotFound
from portal.services import request_page_rows
from portal.sessions import ClientSessions

PAGE_ROWS = "portal.page_rows"
"""Key in the scope's state: the page's rows as the memo read them, for the handler to render."""
MEMORY_BYTES = 8 * 1024 * 1024
"""Pages kept per process, by size: about 1,300 of a typical 6 KB; least recently used go first."""
LARGEST_PAGE = 256 * 1024
"""A page bigger than this (hundreds of invoices) is rendered every time rather than crowd out the rest."""


class _Kept(NamedTuple):
    """An answer that may be replayed: its start message's headers and its body, until the session ends."""

    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    session_ends: float
    """Unix seconds."""


def _size(kept: _Kept) -> int:
    return len(kept.body) + sum(len(name) + len(value) for name, value in kept.headers) + 200


class RequestPageMemo:
    """ASGI middleware for the request page's route (inside the app's own, outside CSRF and the handler)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._answers: LRUCache[tuple[Any, ...], _Kept] = LRUCache(maxsize=MEMORY_BYTES, getsizeof=_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from memory when every input of the page is as it was; else render and maybe keep."""
        key = await self._key(scope)
        if key is None:
            await self.app(scope, receive, send)
            return
        kept = self._answers.get(key)
        if kept is not None and utcnow().timestamp() < kept.session_ends:
            start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 200, "headers": [*kept.headers]}
            await send(start)
            await send({"type": "http.response.body", "body": kept.body, "more_body": False})
            return
        recorder = _Recorder(send)
        await self.app(scope, receive, recorder.send)
        sessions: ClientSessions = scope["app"].state.client_sessions
        session_ends = sessions.ends_at(ASGIConnection(scope))
        answer = recorder.answer()
        if answer is not None and session_ends is not None and len(answer[1]) <= LARGEST_PAGE:
            self._answers[key] = _Kept(*answer, session_ends=session_ends)

    async def _key(self, scope: Scope) -> tuple[Any, ...] | None:
        """Every input of the page, or None when the handler must answer (no cookies, a payment under way...)."""
        if scope["type"] != ScopeType.HTTP or scope["method"] != "GET" or scope["query_string"]:
            return None
        cookies = tuple(bytes(value) for name, value in scope["headers"] if name == b"cookie")
        if not cookies:
            return None
        request_id = scope["path_params"]["request_id"]
        try:
            rows = await request_page_rows(request_id)
        except NotFound:
            return None
        scope["state"][PAGE_ROWS] = rows
        if any(row["status"] == "processing" for row in rows):
            return None
        return (request_id, cookies, utcnow().date(), _frozen(rows))


def _frozen(rows: Sequence[Row]) -> tuple[tuple[Any, ...], ...]:
    """The rows as a hashable value that compares equal exactly when every column does."""
    return tuple(row_values(row) for row in rows)


class _Recorder:
    """Passes the handler's answer on and keeps a copy, as it was before the app's `before_send` hooks."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._status = 0
        self._headers: tuple[tuple[bytes, bytes], ...] = ()
        self._body: list[bytes] = []
        self._complete = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._status = message["status"]
            self._headers = tuple((bytes(name), bytes(value)) for name, value in message.get("headers", ()))
        elif message["type"] == "http.response.body":
            self._body.append(message.get("body", b""))
            self._complete = not message.get("more_body", False)
        await self._send(message)

    def answer(self) -> tuple[tuple[tuple[bytes, bytes], ...], bytes] | None:
        """The answer's headers and body, if it may be replayed: a complete 200 that sets no cookie."""
        if self._status != 200 or not self._complete:
            return None
        if any(name.lower() == b"set-cookie" for name, _ in self._headers):
            return None
        return self._headers, b"".join(self._body)
