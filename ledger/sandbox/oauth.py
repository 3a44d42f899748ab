"""OAuth 2.0 authorisation-server core shared by the sandboxes: apps, codes, PKCE, rotating refresh tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ledger.sandbox.common import Clock


class OAuthError(Exception):
    """An RFC 6749 error (`invalid_grant`, `invalid_client`, ...) with the HTTP status to answer."""

    def __init__(self, error: str, description: str | None = None, status: int = 400) -> None:
        super().__init__(error if description is None else f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


@dataclass(slots=True)
class OAuthApp:
    """A registered client application."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    name: str


@dataclass(slots=True)
class Grant:
    """What one consent granted: the user, scopes and the tenants/realms chosen."""

    grant_id: str
    client_id: str
    subject: str
    scopes: tuple[str, ...]
    resources: tuple[str, ...]
    public: bool
    nonce: str | None = None
    revoked: bool = False
    issued_at: datetime | None = None


@dataclass(slots=True)
class _Code:
    grant: Grant
    redirect_uri: str
    code_challenge: str | None
    expires_at: datetime
    used: bool = False


@dataclass(slots=True)
class _Refresh:
    grant: Grant
    expires_at: datetime
    replaced_at: datetime | None = None


@dataclass(slots=True)
class AccessRecord:
    """An issued access token (looked up by its id: the JWT `jti` or the opaque token itself)."""

    token_id: str
    grant: Grant
    expires_at: datetime


@dataclass(slots=True)
class OAuthServer:
    """In-memory authorisation server state and rules; providers add their own token formats and errors."""

    clock: Clock
    access_ttl: timedelta
    refresh_ttl: timedelta
    code_ttl: timedelta = timedelta(minutes=5)
    refresh_grace: timedelta = timedelta()
    apps: dict[str, OAuthApp] = field(default_factory=dict)
    _codes: dict[str, _Code] = field(default_factory=dict)
    _refresh: dict[str, _Refresh] = field(default_factory=dict)
    _access: dict[str, AccessRecord] = field(default_factory=dict)

    def register_app(
        self, client_id: str, client_secret: str, redirect_uris: Sequence[str], name: str = "Sandbox App"
    ) -> OAuthApp:
        """Register (or replace) a client application."""
        app = OAuthApp(client_id, client_secret, list(redirect_uris), name)
        self.apps[client_id] = app
        return app

    def check_authorize(self, client_id: str | None, redirect_uri: str | None) -> OAuthApp:
        """Validate the non-redirectable authorize parameters (unknown client or redirect URI)."""
        app = self.apps.get(client_id or "")
        if app is None:
            raise OAuthError("unauthorized_client", "Unknown client or client not enabled")
        if not redirect_uri or redirect_uri not in app.redirect_uris:
            raise OAuthError("invalid_request", "Invalid redirect_uri")
        return app

    def issue_code(self, grant: Grant, redirect_uri: str, code_challenge: str | None) -> str:
        """Issue a single-use authorisation code for a consent."""
        code = secrets.token_hex(32)
        grant.issued_at = self.clock.now()
        self._codes[code] = _Code(grant, redirect_uri, code_challenge, self.clock.now() + self.code_ttl)
        return code

    def authenticate(self, client_id: str | None, client_secret: str | None) -> OAuthApp:
        """Check confidential-client credentials; a missing secret is left to the grant (PKCE) to allow."""
        app = self.apps.get(client_id or "")
        if app is None:
            raise OAuthError("invalid_client")
        if client_secret is not None and not hmac.compare_digest(client_secret, app.client_secret):
            raise OAuthError("invalid_client")
        return app

    def redeem_code(
        self, app: OAuthApp, code: str | None, redirect_uri: str | None, verifier: str | None, *, has_secret: bool
    ) -> Grant:
        """Exchange an authorisation code; checks client, expiry, single use, redirect URI and PKCE."""
        record = self._codes.get(code or "")
        if record is None or record.used or record.grant.client_id != app.client_id:
            raise OAuthError("invalid_grant")
        record.used = True
        if self.clock.now() >= record.expires_at or redirect_uri != record.redirect_uri:
            raise OAuthError("invalid_grant")
        if record.code_challenge is not None:
            if verifier is None or not verify_pkce(verifier, record.code_challenge):
                raise OAuthError("invalid_grant", "Invalid code_verifier")
            record.grant.public = not has_secret
        elif not has_secret:
            raise OAuthError("invalid_client")
        return record.grant

    def issue_refresh(self, grant: Grant) -> str:
        """Issue a new refresh token for a grant."""
        token = secrets.token_hex(32)
        self._refresh[token] = _Refresh(grant, self.clock.now() + self.refresh_ttl)
        return token

    def rotate(self, app: OAuthApp, token: str | None, *, has_secret: bool) -> Grant:
        """Spend a refresh token: it stops working (after the grace period) and the caller issues a new one."""
        record = self._refresh.get(token or "")
        now = self.clock.now()
        if record is None or record.grant.client_id != app.client_id or record.grant.revoked:
            raise OAuthError("invalid_grant")
        if not has_secret and not record.grant.public:
            raise OAuthError("invalid_client")
        if now >= record.expires_at:
            raise OAuthError("invalid_grant")
        if record.replaced_at is not None and now >= record.replaced_at + self.refresh_grace:
            raise OAuthError("invalid_grant")
        if record.replaced_at is None:
            record.replaced_at = now
        return record.grant

    def register_access(self, token_id: str, grant: Grant) -> AccessRecord:
        """Remember an issued access token so it can be validated, expired or revoked."""
        record = AccessRecord(token_id, grant, self.clock.now() + self.access_ttl)
        self._access[token_id] = record
        return record

    def access(self, token_id: str) -> AccessRecord | None:
        """Look up a live access token; None if unknown, expired or its grant was revoked."""
        record = self._access.get(token_id)
        if record is None or record.grant.revoked or self.clock.now() >= record.expires_at:
            return None
        return record

    def access_record(self, token_id: str) -> AccessRecord | None:
        """Look up an access token whatever its state (to tell 'expired' from 'unknown')."""
        return self._access.get(token_id)

    def expire_access(self, token_id: str | None = None) -> int:
        """Expire one access token (by id) or all of them; return how many were expired."""
        now = self.clock.now() - timedelta(seconds=1)
        records = list(self._access.values()) if token_id is None else [self._access[token_id]]
        for record in records:
            record.expires_at = min(record.expires_at, now)
        return len(records)

    def revoke(self, token: str) -> Grant | None:
        """Revoke the grant behind a refresh (or access) token: all its tokens stop working."""
        record = self._refresh.get(token)
        grant = record.grant if record is not None else None
        if grant is None and (access := self._access.get(token)) is not None:
            grant = access.grant
        if grant is not None:
            grant.revoked = True
        return grant


