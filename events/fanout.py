"""The outbox's fan-out: ``PendingEvents`` rows turned into ``Event`` and ``Delivery`` rows (Auth0's "internal
buffer and cursor system" of event streams).

``fan_out`` is called by the worker before it claims deliveries (``events.tasks.deliver_due``), and by the
deliveries list, the delivery lookup and the redelivery API before they read, so no committed event is ever
missing from them. It takes the rows in ``id`` order, consecutive rows together in one transaction, and writes
their events in order (rendered there when a row holds values: ``events.outbox.emit_values``), then their
deliveries row by row and stream by stream (the streams fixed when the row was written; those deleted since are
left out), so a subject's deliveries on a stream keep the order its changes were written in: a user's later
change waits on the row lock of the earlier one, so its row is written (and numbered) after the earlier one
committed. Fan-outs take turns (a PostgreSQL advisory lock; SQLite's write lock), and inserting and deleting
the rows commit together, so a row is fanned out once; a conflicting ``Event`` or ``Delivery`` (the primary key, the
one-per-stream-and-event constraint) is skipped, so doing it again changes nothing.

A row that cannot be turned into events (its renderer raises: the code changed while the row waited, say) would
otherwise fail every fan-out, so every later event, the deliveries list and the admin's pages with it: it is held
instead (``PendingEvents.held_at``; an ERROR names it), and the others go on, its subjects' later events included.
An operator releases it once the cause is fixed (``events.services.release_held_events``: ``manage.py
release_held_events`` or the admin's *Pending events* page), or discards one that can never succeed
(``discard_held_events``: its events are lost, audited). A value the database refuses (``DataError``: too long,
a NUL) holds its row too. Any other database error is not the row's fault, and would fail every row alike: the
database's own trouble (locked, away, a deadlock: ``OperationalError``, ``InterfaceError``) or the schema's (a
column or table missing, a permission, a constraint a migration added while an older worker still runs:
``ProgrammingError``, ``IntegrityError``...). It is raised, holding nothing, and the next fan-out tries again. A
row's events whose shape the database would refuse that way (an id or subject that is not a string, a NaN) are
refused first, as the row's own error.
"""

from __future__ import annotations

import json
import logging
import traceback
from pathlib import Path
from typing import Any

from django.db import DatabaseError, DataError, InterfaceError, transaction
from django.db import connection as db
from django.utils import timezone
from django.utils.module_loading import import_string

from core.db import columns, models_from_rows
from events.delivery import DISABLED_ERROR
from events.models import (
    Delivery,
    DeliveryStatus,
    DisabledReason,
    Event,
    EventStream,
    EventStreamStatus,
    PendingEvents,
)
from events.rows import adapted, insert_rows

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock's key for fan-outs ("fan" + "out" in ASCII): one fan-out at a time on a database.
_LOCK_KEY = 0x66616E_6F7574


# A fan-out takes consecutive rows together, in one transaction, up to this many rows and about this much text of
# events (bytes on PostgreSQL, characters on SQLite): under load a delivery task finds one row per create made while
# the worker lingered, and each row's own transaction (its turn, its statements, its commit) cost more than its
# events (issue 16). An import batch's row, megabytes of events, goes alone.
_GROUP_ROWS = 100
_GROUP_SIZE = 1 << 20


def fan_out() -> int:
    """Fan out every ``PendingEvents`` row committed before the call, oldest first; returns the number of events
    written. Costs one small query when there is none.

    The rows are those the first look finds: a row committed later has its own delivery task still to run (its
    ``emit`` queued one or joined a ready one, never one already running), and the readers fan out again when they
    read. Consecutive rows are taken together (``_GROUP_ROWS``, ``_GROUP_SIZE``): deleted, their values returned,
    and fanned out in one transaction, under the fan-outs' turn; a row another fan-out took meanwhile is gone and
    passed by. Plain SQL: the worker does this for every delivery task, where compiling the ORM's queries cost more
    than running them (issue 16)."""
    table = db.ops.quote_name(PendingEvents._meta.db_table)
    # PostgreSQL's octet_length reads a large value's size from its TOAST header; its length (characters) would
    # decompress every waiting import batch here, on top of the DELETE that reads it. SQLite 3.40 has no
    # octet_length and reads the row either way.
    size = "octet_length(events)" if db.vendor == "postgresql" else "length(events)"
    with db.cursor() as cursor:
        cursor.execute(f"SELECT id, {size} FROM {table} WHERE held_at IS NULL ORDER BY id")  # noqa: S608 (our names)
        found = cursor.fetchall()
    return sum(_fan_out_group(table, group) for group in _groups(found))


