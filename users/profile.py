"""The user profile as Auth0 returns it, and the defaults Auth0 fills in on create."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from django.utils import timezone

from users.models import User

_NOT_ASCII_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_GRAVATAR = "https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d={fallback}"
_AVATAR = "https://cdn.auth0.com/avatars/{initials}.png"


def avatar_initials(name: str) -> str:
    """Letters for the fallback avatar: initials of a multi-word name, else its first two letters.

    An e-mail used as the name counts by its local part, and only ASCII letters and digits are kept,
    so the avatar file name is always plain (``chuck@example.com`` → ``ch``, ``John3 Doe`` → ``jd``).
    """
    if "@" in name and len(name.split()) == 1:
        name = name.split("@", 1)[0]
    words = [_NOT_ASCII_ALNUM.sub("", word) for word in name.split()]
    words = [word for word in words if word]
    if len(words) >= 2:
        return (words[0][0] + words[1][0]).lower()
    return words[0][:2].lower() if words else "default"


@functools.lru_cache(maxsize=2048)
def _avatar(initials: str) -> tuple[str, str]:
    """The avatar URL for some initials, plain and quoted (a bulk import asks for the same few thousand)."""
    avatar = _AVATAR.format(initials=quote(initials, safe=""))
    return avatar, quote(avatar, safe="")


def default_picture(*, email: str | None, name: str) -> str:
    """Auth0's gravatar URL with its initials avatar as fallback (just the avatar without an e-mail)."""
    avatar, quoted = _avatar(avatar_initials(name))
    if not email:
        return avatar
    digest = hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()
    return _GRAVATAR.format(digest=digest, fallback=quoted)


def now_ms() -> datetime:
    """Now, cut to milliseconds: Auth0 shows milliseconds, and a stored value must equal the shown one."""
    now = timezone.now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_timestamp(value: datetime) -> str:
    """``2023-01-25T19:00:26.187Z``: UTC, milliseconds, ``Z``."""
    # The year as four digits: strftime's %Y writes a year below 1000 without its zeros on glibc ("1-01-01").
    return f"{value.year:04d}-{value:%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def user_profile(user: User) -> dict[str, Any]:
    """The full profile: fields never given are left out, never null; no password or hash."""
    body = profile_from_values(
        {name: getattr(user, name) for name in PROFILE_FIELDS},
        connection_name=user.connection.name,
        created_at=format_timestamp(user.created_at),
        updated_at=format_timestamp(user.updated_at),
    )
    # Only after a password change, which a new (or just imported) user has not had: not in PROFILE_FIELDS, whose
    # values the importer's events carry.
    if user.last_password_reset is not None:
        body["last_password_reset"] = format_timestamp(user.last_password_reset)
    return body


# The stored fields the profile shows (the timestamps are passed formatted).
PROFILE_FIELDS = (
    "user_id",
    "email",
    "email_verified",
    "phone_number",
    "phone_verified",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "user_metadata",
    "app_metadata",
    "blocked",
    "last_login",
    "last_ip",
    "logins_count",
)


def profile_from_values(
    values: Mapping[str, Any], *, connection_name: str, created_at: str, updated_at: str
) -> dict[str, Any]:
    """``user_profile`` from a user's stored values (``users.services.new_user_values``' keys, at least
    ``PROFILE_FIELDS``) rather than a model instance: the bulk importer renders its batch's ``user.created``
    events from the rows it has just written. ``created_at``/``updated_at`` come formatted (``format_timestamp``),
    so a batch formats its one stamp once."""
    provider, identity_user_id = values["user_id"].split("|", 1)
    body: dict[str, Any] = {
        "user_id": values["user_id"],
        "created_at": created_at,
        "updated_at": updated_at,
        "identities": [
            {
                "connection": connection_name,
                "user_id": identity_user_id,
                "provider": provider,
                "isSocial": False,
            }
        ],
    }
    if values["email"] is not None:
        body["email"] = values["email"]
        body["email_verified"] = values["email_verified"]
    if values["phone_number"] is not None:
        body["phone_number"] = values["phone_number"]
        body["phone_verified"] = values["phone_verified"]
    for key in _OPTIONAL:
        value = values[key]
        if value is not None:
            body[key] = value
    # Left out until the first login (Auth0's profile has no last_login, last_ip or logins_count before it).
    if values["last_login"] is not None:
        if values["last_ip"] is not None:
            body["last_ip"] = values["last_ip"]
        body["last_login"] = format_timestamp(values["last_login"])
        body["logins_count"] = values["logins_count"]
    return body


# Shown only when set, in this order.
_OPTIONAL = (
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "user_metadata",
    "app_metadata",
    "blocked",
)
