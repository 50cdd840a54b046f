"""Writes of event streams, shared by the event-streams API, the admin and the worker.

One function per use case: ``create_event_stream``, ``update_event_stream``, ``delete_event_stream``,
``send_test_event``, ``redeliver``, ``release_held_events``, ``discard_held_events``. Raises
``EventStreamNotFound`` (404), ``DeliveryNotFound`` (404), ``EventStreamDisabled`` (400), ``TooManyFailedDeliveries``
(400), ``EventStreamSecretUnreadable`` (400), ``InvalidWebhookEndpoint`` (400) and ``PayloadValidationError`` (400, an
unknown event type). The shape of a request (types, lengths, required keys) is the serializer's business; these
functions decide what the domain decides: allowed endpoints, known event types, encryption of secrets.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.actors import Actor
from core.crypto import decrypt_secret, encrypt_secret
from core.db import columns, models_from_rows
from core.errors import FieldCode, FieldError, PayloadValidationError
from core.jsonsize import stored_json_size
from events.audit import record_held_row_discarded, record_held_row_released
from events.delivery import at_total_failure_limit, unreadable_secrets
from events.endpoints import check_webhook_endpoint
from events.errors import (
    DeliveryNotFound,
    EventStreamDisabled,
    EventStreamNotFound,
    EventStreamSecretUnreadable,
    TooManyFailedDeliveries,
)
from events.fanout import fan_out, hold_fan_outs
from events.models import (
    AuthorizationMethod,
    Delivery,
    DeliveryStatus,
    DisabledReason,
    EventStream,
    EventStreamStatus,
    EventType,
    PendingEvents,
    listed_stream_ids,
)
from events.outbox import enqueue_delivery, sample_user_object, write_events

logger = logging.getLogger(__name__)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
"""The value of an ``update_event_stream`` argument the caller did not send (``None`` is never a valid one)."""


@dataclass(frozen=True)
class WebhookAuthorization:
    """Auth0's ``webhook_authorization``: ``{"method": "bearer", "token"}`` or ``{"method": "basic", "username",
    "password"}``. The secret is encrypted before it is stored and never rendered again."""

    method: str
    token: str | None = None
    username: str | None = None
    password: str | None = None


def new_signing_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of 32 random bytes (the spec's format)."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signing_secret(stream: EventStream) -> str:
    """The stream's Standard Webhooks signing secret in plaintext (``whsec_...``), for the one answer that shows
    it (the create) and for the worker. Raises ``core.crypto.SecretDecryptionError`` after a ``SECRET_KEY`` change
    that left the old key out of ``SECRET_KEY_FALLBACKS``."""
    return decrypt_secret(stream.signing_secret_encrypted)


def authorization_secret(stream: EventStream) -> str:
    """The bearer token or basic password in plaintext, for the worker's ``Authorization`` header."""
    return decrypt_secret(stream.authorization_secret_encrypted)


def _check_event_types(event_types: Sequence[str], field: str = "subscriptions") -> list[dict[str, str]]:
    unknown = [t for t in event_types if t not in EventType.values]
    if unknown:
        message = _("Unsupported event type(s): %(types)s. Supported: %(supported)s") % {
            "types": ", ".join(unknown),
            "supported": ", ".join(EventType.values),
        }
        raise PayloadValidationError(message, errors=[FieldError(field, FieldCode.ENUM_MISMATCH, message)])
    return [{"event_type": t} for t in dict.fromkeys(event_types)]


def _apply_authorization(stream: EventStream, authorization: WebhookAuthorization) -> None:
    if authorization.method == AuthorizationMethod.BEARER:
        secret, username = authorization.token, ""
    elif authorization.method == AuthorizationMethod.BASIC:
        secret, username = authorization.password, authorization.username or ""
    else:
        message = _("Unsupported webhook authorization method: %(method)s") % {"method": authorization.method}
        field = "destination.configuration.webhook_authorization.method"
        raise PayloadValidationError(message, errors=[FieldError(field, FieldCode.ENUM_MISMATCH, message)])
    if not secret:
        message = _("The webhook authorization needs its secret (token, or username and password).")
        field = "destination.configuration.webhook_authorization"
        raise PayloadValidationError(message, errors=[FieldError(field, FieldCode.OBJECT_REQUIRED, message)])
    stream.authorization_method = authorization.method
    stream.authorization_username = username
    stream.authorization_secret_encrypted = encrypt_secret(secret)


