"""Firms for the fault tests: a Xero organisation with many clients, imported, and a bulk send."""

from __future__ import annotations

import dataclasses
import uuid
from collections import Counter
from dataclasses import dataclass

import httpx
from saq.queue import Queue

from core.scope import WorkspaceScope
from ledger.sandbox.seed import SeedData
from ledger.tables import Client, Invoice, LedgerConnection
from portal.tables import PaymentRequest
from staff.payment_requests import send_requests
from staff.request_schemas import PaymentRequestCreate, SendOut
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.helpers import auth
from tests.integration.test_ledger_xero import connected_workspace
from tests.ledger_helpers import recent_invoices
from tests.mailcatcher import Catcher


@dataclass(frozen=True)
class XeroFirm:
    """A workspace connected to its own Xero organisation, with the invoices the first sync imported."""

    token: str
    workspace_id: uuid.UUID
    connection_id: str
    tenant_id: str
    invoices: list[Invoice]

    async def emails(self) -> set[str]:
        """The addresses of the firm's clients."""
        rows = await Client.select(Client.email).where(Client.workspace == self.workspace_id)
        return {row["email"] for row in rows if row["email"]}


async def xero_firm(
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    *,
    invoices: int,
    clients: int | None = None,
    seed: int = 5,
) -> XeroFirm:
    """A firm whose Xero book has `invoices` unpaid invoices, each client with an address unique to this test."""
    tenant = xero.sandbox.add_tenant(f"Faults {uuid.uuid4().hex[:6]}")
    data = recent_invoices(invoices, xero.sandbox.clock.today(), seed=seed, clients=clients)
    people = tuple(dataclasses.replace(c, email=f"faults-{uuid.uuid4().hex[:8]}@client.example") for c in data.clients)
    xero.sandbox.load_seed(tenant.tenant_id, SeedData(people, data.invoices))
    token, connection = await connected_workspace(client, workspaces, xero, tenant)
    await client.patch(
        f"/api/v1/ledger-connections/{connection['id']}", json={"payment_account_code": "090"}, headers=auth(token)
    )
    row = await LedgerConnection.objects().where(LedgerConnection.id == uuid.UUID(connection["id"])).first()
    assert row is not None
    imported = await Invoice.objects().where(Invoice.connection == row.id)
    assert len(imported) == invoices
    return XeroFirm(token, row.workspace, connection["id"], tenant.tenant_id, imported)


async def bulk_send(firm: XeroFirm, queue: Queue) -> SendOut:
    """Staff select every invoice and send: the API's own service, queuing on `queue`."""
    return await send_requests(
        WorkspaceScope(firm.workspace_id),
        queue,
        PaymentRequestCreate(invoice_ids=[str(invoice.id) for invoice in firm.invoices], mode="send"),
        lifetime_days=30,
        created_by="api",
    )


async def request_statuses(sent: SendOut) -> Counter[str]:
    """How many of the batch's requests are in each status."""
    rows = await PaymentRequest.select(PaymentRequest.status).where(PaymentRequest.batch_id == sent.batch_id)
    return Counter(row["status"] for row in rows)


def delivered(catcher: Catcher, addresses: set[str]) -> Counter[str]:
    """Messages each address received."""
    return Counter({address: len(catcher.to(address)) for address in addresses})
