"""The user profile as Auth0 returns it, and the defaults Auth0 fills in on create."""

from __future__ import annotations

import functools
import hashlib
import re
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
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def user_profile(user: User) -> dict[str, Any]:
    """The full profile: fields never given are left out, never null; no password or hash."""
    body: dict[str, Any] = {
        "user_id": user.user_id,
        "created_at": format_timestamp(user.created_at),
        "updated_at": format_timestamp(user.updated_at),
        "identities": [
            {
                "connection": user.connection.name,
                "user_id": user.identity_user_id,
                "provider": user.provider,
                "isSocial": False,
            }
        ],
    }
    if user.email is not None:
        body["email"] = user.email
        body["email_verified"] = user.email_verified
    if user.phone_number is not None:
        body["phone_number"] = user.phone_number
        body["phone_verified"] = user.phone_verified
    optional = {
        "username": user.username,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "name": user.name,
        "nickname": user.nickname,
        "picture": user.picture,
        "user_metadata": user.user_metadata,
        "app_metadata": user.app_metadata,
        "blocked": user.blocked,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    # Left out until the first login (Auth0's profile has no last_login, last_ip or logins_count before it).
    if user.last_login is not None:
        if user.last_ip is not None:
            body["last_ip"] = user.last_ip
        body["last_login"] = format_timestamp(user.last_login)
        body["logins_count"] = user.logins_count
    return body
