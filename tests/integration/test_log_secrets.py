"""A whole magic-link flow, SMTP trouble included, leaves no link token or API token in any log."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from saq.queue import Queue

from core.logs import RedactingFilter, configure_structlog
from core.serving import free_port
from ledger.tables import InvoicePdf
from tests.conftest import WorkspaceFactory
from tests.factories import make_client, make_invoice
from tests.helpers import auth, json_of
from tests.mailcatcher import Catcher

SECRET_TOKEN = "Qw8_rT5yUi2oPa9sDf4gHj7kLz1xCv6bNm3eRt0yUiO"
OAUTH_CODE, OAUTH_STATE = "authcode0f0a1b2c3d4e5f", "st4te0f0a1b2c3d4e5f6a7b8"


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every record at INFO, and SAQ's at DEBUG (it then logs each job with its full kwargs), through the redaction."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    root, saq = logging.getLogger(), logging.getLogger("saq")
    previous = root.level, saq.level, structlog.get_config()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    saq.setLevel(logging.DEBUG)
    configure_structlog()
    yield stream
    structlog.configure(**previous[2])
    saq.setLevel(previous[1])
    root.setLevel(previous[0])
    root.removeHandler(handler)


async def test_magic_link_flow_with_a_refused_email_logs_no_token(
    captured_logs: io.StringIO,
    client: httpx.AsyncClient,
    workspaces: WorkspaceFactory,
    queue: Queue,
    mail: Catcher,
) -> None:
    created, _ = await workspaces.create()
    address = "logs@client.example"
    customer = await make_client(created.workspace_id, email=address)
    invoice = await make_invoice(created.workspace_id, customer, number="INV-LOGS")
    await InvoicePdf(invoice=invoice.id, version="AUTHORISED", content=b"%PDF-1.4 copy").save()
    mail.refuse.add(address)  # the first delivery fails: SAQ logs the failing job

    sent = await client.post(
        "/api/v1/payment-requests",
        json={"invoice_ids": [str(invoice.id)], "mode": "send"},
        headers=auth(created.api_token),
    )
    assert sent.status_code == 202
    request_id = json_of(sent.content)["requests"][0]["id"]
    job = None
    for _ in range(300):
        job = await queue.job(f"deliver:{request_id}")
        if job is not None and job.attempts >= 1 and "Error processing job" in captured_logs.getvalue():
            break
        await asyncio.sleep(0.05)
    assert job is not None
    token = job.kwargs["token"]
    mail.refuse.discard(address)

    opened = await client.get(f"/p/{token}", follow_redirects=True)
    assert opened.status_code == 200
    assert "INV-LOGS" in opened.text
    assert (await client.get(f"/portal/invoices/{invoice.id}/pdf")).status_code == 200

    logs = captured_logs.getvalue()
    assert "deliver_payment_request" in logs  # the failing job was logged...
    assert token not in logs  # ...without its magic-link token
    assert created.api_token not in logs
    assert address not in logs


@pytest.mark.timeout(90)
def test_portal_serve_access_log_hides_magic_links_and_oauth_codes(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PORTAL_", "STRIPE_", "XERO_"))}
    output = tmp_path / "server.log"
    with output.open("wb") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("portal")), "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    httpx.get(f"{base}/api/v1/health", timeout=2)
                    break
                except httpx.TransportError:
                    time.sleep(0.3)
            link = httpx.get(f"{base}/p/{SECRET_TOKEN}", timeout=5)
            assert link.status_code == 404
            callback = httpx.get(f"{base}/ledger/callback/xero?code={OAUTH_CODE}&state={OAUTH_STATE}", timeout=5)
            assert callback.status_code == 400
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
    log = output.read_text()
    assert "/api/v1/health" in log  # the access log is on...
    assert "/p/[redacted]" in log
    for secret in (SECRET_TOKEN, OAUTH_CODE, OAUTH_STATE):
        assert secret not in log  # ...and holds none of these
