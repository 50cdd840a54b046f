"""Event streams (Auth0's webhooks carrying CloudEvents) and the transactional outbox that feeds them.

- ``EventStream``: where to send which event types, and how to authenticate to the receiver. Its secrets (the
  bearer token or basic password, and the Standard Webhooks signing secret) are stored encrypted
  (``core.crypto``): a database dump does not reveal them.
- ``PendingEvents``: the outbox row. One per ``events.outbox.emit`` call, written in the same transaction as the
  change it describes (and only when at least one enabled stream subscribes to the type): the events, and the ids
  of the streams they are owed to, fixed when written. ``events.fanout`` turns it into the rows below.
- ``Event``: one CloudEvents 1.0 event (``user.created``, ...).
- ``Delivery``: one event owed to one stream (Auth0's delivery object, keyed by the event id within a stream), with
  its state and the schedule of its next attempt. ``DeliveryAttempt``: each try (Auth0's ``attempts``).

Auth0's shapes: the Management API's ``EventStreamWebhookResponseContent``, ``EventStreamDelivery`` and
``EventStreamDeliveryAttempt`` (auth0-python 6.8 ``auth0/management/types``).
"""

from __future__ import annotations

import secrets
import string

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# Auth0's limits on a stream's name (CreateEventStreamWebHookRequestContent: minLength 1, maxLength 128).
EVENT_STREAM_NAME_MAX_LENGTH = 128
# Long enough for any real URL; Auth0 documents no limit, browsers and proxies commonly stop near 2,048.
WEBHOOK_ENDPOINT_MAX_LENGTH = 2048
# A basic-auth username, as receivers commonly accept (RFC 7617 sets none).
WEBHOOK_USERNAME_MAX_LENGTH = 255

_BASE58 = "".join(c for c in string.ascii_letters + string.digits if c not in "0OIl")
# Auth0's event ids: ``evt_`` + 22 base58 characters (e.g. ``evt_6SfwXrtm8nVcjzzNCFFH1L`` in its docs).
EVENT_ID_LENGTH = 4 + 22


# Random bytes to base58 in one C call: a byte below 232 (= 4 * 58) becomes ``_BASE58[byte % 58]``, a higher one
# is dropped (so every character is equally likely), as ``secrets.choice`` would pick them one call at a time.
_BYTE_TO_BASE58 = bytes(ord(_BASE58[b % 58]) for b in range(232)) + bytes(256 - 232)
_NOT_BASE58_BYTES = bytes(range(232, 256))


