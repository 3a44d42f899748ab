"""`/api/v1/payment-requests`."""

from __future__ import annotations

from litestar import Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from core.openapi import api_errors
from core.scope import WorkspaceScope
from staff.payment_requests import link_lifetime_days, preview_requests, request_detail, revoke_request, send_requests
from staff.request_schemas import PaymentRequestCreate, PaymentRequestOut, PreviewOut, SendOut


@post(
    "/payment-requests",
    status_code=HTTP_202_ACCEPTED,
    summary="Preview or send payment requests (one email per client)",
    responses={
        HTTP_200_OK: ResponseSpec(PreviewOut, generate_examples=False, description="`preview`: the emails, unsent"),
        HTTP_202_ACCEPTED: ResponseSpec(SendOut, generate_examples=False, description="`send`: the queued requests"),
        **api_errors(400, 401, 422),
    },
)
async def create_payment_requests(
    workspace: NamedDependency[WorkspaceScope], state: State, data: JSONBody[PaymentRequestCreate]
) -> Response[PreviewOut | SendOut]:
    """`preview` returns the emails and stores nothing; `send` queues them and answers 202."""
    if data.mode == "preview":
        preview = await preview_requests(workspace, state.ledger, state.settings.base_url, data)
        return Response(preview, status_code=HTTP_200_OK)
    lifetime = await link_lifetime_days(workspace)
    sent = await send_requests(workspace, state.queue, data, lifetime_days=lifetime, created_by="api")
    return Response(sent, status_code=HTTP_202_ACCEPTED)


@get(
    "/payment-requests/{request_id:str}",
    summary="A payment request and its delivery status",
    responses=api_errors(400, 401, 404),
)
async def get_payment_request(
    workspace: NamedDependency[WorkspaceScope], request_id: FromPath[str]
) -> PaymentRequestOut:
    """Status: queued, sent, failed, revoked or paid; when the link expires and was opened."""
    return await request_detail(workspace, request_id)


@post(
    "/payment-requests/{request_id:str}/revoke",
    status_code=200,
    summary="Kill a payment request's link",
    responses=api_errors(400, 401, 404, 422),
)
async def revoke_payment_request(
    workspace: NamedDependency[WorkspaceScope], request_id: FromPath[str]
) -> PaymentRequestOut:
    """The emailed link stops working at once."""
    return await revoke_request(workspace, request_id)
