"""Workspaces worth fuzzing: a Xero connection, clients, invoices in several states, a request and a saved card."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from litestar import Litestar
from piccolo.table import Table

from core.tables import Activity
from ledger.tables import Client, Invoice, LedgerConnection
from portal.tables import Payment, PaymentAllocation, PaymentRequest, ScheduledCollection
from tests.collection_helpers import firm_with_card_factory
from tests.conftest import WorkspaceFactory, XeroStandIn
from tests.factories import make_client, make_invoice, make_request
from tests.helpers import auth, json_of
from tests.stripe_harness import LocalStripe

_STATES = ("outstanding", "outstanding", "paid", "voided")


@dataclass(frozen=True)
class SeededWorkspace:
    """A workspace's token, its object ids by kind, and the values that must never show up elsewhere."""

    workspace_id: str
    token: str
    ids: dict[str, list[str]]
    secrets: frozenset[str]


async def seed_workspace(
    http: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    xero: XeroStandIn,
    stripe_stand_in: LocalStripe,
    app: Litestar,
    *,
    label: str,
) -> SeededWorkspace:
    """A Xero-connected firm whose client saved a card, plus clients and invoices with distinctive values.

    Names, emails and amounts are unique to this workspace (the label and random digits), so finding
    one in another workspace's answer is a leak, not a coincidence.
    """
    firm = await (await firm_with_card_factory(http, workspaces, xero, stripe_stand_in, app))("4242424242424242")
    workspace_id = str(firm.invoice.workspace)
    rng = random.Random(label)
    secrets: set[str] = {workspace_id, str(firm.client.email)}
    invoices: list[Invoice] = []
    for n in range(3):
        suffix = uuid.uuid4().hex[:6]
        # The first batch is owed by the client with the saved card, so collections can be scheduled.
        customer = firm.client
        if n:
            customer = await make_client(
                workspace_id, name=f"{label} Holdings {suffix}", email=f"ap-{suffix}@{label.lower()}.example"
            )
            secrets |= {customer.name, str(customer.email)}
        for state in _STATES:
            amount = rng.randrange(1_000_003, 9_999_999)
            invoices.append(
                await make_invoice(
                    workspace_id,
                    customer,
                    number=f"{label[:3].upper()}-{suffix}-{len(invoices)}",
                    currency="JPY" if n == 2 else "USD",
                    amount_due=amount,
                    due_date=dt.date(2027, 1, 1) + dt.timedelta(days=len(invoices)),
                    status=state,
                )
            )
            secrets |= {str(amount), invoices[-1].number}
        await make_request(workspace_id, customer, [inv for inv in invoices[-len(_STATES) :] if inv.status != "paid"])
    connections = json_of((await http.get("/api/v1/ledger-connections", headers=auth(firm.token))).content)["items"]
    methods = await app.state.stripe.list_payment_methods(firm.client.stripe_customer_id)
    ids = {
        "clients": await _ids(Client, workspace_id),
        "invoices": await _ids(Invoice, workspace_id),
        "requests": await _ids(PaymentRequest, workspace_id),
        "connections": [item["id"] for item in connections],
        "payment_methods": [method.id for method in methods],
    }
    secrets |= {value for kind in ids.values() for value in kind}
    secrets |= {item["tenant_id"] for item in connections} | {item["tenant_name"] for item in connections}
    return SeededWorkspace(workspace_id=workspace_id, token=firm.token, ids=ids, secrets=frozenset(secrets))


async def _ids(table: type[Table], workspace_id: str) -> list[str]:
    rows = await table.select(table.id).where(table.workspace == uuid.UUID(workspace_id))  # type: ignore[attr-defined]
    return [str(row["id"]) for row in rows]


SNAPSHOT_TABLES: tuple[type[Table], ...] = (
    Client,
    Invoice,
    LedgerConnection,
    PaymentRequest,
    ScheduledCollection,
    Payment,
    PaymentAllocation,
    Activity,
)
"""What a workspace owns and a foreign or unsigned call must not change."""

_VOLATILE = frozenset({"last_synced_at", "import_report"})
"""Columns the app's own scheduled sync (every 15 minutes, every connection) rewrites during a long run."""


async def workspace_snapshot(workspace_id: str, tables: Iterable[type[Table]] = SNAPSHOT_TABLES) -> dict[str, Any]:
    """Every row the workspace owns in `tables`, in a stable order, for before/after comparison."""
    snapshot: dict[str, Any] = {}
    for table in tables:
        owner = PaymentAllocation.payment.workspace if table is PaymentAllocation else table.workspace  # type: ignore[attr-defined]
        rows = await table.select().where(owner == uuid.UUID(workspace_id)).order_by(table.id)  # type: ignore[attr-defined]
        snapshot[table._meta.tablename] = [
            {key: value for key, value in row.items() if key not in _VOLATILE} for row in rows
        ]
    return snapshot


def snapshot_changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What differs between two snapshots: rows added or removed, and the columns changed, per table."""
    changes: list[str] = []
    for table in sorted(set(before) | set(after)):
        old = {row["id"]: row for row in before.get(table, [])}
        new = {row["id"]: row for row in after.get(table, [])}
        changes += [f"{table} {row_id}: added {new[row_id]}" for row_id in new.keys() - old.keys()]
        changes += [f"{table} {row_id}: removed" for row_id in old.keys() - new.keys()]
        for row_id in old.keys() & new.keys():
            changed = {
                key: (old[row_id][key], new[row_id][key])
                for key in old[row_id]
                if old[row_id][key] != new[row_id].get(key)
            }
            if changed:
                changes.append(f"{table} {row_id}: {changed}")
    return changes
