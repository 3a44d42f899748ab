"""Smaller ASVS items: password length, OAuth consent lifetime and tokens at rest, one-line email headers."""

from __future__ import annotations

import asyncio
import datetime as dt
from urllib.parse import urlsplit

import httpx
import pytest

from core.clock import utcnow
from core.errors import Invalid
from core.mail import OutgoingEmail, to_mime
from core.security import SecretBox
from ledger.connections import CONSENT_LIFETIME
from ledger.sandbox.consent import approve
from ledger.tables import LedgerConnection, LedgerGrant
from staff.request_emails import check_placeholders
from staff.services import create_workspace
from tests.conftest import TEST_SECRET, WorkspaceFactory, XeroStandIn
from tests.helpers import auth, json_of
from tests.ledger_helpers import connect_ledger


async def test_passwords_need_twelve_characters(workspaces: WorkspaceFactory) -> None:
    with pytest.raises(Invalid) as refused:
        await create_workspace(name="Firm", admin_email="eleven@firm.example", admin_password="elevenchars")
    assert "12 characters" in refused.value.fields["admin_password"]
    created = await create_workspace(name="Firm", admin_email="twelve@firm.example", admin_password="twelve chars")
    assert created.api_token


async def test_a_consent_started_over_an_hour_ago_cannot_complete(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    created, _ = await workspaces.create()
    tenant = xero.sandbox.add_tenant("Stale Consent Ltd")
    started = await client.post(
        "/api/v1/ledger-connections", json={"provider": "xero"}, headers=auth(created.api_token)
    )
    connection_id = json_of(started.content)["id"]
    await LedgerConnection.update(
        {LedgerConnection.created_at: utcnow() - CONSENT_LIFETIME - dt.timedelta(minutes=1)}
    ).where(LedgerConnection.id == connection_id)
    redirect = urlsplit(
        await asyncio.to_thread(approve, json_of(started.content)["authorize_url"], choose=[tenant.tenant_id])
    )
    callback = await client.get(f"{redirect.path}?{redirect.query}", follow_redirects=False)
    assert callback.status_code == 400
    assert "expired" in callback.text
    row = await LedgerConnection.select(LedgerConnection.status).where(LedgerConnection.id == connection_id).first()
    assert row is not None
    assert row["status"] == "pending"


def test_line_breaks_in_ledger_or_firm_text_cannot_add_email_headers() -> None:
    email = OutgoingEmail(
        to="client@client.example",
        subject="Invoice INV-1\r\nBcc: thief@evil.example",
        text="body",
        html="<p>body</p>",
        from_name="Firm\nBcc: thief@evil.example",
    )
    message = to_mime(email, "billing@firm.example")
    assert message["Bcc"] is None
    assert message["Subject"] == "Invoice INV-1 Bcc: thief@evil.example"
    assert "\n" not in str(message["From"])
    raw = bytes(message)
    assert b"\nBcc:" not in raw


async def test_oauth_tokens_are_stored_encrypted(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, xero: XeroStandIn
) -> None:
    created, _ = await workspaces.create()
    tenant = xero.sandbox.add_tenant("Encrypted Grant Ltd")
    callback = await connect_ledger(client, created.api_token, "xero", xero.url, [tenant.tenant_id])
    assert callback.status_code == 303
    row = (
        await LedgerGrant.select(LedgerGrant.access_token_enc, LedgerGrant.refresh_token_enc)
        .where(LedgerGrant.workspace == created.workspace_id)
        .first()
    )
    assert row is not None
    box = SecretBox(TEST_SECRET)
    refresh_token = box.open(row["refresh_token_enc"])
    assert refresh_token in xero.sandbox.oauth._refresh  # the real token, issued by the ledger...
    assert refresh_token not in row["refresh_token_enc"]  # ...is not what the database holds
    access_token = box.open(row["access_token_enc"])
    assert access_token not in row["access_token_enc"]
    with pytest.raises(ValueError, match="could not be decrypted"):
        SecretBox("another-secret-key-0123456789abcdef").open(row["refresh_token_enc"])


@pytest.mark.parametrize("text", ["{client_name.__class__}", "{link!r}", "{amount_due:>99999}", "{firm_name[0]}"])
def test_placeholders_allow_no_attribute_access_conversion_or_format_spec(text: str) -> None:
    with pytest.raises(Invalid):
        check_placeholders(text, "message")
