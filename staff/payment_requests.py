"""Payment requests: validate a selection, preview the emails, queue them, look them up, revoke them."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import msgspec
from piccolo.columns import Varchar
from piccolo.query.functions import Cast
from saq.queue import Queue

from core.clock import as_utc, utcnow
from core.db import insert_rows, uuid_in, write_transaction
from core.errors import Invalid
from core.scope import WorkspaceScope
from core.tables import Activity, Workspace
from jobs.requests import enqueue_delivery, enqueue_redelivery
from ledger.clients import LedgerContext
from ledger.pdfs import PdfUnavailable
from ledger.schemas import CurrencyTotal
from ledger.tables import Invoice
from portal.links import link_expiry, link_url, new_link_token
from portal.tables import PaymentRequest, PaymentRequestInvoice
from staff.request_emails import InvoiceLine, check_placeholders, compose, firm_of, invoice_attachments
from staff.request_schemas import (
    MAX_INVOICES,
    MAX_MESSAGE,
    MAX_SUBJECT,
    AttachmentOut,
    EmailPreview,
    PaymentRequestCreate,
    PaymentRequestOut,
    PaymentSettings,
    PreviewOut,
    RequestSummary,
    SendOut,
    SkippedClient,
)

PREVIEW_TOKEN = "preview-link-is-created-when-sent"  # noqa: S105 - a visible placeholder, not a secret
_REQUEST_COLUMNS = (
    PaymentRequest.id,
    PaymentRequest.workspace,
    PaymentRequest.client,
    PaymentRequest.batch_id,
    PaymentRequest.status,
    PaymentRequest.subject,
    PaymentRequest.message,
    PaymentRequest.settings,
    PaymentRequest.token_hash,
    PaymentRequest.link_expires_at,
    PaymentRequest.note,
    PaymentRequest.created_by,
    PaymentRequest.created_at,
    PaymentRequest.requested_from,
)
"""What a send stores per request; the other columns (sent_at, opened_at…) start empty.

No activity rows: `requested_from` stands for each invoice's "requested" row (see `ledger.services`),
which spares a 5,000-invoice send 5,000 inserts.
"""


@dataclass
class ClientGroup:
    """One client's selected invoices: one email."""

    client_id: str
    name: str
    email: str
    lines: list[InvoiceLine]


@dataclass
class Selection:
    """A validated selection, grouped per client."""

    groups: list[ClientGroup]
    skipped: list[SkippedClient]
    totals: list[CurrencyTotal]
    count: int


_CANONICAL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SELECTED_COLUMNS = (
    # Ids as text, the canonical form both databases print: thousands of uuid.UUID objects, made by the
    # driver and turned back into text for the response, were a fifth of a 5,000-invoice call.
    Cast(Invoice.id, Varchar(), alias="id"),
    Invoice.number,
    Invoice.currency,
    Invoice.amount_due_minor,
    Invoice.due_date,
    Invoice.status,
    Cast(Invoice.client.id, Varchar(), alias="client.id"),
    Invoice.client.name,
    Invoice.client.email,
)


def _check_text(data: PaymentRequestCreate) -> None:
    if data.subject is not None:
        if len(data.subject) > MAX_SUBJECT:
            raise Invalid("The subject is too long.", fields={"subject": f"At most {MAX_SUBJECT} characters."})
        check_placeholders(data.subject, "subject")
    if data.message is not None:
        if len(data.message) > MAX_MESSAGE:
            raise Invalid("The message is too long.", fields={"message": f"At most {MAX_MESSAGE} characters."})
        check_placeholders(data.message, "message")


def _canonical_ids(given: list[str]) -> tuple[dict[str, str], list[str]]:
    """Each given id in canonical text (any spelling `uuid.UUID` takes), and the ones that are no id at all."""
    ids: dict[str, str] = {}
    malformed: list[str] = []
    for raw in dict.fromkeys(given):
        if _CANONICAL_ID.fullmatch(raw):
            ids[raw] = raw
            continue
        try:
            ids[raw] = str(uuid.UUID(raw))
        except ValueError:
            malformed.append(raw)
    return ids, malformed


