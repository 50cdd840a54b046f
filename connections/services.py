"""Writes of connections, shared by the connections API, the admin and the ``create_connection`` command.

Raises ``PayloadValidationError`` (options that do not fit the strategy), ``UnknownClients`` (400),
``ConnectionAlreadyExists`` (409) and ``ConnectionNotFoundById`` (404). A connection being deleted
(``Connection.deletion_requested_at``, ``connections.deletion``) is not found by any of them but ``delete_connection``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.models import EventType
from audit.services import record_event
from connections.deletion import enqueue_deletion
from connections.errors import ConnectionAlreadyExists, ConnectionErrorCode, ConnectionNotFoundById, UnknownClients
from connections.models import Connection
from connections.options import validate_connection, validate_display_name_and_metadata
from connections.signals import connection_deleting
from core.actors import Actor
from core.errors import FieldError

logger = logging.getLogger(__name__)


def _clients(client_ids: Iterable[str]) -> list[Any]:
    """The clients named, all of them, or ``UnknownClients`` naming the missing ids.

    Clients point at connections (``clients.Client.connections``), not the other way round, so the client model
    is reached through that relation: this app does not import ``clients``, which imports it.
    """
    client_model = Connection._meta.get_field("clients").related_model
    wanted = list(dict.fromkeys(client_ids))
    clients = list(client_model._default_manager.filter(pk__in=wanted))
    missing = sorted(set(wanted) - {c.pk for c in clients})
    if missing:
        message = _("Unknown clients in enabled_clients: %(ids)s") % {"ids": ", ".join(missing)}
        raise UnknownClients(
            message, errors=[FieldError("enabled_clients", ConnectionErrorCode.UNKNOWN_CLIENT, message)]
        )
    return clients


@transaction.atomic
def create_connection(
    *,
    name: str,
    strategy: str,
    options: dict[str, Any] | None = None,
    enabled_clients: Iterable[str] | None = None,
    display_name: str = "",
    metadata: dict[str, str | None] | None = None,
    actor: Actor,
) -> Connection:
    """Create a connection, enabled for ``enabled_clients``, with Auth0's ``display_name`` and ``metadata`` (kept and
    answered; nothing here acts on them).

    Raises ``PayloadValidationError`` for a bad name, strategy, options, display name or metadata (Auth0's limits:
    ``connections.options``; every entry point writes through here), ``UnknownClients`` for a client id
    that does not exist, and ``ConnectionAlreadyExists`` when the name is taken: the unique constraint, not a
    prior lookup, decides that (names are case-sensitive, as Auth0's are). A connection being deleted keeps its
    name until its row goes (Auth0: the deletion "may impact concurrent create connection requests, if they use an
    identical connection name").
    """
    stored = validate_connection(name=name, strategy=strategy, options=options or {})
    validate_display_name_and_metadata(_details(display_name=display_name, metadata=metadata))
    clients = _clients(enabled_clients or ())  # a bad body is a 400 before a taken name is a 409
    try:
        with transaction.atomic():
            connection = Connection.objects.create(
                name=name, strategy=strategy, options=stored, display_name=display_name, metadata=metadata
            )
    except IntegrityError as exc:
        raise ConnectionAlreadyExists() from exc
    if clients:
        connection.clients.set(clients)
    _record(connection, "Create a Connection", actor)
    logger.info("connection created id=%s name=%s by %s", connection.id, name, actor)
    return connection


def _details(**values: Any) -> dict[str, Any]:
    """The display name and metadata a caller gives (``None``: not given)."""
    return {key: value for key, value in values.items() if value is not None}


def _locked(connection_id: str, *, deleting: bool = False) -> Connection:
    """The connection's row, locked for the rest of the transaction: ``FOR UPDATE`` to delete it, else
    ``FOR NO KEY UPDATE``, which lets the foreign-key checks of concurrent changes (a client linking it, a user
    created in it) go on: a client's change that locks the client and links this connection while this change
    locks the connection and links that client waited on each other, a deadlock on PostgreSQL. A deletion finds a
    connection being deleted too (``Connection.all_objects``); a change does not."""
    manager = Connection.all_objects if deleting else Connection.objects
    try:
        return manager.select_for_update(no_key=not deleting).get(pk=connection_id)
    except Connection.DoesNotExist as exc:
        raise ConnectionNotFoundById() from exc


@transaction.atomic
def update_connection(
    *,
    connection_id: str,
    options: dict[str, Any] | None = None,
    enabled_clients: Iterable[str] | None = None,
    display_name: str | None = None,
    metadata: dict[str, str | None] | None = None,
    actor: Actor,
) -> Connection:
    """Replace the options (the whole object, as Auth0 does), the set of enabled clients, the ``display_name`` and/or
    the ``metadata`` (the whole object too).

    ``None`` leaves a part as it is. The options are validated for the connection's strategy, the display name and
    metadata by Auth0's limits, as on create. Raises ``ConnectionNotFoundById``, ``PayloadValidationError`` and
    ``UnknownClients``. ``updated_at`` moves.
    """
    validate_display_name_and_metadata(_details(display_name=display_name, metadata=metadata))
    connection = _locked(connection_id)
    changed = []
    if options is not None:
        connection.options = validate_connection(name=connection.name, strategy=connection.strategy, options=options)
        changed.append("options")
    if display_name is not None:
        connection.display_name = display_name
        changed.append("display_name")
    if metadata is not None:
        connection.metadata = metadata
        changed.append("metadata")
    if enabled_clients is not None:
        connection.clients.set(_clients(enabled_clients))
        changed.append("enabled_clients")
    connection.save(update_fields=["updated_at", *(field for field in changed if field != "enabled_clients")])
    _record(connection, "Update a Connection", actor, fields=sorted(changed))
    logger.info("connection updated id=%s fields=%s by %s", connection.id, ",".join(changed), actor)
    return connection


class ConnectionDeletion(enum.Enum):
    """What ``delete_connection`` did: the API answers 204 for the one, 202 for the other (Auth0's two answers)."""

    DELETED = "deleted"  # the connection and its users are gone
    STARTED = "started"  # the connection is being deleted, its users in the background


@transaction.atomic
def delete_connection(*, connection_id: str, actor: Actor) -> ConnectionDeletion:
    """Delete a connection and, as Auth0 does, every user in it. Raises ``ConnectionNotFoundById``.

    With at most ``CONNECTION_DELETE_SYNC_MAX_USERS`` users it is deleted now (``DELETED``): ``connection_deleting``
    is sent first, with the row locked: its receivers write what the users' removal owes to others (their
    ``user.deleted`` events) in this transaction. On PostgreSQL the lock also holds back a user being created in the
    connection meanwhile: the insert's foreign-key check waits for it and then fails, so no user is deleted that the
    receivers did not see; SQLite's write lock is the whole database's.

    With more (``STARTED``), the row is marked as being deleted, the audit entry written and the task that deletes
    the users and then the row (``connections.deletion``) enqueued, all in this transaction: from its commit on, the
    connection is gone for every reader and writer, as an unknown one is, but for its name, taken until the row
    goes. Deleting a connection being deleted again is ``STARTED`` again (the API's 202, "The connection is being
    deleted", which is what the caller is told the first time; a 404 would tell a client retrying a timed-out
    DELETE that it failed): nothing is written, and a task is enqueued only if none is queued or running (the
    earlier one gave up after its retries), so a second DELETE resumes a stalled deletion.
    """
    connection = _locked(connection_id, deleting=True)
    if connection.being_deleted:
        enqueue_deletion(connection.pk)
        return ConnectionDeletion.STARTED
    users = connection.users.count()
    if users > int(settings.CONNECTION_DELETE_SYNC_MAX_USERS):
        connection.deletion_requested_at = timezone.now()
        connection.save(update_fields=["deletion_requested_at"])
        _record(connection, "Delete a Connection", actor, users_deleted=users, in_background=True)
        enqueue_deletion(connection.pk)
        logger.info("connection deletion started id=%s users=%d by %s", connection_id, users, actor)
        return ConnectionDeletion.STARTED
    connection_deleting.send(sender=Connection, connection=connection, actor=actor)
    _record(connection, "Delete a Connection", actor, users_deleted=users)
    connection.delete()
    logger.info("connection deleted id=%s users=%d by %s", connection_id, users, actor)
    return ConnectionDeletion.DELETED


def _record(connection: Connection, description: str, actor: Actor, **details: Any) -> None:
    record_event(
        type=EventType.SUCCESS_API_OPERATION,
        description=description,
        actor=actor,
        connection_name=connection.name,
        connection_id=connection.id,
        details=details,
    )


def connection_as_json(connection: Connection) -> dict[str, Any]:
    """Auth0's connection body, with the keys we can fill truthfully (enabled clients sorted by id)."""
    body: dict[str, Any] = {"id": connection.id, "name": connection.name}
    if connection.display_name:
        body["display_name"] = connection.display_name
    body.update(
        {
            "strategy": connection.strategy,
            "options": connection.options,
            "enabled_clients": sorted(client.pk for client in connection.clients.all()),
            "realms": [connection.name],
            "is_domain_connection": False,
        }
    )
    if connection.metadata is not None:
        body["metadata"] = connection.metadata
    return body
