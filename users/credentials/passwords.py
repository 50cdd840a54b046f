"""Users' own passwords: bcrypt at ``settings.BCRYPT_ROUNDS``, and whether a stored hash is due to be replaced.

Hashing and checking are ``core.hashing``'s (one bcrypt helper, shared with clients' secrets); this module names
them for users and adds the re-hash rule of the login check (``users.credentials.login``). Plaintext passwords
are neither logged nor stored.
"""

from __future__ import annotations

import re

from django.conf import settings

from core.hashing import BCRYPT_MAX_BYTES
from core.hashing import bcrypt_hash as hash_password

__all__ = ["BCRYPT_MAX_BYTES", "hash_password", "is_current_bcrypt"]

# A bcrypt hash as the ``bcrypt`` package writes it: ``$2b$``, a two-digit cost, 22 salt and 31 hash characters.
_BCRYPT = re.compile(r"\$(2[ab])\$(\d\d)\$[./A-Za-z0-9]{53}")


def is_current_bcrypt(password_hash: str | None) -> bool:
    """True when the hash is bcrypt (``$2a$``/``$2b$``) at ``settings.BCRYPT_ROUNDS``: no re-hash is due."""
    if not password_hash:
        return False
    match = _BCRYPT.fullmatch(password_hash)
    return match is not None and int(match.group(2)) == settings.BCRYPT_ROUNDS
