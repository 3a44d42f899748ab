"""`/api/v1/invoices/{id}/schedule`: collect from a saved card now or on a date."""

from __future__ import annotations

from litestar import Response, delete, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from core.openapi import api_errors
from core.scope import WorkspaceScope
from staff.schedules import ScheduleIn, ScheduleOut, cancel_collection, schedule_collection


@post(
    "/invoices/{invoice_id:str}/schedule",
    status_code=HTTP_201_CREATED,
    summary="Schedule collection from the client's saved payment method",
    responses=api_errors(400, 401, 404, 409, 422),
)
async def schedule_invoice_collection(
    workspace: NamedDependency[WorkspaceScope], state: State, invoice_id: FromPath[str], data: JSONBody[ScheduleIn]
) -> Response[ScheduleOut]:
    """`collect_on` null collects now; posting again reschedules. No saved method → 409; paid/voided → 422."""
    scheduled = await schedule_collection(workspace, state.stripe, state.queue, invoice_id, data, created_by="api")
    return Response(scheduled, status_code=HTTP_201_CREATED)


@delete(
    "/invoices/{invoice_id:str}/schedule",
    status_code=HTTP_204_NO_CONTENT,
    summary="Cancel a scheduled collection",
    responses=api_errors(400, 401, 404, 409),
)
async def cancel_invoice_collection(workspace: NamedDependency[WorkspaceScope], invoice_id: FromPath[str]) -> None:
    """Cancels while the collection is not yet being processed (then 409)."""
    await cancel_collection(workspace, invoice_id, cancelled_by="api")
