"""The transactional outbox: events written in the transaction of the change they describe.

``emit`` is what ``users.services`` and the bulk importer call: it writes one ``PendingEvents`` row holding the
events (one per changed object) and the ids of the enabled streams subscribed to the type, then enqueues a delivery
task per stream — all in the caller's transaction (the tasks' database backend writes its row in the same
transaction), so a rolled-back change leaves neither event nor task, and a committed one cannot lose them. The
worker fans the row out into ``Event`` and ``Delivery`` rows (``events.fanout``) before it claims deliveries, and
so do the deliveries list and the redelivery API before they read. With no subscribed stream ``emit`` costs one
small query and renders nothing.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import JSONField
from django.utils import timezone

from events.models import Event, EventStream, EventStreamStatus, PendingEvents, new_event_id, new_event_ids
from events.rows import adapted, insert_rows
from events.tasks import enqueue_delivery

ObjectsFactory = Callable[[], Iterable[tuple[str, dict[str, Any]]]]
"""Returns ``(subject, object)`` pairs: the user's ``user_id`` and its profile as the Management API renders it.
Called only when some stream wants the events, so nothing is rendered otherwise."""

ValuesFactory = Callable[[], Iterable[tuple[str, Sequence[Any]]]]
"""Returns ``(subject, values)`` pairs for ``emit_values``; called only when some stream wants the events."""

# Compact, and no circularity check: a batch's events are encoded in one call (profiles are trees of plain values).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def event_source() -> str:
    """The CloudEvents ``source`` of our events: ``EVENT_STREAMS_SOURCE`` (default ``urn:auth0:<issuer host>``,
    the form Auth0 documents: ``urn:auth0:<tenant>.<domain>``)."""
    return str(settings.EVENT_STREAMS_SOURCE)


def subscribed_stream_ids(event_type: str) -> list[str]:
    """The ids of the enabled streams subscribed to ``event_type``, oldest first (one query on a small table).

    Read on every call, in the caller's transaction: a stream enabled, disabled or deleted in any process counts
    for the very next change. The statement is the ORM's own, built once (``_enabled_streams_sql``): building it
    through the QuerySet on every create cost ten times running it (about 190 against 20 µs on SQLite, 300 against
    30 on PostgreSQL); the subscriptions are decoded by their field, as the ORM would.
    """
    sql, params = _enabled_streams_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    field = EventStream._meta.get_field("subscriptions")
    assert isinstance(field, JSONField)
    column = field.get_col(EventStream._meta.db_table)
    return [
        stream_id
        for stream_id, stored in rows
        if any(
            isinstance(s, dict) and s.get("event_type") == event_type
            for s in field.from_db_value(stored, column, connection) or ()
        )
    ]


@lru_cache(maxsize=2)
def _enabled_streams_sql(vendor: str) -> tuple[str, tuple[Any, ...]]:
    """``SELECT id, subscriptions FROM event streams WHERE status = 'enabled' ORDER BY created_at, id`` as the ORM
    writes it for the database ``vendor``."""
    queryset = EventStream.objects.filter(status=EventStreamStatus.ENABLED).values_list("id", "subscriptions")
    sql, params = queryset.query.get_compiler(connection=connection).as_sql()
    return sql, tuple(params)


def write_events(event_type: str, items: Iterable[tuple[str, dict[str, Any]]], *, purpose: str = "") -> list[Event]:
    """Insert one ``Event`` per ``(subject, data)`` (``data`` is the CloudEvent's ``data``, ``{"object": ...}``),
    all with the same ``time``, in one statement, now (test events: their delivery is answered at once)."""
    now = timezone.now()
    source = event_source()
    events = [
        Event(id=new_event_id(), type=event_type, source=source, subject=subject, time=now, data=data, purpose=purpose)
        for subject, data in items
    ]
    Event.objects.bulk_create(events)
    return events


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a batch's items are built and encoded: an import batch's are
    thousands of new containers, whose allocation sets off collections that walk the import's whole heap, which
    cost more than building them (issue 16: about 6 of 10 µs a user when the profiles were rendered here). The
    items hold no cycles: reference counting frees them once encoded, so pausing leaves nothing for the collector."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def emit(event_type: str, objects: ObjectsFactory) -> int:
    """Write ``event_type`` events for ``objects()``, owed to the enabled streams subscribed to it now, in the
    caller's transaction.

    Returns the number of events written (0 when no enabled stream subscribes to ``event_type``, in which case
    ``objects`` is not called). The events and their target streams go into one ``PendingEvents`` row (the events
    as one JSON text, encoded in one call): a bulk import batch has thousands, and an ``Event`` and a ``Delivery``
    row per user, with their indexes, cost the batch's transaction more than its users did (issue 16).
    """
    return _write(event_type, objects, render="", render_args={})


def emit_values(
    event_type: str, values: ValuesFactory, *, render: str, keys: Sequence[str], kwargs: dict[str, Any]
) -> int:
    """``emit`` for many objects one function renders from plain values: ``values()`` returns ``(subject, values)``
    pairs, the values JSON-able and in ``keys`` order, and the fan-out sets each event's ``data.object`` to
    ``import_string(render)(dict(zip(keys, values)), **kwargs)``.

    A bulk import batch stores its users' values rather than their rendered profiles: half the bytes to encode and
    write in the batch's transaction, and no profile built there (issue 16). ``render`` must give the same object
    for the same values for as long as rows it wrote may wait in the outbox (the keys are stored with them).
    """
    return _write(event_type, values, render=render, render_args={"keys": list(keys), "kwargs": kwargs})


def _write(
    event_type: str,
    items_factory: Callable[[], Iterable[tuple[str, Any]]],
    *,
    render: str,
    render_args: dict[str, Any],
) -> int:
    stream_ids = subscribed_stream_ids(event_type)
    if not stream_ids:
        return 0
    with _collector_paused():
        items = list(items_factory())
        if not items:
            return 0
        ids = new_event_ids(len(items))
        events = _ENCODER.encode([[i, subject, item] for i, (subject, item) in zip(ids, items, strict=True)])
    row = adapted(
        PendingEvents,
        {
            "type": str(event_type),
            "source": event_source(),
            "time": timezone.now(),
            "stream_ids": stream_ids,
            "render": render,
            "render_args": render_args,
        },
        ("purpose",),
    )
    row["events"] = events
    insert_rows(PendingEvents, tuple(row), [tuple(row.values())])
    for stream_id in stream_ids:
        enqueue_delivery(stream_id)
    return len(items)


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
