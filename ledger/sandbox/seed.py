"""Provider-neutral seed data for the sandboxes: a realistic demo book and fast synthetic load-test books."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from ledger.sandbox.common import percent_of

DRAFT = "DRAFT"
AUTHORISED = "AUTHORISED"
PAID = "PAID"
VOIDED = "VOIDED"

# Sales tax by currency, as a firm in each country would charge on services.
TAX_RATES: dict[str, Decimal] = {"USD": Decimal(0), "AUD": Decimal(10), "GBP": Decimal(20), "JPY": Decimal(10)}


@dataclass(frozen=True, slots=True)
class SeedClient:
    """A customer of the accounting firm's client (Xero contact / QuickBooks customer)."""

    key: str
    name: str
    email: str
    currency: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class SeedLine:
    """An invoice line: quantity x unit price in minor units, with a tax rate in percent."""

    description: str
    quantity: Decimal
    unit_minor: int
    tax_percent: Decimal = Decimal(0)

    @property
    def net_minor(self) -> int:
        """Line amount before tax, in minor units."""
        return int((self.quantity * self.unit_minor).to_integral_value())

    @property
    def tax_minor(self) -> int:
        """Tax on the line, in minor units, rounded half up."""
        return percent_of(self.net_minor, self.tax_percent)


@dataclass(frozen=True, slots=True)
class SeedInvoice:
    """An invoice with its lines and how much of it was already paid."""

    number: str
    client_key: str
    currency: str
    issue_date: date
    due_date: date
    status: str
    lines: tuple[SeedLine, ...]
    paid_minor: int = 0
    reference: str = ""

    @property
    def subtotal_minor(self) -> int:
        """Sum of line amounts before tax."""
        return sum(line.net_minor for line in self.lines)

    @property
    def tax_minor(self) -> int:
        """Sum of line taxes."""
        return sum(line.tax_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        """Invoice total including tax."""
        return self.subtotal_minor + self.tax_minor


@dataclass(frozen=True, slots=True)
class SeedData:
    """Clients and their invoices, ready to load into a sandbox."""

    clients: tuple[SeedClient, ...]
    invoices: tuple[SeedInvoice, ...]


# key | name | email | currency | first name | last name | phone
_DEMO_CLIENTS_TABLE = """
brightwater | Brightwater Dental Group | accounts@brightwaterdental.example | USD | Maya | Okafor | +1 415 555 0142
copperline | Copperline Logistics LLC | ap@copperline-logistics.example | USD | Daniel | Reyes | +1 312 555 0187
hudsonvale | Hudson & Vale Architects | billing@hudsonvale.example | USD | Priya | Natarajan | +1 646 555 0119
marlowe | Marlowe Family Trust | | USD | Eleanor | Marlowe | +1 207 555 0163
koalacreek | Koala Creek Vineyards Pty Ltd | finance@koalacreek.example | AUD | Liam | O'Connell | +61 8 5555 0123
southernreef | Southern Reef Surf Co. | hello@southernreef.example | AUD | Chloe | Nguyen | +61 7 5555 0178
thornbury | Thornbury Bakery Ltd | accounts@thornburybakery.example | GBP | Oliver | Hughes | +44 117 496 0321
ashcombe | Ashcombe Legal LLP | payables@ashcombelegal.example | GBP | Harriet | Ashcombe | +44 20 7946 0958
sakura | Sakura Design Studio K.K. | keiri@sakura-design.example | JPY | Yui | Tanaka | +81 3 5555 0199
"""

# number | client | issued (days ago) | due (days from today) | status | share paid | reference
_DEMO_INVOICES_TABLE = """
INV-0101 | brightwater  | 75 | -45 | AUTHORISED | 0   | Q2 services
INV-0102 | copperline   | 42 | -12 | AUTHORISED | 0   | PO 7781
INV-0103 | hudsonvale   | 33 | -3  | AUTHORISED | 0   |
INV-0104 | brightwater  | 10 | 3   | AUTHORISED | 0   | Oct retainer
INV-0105 | marlowe      | 16 | 7   | AUTHORISED | 0   |
INV-0106 | copperline   | 20 | 14  | AUTHORISED | 0.3 | PO 7790
INV-0107 | koalacreek   | 50 | -20 | AUTHORISED | 0   | BAS Q4
INV-0108 | southernreef | 12 | 5   | AUTHORISED | 0.5 |
INV-0109 | thornbury    | 38 | -8  | AUTHORISED | 0   | FY2026
INV-0110 | ashcombe     | 5  | 25  | AUTHORISED | 0   |
INV-0111 | sakura       | 40 | -10 | AUTHORISED | 0   |
INV-0112 | sakura       | 9  | 21  | AUTHORISED | 0.4 | Nenmatsu
INV-0113 | hudsonvale   | 60 | -30 | PAID       | 1   |
INV-0114 | thornbury    | 3  | 27  | DRAFT      | 0   |
INV-0115 | koalacreek   | 1  | 29  | DRAFT      | 0   |
INV-0116 | ashcombe     | 45 | -15 | VOIDED     | 0   |
"""

# number | description | quantity | unit price in the currency's minor units
_DEMO_LINES_TABLE = """
INV-0101 | Quarterly bookkeeping, Q2 | 1 | 180000
INV-0101 | Payroll processing (12 staff) | 3 | 24000
INV-0102 | Sales tax filing, 3 states | 1 | 95000
INV-0103 | Advisory hours | 6.5 | 17500
INV-0104 | Monthly bookkeeping, October | 1 | 65000
INV-0105 | Trust tax return preparation | 1 | 220000
INV-0106 | Audit preparation | 12 | 15000
INV-0106 | Document courier | 2 | 4550
INV-0107 | BAS lodgement, quarter ending June | 1 | 88000
INV-0108 | Xero setup and training | 4 | 16500
INV-0109 | Year-end accounts | 1 | 145000
INV-0109 | Corporation tax return | 1 | 45000
INV-0110 | VAT return, quarter to September | 1 | 39500
INV-0111 | Monthly bookkeeping | 1 | 120000
INV-0111 | Consumption tax filing | 1 | 60000
INV-0112 | Payroll year-end adjustment | 1 | 250000
INV-0113 | Cash-flow forecast | 1 | 125000
INV-0114 | Management accounts, November | 1 | 55000
INV-0115 | Payroll tax reconciliation | 1 | 42000
INV-0116 | Duplicate - see INV-0110 | 1 | 39500
"""


def _rows(table: str) -> list[list[str]]:
    return [[cell.strip() for cell in row.split("|")] for row in table.strip().splitlines()]


def _demo_lines(number: str, currency: str) -> tuple[SeedLine, ...]:
    return tuple(
        SeedLine(description, Decimal(quantity), int(unit), TAX_RATES[currency])
        for invoice, description, quantity, unit in _rows(_DEMO_LINES_TABLE)
        if invoice == number
    )


def _paid_share(lines: tuple[SeedLine, ...], share: Decimal) -> int:
    total = sum(line.net_minor + line.tax_minor for line in lines)
    return int((total * share).to_integral_value())


def demo_clients() -> tuple[SeedClient, ...]:
    """The demo book's clients: USD, AUD, GBP and JPY customers, one without an email address."""
    return tuple(SeedClient(*row) for row in _rows(_DEMO_CLIENTS_TABLE))


def demo_seed(today: date) -> SeedData:
    """The demo book: overdue, due-soon, part-paid, draft, paid and voided invoices in USD, AUD, GBP and JPY."""
    clients = demo_clients()
    currency = {c.key: c.currency for c in clients}
    invoices = []
    for number, key, issued_ago, due_in, status, share, reference in _rows(_DEMO_INVOICES_TABLE):
        lines = _demo_lines(number, currency[key])
        invoices.append(
            SeedInvoice(
                number=number,
                client_key=key,
                currency=currency[key],
                issue_date=today - timedelta(days=int(issued_ago)),
                due_date=today + timedelta(days=int(due_in)),
                status=status,
                lines=lines,
                paid_minor=_paid_share(lines, Decimal(share)),
                reference=reference,
            )
        )
    return SeedData(clients, tuple(invoices))


def branch_seed(today: date) -> SeedData:
    """A small second book (for a second organisation/company) with a few AUD invoices."""
    clients = (
        SeedClient("bluegum", "Bluegum Physiotherapy", "admin@bluegumphysio.example", "AUD", "Noah", "Smith"),
        SeedClient("wattle", "Wattle & Co. Florists", "orders@wattleflorists.example", "AUD", "Ava", "Brown"),
    )
    lines = (SeedLine("Monthly bookkeeping", Decimal(1), 49500, TAX_RATES["AUD"]),)
    invoices = (
        SeedInvoice(
            "BR-2001", "bluegum", "AUD", today - timedelta(days=30), today - timedelta(days=2), AUTHORISED, lines
        ),
        SeedInvoice(
            "BR-2002",
            "wattle",
            "AUD",
            today - timedelta(days=4),
            today + timedelta(days=10),
            AUTHORISED,
            lines,
            reference="Nov",
        ),
    )
    return SeedData(clients, invoices)


# fmt: off
_FIRST = ("Acme", "Blue", "Cedar", "Delta", "Evergreen", "Falcon", "Granite", "Harbor", "Iris", "Juniper", "Kestrel",
          "Lumen", "Maple", "Northwind", "Orchid", "Pioneer", "Quartz", "Riverside", "Summit", "Tidal")
_SECOND = ("Dental", "Logistics", "Bakery", "Architects", "Consulting", "Foods", "Motors", "Studios", "Farms", "Legal",
           "Clinic", "Builders", "Media", "Outfitters", "Labs")
# fmt: on
_SUFFIX = {"USD": "LLC", "AUD": "Pty Ltd", "GBP": "Ltd", "JPY": "K.K."}
_SERVICES = (
    ("Monthly bookkeeping", 45000),
    ("Payroll processing", 12000),
    ("Tax return preparation", 150000),
    ("Advisory hours", 17500),
    ("Sales tax filing", 60000),
    ("Year-end accounts", 140000),
)
_CURRENCY_CYCLE = ("USD", "USD", "USD", "USD", "AUD", "AUD", "GBP", "GBP", "JPY", "USD")


def _price(us_cents: int, currency: str) -> int:
    """A service price in the currency's minor units: yen has none, so $450.00 becomes JPY 67,500."""
    return us_cents * 150 // 100 if currency == "JPY" else us_cents


def _synthetic_clients(count: int) -> tuple[SeedClient, ...]:
    clients = []
    for i in range(count):
        currency = _CURRENCY_CYCLE[i % len(_CURRENCY_CYCLE)]
        base = f"{_FIRST[i % len(_FIRST)]} {_SECOND[(i // len(_FIRST)) % len(_SECOND)]}"
        name = f"{base} {_SUFFIX[currency]}" if i < len(_FIRST) * len(_SECOND) else f"{base} {i} {_SUFFIX[currency]}"
        email = f"billing+{i}@{base.lower().replace(' ', '')}.example"
        clients.append(SeedClient(f"syn{i}", name, email, currency, "Alex", f"Client{i}"))
    return tuple(clients)


def synthetic_seed(n: int, *, today: date, seed: int = 42, clients: int | None = None) -> SeedData:
    """`n` plausible invoices (mostly open, some part-paid or paid) over a pool of clients; 50,000 in ~1 s."""
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    pool = _synthetic_clients(clients if clients is not None else max(1, min(500, n // 10)))
    invoices = []
    for i in range(n):
        client = pool[rng.randrange(len(pool))]
        tax = TAX_RATES[client.currency]
        lines = tuple(
            SeedLine(desc, Decimal(rng.randint(1, 4)), _price(cents, client.currency), tax)
            for desc, cents in rng.sample(_SERVICES, rng.randint(1, 3))
        )
        issued = today - timedelta(days=rng.randint(0, 120))
        roll = rng.random()
        total = sum(line.net_minor + line.tax_minor for line in lines)
        status, paid = (
            (PAID, total) if roll < 0.05 else (AUTHORISED, total * rng.randint(1, 9) // 10 if roll < 0.15 else 0)
        )
        invoices.append(
            SeedInvoice(
                f"SYN-{i + 1:06d}",
                client.key,
                client.currency,
                issued,
                issued + timedelta(days=rng.choice((14, 30, 45))),
                status,
                lines,
                paid,
                f"Load test {seed}",
            )
        )
    return SeedData(pool, tuple(invoices))
