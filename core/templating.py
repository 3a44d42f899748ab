"""The one Jinja engine (Litestar's), shared by pages and by emails rendered in jobs."""

from __future__ import annotations

import datetime as dt
from functools import cache
from importlib.resources import files
from pathlib import Path

from litestar.plugins.jinja import JinjaTemplateEngine

from core.money import format_money


def package_dir(package: str) -> Path:
    """Directory of a resource package (templates, static), wherever the app is installed."""
    return Path(str(files(package)))


@cache
def template_engine() -> JinjaTemplateEngine:
    """Autoescaping engine over `templates/` with the product's filters."""
    engine = JinjaTemplateEngine(directory=package_dir("templates"))
    engine.engine.filters["money"] = format_money
    engine.engine.filters["day"] = format_day
    engine.engine.trim_blocks = True
    engine.engine.lstrip_blocks = True
    # Templates ship with the code: checking their files' mtimes on every render (two stats per page)
    # buys nothing in production; a restart picks up edited templates.
    engine.engine.auto_reload = False
    return engine


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_day(value: dt.date) -> str:
    """A date (or a time's date) as `5 Dec 2026`: `strftime("%-d %b %Y")` without its call through Jinja's runtime."""
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def render(template: str, **context: object) -> str:
    """Render a template outside a request (emails in jobs)."""
    return template_engine().get_template(template).render(**context)
