"""Writes of directory users. Every entry point (REST view, sign-up, admin form, import) calls these.

``create_user`` raises ``ConnectionNotFound`` (400 ``inexistent_connection``), ``PayloadValidationError``
(400 ``invalid_body``: a field the strategy refuses or lacks), ``PasswordPolicyError`` (400) and
``UserAlreadyExists`` (409 ``auth0_idp_error``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import phonenumbers
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.actors import Actor
from connections.errors import ConnectionNotFound
from connections.models import Connection
from connections.password_policy import check_password
from connections.selectors import get_connection
from connections.strategies import check_user_fields
from users.errors import UserAlreadyExists
from users.identifiers import full_user_id, new_object_id
from users.models import User
from users.passwords import hash_password
from users.profile import default_picture

logger = logging.getLogger(__name__)


def is_unique_violation(exc: IntegrityError) -> bool:
    """A unique constraint (not a foreign key or check) refused the row, on PostgreSQL or SQLite."""
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "23505":
        return True
    return "UNIQUE constraint failed" in str(exc)


def _canonical_phone(phone_number: str | None) -> str | None:
    if phone_number is None:
        return None
    number = phonenumbers.parse(phone_number, None)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def create_user(*, data: Mapping[str, Any], actor: Actor) -> User:
    """Create one user from a body that already passed ``CreateUserRequestSerializer``.

    The strategy rules and password policy are checked here so no caller can skip them; the bcrypt hash
    is computed before the transaction so the write lock is held for the insert alone. Uniqueness is left
    to the database constraints: a lost race surfaces as ``UserAlreadyExists``, never as a duplicate.
    """
    connection = get_connection(name=data["connection"])
    check_user_fields(connection, data)

    email = data["email"].lower() if data.get("email") is not None else None
    username = data["username"].lower() if data.get("username") is not None else None
    phone_number = _canonical_phone(data.get("phone_number"))
    password = data.get("password")
    if password is not None:
        check_password(
            password,
            options=connection.options,
            user_info={
                "email": email,
                "username": username,
                "name": data.get("name"),
                "nickname": data.get("nickname"),
                "user_metadata": data.get("user_metadata"),
            },
        )
    password_hash = hash_password(password) if password is not None else None

    now = timezone.now()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # Auth0 shows milliseconds
    local_id = data.get("user_id") or new_object_id(now)
    identifier = email or phone_number or username or ""
    name = data.get("name") or identifier
    nickname = data.get("nickname") or (email.split("@", 1)[0] if email else identifier)
    user = User(
        user_id=full_user_id(connection.strategy, local_id),
        connection=connection,
        email=email,
        email_verified=bool(data.get("email_verified", False)),
        username=username,
        phone_number=phone_number,
        phone_verified=bool(data.get("phone_verified", False)),
        given_name=data.get("given_name"),
        family_name=data.get("family_name"),
        name=name,
        nickname=nickname,
        picture=data.get("picture") or default_picture(email=email, name=name),
        user_metadata=data.get("user_metadata"),
        app_metadata=data.get("app_metadata"),
        blocked=data.get("blocked"),
        password_hash=password_hash,
        created_at=now,
        updated_at=now,
    )
    _insert(user, connection)
    logger.info("user created user_id=%s connection=%s by %s", user.user_id, connection.name, actor)
    return user


@transaction.atomic
def _insert(user: User, connection: Connection) -> None:
    try:
        with transaction.atomic():
            user.save(force_insert=True)
    except IntegrityError as exc:
        if is_unique_violation(exc):
            raise UserAlreadyExists() from exc
        if not Connection.objects.filter(pk=connection.pk).exists():
            raise ConnectionNotFound() from exc  # deleted while we were hashing
        raise
