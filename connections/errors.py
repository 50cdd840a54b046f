"""Errors raised by the connections app (stable codes, Auth0's messages)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, ErrorCode


class ConnectionErrorCode(StrEnum):
    """The codes this app answers with."""

    INEXISTENT_CONNECTION = "inexistent_connection"
    CONNECTION_CONFLICT = "connection_conflict"
    # A password a connection's policy refuses (``connections.password_policy.PasswordPolicyError``).
    INVALID_PASSWORD = "invalid_password"  # noqa: S105 - an error code, not a secret
    # Field codes: a connection's rules for its users' fields (``connections.strategies``), its enabled clients.
    NOT_ALLOWED_FOR_STRATEGY = "NOT_ALLOWED_FOR_STRATEGY"
    REQUIRED_FOR_STRATEGY = "REQUIRED_FOR_STRATEGY"
    USERNAME_NOT_ALLOWED = "USERNAME_NOT_ALLOWED"
    USERNAME_LENGTH = "USERNAME_LENGTH"
    USERNAME_CHARACTERS = "USERNAME_CHARACTERS"
    USERNAME_IS_EMAIL = "USERNAME_IS_EMAIL"
    UNKNOWN_CLIENT = "UNKNOWN_CLIENT"


class ConnectionNotFound(DomainError):
    status = 400
    code = ConnectionErrorCode.INEXISTENT_CONNECTION
    default_message = _("The connection does not exist.")


class ConnectionAlreadyExists(DomainError):
    status = 409
    code = ConnectionErrorCode.CONNECTION_CONFLICT
    default_message = _("A connection with the same name already exists")


class ConnectionNotFoundById(DomainError):
    """``GET/PATCH/DELETE /connections/{id}`` of an id that does not exist (404, as Auth0 answers)."""

    status = 404
    code = ConnectionErrorCode.INEXISTENT_CONNECTION
    default_message = _("The connection does not exist")


class UnknownClients(DomainError):
    status = 400
    code = ErrorCode.INVALID_BODY
    default_message = _("Unknown clients in enabled_clients.")
