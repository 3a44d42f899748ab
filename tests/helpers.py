"""Small helpers for tests."""

from __future__ import annotations

import re
from typing import Any

import msgspec


def auth(token: str) -> dict[str, str]:
    """Bearer header for the API."""
    return {"Authorization": f"Bearer {token}"}


def json_of(body: bytes) -> Any:
    """A response body decoded as JSON."""
    return msgspec.json.decode(body)


def csrf_from(html: str) -> str:
    """The CSRF token a rendered form carries."""
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "form has no CSRF token"
    return match.group(1)
