"""Sending deliveries: what the worker's ``deliver_stream`` task does.

For one stream, ``deliver_due`` claims the due pending deliveries whose subject has no earlier pending delivery on
that stream (so one user's events arrive in the order they were written), sends each as a CloudEvents JSON
request signed with Standard Webhooks (``webhook-id`` = the event id, ``webhook-timestamp``, ``webhook-signature``)
and carrying the stream's bearer or basic ``Authorization``, and records the attempt.

- 2xx: delivered.
- A network error, a timeout, 5xx or 429: tried again after an exponential backoff with jitter
  (``EVENT_STREAMS_RETRY_BASE_SECONDS`` x 2^(attempt-1), capped at ``EVENT_STREAMS_RETRY_MAX_SECONDS``, drawn
  between half and all of it), or after ``Retry-After`` when the answer says so (capped the same way); after
  ``EVENT_STREAMS_MAX_ATTEMPTS`` attempts the delivery is failed.
- Any other answer, or a refused address: failed at once (trying again would get the same).
- ``EVENT_STREAMS_DISABLE_AFTER_FAILURES`` failed attempts in a row (Auth0 disables a stream after 500
  consecutive failures: "Event Testing, Observability, and Failure Recovery") disable the stream
  (``disabled_reason="failures"``) and fail its pending deliveries; the redelivery API queues them again. So does
  a delivery that fails when the stream already holds ``EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES`` - 1 failed
  ones (Auth0: 5000 total failures).

The request goes to the address the guard checked (``events.endpoints``): the host is resolved once, every
address must be allowed, and the connection is made to that address with the original host name for SNI,
certificate checks and ``Host`` — a name that re-resolves elsewhere between check and connect gains nothing.
Redirects are not followed (a 3xx is a failed attempt).

A claim lasts ``EVENT_STREAMS_CLAIM_SECONDS``; a worker killed mid-delivery leaves a claim that lapses, and the
worker's sweep (``events.recovery``) queues the stream again, so the delivery is sent again (at least once).
"""

from __future__ import annotations

import base64
import logging
import os
import random
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import urllib3
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from core.crypto import decrypt_secret
from events.endpoints import insecure_endpoints_allowed, is_public_address, resolve
from events.envelope import structured_body
from events.errors import UnsafeDestination
from events.models import (
    AuthorizationMethod,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DisabledReason,
    EventStream,
    EventStreamStatus,
)

logger = logging.getLogger(__name__)

# Deliveries claimed at once: enough to amortise the claim, few enough that a dying worker strands little.
CLAIM_BATCH = 20
_USER_AGENT = "userdir-event-streams/1"
# Recorded error messages are cut here (a receiver's error page is not worth storing whole).
_ERROR_MAX = 500


def worker_name() -> str:
    """This process as recorded in a claim: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[:48]


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``delivered``; else whether trying again may help, and when at the earliest."""

    delivered: bool
    retryable: bool
    http_status: int | None
    error: str
    duration_ms: float
    retry_after: float | None = None


def backoff_seconds(attempt: int) -> float:
    """The wait before attempt ``attempt + 1``: ``base x 2^(attempt-1)`` capped at the maximum, with "equal
    jitter" (uniformly between half and all of it) so retries of many deliveries do not arrive together."""
    base = float(settings.EVENT_STREAMS_RETRY_BASE_SECONDS)
    cap = float(settings.EVENT_STREAMS_RETRY_MAX_SECONDS)
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3) in seconds from ``now``: delay-seconds or an HTTP-date; ``None`` when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _pinned_address(host: str, port: int) -> str:
    """The address to connect to for ``host``; raises ``UnsafeDestination`` when any address it resolves to is not
    allowed (the same rule as ``check_webhook_endpoint``), ``OSError`` when it does not resolve."""
    addresses = resolve(host, port)
    if not addresses:
        raise OSError(f"{host} does not resolve")
    if not insecure_endpoints_allowed() and not all(is_public_address(a) for a in addresses):
        raise UnsafeDestination(f"{host} resolves to a non-public address")
    return str(addresses[0])


def _authorization_header(stream: EventStream) -> str:
    secret = decrypt_secret(stream.authorization_secret_encrypted)
    if stream.authorization_method == AuthorizationMethod.BASIC:
        pair = f"{stream.authorization_username}:{secret}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    return f"Bearer {secret}"


def send(stream: EventStream, delivery: Delivery) -> Outcome:
    """Make one attempt at ``delivery`` and say how it went (never raises for the receiver's or the network's
    failures)."""
    body, content_type = structured_body(delivery.event, stream_id=stream.id)
    now = timezone.now()
    signature = Webhook(decrypt_secret(stream.signing_secret_encrypted)).sign(
        delivery.event_id, now, body.decode("utf-8")
    )
    parts = urlsplit(stream.webhook_endpoint)
    host = parts.hostname or ""
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    headers = {
        "Content-Type": content_type,
        "User-Agent": _USER_AGENT,
        "Authorization": _authorization_header(stream),
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "Host": parts.netloc.rsplit("@", 1)[-1],
    }
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    timeout = float(settings.EVENT_STREAMS_TIMEOUT_SECONDS)
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 3)

    if not secure and not insecure_endpoints_allowed():
        return Outcome(False, False, None, "the endpoint is not https", elapsed())
    try:
        address = _pinned_address(host, port)
        pool_timeout = urllib3.Timeout(connect=timeout, read=timeout)
        # The pool connects to the checked address; the host name goes to SNI, the certificate check and Host.
        pool: urllib3.HTTPConnectionPool = (
            urllib3.HTTPSConnectionPool(
                address, port, timeout=pool_timeout, retries=False, server_hostname=host, assert_hostname=host
            )
            if secure
            else urllib3.HTTPConnectionPool(address, port, timeout=pool_timeout, retries=False)
        )
        try:
            response = pool.urlopen(
                "POST", path, body=body, headers=headers, redirect=False, assert_same_host=False, preload_content=True
            )
        finally:
            pool.close()
    except UnsafeDestination as exc:
        return Outcome(False, False, None, str(exc), elapsed())
    except (OSError, urllib3.exceptions.HTTPError) as exc:
        return Outcome(False, True, None, f"{type(exc).__name__}: {exc}"[:_ERROR_MAX], elapsed())
    status = response.status
    if 200 <= status < 300:
        return Outcome(True, False, status, "", elapsed())
    retryable = status == 429 or status >= 500
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now=timezone.now()) if retryable else None
    text = response.data[:_ERROR_MAX].decode("utf-8", "replace") if response.data else ""
    return Outcome(False, retryable, status, f"HTTP {status}: {text}".strip()[:_ERROR_MAX], elapsed(), retry_after)