@transaction.atomic
def create_event_stream(
    *,
    name: str,
    subscriptions: Sequence[str],
    webhook_endpoint: str,
    authorization: WebhookAuthorization,
    status: str = EventStreamStatus.ENABLED,
    actor: Actor,
) -> EventStream:
    """Create a webhook stream sending ``subscriptions`` (event type names) to ``webhook_endpoint``.

    A new Standard Webhooks signing secret is generated (read it with ``signing_secret``). Raises
    ``InvalidWebhookEndpoint`` for an endpoint ``check_webhook_endpoint`` refuses and ``PayloadValidationError``
    for an unknown event type or authorization method, or a missing secret.
    """
    stored_subscriptions = _check_event_types(subscriptions)
    check_webhook_endpoint(webhook_endpoint)
    stream = EventStream(
        name=name,
        status=status,
        subscriptions=stored_subscriptions,
        webhook_endpoint=webhook_endpoint,
        signing_secret_encrypted=encrypt_secret(new_signing_secret()),
    )
    _apply_authorization(stream, authorization)
    stream.save(force_insert=True)
    logger.info("event stream created id=%s by %s", stream.id, actor)
    return stream


def _renew_unreadable_signing_secret(stream: EventStream) -> None:
    """A new signing secret in place of a stored one no configured key opens (nothing else can ever sign again)."""
    if "signing_secret" in unreadable_secrets(stream):
        stream.signing_secret_encrypted = encrypt_secret(new_signing_secret())
        logger.warning("event stream signing secret replaced (the stored one could not be decrypted) id=%s", stream.id)


def _locked(stream_id: str) -> EventStream:
    try:
        return EventStream.objects.select_for_update().get(pk=stream_id)
    except EventStream.DoesNotExist as exc:
        raise EventStreamNotFound() from exc


@transaction.atomic
def update_event_stream(
    *,
    stream_id: str,
    name: str | _Unset = UNSET,
    subscriptions: Sequence[str] | _Unset = UNSET,
    webhook_endpoint: str | _Unset = UNSET,
    authorization: WebhookAuthorization | _Unset = UNSET,
    status: str | _Unset = UNSET,
    actor: Actor,
) -> EventStream:
    """Change what was sent (Auth0's PATCH); arguments left ``UNSET`` keep their values.

    Setting ``status`` to ``enabled`` clears the failure count and the ``disabled_reason``, and wakes the worker for
    the deliveries queued meanwhile (redeliveries, and those a stream disabled for an unreadable secret kept
    pending). Raises ``EventStreamNotFound``, ``TooManyFailedDeliveries`` when enabling a disabled stream that holds
    ``EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES`` failed deliveries or more (Auth0's rule),
    ``EventStreamSecretUnreadable`` when enabling a stream whose stored secrets no configured key opens (it could
    send nothing: ``events.delivery.disable_for_unreadable_secret``) and this update does not replace them, and
    what ``create_event_stream`` raises for the same fields.

    A new ``authorization`` also replaces a stored signing secret no configured key opens with a new one (the old
    one is lost with the old ``SECRET_KEY``; the receiver must be given the new one: the API's answer shows it).
    """
    stream = _locked(stream_id)
    enabling = status == EventStreamStatus.ENABLED and stream.status != EventStreamStatus.ENABLED
    if enabling and at_total_failure_limit(stream.id):
        raise TooManyFailedDeliveries()
    if not isinstance(name, _Unset):
        stream.name = name
    if not isinstance(subscriptions, _Unset):
        stream.subscriptions = _check_event_types(subscriptions)
    if not isinstance(webhook_endpoint, _Unset):
        check_webhook_endpoint(webhook_endpoint)
        stream.webhook_endpoint = webhook_endpoint
    if not isinstance(authorization, _Unset):
        _apply_authorization(stream, authorization)
        _renew_unreadable_signing_secret(stream)
    if enabling and unreadable_secrets(stream):
        raise EventStreamSecretUnreadable()
    if not isinstance(status, _Unset):
        stream.status = status
        if status == EventStreamStatus.ENABLED:
            stream.disabled_reason = DisabledReason.NONE
            stream.consecutive_failures = 0
        elif stream.disabled_reason == DisabledReason.UNDECRYPTABLE and not unreadable_secrets(stream):
            # The worker's reason holds while the secret stays unreadable (``failures`` holds until enabled).
            stream.disabled_reason = DisabledReason.NONE
    stream.save()
    if enabling:
        enqueue_delivery(stream.id)
    logger.info("event stream updated id=%s by %s", stream.id, actor)
    return stream


