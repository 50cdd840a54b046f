"""Password hashing: bcrypt at ``settings.BCRYPT_ROUNDS``; plaintext never leaves this module."""

from __future__ import annotations

import bcrypt
from django.conf import settings

BCRYPT_MAX_BYTES = 72


def hash_password(password: str) -> str:
    """A ``$2b$`` bcrypt hash. Callers have already refused passwords over 72 bytes."""
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_BYTES:
        raise ValueError("password longer than bcrypt's 72-byte limit")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=settings.BCRYPT_ROUNDS)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    encoded = password.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_BYTES:
        return False
    return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
