"""bcrypt at ``settings.BCRYPT_ROUNDS``: the one place secrets are hashed and checked.

Users' passwords (``users.credentials.passwords``) and clients' secrets (``clients.services``) are both stored as
``$2b$`` bcrypt hashes; both go through here so the cost, the 72-byte limit and the timing of a check that has
nothing to compare with are decided once. The cost is read at call time (tests and benches change it).
"""

from __future__ import annotations

from functools import cache

import bcrypt
from django.conf import settings

# bcrypt reads at most 72 bytes of its input; longer secrets are refused, not silently cut (Auth0's password
# limit is 72 bytes for the same reason).
BCRYPT_MAX_BYTES = 72


def bcrypt_hash(secret: str) -> str:
    """A ``$2b$`` hash of ``secret`` (UTF-8) at ``settings.BCRYPT_ROUNDS``.

    Raises ``ValueError`` for a secret over 72 bytes: callers refuse those before they get here.
    """
    encoded = secret.encode("utf-8")
    if len(encoded) > BCRYPT_MAX_BYTES:
        raise ValueError("secret longer than bcrypt's 72-byte limit")
    return bcrypt.hashpw(encoded, bcrypt.gensalt(rounds=settings.BCRYPT_ROUNDS)).decode("ascii")


def bcrypt_verify(secret: str | bytes, hashed: str) -> bool:
    """Whether ``secret`` (text as UTF-8, or bytes as they are) matches the bcrypt ``hashed`` (``$2a$``/``$2b$``).

    A secret over 72 bytes never matches (bcrypt would compare its first 72 bytes only), after costing as much as a
    check: answered at once, it told a known user's wrong password (no check) from an unknown user's (one dummy
    check, ``bcrypt_spend_one_check``) by the time the answer took. Raises ``ValueError`` for a ``hashed`` that is
    not bcrypt.
    """
    encoded = secret.encode("utf-8") if isinstance(secret, str) else secret
    if len(encoded) > BCRYPT_MAX_BYTES:
        bcrypt_spend_one_check()
        return False
    return bcrypt.checkpw(encoded, hashed.encode("ascii"))


@cache
def _dummy_hash(rounds: int) -> bytes:
    return bcrypt.hashpw(b"dummy-secret-for-timing", bcrypt.gensalt(rounds=rounds))


def bcrypt_spend_one_check() -> None:
    """Cost as much as one real check and answer nothing: an unknown user or client, or one without a hash, must
    not be told apart from a wrong secret by the time the answer takes."""
    bcrypt.checkpw(b"not-the-secret", _dummy_hash(settings.BCRYPT_ROUNDS))
