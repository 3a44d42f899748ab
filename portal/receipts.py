"""The payment receipt email."""

from __future__ import annotations

import datetime as dt

from core.mail import OutgoingEmail
from core.money import format_money
from core.templating import render


def receipt_email(
    *,
    to: str,
    firm_name: str,
    reply_to: str | None,
    lines: list[tuple[str, int]],
    amount_minor: int,
    currency: str,
    reference: str,
    paid_on: dt.date,
    message_id: str,
    workspace_id: str | None = None,
) -> OutgoingEmail:
    """Text and HTML receipt: what was paid, for which invoices, and the card payment reference."""
    rows = [(number, format_money(amount, currency)) for number, amount in lines]
    total = format_money(amount_minor, currency)
    text = "\n".join(
        [
            f"Thank you. {firm_name} received your payment of {total} on {paid_on.isoformat()}.",
            "",
            *(f"  {number}  {amount}" for number, amount in rows),
            "",
            f"Payment reference: {reference}",
        ]
    )
    html = render(
        "emails/receipt.html", firm_name=firm_name, rows=rows, total=total, paid_on=paid_on, reference=reference
    )
    return OutgoingEmail(
        to=to,
        subject=f"Receipt: {total} paid to {firm_name}",
        text=text,
        html=html,
        reply_to=reply_to,
        from_name=firm_name,
        message_id=message_id,
        workspace_id=workspace_id,
    )
