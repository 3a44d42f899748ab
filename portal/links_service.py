"""Fresh links on a client's request: only ever sent to the address the ledger has."""

from __future__ import annotations

from piccolo.columns.combination import WhereRaw
from saq.queue import Queue

from core.scope import WorkspaceScope
from core.security import token_digest
from ledger.tables import Client
from portal.tables import PaymentRequest
from staff.payment_requests import link_lifetime_days, resend_request

MAX_REQUESTS_PER_EMAIL = 5


async def request_fresh_link(queue: Queue, *, token: str, email: str) -> int:
    """Resend the request a dead link belonged to, or the latest requests of clients with this email."""
    requests: list[PaymentRequest] = []
    if token:
        found = await PaymentRequest.objects().where(PaymentRequest.token_hash == token_digest(token)).first()
        requests = [found] if found else []
    elif email.strip():
        # Exact address, any case: never a pattern (a "%" must not match everyone).
        clients = await Client.select(Client.id).where(WhereRaw("lower(email) = {}", email.strip().lower()))
        if clients:
            requests = (
                await PaymentRequest.objects()
                .where(PaymentRequest.client.is_in([row["id"] for row in clients]))
                .order_by(PaymentRequest.created_at, ascending=False)
                .limit(MAX_REQUESTS_PER_EMAIL)
            )
    sent = 0
    for request in requests:
        lifetime = await link_lifetime_days(WorkspaceScope(workspace_id=request.workspace))
        if await resend_request(queue, request.id, lifetime_days=lifetime):
            sent += 1
    return sent
