"""Public sign-up: the client and connection checks Auth0 makes, then the one ``create_user`` path.

Raises ``SignupRefused`` (client or connection not usable for sign-up) and whatever ``create_user`` raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext as _

from clients.models import Client
from config.actors import Actor
from connections.models import Connection, Strategy
from users.models import User
from users.services import create_user


class SignupRefused(Exception):
    """A sign-up the client or connection does not allow; ``code`` and ``description`` go on the wire."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


def sign_up(*, client_id: str, data: Mapping[str, Any], actor: Actor) -> User:
    """Create a user through public sign-up: an active client, a database connection enabled for it,
    sign-ups not disabled; then the same schema, strategy and policy rules as the management API."""
    client = Client.objects.filter(pk=client_id, is_active=True).first()
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
    return create_user(data=fields, actor=actor)
