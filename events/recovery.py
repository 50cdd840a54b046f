"""Finding deliveries nobody is working on: the worker's periodic sweep.

A delivery is normally sent by the task its transaction enqueued, or by the one a retry enqueued. When a worker
dies holding a claim, its claim lapses (``EVENT_STREAMS_CLAIM_SECONDS``) and no task is left to pick the delivery
up: ``sweep_deliveries`` enqueues a delivery task for every enabled stream with such an overdue delivery, or
owed events of an outbox row (``PendingEvents``) that no fan-out has reached since then (a worker killed while
fanning it out); a row the fan-out held (``events.fanout``) waits for an operator, not for a task. Extra tasks are
harmless (a task finds nothing to claim and ends).
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from events.models import Delivery, DeliveryStatus, EventStream, EventStreamStatus, PendingEvents, listed_stream_ids
from events.tasks import enqueue_delivery

# Due for this long and still pending and unclaimed: its task was lost (or is queued behind a backlog, where an
# extra task costs nothing).
OVERDUE_AFTER = timedelta(seconds=5)


def sweep_deliveries() -> list[str]:
    """Enqueue a delivery task for each enabled stream with an overdue, unclaimed pending delivery or overdue
    events still waiting in the outbox; returns their ids."""
    now = timezone.now()
    waiting = {
        stream_id
        for ids in PendingEvents.objects.filter(time__lt=now - OVERDUE_AFTER, held_at__isnull=True).values_list(
            "stream_ids", flat=True
        )
        for stream_id in listed_stream_ids(ids)
    }
    # A delivery waiting on an earlier pending one of its subject (``claim_due`` passes it by) is not overdue: the
    # earlier one's task is queued for its retry (``events.tasks.deliver_due``).
    waits = Delivery.objects.filter(
        stream_id=OuterRef("stream_id"),
        subject=OuterRef("subject"),
        status=DeliveryStatus.PENDING,
        pk__lt=OuterRef("pk"),
    )
    stream_ids = list(
        Delivery.objects.filter(
            ~Exists(waits),
            Q(claimed_until__isnull=True) | Q(claimed_until__lt=now),
            status=DeliveryStatus.PENDING,
            next_attempt_at__lt=now - OVERDUE_AFTER,
            stream__status=EventStreamStatus.ENABLED,
        )
        .values_list("stream_id", flat=True)
        .distinct()
    )
    if waiting:
        enabled = EventStream.objects.filter(pk__in=sorted(waiting), status=EventStreamStatus.ENABLED)
        stream_ids += [stream_id for stream_id in enabled.values_list("pk", flat=True) if stream_id not in stream_ids]
    for stream_id in stream_ids:
        enqueue_delivery(stream_id)
    return stream_ids
