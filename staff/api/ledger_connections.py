"""`/api/v1/ledger-connections`."""

from __future__ import annotations

from litestar import get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from core.openapi import api_errors
from core.scope import WorkspaceScope
from jobs.ledger import enqueue_sync
from ledger.connections import active_connection, list_connections, set_payment_account, start_connection
from ledger.schemas import (
    ConnectionCreate,
    ConnectionList,
    ConnectionOut,
    ConnectionPatch,
    ConnectionStarted,
    JobQueued,
)


@post(
    "/ledger-connections",
    status_code=201,
    summary="Start connecting Xero or QuickBooks",
    responses=api_errors(400, 401, 422),
)
async def create_connection(
    workspace: NamedDependency[WorkspaceScope], state: State, data: JSONBody[ConnectionCreate]
) -> ConnectionStarted:
    """A pending connection; open `authorize_url` in a browser to consent."""
    return await start_connection(workspace, state.settings, data.provider)


@get("/ledger-connections", summary="Ledger connections and their sync status", responses=api_errors(401))
async def get_connections(workspace: NamedDependency[WorkspaceScope]) -> ConnectionList:
    """Every connection of the workspace."""
    return await list_connections(workspace)


@patch(
    "/ledger-connections/{connection_id:str}",
    summary="Set the payment account",
    responses=api_errors(400, 401, 404, 422),
)
async def update_connection(
    workspace: NamedDependency[WorkspaceScope], connection_id: FromPath[str], data: JSONBody[ConnectionPatch]
) -> ConnectionOut:
    """The ledger account collected payments are recorded against."""
    return await set_payment_account(workspace, connection_id, data.payment_account_code)


@post(
    "/ledger-connections/{connection_id:str}/sync",
    status_code=202,
    summary="Sync now",
    responses=api_errors(400, 401, 404, 422),
)
async def sync_now(workspace: NamedDependency[WorkspaceScope], state: State, connection_id: FromPath[str]) -> JobQueued:
    """Queue a sync (one per connection at a time)."""
    connection = await active_connection(workspace, connection_id)
    return JobQueued(job_id=await enqueue_sync(state.queue, str(connection.id)))
