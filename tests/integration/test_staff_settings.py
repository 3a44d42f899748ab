"""The staff Settings page: firm details, message templates and staff accounts."""

from __future__ import annotations

import asyncio
import html
import uuid
from typing import Any

import httpx
import pytest
from markupsafe import escape

from core.scope import WorkspaceScope
from core.tables import Workspace
from staff.settings import templates_for
from staff.tables import MessageTemplate, StaffUser
from tests.conftest import WorkspaceFactory
from tests.helpers import csrf_from

GOOD_SETTINGS = {
    "name": "Baker & Co Accountants",
    "logo_url": "https://cdn.baker.example/logo.png",
    "reply_to": "Accounts@Baker.example",
    "timezone": "Europe/London",
    "link_lifetime_days": "45",
    "reminder_days": "14, -2, 0",
    "retry_after_business_days": "0",
}


async def _sign_in(client: httpx.AsyncClient, email: str, password: str) -> None:
    page = await client.get("/staff/login")
    response = await client.post(
        "/staff/login",
        data={"email": email, "password": password, "_csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303


async def _sign_out(client: httpx.AsyncClient) -> None:
    page = await client.get("/staff/settings")
    response = await client.post("/staff/logout", data={"_csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert response.status_code == 303


async def _admin(client: httpx.AsyncClient, workspaces: WorkspaceFactory, name: str = "Firm") -> tuple[str, str]:
    """A new workspace with its admin signed in: (workspace id, admin email)."""
    created, email = await workspaces.create(name)
    await _sign_in(client, email, workspaces.password)
    return created.workspace_id, email


async def _post(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    """Submit a settings form the way a browser does: with the CSRF token of a freshly loaded page."""
    page = await client.get("/staff/settings")
    return await client.post(path, data={**data, "_csrf_token": csrf_from(page.text)}, follow_redirects=False)


async def _workspace_row(workspace_id: str) -> dict[str, Any]:
    """The workspace's settings as stored."""
    row = (
        await Workspace.select(
            Workspace.name,
            Workspace.logo_url,
            Workspace.reply_to,
            Workspace.timezone,
            Workspace.link_lifetime_days,
            Workspace.reminder_days,
            Workspace.retry_soft_declines,
            Workspace.retry_after_business_days,
        )
        .where(Workspace.id == uuid.UUID(workspace_id))
        .first()
    )
    assert row is not None
    return row


async def _template_rows(workspace_id: str) -> list[dict[str, Any]]:
    return await MessageTemplate.select(MessageTemplate.name, MessageTemplate.subject, MessageTemplate.body).where(
        MessageTemplate.workspace == uuid.UUID(workspace_id)
    )


async def _staff_id(email: str) -> str:
    row = await StaffUser.select(StaffUser.id).where(StaffUser.email == email).first()
    assert row is not None
    return str(row["id"])


# Firm details


async def test_admin_saves_settings(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    workspace_id, _ = await _admin(client, workspaces)
    page = await client.get("/staff/settings")
    assert page.status_code == 200
    assert 'data-testid="settings-form"' in page.text
    assert 'href="/staff/settings"' in page.text  # The navigation links here.

    saved = await _post(client, "/staff/settings", GOOD_SETTINGS)
    assert saved.status_code == 303
    assert saved.headers["location"] == "/staff/settings?done=saved"

    row = await _workspace_row(workspace_id)
    assert row["name"] == "Baker & Co Accountants"
    assert row["logo_url"] == "https://cdn.baker.example/logo.png"
    assert row["reply_to"] == "accounts@baker.example"
    assert row["timezone"] == "Europe/London"
    assert row["link_lifetime_days"] == 45
    assert row["reminder_days"] == "-2,0,14"
    assert row["retry_soft_declines"] is False

    shown = await client.get(saved.headers["location"])
    assert "Settings saved." in shown.text
    assert 'value="Baker &amp; Co Accountants"' in shown.text
    assert 'value="Europe/London"' in shown.text

    cleared = await _post(client, "/staff/settings", {**GOOD_SETTINGS, "logo_url": "", "reply_to": " "})
    assert cleared.status_code == 303
    row = await _workspace_row(workspace_id)
    assert row["logo_url"] is None
    assert row["reply_to"] is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reply_to", "not-an-email", "Enter one email address"),
        ("reply_to", "a@b.example\nBcc: x@evil.example", "Enter one email address"),
        ("timezone", "Mars/Olympus_Mons", "Choose a time zone"),
        ("timezone", "../../etc/passwd", "Choose a time zone"),
        ("link_lifetime_days", "6", "from 7 to 365"),
        ("link_lifetime_days", "366", "from 7 to 365"),
        ("link_lifetime_days", "thirty", "from 7 to 365"),
        ("reminder_days", "-3, soon", "For example -3, 0, 7, 14"),
        ("reminder_days", "1,2,3,4,5,6,7", "At most 6 days"),
        ("reminder_days", "365", "each from -30 to 90"),
        ("retry_after_business_days", "11", "from 0 to 10"),
        ("logo_url", "http://cdn.baker.example/logo.png", "Use an https:// address"),
        ("logo_url", "javascript:alert(1)", "Use an https:// address"),
        ("logo_url", "https://user:pw@cdn.baker.example/logo.png", "Leave user names and passwords out"),
        ("logo_url", "https://cdn.baker.example/a logo.png", "spaces"),
        ("name", "   ", "Enter the firm"),
    ],
)
async def test_invalid_settings_give_field_errors_and_change_nothing(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory, field: str, value: str, message: str
) -> None:
    workspace_id, _ = await _admin(client, workspaces, name="Unchanged Ltd")
    before = await _workspace_row(workspace_id)

    response = await _post(client, "/staff/settings", {**GOOD_SETTINGS, field: value})

    assert response.status_code == 422
    assert f'data-testid="field-error-{field}"' in response.text
    assert message in html.unescape(response.text)
    assert "nothing was saved" in response.text
    # The form comes back as typed, the good fields included.
    assert f'value="{escape(value)}"' in response.text
    assert 'value="Europe/London"' in response.text or field == "timezone"
    assert 'value="Baker &amp; Co Accountants"' in response.text or field == "name"
    assert await _workspace_row(workspace_id) == before


async def test_every_bad_field_is_reported_at_once(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    workspace_id, _ = await _admin(client, workspaces)
    before = await _workspace_row(workspace_id)
    bad = {"name": "Firm", "logo_url": "ftp://x.example/l.png", "reply_to": "nope", "timezone": "Nowhere"}
    response = await _post(client, "/staff/settings", {**bad, "link_lifetime_days": "1000"})
    assert response.status_code == 422
    for field in ("logo_url", "reply_to", "timezone", "link_lifetime_days"):
        assert f'data-testid="field-error-{field}"' in response.text
    assert 'data-testid="field-error-name"' not in response.text
    assert 'value="ftp://x.example/l.png"' in response.text
    assert await _workspace_row(workspace_id) == before


async def test_member_can_view_settings_but_not_change_them(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    workspace_id, _ = await _admin(client, workspaces, name="Read Only LLP")
    member_email = f"member-{uuid.uuid4().hex[:8]}@firm.example"
    invited = await _post(
        client, "/staff/settings/staff", {"email": member_email, "password": "a long password", "role": "member"}
    )
    assert invited.status_code == 303
    await _sign_out(client)
    await _sign_in(client, member_email, "a long password")

    page = await client.get("/staff/settings")
    assert page.status_code == 200
    assert 'data-testid="read-only"' in page.text
    assert 'data-testid="settings-form"' not in page.text
    assert 'data-testid="invite-form"' not in page.text
    assert "Read Only LLP" in page.text
    assert "Due soon" in page.text  # Templates are listed for members too.
    assert member_email in page.text
    assert "/remove" not in page.text

    before = await _workspace_row(workspace_id)
    templates_before = await _template_rows(workspace_id)
    token = csrf_from(page.text)
    attempts = [
        ("/staff/settings", GOOD_SETTINGS),
        ("/staff/settings/templates", {"name": "Mine", "subject": "Hi", "body": "Pay {link}"}),
        ("/staff/settings/staff", {"email": "x@firm.example", "password": "a long password", "role": "admin"}),
        (f"/staff/settings/staff/{await _staff_id(member_email)}/role", {"role": "admin"}),
    ]
    for path, data in attempts:
        refused = await client.post(path, data={**data, "_csrf_token": token})
        assert refused.status_code == 403, path
        assert "Only an admin" in refused.text
    assert await _workspace_row(workspace_id) == before
    assert await _template_rows(workspace_id) == templates_before
    assert not await StaffUser.exists().where(StaffUser.email == "x@firm.example")
    role = await StaffUser.select(StaffUser.role).where(StaffUser.email == member_email).first()
    assert role == {"role": "member"}


# Message templates


async def test_defaults_are_created_once(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    created, _ = await workspaces.create("Defaults Ltd")
    scope = WorkspaceScope(workspace_id=uuid.UUID(created.workspace_id))

    # Several first listings at once still add the defaults only once.
    listings = await asyncio.gather(*(templates_for(scope) for _ in range(4)))
    assert all([item.name for item in listing] == ["Due soon", "Overdue"] for listing in listings)
    rows = await _template_rows(created.workspace_id)
    assert sorted(row["name"] for row in rows) == ["Due soon", "Overdue"]
    for row in rows:
        assert "{client_name}" in row["body"]
        assert "{amount_due}" in row["body"]
        assert "{firm_name}" in row["body"]

    # Deleted defaults stay deleted: they are only added the first time.
    await MessageTemplate.delete().where(MessageTemplate.workspace == scope.workspace_id)
    assert await templates_for(scope) == []
    await _sign_in(client, workspaces.last_email, workspaces.password)
    page = await client.get("/staff/settings")
    assert "No templates yet." in page.text


async def test_templates_crud_and_bad_placeholder(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    other, _ = await workspaces.create("Other Firm")
    workspace_id, _ = await _admin(client, workspaces)
    page = await client.get("/staff/settings")
    assert page.text.count('data-testid="message-template"') == 2

    bad = await _post(
        client,
        "/staff/settings/templates",
        {"name": "Final notice", "subject": "Final notice {invoice_numbers}", "body": "Pay {amount} now"},
    )
    assert bad.status_code == 422
    assert 'data-testid="field-error-body"' in bad.text
    assert "Unknown placeholder {amount}" in bad.text
    assert 'data-testid="field-error-subject"' not in bad.text
    assert "Pay {amount} now</textarea>" in bad.text  # Re-filled.
    assert len(await _template_rows(workspace_id)) == 2

    stray = await _post(client, "/staff/settings/templates", {"name": "X", "subject": "Due {", "body": "Hello"})
    assert stray.status_code == 422
    assert 'data-testid="field-error-subject"' in stray.text

    duplicate = await _post(client, "/staff/settings/templates", {"name": "overdue", "subject": "S", "body": "B"})
    assert duplicate.status_code == 422
    assert "Another template already has this name." in duplicate.text

    added = await _post(
        client,
        "/staff/settings/templates",
        {"name": "Final notice", "subject": "Final notice: {invoice_numbers}", "body": "Hi {client_name}, {link}"},
    )
    assert added.status_code == 303
    assert added.headers["location"] == "/staff/settings?done=template-added#templates"
    scope = WorkspaceScope(workspace_id=uuid.UUID(workspace_id))
    listed = await templates_for(scope)
    assert [item.name for item in listed] == ["Due soon", "Final notice", "Overdue"]
    final = next(item for item in listed if item.name == "Final notice")

    bad_edit = await _post(
        client, f"/staff/settings/templates/{final.id}", {"name": "Final notice", "subject": "{due}", "body": "B"}
    )
    assert bad_edit.status_code == 422
    assert "Unknown placeholder {due}" in bad_edit.text
    edited = await _post(
        client,
        f"/staff/settings/templates/{final.id}",
        {"name": "Last reminder", "subject": "Last reminder: {invoice_numbers}", "body": "Please pay {amount_due}."},
    )
    assert edited.status_code == 303
    after_edit = {item.name: item for item in await templates_for(scope)}
    assert after_edit["Last reminder"].subject == "Last reminder: {invoice_numbers}"
    assert after_edit["Last reminder"].body == "Please pay {amount_due}."
    assert "Final notice" not in after_edit

    deleted = await _post(client, f"/staff/settings/templates/{final.id}/delete", {})
    assert deleted.status_code == 303
    assert [item.name for item in await templates_for(scope)] == ["Due soon", "Overdue"]

    # Another workspace's template is not found, and stays as it was.
    other_template = (await templates_for(WorkspaceScope(workspace_id=uuid.UUID(other.workspace_id))))[0]
    foreign = await _post(client, f"/staff/settings/templates/{other_template.id}/delete", {})
    assert foreign.status_code == 404
    assert len(await _template_rows(other.workspace_id)) == 2


# Staff accounts


async def test_invited_member_can_sign_in(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    workspace_id, admin_email = await _admin(client, workspaces)
    email = f"New.Person-{uuid.uuid4().hex[:6]}@Firm.example"

    short = await _post(client, "/staff/settings/staff", {"email": email, "password": "s3cr3t!", "role": "admin"})
    assert short.status_code == 422
    assert 'data-testid="field-error-password"' in short.text
    assert f'value="{email}"' in short.text
    assert "s3cr3t!" not in short.text  # The password is never echoed back.

    bad_email = await _post(
        client, "/staff/settings/staff", {"email": "nobody", "password": "a long password", "role": "member"}
    )
    assert 'data-testid="field-error-email"' in bad_email.text

    taken = await _post(
        client, "/staff/settings/staff", {"email": admin_email.upper(), "password": "a long password", "role": "member"}
    )
    assert taken.status_code == 422
    assert "already exists" in taken.text

    invited = await _post(
        client, "/staff/settings/staff", {"email": email, "password": "a long password", "role": "member"}
    )
    assert invited.status_code == 303
    row = await StaffUser.select().where(StaffUser.email == email.lower()).first()
    assert row is not None
    assert row["role"] == "member"
    assert str(row["workspace"]) == workspace_id
    assert row["password_hash"].startswith("$argon2id$")
    page = await client.get("/staff/settings")
    assert email.lower() in page.text

    await _sign_out(client)
    await _sign_in(client, email, "a long password")
    collections = await client.get("/staff/collections")
    assert collections.status_code == 200
    assert email.lower() in collections.text


async def test_last_admin_cannot_demote_or_remove_themself(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    _, admin_email = await _admin(client, workspaces)
    admin_id = await _staff_id(admin_email)

    demote = await _post(client, f"/staff/settings/staff/{admin_id}/role", {"role": "member"})
    assert demote.status_code == 409
    assert "only admin" in demote.text
    remove = await _post(client, f"/staff/settings/staff/{admin_id}/remove", {})
    assert remove.status_code == 409
    assert await StaffUser.select(StaffUser.role).where(StaffUser.id == uuid.UUID(admin_id)).first() == {
        "role": "admin"
    }

    # With a second admin, stepping down works and takes effect at once.
    second = f"second-{uuid.uuid4().hex[:8]}@firm.example"
    added = await _post(
        client, "/staff/settings/staff", {"email": second, "password": "a long password", "role": "admin"}
    )
    assert added.status_code == 303
    stepped_down = await _post(client, f"/staff/settings/staff/{admin_id}/role", {"role": "member"})
    assert stepped_down.status_code == 303
    page = await client.get("/staff/settings")
    assert 'data-testid="read-only"' in page.text
    connections = await client.get("/staff/connections")
    assert "Connect Xero</button>" not in connections.text  # The session's role was updated too.

    # The remaining admin cannot remove themself either, but can remove the member.
    await _sign_out(client)
    await _sign_in(client, second, "a long password")
    second_id = await _staff_id(second)
    assert (await _post(client, f"/staff/settings/staff/{second_id}/remove", {})).status_code == 409
    removed = await _post(client, f"/staff/settings/staff/{admin_id}/remove", {})
    assert removed.status_code == 303
    assert not await StaffUser.exists().where(StaffUser.id == uuid.UUID(admin_id))

    # Once another admin exists, an admin may remove their own account, which signs them out.
    third = f"third-{uuid.uuid4().hex[:8]}@firm.example"
    await _post(client, "/staff/settings/staff", {"email": third, "password": "a long password", "role": "admin"})
    gone = await _post(client, f"/staff/settings/staff/{second_id}/remove", {})
    assert gone.status_code == 303
    assert gone.headers["location"] == "/staff/login"
    assert (await client.get("/staff/settings", follow_redirects=False)).headers["location"].startswith("/staff/login")
    assert not await StaffUser.exists().where(StaffUser.email == second)


async def test_unknown_role_and_other_workspaces_staff_are_refused(
    client: httpx.AsyncClient, workspaces: WorkspaceFactory
) -> None:
    other, other_email = await workspaces.create("Elsewhere")
    _, admin_email = await _admin(client, workspaces)
    admin_id = await _staff_id(admin_email)
    assert (await _post(client, f"/staff/settings/staff/{admin_id}/role", {"role": "owner"})).status_code == 422
    other_id = await _staff_id(other_email)
    assert (await _post(client, f"/staff/settings/staff/{other_id}/remove", {})).status_code == 404
    assert (await _post(client, f"/staff/settings/staff/{other_id}/role", {"role": "member"})).status_code == 404
    assert await StaffUser.exists().where(StaffUser.id == uuid.UUID(other_id))
    assert other.workspace_id


async def test_forms_without_csrf_are_refused(client: httpx.AsyncClient, workspaces: WorkspaceFactory) -> None:
    workspace_id, admin_email = await _admin(client, workspaces)
    await client.get("/staff/settings")
    before = await _workspace_row(workspace_id)
    templates_before = await _template_rows(workspace_id)
    admin_id = await _staff_id(admin_email)
    forms = [
        ("/staff/settings", GOOD_SETTINGS),
        ("/staff/settings/templates", {"name": "No token", "subject": "S", "body": "B"}),
        ("/staff/settings/staff", {"email": "csrf@firm.example", "password": "a long password", "role": "admin"}),
        (f"/staff/settings/staff/{admin_id}/remove", {}),
    ]
    for path, data in forms:
        refused = await client.post(path, data=data)
        assert refused.status_code == 403, path
        assert "The form was open too long" in refused.text
        wrong = await client.post(path, data={**data, "_csrf_token": "forged"})
        assert wrong.status_code == 403, path
    assert await _workspace_row(workspace_id) == before
    assert await _template_rows(workspace_id) == templates_before
    assert not await StaffUser.exists().where(StaffUser.email == "csrf@firm.example")
    assert await StaffUser.exists().where(StaffUser.id == uuid.UUID(admin_id))