async def select_invoices(scope: WorkspaceScope, data: PaymentRequestCreate) -> Selection:
    """Every selected invoice exists in this workspace and is outstanding; grouped per client."""
    _check_text(data)
    if not data.invoice_ids:
        raise Invalid("Select at least one invoice.", fields={"invoice_ids": "Select at least one invoice."})
    ids, unknown = _canonical_ids(data.invoice_ids)
    wanted = list(dict.fromkeys(ids.values()))  # one id spelt two ways is one invoice
    if len(wanted) + len(unknown) > MAX_INVOICES:
        raise Invalid(
            f"At most {MAX_INVOICES:,} invoices can be requested at once.",
            fields={"invoice_ids": f"{len(wanted) + len(unknown):,} selected; send them in smaller batches."},
        )
    rows = await scope.select(Invoice, *_SELECTED_COLUMNS).where(uuid_in(Invoice.id, wanted))
    found = {row["id"]: row for row in rows}
    unknown += [raw for raw, value in ids.items() if value not in found]
    closed = {row["id"]: row["status"] for row in rows if row["status"] != "outstanding"}
    if unknown or closed:
        problems = [f"{invoice_id} ({status})" for invoice_id, status in closed.items()]
        problems += [f"{invoice_id} (unknown)" for invoice_id in unknown]
        raise Invalid(
            "Some invoices cannot be requested: " + ", ".join(problems),
            fields={"invoice_ids": "Only outstanding invoices of this workspace can be requested."},
        )
    by_client: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for invoice_id in wanted:
        row = found[invoice_id]
        by_client[row["client.id"]].append(row)
    groups: list[ClientGroup] = []
    skipped: list[SkippedClient] = []
    totals: dict[str, int] = defaultdict(int)
    for client_id, client_rows in by_client.items():
        first = client_rows[0]
        if not first["client.email"]:
            skipped.append(
                SkippedClient(
                    client_id=client_id,
                    name=first["client.name"],
                    reason="no email address in the ledger",
                    invoice_ids=[row["id"] for row in client_rows],
                )
            )
            continue
        lines = [
            InvoiceLine(row["id"], row["number"], row["currency"], row["amount_due_minor"], row["due_date"])
            for row in client_rows
        ]
        for line in lines:
            totals[line.currency] += line.amount_due
        groups.append(ClientGroup(client_id, first["client.name"], first["client.email"], lines))
    return Selection(
        groups=groups,
        skipped=skipped,
        totals=[CurrencyTotal(currency=currency, amount_due=amount) for currency, amount in sorted(totals.items())],
        count=sum(len(group.lines) for group in groups),
    )


async def preview_requests(
    scope: WorkspaceScope, ledger: LedgerContext, base_url: str, data: PaymentRequestCreate
) -> PreviewOut:
    """The emails that would go out, one per client; nothing is sent or stored."""
    selection = await select_invoices(scope, data)
    firm = await firm_of(scope)
    emails = []
    for group in selection.groups:
        try:
            attachments = await invoice_attachments(ledger, group.lines)
        except PdfUnavailable:
            attachments = []
        email = compose(
            firm=firm,
            client_name=group.name,
            to=group.email,
            lines=group.lines,
            link=link_url(base_url, PREVIEW_TOKEN),
            subject_template=data.subject,
            message_template=data.message,
            attachments=attachments,
        )
        emails.append(
            EmailPreview(
                to=email.to,
                subject=email.subject,
                text=email.text,
                html=email.html,
                invoice_ids=[line.id for line in group.lines],
                attachments=[
                    AttachmentOut(filename=item.filename, content_type=item.content_type, size=len(item.content))
                    for item in email.attachments
                ],
            )
        )
    return PreviewOut(count=selection.count, totals=selection.totals, emails=emails, skipped_clients=selection.skipped)


