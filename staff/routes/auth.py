"""Sign in and out."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.datastructures import State
from litestar.enums import RequestEncodingType
from litestar.params import Body, QueryParameter
from litestar.response import Redirect, Template

from core.errors import NotAuthenticated, Throttled
from core.sessions import start_session
from staff.deps import SESSION_KEY, current_staff
from staff.services import SignIn


class LoginForm(msgspec.Struct):
    """The sign-in form's fields."""

    email: str = ""
    password: str = ""
    next: str = ""


def safe_next(target: str | None) -> str:
    """Only same-site staff paths are followed after sign-in (no open redirects)."""
    if target and target.startswith("/staff/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/staff/collections"


@get("/", sync_to_thread=False)
def root_redirect() -> Redirect:
    """The bare origin leads staff to their workspace."""
    return Redirect("/staff/collections", status_code=303)


@get("/staff/login")
async def login_form(
    request: Request[Any, Any, Any], next_path: Annotated[str | None, QueryParameter(name="next")] = None
) -> Template | Redirect:
    """The sign-in form; already signed-in staff go straight on."""
    if current_staff(request) is not None:
        return Redirect(safe_next(next_path), status_code=303)
    return Template("staff/login.html", context={"next": safe_next(next_path), "email": "", "error": None})


@post("/staff/login")
async def login_submit(
    request: Request[Any, Any, Any],
    state: State,
    data: Annotated[LoginForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Template | Redirect:
    """Check the password (throttled), start a fresh session and go to Collections."""
    client_ip = request.client.host if request.client else "unknown"
    try:
        staff = await SignIn(state.rate_limits).authenticate(
            email=data.email, password=data.password, client_ip=client_ip
        )
    except (NotAuthenticated, Throttled) as exc:
        response = Template(
            "staff/login.html",
            context={"next": safe_next(data.next), "email": data.email, "error": exc.message},
            status_code=exc.status_code,
        )
        if isinstance(exc, Throttled):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    start_session(request, {SESSION_KEY: msgspec.to_builtins(staff)})  # a new session id: no fixation
    return Redirect(safe_next(data.next), status_code=303)


@post("/logout")
async def logout(request: Request[Any, Any, Any]) -> Redirect:
    """End the session."""
    request.clear_session()
    return Redirect("/staff/login", status_code=303)
