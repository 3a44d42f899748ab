"""In-memory Xero: organisations, contacts, invoices, payments, OAuth grants and connections."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from ledger.sandbox.common import (
    Clock,
    FaultInjector,
    LoggedRequest,
    RequestLog,
    percent_of,
    strictly_after,
)
from ledger.sandbox.oauth import AccessRecord, Grant, OAuthServer, jwt_decode
from ledger.sandbox.seed import (
    AUTHORISED,
    DRAFT,
    PAID,
    VOIDED,
    SeedData,
    SeedLine,
    branch_seed,
    demo_seed,
    synthetic_seed,
)

DELETED = "DELETED"
SUBMITTED = "SUBMITTED"

ACCESS_TTL = timedelta(minutes=30)
REFRESH_TTL = timedelta(days=60)
MINUTE_LIMIT, DAY_LIMIT, APP_MINUTE_LIMIT = 60, 5000, 10000
API_PREFIXES = ("/api.xro/", "/connections", "/Connections")

# Broad and granular scopes (Xero's 2026 granular scopes replace accounting.transactions for new apps).
READ_INVOICES = frozenset(
    {"accounting.transactions", "accounting.transactions.read", "accounting.invoices", "accounting.invoices.read"}
)
READ_PAYMENTS = frozenset(
    {"accounting.transactions", "accounting.transactions.read", "accounting.payments", "accounting.payments.read"}
)
WRITE_PAYMENTS = frozenset({"accounting.transactions", "accounting.payments"})
READ_CONTACTS = frozenset({"accounting.contacts", "accounting.contacts.read"})
READ_SETTINGS = frozenset({"accounting.settings", "accounting.settings.read"})


class XeroAuthError(Exception):
    """401/403 from the API gateway: `detail` is Xero's Detail text."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class XeroNotFound(Exception):
    """The resource does not exist in this organisation."""


class XeroValidationError(Exception):
    """A ValidationException: one (request element, messages) pair per submitted item."""

    def __init__(self, elements: list[tuple[dict[str, object], list[str]]]) -> None:
        super().__init__("A validation exception occurred")
        self.elements = elements


@dataclass(slots=True)
class XeroUser:
    """The Xero user who signs in on the consent page."""

    user_id: str
    sub: str
    email: str
    given_name: str
    family_name: str


@dataclass(slots=True)
class XeroAccount:
    """A chart-of-accounts entry; payments need a BANK account or one with payments enabled."""

    account_id: str
    code: str
    name: str
    type: str
    enable_payments: bool = False
    status: str = "ACTIVE"
    bank_account_number: str = ""

    @property
    def takes_payments(self) -> bool:
        """Whether Xero accepts payments against this account."""
        return self.status == "ACTIVE" and (self.type == "BANK" or self.enable_payments)


@dataclass(slots=True)
class XeroContact:
    """A customer contact."""

    contact_id: str
    name: str
    email: str
    first_name: str
    last_name: str
    currency: str
    updated_at: datetime
    phone: str = ""
    status: str = "ACTIVE"


@dataclass(slots=True)
class XeroLine:
    """An invoice line; amounts in the invoice currency's minor units."""

    line_item_id: str
    description: str
    quantity: Decimal
    unit_minor: int
    tax_percent: Decimal
    account_code: str = "200"

    @property
    def net_minor(self) -> int:
        """Line amount before tax."""
        return int((self.quantity * self.unit_minor).to_integral_value())

    @property
    def tax_minor(self) -> int:
        """Tax on the line."""
        return percent_of(self.net_minor, self.tax_percent)


