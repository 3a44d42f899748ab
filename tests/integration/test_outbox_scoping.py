"""The demo outbox (no SMTP server): each workspace sees only its own mail, magic links included."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import msgspec
import pytest
from litestar import Litestar

from core.mail import Attachment, OutboxMailer, OutgoingEmail
from core.tables import OutboxMessage
from tests.conftest import WorkspaceFactory
from tests.helpers import csrf_from


@pytest.fixture
def outbox_mode(running_app: Litestar) -> Iterator[None]:
    """The app as the demo runs it: no PORTAL_SMTP_URL, so the outbox pages exist."""
    settings = running_app.state.settings
    running_app.state.settings = msgspec.structs.replace(settings, smtp_url=None)
    yield
    running_app.state.settings = settings


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/staff/login")
    await client.post("/staff/login", data={"email": email, "password": password, "_csrf_token": csrf_from(page.text)})


@pytest.mark.usefixtures("outbox_mode")
async def test_staff_never_see_another_workspaces_outbox(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    other, _ = await workspaces.create("Other Firm")
    mine, my_email = await workspaces.create("My Firm")
    mailer = OutboxMailer("billing@firm.example")
    link = "http://testserver.local/p/secret-link-of-the-other-firm"
    for workspace_id, to in ((other.workspace_id, "victim@other.example"), (mine.workspace_id, "mine@my.example")):
        await mailer.send(
            OutgoingEmail(
                to=to,
                subject=f"Invoice for {to}",
                text=f"Pay here: {link}",
                html=f'<a href="{link}">Pay</a>',
                attachments=(Attachment(filename="INV-1.pdf", content_type="application/pdf", content=b"%PDF-1.4"),),
                workspace_id=workspace_id,
            )
        )
    theirs = await OutboxMessage.select(OutboxMessage.id).where(OutboxMessage.recipient == "victim@other.example")
    ours = await OutboxMessage.select(OutboxMessage.id).where(OutboxMessage.recipient == "mine@my.example")
    their_id, our_id = theirs[0]["id"], ours[0]["id"]

    await _sign_in(client, my_email, workspaces.password)
    listing = await client.get("/staff/outbox")
    assert listing.status_code == 200
    assert "mine@my.example" in listing.text
    assert "victim@other.example" not in listing.text
    assert (await client.get(f"/staff/outbox/{our_id}")).status_code == 200
    for path in (f"/staff/outbox/{their_id}", f"/staff/outbox/{their_id}/attachments/0"):
        response = await client.get(path)
        assert response.status_code == 404
        assert "secret-link" not in response.text
