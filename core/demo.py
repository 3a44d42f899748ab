"""`portal demo`: the product offline, with ledger sandboxes connected and a seeded workspace."""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import httpx
import structlog

from core.serving import serving
from core.settings import Settings, load_settings
from core.stripe_standin import DEMO_PUBLISHABLE_KEY, DEMO_SECRET_KEY, LocalStripeServer
from ledger.sandbox.consent import approve
from ledger.sandbox.quickbooks import QuickBooksSandbox
from ledger.sandbox.quickbooks import create_app as quickbooks_app
from ledger.sandbox.xero import XeroSandbox
from ledger.sandbox.xero import create_app as xero_app
from staff.services import create_api_token, create_workspace
from staff.tables import StaffUser

log = structlog.get_logger()

DEMO_EMAIL = "demo@firm.example"
DEMO_PASSWORD = "demo-password-1"  # noqa: S105 - a published credential for a local, offline demo.
DEMO_FIRM = "Harbour & Co Accountants"


@dataclass(frozen=True)
class DemoLedgers:
    """Where the stand-ins listen (ledger sandboxes, Stripe) and the OAuth app registered with them."""

    xero_url: str
    quickbooks_url: str
    client_id: str
    client_secret: str
    stripe_url: str
    stripe_webhook_secret: str


@contextlib.contextmanager
def ledger_sandboxes(base_url: str, port: int) -> Iterator[DemoLedgers]:
    """Xero and QuickBooks sandboxes with realistic books on the next two ports."""
    client_id, client_secret = "portal-demo", secrets.token_urlsafe(24)
    xero = XeroSandbox.with_demo_data()
    xero.register_app(client_id, client_secret, [f"{base_url}/ledger/callback/xero"])
    quickbooks = QuickBooksSandbox.with_demo_data()
    quickbooks.register_app(client_id, client_secret, [f"{base_url}/ledger/callback/quickbooks"])
    stripe_port = LocalStripeServer().start(port + 3)
    stripe_url = f"http://127.0.0.1:{stripe_port}"
    webhook_secret = "whsec_" + secrets.token_urlsafe(24)
    # localstripe's own configuration call: deliver its events to our webhook, signed like Stripe.
    httpx.post(
        f"{stripe_url}/_config/webhooks/portal",
        data={"url": f"{base_url}/webhooks/stripe", "secret": webhook_secret},
        timeout=10,
    ).raise_for_status()
    with serving(xero_app(xero), port=port + 1) as xero_url, serving(quickbooks_app(quickbooks), port=port + 2) as qbo:
        yield DemoLedgers(
            xero_url=xero_url,
            quickbooks_url=qbo,
            client_id=client_id,
            client_secret=client_secret,
            stripe_url=stripe_url,
            stripe_webhook_secret=webhook_secret,
        )


def demo_environment(ledgers: DemoLedgers) -> dict[str, str]:
    """The variables that point the app at the sandboxes, as an operator would set them."""
    return {
        "XERO_CLIENT_ID": ledgers.client_id,
        "XERO_CLIENT_SECRET": ledgers.client_secret,
        "XERO_LOGIN_BASE": ledgers.xero_url,
        "XERO_IDENTITY_BASE": ledgers.xero_url,
        "XERO_API_BASE": ledgers.xero_url,
        "QUICKBOOKS_CLIENT_ID": ledgers.client_id,
        "QUICKBOOKS_CLIENT_SECRET": ledgers.client_secret,
        "QUICKBOOKS_AUTHORIZE_URL": f"{ledgers.quickbooks_url}/connect/oauth2",
        "QUICKBOOKS_TOKEN_URL": f"{ledgers.quickbooks_url}/oauth2/v1/tokens/bearer",
        "QUICKBOOKS_API_BASE": ledgers.quickbooks_url,
        "STRIPE_SECRET_KEY": DEMO_SECRET_KEY,
        "STRIPE_PUBLISHABLE_KEY": DEMO_PUBLISHABLE_KEY,
        "STRIPE_WEBHOOK_SECRET": ledgers.stripe_webhook_secret,
        "STRIPE_API_BASE": ledgers.stripe_url,
        "STRIPE_JS_URL": f"{ledgers.stripe_url}/js.stripe.com/v3/",
    }


def demo_settings(directory: Path, port: int, environment: dict[str, str]) -> Settings:
    """Embedded defaults in the demo's own folder, pointed at the sandboxes."""
    values = {
        **environment,
        "PORTAL_DATABASE_URL": f"sqlite:///{directory / 'portal.sqlite3'}",
        "PORTAL_BASE_URL": f"http://127.0.0.1:{port}",
    }
    os.environ.update(values)  # The server's worker process builds the app from the environment.
    return load_settings(values)


async def seed_demo() -> str:
    """The demo workspace (created once) and a fresh API token for this run's auto-connect."""
    staff = await StaffUser.objects().where(StaffUser.email == DEMO_EMAIL).first()
    if staff is None:
        created = await create_workspace(name=DEMO_FIRM, admin_email=DEMO_EMAIL, admin_password=DEMO_PASSWORD)
        return created.api_token
    return await create_api_token(staff.workspace, name="demo")


def connect_when_up(base_url: str, api_token: str, database_file: Path) -> threading.Thread:
    """Once the server answers: connect both sandboxes through the real consent flow, then email one
    client a payment request and print its magic link (the email itself is in the outbox)."""

    def run() -> None:
        headers = {"Authorization": f"Bearer {api_token}"}
        with httpx.Client(base_url=base_url, timeout=30, headers=headers) as http:
            for _ in range(200):
                with contextlib.suppress(httpx.TransportError):
                    if http.get("/api/v1/health").status_code == 200:
                        break
                time.sleep(0.1)
            for provider in ("xero", "quickbooks"):
                started = http.post("/api/v1/ledger-connections", json={"provider": provider})
                callback = approve(started.json()["authorize_url"])
                http.get(callback.replace(base_url, ""), follow_redirects=False)
                log.info("demo_ledger_connected", provider=provider)
            link = _request_one_client(http, database_file)
        print(f"\n  Client magic link: {link}\n  (its email is in the outbox)\n", flush=True)  # noqa: T201

    thread = threading.Thread(target=run, name="demo-connect", daemon=True)
    thread.start()
    return thread


def _request_one_client(http: httpx.Client, database_file: Path) -> str:
    """Send the first imported client with an email a payment request; returns the link from its email."""
    invoices: list[dict[str, object]] = []
    for _ in range(300):
        invoices = http.get("/api/v1/invoices", params={"limit": 200}).json()["items"]
        if invoices:
            break
        time.sleep(0.1)
    chosen = next(item for item in invoices if item["client"]["email"])  # type: ignore[index]
    client_id = chosen["client"]["id"]  # type: ignore[index]
    ids = [item["id"] for item in invoices if item["client"]["id"] == client_id]  # type: ignore[index]
    http.post("/api/v1/payment-requests", json={"invoice_ids": ids, "mode": "send"}).raise_for_status()
    for _ in range(300):
        with contextlib.closing(sqlite3.connect(database_file)) as db:
            rows = db.execute("SELECT mime FROM outbox_message ORDER BY created_at DESC LIMIT 20").fetchall()
        for (mime,) in rows:
            message = email.message_from_bytes(bytes(mime), policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",)) if isinstance(message, EmailMessage) else None
            found = re.search(r"(http://\S+/p/[A-Za-z0-9_\-]+)", body.get_content() if body else "")
            if found:
                return found.group(1)
        time.sleep(0.1)
    return "(not sent yet: see the outbox)"
