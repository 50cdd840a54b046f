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
from django.utils.translation import gettext as _

from connections.errors import ConnectionErrorCode
from connections.models import Connection, Strategy
from core import messages
from core.errors import FieldCode, FieldError, PayloadValidationError

# Auth0's username alphabet: unaccented letters and digits plus these symbols (docs: require-username).
USERNAME_SYMBOLS = "@^$.!`-#+'~_"
USERNAME_ALPHABET = frozenset(string.ascii_letters + string.digits + USERNAME_SYMBOLS)

# The fields that say who a user is and how they log in; each strategy takes some of them and refuses the rest.
IDENTIFIER_FIELDS = ("email", "password", "username", "phone_number")

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


def identifier_fields(connection: Connection) -> tuple[str, ...]:
    """The identifying fields (``IDENTIFIER_FIELDS``, in that order) this connection's users may have: those its
    strategy does not refuse, and ``username`` only where the connection requires one (Auth0's rule). The admin
    forms show exactly these; ``check_user_fields`` refuses the others."""
    refused = set(_NOT_ALLOWED[connection.strategy])
    if not (connection.strategy == Strategy.AUTH0 and connection.requires_username):
        refused.add("username")
    return tuple(field for field in IDENTIFIER_FIELDS if field not in refused)


def _missing(field: str) -> FieldError:
    if field in ("email", "password"):
        # Auth0's own wording for database connections.
        message = _('"%(field)s" is required') % {"field": field}
        return FieldError(field, FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY, message)
    return FieldError(
        field,
        FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY,
        messages.validation_error("Payload", messages.missing_property(field)),
    )


def username_errors(connection: Connection, username: str) -> list[FieldError]:
    """The connection's username rules: its length limits, Auth0's alphabet, and no e-mail addresses."""
    low, high = connection.username_length
    errors = []
    if not low <= len(username) <= high:
        message = _("The username must be between %(min)s and %(max)s characters long.") % {
            "min": low,
            "max": high,
        }
        errors.append(FieldError("username", ConnectionErrorCode.USERNAME_LENGTH, message))
    bad = sorted(set(username) - USERNAME_ALPHABET)
    if bad:
        message = _("The username may only contain letters a-z, digits and %(symbols)s (not allowed: %(bad)s).") % {
            "symbols": " ".join(USERNAME_SYMBOLS),
            "bad": "".join(bad)[:20],
        }
        errors.append(FieldError("username", ConnectionErrorCode.USERNAME_CHARACTERS, message))
    else:
        try:
            validate_email(username)
        except ValidationError:
            pass
        else:
            message = _("The username cannot be an email address.")
            errors.append(FieldError("username", ConnectionErrorCode.USERNAME_IS_EMAIL, message))
    return errors


def _refused(strategy: str, data: Mapping[str, Any]) -> list[FieldError]:
    """Fields the strategy never takes, when given a value."""
    return [
        FieldError(
            field,
            ConnectionErrorCode.NOT_ALLOWED_FOR_STRATEGY,
            _("Cannot set %(field)s for connection with strategy %(strategy)s.")
            % {"field": field, "strategy": strategy},
        )
        for field in _NOT_ALLOWED[strategy]
        if data.get(field) is not None
    ]


def _username_not_allowed() -> FieldError:
    return FieldError(
        "username",
        ConnectionErrorCode.USERNAME_NOT_ALLOWED,
        _("Cannot set username for connection without requires_username."),
    )


def _raise(errors: list[FieldError]) -> None:
    if errors:
        raise PayloadValidationError(messages.joined([e.message for e in errors]), errors=errors)


def check_user_fields(connection: Connection, data: Mapping[str, Any], *, password_required: bool = True) -> None:
    """Refuse fields the strategy does not take and demand the ones it needs.

    An imported user may come without a password (``password_required=False``): it gets one by reset.
    """
    strategy = connection.strategy
    errors = _refused(strategy, data)
    required = [f for f in _REQUIRED[strategy] if password_required or f != "password"]
    errors += [_missing(field) for field in required if data.get(field) is None]
    if strategy == Strategy.AUTH0:
        username = data.get("username")
        if connection.requires_username:
            errors += [_missing("username")] if username is None else username_errors(connection, username)
        elif username is not None:
            errors.append(_username_not_allowed())
    _raise(errors)


def check_update_fields(connection: Connection, changes: Mapping[str, Any]) -> None:
    """The strategy's rules for a change: refused fields stay refused, required ones cannot be removed."""
    strategy = connection.strategy
    errors = _refused(strategy, changes)
    required = [*_REQUIRED[strategy]]
    if strategy == Strategy.AUTH0 and connection.requires_username:
        required.append("username")
    errors += [
        FieldError(
            field,
            ConnectionErrorCode.REQUIRED_FOR_STRATEGY,
            _("Cannot remove %(field)s: the connection requires it.") % {"field": field},
        )
        for field in required
        if field in changes and changes[field] is None
    ]
    username = changes.get("username")
    if strategy == Strategy.AUTH0 and username is not None:
        if connection.requires_username:
            errors += username_errors(connection, username)
        else:
            errors.append(_username_not_allowed())
    _raise(errors)