@transaction.atomic
def delete_event_stream(*, stream_id: str, actor: Actor) -> None:
    """Delete a stream with its deliveries (events another stream still owes stay). Raises
    ``EventStreamNotFound``. Fan-outs wait for it (``events.fanout.hold_fan_outs``), and it waits for the worker
    recording a batch of the stream: the stream's row is locked first, as ``events.delivery.record_attempts`` locks
    it before it writes the deliveries (Django's cascade deletes them before the stream: in the other order, each
    waited for the other and PostgreSQL aborted one)."""
    hold_fan_outs()
    _locked(stream_id)
    EventStream.objects.filter(pk=stream_id).delete()
    logger.info("event stream deleted id=%s by %s", stream_id, actor)


@transaction.atomic
def send_test_event(*, stream_id: str, event_type: str, data: dict[str, Any] | None = None, actor: Actor) -> Delivery:
    """Queue a test event of ``event_type`` for this stream only (Auth0's ``POST /event-streams/{id}/test``).

    The event carries ``a0purpose: "test"`` and ``data`` if given (``{"object": ...}``), else a sample user
    profile. Returns the pending ``Delivery`` (Auth0's answer is the delivery object). Raises
    ``EventStreamNotFound``, ``EventStreamDisabled`` (Auth0 sends nothing to disabled streams) and
    ``PayloadValidationError`` for an unknown event type, or ``data`` larger as stored than a request body
    (``core.jsonsize``: on PostgreSQL 80,000 ``1e308`` in a 480 KB body were stored as 24.8 MB, which the answer,
    every read of the delivery and each webhook attempt then carried).
    """
    _check_event_types([event_type], field="event_type")
    size, maximum = stored_json_size(data), settings.MAX_REQUEST_BODY_BYTES
    if size > maximum:
        message = _("The test event's data is too large as stored (%(size)s bytes), maximum %(maximum)s bytes.") % {
            "size": size,
            "maximum": maximum,
        }
        raise PayloadValidationError(message, errors=[FieldError("data", FieldCode.MAX_LENGTH, message)])
    stream = _locked(stream_id)
    if stream.status != EventStreamStatus.ENABLED:
        raise EventStreamDisabled()
    payload = data if data is not None else {"object": sample_user_object()}
    [event] = write_events(event_type, [("", payload)], purpose="test")
    delivery = Delivery.objects.create(
        stream=stream,
        event=event,
        event_type=event_type,
        # Its own subject, so it waits for no other delivery: a test event is about no user, and one to a receiver
        # that was failing (its retry hours away) held back each test sent after the receiver was fixed.
        subject=event.id,
        next_attempt_at=timezone.now(),
    )
    enqueue_delivery(stream.id)
    logger.info("event stream test event id=%s stream=%s by %s", event.id, stream.id, actor)
    return delivery


