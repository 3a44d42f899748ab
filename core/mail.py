"""Email out: build the MIME message once, then hand it to SMTP or to the demo outbox."""

from __future__ import annotations

import email.policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib
import msgspec

from core.tables import OutboxMessage

SMTP_TIMEOUT = 30


class Attachment(msgspec.Struct, frozen=True):
    """A file attached exactly as given."""

    filename: str
    content_type: str
    content: bytes


class OutgoingEmail(msgspec.Struct, frozen=True, kw_only=True):
    """A multipart text + HTML email with attachments."""

    to: str
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...] = ()
    reply_to: str | None = None
    from_name: str | None = None
    message_id: str | None = None
    """Stable per logical email, so a receiving server can spot a repeat."""
    workspace_id: str | None = None
    """The firm the email is sent for; not part of the message. The demo outbox shows each workspace only its own."""


class MailError(Exception):
    """The mail server did not accept the message; worth retrying."""


class _HeaderClasses(HeaderRegistry):
    """The standard header classes, each made once.

    The stock registry makes a new class (`type(...)`) every time it parses a header; for a message
    with a few attachments that was about half the time `to_mime` took. The messages are the same.
    """

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


POLICY = email.policy.default.clone(header_factory=_HeaderClasses())
"""`email.policy.default` with header classes made once."""


def one_line(value: str) -> str:
    """Header text on one line: firm names, client names and invoice numbers can hold line breaks.

    The standard library refuses a header with a line break (so none can add a `Bcc:`), but the
    refusal would fail the delivery; control characters become spaces instead.
    """
    return " ".join("".join(" " if ord(char) < 32 or ord(char) == 127 else char for char in value).split())


def to_mime(email: OutgoingEmail, sender: str) -> EmailMessage:
    """The RFC 5322 message: text part, HTML alternative, then each attachment byte for byte."""
    message = EmailMessage(policy=POLICY)
    message["From"] = formataddr((one_line(email.from_name), sender)) if email.from_name else sender
    message["To"] = email.to
    message["Subject"] = one_line(email.subject)
    message["Message-ID"] = email.message_id or make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    if email.reply_to:
        message["Reply-To"] = email.reply_to
    message.set_content(email.text)
    message.add_alternative(email.html, subtype="html")
    for attachment in email.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    return message


class Mailer(Protocol):
    """Sends one email or raises MailError."""

    async def send(self, email: OutgoingEmail) -> None:
        """Deliver to the next hop."""
        ...


class SmtpMailer:
    """`smtp://host:port` (plain), `smtp+starttls://user:pw@host:port`, `smtps://user:pw@host:port`."""

    def __init__(self, url: str, sender: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.scheme = parts.scheme
        self.port = parts.port or {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[parts.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.sender = sender

    async def send(self, email: OutgoingEmail) -> None:
        """One SMTP session per message; failures become MailError (the password never appears)."""
        try:
            await aiosmtplib.send(
                to_mime(email, self.sender),
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.scheme == "smtps",
                start_tls=self.scheme == "smtp+starttls",
                timeout=SMTP_TIMEOUT,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"SMTP {self.host}:{self.port}: {type(exc).__name__}") from None


class OutboxMailer:
    """No SMTP configured (the demo): keep each message where staff can open it in the browser."""

    def __init__(self, sender: str) -> None:
        self.sender = sender

    async def send(self, email: OutgoingEmail) -> None:
        """Store the full MIME message under its workspace."""
        await OutboxMessage(
            workspace=email.workspace_id,
            recipient=email.to,
            subject=email.subject,
            mime=bytes(to_mime(email, self.sender)),
        ).save()


def mailer_for(smtp_url: str | None, sender: str) -> Mailer:
    """SMTP when configured, else the outbox."""
    return SmtpMailer(smtp_url, sender) if smtp_url else OutboxMailer(sender)
