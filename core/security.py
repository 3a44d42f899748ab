"""Passwords, opaque tokens, and encryption of secrets at rest."""

from __future__ import annotations

import base64
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    """argon2id hash of a password."""
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password; an unknown user costs the same time as a wrong password."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token(prefix: str = "") -> str:
    """A fresh secret token: 32 random bytes, URL-safe."""
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 hex of a token: what the database stores instead of the token."""
    return hashlib.sha256(token.encode()).hexdigest()


class SecretBox:
    """Encrypts OAuth tokens at rest with a key derived from the app's secret key."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal:secret-box:v1").derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, plaintext: str) -> str:
        """Encrypt and authenticate."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        """Decrypt; raises ValueError when the data was tampered with or sealed under another key."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise ValueError("sealed value could not be decrypted") from None