def redeliver(
    *,
    stream_id: str,
    event_ids: Collection[str] | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    statuses: Collection[str] | None = None,
    event_types: Collection[str] | None = None,
    actor: Actor,
) -> int:
    """Queue again the stream's deliveries that match (Auth0's ``POST /event-streams/{id}/redeliver`` with its
    filters, and ``/redeliver/{event_id}`` with ``event_ids=[event_id]``).

    ``date_from`` is inclusive and ``date_to`` exclusive, on the event's time; ``statuses`` defaults to
    ``["failed"]`` (what Auth0 redelivers); ``pending`` ones are already queued and left alone. Each matching
    delivery is reset to a first attempt now (its attempts stay listed). Returns how many were queued. Raises
    ``EventStreamNotFound``, and ``DeliveryNotFound`` when ``event_ids`` names one event this stream has no
    delivery of. The outbox's committed events are fanned out first (``events.fanout``, before the stream is
    locked: the fan-out's own lock comes first), so an event the worker has not reached yet can be named.

    A disabled stream takes redeliveries too: they wait, pending, until it is enabled again. That is how a stream
    the worker disabled gets under Auth0's failure limit ("If an event stream is auto-disabled, you must use the
    Redelivery API to process any failed events ... Once the number of failures is reduced, you can re-enable the
    stream").
    """
    fan_out()
    with transaction.atomic():
        return _redeliver(
            stream_id=stream_id,
            event_ids=event_ids,
            date_from=date_from,
            date_to=date_to,
            statuses=statuses,
            event_types=event_types,
            actor=actor,
        )


def _redeliver(
    *,
    stream_id: str,
    event_ids: Collection[str] | None,
    date_from: datetime | None,
    date_to: datetime | None,
    statuses: Collection[str] | None,
    event_types: Collection[str] | None,
    actor: Actor,
) -> int:
    stream = _locked(stream_id)
    if event_types:
        _check_event_types(list(event_types), field="event_types")
    wanted = [s for s in (statuses or [DeliveryStatus.FAILED]) if s != DeliveryStatus.PENDING]
    deliveries = Delivery.objects.filter(stream=stream)
    if event_ids is not None:
        found = set(deliveries.filter(event_id__in=list(event_ids)).values_list("event_id", flat=True))
        if set(event_ids) - found:
            raise DeliveryNotFound()
        deliveries = deliveries.filter(event_id__in=list(event_ids)).exclude(status=DeliveryStatus.PENDING)
    else:
        deliveries = deliveries.filter(status__in=wanted)
    if date_from is not None:
        deliveries = deliveries.filter(event__time__gte=date_from)
    if date_to is not None:
        deliveries = deliveries.filter(event__time__lt=date_to)
    if event_types:
        deliveries = deliveries.filter(event_type__in=list(event_types))
    now = timezone.now()
    count = Delivery.objects.filter(pk__in=list(deliveries.values_list("pk", flat=True))).update(
        status=DeliveryStatus.PENDING,
        attempt_count=0,
        next_attempt_at=now,
        claimed_until=None,
        claimed_by="",
        delivered_at=None,
        updated_at=now,
    )
    if count and stream.status == EventStreamStatus.ENABLED:
        enqueue_delivery(stream.id)
    logger.info("event stream redeliver stream=%s count=%s by %s", stream.id, count, actor)
    return count


# The largest ``PendingEvents.id`` (a ``BigAutoField``).
_MAX_ROW_ID = 2**63 - 1


@transaction.atomic
def release_held_events(*, ids: Collection[int] | None = None, actor: Actor) -> int:
    """Let the fan-out try again the outbox rows it held (``events.fanout``: their renderer raised), those of
    ``ids`` or, with ``None``, every held row; returns how many were released. Each enabled stream they owe events
    to gets a delivery task, which fans them out (a row that fails again is held again, with a new ERROR). Rows
    not held are left alone; unknown ids are passed by. Each released row gets a ``sapi`` audit row in the same
    transaction (``events.audit.record_held_row_released``: its id, type, purpose and why it was held).

    The held rows are locked as they are read (``FOR UPDATE`` on PostgreSQL; SQLite's write transaction is
    exclusive), so a row another operator released or discarded meanwhile is neither counted nor audited twice."""
    held = PendingEvents.objects.filter(held_at__isnull=False)
    if ids is not None:
        held = held.filter(pk__in=[pk for pk in ids if 0 < pk <= _MAX_ROW_ID])  # SQLite cannot even bind a larger one
    rows = list(
        held.select_for_update().only("pk", "type", "purpose", "stream_ids", "held_at", "held_reason").order_by("pk")
    )
    released = PendingEvents.objects.filter(pk__in=[row.pk for row in rows]).update(held_at=None, held_reason="")
    for row in rows:
        record_held_row_released(row, actor=actor)
    streams = sorted({stream_id for row in rows for stream_id in listed_stream_ids(row.stream_ids)})
    for stream_id in EventStream.objects.filter(pk__in=streams, status=EventStreamStatus.ENABLED).values_list(
        "pk", flat=True
    ):
        enqueue_delivery(stream_id)
    logger.warning("held outbox rows released: %s by %s", ", ".join(str(row.pk) for row in rows) or "none", actor)
    return released


