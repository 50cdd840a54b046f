"""Which user fields each strategy allows and requires, and the username rules of a connection.

Checked by ``users.services.create_user`` after the body's shape is valid, so every entry point (API,
sign-up, admin, import) meets the same rules. Raises ``PayloadValidationError`` naming each field.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from config.errors import FieldError, PayloadValidationError
from connections.models import Connection, Strategy

# Auth0's username alphabet: unaccented letters and digits plus these symbols (docs: require-username).
USERNAME_SYMBOLS = "@^$.!`-#+'~_"
USERNAME_ALPHABET = frozenset(string.ascii_letters + string.digits + USERNAME_SYMBOLS)

# Fields a strategy refuses outright: password only on database connections, and so on.
_NOT_ALLOWED: dict[str, tuple[str, ...]] = {
    Strategy.AUTH0: ("phone_number",),
    Strategy.SMS: ("password", "email", "username"),
    Strategy.EMAIL: ("password", "phone_number", "username"),
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    Strategy.AUTH0: ("email", "password"),
    Strategy.SMS: ("phone_number",),
    Strategy.EMAIL: ("email",),
}


def _missing(field: str) -> FieldError:
    if field in ("email", "password"):
        # Auth0's own wording for database connections.
        return FieldError(field, "OBJECT_MISSING_REQUIRED_PROPERTY", f'"{field}" is required')
    return FieldError(
        field,
        "OBJECT_MISSING_REQUIRED_PROPERTY",
        f"Payload validation error: 'Missing required property: {field}'.",
    )


def username_errors(connection: Connection, username: str) -> list[FieldError]:
    """The connection's username rules: its length limits, Auth0's alphabet, and no e-mail addresses."""
    low, high = connection.username_length
    errors = []
    if not low <= len(username) <= high:
        errors.append(
            FieldError(
                "username",
                "USERNAME_LENGTH",
                f"The username must be between {low} and {high} characters long.",
            )
        )
    bad = sorted(set(username) - USERNAME_ALPHABET)
    if bad:
        errors.append(
            FieldError(
                "username",
                "USERNAME_CHARACTERS",
                "The username may only contain letters a-z, digits and "
                f"{' '.join(USERNAME_SYMBOLS)} (not allowed: {''.join(bad)[:20]}).",
            )
        )
    else:
        try:
            validate_email(username)
        except ValidationError:
            pass
        else:
            errors.append(
                FieldError("username", "USERNAME_IS_EMAIL", "The username cannot be an email address.")
            )
    return errors


def check_user_fields(connection: Connection, data: Mapping[str, Any]) -> None:
    """Refuse fields the strategy does not take and demand the ones it needs."""
    strategy = connection.strategy
    errors: list[FieldError] = []
    for field in _NOT_ALLOWED[strategy]:
        if data.get(field) is not None:
            errors.append(
                FieldError(
                    field,
                    "NOT_ALLOWED_FOR_STRATEGY",
                    f"Cannot set {field} for connection with strategy {strategy}.",
                )
            )
    for field in _REQUIRED[strategy]:
        if data.get(field) is None:
            errors.append(_missing(field))
    if strategy == Strategy.AUTH0:
        username = data.get("username")
        if connection.requires_username:
            if username is None:
                errors.append(_missing("username"))
            else:
                errors.extend(username_errors(connection, username))
        elif username is not None:
            errors.append(
                FieldError(
                    "username",
                    "USERNAME_NOT_ALLOWED",
                    "Cannot set username for connection without requires_username.",
                )
            )
    if errors:
        raise PayloadValidationError(" (also) ".join(e.message for e in errors), errors=errors)


def check_update_fields(connection: Connection, changes: Mapping[str, Any]) -> None:
    """The strategy's rules for a change: refused fields stay refused, required ones cannot be removed."""
    strategy = connection.strategy
    errors: list[FieldError] = []
    for field in _NOT_ALLOWED[strategy]:
        if changes.get(field) is not None:
            errors.append(
                FieldError(
                    field,
                    "NOT_ALLOWED_FOR_STRATEGY",
                    f"Cannot set {field} for connection with strategy {strategy}.",
                )
            )
    for field in _REQUIRED[strategy]:
        if field in changes and changes[field] is None:
            errors.append(
                FieldError(
                    field, "REQUIRED_FOR_STRATEGY", f"Cannot remove {field}: the strategy requires it."
                )
            )
    if strategy == Strategy.AUTH0 and "username" in changes:
        username = changes["username"]
        if not connection.requires_username:
            if username is not None:
                errors.append(
                    FieldError(
                        "username",
                        "USERNAME_NOT_ALLOWED",
                        "Cannot set username for connection without requires_username.",
                    )
                )
        elif username is None:
            errors.append(
                FieldError(
                    "username", "REQUIRED_FOR_STRATEGY", "Cannot remove username: the connection requires it."
                )
            )
        else:
            errors.extend(username_errors(connection, username))
    if errors:
        raise PayloadValidationError(" (also) ".join(e.message for e in errors), errors=errors)
