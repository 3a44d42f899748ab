"""Workspace settings: the firm's details, message templates and staff accounts.

Every change is made by an admin. The role is read from the database on each change, not from
the session, so someone demoted or removed a moment ago can no longer change settings.
"""

from __future__ import annotations

import asyncio
import uuid
from functools import cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import core.piccolo_conf
from core.clock import as_utc, utcnow
from core.db import is_sqlite, write_transaction
from core.errors import Conflict, Forbidden, Invalid
from core.scope import WorkspaceScope
from core.security import hash_password
from core.tables import Workspace
from staff.reminders import parse_reminder_days
from staff.request_emails import check_placeholders
from staff.request_schemas import MAX_MESSAGE, MAX_SUBJECT
from staff.schemas import StaffIdentity
from staff.services import MIN_PASSWORD_LENGTH, normalise_email, valid_email
from staff.settings_schemas import (
    InviteForm,
    MessageTemplateOut,
    SettingsView,
    StaffMemberOut,
    TemplateForm,
    WorkspaceSettingsForm,
)
from staff.tables import MessageTemplate, StaffUser

ROLES = ("admin", "member")
MIN_LINK_DAYS, MAX_LINK_DAYS = 7, 365
MAX_RETRY_DAYS = 10
MAX_NAME, MAX_LOGO_URL, MAX_EMAIL, MAX_TEMPLATE_NAME = 200, 500, 320, 60

DEFAULT_TEMPLATES: tuple[TemplateForm, ...] = (
    TemplateForm(
        name="Due soon",
        subject="Payment reminder: {invoice_numbers}, due {due_date}",
        body=(
            "Hi {client_name},\n\n"
            "A friendly reminder that payment of {amount_due} for {invoice_numbers} is due on {due_date}.\n\n"
            "You can view the invoice and pay securely online in a couple of minutes using the link below. "
            "If you have already arranged payment, thank you, and please disregard this note.\n\n"
            "If you have any questions, simply reply to this email.\n\n"
            "Kind regards,\n{firm_name}"
        ),
    ),
    TemplateForm(
        name="Overdue",
        subject="Overdue: {invoice_numbers} from {firm_name}",
        body=(
            "Hi {client_name},\n\n"
            "Our records show that payment of {amount_due} for {invoice_numbers}, due on {due_date}, "
            "has not yet been received.\n\n"
            "We would be grateful if you could settle it at your earliest convenience using the secure link "
            "below. If you have paid in the last few days, thank you, and please disregard this reminder.\n\n"
            "If something about the invoice is not right, or you would like to talk about a payment plan, "
            "just reply to this email and we will be happy to help.\n\n"
            "Kind regards,\n{firm_name}"
        ),
    ),
)


@cache
def timezone_names() -> list[str]:
    """Every IANA time zone this installation knows, sorted, for the form's suggestions."""
    return sorted(available_timezones())


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(timezone_names())


def _valid_timezone(name: str) -> bool:
    if name not in _known_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _logo_url_error(url: str) -> str | None:
    """Why the logo URL is unusable, or None when it is fine."""
    if len(url) > MAX_LOGO_URL:
        return f"Use an address of at most {MAX_LOGO_URL} characters."
    if any(char.isspace() or char in "\"'<>\\" for char in url):
        return "The address has spaces or characters a URL cannot contain."
    try:
        parts = urlsplit(url)
        _ = parts.port  # Raises for a malformed port.
    except ValueError:
        return "Enter a complete address such as https://www.example.com/logo.png."
    if parts.scheme != "https":
        return "Use an https:// address so the logo shows on secure pages and in emails."
    if not parts.hostname or "." not in parts.hostname:
        return "Enter a complete address such as https://www.example.com/logo.png."
    if parts.username or parts.password:
        return "Leave user names and passwords out of the address."
    return None


