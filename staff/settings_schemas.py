"""Forms and views of the Settings page: firm details, message templates and staff members.

Form fields are strings, as the browser sends them: the services parse and validate them,
so a bad value comes back as a field error on a re-filled form instead of a bare 400.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class WorkspaceSettingsForm(msgspec.Struct, kw_only=True):
    """The firm's details as edited on the Settings page."""

    name: str = ""
    logo_url: str = ""
    """https only; empty removes the logo."""
    reply_to: str = ""
    """Reply-To of client emails; empty means replies go to the From address."""
    timezone: str = "UTC"
    """An IANA zone such as `Europe/London`; decides what "today" means for schedules."""
    link_lifetime_days: str = "30"
    """Whole days, 7 to 365."""
    reminder_days: str = "-3, 0, 7, 14"
    """Days relative to the due date on which requested, unpaid invoices are reminded; empty: no reminders."""
    retry_after_business_days: str = "3"
    """Business days before a soft-declined collection is tried once more; 0 turns the retry off."""


class TemplateForm(msgspec.Struct, kw_only=True):
    """A message template's fields."""

    name: str = ""
    subject: str = ""
    body: str = ""


class InviteForm(msgspec.Struct, kw_only=True):
    """A new staff account: email, initial password and role."""

    email: str = ""
    password: str = ""
    role: str = "member"


class RoleForm(msgspec.Struct, kw_only=True):
    """The new role of a staff member."""

    role: str = ""


class MessageTemplateOut(msgspec.Struct, frozen=True):
    """A saved subject and message the request panel can start from."""

    id: str
    name: str
    subject: str
    body: str


class StaffMemberOut(msgspec.Struct, frozen=True):
    """One staff account of the workspace."""

    id: str
    email: str
    role: str
    created_at: dt.datetime
    last_login_at: dt.datetime | None


class SettingsView(msgspec.Struct, frozen=True):
    """Everything the Settings page shows."""

    workspace: WorkspaceSettingsForm
    templates: list[MessageTemplateOut]
    members: list[StaffMemberOut]
    can_edit: bool
    """The viewer is an admin now (checked in the database, not the session)."""
    timezones: list[str]
