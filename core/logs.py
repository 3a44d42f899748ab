"""Logging for every process: one configuration, and no secret ever written.

Three sources wrote secrets before this module (ASVS V7.1.1, V7.1.2):

- SAQ logs a failing job as `Job<..., kwargs: {...}>`, and a delivery job carries its magic-link token.
- uvicorn's access log writes each request line: `/p/<token>` is a magic link, and the OAuth callback's
  query holds the authorization code and state.
- structlog's default renderer prints tracebacks with every frame's local variables when `rich` is
  installed (it is, through Litestar): passwords, tokens and sessions in scope at the error.

So every record, from structlog or the standard library, goes through `RedactingFilter` on the one
set of handlers, tracebacks are plain (no locals), and structlog events mask secret-named keys.
"""

from __future__ import annotations

import logging
import logging.config
import re
from collections.abc import MutableMapping
from typing import Any

import structlog
from saq.job import Job

REDACTED = "[redacted]"

SECRET_KEYS = frozenset(
    {
        "access_token",
        "api_token",
        "authorization",
        "client_secret",
        "code",
        "code_verifier",
        "cookie",
        "password",
        "refresh_token",
        "secret",
        "set-cookie",
        "state",
        "token",
        "tokens",
    }
)
"""structlog event keys whose values are never written (whatever they hold)."""

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Magic links: PORTAL_BASE_URL + /p/<token>, in a URL or a request line.
    (re.compile(r"(/p/)[A-Za-z0-9_\-]{16,}"), rf"\1{REDACTED}"),
    # API tokens (`pt_` + 43 characters).
    (re.compile(r"\bpt_[A-Za-z0-9_\-]{16,}"), f"pt_{REDACTED}"),
    # Secrets in query strings and form bodies: the OAuth callback's code and state, tokens, passwords.
    (
        re.compile(
            r"(?i)([?&](?:code|state|token|access_token|refresh_token|client_secret|password|code_verifier)=)[^&\s\"']+"
        ),
        rf"\1{REDACTED}",
    ),
    # key: value / 'key': 'value' pairs in reprs (job kwargs, dicts, headers).
    (
        re.compile(
            r"(?i)(['\"]?\b(?:token|tokens|password|secret|client_secret|access_token|refresh_token|api_token"
            r"|authorization|cookie|code_verifier)\b['\"]?\s*[:=]\s*)(\{[^}]*\}|'[^']*'|\"[^\"]*\"|[^\s,}&]+)"
        ),
        rf"\1{REDACTED}",
    ),
    # Bearer credentials wherever they appear.
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-.~+/=]+"), rf"\1{REDACTED}"),
    # Stripe secrets and client secrets.
    (re.compile(r"\b(?:sk|rk)_(?:test|live)_[A-Za-z0-9]+"), REDACTED),
    (re.compile(r"\bwhsec_[A-Za-z0-9]+"), REDACTED),
    (re.compile(r"\b((?:pi|seti)_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+"), rf"\1_secret_{REDACTED}"),
    # Email addresses: the first character and the domain are enough to follow a problem.
    (re.compile(r"\b([A-Za-z0-9])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,}|localhost)\b"), r"\1***@\2"),
]


def redact(text: str) -> str:
    """The text with magic links, tokens, OAuth codes, credentials and email addresses masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _abridged(value: object) -> object:
    # SAQ's repr of a job lists its kwargs; its abridged info names the function and key only.
    return value.info(False) if isinstance(value, Job) else value


class RedactingFilter(logging.Filter):
    """On a handler: renders each record's message and traceback, then masks what `redact` masks."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record, rewritten."""
        if isinstance(record.args, tuple):
            record.args = tuple(_abridged(arg) for arg in record.args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        # uvicorn's access formatter reads the request line from the record's own attributes.
        for name in ("request_line", "full_path"):
            value = getattr(record, name, None)
            if isinstance(value, str):
                setattr(record, name, redact(value))
        return True


def redact_event(_logger: object, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: secret-named keys are masked and every string value is redacted."""
    for key, value in list(event_dict.items()):
        if key.lower() in SECRET_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


PRODUCT_LOGGERS = ("core", "staff", "portal", "ledger", "jobs")
QUIET_LOGGERS = ("aiosmtplib", "mail.log", "httpx", "httpcore", "stripe")


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """`logging.config.dictConfig` (and uvicorn `log_config`) settings: every handler redacts."""
    redacting = {"()": "core.logs.RedactingFilter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": redacting},
        "formatters": {
            "default": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
            "access": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        },
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["redact"],
                "stream": "ext://sys.stdout",
            },
        },
        "root": {"handlers": ["default"], "level": "WARNING"},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["access"], "level": level, "propagate": False},
            **{name: {"level": level} for name in PRODUCT_LOGGERS},
            # At DEBUG these write message bodies (links) and request URLs; keep them quiet whatever the root says.
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }


def structlog_processors() -> list[Any]:
    """structlog's chain: level, time, redaction, then a plain console line (tracebacks without locals)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_event,
        structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback),
    ]


def configure_structlog() -> None:
    """structlog events become standard-library records (so they meet the same redacting handlers)."""
    structlog.configure(
        processors=structlog_processors(),
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
    )


def configure_logging(level: str = "INFO") -> None:
    """Configure the standard library and structlog for a `portal` command."""
    logging.config.dictConfig(logging_config(level))
    configure_structlog()
