"""Public sign-up: the client and connection checks Auth0 makes, then the one ``create_user`` path.

Raises ``SignupRefused`` (client or connection not usable for sign-up) and whatever ``create_user`` raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from audit.models import EventType
from audit.services import record_failure
from clients.models import Client
from connections.models import Connection, Strategy
from connections.password_policy import PasswordPolicyError
from core.actors import Actor
from core.errors import DomainError
from core.schema import validate_payload
from users.models import User
from users.public_serializers import SignupRequestSerializer
from users.services import create_user


class SignupRefused(Exception):
    """A sign-up the client or connection does not allow; ``code`` and ``description`` go on the wire."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def sign_up(*, payload: Any, actor: Actor) -> tuple[User, dict[str, Any]]:
    """Create a user through public sign-up: an active client, a database connection enabled for it,
    sign-ups not disabled; then the same schema, strategy and policy rules as the management API.

    Returns the user and the validated body. Every refusal is recorded as a failed sign-up (``fs``) before
    it propagates; the successful one is recorded (``ss``) in the create's own transaction.
    """
    try:
        data = validate_payload(SignupRequestSerializer, payload)
        return _sign_up(data, actor), data
    except (DomainError, PasswordPolicyError, SignupRefused) as exc:
        _record_refusal(payload, exc, actor)
        raise


def _sign_up(data: Mapping[str, Any], actor: Actor) -> User:
    client = Client.objects.filter(pk=data["client_id"], is_active=True).first()
    if client is None:
        raise SignupRefused("invalid_client", _("Unknown or inactive client."))
    connection = Connection.objects.filter(name=data["connection"]).first()
    if connection is None:
        raise SignupRefused("invalid_connection", _("The connection does not exist."))
    if not client.connections.filter(pk=connection.pk).exists():
        raise SignupRefused("invalid_connection", _("The connection is not enabled for this client."))
    if connection.strategy != Strategy.AUTH0:
        raise SignupRefused("invalid_connection", _("Sign-up is only available on database connections."))
    if connection.signup_disabled:
        raise SignupRefused("operation_not_enabled", _("public signup is disabled"))
    fields = {key: value for key, value in data.items() if key != "client_id"}
    return create_user(data=fields, actor=actor, event=(EventType.SUCCESS_SIGNUP, "Successful signup"))


def _record_refusal(payload: Any, exc: Exception, actor: Actor) -> None:
    body = payload if isinstance(payload, Mapping) else {}
    code = getattr(exc, "code", "invalid_signup")
    reason = getattr(exc, "description", None) or getattr(exc, "message", None) or str(exc)
    record_failure(
        type=EventType.FAILED_SIGNUP,
        description=str(reason)[:500],
        actor=actor,
        user_name=str(body.get("email") or body.get("username") or "")[:300],
        connection_name=str(body.get("connection") or "")[:128],
        details={"code": str(code), "client_id": str(body.get("client_id") or "")[:64]},
    )
