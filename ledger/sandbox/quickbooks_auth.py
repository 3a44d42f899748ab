"""Intuit's OAuth 2.0 service: company picker, code flow, rotating refresh tokens, revocation."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from litestar import Response
from litestar.enums import MediaType

from ledger.sandbox.oauth import (
    AccessRecord,
    ConsentChoice,
    Grant,
    OAuthError,
    add_query,
    client_credentials,
    jwt_encode,
    render_consent,
    render_error_page,
)
from ledger.sandbox.quickbooks_state import (
    ACCESS_TTL,
    ACCOUNTING_SCOPE,
    REFRESH_TTL,
    QboAuthError,
    QuickBooksSandbox,
)

AUTHORIZE_PATH = "/connect/oauth2"
AUTHORIZE_PARAMS = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
)


# ----- OAuth: consent page, token and revocation ------------------------------------------------------


def _redirect(url: str) -> Response[bytes]:
    return Response(content=b"", status_code=302, headers={"Location": url})


def _html(page: str, status: int = 200) -> Response[str]:
    return Response(content=page, status_code=status, media_type=MediaType.HTML)


def _authorize_problem(params: Mapping[str, str]) -> tuple[str, str] | None:
    if params.get("response_type") != "code":
        return "unsupported_response_type", "response_type must be code"
    if ACCOUNTING_SCOPE not in params.get("scope", "").split():
        return "invalid_scope", f"scope must include {ACCOUNTING_SCOPE}"
    if not params.get("state"):
        return "invalid_request", "state is required"
    if params.get("code_challenge") and params.get("code_challenge_method", "") != "S256":
        return "invalid_request", "code_challenge_method must be S256"
    return None


def authorize(
    sandbox: QuickBooksSandbox, params: Mapping[str, str], decision: str | None, realm_id: str | None
) -> Response[Any]:
    """Show the company picker (no decision yet) or act on Connect/Cancel, redirecting back to the app."""
    try:
        app = sandbox.oauth.check_authorize(params.get("client_id"), params.get("redirect_uri"))
    except OAuthError as exc:
        return _html(render_error_page("Intuit", exc.error, exc.description or ""), 400)
    redirect_uri = params["redirect_uri"]
    state = {"state": params["state"]} if params.get("state") else {}
    if (error := _authorize_problem(params)) is not None:
        return _redirect(add_query(redirect_uri, {"error": error[0], "error_description": error[1], **state}))
    if decision == "deny":
        return _redirect(add_query(redirect_uri, {"error": "access_denied", **state}))
    if decision != "allow" or realm_id not in sandbox.realms:
        return _consent_page(sandbox, app.name, params, "Choose a company" if decision else None)
    grant = sandbox.consent(app.client_id, params["scope"].split(), realm_id, params.get("nonce"))
    code = sandbox.oauth.issue_code(grant, redirect_uri, params.get("code_challenge") or None)
    return _redirect(add_query(redirect_uri, {"code": code, **state, "realmId": realm_id}))


def _consent_page(
    sandbox: QuickBooksSandbox, app_name: str, params: Mapping[str, str], error: str | None
) -> Response[str]:
    choices = [
        ConsentChoice(r.realm_id, r.company_name, checked=index == 0) for index, r in enumerate(sandbox.realms.values())
    ]
    page = render_consent(
        provider="QuickBooks",
        app_name=app_name,
        action=AUTHORIZE_PATH,
        hidden={k: params[k] for k in AUTHORIZE_PARAMS if params.get(k)},
        scopes=params.get("scope", "").split(),
        choices=choices,
        multiple=False,
        choice_field="realmId",
        legend="Choose the company to connect",
        error=error,
    )
    return _html(page, 400 if error else 200)


def _access_token(sandbox: QuickBooksSandbox, grant: Grant) -> str:
    # Intuit access tokens are opaque JWEs; clients must not read them, so random bytes in that shape do.
    token = "eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0.." + secrets.token_urlsafe(96)
    sandbox.oauth.register_access(token, grant)
    return token


def _id_token(sandbox: QuickBooksSandbox, grant: Grant, client_secret: str) -> str:
    now = int(sandbox.clock.now().timestamp())
    claims: dict[str, object] = {
        "sub": sandbox.user_id,
        "aud": [grant.client_id],
        "realmid": grant.resources[0],
        "auth_time": now,
        "iss": "https://oauth.platform.intuit.com/op/v1",
        "exp": now + 3600,
        "iat": now,
    }
    if grant.nonce:
        claims["nonce"] = grant.nonce
    return jwt_encode(claims, client_secret.encode(), "sandbox-1")


def token_response(sandbox: QuickBooksSandbox, authorization: str | None, form: Mapping[str, str]) -> dict[str, object]:
    """Handle POST /oauth2/v1/tokens/bearer (authorization_code and rotating refresh_token grants)."""
    client_id, secret = client_credentials(authorization, form)
    app = sandbox.oauth.authenticate(client_id, secret)
    if secret is None:
        raise OAuthError("invalid_client", status=401)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        grant = sandbox.oauth.redeem_code(
            app, form.get("code"), form.get("redirect_uri"), form.get("code_verifier"), has_secret=True
        )
    elif grant_type == "refresh_token":
        grant = sandbox.oauth.rotate(app, _strip_prefix(form.get("refresh_token")), has_secret=True)
    else:
        raise OAuthError("unsupported_grant_type")
    body: dict[str, object] = {
        "token_type": "bearer",
        "expires_in": int(ACCESS_TTL.total_seconds()),
        "refresh_token": "AB11" + sandbox.oauth.issue_refresh(grant),
        "x_refresh_token_expires_in": int(REFRESH_TTL.total_seconds()),
        "access_token": _access_token(sandbox, grant),
    }
    if "openid" in grant.scopes:
        body["id_token"] = _id_token(sandbox, grant, app.client_secret)
    return body


def _strip_prefix(token: str | None) -> str | None:
    return token[4:] if token and token.startswith("AB11") else token


def revoke_token(sandbox: QuickBooksSandbox, authorization: str | None, body: Mapping[str, str]) -> None:
    """Handle POST /oauth2/v1/tokens/revoke (JSON or form `token`): the grant and its tokens die."""
    client_id, secret = client_credentials(authorization, body)
    sandbox.oauth.authenticate(client_id, secret)
    if secret is None:
        raise OAuthError("invalid_client", status=401)
    token = body.get("token")
    if not token:
        raise OAuthError("invalid_request")
    sandbox.oauth.revoke(_strip_prefix(token) or "")


def authenticate(sandbox: QuickBooksSandbox, authorization: str | None) -> AccessRecord:
    """Validate the Bearer token of an API call."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    record = sandbox.oauth.access(token) if scheme.lower() == "bearer" else None
    if record is not None:
        return record
    stale = sandbox.oauth.access_record(token)
    if stale is not None and not stale.grant.revoked:
        raise QboAuthError(401, f"Token expired: {token[:20]}...")
    raise QboAuthError(401, "Token revoked" if stale is not None else "Token invalid")
