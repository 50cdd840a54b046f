"""Users' events for the event streams: ``user.created``, ``user.updated``, ``user.deleted``, written in the
transaction of the change (``events.outbox.emit``) with ``data.object`` = the user profile as the Management API
renders it (``users.profile.user_profile``: no password or hash).

Every write path calls one of these: ``users.services`` (API, sign-up, ``/v1/users``, admin, tickets' password
change), the e-mail verification paths, and the bulk importer (one call per batch, ``emit_imported``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from connections.models import Connection
from events.models import EventType
from events.outbox import emit
from users.models import User
from users.profile import format_timestamp, profile_from_values, user_profile


def emit_user_event(event_type: EventType, user: User) -> None:
    """Write ``event_type`` for ``user`` as it is now (call it after the change, inside its transaction). For
    ``user.deleted``, call it before the row goes: the event carries the profile as it was."""
    emit(event_type, lambda: [(user.user_id, user_profile(user))])


def emit_imported(
    connection: Connection,
    inserted_values: Iterable[dict[str, Any]],
    late_user_ids: Iterable[str],
    updated_user_ids: Iterable[str],
    now: datetime,
) -> None:
    """An import batch's events, inside its transaction: ``user.created`` for each inserted user (rendered from
    the row values just written, stamped ``now``: no read back) and for those inserted after a conflict, and
    ``user.updated`` for each upserted one (both read back: the rare path). Costs one small query when no
    stream subscribes."""

    def created() -> list[tuple[str, dict[str, Any]]]:
        # Rendered from the plain values (no model instance per user: a batch has thousands), stamp formatted once.
        stamp = format_timestamp(now)
        name = connection.name
        items = [
            (
                values["user_id"],
                profile_from_values(values, connection_name=name, created_at=stamp, updated_at=stamp),
            )
            for values in inserted_values
        ]
        late = list(late_user_ids)
        if late:
            users = User.objects.filter(connection=connection, user_id__in=late).select_related("connection")
            items.extend((user.user_id, user_profile(user)) for user in users)
        return items

    def updated() -> list[tuple[str, dict[str, Any]]]:
        users = User.objects.filter(connection=connection, user_id__in=list(updated_user_ids))
        return [(user.user_id, user_profile(user)) for user in users.select_related("connection")]

    emit(EventType.USER_CREATED, created)
    emit(EventType.USER_UPDATED, updated)
