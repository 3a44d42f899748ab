"""`/api/v1/clients`."""

from __future__ import annotations

from litestar import get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath

from core.openapi import api_errors
from core.scope import WorkspaceScope
from ledger.schemas import ClientDetailOut
from ledger.services import client_detail


@get(
    "/clients/{client_id:str}", summary="A client and their saved payment methods", responses=api_errors(400, 401, 404)
)
async def get_client(
    workspace: NamedDependency[WorkspaceScope], state: State, client_id: FromPath[str]
) -> ClientDetailOut:
    """One client of this workspace; another workspace's id is 404."""
    return await client_detail(workspace, client_id, state.stripe)
