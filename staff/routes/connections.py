"""Connections page: connect Xero or QuickBooks, sync now, payment account, disconnect."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from core.errors import DomainError, Forbidden
from core.scope import WorkspaceScope
from jobs.ledger import enqueue_sync
from ledger.connections import active_connection, disconnect, list_connections, set_payment_account, start_connection
from staff.schemas import StaffIdentity

NOTICES = {
    "sync": "Sync queued. New and changed invoices appear within a minute.",
    "account": "Payment account saved.",
    "disconnected": "Disconnected. Invoices already imported stay; nothing new is imported.",
    "connected": "Connected. The first import is running.",
}


class ProviderForm(msgspec.Struct):
    """Which ledger to connect."""

    provider: str = ""


class AccountForm(msgspec.Struct):
    """The ledger account payments are recorded against."""

    payment_account_code: str = ""


def _require_admin(staff: StaffIdentity) -> None:
    if staff.role != "admin":
        raise Forbidden("Only an admin of this workspace can change ledger connections.")


async def _page(
    workspace: WorkspaceScope, staff: StaffIdentity, *, notice: str | None = None, error: str | None = None
) -> Template:
    connections = await list_connections(workspace)
    return Template(
        "staff/connections.html",
        context={"staff": staff, "connections": connections.items, "notice": notice, "error": error},
        status_code=400 if error else 200,
    )


@get("/connections")
async def connections_page(
    staff: NamedDependency[StaffIdentity], workspace: NamedDependency[WorkspaceScope], done: FromQuery[str] = ""
) -> Template:
    """Every connection with its sync status, errors and import report."""
    return await _page(workspace, staff, notice=NOTICES.get(done))


@post("/connections")
async def connect(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    state: State,
    data: Annotated[ProviderForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Template:
    """Start the consent at the provider."""
    _require_admin(staff)
    try:
        started = await start_connection(workspace, state.settings, data.provider)
    except DomainError as exc:
        return await _page(workspace, staff, error=" ".join([exc.message, *exc.fields.values()]))
    return Redirect(started.authorize_url, status_code=303)


@post("/connections/{connection_id:str}/sync")
async def sync(workspace: NamedDependency[WorkspaceScope], state: State, connection_id: FromPath[str]) -> Redirect:
    """Queue a sync now."""
    connection = await active_connection(workspace, connection_id)
    await enqueue_sync(state.queue, str(connection.id))
    return Redirect("/staff/connections?done=sync", status_code=303)


@post("/connections/{connection_id:str}/account")
async def payment_account(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    connection_id: FromPath[str],
    data: Annotated[AccountForm, Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect | Template:
    """Save the payment account code."""
    _require_admin(staff)
    try:
        await set_payment_account(workspace, connection_id, data.payment_account_code)
    except DomainError as exc:
        return await _page(workspace, staff, error=" ".join([exc.message, *exc.fields.values()]))
    return Redirect("/staff/connections?done=account", status_code=303)


@post("/connections/{connection_id:str}/disconnect")
async def disconnect_connection(
    staff: NamedDependency[StaffIdentity],
    workspace: NamedDependency[WorkspaceScope],
    state: State,
    connection_id: FromPath[str],
) -> Redirect:
    """Stop syncing and revoke our access at the provider."""
    _require_admin(staff)
    await disconnect(workspace, state.settings, connection_id)
    return Redirect("/staff/connections?done=disconnected", status_code=303)
