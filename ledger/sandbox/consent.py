"""Click "Allow" on a sandbox consent page from code: what the demo and tests do instead of a person."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import urlencode, urljoin

import httpx

_INPUT = re.compile(r"<input ([^>]*)>")
_ATTR = re.compile(r'(\w+)="([^"]*)"')
_ACTION = re.compile(r'<form method="post" action="([^"]*)"')


def consent_form(page: str, choose: Sequence[str] | None) -> tuple[str, list[tuple[str, str]]]:
    """The consent form's action and fields with the chosen organisations ticked (None: all of them)."""
    found = _ACTION.search(page)
    if found is None:
        raise ValueError("not a consent page")
    fields: list[tuple[str, str]] = []
    for raw in _INPUT.findall(page):
        attrs = {key: html.unescape(value) for key, value in _ATTR.findall(raw)}
        chosen = attrs.get("type") in ("checkbox", "radio") and (choose is None or attrs.get("value") in choose)
        if attrs.get("type") == "hidden" or chosen:
            fields.append((attrs["name"], attrs["value"]))
    fields.append(("decision", "allow"))
    return html.unescape(found.group(1)), fields


def approve(authorize_url: str, *, choose: Sequence[str] | None = None) -> str:
    """Open the consent page, allow access, and return where the provider redirects (our callback)."""
    with httpx.Client(timeout=10) as browser:
        page = browser.get(authorize_url)
        page.raise_for_status()
        action, fields = consent_form(page.text, choose)
        decision = browser.post(
            urljoin(authorize_url, action),
            content=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
    if decision.status_code not in (302, 303):
        raise RuntimeError(f"consent was not granted: HTTP {decision.status_code}")
    return str(decision.headers["location"])
