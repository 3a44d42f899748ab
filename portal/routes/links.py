"""Magic links: `/p/{token}` signs the client in; a dead link offers a fresh one."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from core.errors import NotFound, Throttled
from core.security import token_digest
from core.store import RateLimiter
from portal.links_service import request_fresh_link
from portal.services import LinkGone, open_link
from portal.sessions import ClientSessions


class FreshLinkForm(msgspec.Struct):
    """The dead-link page's form: the token it came from, or an email address."""

    token: str = ""
    email: str = ""


def _dead_link_page(token: str, *, status: int, sent: bool = False) -> Template:
    return Template(
        "portal/link_dead.html",
        context={"token": token, "sent": sent, "expired": status == 410},
        status_code=status,
    )


@get("/p/{token:str}")
async def magic_link(request: Request[Any, Any, Any], state: State, token: FromPath[str]) -> Redirect | Template:
    """Valid: start the client session and go to the request's page. Otherwise a page with no invoice data."""
    client_ip = request.client.host if request.client else "unknown"
    try:
        opened = await open_link(token, ip=client_ip, user_agent=request.headers.get("user-agent", ""))
    except NotFound:
        return _dead_link_page(token, status=404)
    except LinkGone:
        return _dead_link_page(token, status=410)
    # A fresh signed cookie, whatever the browser sent: a value planted before (fixation) stays what it was.
    sessions: ClientSessions = state.client_sessions
    return Redirect(
        f"/portal/requests/{opened.session.request_id}",
        status_code=303,
        cookies=[sessions.cookie(opened.session, link_expires_at=opened.link_expires_at)],
    )


@post("/p/fresh-link")
async def fresh_link(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[FreshLinkForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template:
    """Email a new link to the address on file; the answer is the same whether or not anything was found."""
    limiter = RateLimiter(state.rate_limits, limit=5, window_seconds=3600)
    client_ip = request.client.host if request.client else "unknown"
    keys = [f"fresh-link:ip:{client_ip}", f"fresh-link:{token_digest(data.token or data.email.lower())}"]
    wait = max([await limiter.retry_after(key) for key in keys])
    if wait:
        raise Throttled(f"Too many requests for a new link. Try again in {wait // 60 + 1} minutes.", retry_after=wait)
    for key in keys:
        await limiter.hit(key)
    await request_fresh_link(state.queue, token=data.token, email=data.email)
    return _dead_link_page(data.token, status=200, sent=True)
