"""A fault-injecting HTTP proxy in front of the Stripe stand-in: Stripe answering 500, or not answering in time.

The app is pointed at the proxy (`STRIPE_API_BASE`) exactly as it would be at Stripe; nothing of ours is
mocked. Faults apply to requests whose method and path match, and come in two kinds:

- `error`: the request is answered with Stripe's 500 `api_error`. With `forwarded=True` localstripe has
  already handled it, so the charge may exist while its answer is lost (Stripe documents 500s as
  "the result is indeterminate").
- `hang`: the answer is held back for `seconds` (longer than the client's time-out), after forwarding the
  request or instead of it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import msgspec

from core.serving import serving

Send = Any
Receive = Any
Scope = dict[str, Any]


@dataclass
class StripeFault:
    """One fault rule: which requests, what happens to them, and for how many of them."""

    kind: Literal["error", "hang", "late"]
    """`error`: a 500; `hang`: the answer held back; `late`: the request reaches Stripe only after `seconds`."""
    method: str | None = None
    path_prefix: str = "/v1/"
    forwarded: bool = False
    """True: localstripe handles the request first, then the client sees the fault."""
    seconds: float = 0.0
    """How long a `hang` holds the answer back, or a `late` request before it goes on to Stripe."""
    remaining: int | None = None
    """Faults left to serve; None for every matching request until cleared."""

    def matches(self, method: str, path: str) -> bool:
        """True when this rule applies to the request."""
        return (self.method is None or self.method == method) and path.startswith(self.path_prefix)


@dataclass
class StripeFaultProxy:
    """The proxy's state: the rules in force and what it did, shared with the serving thread."""

    upstream: str
    faults: list[StripeFault] = field(default_factory=list)
    served: list[tuple[str, str, str]] = field(default_factory=list)
    """(method, path, what happened) per request: `passed`, `error`, `hang`."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, fault: StripeFault) -> None:
        """Add a fault rule (the first matching rule wins)."""
        with self._lock:
            self.faults.append(fault)

    def remove(self, fault: StripeFault) -> None:
        """End one rule."""
        with self._lock:
            self.faults.remove(fault)

    def heal(self) -> None:
        """Stripe is back: drop every rule."""
        with self._lock:
            self.faults.clear()

    def count(self, what: str, method: str | None = None, path_prefix: str = "/") -> int:
        """How many matching requests were answered with `what`."""
        with self._lock:
            return sum(
                1
                for m, p, w in self.served
                if w == what and (method is None or m == method) and p.startswith(path_prefix)
            )

    def _take(self, method: str, path: str) -> StripeFault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path) and (fault.remaining is None or fault.remaining > 0):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                    self.served.append((method, path, fault.kind))
                    return fault
            self.served.append((method, path, "passed"))
            return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        body = await _body(receive)
        method, path = scope["method"], scope["path"]
        fault = self._take(method, path)
        if fault is not None and fault.kind == "late":  # the client has given up by the time Stripe acts
            await asyncio.sleep(fault.seconds)
            fault = None
        if fault is None or fault.forwarded:
            status, headers, content = await self._forward(scope, body)
        if fault is not None:
            if fault.kind == "hang":
                await asyncio.sleep(fault.seconds)
            if fault.kind == "error" or not fault.forwarded:
                status, headers, content = _stripe_500()
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    async def _forward(self, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        query = scope.get("query_string", b"").decode()
        url = f"{self.upstream}{scope['path']}" + (f"?{query}" if query else "")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in (b"host", b"content-length")]
        async with httpx.AsyncClient(timeout=30) as http:
            response = await http.request(scope["method"], url, headers=headers, content=body)
        passed = [
            (k.encode(), v.encode())
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "transfer-encoding", "content-encoding", "connection")
        ]
        return response.status_code, passed, response.content


def _stripe_500() -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = {"error": {"type": "api_error", "message": "An unknown error occurred (injected by the fault proxy)."}}
    return 500, [(b"content-type", b"application/json")], msgspec.json.encode(body)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


@contextmanager
def stripe_fault_proxy(upstream: str) -> Iterator[tuple[str, StripeFaultProxy]]:
    """`(base_url, proxy)`: a proxy to `upstream` serving on loopback until the block ends."""
    proxy = StripeFaultProxy(upstream=upstream.rstrip("/"))
    with serving(proxy) as url:
        yield url, proxy