def _fan_out_group(table: str, group: list[int]) -> int:
    """Fan out the rows ``group`` names in one transaction; returns the number of events written. When one cannot
    be (a renderer's error, a row's malformed events, or a value the database refuses: not the database's or the
    schema's trouble, which is raised), the transaction is rolled back and the rows are fanned out one by one, the
    failing one held (``_hold``). A row held meanwhile (by another fan-out, since this one's first look) is passed
    by.

    The retries and the hold run after the ``except`` block, not in it: an error they raise (the database gone
    meanwhile, say) would otherwise carry the row's exception as its context, and with it the message ``_hold``
    leaves out (it may quote a user's values) into the worker's log, the failed task's stored traceback or the
    500's."""
    try:
        with transaction.atomic():
            hold_fan_outs()
            with db.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(group))}) AND held_at IS NULL"  # noqa: S608
                    f" RETURNING {columns(PendingEvents)}",
                    group,
                )
                taken = sorted(models_from_rows(PendingEvents, cursor.fetchall()), key=lambda row: row.pk)
            return _write(taken)
    except DataError as exc:  # a value the database refuses: the row's
        reason = _reason(exc)
    except (DatabaseError, InterfaceError):  # the database's or the schema's trouble (away, a missing column...)
        raise
    except Exception as exc:  # whatever the row's own code raised: held, below
        reason = _reason(exc)
    if len(group) > 1:
        return sum(_fan_out_group(table, [pk]) for pk in group)
    _hold(table, group[0], reason)
    return 0


