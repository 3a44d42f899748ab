"""A `requests` session whose calls reach the app in-process, on the event loop that runs it.

Schemathesis sends with `requests` from synchronous Hypothesis code, while the app, its database
pool and its worker live on the tests' own event loop (a PostgreSQL pool cannot be shared across
loops). The fuzz therefore runs in a worker thread and this adapter hands each request to the
app's loop through `httpx.ASGITransport`, waiting for the answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3 import HTTPResponse

REQUEST_TIMEOUT = 60.0
"""Seconds one fuzzed call may take before the run counts it as hung."""


class AppAdapter(BaseAdapter):
    """Sends a prepared `requests` request to an ASGI app through an `httpx.AsyncClient` on `loop`."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._client = client
        self._loop = loop

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        """Run the call on the app's loop and wrap its answer as a `requests.Response`."""
        body = request.body.encode() if isinstance(request.body, str) else request.body
        call = self._client.request(
            request.method or "GET", request.url or "/", headers=dict(request.headers), content=body
        )
        answer = asyncio.run_coroutine_threadsafe(call, self._loop).result(timeout=REQUEST_TIMEOUT)
        return _as_requests_response(request, answer)

    def close(self) -> None:
        """Nothing to release: the httpx client belongs to the caller."""


def _as_requests_response(request: requests.PreparedRequest, answer: httpx.Response) -> requests.Response:
    response = requests.Response()
    response.status_code = answer.status_code
    response.headers = CaseInsensitiveDict(_headers(answer.headers))
    response._content = answer.content
    response.url = request.url or ""
    response.request = request
    response.reason = answer.reason_phrase
    response.encoding = answer.encoding
    response.raw = HTTPResponse(body=b"", headers=dict(response.headers), status=answer.status_code)
    response.elapsed = answer.elapsed
    return response


def _headers(headers: httpx.Headers) -> Mapping[str, str]:
    # Repeated headers (Set-Cookie, Vary) folded into one value, as `requests` presents them.
    folded: dict[str, str] = {}
    for name, value in headers.multi_items():
        folded[name] = f"{folded[name]}, {value}" if name in folded else value
    return folded


def app_session(client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> requests.Session:
    """A `requests` session that sends every call (any origin) to the in-process app."""
    session = requests.Session()
    session.mount("http://", AppAdapter(client, loop))
    session.mount("https://", AppAdapter(client, loop))
    return session
