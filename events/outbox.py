"""The transactional outbox: events written in the transaction of the change they describe.

``emit`` is what ``users.services`` and the bulk importer call: it writes one ``Event`` per changed object and one
pending ``Delivery`` per enabled stream subscribed to the type, then enqueues a delivery task per stream — all in
the caller's transaction (the tasks' database backend writes its row in the same transaction), so a rolled-back
change leaves neither event nor task, and a committed one cannot lose them. With no subscribed stream it costs one
small query and renders nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import Field, Model
from django.utils import timezone

from events.models import Delivery, Event, EventStream, EventStreamStatus, new_event_id, new_event_ids
from events.tasks import enqueue_delivery

ObjectsFactory = Callable[[], Iterable[tuple[str, dict[str, Any]]]]
"""Returns ``(subject, object)`` pairs: the user's ``user_id`` and its profile as the Management API renders it.
Called only when some stream wants the events, so nothing is rendered otherwise."""


def event_source() -> str:
    """The CloudEvents ``source`` of our events: ``EVENT_STREAMS_SOURCE`` (default ``urn:auth0:<issuer host>``,
    the form Auth0 documents: ``urn:auth0:<tenant>.<domain>``)."""
    return str(settings.EVENT_STREAMS_SOURCE)


def subscribed_stream_ids(event_type: str) -> list[str]:
    """The ids of the enabled streams subscribed to ``event_type``, oldest first (one query on a small table)."""
    rows = EventStream.objects.filter(status=EventStreamStatus.ENABLED).values_list("id", "subscriptions")
    return [
        stream_id
        for stream_id, subscriptions in rows
        if any(isinstance(s, dict) and s.get("event_type") == event_type for s in subscriptions or ())
    ]


def write_events(event_type: str, items: Iterable[tuple[str, dict[str, Any]]], *, purpose: str = "") -> list[Event]:
    """Insert one ``Event`` per ``(subject, data)`` (``data`` is the CloudEvent's ``data``, ``{"object": ...}``),
    all with the same ``time``, in one statement."""
    now = timezone.now()
    source = event_source()
    events = [
        Event(id=new_event_id(), type=event_type, source=source, subject=subject, time=now, data=data, purpose=purpose)
        for subject, data in items
    ]
    Event.objects.bulk_create(events)
    return events


def emit(event_type: str, objects: ObjectsFactory) -> int:
    """Write ``event_type`` events for ``objects()`` and their deliveries, in the caller's transaction.

    Returns the number of events written (0 when no enabled stream subscribes to ``event_type``, in which case
    ``objects`` is not called). The rows are those ``bulk_create`` of ``Event`` and ``Delivery`` instances would
    write (the model's defaults for the columns not set here, deliveries stream by stream in event order), inserted
    as plain rows: a bulk import batch writes thousands, and building and adapting an instance per row cost more
    than the inserts (issue 16).
    """
    stream_ids = subscribed_stream_ids(event_type)
    if not stream_ids:
        return 0
    items = list(objects())
    if not items:
        return 0
    now = timezone.now()
    ids = new_event_ids(len(items))
    event_type = str(event_type)
    with transaction.atomic():
        event_tail = _adapted(Event, {"type": event_type, "source": event_source(), "time": now}, ("purpose",))
        _insert_rows(
            Event,
            ("id", "subject", "data", *event_tail),
            [
                (event_id, subject, json.dumps({"object": obj}), *event_tail.values())
                for event_id, (subject, obj) in zip(ids, items, strict=True)
            ],
        )
        subjects = [subject for subject, _obj in items]
        delivery_tail = _adapted(
            Delivery,
            {"event_type": event_type, "next_attempt_at": now, "created_at": now, "updated_at": now},
            (
                "status",
                "attempt_count",
                "claimed_until",
                "claimed_by",
                "last_status_code",
                "last_error",
                "delivered_at",
            ),
        )
        _insert_rows(
            Delivery,
            ("stream", "event", "subject", *delivery_tail),
            [
                (stream_id, event_id, subject, *delivery_tail.values())
                for stream_id in stream_ids
                for event_id, subject in zip(ids, subjects, strict=True)
            ],
        )
        for stream_id in stream_ids:
            enqueue_delivery(stream_id)
    return len(items)


def _adapted(model: type[Model], given: dict[str, Any], defaulted: Iterable[str]) -> dict[str, Any]:
    """The columns every row of a batch shares, as the database takes them: ``given`` values and the model's
    defaults for ``defaulted`` fields, adapted once per batch (times as SQLite's text, choices as plain str)."""
    values = {**given, **{name: _field(model, name).get_default() for name in defaulted}}
    return {name: _field(model, name).get_db_prep_save(value, db) for name, value in values.items()}


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field), name  # a column of the model, not a reverse relation
    return field


def _column(model: type[Model], name: str) -> str:
    column = _field(model, name).column
    assert column, name  # a concrete field: it has a column
    return column


def _insert_rows(model: type[Model], fields: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (values of ``fields``, in order, already adapted) into ``model``'s table in one statement:
    ``COPY`` on PostgreSQL, one ``executemany`` elsewhere. Row order is insertion order (the deliveries' ids)."""
    quote = db.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(_column(model, name)) for name in fields)
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(fields))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608 (our names)


def sample_user_object() -> dict[str, Any]:
    """The user profile a test event carries when the caller gives no ``data``: the shape of a database user as the
    Management API renders it, with made-up values."""
    now = timezone.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "user_id": "auth0|test-event-user",
        "email": "test-event-user@example.com",
        "email_verified": False,
        "name": "test-event-user@example.com",
        "nickname": "test-event-user",
        "picture": "https://s.gravatar.com/avatar/00000000000000000000000000000000?s=480&r=pg&d=identicon",
        "identities": [
            {
                "connection": "Username-Password-Authentication",
                "provider": "auth0",
                "user_id": "test-event-user",
                "isSocial": False,
            }
        ],
        "created_at": now,
        "updated_at": now,
    }
