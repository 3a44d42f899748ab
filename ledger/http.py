"""HTTP to ledgers: time-outs, 429 Retry-After, 5xx backoff, and a cap on concurrent calls per tenant."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

log = structlog.get_logger()

MAX_ATTEMPTS = 6
MAX_RETRY_AFTER_SECONDS = 60.0
"""A longer Retry-After (a daily limit) is not waited out inside a job: the job fails and is retried later."""
TENANT_CONCURRENCY = 5
"""Xero allows 5 concurrent calls per tenant; QuickBooks 10 per realm. We keep to the lower."""


class LedgerError(Exception):
    """A ledger call failed for good (after retries, or with an error no retry fixes)."""

    def __init__(self, message: str, *, status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class LedgerAuthError(LedgerError):
    """The ledger refused our access token (401) or the grant (invalid_grant)."""


class LedgerRateLimited(LedgerError):
    """The ledger asked us to wait longer than a job should."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


def _retry_after(response: httpx.Response, attempt: int) -> float:
    header = str(response.headers.get("retry-after", ""))
    try:
        return max(float(header), 0.0)
    except ValueError:
        return min(2.0**attempt, 30.0)


@dataclass
class LedgerHttp:
    """Sends requests to one provider; shared by every connection of the process."""

    client: httpx.AsyncClient
    backoff_base: float = 0.5
    calls: int = 0
    _gates: dict[str, asyncio.Semaphore] = field(default_factory=lambda: defaultdict(_new_gate))

    async def request(
        self,
        method: str,
        url: str,
        *,
        tenant: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send, retrying 429 (as told by Retry-After), 5xx and transport errors with backoff."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with self._gates[tenant]:
                    self.calls += 1
                    response = await self.client.request(
                        method, url, headers=dict(headers or {}), params=params, json=json, content=content
                    )
            except httpx.TransportError as exc:
                if attempt == MAX_ATTEMPTS:
                    raise LedgerError(f"{method} {_path(url)}: {type(exc).__name__}") from exc
                await self._sleep(self._backoff(attempt))
                continue
            if response.status_code == httpx.codes.TOO_MANY_REQUESTS:
                wait = _retry_after(response, attempt)
                if wait > MAX_RETRY_AFTER_SECONDS or attempt == MAX_ATTEMPTS:
                    raise LedgerRateLimited(f"{method} {_path(url)}: rate limited", retry_after=wait)
                log.info("ledger_rate_limited", path=_path(url), retry_after=wait)
                await self._sleep(wait)
                continue
            if response.status_code >= httpx.codes.INTERNAL_SERVER_ERROR and attempt < MAX_ATTEMPTS:
                await self._sleep(self._backoff(attempt))
                continue
            if response.status_code == httpx.codes.UNAUTHORIZED:
                raise LedgerAuthError(f"{method} {_path(url)}: unauthorized", status=401, body=response.text[:500])
            if response.is_error:
                raise LedgerError(
                    f"{method} {_path(url)}: HTTP {response.status_code}",
                    status=response.status_code,
                    body=response.text[:2000],
                )
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff(self, attempt: int) -> float:
        jitter = 1 + random.random() / 2  # noqa: S311 - not a secret
        return float(self.backoff_base * 2 ** (attempt - 1) * jitter)

    async def _sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _new_gate() -> asyncio.Semaphore:
    return asyncio.Semaphore(TENANT_CONCURRENCY)


def _path(url: str) -> str:
    # Log paths, never query strings (they can carry ids of people) or tokens.
    return httpx.URL(url).path