def _reason(exc: Exception) -> str:
    """The type of ``exc`` and where it was raised (file and line), not its message: it may quote the values being
    rendered."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__module__}.{type(exc).__qualname__}{where}"[:300]


def _hold(table: str, pk: int, reason: str) -> None:
    """Hold the outbox row ``pk`` out of later fan-outs, with ``reason`` (``_reason``); logged as an ERROR, unless
    another fan-out held it first (or took it)."""
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET held_at = %s, held_reason = %s WHERE id = %s AND held_at IS NULL",  # noqa: S608
            [db.ops.adapt_datetimefield_value(timezone.now()), reason, pk],
        )
        if cursor.rowcount != 1:
            return
    logger.error(
        "outbox row %s held: its events could not be fanned out (%s); the others go on. Release it once fixed:"
        " manage.py release_held_events %s (or, if it can never succeed, discard it: manage.py discard_held_events %s)",
        pk, reason, pk, pk,
    )  # fmt: skip


def _groups(found: list[tuple[int, int | None]]) -> list[list[int]]:
    """The ids of ``found`` (``(id, size of its events)`` in id order) in consecutive groups of at most
    ``_GROUP_ROWS`` rows and about ``_GROUP_SIZE`` of events (a larger row alone)."""
    groups: list[list[int]] = []
    size = 0
    for pk, row_size in found:
        if not groups or len(groups[-1]) >= _GROUP_ROWS or size + (row_size or 0) > _GROUP_SIZE:
            groups.append([])
            size = 0
        groups[-1].append(pk)
        size += row_size or 0
    return groups


def hold_fan_outs() -> None:
    """Wait for the fan-out under way and keep others out until the current transaction ends (PostgreSQL's
    advisory lock; on SQLite the write transaction does it). ``events.services.delete_event_stream`` takes it:
    a fan-out that read the stream before the deletion committed would write deliveries whose stream is gone (a
    foreign key error, for the worker and the deliveries list alike)."""
    if db.vendor == "postgresql":
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_KEY])


def _write(taken: list[PendingEvents]) -> int:
    """Insert the events of ``taken`` (outbox rows in id order) and their deliveries, in that order (conflicts
    skipped), in two statements; returns the number of events."""
    streams = _target_streams(sorted({stream_id for pending in taken for stream_id in _stream_ids(pending)}))
    now = timezone.now()
    event_fields: tuple[str, ...] = ()
    events: list[tuple[Any, ...]] = []
    delivery_fields: tuple[str, ...] = ()
    deliveries: list[tuple[Any, ...]] = []
    written = 0
    for pending in taken:
        targets = [(stream_id, *streams[stream_id]) for stream_id in pending.stream_ids if stream_id in streams]
        if not targets:
            continue
        items: list[list[Any]] = json.loads(pending.events)
        _check(items)
        if pending.render:
            render = import_string(pending.render)
            keys, kwargs = pending.render_args["keys"], pending.render_args.get("kwargs", {})
            for item in items:
                item[2] = render(dict(zip(keys, item[2], strict=True)), **kwargs)
        event_tail = adapted(
            Event, {"type": pending.type, "source": pending.source, "time": pending.time, "purpose": pending.purpose}
        )
        event_fields = ("id", "subject", "data", *event_tail)
        events.extend(
            (event_id, subject, json.dumps({"object": obj}, allow_nan=False), *event_tail.values())
            for event_id, subject, obj in items
        )
        for stream_id, status, reason in targets:
            # A stream the worker disabled after failures failed its pending deliveries: these would have been among
            # them.
            failed = status == EventStreamStatus.DISABLED and reason == DisabledReason.FAILURES
            tail = adapted(
                Delivery,
                {
                    "event_type": pending.type,
                    "status": DeliveryStatus.FAILED if failed else DeliveryStatus.PENDING,
                    "last_error": DISABLED_ERROR if failed else "",
                    "next_attempt_at": pending.time,
                    "created_at": pending.time,
                    "updated_at": now if failed else pending.time,
                },
                ("attempt_count", "claimed_until", "claimed_by", "last_status_code", "delivered_at"),
            )
            delivery_fields = ("stream", "event", "subject", *tail)
            deliveries.extend((stream_id, event_id, subject, *tail.values()) for event_id, subject, _obj in items)
        written += len(items)
    insert_rows(Event, event_fields, events, ignore_conflicts=True)
    insert_rows(Delivery, delivery_fields, deliveries, ignore_conflicts=True)
    return written


def _stream_ids(pending: PendingEvents) -> list[str]:
    """The streams ``pending`` owes its events to; ``ValueError`` when the row's ``stream_ids`` is not a list of
    strings (the query would fail on the database, as if the database were at fault)."""
    stream_ids = pending.stream_ids
    if not isinstance(stream_ids, list) or not all(isinstance(stream_id, str) for stream_id in stream_ids):
        raise ValueError("the outbox row's stream_ids is not a list of strings")
    return stream_ids


def _check(items: list[Any]) -> None:
    """``ValueError`` unless each of ``items`` (a row's events, decoded) is ``[id, subject, object]`` with a string
    id and subject: a malformed row is its own error, not one the database would raise for it (a ``NULL`` id, a
    value it cannot bind)."""
    for item in items:
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], str)):
            raise ValueError("an event of the outbox row is not [id, subject, object]")


def _target_streams(stream_ids: list[str]) -> dict[str, tuple[str, str]]:
    """The streams of ``stream_ids`` that still exist: their status and ``disabled_reason``, by id (plain SQL).

    On PostgreSQL their rows are locked ``FOR SHARE`` until the fan-out commits, so it serialises with the worker's
    disable after failures (``events.delivery.record_attempts``, under the row's ``FOR UPDATE``): either the disable
    waits for the fan-out and then fails the pending deliveries it wrote, or the fan-out waits for the disable and
    reads the stream disabled (its deliveries are written failed). Read without the lock, a fan-out could see the
    stream enabled, and commit pending deliveries after the disable failed the others. Streams are locked in id
    order; fan-outs share the locks (and take turns anyway). SQLite's write lock serialises them already.
    """
    if not stream_ids:
        return {}
    table = db.ops.quote_name(EventStream._meta.db_table)
    marks = ", ".join(["%s"] * len(stream_ids))
    lock = " ORDER BY id FOR SHARE" if db.vendor == "postgresql" else ""
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT id, status, disabled_reason FROM {table} WHERE id IN ({marks}){lock}",  # noqa: S608 (our names)
            sorted(stream_ids),
        )
        return {stream_id: (status, reason) for stream_id, status, reason in cursor.fetchall()}