@dataclass(frozen=True)
class DiscardedRow:
    """An outbox row ``discard_held_events`` deleted, as its audit row names it: never its events."""

    id: int
    type: str
    purpose: str
    held_reason: str
    # How many events were lost with it; ``None`` when its events were not a JSON list (malformed: why it was held).
    events: int | None


@dataclass(frozen=True)
class DiscardOutcome:
    """What ``discard_held_events`` did with each id it was given, each list in id order."""

    discarded: list[DiscardedRow]
    # Rows waiting for the fan-out (never held, or released meanwhile): left alone, their events will be delivered.
    not_held: list[int]
    # No such row: fanned out, discarded already, or never was.
    not_found: list[int]


# What the audit row and the answer name of a discarded row; ``events`` is read only to count them.
_DISCARDED_FIELDS = ("id", "type", "purpose", "stream_ids", "events", "render", "held_at", "held_reason")


@transaction.atomic
def discard_held_events(*, ids: Collection[int], actor: Actor) -> DiscardOutcome:
    """Delete the outbox rows of ``ids`` that the fan-out held (``events.fanout``: their events could not be made),
    for good: their events are never delivered. For a row that can never succeed (its renderer is gone, its values
    are invalid for good), which ``release_held_events`` would only see held again.

    Only held rows go: a waiting row's events will be delivered, and deleting it would lose them silently. Whether a
    row is held is decided by the ``DELETE`` itself (``held_at IS NOT NULL`` in its ``WHERE``), not by an earlier
    read: a row another operator released between the admin's confirmation page and this call is left alone
    (PostgreSQL re-checks the condition on the row's committed version once the release's lock is gone). Each
    discarded row gets a ``sapi`` audit row in the same transaction (``events.audit.record_held_row_discarded``: its
    id, type, purpose, why it was held, how many events; never the events, which are users' profiles). Explicit ids
    only, by design: there is no "every held row". Unknown ids are reported, not raised."""
    wanted = sorted(set(ids))
    bindable = [pk for pk in wanted if 0 < pk <= _MAX_ROW_ID]  # SQLite cannot even bind a larger one
    rows: list[PendingEvents] = []
    if bindable:
        table = db.ops.quote_name(PendingEvents._meta.db_table)
        with db.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(bindable))}) AND held_at IS NOT NULL"  # noqa: S608
                f" RETURNING {columns(PendingEvents, fields=_DISCARDED_FIELDS)}",
                bindable,
            )
            rows = sorted(
                models_from_rows(PendingEvents, cursor.fetchall(), fields=_DISCARDED_FIELDS), key=lambda row: row.pk
            )
    discarded = []
    for row in rows:
        count = _event_count(row.events)
        record_held_row_discarded(row, events=count, actor=actor)
        discarded.append(
            DiscardedRow(id=row.pk, type=row.type, purpose=row.purpose, held_reason=row.held_reason, events=count)
        )
    waiting = set(PendingEvents.objects.filter(pk__in=bindable).values_list("pk", flat=True))
    gone = {row.pk for row in rows}
    outcome = DiscardOutcome(
        discarded=discarded,
        not_held=[pk for pk in wanted if pk in waiting],
        not_found=[pk for pk in wanted if pk not in waiting and pk not in gone],
    )
    logger.warning(
        "held outbox rows discarded (their events are lost): %s by %s",
        ", ".join(str(row.id) for row in discarded) or "none",
        actor,
    )
    return outcome


def _event_count(events: str) -> int | None:
    """How many events a row's ``events`` text holds; ``None`` when it is not a JSON list."""
    try:
        items = json.loads(events)
    except (ValueError, RecursionError):
        return None
    return len(items) if isinstance(items, list) else None
