"""The client side: opening a magic link, the request page, invoice copies, fresh links."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence

from core.clock import as_utc, utcnow
from core.db import Row, fetch_by_key
from core.errors import NotFound
from core.security import token_digest
from core.tables import Activity
from ledger.clients import LedgerContext
from ledger.pdfs import invoice_pdf
from ledger.schemas import CurrencyTotal
from ledger.tables import Invoice
from portal.schemas import ClientSession, OpenedLink, PortalInvoice, RequestPage
from portal.tables import PaymentRequest


class LinkGone(Exception):
    """The link is known but expired or revoked (410); `request_id` lets the page offer a fresh one."""

    def __init__(self, request_id: uuid.UUID) -> None:
        super().__init__("link expired or revoked")
        self.request_id = request_id


async def open_link(token: str, *, ip: str, user_agent: str) -> OpenedLink:
    """The client session a valid magic link grants; records the open. NotFound / LinkGone otherwise."""
    request = await PaymentRequest.objects().where(PaymentRequest.token_hash == token_digest(token)).first()
    if request is None:
        raise NotFound("This link is not valid.")
    if request.revoked_at is not None or as_utc(request.link_expires_at) <= utcnow():
        raise LinkGone(request.id)
    now = utcnow()
    if request.opened_at is None:
        await PaymentRequest.update({PaymentRequest.opened_at: now}).where(PaymentRequest.id == request.id)
    await Activity(
        workspace=request.workspace,
        request_id=str(request.id),
        kind="opened",
        detail=f"Link opened from {ip} ({user_agent[:120]})",
    ).save()
    session = ClientSession(
        request_id=str(request.id), client_id=str(request.client), workspace_id=str(request.workspace)
    )
    return OpenedLink(session=session, link_expires_at=as_utc(request.link_expires_at))


# The page a client reloads, in one round trip: the request with its firm and client, and a row per invoice
# (none when the request covers no invoice, hence the outer joins). Written out rather than built with Piccolo's
# joins, whose query building cost more than the query itself on this page (benchmarks/portal_page.py). Ids come
# as text, which is how the page uses them: on SQLite, turning each into a UUID first cost more than the query.
# Every column is a plain value (text, integer, a flag), so the rows compare equal exactly when the page would
# be the same (portal/page_memo.py keys on them), and SQLite's driver, which runs a Python converter for each
# column with a declared type, converts nothing: dates and times are parsed only when the page is rendered.
_PAGE_SQL = """
SELECT CAST(r.client AS TEXT) AS client_id, CAST(r.link_expires_at AS TEXT) AS link_expires_at,
       r.revoked_at IS NOT NULL AS revoked,
       w.name AS firm_name, c.name AS client_name,
       CAST(i.id AS TEXT) AS invoice_id, i.number AS number, i.currency AS currency,
       CAST(i.total_minor AS BIGINT) AS total_minor, CAST(i.amount_paid_minor AS BIGINT) AS amount_paid_minor,
       CAST(i.amount_due_minor AS BIGINT) AS amount_due_minor,
       CAST(i.issue_date AS TEXT) AS issue_date, CAST(i.due_date AS TEXT) AS due_date, i.status AS status
FROM payment_request AS r
JOIN workspace AS w ON w.id = r.workspace
JOIN client AS c ON c.id = r.client
LEFT JOIN payment_request_invoice AS ri ON ri.request = r.id
LEFT JOIN invoice AS i ON i.id = ri.invoice
WHERE r.id = {}
"""


_OPEN_SQL = "SELECT CAST(client AS TEXT) AS client_id, revoked_at FROM payment_request WHERE id = {}"


async def ensure_session_open(session: ClientSession) -> None:
    """404 once the firm has withdrawn the request the session was opened from (pages other than its own)."""
    rows = await fetch_by_key(_OPEN_SQL, _id(session.request_id))
    if not rows or rows[0]["client_id"] != session.client_id or rows[0]["revoked_at"] is not None:
        raise NotFound("This payment request was withdrawn. Ask your accountant for a new link.")


async def request_page_rows(request_id: str) -> Sequence[Row]:
    """Everything the request page shows, as the rows of one query (none for an unknown request)."""
    return await fetch_by_key(_PAGE_SQL, _id(request_id))


async def request_page(session: ClientSession, request_id: str, rows: Sequence[Row] | None = None) -> RequestPage:
    """The request's invoices, for its own client only (anything else is 404).

    `rows` are the request's `request_page_rows` when the caller has just read them.
    """
    key = _id(request_id)
    if rows is None:
        rows = await fetch_by_key(_PAGE_SQL, key)
    if not rows or rows[0]["client_id"] != session.client_id:
        raise NotFound("Page not found.")
    request = rows[0]
    if request["revoked"]:  # Withdrawn by the firm: open sessions lose it too.
        raise NotFound("This payment request was withdrawn. Ask your accountant for a new link.")
    today_text = utcnow().date().isoformat()
    invoices = [
        PortalInvoice(
            id=row["invoice_id"],
            number=row["number"],
            currency=row["currency"],
            total=row["total_minor"],
            amount_paid=row["amount_paid_minor"],
            amount_due=row["amount_due_minor"],
            issue_date=dt.date.fromisoformat(row["issue_date"]),
            due_date=dt.date.fromisoformat(row["due_date"]),
            status=row["status"],
            overdue=row["status"] == "outstanding" and row["due_date"] < today_text,
        )
        for row in sorted(
            (row for row in rows if row["invoice_id"] is not None), key=lambda row: (row["due_date"], row["number"])
        )
    ]
    totals: dict[str, int] = defaultdict(int)
    for invoice in invoices:
        if invoice.status == "outstanding":
            totals[invoice.currency] += invoice.amount_due
    return RequestPage(
        request_id=str(key),
        firm_name=request["firm_name"],
        client_name=request["client_name"],
        invoices=invoices,
        totals=[CurrencyTotal(currency=c, amount_due=a) for c, a in sorted(totals.items())],
        link_expires_at=as_utc(dt.datetime.fromisoformat(request["link_expires_at"])).astimezone(dt.UTC),
    )


async def client_invoice_pdf(ledger: LedgerContext, session: ClientSession, invoice_id: str) -> tuple[str, bytes]:
    """An invoice copy, only if the invoice belongs to the signed-in client."""
    invoice = await Invoice.select(Invoice.id, Invoice.client).where(Invoice.id == _id(invoice_id)).first()
    if invoice is None or str(invoice["client"]) != session.client_id:
        raise NotFound("Page not found.")
    return await invoice_pdf(ledger, invoice["id"])


def _id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("Page not found.") from None
