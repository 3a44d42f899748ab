"""Security headers on every response (CSP, clickjacking, sniffing, referrer)."""

from __future__ import annotations

from urllib.parse import urlsplit

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(stripe_js_url: str, consent_urls: tuple[str, ...] = ()) -> str:
    """Scripts only from us and Stripe.js; Stripe's frames for card entry and 3-D Secure; no inline scripts.

    `consent_urls` are the ledgers' consent pages: a form that starts a connection redirects
    there, and browsers apply `form-action` to that redirect.
    """
    stripe = _origin(stripe_js_url)
    consent = " ".join(sorted({_origin(url) for url in consent_urls}))
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {stripe}",
            f"frame-src 'self' {stripe} https://hooks.stripe.com",
            f"connect-src 'self' {stripe} https://api.stripe.com",
            "img-src 'self' data: https:",  # firms' logos live on their own https sites
            # Stripe.js and the card element inject styles; no user content is ever styled inline.
            "style-src 'self' 'unsafe-inline'",
            "object-src 'none'",
            "base-uri 'self'",
            f"form-action 'self' {consent}".rstrip(),
            "frame-ancestors 'self'",
        ]
    )


class SecurityHeadersMiddleware:
    """Adds the headers to every HTTP response that does not set them itself."""

    def __init__(self, app: ASGIApp, *, csp: str, hsts: bool) -> None:
        self.app = app
        headers = {
            b"content-security-policy": csp.encode(),
            b"x-frame-options": b"SAMEORIGIN",
            b"x-content-type-options": b"nosniff",
            b"referrer-policy": b"same-origin",
            b"permissions-policy": b"camera=(), microphone=(), geolocation=(), payment=(self)",
            b"cross-origin-opener-policy": b"same-origin",
        }
        if hsts:
            headers[b"strict-transport-security"] = b"max-age=31536000; includeSubDomains"
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                existing = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in self.headers.items() if name not in existing]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