def claim_due(stream_id: str, token: str) -> list[Delivery]:
    """Claim up to ``CLAIM_BATCH`` due deliveries of the stream, in order, none of which has an earlier pending
    delivery of its subject. One conditional UPDATE decides between racing workers (on SQLite and PostgreSQL)."""
    now = timezone.now()
    claimable = Q(status=DeliveryStatus.PENDING) & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    earlier = Delivery.objects.filter(
        stream_id=OuterRef("stream_id"),
        subject=OuterRef("subject"),
        status=DeliveryStatus.PENDING,
        pk__lt=OuterRef("pk"),
    )
    candidates = list(
        Delivery.objects.filter(claimable, stream_id=stream_id, next_attempt_at__lte=now)
        .exclude(Exists(earlier))
        .order_by("pk")
        .values_list("pk", flat=True)[:CLAIM_BATCH]
    )
    if not candidates:
        return []
    until = now + timedelta(seconds=float(settings.EVENT_STREAMS_CLAIM_SECONDS))
    Delivery.objects.filter(claimable, pk__in=candidates).update(claimed_until=until, claimed_by=token)
    return list(Delivery.objects.filter(claimed_by=token, pk__in=candidates).select_related("event").order_by("pk"))


def record_attempt(stream_id: str, delivery: Delivery, outcome: Outcome) -> EventStream | None:
    """Store the attempt and its consequences on the delivery and the stream; returns the stream as it now is
    (``None`` when it was deleted meanwhile)."""
    now = timezone.now()
    with transaction.atomic():
        stream = EventStream.objects.select_for_update().filter(pk=stream_id).first()
        if stream is None:
            return None
        DeliveryAttempt.objects.create(
            delivery=delivery,
            status=DeliveryStatus.DELIVERED if outcome.delivered else DeliveryStatus.FAILED,
            timestamp=now,
            duration_ms=outcome.duration_ms,
            http_status=outcome.http_status,
            error_message=outcome.error,
        )
        attempts = delivery.attempt_count + 1
        fields: dict[str, object] = {
            "attempt_count": attempts,
            "last_status_code": outcome.http_status,
            "last_error": outcome.error,
            "claimed_until": None,
            "claimed_by": "",
            "updated_at": now,
        }
        if outcome.delivered:
            fields |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now}
        elif outcome.retryable and attempts < int(settings.EVENT_STREAMS_MAX_ATTEMPTS):
            wait = backoff_seconds(attempts)
            if outcome.retry_after is not None:
                wait = max(wait, min(outcome.retry_after, float(settings.EVENT_STREAMS_RETRY_MAX_SECONDS)))
            fields |= {"next_attempt_at": now + timedelta(seconds=wait)}
        else:
            fields |= {"status": DeliveryStatus.FAILED}
        Delivery.objects.filter(pk=delivery.pk).update(**fields)
        if outcome.delivered:
            if stream.consecutive_failures:
                EventStream.objects.filter(pk=stream.pk).update(consecutive_failures=0)
                stream.consecutive_failures = 0
        else:
            stream.consecutive_failures += 1
            EventStream.objects.filter(pk=stream.pk).update(consecutive_failures=F("consecutive_failures") + 1)
            limit = int(settings.EVENT_STREAMS_DISABLE_AFTER_FAILURES)
            if stream.status == EventStreamStatus.ENABLED and stream.consecutive_failures >= limit:
                _disable_after_failures(stream, now, why=f"{stream.consecutive_failures} consecutive failures")
        if fields.get("status") == DeliveryStatus.FAILED and stream.status == EventStreamStatus.ENABLED:
            total_limit = int(settings.EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES)
            if Delivery.objects.filter(stream_id=stream_id, status=DeliveryStatus.FAILED).count() >= total_limit:
                _disable_after_failures(stream, now, why=f"{total_limit} failed deliveries")
    return stream


def _disable_after_failures(stream: EventStream, now: datetime, *, why: str) -> None:
    stream.status = EventStreamStatus.DISABLED
    stream.disabled_reason = DisabledReason.FAILURES
    EventStream.objects.filter(pk=stream.pk).update(
        status=stream.status, disabled_reason=stream.disabled_reason, updated_at=now
    )
    failed = Delivery.objects.filter(stream=stream, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED,
        claimed_until=None,
        claimed_by="",
        last_error=f"the event stream was disabled after {why}",
        updated_at=now,
    )
    logger.warning("event stream disabled after %s id=%s (%s pending deliveries failed)", why, stream.pk, failed)
