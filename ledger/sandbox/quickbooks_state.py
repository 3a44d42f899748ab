"""In-memory QuickBooks Online: companies (realms), customers, invoices, payments and OAuth grants."""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
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
from ledger.sandbox.oauth import AccessRecord, Grant, OAuthServer
from ledger.sandbox.seed import DRAFT, VOIDED, SeedData, SeedLine, branch_seed, demo_seed, synthetic_seed

ACCESS_TTL = timedelta(hours=1)
REFRESH_TTL = timedelta(seconds=8726400)  # what Intuit reports: 101 days
ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
API_PREFIXES = ("/v3/",)
UNDEPOSITED_FUNDS = "4"


class QboAuthError(Exception):
    """401 (bad or expired token) or 403 (token not authorised for this company)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class QboFault(Exception):
    """A ValidationFault QuickBooks answers with HTTP 400: code, message and detail."""

    def __init__(self, code: str, message: str, detail: str, element: str = "") -> None:
        super().__init__(f"{code} {message}: {detail}")
        self.code = code
        self.message = message
        self.detail = detail
        self.element = element


def not_found() -> QboFault:
    """QuickBooks' answer to reading an id that does not exist."""
    return QboFault(
        "610",
        "Object Not Found",
        "Object Not Found : Something you're trying to use has been made inactive. "
        "Check the fields with accounts, customers, items, vendors or employees.",
    )


@dataclass(slots=True)
class QboCustomer:
    """A customer."""

    id: str
    display_name: str
    company_name: str
    given_name: str
    family_name: str
    email: str
    currency: str
    phone: str
    created_at: datetime
    updated_at: datetime
    sync_token: int = 0
    active: bool = True


@dataclass(slots=True)
class QboLine:
    """A sales line: quantity x unit price (minor units) with a tax rate."""

    line_id: str
    description: str
    quantity: Decimal
    unit_minor: int
    tax_percent: Decimal
    item_name: str = "Services"

    @property
    def net_minor(self) -> int:
        """Line amount before tax."""
        return int((self.quantity * self.unit_minor).to_integral_value())

    @property
    def tax_minor(self) -> int:
        """Tax on the line."""
        return percent_of(self.net_minor, self.tax_percent)