def new_event_ids(count: int) -> list[str]:
    """``count`` event ids, each ``evt_`` + 22 base58 characters (Auth0's event id format, ~129 random bits), from
    one ``secrets.token_bytes`` call: a bulk import needs one per user."""
    size = 22 * count
    chars = b""
    while len(chars) < size:
        # 232/256 of the bytes survive the translation: ask for a tenth more than needed, and loop when unlucky.
        chars += secrets.token_bytes((size - len(chars)) * 10 // 9 + 16).translate(_BYTE_TO_BASE58, _NOT_BASE58_BYTES)
    text = chars[:size].decode("ascii")
    return ["evt_" + text[i : i + 22] for i in range(0, size, 22)]


def new_event_stream_id() -> str:
    """``est_`` + 22 base58 characters: Auth0's event stream ids (26 characters, "Required string length: 26" in the
    Management API's event-streams paths; e.g. ``est_38ANnv8pQhqsZrX2VFbftv`` in its docs)."""
    return "est" + new_event_ids(1)[0][3:]


def new_event_id() -> str:
    """``evt_`` + 22 base58 characters, Auth0's event id format."""
    return new_event_ids(1)[0]


class EventType(models.TextChoices):
    """The event types this service emits (a subset of Auth0's ``EventStreamEventTypeEnum``)."""

    USER_CREATED = "user.created", _("User created")
    USER_UPDATED = "user.updated", _("User updated")
    USER_DELETED = "user.deleted", _("User deleted")


class EventStreamStatus(models.TextChoices):
    ENABLED = "enabled", _("Enabled")
    DISABLED = "disabled", _("Disabled")


class DisabledReason(models.TextChoices):
    """Why a stream is disabled: ``""`` while enabled or when an operator disabled it; ``failures`` when the worker
    disabled it after a sustained run of failed deliveries (``EVENT_STREAMS_DISABLE_AFTER_FAILURES``; its pending
    deliveries failed with it); ``undecryptable`` when the worker found a stored secret no configured key opens
    (``events.delivery.disable_for_unreadable_secret``; its deliveries wait, pending)."""

    NONE = "", _("Not disabled by the service")
    FAILURES = "failures", _("Disabled after consecutive delivery failures")
    UNDECRYPTABLE = "undecryptable", _("Disabled: a stored secret cannot be decrypted")


class DestinationType(models.TextChoices):
    WEBHOOK = "webhook", _("Webhook")


class AuthorizationMethod(models.TextChoices):
    """Auth0's ``webhook_authorization.method`` values this service supports."""

    BEARER = "bearer", _("Bearer token")
    BASIC = "basic", _("Basic (username and password)")


class EventStream(models.Model):
    id = models.CharField(
        verbose_name=_("id"), primary_key=True, max_length=EVENT_ID_LENGTH, default=new_event_stream_id, editable=False
    )
    name = models.CharField(verbose_name=_("name"), max_length=EVENT_STREAM_NAME_MAX_LENGTH)
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=EventStreamStatus.choices,
        default=EventStreamStatus.ENABLED,
    )
    disabled_reason = models.CharField(
        verbose_name=_("disabled reason"), max_length=16, choices=DisabledReason.choices, default="", blank=True
    )
    # Auth0's ``subscriptions``: [{"event_type": "user.created"}, ...], in the order given.
    subscriptions = models.JSONField(verbose_name=_("subscriptions"), default=list, blank=True)
    destination_type = models.CharField(
        verbose_name=_("destination type"),
        max_length=16,
        choices=DestinationType.choices,
        default=DestinationType.WEBHOOK,
    )
    webhook_endpoint = models.CharField(verbose_name=_("webhook endpoint"), max_length=WEBHOOK_ENDPOINT_MAX_LENGTH)
    authorization_method = models.CharField(
        verbose_name=_("authorization method"), max_length=16, choices=AuthorizationMethod.choices
    )
    # Returned by Auth0 with the stream (basic only); not a secret.
    authorization_username = models.CharField(
        verbose_name=_("authorization username"), max_length=WEBHOOK_USERNAME_MAX_LENGTH, blank=True
    )
    # The bearer token or the basic password, encrypted (core.crypto.encrypt_secret).
    authorization_secret_encrypted = models.TextField(verbose_name=_("authorization secret (encrypted)"))
    # The Standard Webhooks signing secret (``whsec_`` + base64 of 32 random bytes), encrypted.
    signing_secret_encrypted = models.TextField(verbose_name=_("signing secret (encrypted)"))
    # Deliveries that ended in failure since the last success (reset by a success or by re-enabling the stream).
    consecutive_failures = models.PositiveIntegerField(verbose_name=_("consecutive failures"), default=0)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("event stream")
        verbose_name_plural = _("event streams")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(id__startswith="est_"), name="events_eventstream_id_prefix"),
            models.CheckConstraint(
                condition=Q(status__in=EventStreamStatus.values), name="events_eventstream_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(authorization_method__in=AuthorizationMethod.values),
                name="events_eventstream_authorization_method_valid",
            ),
            models.CheckConstraint(
                condition=Q(destination_type__in=DestinationType.values),
                name="events_eventstream_destination_type_valid",
            ),
            # A reason only while disabled: re-enabling must clear it.
            models.CheckConstraint(
                condition=Q(disabled_reason="") | Q(status=EventStreamStatus.DISABLED),
                name="events_eventstream_reason_only_when_disabled",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def event_types(self) -> list[str]:
        """The subscribed event types, in the order given."""
        return [s["event_type"] for s in self.subscriptions if isinstance(s, dict) and "event_type" in s]


class Event(models.Model):
    """A CloudEvents 1.0 event as written by the change that caused it (the outbox row).

    The delivered JSON is ``{"id", "source", "specversion": "1.0", "type", "time", "data": {"object": ...}}`` plus
    Auth0's ``a0tenant``/``a0stream``/``a0purpose`` extensions (``events.cloudevents``).
    """

    id = models.CharField(
        verbose_name=_("id"), primary_key=True, max_length=EVENT_ID_LENGTH, default=new_event_id, editable=False
    )
    type = models.CharField(verbose_name=_("type"), max_length=64)
    source = models.CharField(verbose_name=_("source"), max_length=255)
    # What the event is about (the user's ``user_id``): the key of the per-stream ordering.
    subject = models.CharField(verbose_name=_("subject"), max_length=300, blank=True)
    time = models.DateTimeField(verbose_name=_("time"))
    # {"object": <the user profile as the Management API renders it>}.
    data = models.JSONField(verbose_name=_("data"))
    # Auth0's ``a0purpose``: "test" for events sent by POST /api/v2/event-streams/{id}/test, else "".
    purpose = models.CharField(verbose_name=_("purpose"), max_length=16, blank=True, default="")

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [models.Index(fields=["time"], name="events_event_time")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class PendingEvents(models.Model):
    """The events of one ``emit`` call, waiting to be fanned out into ``Event`` and ``Delivery`` rows (Auth0's
    "internal buffer" of event streams).

    One row for a whole import batch: its thousands of events cost one row and no index entry in the batch's
    transaction; the worker (``events.fanout``) writes their ``Event``s and ``Delivery``s later, in ``id`` order.
    """

    # The write order: fanned out in this order, so a subject's events keep theirs.
    id = models.BigAutoField(primary_key=True)
    type = models.CharField(verbose_name=_("type"), max_length=64)
    source = models.CharField(verbose_name=_("source"), max_length=255)
    time = models.DateTimeField(verbose_name=_("time"))
    purpose = models.CharField(verbose_name=_("purpose"), max_length=16, blank=True, default="")
    # The enabled streams subscribed to ``type`` when the change was written, oldest first: ["est_...", ...].
    stream_ids = models.JSONField(verbose_name=_("stream ids"))
    # ``[[event id, subject, data.object], ...]`` as JSON text, in order: read once by the fan-out, never queried
    # (text, not jsonb: PostgreSQL would parse and re-encode megabytes per import batch). With ``render``, each
    # item's third element is the values ``data.object`` is rendered from instead (``events.outbox.emit_values``).
    events = models.TextField(verbose_name=_("events"))
    # The dotted path of the function that renders ``data.object`` from an item's values, at fan-out; "" when the
    # items hold the objects themselves.
    render = models.CharField(verbose_name=_("renderer"), max_length=200, blank=True, default="")
    # ``{"keys": [the names of an item's values, in order], "kwargs": {the renderer's other arguments}}``.
    render_args = models.JSONField(verbose_name=_("renderer arguments"), default=dict, blank=True)
    # Set when the fan-out could not turn the row into events (its renderer raised: code changed while the row
    # waited, say): the row is held out of every later fan-out, so it does not stop the others, until an operator
    # releases it (``events.services.release_held_events``). ``held_reason`` names the exception's type and where
    # it was raised, never its message (which may quote a user's values).
    held_at = models.DateTimeField(verbose_name=_("held at"), null=True, blank=True)
    held_reason = models.CharField(verbose_name=_("held because"), max_length=300, blank=True, db_default="")

    class Meta:
        verbose_name = _("pending events")
        verbose_name_plural = _("pending events")
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.type} ({self.pk})"


def listed_stream_ids(value: object) -> list[str]:
    """The stream ids a ``PendingEvents.stream_ids`` value names: its strings, when it is a list. A malformed row's
    (the fan-out holds it) names only those, or none, rather than failing whoever reads it: the admin's *Pending
    events* page, ``events.services.release_held_events``, the sweep."""
    return [stream_id for stream_id in value if isinstance(stream_id, str)] if isinstance(value, list) else []


class DeliveryStatus(models.TextChoices):
    """A delivery's state. Auth0's deliveries list shows ``failed`` ones; ``pending`` (queued or waiting for a
    retry) and ``delivered`` are ours too, so every delivery can be listed."""

    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class Delivery(models.Model):
    """One event owed to one stream. Its Auth0 ``id`` is the event's id (``deliveries/{event_id}``)."""

    # The insertion order: deliveries of one subject on one stream are sent in this order.
    id = models.BigAutoField(primary_key=True)
    stream = models.ForeignKey(
        EventStream, verbose_name=_("event stream"), on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(Event, verbose_name=_("event"), on_delete=models.CASCADE, related_name="deliveries")
    # Copies of the event's, so listing, filtering and ordering need no join.
    event_type = models.CharField(verbose_name=_("event type"), max_length=64)
    subject = models.CharField(verbose_name=_("subject"), max_length=300, blank=True)
    status = models.CharField(
        verbose_name=_("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    # Attempts made since the delivery was (re)queued: the exponent of the backoff.
    attempt_count = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(verbose_name=_("next attempt at"))
    # A worker owns the delivery until then (its request timeout plus a margin); a killed worker's claim lapses.
    claimed_until = models.DateTimeField(verbose_name=_("claimed until"), null=True, blank=True)
    claimed_by = models.CharField(verbose_name=_("claimed by"), max_length=64, blank=True)
    last_status_code = models.PositiveSmallIntegerField(verbose_name=_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(verbose_name=_("last error"), blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)
    delivered_at = models.DateTimeField(verbose_name=_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["stream", "event"], name="events_delivery_one_per_stream_event"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="events_delivery_status_valid"),
        ]
        indexes = [
            # The worker's question: the pending deliveries of a stream, and an earlier pending one of a subject.
            models.Index(
                fields=["stream", "subject", "id"],
                name="events_delivery_pending",
                condition=Q(status=DeliveryStatus.PENDING),
            ),
            # The deliveries list: a stream's deliveries by status, in order.
            models.Index(fields=["stream", "status", "id"], name="events_delivery_list"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.stream_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One try at a delivery (Auth0's ``EventStreamDeliveryAttempt``: ``status``, ``timestamp``,
    ``error_message``, ``duration`` in ms)."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(
        Delivery, verbose_name=_("delivery"), on_delete=models.CASCADE, related_name="attempts"
    )
    # ``delivered`` or ``failed``.
    status = models.CharField(verbose_name=_("status"), max_length=16, choices=DeliveryStatus.choices)
    timestamp = models.DateTimeField(verbose_name=_("timestamp"))
    # From sending the request to the end of the response (or the failure), in milliseconds.
    duration_ms = models.FloatField(verbose_name=_("duration (ms)"), null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(verbose_name=_("HTTP status"), null=True, blank=True)
    error_message = models.TextField(verbose_name=_("error message"), blank=True)

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ["delivery", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]),
                name="events_deliveryattempt_status_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.delivery_id} @ {self.timestamp:%Y-%m-%dT%H:%M:%S} {self.status}"
