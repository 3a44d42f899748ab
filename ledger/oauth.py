"""OAuth 2 authorization-code flow for Xero and QuickBooks, done with authlib."""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from core.clock import utcnow
from core.errors import Invalid
from core.settings import Settings

PROVIDERS = ("xero", "quickbooks")
XERO_SCOPES = "openid profile email offline_access accounting.transactions accounting.contacts accounting.settings.read"
QUICKBOOKS_SCOPES = "com.intuit.quickbooks.accounting"
TIMEOUT = httpx.Timeout(20.0, connect=5.0)


class GrantRevoked(Exception):
    """The provider answered `invalid_grant`: the user must connect again."""


class TokenEndpointError(Exception):
    """The token endpoint failed in a way a retry may fix."""


@dataclass(frozen=True)
class ProviderOAuth:
    """One provider's OAuth endpoints and our app's credentials there."""

    provider: str
    client_id: str
    client_secret: str
    authorize_url: str
    token_url: str
    revoke_url: str
    scope: str
    redirect_uri: str


@dataclass(frozen=True)
class TokenSet:
    """What a token endpoint returned, with the expiry made absolute."""

    access_token: str
    refresh_token: str
    expires_at: dt.datetime
    raw: dict[str, Any]


def provider_oauth(settings: Settings, provider: str) -> ProviderOAuth:
    """The provider's OAuth settings; Invalid when the app has no credentials for it."""
    redirect_uri = f"{settings.base_url.rstrip('/')}/ledger/callback/{provider}"
    if provider == "xero":
        if not (settings.xero_client_id and settings.xero_client_secret):
            raise Invalid("Xero is not configured.", fields={"provider": "Set XERO_CLIENT_ID and XERO_CLIENT_SECRET."})
        return ProviderOAuth(
            provider="xero",
            client_id=settings.xero_client_id,
            client_secret=settings.xero_client_secret,
            authorize_url=settings.xero_login_base.rstrip("/") + "/identity/connect/authorize",
            token_url=settings.xero_identity_base.rstrip("/") + "/connect/token",
            revoke_url=settings.xero_identity_base.rstrip("/") + "/connect/revocation",
            scope=XERO_SCOPES,
            redirect_uri=redirect_uri,
        )
    if provider == "quickbooks":
        if not (settings.quickbooks_client_id and settings.quickbooks_client_secret):
            raise Invalid(
                "QuickBooks is not configured.",
                fields={"provider": "Set QUICKBOOKS_CLIENT_ID and QUICKBOOKS_CLIENT_SECRET."},
            )
        token_url = settings.quickbooks_token_url
        return ProviderOAuth(
            provider="quickbooks",
            client_id=settings.quickbooks_client_id,
            client_secret=settings.quickbooks_client_secret,
            authorize_url=settings.quickbooks_authorize_url,
            token_url=token_url,
            revoke_url=token_url.rsplit("/", 1)[0] + "/revoke",
            scope=QUICKBOOKS_SCOPES,
            redirect_uri=redirect_uri,
        )
    raise Invalid("Unknown ledger.", fields={"provider": "Use xero or quickbooks."})


def _client(oauth: ProviderOAuth, **kwargs: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        scope=oauth.scope,
        redirect_uri=oauth.redirect_uri,
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method name
        timeout=TIMEOUT,
        **kwargs,
    )


def new_state() -> str:
    """An unguessable `state` binding the callback to the request that started it."""
    return str(generate_token(40))


def new_code_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43 to 128 characters)."""
    return str(generate_token(64))


def authorization_url(oauth: ProviderOAuth, *, state: str, code_verifier: str) -> str:
    """Where to send the person to consent (PKCE S256 on both providers)."""
    client = _client(oauth, code_challenge_method="S256")
    url, _ = client.create_authorization_url(oauth.authorize_url, state=state, code_verifier=code_verifier)
    return str(url)


def _token_set(token: dict[str, Any]) -> TokenSet:
    expires_in = int(token.get("expires_in") or 1800)
    return TokenSet(
        access_token=str(token["access_token"]),
        refresh_token=str(token["refresh_token"]),
        expires_at=utcnow() + dt.timedelta(seconds=expires_in),
        raw=dict(token),
    )


async def exchange_code(oauth: ProviderOAuth, *, code: str, code_verifier: str) -> TokenSet:
    """Trade the callback's code for tokens."""
    async with _client(oauth, code_challenge_method="S256") as client:
        try:
            token = await client.fetch_token(oauth.token_url, code=code, code_verifier=code_verifier)
        except OAuthError as exc:
            raise GrantRevoked(exc.error or "invalid_grant") from None
    return _token_set(token)


async def refresh(oauth: ProviderOAuth, refresh_token: str) -> TokenSet:
    """Spend a refresh token; the answer carries the rotated one."""
    async with _client(oauth) as client:
        try:
            token = await client.refresh_token(oauth.token_url, refresh_token=refresh_token)
        except OAuthError as exc:
            if exc.error in ("invalid_grant", "invalid_client", "unauthorized_client"):
                raise GrantRevoked(exc.error) from None
            raise TokenEndpointError(exc.error or "token endpoint error") from None
        except httpx.HTTPError as exc:
            raise TokenEndpointError(type(exc).__name__) from None
    return _token_set(token)


async def revoke(oauth: ProviderOAuth, refresh_token: str) -> None:
    """Revoke the grant at the provider (best effort: disconnecting locally must not depend on it)."""
    async with _client(oauth) as client:
        try:
            await client.revoke_token(oauth.revoke_url, token=refresh_token, token_type_hint="refresh_token")  # noqa: S106
        except (OAuthError, httpx.HTTPError):
            return


def unverified_claims(jwt: str) -> dict[str, Any]:
    """Claims of a JWT we just received from the token endpoint over TLS (Xero's `authentication_event_id`)."""
    try:
        payload = jwt.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(padded))
    except (IndexError, ValueError):
        return {}
    return claims
