"""Per-installation values generated on first run and kept in the database."""

from __future__ import annotations

import secrets

import msgspec

from core.settings import Settings
from core.tables import InstanceSetting

SECRET_KEY = "secret_key"  # noqa: S105 - the name of the stored setting, not a secret


async def ensure_secret_key(settings: Settings) -> Settings:
    """Settings with a secret key: the configured one, else the stored one, else a new stored one."""
    if settings.secret_key:
        return settings
    candidate = secrets.token_urlsafe(48)
    # Insert-if-absent, so two processes starting at once agree on one key.
    await InstanceSetting.insert(InstanceSetting(key=SECRET_KEY, value=candidate)).on_conflict(
        target=InstanceSetting.key, action="DO NOTHING"
    )
    row = await InstanceSetting.select(InstanceSetting.value).where(InstanceSetting.key == SECRET_KEY).first()
    assert row is not None
    return msgspec.structs.replace(settings, secret_key=row["value"])