def _validated_settings(form: WorkspaceSettingsForm) -> dict[Any, Any]:
    """Column values for the workspace, or Invalid naming every bad field."""
    errors: dict[str, str] = {}
    name = form.name.strip()
    if not name:
        errors["name"] = "Enter the firm's name."
    elif len(name) > MAX_NAME:
        errors["name"] = f"Use at most {MAX_NAME} characters."

    logo_url = form.logo_url.strip()
    if logo_url and (problem := _logo_url_error(logo_url)):
        errors["logo_url"] = problem

    reply_to = normalise_email(form.reply_to)
    if reply_to and (len(reply_to) > MAX_EMAIL or not valid_email(reply_to)):
        errors["reply_to"] = "Enter one email address, such as accounts@yourfirm.com, or leave it empty."

    timezone = form.timezone.strip()
    if not _valid_timezone(timezone):
        errors["timezone"] = "Choose a time zone from the list, such as Europe/London or America/New_York."

    lifetime = 0
    try:
        lifetime = int(form.link_lifetime_days.strip())
    except ValueError:
        errors["link_lifetime_days"] = f"Enter a whole number of days from {MIN_LINK_DAYS} to {MAX_LINK_DAYS}."
    else:
        if not MIN_LINK_DAYS <= lifetime <= MAX_LINK_DAYS:
            errors["link_lifetime_days"] = f"Enter a whole number of days from {MIN_LINK_DAYS} to {MAX_LINK_DAYS}."

    reminder_days: list[int] = []
    try:
        reminder_days = parse_reminder_days(form.reminder_days)
    except Invalid as exc:
        errors["reminder_days"] = exc.fields["reminder_days"]

    retry_days = 0
    try:
        retry_days = int(form.retry_after_business_days.strip())
    except ValueError:
        errors["retry_after_business_days"] = "Enter a whole number of business days from 0 to 10."
    else:
        if not 0 <= retry_days <= MAX_RETRY_DAYS:
            errors["retry_after_business_days"] = "Enter a whole number of business days from 0 to 10."

    if errors:
        raise Invalid("Some settings need fixing; nothing was saved.", fields=errors)
    return {
        Workspace.name: name,
        Workspace.logo_url: logo_url or None,
        Workspace.reply_to: reply_to or None,
        Workspace.timezone: timezone,
        Workspace.link_lifetime_days: lifetime,
        Workspace.reminder_days: ",".join(str(day) for day in reminder_days),
        Workspace.retry_soft_declines: retry_days > 0,
        Workspace.retry_after_business_days: max(retry_days, 1),
    }


async def _require_admin(scope: WorkspaceScope, actor: StaffIdentity) -> None:
    """Forbidden unless the actor is an admin of this workspace right now."""
    if not await is_admin(scope, actor):
        raise Forbidden("Only an admin of this workspace can change its settings.")


async def is_admin(scope: WorkspaceScope, actor: StaffIdentity) -> bool:
    """Whether the staff member is currently an admin of the workspace (per the database)."""
    try:
        actor_id = uuid.UUID(actor.staff_id)
    except ValueError:
        return False
    row = await scope.select(StaffUser, StaffUser.role).where(StaffUser.id == actor_id).first()
    return row is not None and row["role"] == "admin"


async def _lock_workspace(scope: WorkspaceScope) -> None:
    """Serialise staff changes of one workspace, so two admins cannot demote each other at once.

    SQLite's write transaction already holds the database's write lock; PostgreSQL locks the row.
    """
    if not is_sqlite(core.piccolo_conf.DB):
        await Workspace.select(Workspace.id).where(Workspace.id == scope.workspace_id).lock_rows()


# Firm details


async def workspace_settings(scope: WorkspaceScope) -> WorkspaceSettingsForm:
    """The firm's current details, as the settings form shows them."""
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
        .where(Workspace.id == scope.workspace_id)
        .first()
    )
    assert row is not None, "a signed-in workspace exists"
    return WorkspaceSettingsForm(
        name=row["name"],
        logo_url=row["logo_url"] or "",
        reply_to=row["reply_to"] or "",
        timezone=row["timezone"],
        link_lifetime_days=str(row["link_lifetime_days"]),
        reminder_days=", ".join(row["reminder_days"].split(",")) if row["reminder_days"] else "",
        retry_after_business_days=str(row["retry_after_business_days"] if row["retry_soft_declines"] else 0),
    )


async def save_workspace_settings(scope: WorkspaceScope, actor: StaffIdentity, form: WorkspaceSettingsForm) -> None:
    """Validate and save the firm's details; Invalid (nothing saved) names every bad field."""
    await _require_admin(scope, actor)
    values = _validated_settings(form)
    await Workspace.update(values).where(Workspace.id == scope.workspace_id)


# Message templates


def _template_out(row: dict[str, Any]) -> MessageTemplateOut:
    return MessageTemplateOut(id=str(row["id"]), name=row["name"], subject=row["subject"], body=row["body"])


