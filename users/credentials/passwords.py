"""Users' own passwords: bcrypt at ``settings.BCRYPT_ROUNDS``, and whether a stored hash is due to be replaced.

Hashing and checking are ``core.hashing``'s (one bcrypt helper, shared with clients' secrets); this module names
them for users and adds the re-hash rule of the login check (``users.credentials.login``). Plaintext passwords
are neither logged nor stored.
"""

from __future__ import annotations

from django.conf import settings

from core.hashing import BCRYPT_MAX_BYTES
from core.hashing import bcrypt_hash as hash_password
from users.credentials.hashes import bcrypt_cost

__all__ = ["BCRYPT_MAX_BYTES", "hash_password", "is_current_bcrypt"]


def is_current_bcrypt(password_hash: str | None) -> bool:
    """True when the hash is bcrypt (``$2a$``/``$2b$``) at ``settings.BCRYPT_ROUNDS``: no re-hash is due."""
    return password_hash is not None and bcrypt_cost(password_hash) == settings.BCRYPT_ROUNDS
