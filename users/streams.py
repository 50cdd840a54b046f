"""Users' events for the event streams: ``user.created``, ``user.updated``, ``user.deleted``, written in the
transaction of the change (``events.outbox.emit``) with ``data.object`` = the user profile as the Management API
renders it (``users.profile.user_profile``: no password or hash).

Every write path calls one of these: ``users.services`` (API, sign-up, ``/v1/users``, admin, tickets' password
change), the e-mail verification paths, the bulk importer (one call per batch, ``emit_imported``) and the deletion
of a connection, which takes its users with it (``emit_connection_users_deleted`` for one deleted in the request,
``emit_users_deleted`` for each batch of one deleted in the background; both connected in ``users.apps``).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from connections.models import Connection
from events.models import EventType
from events.outbox import emit, emit_values, subscribed_stream_ids
from users.models import User
from users.profile import PROFILE_FIELDS, format_timestamp, profile_from_values, user_profile


def emit_user_event(event_type: EventType, user: User) -> None:
    """Write ``event_type`` for ``user`` as it is now (call it after the change, inside its transaction). For
    ``user.deleted``, call it before the row goes: the event carries the profile as it was."""
    emit(event_type, lambda: [(user.user_id, user_profile(user))])


# Users rendered and written per ``PendingEvents`` row when a connection's users are deleted: a bounded batch in
# memory whatever the connection's size.
DELETED_BATCH = 1000


def emit_connection_users_deleted(connection: Connection, **_signal: Any) -> int:
    """``user.deleted`` for every user of ``connection``, which is being deleted with them (the receiver of
    ``connections.signals.connection_deleting``, in the deletion's transaction; the connection's row is locked).

    Each batch of ``DELETED_BATCH`` users, in the order they were stored, is locked (``FOR UPDATE``) before it is
    read, as ``users.services.delete_user`` locks its user: a change to one of them that holds the lock commits, its
    event written first, so a stream never gets a user's ``user.updated`` after its ``user.deleted``, and each event
    carries the profile as it was last. Returns the number of events written; 0, with no user read, when no enabled
    stream subscribes to ``user.deleted``."""
    if not subscribed_stream_ids(EventType.USER_DELETED):
        return 0
    written, after = 0, 0
    while True:
        batch = list(
            User.objects.select_for_update(of=("self",))
            .select_related("connection")
            .filter(connection=connection, pk__gt=after)
            .order_by("pk")[:DELETED_BATCH]
        )
        if not batch:
            return written
        written += emit_users_deleted(users=batch)
        after = batch[-1].pk


def emit_users_deleted(users: list[User], **_signal: Any) -> int:
    """``user.deleted`` for ``users``, one batch of a connection being deleted in the background, in one
    ``PendingEvents`` row (the receiver of ``connections.signals.connection_users_deleting``, in the batch's
    transaction: ``connections.deletion`` locked the users, with their connection read, and deletes them next).
    Returns the number of events written (0, nothing rendered, when no enabled stream subscribes)."""
    return emit(EventType.USER_DELETED, functools.partial(_profiles, users))


def _profiles(users: list[User]) -> list[tuple[str, dict[str, Any]]]:
    return [(user.user_id, user_profile(user)) for user in users]


def emit_imported(
    connection: Connection,
    inserted_values: Iterable[dict[str, Any]],
    late_user_ids: Iterable[str],
    updated_user_ids: Iterable[str],
    now: datetime,
) -> None:
    """An import batch's events, inside its transaction: ``user.created`` for each inserted user (its stored values,
    rendered by the fan-out with ``imported_profile``: no read back, no profile built in the batch's transaction)
    and for those inserted after a conflict, and ``user.updated`` for each upserted one (both read back: the rare
    path). Costs one small query when no stream subscribes."""
    get = operator.itemgetter(*PROFILE_FIELDS)
    emit_values(
        EventType.USER_CREATED,
        lambda: [(values["user_id"], get(values)) for values in inserted_values],
        render=f"{__name__}.{imported_profile.__name__}",
        keys=PROFILE_FIELDS,
        kwargs={"connection_name": connection.name, "stamp": format_timestamp(now)},
    )
    late = list(late_user_ids)
    if late:
        users = User.objects.filter(connection=connection, user_id__in=late).select_related("connection")
        emit(EventType.USER_CREATED, lambda: [(user.user_id, user_profile(user)) for user in users])
    updated = list(updated_user_ids)
    if updated:
        users = User.objects.filter(connection=connection, user_id__in=updated).select_related("connection")
        emit(EventType.USER_UPDATED, lambda: [(user.user_id, user_profile(user)) for user in users])


def imported_profile(values: dict[str, Any], *, connection_name: str, stamp: str) -> dict[str, Any]:
    """The profile of a user as the importer inserted it, from the values ``emit_imported`` stored (``PROFILE_FIELDS``)
    and the batch's time (``format_timestamp``): what ``user_profile`` gives for the row just written."""
    return profile_from_values(values, connection_name=connection_name, created_at=stamp, updated_at=stamp)
