"""Plumbing shared by the ledger sandboxes: clock, request log, fault injection, money and JSON."""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import msgspec
from litestar import Response

# ISO 4217 minor-unit exponents that differ from the usual 2.
_EXPONENTS: dict[str, int] = {
    "BIF": 0,
    "CLP": 0,
    "DJF": 0,
    "GNF": 0,
    "ISK": 0,
    "JPY": 0,
    "KMF": 0,
    "KRW": 0,
    "PYG": 0,
    "RWF": 0,
    "UGX": 0,
    "UYI": 0,
    "VND": 0,
    "VUV": 0,
    "XAF": 0,
    "XOF": 0,
    "XPF": 0,
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
}

_ENCODER = msgspec.json.Encoder(decimal_format="number")

JSON_MEDIA_TYPE = "application/json; charset=utf-8"
MAX_AMOUNT = Decimal(10) ** 12
"""Ledgers refuse amounts of a trillion or more (Xero and QuickBooks cap amounts well below that)."""


def exponent(currency: str) -> int:
    """Return the number of minor-unit digits of an ISO 4217 currency."""
    return _EXPONENTS.get(currency.upper(), 2)


def to_decimal(minor: int, currency: str) -> Decimal:
    """Turn integer minor units into a Decimal carrying the currency's scale (USD 12345 -> 123.45)."""
    return Decimal(minor).scaleb(-exponent(currency))


def to_minor(amount: Decimal, currency: str) -> int:
    """Turn a Decimal amount into minor units; raise ValueError if it has more precision than the currency."""
    if abs(amount) >= MAX_AMOUNT:
        raise ValueError(f"{amount} is larger than a ledger accepts")
    scaled = amount.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more decimals than {currency} allows")
    return int(scaled)


def plain_decimal(minor: int, currency: str) -> Decimal:
    """Amount without trailing zeros and without exponent notation (QuickBooks style: 150, 99.5)."""
    value = to_decimal(minor, currency)
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def parse_decimal(value: object) -> Decimal:
    """Read a JSON number or numeric string as Decimal; raise ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise ValueError(f"not a number: {value!r}")
    try:
        result = Decimal(value)
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc
    if not result.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return result


def percent_of(minor: int, rate_percent: Decimal) -> int:
    """Round-half-up share of an amount in minor units (tax on a line)."""
    return int((Decimal(minor) * rate_percent / 100).to_integral_value(ROUND_HALF_UP))


def loads_json(body: bytes) -> Any:
    """Decode a JSON request body keeping every number exact (floats become Decimal)."""
    return json.loads(body, parse_float=Decimal)


def json_bytes(payload: object) -> bytes:
    """Encode a payload as JSON with Decimals written as JSON numbers."""
    return _ENCODER.encode(payload)


def json_response(payload: object, status: int = 200, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    """Build a JSON response whose bytes are produced here (exact decimals, real key order)."""
    return Response(
        content=json_bytes(payload), status_code=status, media_type=JSON_MEDIA_TYPE, headers=dict(headers or {})
    )


class SandboxHTTPError(Exception):
    """An error already rendered in the provider's wire format; raised by services, answered as is."""

    def __init__(
        self, status: int, body: bytes, media_type: str = JSON_MEDIA_TYPE, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body
        self.media_type = media_type
        self.headers = dict(headers or {})

    @classmethod
    def json(cls, status: int, payload: object, headers: Mapping[str, str] | None = None) -> SandboxHTTPError:
        """Build an error carrying a JSON body."""
        return cls(status, json_bytes(payload), JSON_MEDIA_TYPE, headers)

    def to_response(self) -> Response[bytes]:
        """Render as a Litestar response."""
        return Response(content=self.body, status_code=self.status, media_type=self.media_type, headers=self.headers)


class Clock:
    """Sandbox time: real UTC time (or a frozen instant) plus an offset tests can advance."""

    def __init__(self, frozen_at: datetime | None = None) -> None:
        self._frozen_at = frozen_at
        self._offset = timedelta()

    def now(self) -> datetime:
        """Current sandbox time, timezone-aware UTC."""
        base = self._frozen_at if self._frozen_at is not None else datetime.now(UTC)
        return base + self._offset

    def today(self) -> date:
        """Current sandbox date in UTC."""
        return self.now().date()

    def advance(self, delta: timedelta | float) -> None:
        """Move sandbox time forward (seconds or a timedelta); expires tokens and codes naturally."""
        self._offset += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the sandbox saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass(slots=True)
class RequestLog:
    """Every request the sandbox answered, in order, so tests can count calls."""

    entries: list[LoggedRequest] = field(default_factory=list)

    def record(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]) -> None:
        """Append a request."""
        self.entries.append(
            LoggedRequest(method.upper(), path, dict(query), {k.lower(): v for k, v in headers.items()})
        )

    def count(self, method: str | None = None, path: str | None = None, prefix: str | None = None) -> int:
        """Count requests matching an optional method, exact path and path prefix."""
        return sum(1 for entry in self.matching(method, path, prefix))

    def matching(
        self, method: str | None = None, path: str | None = None, prefix: str | None = None
    ) -> list[LoggedRequest]:
        """Requests matching an optional method, exact path and path prefix."""
        return [
            e
            for e in self.entries
            if (method is None or e.method == method.upper())
            and (path is None or e.path == path)
            and (prefix is None or e.path.startswith(prefix))
        ]

    def clear(self) -> None:
        """Forget every recorded request."""
        self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[LoggedRequest]:
        return iter(self.entries)


