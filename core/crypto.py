"""Secrets the service must read back (webhook tokens and passwords, signing secrets), encrypted at rest.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with keys derived by HKDF-SHA256 from ``SECRET_KEY``, so a
database dump alone does not reveal them. ``SECRET_KEY_FALLBACKS`` are tried for decryption (``MultiFernet``): after
rotating ``SECRET_KEY``, old values still decrypt and ``reencrypt_secret`` moves them to the new key. Keys are
derived at call time, so settings overrides (tests) take effect without reloading anything.
"""

from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

# A distinct HKDF "info" per purpose: the key encrypting secrets is never the key signing sessions or anything else
# derived from SECRET_KEY.
_HKDF_INFO = b"userdir:core.crypto:secret-encryption:v1"


class SecretDecryptionError(Exception):
    """The stored value was encrypted with a key that is neither ``SECRET_KEY`` nor one of its fallbacks, or it was
    altered (Fernet's HMAC failed)."""


@lru_cache(maxsize=16)
def _fernet(secret_key: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(key))


def _multi_fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return MultiFernet([_fernet(key) for key in keys])


def encrypt_secret(plaintext: str) -> str:
    """A Fernet token (URL-safe base64 ASCII, about 1.4 x the UTF-8 length + 73 characters) for ``plaintext``,
    under the current ``SECRET_KEY``."""
    return _multi_fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt_secret(token: str) -> str:
    """The plaintext of a value made by ``encrypt_secret`` under ``SECRET_KEY`` or one of ``SECRET_KEY_FALLBACKS``.

    Raises ``SecretDecryptionError`` when no key opens it.
    """
    try:
        return _multi_fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken as exc:
        raise SecretDecryptionError("the secret was encrypted with an unknown key or altered") from exc


def reencrypt_secret(token: str) -> str:
    """``token`` re-encrypted under the current ``SECRET_KEY`` (``MultiFernet.rotate``), for moving stored values
    off a retired key. Raises ``SecretDecryptionError`` when no key opens it."""
    try:
        return _multi_fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise SecretDecryptionError("the secret was encrypted with an unknown key or altered") from exc
