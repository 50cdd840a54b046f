"""Public sign-up: the client and connection checks Auth0 makes, then the one ``create_user`` path.

``sign_up`` takes a body the view validated (``SignupRequest``) and raises ``SignupRefused`` (client or connection
not usable for sign-up) and whatever ``create_user`` raises; ``record_refused_signup`` records any refusal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from django.utils.translation import gettext as _

from audit.models import EventType
from audit.services import record_failure
from clients.models import Client
from connections.models import Connection, Strategy
from connections.password_policy import PasswordPolicyError
from core.actors import Actor
from core.errors import DomainError
from users.errors import SignupRefused, UserErrorCode
from users.models import User
from users.public_serializers import SignupRequest
from users.serializers import NewUser
from users.services import create_user


def sign_up(*, data: SignupRequest, actor: Actor) -> User:
    """Create a user through public sign-up, from a body ``SignupRequestSerializer`` accepted: an active client,
    a database connection enabled for it, sign-ups not disabled; then the same strategy and policy rules as the
    management API (``create_user``).

    Raises ``SignupRefused`` and whatever ``create_user`` raises. Every refusal is recorded as a failed sign-up
    (``fs``) before it propagates; the successful one is recorded (``ss``) in the create's own transaction.
    """
    try:
        return _sign_up(data, actor)
    except DomainError as exc:
        record_refused_signup(body=data, error=exc, actor=actor)
        raise


def _sign_up(data: SignupRequest, actor: Actor) -> User:
    client = Client.objects.filter(pk=data["client_id"], is_active=True).first()
    if client is None:
        raise SignupRefused(UserErrorCode.INVALID_CLIENT, _("Unknown or inactive client."))
    connection = Connection.objects.filter(name=data["connection"]).first()
    if connection is None:
        raise SignupRefused(UserErrorCode.INVALID_CONNECTION, _("The connection does not exist."))
    if not client.connections.filter(pk=connection.pk).exists():
        raise SignupRefused(UserErrorCode.INVALID_CONNECTION, _("The connection is not enabled for this client."))
    if connection.strategy != Strategy.AUTH0:
        raise SignupRefused(UserErrorCode.INVALID_CONNECTION, _("Sign-up is only available on database connections."))
    if connection.signup_disabled:
        raise SignupRefused(UserErrorCode.OPERATION_NOT_ENABLED, _("public signup is disabled"))
    # Every other field of a sign-up is a field of the create schema (public_serializers builds both alike).
    fields = cast(NewUser, {key: value for key, value in data.items() if key != "client_id"})
    return create_user(data=fields, actor=actor, event=(EventType.SUCCESS_SIGNUP, "Successful signup"))


def record_refused_signup(*, body: Any, error: DomainError, actor: Actor) -> None:
    """Record a refused sign-up (``fs``), on its own: who tried, on which connection, and why it was refused.

    The view calls it for a body the schema refuses; ``sign_up`` for every later refusal. Stored the way Auth0's
    "Failed Signup" log entries are (auth0/auth0-log-schemas, ``schemas/log-types/fs.schema.json``: a text
    ``description`` of the issue, the rest in a ``details`` object): ``description`` is the error's short message
    ("Password is too weak", "The user already exists."), and ``details.error`` holds its ``message`` and
    ``code``, with a password policy error's ``name`` and its structured rules (``description``, no password in
    them: only which rules were met). Never a Python repr of an object, whatever the error.
    """
    body = body if isinstance(body, Mapping) else {}
    record_failure(
        type=EventType.FAILED_SIGNUP,
        description=error.message,
        actor=actor,
        user_name=str(body.get("email") or body.get("username") or ""),
        connection_name=str(body.get("connection") or ""),
        details={"error": _error_details(error), "client_id": str(body.get("client_id") or "")[:64]},
    )


def _error_details(error: DomainError) -> dict[str, Any]:
    """What a log entry's ``details.error`` keeps of a refusal: JSON values only."""
    details: dict[str, Any] = {"message": error.message, "code": str(error.code)}
    if isinstance(error, PasswordPolicyError):
        details["name"] = error.name
        details["description"] = error.description  # sheriff's rules (a dict) or a sentence
    return details
