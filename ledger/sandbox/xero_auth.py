"""Xero's login and identity services: consent page, PKCE code flow, rotating refresh tokens, revocation."""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping, Sequence
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
    jwt_decode,
    jwt_encode,
    render_consent,
    render_error_page,
)
from ledger.sandbox.xero_state import (
    ACCESS_TTL,
    XeroAuthError,
    XeroSandbox,
)

ISSUER = "https://identity.xero.com"
AUTHORIZE_PATH = "/identity/connect/authorize"
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


# ----- OAuth: consent page, token and revocation ---------------------------------------------------------


def _redirect(url: str) -> Response[bytes]:
    return Response(content=b"", status_code=302, headers={"Location": url})


def _html(page: str, status: int = 200) -> Response[str]:
    return Response(content=page, status_code=status, media_type=MediaType.HTML)


def _authorize_problem(sandbox: XeroSandbox, params: Mapping[str, str]) -> tuple[str, str] | None:
    """Redirectable authorize errors (the client and redirect URI are already known good)."""
    scopes = params.get("scope", "").split()
    if params.get("response_type") != "code":
        return "unsupported_response_type", "response_type must be code"
    if not scopes:
        return "invalid_scope", "scope is required"
    if sandbox.strict_scopes and "offline_access" not in scopes:
        return "invalid_scope", "offline_access is required for this app"
    if params.get("code_challenge") and params.get("code_challenge_method", "") != "S256":
        return "invalid_request", "code_challenge_method must be S256"
    return None


def authorize(
    sandbox: XeroSandbox, params: Mapping[str, str], decision: str | None, chosen: Sequence[str]
) -> Response[Any]:
    """Show the consent page (no decision yet) or act on Allow/Deny, redirecting back to the app."""
    try:
        app = sandbox.oauth.check_authorize(params.get("client_id"), params.get("redirect_uri"))
    except OAuthError as exc:
        return _html(render_error_page("Xero", exc.error, exc.description or ""), 400)
    redirect_uri = params["redirect_uri"]
    state = {"state": params["state"]} if params.get("state") else {}
    if (error := _authorize_problem(sandbox, params)) is not None:
        return _redirect(add_query(redirect_uri, {"error": error[0], "error_description": error[1], **state}))
    if decision == "deny":
        return _redirect(add_query(redirect_uri, {"error": "access_denied", **state}))
    tenant_ids = [t for t in chosen if t in sandbox.tenants]
    if decision != "allow" or not tenant_ids:
        return _consent_page(sandbox, app.name, params, "Choose at least one organisation" if decision else None)
    scopes = params["scope"].split()
    grant = sandbox.consent(app.client_id, scopes, tenant_ids, params.get("nonce"))
    code = sandbox.oauth.issue_code(grant, redirect_uri, params.get("code_challenge") or None)
    session_state = hashlib.sha256(grant.grant_id.encode()).hexdigest()
    return _redirect(
        add_query(redirect_uri, {"code": code, "scope": " ".join(scopes), **state, "session_state": session_state})
    )


def _consent_page(sandbox: XeroSandbox, app_name: str, params: Mapping[str, str], error: str | None) -> Response[str]:
    choices = [
        ConsentChoice(t.tenant_id, t.name, checked=index == 0) for index, t in enumerate(sandbox.tenants.values())
    ]
    page = render_consent(
        provider="Xero",
        app_name=app_name,
        action=AUTHORIZE_PATH,
        hidden={k: params[k] for k in AUTHORIZE_PARAMS if params.get(k)},
        scopes=params.get("scope", "").split(),
        choices=choices,
        multiple=True,
        choice_field="tenant",
        error=error,
    )
    return _html(page, 400 if error else 200)


def _access_token(sandbox: XeroSandbox, grant: Grant) -> str:
    jti = uuid.uuid4().hex
    record = sandbox.oauth.register_access(jti, grant)
    now = int(sandbox.clock.now().timestamp())
    auth_time = int((grant.issued_at or sandbox.clock.now()).timestamp())
    claims = {
        "nbf": now,
        "exp": int(record.expires_at.timestamp()),
        "iss": ISSUER,
        "aud": f"{ISSUER}/resources",
        "client_id": grant.client_id,
        "sub": sandbox.user.sub,
        "auth_time": auth_time,
        "xero_userid": sandbox.user.user_id,
        "global_session_id": _session_id(grant),
        "sid": _session_id(grant),
        "jti": jti,
        "authentication_event_id": grant.grant_id,
        "scope": list(grant.scopes),
        "amr": ["pwd"],
    }
    return jwt_encode(claims, sandbox.signing_key, "sandbox-1")


