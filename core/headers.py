"""Security headers on every response (CSP, clickjacking, sniffing, referrer, caching, HSTS)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from litestar.types import Message, Scope

INLINE_STYLES_OPT = "inline_styles"
"""Route `opt` key: the page needs `style-src 'unsafe-inline'` (Stripe.js pages, the outbox's email preview)."""


def content_disposition(disposition: str, filename: str) -> str:
    """`inline` or `attachment` with a filename that cannot break the header (RFC 6266).

    File names come from ledger data (invoice numbers): a quote, semicolon or line break must not end
    the parameter or the header, and a non-ASCII name (Cyrillic, CJK invoice numbers) must not fail
    the response. The plain `filename` is an ASCII stand-in; `filename*` carries the real name.
    """
    fallback = "".join(char if " " <= char <= "~" and char not in '"\\;/' else "_" for char in filename)
    header = f'{disposition}; filename="{fallback or "download"}"'
    if fallback != filename:
        header += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return header


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(
    stripe_js_url: str, consent_urls: tuple[str, ...] = (), *, inline_styles: bool = False
) -> str:
    """Scripts only from us and Stripe.js; Stripe's frames for card entry and 3-D Secure; no inline scripts.

    Styles come only from our stylesheet, except on the pages that opt in (`inline_styles`): Stripe.js
    positions and sizes its card and 3-D Secure frames with inline styles, and the outbox shows an
    email's own inline styles in a sandboxed frame. Scripts are never inline anywhere.

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
            "style-src 'self' 'unsafe-inline'" if inline_styles else "style-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            f"form-action 'self' {consent}".rstrip(),
            "frame-ancestors 'self'",
        ]
    )


class SecurityHeaders:
    """A `before_send` hook, so the headers reach every response, Litestar's own 404 and 405 pages included.

    A header a handler set itself is left alone. Responses are `Cache-Control: no-store` unless they
    say otherwise: pages, PDFs and API answers carry invoices, client details and links, and must not
    stay in a shared computer's cache or a proxy; only the static assets are cacheable.
    """

    def __init__(self, *, csp: str, csp_inline_styles: str, hsts: bool) -> None:
        common = {
            "x-frame-options": "SAMEORIGIN",
            "x-content-type-options": "nosniff",
            "referrer-policy": "same-origin",
            "permissions-policy": "camera=(), microphone=(), geolocation=(), payment=(self)",
            "cross-origin-opener-policy": "same-origin",
        }
        if hsts:
            common["strict-transport-security"] = "max-age=31536000; includeSubDomains"
        self.strict = _encoded({"content-security-policy": csp, **common})
        self.relaxed = _encoded({"content-security-policy": csp_inline_styles, **common})

    async def __call__(self, message: Message, scope: Scope) -> None:
        """Add the headers to the start of an HTTP response."""
        if message["type"] != "http.response.start":
            return
        handler = scope.get("route_handler")
        inline_styles = handler is not None and bool(handler.opt.get(INLINE_STYLES_OPT))
        # Plain lists of byte pairs, as the ASGI message holds them: Litestar's header views cost more than
        # the rest of a memoised page (portal/page_memo.py).
        headers = list(message.get("headers", ()))
        present = {bytes(name).lower() for name, _ in headers}
        headers.extend(pair for pair in (self.relaxed if inline_styles else self.strict) if pair[0] not in present)
        if b"cache-control" not in present and not scope["path"].startswith("/static/"):
            headers.append(_NO_STORE)
        message["headers"] = headers


_NO_STORE = (b"cache-control", b"no-store")


def _encoded(headers: dict[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    """Header names and values as they go on the wire (names in lower case)."""
    return tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items())
