"""Event streams in the admin: listed with their endpoint host, subscriptions and failures, deliveries with their
attempts and latency; no secret on any page; Enable/Disable go through the service and are audited."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.admin.utils import quote  # the admin escapes "_" in ids: est_3F... is est?...

from audit.models import Event as AuditEvent
from core.actors import SYSTEM
from core.crypto import decrypt_secret
from events.models import Delivery, DeliveryAttempt, DeliveryStatus, EventStream, EventStreamStatus
from events.services import WebhookAuthorization, create_event_stream, send_test_event, signing_secret

pytestmark = pytest.mark.django_db

TOKEN = "admin-page-token-never-shown"


@pytest.fixture
def stream() -> EventStream:
    return create_event_stream(
        name="crm",
        subscriptions=["user.created", "user.deleted"],
        webhook_endpoint="https://93.184.215.14/hooks",
        authorization=WebhookAuthorization(method="bearer", token=TOKEN),
        actor=SYSTEM,
    )


def _no_secret_in(page: str, stream: EventStream) -> None:
    assert TOKEN not in page
    assert signing_secret(stream) not in page
    assert stream.authorization_secret_encrypted not in page
    assert stream.signing_secret_encrypted not in page


def test_the_list_shows_host_subscriptions_and_failures_but_no_secret(admin_client, stream):
    send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM)
    Delivery.objects.update(status=DeliveryStatus.FAILED)
    page = admin_client.get("/admin/events/eventstream/")
    assert page.status_code == 200
    text = page.text
    assert "crm" in text
    assert "93.184.215.14" in text
    assert "user.created, user.deleted" in text
    _no_secret_in(text, stream)


def test_the_stream_page_shows_its_deliveries_with_latency_and_no_secret(admin_client, stream):
    delivery = send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM)
    DeliveryAttempt.objects.create(
        delivery=delivery,
        status="failed",
        timestamp=datetime.now(UTC),
        duration_ms=123.4,
        http_status=503,
        error_message="HTTP 503",
    )
    page = admin_client.get(f"/admin/events/eventstream/{quote(stream.id)}/change/")
    assert page.status_code == 200
    assert delivery.event_id in page.text
    assert "123 ms" in page.text
    assert "bearer" in page.text
    _no_secret_in(page.text, stream)
    assert decrypt_secret(stream.authorization_secret_encrypted) == TOKEN

    detail = admin_client.get(f"/admin/events/delivery/{delivery.pk}/change/")
    assert detail.status_code == 200
    assert "HTTP 503" in detail.text
    assert "123 ms" in detail.text
    assert admin_client.get("/admin/events/delivery/?status__exact=pending").status_code == 200


def test_pages_are_read_only(admin_client, stream):
    assert admin_client.get("/admin/events/eventstream/add/").status_code == 403
    response = admin_client.post(f"/admin/events/eventstream/{quote(stream.id)}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert EventStream.objects.filter(pk=stream.id).exists()


def test_enabling_over_the_failure_limit_is_refused_with_a_message(admin_client, stream):
    from django.test import override_settings

    url = "/admin/events/eventstream/"
    admin_client.post(url, {"action": "disable", "_selected_action": [stream.id]})
    # A limit of 0: any count of failed deliveries is too many.
    with override_settings(EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES=0):
        response = admin_client.post(url, {"action": "enable", "_selected_action": [stream.id]}, follow=True)
    assert response.status_code == 200
    assert "too many failed deliveries" in response.content.decode()
    stream.refresh_from_db()
    assert stream.status == EventStreamStatus.DISABLED


def test_disable_and_enable_go_through_the_service_and_are_audited(admin_client, stream):
    url = "/admin/events/eventstream/"
    admin_client.post(url, {"action": "disable", "_selected_action": [stream.id]})
    stream.refresh_from_db()
    assert stream.status == EventStreamStatus.DISABLED

    stream.consecutive_failures = 7
    stream.save(update_fields=["consecutive_failures"])
    admin_client.post(url, {"action": "enable", "_selected_action": [stream.id]})
    stream.refresh_from_db()
    assert stream.status == EventStreamStatus.ENABLED
    assert stream.consecutive_failures == 0

    rows = AuditEvent.objects.filter(details__event_stream_id=stream.id).order_by("date", "pk")
    assert [(e.description, e.actor_kind, e.details["fields"]) for e in rows] == [
        ("Update an Event Stream", "admin", ["status"]),
        ("Update an Event Stream", "admin", ["status"]),
    ]
