"""The payment-request email: placeholders, subject and message, text and HTML parts, invoice copies."""

from __future__ import annotations

import datetime as dt
import string
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from babel.dates import format_date

from core.errors import Invalid
from core.mail import Attachment, OutgoingEmail
from core.money import format_money
from core.scope import WorkspaceScope
from core.tables import Workspace
from core.templating import render
from ledger.clients import LedgerContext
from ledger.pdfs import invoice_pdfs

PLACEHOLDERS = ("client_name", "invoice_numbers", "invoice_count", "amount_due", "due_date", "firm_name", "link")
DEFAULT_SUBJECT = "{invoice_numbers} from {firm_name}"
DEFAULT_MESSAGE = (
    "Hi {client_name},\n\n"
    "Here is your invoice copy for {invoice_numbers}: {amount_due}, due {due_date}. "
    "You can view it and pay securely online with the link below.\n\n"
    "Thank you,\n{firm_name}"
)


@dataclass(frozen=True)
class InvoiceLine:
    """What the email says about one invoice."""

    id: str
    number: str
    currency: str
    amount_due: int
    due_date: dt.date


@dataclass(frozen=True)
class Firm:
    """Who the email is from."""

    name: str
    reply_to: str | None


def check_placeholders(text: str, field: str) -> None:
    """Invalid naming the field when the text uses a placeholder we do not fill, or stray braces."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError:
        raise Invalid(
            "The text has an unmatched brace.", fields={field: "Write {{ and }} for literal braces."}
        ) from None
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            known = ", ".join("{" + key + "}" for key in PLACEHOLDERS)
            raise Invalid(f"Unknown placeholder {{{name}}}.", fields={field: f"Use only {known}."})


def amounts_text(lines: Sequence[InvoiceLine]) -> str:
    """Amount due per currency, e.g. `$1,200.00 and £300.00` (never added across currencies)."""
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        totals[line.currency] += line.amount_due
    parts = [format_money(amount, currency) for currency, amount in sorted(totals.items())]
    return " and ".join(parts)


def _numbers(lines: Sequence[InvoiceLine]) -> str:
    numbers = [line.number for line in lines]
    if len(numbers) == 1:
        return f"invoice {numbers[0]}"
    return f"invoices {', '.join(numbers[:-1])} and {numbers[-1]}"


def compose(
    *,
    firm: Firm,
    client_name: str,
    to: str,
    lines: Sequence[InvoiceLine],
    link: str,
    subject_template: str | None,
    message_template: str | None,
    attachments: Sequence[Attachment],
    message_id: str | None = None,
    workspace_id: str | None = None,
) -> OutgoingEmail:
    """The email for one client; the link appears in both parts."""
    earliest_due = min(line.due_date for line in lines)
    values = {
        "client_name": client_name,
        "invoice_numbers": _numbers(lines),
        "invoice_count": str(len(lines)),
        "amount_due": amounts_text(lines),
        "due_date": format_date(earliest_due, format="d MMMM yyyy", locale="en"),
        "firm_name": firm.name,
        "link": link,
    }
    subject = (subject_template or DEFAULT_SUBJECT).format_map(values)
    subject = subject[0].upper() + subject[1:] if subject else subject
    message = (message_template or DEFAULT_MESSAGE).format_map(values)
    rows = [
        (
            line.number,
            format_date(line.due_date, format="d MMM yyyy", locale="en"),
            format_money(line.amount_due, line.currency),
        )
        for line in lines
    ]
    text = "\n".join(
        [
            message,
            "",
            *(f"  {number}  due {due}  {amount}" for number, due, amount in rows),
            "",
            f"View and pay online: {link}",
            "",
            f"Your invoice {'copy is' if len(lines) == 1 else 'copies are'} attached as PDF.",
        ]
    )
    html = render(
        "emails/payment_request.html",
        firm=firm,
        subject=subject,
        paragraphs=[paragraph.splitlines() for paragraph in message.split("\n\n")],
        rows=rows,
        total=values["amount_due"],
        link=link,
    )
    return OutgoingEmail(
        to=to,
        subject=subject,
        text=text,
        html=html,
        attachments=tuple(attachments),
        reply_to=firm.reply_to,
        from_name=firm.name,
        message_id=message_id,
        workspace_id=workspace_id,
    )


async def firm_of(scope: WorkspaceScope) -> Firm:
    """The workspace as the sender of emails."""
    row = await Workspace.select(Workspace.name, Workspace.reply_to).where(Workspace.id == scope.workspace_id).first()
    assert row is not None
    return Firm(name=row["name"], reply_to=row["reply_to"])


async def invoice_attachments(ledger: LedgerContext, lines: Sequence[InvoiceLine]) -> list[Attachment]:
    """Each invoice's ledger PDF, bytes unchanged, named `<invoice number>.pdf` (cached copies in one query)."""
    copies = await invoice_pdfs(ledger, [uuid.UUID(line.id) for line in lines])
    return [Attachment(filename=name, content_type="application/pdf", content=content) for name, content in copies]