async def send_requests(
    scope: WorkspaceScope, queue: Queue, data: PaymentRequestCreate, *, lifetime_days: int, created_by: str
) -> SendOut:
    """Store one request per client with a fresh link, then queue each email (keyed, so sent once)."""
    selection = await select_invoices(scope, data)
    if selection.skipped and not data.skip_clients_without_email:
        names = ", ".join(client.name for client in selection.skipped)
        raise Invalid(
            f"These clients have no email address: {names}.",
            fields={"skip_clients_without_email": "Add their email in the ledger, or confirm to leave them out."},
        )
    if not selection.groups:
        raise Invalid("None of the selected clients has an email address.", fields={"invoice_ids": "Nothing to send."})
    batch_id = str(uuid.uuid4())
    now = utcnow()
    settings = msgspec.json.encode(msgspec.to_builtins(data.settings or PaymentSettings())).decode()
    tokens: dict[str, str] = {}
    summaries: list[RequestSummary] = []
    requests: list[tuple[Any, ...]] = []
    links: list[tuple[uuid.UUID, str]] = []
    for group in selection.groups:
        token, digest = new_link_token()
        request_id = uuid.uuid4()
        expires = link_expiry(now, [line.due_date for line in group.lines], lifetime_days)
        requests.append(
            (
                request_id,
                scope.workspace_id,
                group.client_id,
                batch_id,
                "queued",
                data.subject or "",
                data.message or "",
                settings,
                digest,
                expires,
                "",
                created_by,
                now,
                group.email,
            )
        )
        tokens[str(request_id)] = token
        for line in group.lines:
            links.append((request_id, line.id))
        summaries.append(
            RequestSummary(
                id=str(request_id),
                client_id=group.client_id,
                invoice_ids=[line.id for line in group.lines],
                status="queued",
            )
        )
    async with write_transaction():
        await insert_rows(PaymentRequest, _REQUEST_COLUMNS, requests)
        await insert_rows(PaymentRequestInvoice, (PaymentRequestInvoice.request, PaymentRequestInvoice.invoice), links)
    await enqueue_delivery(queue, batch_id, tokens)
    return SendOut(
        batch_id=batch_id,
        count=selection.count,
        totals=selection.totals,
        requests=summaries,
        skipped_clients=selection.skipped,
    )


async def request_detail(scope: WorkspaceScope, request_id: str) -> PaymentRequestOut:
    """One request of this workspace."""
    request = await scope.get(PaymentRequest, request_id, what="payment request")
    invoices = await PaymentRequestInvoice.select(PaymentRequestInvoice.invoice).where(
        PaymentRequestInvoice.request == request.id
    )
    return PaymentRequestOut(
        id=str(request.id),
        client_id=str(request.client),
        invoice_ids=[str(row["invoice"]) for row in invoices],
        status=request.status,
        sent_at=as_utc(request.sent_at) if request.sent_at else None,
        link_expires_at=as_utc(request.link_expires_at),
        opened_at=as_utc(request.opened_at) if request.opened_at else None,
        note=request.note,
    )


async def revoke_request(scope: WorkspaceScope, request_id: str) -> PaymentRequestOut:
    """Kill the request's link at once; the email stays in the client's inbox but opens nothing."""
    request = await scope.get(PaymentRequest, request_id, what="payment request")
    if request.revoked_at is None:
        await PaymentRequest.update({PaymentRequest.revoked_at: utcnow(), PaymentRequest.status: "revoked"}).where(
            PaymentRequest.id == request.id
        )
        await Activity(
            workspace=scope.workspace_id, request_id=str(request.id), kind="revoked", detail="Payment link revoked"
        ).save()
    return await request_detail(scope, request_id)


