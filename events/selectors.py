"""Reads of event streams and deliveries shared by the API and the admin.

Raises ``EventStreamNotFound`` (404) and ``DeliveryNotFound`` (404).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, QuerySet

from events.errors import DeliveryNotFound, EventStreamNotFound
from events.fanout import fan_out
from events.models import Delivery, DeliveryAttempt, EventStream

# Auth0's deliveries list: ``take`` defaults to 50 (auth0-python's ``deliveries.list``).
DEFAULT_DELIVERIES_TAKE = 50


def list_event_streams() -> QuerySet[EventStream]:
    """Every stream, oldest first (``created_at``, then ``id``)."""
    return EventStream.objects.order_by("created_at", "id")


def get_event_stream(stream_id: str) -> EventStream:
    """The stream with this id. Raises ``EventStreamNotFound``."""
    try:
        return EventStream.objects.get(pk=stream_id)
    except EventStream.DoesNotExist as exc:
        raise EventStreamNotFound() from exc


def _with_details(deliveries: QuerySet[Delivery]) -> QuerySet[Delivery]:
    return deliveries.select_related("event").prefetch_related(
        Prefetch("attempts", queryset=DeliveryAttempt.objects.order_by("id"))
    )


@dataclass(frozen=True)
class DeliveriesPage:
    """One page of a stream's deliveries, in the order they were queued; ``next`` is the event id to pass as
    ``from_event_id`` for the following page, ``None`` on the last page."""

    deliveries: list[Delivery]
    next: str | None


def list_deliveries(
    *,
    stream_id: str,
    statuses: Collection[str] | None = None,
    event_types: Collection[str] | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
    from_event_id: str | None = None,
    take: int = DEFAULT_DELIVERIES_TAKE,
) -> DeliveriesPage:
    """A stream's deliveries (Auth0's ``GET /event-streams/{id}/deliveries``): filtered by status, event type and
    event time (``date_from`` inclusive, ``date_to`` exclusive), starting at ``from_event_id`` (inclusive), at most
    ``take``; each with its event and its attempts (oldest first). Raises ``EventStreamNotFound``, and
    ``DeliveryNotFound`` for a ``from_event_id`` this stream has no delivery of. The outbox's committed events are
    fanned out first (``events.fanout``), so none is missing while the worker has not run yet.
    """
    get_event_stream(stream_id)
    fan_out()
    deliveries = Delivery.objects.filter(stream_id=stream_id)
    if statuses:
        deliveries = deliveries.filter(status__in=list(statuses))
    if event_types:
        deliveries = deliveries.filter(event_type__in=list(event_types))
    if date_from is not None:
        deliveries = deliveries.filter(event__time__gte=date_from)
    if date_to is not None:
        deliveries = deliveries.filter(event__time__lt=date_to)
    if from_event_id is not None:
        start = Delivery.objects.filter(stream_id=stream_id, event_id=from_event_id).values_list("pk", flat=True)
        start_pk = start.first()
        if start_pk is None:
            raise DeliveryNotFound()
        deliveries = deliveries.filter(pk__gte=start_pk)
    page = list(_with_details(deliveries.order_by("pk"))[: take + 1])
    following = page[take].event_id if len(page) > take else None
    return DeliveriesPage(deliveries=page[:take], next=following)


def get_delivery(*, stream_id: str, event_id: str) -> Delivery:
    """The stream's delivery of this event, with its event and attempts (Auth0's
    ``GET /event-streams/{id}/deliveries/{event_id}``), after fanning out the outbox's committed events. Raises
    ``EventStreamNotFound``, ``DeliveryNotFound``."""
    get_event_stream(stream_id)
    fan_out()
    try:
        return _with_details(Delivery.objects.filter(stream_id=stream_id)).get(event_id=event_id)
    except Delivery.DoesNotExist as exc:
        raise DeliveryNotFound() from exc
