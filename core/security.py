"""Passwords, opaque tokens, and encryption of secrets at rest."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
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


def _derived_key(secret_key: str, purpose: bytes) -> bytes:
    """A 32-byte key of its own for one use of the secret key, so one use's output is worthless to another."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(secret_key.encode())


class Signer:
    """Signs short values (cookies) with HMAC-SHA256 under a key derived from the app's secret key.

    A signed value reads `<base64url value>.<base64url mac>`: readable by whoever holds it, never
    changeable without the key. Values signed for one `purpose` do not verify under another.
    """

    def __init__(self, secret_key: str, purpose: str) -> None:
        self._key = _derived_key(secret_key, f"portal:signer:{purpose}:v1".encode())

    def sign(self, value: bytes) -> str:
        """The value with its signature, as cookie-safe text."""
        body = base64.urlsafe_b64encode(value).rstrip(b"=")
        return (body + b"." + base64.urlsafe_b64encode(self._mac(body)).rstrip(b"=")).decode("ascii")

    def unsign(self, signed: str) -> bytes | None:
        """The value, or None when the text was not signed with this key and purpose (or is not signed text)."""
        try:
            body, dot, mac = signed.encode("ascii").partition(b".")
            if not dot or not hmac.compare_digest(_unpadded_b64decode(mac), self._mac(body)):
                return None
            return _unpadded_b64decode(body)
        except (UnicodeEncodeError, binascii.Error, ValueError):
            return None

    def _mac(self, body: bytes) -> bytes:
        return hmac.digest(self._key, body, "sha256")


def _unpadded_b64decode(data: bytes) -> bytes:
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


class SecretBox:
    """Encrypts OAuth tokens at rest with a key derived from the app's secret key."""

    def __init__(self, secret_key: str) -> None:
        key = _derived_key(secret_key, b"portal:secret-box:v1")
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
