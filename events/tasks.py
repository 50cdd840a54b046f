"""The events app's tasks (Django's Tasks framework; ``django-tasks`` on Django 5.2): sending a stream's due
deliveries. Enqueued in the caller's transaction (the database backend's row commits or rolls back with it)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.db.models import Min
from django.utils import timezone

from core.tasks import task
from events.delivery import claim_due, record_attempt, send, worker_name
from events.fanout import fan_out
from events.models import Delivery, DeliveryStatus, EventStream, EventStreamStatus

logger = logging.getLogger(__name__)


@task()
def deliver_stream(stream_id: str) -> int:
    """Send the stream's due deliveries (``events.delivery.deliver_due``); returns how many were attempted."""
    return deliver_due(stream_id)


def enqueue_delivery(stream_id: str, *, run_after: datetime | None = None) -> None:
    """Ask a worker to send the stream's due deliveries now, or at ``run_after``."""
    if run_after is None:
        deliver_stream.enqueue(stream_id)
    else:
        deliver_stream.using(run_after=run_after).enqueue(stream_id)


def deliver_due(stream_id: str) -> int:
    """Send the stream's due deliveries until none is left to claim; then, if some wait for a retry, enqueue the
    stream's task for the earliest. Returns the number of attempts made."""
    fan_out()  # the outbox's committed events become deliveries first (events.fanout)
    made = 0
    while True:
        stream = EventStream.objects.filter(pk=stream_id).first()
        if stream is None or stream.status != EventStreamStatus.ENABLED:
            return made
        batch = claim_due(stream_id, f"{worker_name()}:{uuid.uuid4().hex[:12]}")
        if not batch:
            break
        for delivery in batch:
            outcome = send(stream, delivery)
            made += 1
            current = record_attempt(stream_id, delivery, outcome)
            if current is None or current.status != EventStreamStatus.ENABLED:
                return made
            logger.info(
                "event delivery stream=%s event=%s status=%s http=%s ms=%.1f",
                stream_id,
                delivery.event_id,
                "delivered" if outcome.delivered else "failed",
                outcome.http_status,
                outcome.duration_ms,
            )
    waiting = Delivery.objects.filter(stream_id=stream_id, status=DeliveryStatus.PENDING).aggregate(
        next=Min("next_attempt_at")
    )["next"]
    if waiting is not None and waiting > timezone.now():
        enqueue_delivery(stream_id, run_after=waiting)
    return made