@dataclass(slots=True)
class XeroInvoice:
    """A sales invoice (ACCREC) or bill (ACCPAY)."""

    invoice_id: str
    tenant_id: str
    number: str
    reference: str
    type: str
    contact_id: str
    issue_date: date
    due_date: date
    status: str
    currency: str
    lines: list[XeroLine]
    updated_at: datetime
    paid_minor: int = 0
    payment_ids: list[str] = field(default_factory=list)
    fully_paid_on: date | None = None
    sent_to_contact: bool = True

    @property
    def subtotal_minor(self) -> int:
        """Total before tax."""
        return sum(line.net_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        """Total tax."""
        return sum(line.tax_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        """Total including tax."""
        return self.subtotal_minor + self.tax_minor

    @property
    def due_minor(self) -> int:
        """Amount still owed (zero once voided or deleted)."""
        return 0 if self.status in (VOIDED, DELETED) else self.total_minor - self.paid_minor


@dataclass(slots=True)
class XeroPayment:
    """A payment applied to one invoice."""

    payment_id: str
    invoice_id: str
    account_code: str
    paid_on: date
    amount_minor: int
    reference: str
    updated_at: datetime
    status: str = "AUTHORISED"


@dataclass(slots=True)
class XeroTenant:
    """An organisation with its own books."""

    tenant_id: str
    name: str
    base_currency: str
    country: str
    short_code: str
    created_at: datetime
    contacts: dict[str, XeroContact] = field(default_factory=dict)
    invoices: dict[str, XeroInvoice] = field(default_factory=dict)
    accounts: dict[str, XeroAccount] = field(default_factory=dict)
    payments: dict[str, XeroPayment] = field(default_factory=dict)
    numbers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class XeroConnection:
    """A tenant connected to an app by a user (what GET /connections lists)."""

    connection_id: str
    tenant_id: str
    client_id: str
    user_id: str
    auth_event_id: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A response remembered under an Idempotency-Key."""

    status: int
    body: bytes
    media_type: str


def _default_accounts(new_id: Iterable[str]) -> dict[str, XeroAccount]:
    ids = iter(new_id)
    accounts = [
        XeroAccount(next(ids), "090", "Business Bank Account", "BANK", bank_account_number="0209087654321050"),
        XeroAccount(next(ids), "091", "Business Savings Account", "BANK", bank_account_number="0209087654321051"),
        XeroAccount(next(ids), "092", "Old Cheque Account", "BANK", status="ARCHIVED"),
        XeroAccount(next(ids), "200", "Sales", "REVENUE"),
        XeroAccount(next(ids), "260", "Other Revenue", "REVENUE"),
        XeroAccount(next(ids), "610", "Accounts Receivable", "CURRENT"),
        XeroAccount(next(ids), "620", "Prepayments", "CURRENT", enable_payments=True),
        XeroAccount(next(ids), "880", "Owner A Drawings", "EQUITY"),
    ]
    return {a.code: a for a in accounts}


class XeroSandbox:
    """State of a fake Xero: register apps, seed organisations, mutate books, inject faults, inspect calls."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 1,
        webhook_key: str = "sandbox-xero-webhook-key",
        refresh_grace_seconds: float = 0,
        minute_limit: int | None = None,
        strict_scopes: bool = True,
        signing_key: bytes = b"xero-sandbox-signing-key",
    ) -> None:
        self.clock = clock or Clock()
        self.log = RequestLog()
        self.faults = FaultInjector(API_PREFIXES)
        self.oauth = OAuthServer(
            self.clock, ACCESS_TTL, REFRESH_TTL, refresh_grace=timedelta(seconds=refresh_grace_seconds)
        )
        self.webhook_key = webhook_key
        self.signing_key = signing_key
        self.minute_limit = minute_limit
        self.strict_scopes = strict_scopes
        self._rng = random.Random(seed)  # noqa: S311 - deterministic ids, not secrets
        self.user = XeroUser(
            self.new_id(), self.new_id().replace("-", ""), "alex.morgan@firm.example", "Alex", "Morgan"
        )
        self.tenants: dict[str, XeroTenant] = {}
        self.connections: dict[str, XeroConnection] = {}
        self.idempotency: dict[tuple[str, str, str], CachedResponse] = {}
        self._invoice_index: dict[str, str] = {}
        self._last_stamp: datetime | None = None
        self._calls: dict[str, deque[datetime]] = {}
        self._day_calls: dict[tuple[str, date], int] = {}
        self.webhook_sequence = 0

    # ----- construction -------------------------------------------------------------------------

    @classmethod
    def with_demo_data(
        cls, *, today: date | None = None, synthetic: int = 0, clock: Clock | None = None
    ) -> XeroSandbox:
        """A sandbox with two organisations: the demo book (plus `synthetic` invoices) and a small branch."""
        sandbox = cls(clock=clock)
        day = today or sandbox.clock.today()
        main = sandbox.add_tenant("Harbourview Client Services", base_currency="USD", country="US")
        sandbox.load_seed(main.tenant_id, demo_seed(day))
        if synthetic:
            sandbox.load_seed(main.tenant_id, synthetic_seed(synthetic, today=day))
        branch = sandbox.add_tenant("Harbourview Brisbane", base_currency="AUD", country="AU")
        sandbox.load_seed(branch.tenant_id, branch_seed(day))
        return sandbox

    def new_id(self) -> str:
        """A fresh UUID (deterministic per sandbox seed)."""
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def stamp(self) -> datetime:
        """A strictly increasing modification time at millisecond precision."""
        now = self.clock.now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._last_stamp = strictly_after(now, self._last_stamp)
        return self._last_stamp

    def register_app(
        self, client_id: str, client_secret: str, redirect_uris: Sequence[str], name: str = "Collections Portal"
    ) -> None:
        """Register an OAuth app (any id, secret and redirect URIs)."""
        self.oauth.register_app(client_id, client_secret, redirect_uris, name)

    def add_tenant(
        self, name: str, *, base_currency: str = "USD", country: str = "US", tenant_id: str | None = None
    ) -> XeroTenant:
        """Create an organisation with a default chart of accounts (090/091 bank, 200 sales, ...)."""
        tenant_id = tenant_id or self.new_id()
        short = "!" + hashlib.sha1(tenant_id.encode(), usedforsecurity=False).hexdigest()[:5]
        accounts = _default_accounts(self.new_id() for _ in range(8))
        tenant = XeroTenant(tenant_id, name, base_currency, country, short, self.stamp(), accounts=accounts)
        self.tenants[tenant_id] = tenant
        return tenant

    def add_contact(
        self,
        tenant_id: str,
        *,
        name: str,
        email: str = "",
        first_name: str = "",
        last_name: str = "",
        currency: str | None = None,
        phone: str = "",
    ) -> XeroContact:
        """Add a customer contact to an organisation."""
        tenant = self.tenants[tenant_id]
        contact = XeroContact(
            self.new_id(), name, email, first_name, last_name, currency or tenant.base_currency, self.stamp(), phone
        )
        tenant.contacts[contact.contact_id] = contact
        return contact

    def add_invoice(
        self,
        tenant_id: str,
        *,
        contact_id: str,
        number: str,
        lines: Sequence[SeedLine],
        issue_date: date,
        due_date: date,
        status: str = AUTHORISED,
        currency: str | None = None,
        reference: str = "",
        invoice_type: str = "ACCREC",
        updated_at: datetime | None = None,
    ) -> XeroInvoice:
        """Add an invoice; amounts come from the lines (quantity x unit price plus tax)."""
        tenant = self.tenants[tenant_id]
        contact = tenant.contacts[contact_id]
        xero_lines = [
            XeroLine(self.new_id(), ln.description, ln.quantity, ln.unit_minor, ln.tax_percent) for ln in lines
        ]
        invoice = XeroInvoice(
            self.new_id(),
            tenant_id,
            number,
            reference,
            invoice_type,
            contact_id,
            issue_date,
            due_date,
            status,
            currency or contact.currency,
            xero_lines,
            updated_at or self.stamp(),
            sent_to_contact=status != DRAFT,
        )
        tenant.invoices[invoice.invoice_id] = invoice
        tenant.numbers[number] = invoice.invoice_id
        self._invoice_index[invoice.invoice_id] = tenant_id
        return invoice

    def load_seed(self, tenant_id: str, data: SeedData) -> list[XeroInvoice]:
        """Load seed clients and invoices; part-paid and paid invoices get real payments on account 090."""
        contacts = {
            c.key: self.add_contact(
                tenant_id,
                name=c.name,
                email=c.email,
                first_name=c.first_name,
                last_name=c.last_name,
                currency=c.currency,
                phone=c.phone,
            )
            for c in data.clients
        }
        latest = self.clock.now() - timedelta(seconds=1)
        invoices = []
        for index, seed in enumerate(data.invoices):
            issued = datetime(seed.issue_date.year, seed.issue_date.month, seed.issue_date.day, 9, tzinfo=latest.tzinfo)
            updated = min(issued + timedelta(minutes=index % 600), latest)
            status = AUTHORISED if seed.status == PAID else seed.status
            invoice = self.add_invoice(
                tenant_id,
                contact_id=contacts[seed.client_key].contact_id,
                number=seed.number,
                lines=seed.lines,
                issue_date=seed.issue_date,
                due_date=seed.due_date,
                status=status,
                currency=seed.currency,
                reference=seed.reference,
                updated_at=updated,
            )
            if seed.paid_minor:
                paid_on = min(seed.issue_date + timedelta(days=7), self.clock.today())
                self._apply_payment(invoice, seed.paid_minor, "090", paid_on, "Seeded payment", updated)
            invoices.append(invoice)
        return invoices

    # ----- lookups --------------------------------------------------------------------------------

    def invoice(self, invoice_id: str) -> XeroInvoice:
        """Find an invoice in any organisation by InvoiceID."""
        return self.tenants[self._invoice_index[invoice_id]].invoices[invoice_id]

    def invoice_by_number(self, tenant_id: str, number: str) -> XeroInvoice:
        """Find an invoice by InvoiceNumber."""
        tenant = self.tenants[tenant_id]
        return tenant.invoices[tenant.numbers[number]]

    def payments_for(self, invoice_id: str) -> list[XeroPayment]:
        """All payments (live and deleted) applied to an invoice."""
        invoice = self.invoice(invoice_id)
        return [self.tenants[invoice.tenant_id].payments[p] for p in invoice.payment_ids]

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request answered so far."""
        return self.log.entries

    # ----- mutations tests use ------------------------------------------------------------------

    def mark_paid(
        self, invoice_id: str, *, amount_minor: int | None = None, account_code: str = "090", on: date | None = None
    ) -> XeroPayment:
        """Record a payment in Xero itself (as a bookkeeper would); defaults to the full amount due."""
        invoice = self.invoice(invoice_id)
        amount = invoice.due_minor if amount_minor is None else amount_minor
        return self._apply_payment(invoice, amount, account_code, on or self.clock.today(), "Paid in Xero", None)

    def update_invoice(
        self,
        invoice_id: str,
        *,
        reference: str | None = None,
        due_date: date | None = None,
        status: str | None = None,
        lines: Sequence[SeedLine] | None = None,
        contact_id: str | None = None,
    ) -> XeroInvoice:
        """Edit an invoice as a user would in Xero; bumps UpdatedDateUTC."""
        invoice = self.invoice(invoice_id)
        if reference is not None:
            invoice.reference = reference
        if due_date is not None:
            invoice.due_date = due_date
        if status is not None:
            invoice.status = status
        if contact_id is not None:
            invoice.contact_id = contact_id
        if lines is not None:
            invoice.lines = [
                XeroLine(self.new_id(), ln.description, ln.quantity, ln.unit_minor, ln.tax_percent) for ln in lines
            ]
        invoice.updated_at = self.stamp()
        return invoice

    def void_invoice(self, invoice_id: str) -> XeroInvoice:
        """Void an authorised invoice."""
        return self.update_invoice(invoice_id, status=VOIDED)

    def delete_invoice(self, invoice_id: str) -> XeroInvoice:
        """Delete a draft or submitted invoice (Xero keeps it with status DELETED)."""
        if self.invoice(invoice_id).status not in (DRAFT, SUBMITTED):
            raise ValueError("only DRAFT or SUBMITTED invoices can be deleted")
        return self.update_invoice(invoice_id, status=DELETED)

    def touch_invoice(self, invoice_id: str, at: datetime | None = None) -> XeroInvoice:
        """Move an invoice's UpdatedDateUTC to now (or `at`) without other changes."""
        invoice = self.invoice(invoice_id)
        invoice.updated_at = at or self.stamp()
        return invoice

    def expire_access_token(self, token: str | None = None) -> int:
        """Expire one access token (the JWT string) or, with no argument, all of them."""
        if token is None:
            return self.oauth.expire_access()
        claims = jwt_decode(token, self.signing_key) or {}
        return self.oauth.expire_access(str(claims.get("jti", "")))

    def disconnect(self, tenant_id: str) -> int:
        """Remove every connection to an organisation (as if the user disconnected the app)."""
        doomed = [c.connection_id for c in self.connections.values() if c.tenant_id == tenant_id]
        for connection_id in doomed:
            del self.connections[connection_id]
        return len(doomed)

    # ----- fault injection ------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int = 429, retry_after: int | None = 1, path_prefix: str | None = None
    ) -> None:
        """Make the next `n` API calls fail (429 adds Retry-After and X-Rate-Limit-Problem: minute)."""
        self.faults.fail_next(n, status, retry_after, path_prefix)

    def start_storm(self, status: int = 503, rate: float = 1.0, retry_after: int | None = None, seed: int = 0) -> None:
        """Fail a share of API calls until `stop_storm`."""
        self.faults.start_storm(status, rate, retry_after, seed=seed)

    def stop_storm(self) -> None:
        """End a failure storm."""
        self.faults.stop_storm()

    def count_call(self, tenant_id: str) -> int | None:
        """Count an API call against the tenant's minute window; return seconds to wait when over the limit."""
        now = self.clock.now()
        window = self._window(tenant_id, now)
        if self.minute_limit is not None and len(window) >= self.minute_limit:
            return max(60 - int((now - window[0]).total_seconds()), 1)
        window.append(now)
        day_key = (tenant_id, now.date())
        self._day_calls[day_key] = self._day_calls.get(day_key, 0) + 1
        return None

    def rate_headers(self, tenant_id: str) -> dict[str, str]:
        """The X-*Limit-Remaining headers Xero sends on API responses."""
        now = self.clock.now()
        minute_limit = self.minute_limit or MINUTE_LIMIT
        app_calls = sum(len(self._window(t, now)) for t in list(self._calls))
        return {
            "X-DayLimit-Remaining": str(max(DAY_LIMIT - self._day_calls.get((tenant_id, now.date()), 0), 0)),
            "X-MinLimit-Remaining": str(max(minute_limit - len(self._window(tenant_id, now)), 0)),
            "X-AppMinLimit-Remaining": str(max(APP_MINUTE_LIMIT - app_calls, 0)),
        }

    def _window(self, tenant_id: str, now: datetime) -> deque[datetime]:
        window = self._calls.setdefault(tenant_id, deque())
        while window and now - window[0] >= timedelta(minutes=1):
            window.popleft()
        return window

    # ----- OAuth consent and tokens ------------------------------------------------------------

    def consent(
        self, client_id: str, scopes: Sequence[str], tenant_ids: Sequence[str], nonce: str | None = None
    ) -> Grant:
        """Record a consent: connect the chosen tenants under a new authentication event."""
        grant = Grant(
            self.new_id(), client_id, self.user.user_id, tuple(scopes), tuple(tenant_ids), public=False, nonce=nonce
        )
        now = self.stamp()
        for tenant_id in tenant_ids:
            existing = self._connection(client_id, tenant_id)
            if existing is None:
                existing = XeroConnection(
                    self.new_id(), tenant_id, client_id, self.user.user_id, grant.grant_id, now, now
                )
                self.connections[existing.connection_id] = existing
            existing.auth_event_id = grant.grant_id
            existing.updated_at = now
        return grant

    def _connection(self, client_id: str, tenant_id: str) -> XeroConnection | None:
        for connection in self.connections.values():
            if (connection.client_id, connection.tenant_id, connection.user_id) == (
                client_id,
                tenant_id,
                self.user.user_id,
            ):
                return connection
        return None

    def connections_for(self, record: AccessRecord, auth_event_id: str | None = None) -> list[XeroConnection]:
        """Connections visible to an access token, optionally only those of one consent."""
        grant = record.grant
        return [
            c
            for c in self.connections.values()
            if c.client_id == grant.client_id
            and c.user_id == grant.subject
            and (auth_event_id is None or c.auth_event_id == auth_event_id)
        ]

    def remove_connections(self, client_id: str, user_id: str) -> None:
        """Drop every connection of a user to an app (token revocation does this)."""
        for connection in [c for c in self.connections.values() if (c.client_id, c.user_id) == (client_id, user_id)]:
            del self.connections[connection.connection_id]

    def tenant_for(self, record: AccessRecord, tenant_id: str | None, scopes: frozenset[str]) -> XeroTenant:
        """The organisation a call targets, if the token's user connected it to this app and scopes allow."""
        if not scopes.intersection(record.grant.scopes):
            raise XeroAuthError(401, "AuthorizationUnsuccessful")
        connected = {c.tenant_id for c in self.connections_for(record)}
        if not tenant_id or tenant_id.lower() not in connected:
            raise XeroAuthError(403, "AuthenticationUnsuccessful")
        return self.tenants[tenant_id.lower()]

    # ----- payments -------------------------------------------------------------------------------

    def _apply_payment(
        self,
        invoice: XeroInvoice,
        amount_minor: int,
        account_code: str,
        on: date,
        reference: str,
        at: datetime | None,
    ) -> XeroPayment:
        tenant = self.tenants[invoice.tenant_id]
        stamp = at or self.stamp()
        payment = XeroPayment(self.new_id(), invoice.invoice_id, account_code, on, amount_minor, reference, stamp)
        tenant.payments[payment.payment_id] = payment
        invoice.payment_ids.append(payment.payment_id)
        invoice.paid_minor += amount_minor
        if invoice.due_minor == 0:
            invoice.status = PAID
            invoice.fully_paid_on = on
        invoice.updated_at = stamp
        return payment

    def payment_problems(
        self, tenant: XeroTenant, invoice: XeroInvoice | None, account_code: str | None, amount_minor: int | None
    ) -> list[str]:
        """Xero's validation messages for a proposed payment (empty when it can be recorded)."""
        problems = []
        account = tenant.accounts.get(account_code or "")
        if account is None:
            problems.append("Account could not be found")
        elif not account.takes_payments:
            problems.append(
                "Payments can only be made to or from bank accounts or accounts with "
                "'Enable payments to this account' enabled"
            )
        if invoice is None:
            problems.append("Invoice could not be found")
        elif invoice.status != AUTHORISED:
            problems.append("Payments can only be made against Authorised documents")
        elif amount_minor is not None and amount_minor > invoice.due_minor:
            problems.append("Payment amount exceeds the amount outstanding on this document")
        if amount_minor is not None and amount_minor <= 0:
            problems.append("Payment amount must be greater than zero")
        return problems

    def record_payment(
        self, tenant: XeroTenant, invoice: XeroInvoice, account_code: str, amount_minor: int, on: date, reference: str
    ) -> XeroPayment:
        """Apply a validated payment coming through the API."""
        return self._apply_payment(invoice, amount_minor, account_code, on, reference, None)

    def delete_payment(self, tenant: XeroTenant, payment_id: str) -> XeroPayment:
        """Reverse a payment (status DELETED); the invoice is owed again."""
        payment = tenant.payments.get(payment_id)
        if payment is None:
            raise XeroNotFound(payment_id)
        if payment.status == DELETED:
            raise XeroValidationError([({"PaymentID": payment_id}, ["This Payment has already been deleted"])])
        invoice = tenant.invoices[payment.invoice_id]
        payment.status = DELETED
        payment.updated_at = self.stamp()
        invoice.paid_minor -= payment.amount_minor
        if invoice.status == PAID:
            invoice.status = AUTHORISED
            invoice.fully_paid_on = None
        invoice.updated_at = payment.updated_at
        return payment