async def _seed_default_templates(scope: WorkspaceScope) -> None:
    """Add the default templates the first time a workspace's templates are listed, and never again."""
    row = await Workspace.select(Workspace.templates_seeded_at).where(Workspace.id == scope.workspace_id).first()
    if row is None or row["templates_seeded_at"] is not None:
        return
    async with write_transaction():
        # Only the caller whose update claims the flag inserts, however many list at once.
        claimed = (
            await Workspace.update({Workspace.templates_seeded_at: utcnow()})
            .where((Workspace.id == scope.workspace_id) & Workspace.templates_seeded_at.is_null())
            .returning(Workspace.id)
        )
        if not claimed:
            return
        existing = {name.casefold() for name in await _template_names(scope)}
        defaults = [
            MessageTemplate(workspace=scope.workspace_id, name=item.name, subject=item.subject, body=item.body)
            for item in DEFAULT_TEMPLATES
            if item.name.casefold() not in existing
        ]
        if defaults:
            await MessageTemplate.insert(*defaults)


async def _template_names(scope: WorkspaceScope, *, excluding: uuid.UUID | None = None) -> list[str]:
    query = scope.select(MessageTemplate, MessageTemplate.name)
    if excluding is not None:
        query = query.where(MessageTemplate.id != excluding)
    return [row["name"] for row in await query]


async def templates_for(scope: WorkspaceScope) -> list[MessageTemplateOut]:
    """The workspace's message templates by name (the defaults are added on the very first call)."""
    await _seed_default_templates(scope)
    rows = await scope.select(
        MessageTemplate, MessageTemplate.id, MessageTemplate.name, MessageTemplate.subject, MessageTemplate.body
    ).order_by(MessageTemplate.name)
    return [_template_out(row) for row in rows]


async def template_for(scope: WorkspaceScope, template_id: str) -> MessageTemplateOut:
    """One template of the workspace, or NotFound."""
    row = await scope.get(MessageTemplate, template_id, what="message template")
    return MessageTemplateOut(id=str(row.id), name=row.name, subject=row.subject, body=row.body)


def _validated_template(form: TemplateForm, taken: list[str]) -> TemplateForm:
    """The trimmed template, or Invalid naming every bad field (unknown placeholders included)."""
    errors: dict[str, str] = {}
    name, subject, body = form.name.strip(), form.subject.strip(), form.body.strip()
    if not name:
        errors["name"] = "Give the template a name."
    elif len(name) > MAX_TEMPLATE_NAME:
        errors["name"] = f"Use at most {MAX_TEMPLATE_NAME} characters."
    elif name.casefold() in {other.casefold() for other in taken}:
        errors["name"] = "Another template already has this name."
    for field, value, limit in (("subject", subject, MAX_SUBJECT), ("body", body, MAX_MESSAGE)):
        if not value:
            errors[field] = "Write the " + ("subject." if field == "subject" else "message.")
        elif len(value) > limit:
            errors[field] = f"Use at most {limit} characters."
        elif "\n" in value and field == "subject":
            errors[field] = "Keep the subject on one line."
        else:
            try:
                check_placeholders(value, field)
            except Invalid as exc:
                errors[field] = " ".join([exc.message, *exc.fields.values()])
    if errors:
        raise Invalid("The template needs fixing; nothing was saved.", fields=errors)
    return TemplateForm(name=name, subject=subject, body=body)


async def create_template(scope: WorkspaceScope, actor: StaffIdentity, form: TemplateForm) -> MessageTemplateOut:
    """Save a new template; Invalid names bad fields, including unknown placeholders."""
    async with write_transaction():
        await _require_admin(scope, actor)
        valid = _validated_template(form, await _template_names(scope))
        row = MessageTemplate(workspace=scope.workspace_id, name=valid.name, subject=valid.subject, body=valid.body)
        await row.save()
    return MessageTemplateOut(id=str(row.id), name=valid.name, subject=valid.subject, body=valid.body)


async def update_template(
    scope: WorkspaceScope, actor: StaffIdentity, template_id: str, form: TemplateForm
) -> MessageTemplateOut:
    """Change a template's name, subject or message; NotFound for another workspace's template."""
    async with write_transaction():
        await _require_admin(scope, actor)
        row = await scope.get(MessageTemplate, template_id, what="message template")
        valid = _validated_template(form, await _template_names(scope, excluding=row.id))
        await MessageTemplate.update(
            {MessageTemplate.name: valid.name, MessageTemplate.subject: valid.subject, MessageTemplate.body: valid.body}
        ).where(MessageTemplate.id == row.id)
    return MessageTemplateOut(id=str(row.id), name=valid.name, subject=valid.subject, body=valid.body)