@dataclass(frozen=True, slots=True)
class Fault:
    """An injected failure: the HTTP status and, optionally, a Retry-After in seconds."""

    status: int
    retry_after: int | None
    path_prefix: str | None = None


@dataclass(slots=True)
class _Storm:
    status: int
    rate: float
    retry_after: int | None
    path_prefix: str | None
    rng: random.Random


class FaultInjector:
    """Queued one-off failures (`fail_next`) and open-ended failure storms (`start_storm`)."""

    def __init__(self, default_prefixes: tuple[str, ...]) -> None:
        self._default_prefixes = default_prefixes
        self._queue: deque[Fault] = deque()
        self._storm: _Storm | None = None
        self._lost: deque[str | None] = deque()

    def fail_next(
        self, n: int = 1, status: int = 429, retry_after: int | None = 1, path_prefix: str | None = None
    ) -> None:
        """Make the next `n` matching API requests fail with `status` (and `Retry-After` when given)."""
        self._queue.extend(Fault(status, retry_after, path_prefix) for _ in range(n))

    def start_storm(
        self,
        status: int = 503,
        rate: float = 1.0,
        retry_after: int | None = None,
        path_prefix: str | None = None,
        seed: int = 0,
    ) -> None:
        """Fail a share `rate` of matching requests (deterministic per `seed`) until `stop_storm`."""
        self._storm = _Storm(status, rate, retry_after, path_prefix, random.Random(seed))  # noqa: S311 - not crypto

    def stop_storm(self) -> None:
        """End a storm started with `start_storm`."""
        self._storm = None

    def lose_next_answers(self, n: int = 1, path_prefix: str | None = None) -> None:
        """Let the next `n` matching requests take effect, then answer them 504, as if the reply was lost."""
        self._lost.extend(path_prefix for _ in range(n))

    def take_lost_answer(self, path: str) -> bool:
        """True when the answer to this request is to be lost (consumes one `lose_next_answers`)."""
        if self._lost and self._applies(self._lost[0], path):
            self._lost.popleft()
            return True
        return False

    def clear(self) -> None:
        """Drop queued faults, lost answers and any storm."""
        self._queue.clear()
        self._lost.clear()
        self._storm = None

    @property
    def pending(self) -> int:
        """Number of queued one-off faults not yet served."""
        return len(self._queue)

    def take(self, path: str) -> Fault | None:
        """Return the fault to serve for a request to `path`, if any, consuming a queued one."""
        if self._queue and self._applies(self._queue[0].path_prefix, path):
            return self._queue.popleft()
        storm = self._storm
        if storm is not None and self._applies(storm.path_prefix, path) and storm.rng.random() < storm.rate:
            return Fault(storm.status, storm.retry_after, storm.path_prefix)
        return None

    def _applies(self, prefix: str | None, path: str) -> bool:
        prefixes = (prefix,) if prefix is not None else self._default_prefixes
        return any(path.startswith(p) for p in prefixes)


def strictly_after(candidate: datetime, previous: datetime | None) -> datetime:
    """`candidate`, nudged 1 ms past `previous` so successive updates get increasing timestamps."""
    if previous is not None and candidate <= previous:
        return previous + timedelta(milliseconds=1)
    return candidate


class LostAnswers:
    """ASGI middleware: a request `FaultInjector.lose_next_answers` picked runs, but its caller gets a 504.

    What a client sees when the ledger did the work and the reply died on the way back (a proxy's time-out):
    the case idempotency keys exist for.
    """

    def __init__(self, app: Any, faults: FaultInjector) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Run the request; swallow its answer and send a gateway time-out instead when one is due."""
        if scope["type"] != "http" or not self.faults.take_lost_answer(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def swallow(_: Any) -> None:
            return None

        await self.app(scope, receive, swallow)
        body = json.dumps({"Title": "Gateway Timeout", "Status": 504, "Detail": "The upstream reply was lost."})
        await send({"type": "http.response.start", "status": 504, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})
