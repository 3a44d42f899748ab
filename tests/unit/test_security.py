"""Passwords, tokens and sealed secrets."""

from __future__ import annotations

import pytest

from core.security import SecretBox, hash_password, new_token, token_digest, verify_password


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
