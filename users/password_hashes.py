"""Imported password hashes: validated and bounded on import, verified at the next password check.

Interim version: bcrypt ``password_hash`` only (Auth0's own rule); the other schemes are refused until the
full set lands. The API here is the one the importer and the login check use.
"""

from __future__ import annotations

import re

import bcrypt
from django.utils.translation import gettext as _

from config import messages

MAX_BCRYPT_COST = 15
_BCRYPT = re.compile(r"\$2[ab]\$(\d\d)\$[./A-Za-z0-9]{53}")


class HashFormatError(ValueError):
    """An imported hash that is malformed, of an unknown scheme, or too costly to verify."""

    def __init__(self, code: str, message: str, path: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.path = path


def normalize_password_hash(value: str) -> str:
    match = _BCRYPT.fullmatch(value)
    if match is None:
        raise HashFormatError("FORMAT", messages.format_mismatch("bcrypt", value[:20]), "password_hash")
    cost = int(match.group(1))
    if not 4 <= cost <= MAX_BCRYPT_COST:
        message = _("bcrypt cost %(cost)s is outside 4 to %(max)s") % {"cost": cost, "max": MAX_BCRYPT_COST}
        raise HashFormatError("MAXIMUM", message, "password_hash")
    return value


def normalize_custom_password_hash(value: object) -> dict:
    raise HashFormatError("NOT_SUPPORTED", _("custom_password_hash is not supported yet"), "custom_password_hash")


def verify_stored_password(password: str, *, password_hash: str | None, custom_password_hash: dict | None) -> bool:
    if password_hash is None:
        return False
    return bcrypt.checkpw(password.encode("utf-8"), password_hash.encode("ascii"))


def is_current_bcrypt(password_hash: str | None) -> bool:
    return password_hash is not None and password_hash.startswith("$2")
