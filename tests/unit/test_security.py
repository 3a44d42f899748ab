"""Passwords, tokens, sealed secrets, signed values and client session cookies."""

from __future__ import annotations

import datetime as dt

import pytest

from core.security import SecretBox, Signer, hash_password, new_token, token_digest, verify_password
from portal.schemas import ClientSession
from portal.sessions import ClientSessions


def test_password_hash_is_argon2_and_verifies() -> None:
    hashed = hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse battery")
    assert not verify_password(hashed, "wrong")
    assert not verify_password(None, "anything")


def test_tokens_are_long_random_and_stored_as_digests() -> None:
    first, second = new_token(), new_token()
    assert first != second
    assert len(first) >= 43  # 32 bytes, base64url
    assert token_digest(first) != first
    assert len(token_digest(first)) == 64


def test_secret_box_round_trips_and_rejects_other_keys() -> None:
    box = SecretBox("k" * 40)
    sealed = box.seal("refresh-token-value")
    assert "refresh-token-value" not in sealed
    assert box.open(sealed) == "refresh-token-value"
    with pytest.raises(ValueError, match="could not be decrypted"):
        SecretBox("x" * 40).open(sealed)


def test_signed_values_verify_only_unchanged_under_the_same_key_and_purpose() -> None:
    signer = Signer("k" * 40, "cookie")
    signed = signer.sign(b"value")
    assert signer.unsign(signed) == b"value"
    body, _, mac = signed.partition(".")
    assert signer.unsign(Signer("k" * 40, "cookie").sign(b"other").split(".")[0] + "." + mac) is None
    assert signer.unsign(body) is None
    assert signer.unsign(f"{body}.{mac[:-1]}") is None
    assert signer.unsign("é.é") is None
    assert Signer("k" * 40, "other purpose").unsign(signed) is None
    assert Signer("j" * 40, "cookie").unsign(signed) is None


SESSION = ClientSession(request_id="r", client_id="c", workspace_id="w")


def test_client_session_cookies_last_12_hours_at_most_and_never_past_the_link() -> None:
    sessions = ClientSessions("k" * 40, secure=False)
    now = dt.datetime.now(dt.UTC)
    long_link = sessions.cookie(SESSION, link_expires_at=now + dt.timedelta(days=30))
    assert long_link.max_age is not None
    assert 12 * 3600 - 5 <= long_link.max_age <= 12 * 3600
    assert sessions.verify(long_link.value) == SESSION
    short_link = sessions.cookie(SESSION, link_expires_at=now + dt.timedelta(minutes=5))
    assert short_link.max_age is not None
    assert short_link.max_age <= 300
    ended = sessions.cookie(SESSION, link_expires_at=now - dt.timedelta(seconds=1))
    assert ended.max_age == 0
    assert sessions.verify(ended.value) is None
    assert sessions.verify(None) is None
    assert sessions.verify(SecretBox("k" * 40).seal("not signed")) is None


def test_client_session_cookies_are_httponly_lax_and_secure_on_https() -> None:
    now = dt.datetime.now(dt.UTC)
    plain = ClientSessions("k" * 40, secure=False).cookie(SESSION, link_expires_at=now + dt.timedelta(days=1))
    secure = ClientSessions("k" * 40, secure=True).cookie(SESSION, link_expires_at=now + dt.timedelta(days=1))
    assert (plain.httponly, plain.samesite, plain.secure) == (True, "lax", False)
    assert (secure.httponly, secure.samesite, secure.secure) == (True, "lax", True)
    assert "Secure" in secure.to_header()
