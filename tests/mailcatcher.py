"""A real SMTP server (aiosmtpd) on loopback that keeps what it receives, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from core.serving import free_port


class Catcher:
    """The SMTP handler: every accepted message, parsed."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse: set[str] = set()
        """Recipients whose mail is answered with a temporary failure (451)."""
        self.delay = 0.0
        """Seconds the server takes over each message before accepting it (a slow mail server)."""
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook name
        if self.refuse & set(envelope.rcpt_tos):
            return "451 4.3.0 Try again later"
        if self.delay:
            await asyncio.sleep(self.delay)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """Messages for one recipient."""
        with self._lock:
            return [message for message in self.messages if message["To"] == address]

    async def wait_for(self, address: str, count: int = 1, seconds: float = 15) -> list[EmailMessage]:
        """At least `count` messages for `address` (fails after `seconds`)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.to(address)
            if len(found) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.to(address))} of {count} messages reached {address}")


class MailServer:
    """An SMTP server on a fixed loopback port that can go down and come back (keeping what it received)."""

    def __init__(self, catcher: Catcher | None = None, port: int | None = None) -> None:
        self.catcher = catcher or Catcher()
        self.port = port or free_port()
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """`smtp://127.0.0.1:<port>`, for PORTAL_SMTP_URL."""
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (again) on the port."""
        if self._controller is None:
            self._controller = Controller(self.catcher, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        """Stop listening: connections are refused until `start`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextmanager
def mail_server() -> Iterator[tuple[str, Catcher]]:
    """`(smtp_url, catcher)` for a server running until the block ends."""
    server = MailServer()
    server.start()
    try:
        yield server.url, server.catcher
    finally:
        server.stop()
