"""What the client portal pages show."""

from __future__ import annotations

import datetime as dt

import msgspec

from ledger.schemas import CurrencyTotal


class ClientSession(msgspec.Struct, frozen=True):
    """A client signed in through a magic link, as its signed session cookie names them (`portal/sessions.py`)."""

    request_id: str
    client_id: str
    workspace_id: str


class OpenedLink(msgspec.Struct, frozen=True):
    """A magic link just opened: the session it grants, and until when the link itself works."""

    session: ClientSession
    link_expires_at: dt.datetime


class PortalInvoice(msgspec.Struct):
    """One invoice on the client's page."""

    id: str
    number: str
    currency: str
    total: int
    amount_paid: int
    amount_due: int
    issue_date: dt.date
    due_date: dt.date
    status: str
    overdue: bool


class RequestPage(msgspec.Struct):
    """The page a magic link opens."""

    request_id: str
    firm_name: str
    client_name: str
    invoices: list[PortalInvoice]
    totals: list[CurrencyTotal]
    link_expires_at: dt.datetime
