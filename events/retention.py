"""Deleting what the event streams no longer need: the worker's housekeeping calls ``prune_finished``.

A delivery that ended (``delivered`` or ``failed``) is kept ``EVENT_STREAMS_RETENTION_SECONDS`` after its last
change, for the deliveries list and redelivery; then it goes, with its attempts, and an event goes once no
delivery of it is left and it is as old. Pending deliveries are never pruned: they are still owed. Without this
the outbox would grow by one event per change for ever.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event

# Rows deleted per statement: a long-idle worker catching up deletes in short transactions, not one huge one.
CHUNK = 2000
# Finding old deliveries reads the table (no index serves "finished and older than"): not at every housekeeping
# round (2 s), but this often per worker process.
PRUNE_EVERY_SECONDS = 300.0
_next_prune = 0.0


def prune_finished_now_and_then() -> tuple[int, int]:
    """``prune_finished`` at most once every ``PRUNE_EVERY_SECONDS`` in this process; ``(0, 0)`` in between."""
    global _next_prune  # one schedule per worker process
    if time.monotonic() < _next_prune:
        return 0, 0
    _next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
    return prune_finished()


def prune_finished(*, max_chunks: int = 10) -> tuple[int, int]:
    """Delete finished deliveries (with their attempts) and then events, both older than the retention, at most
    ``max_chunks`` chunks of each per call; returns ``(deliveries, events)`` deleted."""
    cutoff = timezone.now() - timedelta(seconds=int(settings.EVENT_STREAMS_RETENTION_SECONDS))
    deliveries = events = 0
    for _ in range(max_chunks):
        ids = list(
            Delivery.objects.filter(
                status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED], updated_at__lt=cutoff
            ).values_list("pk", flat=True)[:CHUNK]
        )
        if not ids:
            break
        with transaction.atomic():
            # Still finished and old (a redelivery in between made it pending again), and locked until deleted: the
            # deletion goes by primary key (Django's collector reads the rows first for their attempts), so a
            # redelivery committing between that read and the delete would otherwise lose an owed delivery.
            locked = list(
                Delivery.objects.select_for_update()
                .filter(pk__in=ids, status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED], updated_at__lt=cutoff)
                .values_list("pk", flat=True)
            )
            DeliveryAttempt.objects.filter(delivery_id__in=locked).delete()
            deliveries += Delivery.objects.filter(pk__in=locked).delete()[1].get(Delivery._meta.label, 0)
    owed = Delivery.objects.filter(event_id=OuterRef("pk"))
    for _ in range(max_chunks):
        event_ids = list(
            Event.objects.filter(time__lt=cutoff).exclude(Exists(owed)).values_list("pk", flat=True)[:CHUNK]
        )
        if not event_ids:
            break
        with transaction.atomic():
            gone = Event.objects.filter(pk__in=event_ids).exclude(Exists(owed)).delete()[1]
            events += gone.get(Event._meta.label, 0)
    return deliveries, events
