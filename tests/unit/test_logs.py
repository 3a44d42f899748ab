"""Logs never hold secrets: magic links, tokens, OAuth codes, credentials, job kwargs, traceback locals."""

from __future__ import annotations

import io
import logging

import structlog
from saq.job import Job

from core.logs import RedactingFilter, configure_structlog, redact

TOKEN = "Zx9_kT3vQm7LrB2nWc4yHs8dFg6jPa1eUo5iXt0qRlY"


def _through_handler(logger_name: str, msg: str, *args: object, exc: bool = False) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        if exc:
            try:
                raise RuntimeError(f"failed for /p/{TOKEN}")
            except RuntimeError:
                logger.exception(msg, *args)
        else:
            logger.warning(msg, *args)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_the_access_log_line_of_a_magic_link_and_of_the_oauth_callback() -> None:
    line = _through_handler(
        "uvicorn.access", '%s - "%s %s HTTP/%s" %d', "203.0.113.7:1", "GET", f"/p/{TOKEN}", "1.1", 303
    )
    assert TOKEN not in line
    assert '"GET /p/[redacted] HTTP/1.1" 303' in line
    callback = "/ledger/callback/xero?code=ab12cd34ef&state=st4te-val&scope=openid"
    line = _through_handler("uvicorn.access", '%s - "%s %s HTTP/%s" %d', "203.0.113.7:1", "GET", callback, "1.1", 303)
    assert "ab12cd34ef" not in line
    assert "st4te-val" not in line
    assert "scope=openid" in line


def test_a_failing_saq_job_is_logged_without_its_kwargs() -> None:
    job = Job(function="deliver_payment_request", kwargs={"request_id": "r-1", "token": TOKEN}, key="deliver:r-1")
    assert TOKEN in repr(job)  # what SAQ's worker passes to logger.exception
    line = _through_handler("saq", "Error processing job %s", job, exc=True)
    assert "deliver_payment_request" in line
    assert "RuntimeError" in line
    assert TOKEN not in line


def test_redact_masks_credentials_in_free_text() -> None:
    text = redact(
        "Authorization: Bearer pt_abcdefghijklmnopqrstuvwxyz0123456789 "
        "{'tokens': {'req-1': 'tok-one', 'req-2': 'tok-two'}, 'password': 'hunter2hunter2'} "
        "sk_test_51Habcdef whsec_abc123 pi_123_secret_456 ap@acme.example"
    )
    for secret in ("pt_abcdefghij", "tok-one", "tok-two", "hunter2", "sk_test_51H", "whsec_abc123", "secret_456"):
        assert secret not in text
    assert "a***@acme.example" in text


def test_structlog_tracebacks_show_no_local_variables_and_secret_keys_are_masked() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)
    previous = structlog.get_config()
    configure_structlog()  # what every `portal` process runs
    try:
        log = structlog.get_logger()

        def sign_in() -> None:
            password = "correct horse battery staple"  # a local the default (rich) traceback printed
            raise ValueError(f"bad input of length {len(password)}")

        try:
            sign_in()
        except ValueError:
            log.exception("unhandled_error", path=f"/p/{TOKEN}", token=TOKEN, email="someone@client.example")
    finally:
        structlog.configure(**previous)
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert "unhandled_error" in output
    assert "ValueError: bad input of length 28" in output
    assert "correct horse" not in output
    assert TOKEN not in output
    assert "someone@client.example" not in output