@dataclass(slots=True)
class QboInvoice:
    """An invoice; once voided its amounts read zero, as in QuickBooks."""

    id: str
    realm_id: str
    doc_number: str
    customer_id: str
    txn_date: date
    due_date: date
    currency: str
    lines: list[QboLine]
    created_at: datetime
    updated_at: datetime
    private_note: str = ""
    customer_memo: str = ""
    sync_token: int = 0
    paid_minor: int = 0
    payment_ids: list[str] = field(default_factory=list)
    voided: bool = False

    @property
    def subtotal_minor(self) -> int:
        """Total before tax."""
        return 0 if self.voided else sum(line.net_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        """Total tax."""
        return 0 if self.voided else sum(line.tax_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        """TotalAmt."""
        return self.subtotal_minor + self.tax_minor

    @property
    def balance_minor(self) -> int:
        """Balance still open."""
        return 0 if self.voided else self.total_minor - self.paid_minor


@dataclass(slots=True)
class QboPayment:
    """A received payment applied to one or more invoices."""

    id: str
    realm_id: str
    customer_id: str
    currency: str
    total_minor: int
    txn_date: date
    ref_num: str
    lines: list[tuple[str, int]]
    created_at: datetime
    updated_at: datetime
    sync_token: int = 0
    private_note: str = ""
    deposit_account_id: str = UNDEPOSITED_FUNDS

    @property
    def unapplied_minor(self) -> int:
        """Part of the payment not applied to any invoice."""
        return self.total_minor - sum(amount for _, amount in self.lines)


@dataclass(frozen=True, slots=True)
class QboAccount:
    """A chart-of-accounts entry; payments may be deposited to Bank or Other Current Asset accounts."""

    id: str
    name: str
    account_type: str
    sub_type: str
    classification: str

    @property
    def takes_deposits(self) -> bool:
        """Whether a received payment can be deposited here."""
        return self.account_type in ("Bank", "Other Current Asset")


def _default_accounts() -> dict[str, QboAccount]:
    # Ids and names as in Intuit's sample company, so account ids copied from real docs work.
    accounts = [
        QboAccount("35", "Checking", "Bank", "Checking", "Asset"),
        QboAccount("36", "Savings", "Bank", "Savings", "Asset"),
        QboAccount(UNDEPOSITED_FUNDS, "Undeposited Funds", "Other Current Asset", "UndepositedFunds", "Asset"),
        QboAccount("84", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "Asset"),
        QboAccount("79", "Sales of Product Income", "Income", "SalesOfProductIncome", "Revenue"),
    ]
    return {a.id: a for a in accounts}


@dataclass(slots=True)
class QboRealm:
    """A QuickBooks company."""

    realm_id: str
    company_name: str
    home_currency: str
    country: str
    created_at: datetime
    customers: dict[str, QboCustomer] = field(default_factory=dict)
    invoices: dict[str, QboInvoice] = field(default_factory=dict)
    payments: dict[str, QboPayment] = field(default_factory=dict)
    deleted: dict[tuple[str, str], datetime] = field(default_factory=dict)
    accounts: dict[str, QboAccount] = field(default_factory=_default_accounts)
    next_id: int = 1

    def new_id(self) -> str:
        """The next entity id (one sequence per company, as strings of digits)."""
        value = self.next_id
        self.next_id += 1
        return str(value)


class QuickBooksSandbox:
    """State of a fake QuickBooks Online: apps, companies, books, faults and the request log."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        seed: int = 1,
        webhook_verifier: str = "sandbox-intuit-verifier-token",
        refresh_grace_seconds: float = 0,
    ) -> None:
        self.clock = clock or Clock()
        self.log = RequestLog()
        self.faults = FaultInjector(API_PREFIXES)
        self.oauth = OAuthServer(
            self.clock, ACCESS_TTL, REFRESH_TTL, refresh_grace=timedelta(seconds=refresh_grace_seconds)
        )
        self.webhook_verifier = webhook_verifier
        self.user_id = "sandbox-user-1"
        self.realms: dict[str, QboRealm] = {}
        self.request_ids: dict[tuple[str, str], tuple[int, bytes]] = {}
        self._rng = random.Random(seed)  # noqa: S311 - deterministic ids, not secrets
        self._last_stamp: datetime | None = None

    @classmethod
    def with_demo_data(
        cls, *, today: date | None = None, synthetic: int = 0, clock: Clock | None = None
    ) -> QuickBooksSandbox:
        """Two companies: the demo book (plus `synthetic` invoices) and a small branch; QBO has no drafts."""
        sandbox = cls(clock=clock)
        day = today or sandbox.clock.today()
        main = sandbox.add_realm("Harbourview Client Services", home_currency="USD", country="US")
        sandbox.load_seed(main.realm_id, demo_seed(day))
        if synthetic:
            sandbox.load_seed(main.realm_id, synthetic_seed(synthetic, today=day))
        branch = sandbox.add_realm("Harbourview Brisbane", home_currency="AUD", country="AU")
        sandbox.load_seed(branch.realm_id, branch_seed(day))
        return sandbox

    def stamp(self) -> datetime:
        """A strictly increasing modification time (QuickBooks shows whole seconds, we keep ms internally)."""
        now = self.clock.now()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        self._last_stamp = strictly_after(now, self._last_stamp)
        return self._last_stamp

    def register_app(
        self, client_id: str, client_secret: str, redirect_uris: Sequence[str], name: str = "Collections Portal"
    ) -> None:
        """Register an OAuth app (any id, secret and redirect URIs)."""
        self.oauth.register_app(client_id, client_secret, redirect_uris, name)

    def add_realm(
        self, company_name: str, *, home_currency: str = "USD", country: str = "US", realm_id: str | None = None
    ) -> QboRealm:
        """Create a company; realm ids look like the real 19-digit ones."""
        realm_id = realm_id or str(9130350000000000000 + self._rng.randrange(10**15))
        realm = QboRealm(realm_id, company_name, home_currency, country, self.stamp())
        self.realms[realm_id] = realm
        return realm

    def add_customer(
        self,
        realm_id: str,
        *,
        display_name: str,
        email: str = "",
        given_name: str = "",
        family_name: str = "",
        currency: str | None = None,
        phone: str = "",
    ) -> QboCustomer:
        """Add a customer to a company."""
        realm = self.realms[realm_id]
        now = self.stamp()
        customer = QboCustomer(
            realm.new_id(),
            display_name,
            display_name,
            given_name,
            family_name,
            email,
            currency or realm.home_currency,
            phone,
            now,
            now,
        )
        realm.customers[customer.id] = customer
        return customer

    def add_invoice(
        self,
        realm_id: str,
        *,
        customer_id: str,
        doc_number: str,
        lines: Sequence[SeedLine],
        txn_date: date,
        due_date: date,
        private_note: str = "",
        updated_at: datetime | None = None,
    ) -> QboInvoice:
        """Add an invoice; amounts come from the lines."""
        realm = self.realms[realm_id]
        customer = realm.customers[customer_id]
        stamp = updated_at or self.stamp()
        qbo_lines = [
            QboLine(str(n), ln.description, ln.quantity, ln.unit_minor, ln.tax_percent)
            for n, ln in enumerate(lines, start=1)
        ]
        invoice = QboInvoice(
            realm.new_id(),
            realm_id,
            doc_number,
            customer_id,
            txn_date,
            due_date,
            customer.currency,
            qbo_lines,
            stamp,
            stamp,
            private_note=private_note,
        )
        realm.invoices[invoice.id] = invoice
        return invoice

    def load_seed(self, realm_id: str, data: SeedData) -> list[QboInvoice]:
        """Load seed customers and invoices (drafts are skipped; paid ones get real payments)."""
        customers = {
            c.key: self.add_customer(
                realm_id,
                display_name=c.name,
                email=c.email,
                given_name=c.first_name,
                family_name=c.last_name,
                currency=c.currency,
                phone=c.phone,
            )
            for c in data.clients
        }
        latest = self.clock.now() - timedelta(seconds=1)
        invoices = []
        for index, seed in enumerate(data.invoices):
            if seed.status == DRAFT:
                continue
            issued = datetime(seed.issue_date.year, seed.issue_date.month, seed.issue_date.day, 9, tzinfo=latest.tzinfo)
            updated = min(issued + timedelta(minutes=index % 600), latest)
            invoice = self.add_invoice(
                realm_id,
                customer_id=customers[seed.client_key].id,
                doc_number=seed.number,
                lines=seed.lines,
                txn_date=seed.issue_date,
                due_date=seed.due_date,
                private_note=seed.reference,
                updated_at=updated,
            )
            if seed.paid_minor:
                paid_on = min(seed.issue_date + timedelta(days=7), self.clock.today())
                self._apply_payment(invoice, seed.paid_minor, paid_on, f"SEED-{invoice.doc_number}", updated)
            if seed.status == VOIDED:
                self._void(invoice, updated)
            invoices.append(invoice)
        return invoices

    # ----- lookups ----------------------------------------------------------------------------------

    def invoice(self, invoice_id: str, realm_id: str | None = None) -> QboInvoice:
        """Find an invoice by Id (in one company, or the first company that has it)."""
        realms = [self.realms[realm_id]] if realm_id else list(self.realms.values())
        for realm in realms:
            if invoice_id in realm.invoices:
                return realm.invoices[invoice_id]
        raise KeyError(invoice_id)

    def invoice_by_number(self, realm_id: str, doc_number: str) -> QboInvoice:
        """Find an invoice by DocNumber."""
        return next(i for i in self.realms[realm_id].invoices.values() if i.doc_number == doc_number)

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request answered so far."""
        return self.log.entries

    # ----- mutations tests use --------------------------------------------------------------------

    def mark_paid(self, invoice_id: str, *, amount_minor: int | None = None, on: date | None = None) -> QboPayment:
        """Receive a payment in QuickBooks itself; defaults to the whole open balance."""
        invoice = self.invoice(invoice_id)
        amount = invoice.balance_minor if amount_minor is None else amount_minor
        return self._apply_payment(invoice, amount, on or self.clock.today(), "", None)

    def update_invoice(
        self,
        invoice_id: str,
        *,
        due_date: date | None = None,
        private_note: str | None = None,
        lines: Sequence[SeedLine] | None = None,
        customer_memo: str | None = None,
    ) -> QboInvoice:
        """Edit an invoice as a user would; bumps SyncToken and LastUpdatedTime."""
        invoice = self.invoice(invoice_id)
        if due_date is not None:
            invoice.due_date = due_date
        if private_note is not None:
            invoice.private_note = private_note
        if customer_memo is not None:
            invoice.customer_memo = customer_memo
        if lines is not None:
            invoice.lines = [
                QboLine(str(n), ln.description, ln.quantity, ln.unit_minor, ln.tax_percent)
                for n, ln in enumerate(lines, start=1)
            ]
        return self._touch(invoice)

    def void_invoice(self, invoice_id: str) -> QboInvoice:
        """Void an invoice: amounts go to zero and the memo says Voided."""
        return self._void(self.invoice(invoice_id), None)

    def delete_invoice(self, invoice_id: str) -> None:
        """Delete an invoice; change data capture then reports it with status Deleted."""
        invoice = self.invoice(invoice_id)
        realm = self.realms[invoice.realm_id]
        del realm.invoices[invoice_id]
        realm.deleted[("Invoice", invoice_id)] = self.stamp()

    def touch_invoice(self, invoice_id: str, at: datetime | None = None) -> QboInvoice:
        """Move LastUpdatedTime to now (or `at`)."""
        invoice = self.invoice(invoice_id)
        invoice.sync_token += 1
        invoice.updated_at = at or self.stamp()
        return invoice

    def expire_access_token(self, token: str | None = None) -> int:
        """Expire one access token or, with no argument, all of them."""
        return self.oauth.expire_access(token)

    # ----- fault injection --------------------------------------------------------------------------

    def fail_next(
        self, n: int = 1, status: int = 429, retry_after: int | None = 1, path_prefix: str | None = None
    ) -> None:
        """Make the next `n` API calls fail (429 is QuickBooks' ThrottleExceeded fault)."""
        self.faults.fail_next(n, status, retry_after, path_prefix)

    def start_storm(self, status: int = 503, rate: float = 1.0, retry_after: int | None = None, seed: int = 0) -> None:
        """Fail a share of API calls until `stop_storm`."""
        self.faults.start_storm(status, rate, retry_after, seed=seed)

    def stop_storm(self) -> None:
        """End a failure storm."""
        self.faults.stop_storm()

    # ----- OAuth ----------------------------------------------------------------------------------

    def consent(self, client_id: str, scopes: Sequence[str], realm_id: str, nonce: str | None = None) -> Grant:
        """Record a consent to one company."""
        grant_id = secrets.token_hex(16)
        return Grant(grant_id, client_id, self.user_id, tuple(scopes), (realm_id,), public=False, nonce=nonce)

    def realm_for(self, record: AccessRecord, realm_id: str) -> QboRealm:
        """The company a call targets, if the token was granted for it."""
        if realm_id not in record.grant.resources or realm_id not in self.realms:
            raise QboAuthError(403, "ApplicationAuthorizationFailed")
        return self.realms[realm_id]

    # ----- payments -------------------------------------------------------------------------------

    def _touch(self, invoice: QboInvoice, at: datetime | None = None) -> QboInvoice:
        invoice.sync_token += 1
        invoice.updated_at = at or self.stamp()
        return invoice

    def _void(self, invoice: QboInvoice, at: datetime | None) -> QboInvoice:
        invoice.voided = True
        invoice.private_note = f"Voided{' - ' + invoice.private_note if invoice.private_note else ''}"
        return self._touch(invoice, at)

    def _apply_payment(
        self, invoice: QboInvoice, amount_minor: int, on: date, ref_num: str, at: datetime | None
    ) -> QboPayment:
        realm = self.realms[invoice.realm_id]
        stamp = at or self.stamp()
        payment = QboPayment(
            realm.new_id(),
            realm.realm_id,
            invoice.customer_id,
            invoice.currency,
            amount_minor,
            on,
            ref_num,
            [(invoice.id, amount_minor)],
            stamp,
            stamp,
        )
        realm.payments[payment.id] = payment
        self._link(realm, payment, stamp)
        return payment

    def _link(self, realm: QboRealm, payment: QboPayment, stamp: datetime) -> None:
        for invoice_id, amount in payment.lines:
            invoice = realm.invoices[invoice_id]
            invoice.paid_minor += amount
            invoice.payment_ids.append(payment.id)
            self._touch(invoice, stamp)

    def receive_payment(
        self,
        realm: QboRealm,
        *,
        customer_id: str,
        total_minor: int,
        on: date,
        ref_num: str,
        lines: list[tuple[str, int]],
        private_note: str = "",
        deposit_account_id: str = UNDEPOSITED_FUNDS,
    ) -> QboPayment:
        """Record a validated payment coming through the API and apply it to its invoices."""
        stamp = self.stamp()
        customer = realm.customers[customer_id]
        payment = QboPayment(
            realm.new_id(),
            realm.realm_id,
            customer_id,
            customer.currency,
            total_minor,
            on,
            ref_num,
            lines,
            stamp,
            stamp,
            private_note=private_note,
            deposit_account_id=deposit_account_id,
        )
        realm.payments[payment.id] = payment
        self._link(realm, payment, stamp)
        return payment

    def delete_payment(self, realm: QboRealm, payment_id: str, sync_token: str) -> QboPayment:
        """Delete a payment (needs the current SyncToken); its invoices are open again."""
        payment = realm.payments.get(payment_id)
        if payment is None:
            raise not_found()
        if sync_token != str(payment.sync_token):
            raise QboFault(
                "5010",
                "Stale Object Error",
                f"Stale Object Error : You and {self.user_id} were working on this at the same time. "
                f"{self.user_id} finished before you did, so your work was not saved.",
            )
        stamp = self.stamp()
        for invoice_id, amount in payment.lines:
            invoice = realm.invoices.get(invoice_id)
            if invoice is not None:
                invoice.paid_minor -= amount
                invoice.payment_ids.remove(payment.id)
                self._touch(invoice, stamp)
        del realm.payments[payment_id]
        realm.deleted[("Payment", payment_id)] = stamp
        return payment