def _session_id(grant: Grant) -> str:
    return hashlib.sha256(f"session:{grant.grant_id}".encode()).hexdigest()[:32]


def _id_token(sandbox: XeroSandbox, grant: Grant, access_token: str, client_secret: str) -> str:
    """An OIDC id_token, HS256-signed with the client secret (as OIDC prescribes for HS256)."""
    now = int(sandbox.clock.now().timestamp())
    digest = hashlib.sha256(access_token.encode()).digest()
    user = sandbox.user
    claims: dict[str, object] = {
        "nbf": now,
        "exp": now + 300,
        "iss": ISSUER,
        "aud": grant.client_id,
        "iat": now,
        "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
        "sid": _session_id(grant),
        "sub": user.sub,
        "auth_time": int((grant.issued_at or sandbox.clock.now()).timestamp()),
        "xero_userid": user.user_id,
        "global_session_id": _session_id(grant),
        "preferred_username": user.email,
        "email": user.email,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "amr": ["pwd"],
    }
    if grant.nonce:
        claims["nonce"] = grant.nonce
    return jwt_encode(claims, client_secret.encode(), "sandbox-1")


def token_response(sandbox: XeroSandbox, authorization: str | None, form: Mapping[str, str]) -> dict[str, object]:
    """Handle POST /connect/token for the authorization_code and refresh_token grants."""
    client_id, secret = client_credentials(authorization, form)
    app = sandbox.oauth.authenticate(client_id, secret)
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code":
        grant = sandbox.oauth.redeem_code(
            app, form.get("code"), form.get("redirect_uri"), form.get("code_verifier"), has_secret=secret is not None
        )
    elif grant_type == "refresh_token":
        grant = sandbox.oauth.rotate(app, form.get("refresh_token"), has_secret=secret is not None)
    else:
        raise OAuthError("unsupported_grant_type")
    access = _access_token(sandbox, grant)
    body: dict[str, object] = {}
    if "openid" in grant.scopes:
        body["id_token"] = _id_token(sandbox, grant, access, app.client_secret)
    body.update({"access_token": access, "expires_in": int(ACCESS_TTL.total_seconds()), "token_type": "Bearer"})
    if "offline_access" in grant.scopes:
        body["refresh_token"] = sandbox.oauth.issue_refresh(grant)
    body["scope"] = " ".join(grant.scopes)
    return body


def revoke_token(sandbox: XeroSandbox, authorization: str | None, form: Mapping[str, str]) -> None:
    """Handle POST /connect/revocation: the grant dies and the user's connections to the app are removed."""
    client_id, secret = client_credentials(authorization, form)
    app = sandbox.oauth.authenticate(client_id, secret)
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request")
    grant = sandbox.oauth.revoke(token)
    if grant is not None and grant.client_id == app.client_id:
        sandbox.remove_connections(grant.client_id, grant.subject)


def authenticate(sandbox: XeroSandbox, authorization: str | None) -> AccessRecord:
    """Validate a Bearer access token the way the API gateway does."""
    scheme, _, token = (authorization or "").partition(" ")
    claims = jwt_decode(token.strip(), sandbox.signing_key) if scheme.lower() == "bearer" else None
    if claims is None:
        raise XeroAuthError(401, "AuthenticationUnsuccessful")
    jti = str(claims.get("jti", ""))
    record = sandbox.oauth.access(jti)
    if record is not None:
        return record
    stale = sandbox.oauth.access_record(jti)
    if stale is not None and not stale.grant.revoked:
        raise XeroAuthError(401, f"TokenExpired: token expired at {stale.expires_at:%m/%d/%Y %H:%M:%S}")
    raise XeroAuthError(401, "AuthenticationUnsuccessful")