async def delete_template(scope: WorkspaceScope, actor: StaffIdentity, template_id: str) -> None:
    """Delete a template (requests already sent keep their text)."""
    async with write_transaction():
        await _require_admin(scope, actor)
        row = await scope.get(MessageTemplate, template_id, what="message template")
        await MessageTemplate.delete().where(MessageTemplate.id == row.id)


# Staff accounts


async def staff_members(scope: WorkspaceScope) -> list[StaffMemberOut]:
    """The workspace's staff accounts, admins first."""
    rows = await scope.select(
        StaffUser, StaffUser.id, StaffUser.email, StaffUser.role, StaffUser.created_at, StaffUser.last_login_at
    ).order_by(StaffUser.email)
    members = [
        StaffMemberOut(
            id=str(row["id"]),
            email=row["email"],
            role=row["role"],
            created_at=as_utc(row["created_at"]),
            last_login_at=as_utc(row["last_login_at"]) if row["last_login_at"] else None,
        )
        for row in rows
    ]
    return sorted(members, key=lambda member: member.role != "admin")


async def invite_staff(scope: WorkspaceScope, actor: StaffIdentity, form: InviteForm) -> StaffMemberOut:
    """Create a staff account with an initial password; Invalid when a field is bad or the email is taken."""
    email = normalise_email(form.email)
    errors: dict[str, str] = {}
    if not email or len(email) > MAX_EMAIL or not valid_email(email):
        errors["email"] = "Enter the person's email address."
    if len(form.password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if form.role not in ROLES:
        errors["role"] = "Choose admin or member."
    if errors:
        raise Invalid("The account could not be created.", fields=errors)
    if not await is_admin(scope, actor):  # Checked before the costly hash.
        raise Forbidden("Only an admin of this workspace can add staff.")
    password_hash = await asyncio.to_thread(hash_password, form.password)
    user = StaffUser(workspace=scope.workspace_id, email=email, password_hash=password_hash, role=form.role)
    async with write_transaction():
        await _require_admin(scope, actor)
        # Emails are unique across every workspace (they are the sign-in name); the index settles races.
        inserted = (
            await StaffUser.insert(user)
            .on_conflict(target=StaffUser.email, action="DO NOTHING")
            .returning(StaffUser.id)
        )
    if not inserted:
        raise Invalid(
            "The account could not be created.", fields={"email": "A staff account with this email already exists."}
        )
    return _member_out(user)


def _member_out(user: StaffUser) -> StaffMemberOut:
    return StaffMemberOut(
        id=str(user.id),
        email=user.email,
        role=user.role,
        created_at=as_utc(user.created_at),
        last_login_at=as_utc(user.last_login_at) if user.last_login_at else None,
    )


async def _admin_count(scope: WorkspaceScope) -> int:
    admins = StaffUser.count().where((StaffUser.workspace == scope.workspace_id) & (StaffUser.role == "admin"))
    return int(await admins)


async def change_role(scope: WorkspaceScope, actor: StaffIdentity, staff_id: str, role: str) -> StaffMemberOut:
    """Make a staff member an admin or a member; the workspace always keeps at least one admin."""
    if role not in ROLES:
        raise Invalid("Choose admin or member.", fields={"role": "Choose admin or member."})
    async with write_transaction():
        await _lock_workspace(scope)
        await _require_admin(scope, actor)
        target = await scope.get(StaffUser, staff_id, what="staff member")
        if target.role == "admin" and role != "admin" and await _admin_count(scope) <= 1:
            raise Conflict("You are the only admin of this workspace. Make someone else an admin first.")
        await StaffUser.update({StaffUser.role: role}).where(StaffUser.id == target.id)
    target.role = role
    return _member_out(target)


async def remove_staff(scope: WorkspaceScope, actor: StaffIdentity, staff_id: str) -> StaffMemberOut:
    """Delete a staff account and return what it was; the last admin cannot be removed."""
    async with write_transaction():
        await _lock_workspace(scope)
        await _require_admin(scope, actor)
        target = await scope.get(StaffUser, staff_id, what="staff member")
        if target.role == "admin" and await _admin_count(scope) <= 1:
            raise Conflict("You are the only admin of this workspace. Make someone else an admin first.")
        await StaffUser.delete().where(StaffUser.id == target.id)
    return _member_out(target)


# The page


async def settings_view(scope: WorkspaceScope, viewer: StaffIdentity) -> SettingsView:
    """Everything the Settings page shows to this viewer."""
    return SettingsView(
        workspace=await workspace_settings(scope),
        templates=await templates_for(scope),
        members=await staff_members(scope),
        can_edit=await is_admin(scope, viewer),
        timezones=timezone_names(),
    )
