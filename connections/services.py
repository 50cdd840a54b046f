"""Writes of connections. Raises ``PayloadValidationError``, ``ConnectionAlreadyExists``,
``ConnectionNotFoundById`` and ``UnknownClients``."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from config.actors import Actor
from config.errors import FieldError
from connections.errors import ConnectionAlreadyExists, ConnectionNotFoundById, UnknownClients
from connections.models import Connection
from connections.options import validate_connection

logger = logging.getLogger(__name__)


def _set_enabled_clients(connection: Connection, client_ids: Iterable[str]) -> None:
    from clients.models import Client

    wanted = list(dict.fromkeys(client_ids))
    clients = list(Client.objects.filter(pk__in=wanted))
    missing = sorted(set(wanted) - {c.client_id for c in clients})
    if missing:
        message = _("Unknown clients in enabled_clients: %(ids)s") % {"ids": ", ".join(missing)}
        raise UnknownClients(message, errors=[FieldError("enabled_clients", "UNKNOWN_CLIENT", message)])
    connection.clients.set(clients)


@transaction.atomic
def create_connection(
    *,
    name: str,
    strategy: str,
    options: dict[str, Any] | None = None,
    enabled_clients: Iterable[str] | None = None,
    actor: Actor,
) -> Connection:
    """Create a connection; the unique name constraint, not a prior lookup, decides conflicts."""
    stored = validate_connection(name=name, strategy=strategy, options=options or {})
    try:
        with transaction.atomic():
            connection = Connection.objects.create(name=name, strategy=strategy, options=stored)
    except IntegrityError as exc:
        raise ConnectionAlreadyExists() from exc
    if enabled_clients:
        _set_enabled_clients(connection, enabled_clients)
    _record(connection, "Create a Connection", actor)
    logger.info("connection created id=%s name=%s by %s", connection.id, name, actor)
    return connection


def _locked(connection_id: str) -> Connection:
    try:
        return Connection.objects.select_for_update().get(pk=connection_id)
    except Connection.DoesNotExist as exc:
        raise ConnectionNotFoundById() from exc


@transaction.atomic
def update_connection(
    *,
    connection_id: str,
    options: dict[str, Any] | None = None,
    enabled_clients: Iterable[str] | None = None,
    actor: Actor,
) -> Connection:
    """Replace the options (the whole object, as Auth0 does) and/or the enabled clients."""
    connection = _locked(connection_id)
    if options is not None:
        connection.options = validate_connection(name=connection.name, strategy=connection.strategy, options=options)
        connection.save(update_fields=["options", "updated_at"])
    if enabled_clients is not None:
        _set_enabled_clients(connection, enabled_clients)
        connection.save(update_fields=["updated_at"])
    _record(
        connection,
        "Update a Connection",
        actor,
        fields=sorted(k for k, v in (("options", options), ("enabled_clients", enabled_clients)) if v is not None),
    )
    logger.info("connection updated id=%s by %s", connection.id, actor)
    return connection


@transaction.atomic
def delete_connection(*, connection_id: str, actor: Actor) -> None:
    """Delete a connection and, as Auth0 does, every user in it."""
    connection = _locked(connection_id)
    users = connection.users.count()
    _record(connection, "Delete a Connection", actor, users_deleted=users)
    connection.delete()
    logger.info("connection deleted id=%s users=%d by %s", connection_id, users, actor)


def _record(connection: Connection, description: str, actor: Actor, **details: Any) -> None:
    from audit.models import EventType
    from audit.services import record_event

    record_event(
        type=EventType.SUCCESS_API_OPERATION,
        description=description,
        actor=actor,
        connection_name=connection.name,
        connection_id=connection.id,
        details=details,
    )


def connection_as_json(connection: Connection) -> dict[str, Any]:
    """Auth0's connection body."""
    return {
        "id": connection.id,
        "name": connection.name,
        "strategy": connection.strategy,
        "options": connection.options,
        "enabled_clients": sorted(client.client_id for client in connection.clients.all()),
        "realms": [connection.name],
        "is_domain_connection": False,
    }