def verify_pkce(verifier: str, challenge: str) -> bool:
    """Check an RFC 7636 S256 code_verifier against its code_challenge."""
    if not 43 <= len(verifier) <= 128:
        return False
    return hmac.compare_digest(pkce_challenge(verifier), challenge)


def pkce_challenge(verifier: str) -> str:
    """The S256 code_challenge for a verifier (base64url of SHA-256, unpadded)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def jwt_encode(claims: Mapping[str, Any], key: bytes, kid: str) -> str:
    """Sign claims as an HS256 JWT."""
    header = {"alg": "HS256", "kid": kid, "typ": "JWT"}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(dict(claims), separators=(",", ":")).encode())
    )
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url(signature)


def jwt_decode(token: str, key: bytes) -> dict[str, Any] | None:
    """Verify an HS256 JWT signed with `key` and return its claims, or None if malformed or forged."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    expected = hmac.new(key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_b64url_decode(parts[2]), expected):
            return None
        claims = json.loads(_b64url_decode(parts[1]))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def client_credentials(authorization: str | None, form: Mapping[str, str]) -> tuple[str | None, str | None]:
    """Client id and secret from HTTP Basic auth, else from the form (client_secret_post / public client)."""
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except ValueError as exc:
            raise OAuthError("invalid_client") from exc
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client")
        return client_id, secret
    return form.get("client_id") or None, form.get("client_secret") or None


def add_query(url: str, params: Mapping[str, str]) -> str:
    """Append query parameters to a URL that may already carry some."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@dataclass(frozen=True, slots=True)
class ConsentChoice:
    """One organisation/company the user may pick on the consent page."""

    value: str
    label: str
    checked: bool = False


def render_consent(
    *,
    provider: str,
    app_name: str,
    action: str,
    hidden: Mapping[str, str],
    scopes: Sequence[str],
    choices: Sequence[ConsentChoice],
    multiple: bool,
    choice_field: str,
    legend: str = "Choose the organisations to connect",
    error: str | None = None,
) -> str:
    """A plain HTML consent page: pick organisations, then Allow or Deny (a form; no JavaScript needed)."""
    esc = html.escape
    kind = "checkbox" if multiple else "radio"
    hidden_inputs = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in hidden.items() if v is not None
    )
    rows = "".join(
        f'<li><label><input type="{kind}" name="{esc(choice_field)}" value="{esc(c.value)}"'
        f"{' checked' if c.checked else ''}> {esc(c.label)}</label></li>"
        for c in choices
    )
    scope_items = "".join(f"<li><code>{esc(s)}</code></li>" for s in scopes)
    error_html = f'<p class="error" role="alert">{esc(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(provider)} | Authorise {esc(app_name)}</title></head><body>"
        f"<main><h1>{esc(app_name)} wants to access your {esc(provider)} data</h1>{error_html}"
        f"<p>Requested permissions:</p><ul>{scope_items}</ul>"
        f'<form method="post" action="{esc(action)}">{hidden_inputs}'
        f"<fieldset><legend>{esc(legend)}</legend><ul>{rows}</ul></fieldset>"
        '<button type="submit" name="decision" value="allow">Allow access</button> '
        '<button type="submit" name="decision" value="deny">Cancel</button>'
        "</form></main></body></html>"
    )


def render_error_page(provider: str, error: str, description: str) -> str:
    """The page an authorisation server shows when it must not redirect back (bad client or redirect URI)."""
    esc = html.escape
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(provider)} | Error</title>'
        f"</head><body><main><h1>Sorry, something went wrong</h1><p>Error: <code>{esc(error)}</code></p>"
        f"<p>{esc(description)}</p></main></body></html>"
    )