async def resend_request(queue: Queue, request_id: uuid.UUID, *, lifetime_days: int) -> bool:
    """A fresh link for a request, emailed to the address on file (the old link stops working).

    False when there is nothing to resend: revoked, or nothing left to pay.
    """
    request = await PaymentRequest.objects().where(PaymentRequest.id == request_id).first()
    if request is None or request.revoked_at is not None or request.status in ("paid", "cancelled"):
        return False
    rows = await PaymentRequestInvoice.select(
        PaymentRequestInvoice.invoice.due_date, PaymentRequestInvoice.invoice.status
    ).where(PaymentRequestInvoice.request == request.id)
    due_dates = [row["invoice.due_date"] for row in rows if row["invoice.status"] == "outstanding"]
    if not due_dates:
        return False
    token, digest = new_link_token()
    await PaymentRequest.update(
        {
            PaymentRequest.token_hash: digest,
            PaymentRequest.status: "queued",
            PaymentRequest.link_expires_at: link_expiry(utcnow(), due_dates, lifetime_days),
            PaymentRequest.last_error: None,
        }
    ).where(PaymentRequest.id == request.id)
    await enqueue_redelivery(queue, str(request.id), token, attempt=digest[:12])
    return True


class RequestRow(msgspec.Struct):
    """One line of the payment requests page."""

    id: str
    client_name: str
    client_email: str | None
    status: str
    invoice_count: int
    created_at: Any
    sent_at: Any
    opened_at: Any
    note: str
    last_error: str | None


async def request_history(scope: WorkspaceScope, *, batch_id: str | None = None, limit: int = 200) -> list[RequestRow]:
    """Newest requests first (one batch when given)."""
    query = scope.select(
        PaymentRequest,
        PaymentRequest.id,
        PaymentRequest.client.name,
        PaymentRequest.client.email,
        PaymentRequest.status,
        PaymentRequest.created_at,
        PaymentRequest.sent_at,
        PaymentRequest.opened_at,
        PaymentRequest.note,
        PaymentRequest.last_error,
    )
    if batch_id:
        query = query.where(PaymentRequest.batch_id == batch_id)
    rows = await query.order_by(PaymentRequest.created_at, ascending=False).limit(limit)
    counts: dict[uuid.UUID, int] = defaultdict(int)
    if rows:
        links = await PaymentRequestInvoice.select(PaymentRequestInvoice.request).where(
            PaymentRequestInvoice.request.is_in([row["id"] for row in rows])
        )
        for link in links:
            counts[link["request"]] += 1
    return [
        RequestRow(
            id=str(row["id"]),
            client_name=row["client.name"],
            client_email=row["client.email"],
            status=row["status"],
            invoice_count=counts[row["id"]],
            created_at=as_utc(row["created_at"]),
            sent_at=as_utc(row["sent_at"]) if row["sent_at"] else None,
            opened_at=as_utc(row["opened_at"]) if row["opened_at"] else None,
            note=row["note"],
            last_error=row["last_error"],
        )
        for row in rows
    ]


async def link_lifetime_days(scope: WorkspaceScope) -> int:
    """How long the workspace's magic links live past the last due date."""
    row = await Workspace.select(Workspace.link_lifetime_days).where(Workspace.id == scope.workspace_id).first()
    return int(row["link_lifetime_days"]) if row else 30


async def fresh_link_for_staff(scope: WorkspaceScope, request_id: str, *, lifetime_days: int, by: str) -> str:
    """A new link for a request, shown once to staff to share by hand (the old link stops working)."""
    request = await scope.get(PaymentRequest, request_id, what="payment request")
    if request.revoked_at is not None or request.status in ("paid", "cancelled"):
        raise Invalid("This request is closed; send a new one instead.", fields={"status": f"It is {request.status}."})
    rows = await PaymentRequestInvoice.select(PaymentRequestInvoice.invoice.due_date).where(
        PaymentRequestInvoice.request == request.id
    )
    token, digest = new_link_token()
    await PaymentRequest.update(
        {
            PaymentRequest.token_hash: digest,
            PaymentRequest.link_expires_at: link_expiry(
                utcnow(), [row["invoice.due_date"] for row in rows], lifetime_days
            ),
        }
    ).where(PaymentRequest.id == request.id)
    await Activity(
        workspace=scope.workspace_id, request_id=str(request.id), kind="link_copied", detail=f"New link made by {by}"
    ).save()
    return token
