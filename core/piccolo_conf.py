"""Piccolo's configuration module (found through PICCOLO_CONF=core.piccolo_conf).

Piccolo looks up a module-level `DB`. The app binds its engine here at start-up
(`core.db.bind_engine`); only Piccolo's own CLI, used by developers to write
migrations, falls back to building one from the environment.
"""

from __future__ import annotations

import os
from typing import Any

from piccolo.conf.apps import AppRegistry
from piccolo.engine.base import Engine

APP_REGISTRY = AppRegistry(apps=["core.piccolo_app"])


def __getattr__(name: str) -> Engine[Any]:
    if name == "DB":
        from core.db import engine_for_url
        from core.settings import load_settings

        engine = engine_for_url(load_settings(os.environ).database_url)
        globals()["DB"] = engine
        return engine
    raise AttributeError(name)
