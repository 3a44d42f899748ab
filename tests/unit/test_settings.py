"""Settings are read from the environment and bad values are named."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings


def test_defaults_need_no_environment() -> None:
    settings = load_settings({})
    assert settings.database_url == "sqlite:///./portal.sqlite3"
    assert settings.queue_url is None
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.mail_from == "billing@localhost"


def test_environment_overrides_defaults() -> None:
    settings = load_settings(
        {"PORTAL_DATABASE_URL": "postgresql://root@127.0.0.1:5432/test", "PORTAL_QUEUE_URL": "redis://127.0.0.1:6379/0"}
    )
    assert settings.database_url.startswith("postgresql://")
    assert settings.queue_url == "redis://127.0.0.1:6379/0"
    assert load_settings({"PORTAL_MAIL_RETRY_SECONDS": "0.5"}).mail_retry_seconds == 0.5


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"PORTAL_DATABASE_URL": "mysql://root@localhost/db"},
            "PORTAL_DATABASE_URL: unsupported scheme 'mysql' (use sqlite:// or postgresql://)",
        ),
        ({"PORTAL_QUEUE_URL": "amqp://guest@localhost"}, "PORTAL_QUEUE_URL: unsupported scheme 'amqp'"),
        ({"PORTAL_BASE_URL": "example.com"}, "PORTAL_BASE_URL: expected an http(s) URL"),
        ({"PORTAL_SECRET_KEY": "short"}, "PORTAL_SECRET_KEY: must be at least 32 characters"),
        ({"PORTAL_SYNC_INTERVAL_MINUTES": "soon"}, "PORTAL_SYNC_INTERVAL_MINUTES: expected a whole number"),
        ({"PORTAL_MAIL_RETRY_SECONDS": "later"}, "PORTAL_MAIL_RETRY_SECONDS: expected a number of seconds"),
        ({"PORTAL_MAIL_RETRY_SECONDS": "0"}, "PORTAL_MAIL_RETRY_SECONDS: must be more than 0"),
    ],
)
def test_bad_values_are_named(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)
    assert str(raised.value).startswith(message)
