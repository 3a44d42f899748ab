"""Fresh links on a client's request: only ever sent to the address the ledger has."""

from __future__ import annotations

from saq.queue import Queue

from core.security import token_digest
from core.tables import Workspace
from ledger.tables import Client
from portal.tables import PaymentRequest
from staff.payment_requests import resend_request

MAX_REQUESTS_PER_EMAIL = 5


async def request_fresh_link(queue: Queue, *, token: str, email: str) -> int:
    """Resend the request a dead link belonged to, or the latest requests of clients with this email."""
    requests: list[PaymentRequest] = []
    if token:
        found = await PaymentRequest.objects().where(PaymentRequest.token_hash == token_digest(token)).first()
        requests = [found] if found else []
    elif email.strip():
        clients = await Client.select(Client.id).where(Client.email.ilike(email.strip()))
        if clients:
            requests = (
                await PaymentRequest.objects()
                .where(PaymentRequest.client.is_in([row["id"] for row in clients]))
                .order_by(PaymentRequest.created_at, ascending=False)
                .limit(MAX_REQUESTS_PER_EMAIL)
            )
    sent = 0
    for request in requests:
        workspace = (
            await Workspace.select(Workspace.link_lifetime_days).where(Workspace.id == request.workspace).first()
        )
        if await resend_request(queue, request.id, lifetime_days=workspace["link_lifetime_days"] if workspace else 30):
            sent += 1
    return sent
