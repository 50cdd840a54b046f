"""Event streams, the domain side: every user change through every entry point becomes a CloudEvent written in the
change's transaction and delivered by the worker to a real local HTTP receiver, signed (Standard Webhooks) and
authorised; retries, ordering, loss-free bulk, a killed worker, the SSRF guard, encrypted secrets."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection as db_connection
from django.db import transaction
from django.test import override_settings
from django_tasks_db.models import DBTaskResult
from standardwebhooks.webhooks import Webhook

from core.actors import SYSTEM
from events.models import Delivery, DeliveryStatus, Event, EventStream
from events.services import WebhookAuthorization, create_event_stream, signing_secret
from tests.helpers import STRONG_PASSWORD, USERS, user_url
from tests.receiver import Receiver, receiver
from users.services import create_user

pytestmark = pytest.mark.django_db

TOKEN = "receiver-bearer-token"  # noqa: S105 - a test value


@pytest.fixture
def insecure() -> Iterator[None]:
    """The local receiver is http on 127.0.0.1: allowed only with the development flag."""
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True, EVENT_STREAMS_RETRY_BASE_SECONDS=0.01):
        yield


@pytest.fixture
def hook(insecure: None) -> Iterator[Receiver]:
    with receiver() as state:
        yield state


def make_stream(url: str, *, types: tuple[str, ...] = ("user.created", "user.updated", "user.deleted"), **kw: Any):
    return create_event_stream(
        name="crm",
        subscriptions=list(types),
        webhook_endpoint=url,
        authorization=kw.pop("authorization", WebhookAuthorization(method="bearer", token=TOKEN)),
        actor=SYSTEM,
        **kw,
    )


@pytest.fixture
def stream(hook: Receiver) -> EventStream:
    return make_stream(hook.url)


def drain(run_tasks: Callable[[], int], hook: Receiver, count: int, rounds: int = 200) -> list[dict[str, Any]]:
    """Run the ready tasks until the receiver has ``count`` requests (retries become ready after their backoff)."""
    import time

    for _ in range(rounds):
        run_tasks()
        if len(hook.received) >= count:
            break
        time.sleep(0.02)
    return hook.events()


def test_an_api_create_delivers_exactly_one_signed_user_created_event(api, connection, stream, hook, run_tasks):
    body = {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}
    response = api.post(USERS, body, format="json")
    assert response.status_code == 201
    assert hook.received == []  # the request only wrote the event: the worker sends it

    (event,) = drain(run_tasks, hook, 1)
    profile = api.get(user_url(response.json()["user_id"])).json()
    assert event["type"] == "user.created" and event["specversion"] == "1.0"
    assert event["id"].startswith("evt_") and event["source"].startswith("urn:auth0:")
    assert event["time"].endswith("Z") and event["a0stream"] == stream.id
    assert event["data"] == {"object": profile}
    assert "password" not in repr(event) and "$2b$" not in repr(event)

    (request,) = hook.received
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/cloudevents+json"
    assert request.headers["webhook-id"] == event["id"]
    # The receiver's check, with the library the README points to: the signature covers this exact body.
    Webhook(signing_secret(stream)).verify(request.body, request.headers)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempt_count, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 1, 200)
    assert [a.status for a in delivery.attempts.all()] == ["delivered"]
    assert drain(run_tasks, hook, 2, rounds=3) == [event]  # exactly one


def test_basic_authorization_is_sent_as_a_basic_header(api, connection, hook, run_tasks):
    make_stream(hook.url, authorization=WebhookAuthorization(method="basic", username="crm", password="s3cret:x"))
    api.post(
        USERS, {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}, format="json"
    )
    drain(run_tasks, hook, 1)
    assert hook.received[0].headers["authorization"] == "Basic " + base64.b64encode(b"crm:s3cret:x").decode()


def test_a_rolled_back_create_emits_nothing(connection, stream, hook, run_tasks):
    class Abort(Exception):
        pass

    data = {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}
    with pytest.raises(Abort), transaction.atomic():
        create_user(data=data, actor=SYSTEM)
        # Written in the transaction: the event, its delivery, and the tasks (delivery and verification mail).
        assert (Event.objects.count(), Delivery.objects.count()) == (1, 1)
        assert sorted(DBTaskResult.objects.values_list("task_path", flat=True)) == [
            "events.tasks.deliver_stream",
            "users.verification.deliver_verification_email",
        ]
        raise Abort
    assert (Event.objects.count(), Delivery.objects.count(), DBTaskResult.objects.count()) == (0, 0, 0)
    assert drain(run_tasks, hook, 1, rounds=3) == []

    create_user(data=data, actor=SYSTEM)  # the same create, committed, is delivered
    assert [e["type"] for e in drain(run_tasks, hook, 1)] == ["user.created"]


def test_no_stream_no_event(api, connection, run_tasks):
    api.post(
        USERS, {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}, format="json"
    )
    assert (Event.objects.count(), Delivery.objects.count()) == (0, 0)


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(api, connection, hook, run_tasks):
    make_stream(hook.url)
    hook.answers = [(500, {}, 0.0), (500, {}, 0.0)]
    api.post(
        USERS, {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}, format="json"
    )
    events = drain(run_tasks, hook, 3)
    assert len(events) == 3 and len({e["id"] for e in events}) == 1  # the same event, three times
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempt_count == 3
    attempts = list(delivery.attempts.order_by("id"))
    assert [(a.status, a.http_status) for a in attempts] == [("failed", 500), ("failed", 500), ("delivered", 200)]
    assert all(a.duration_ms is not None and a.duration_ms >= 0 for a in attempts)
    assert attempts[0].error_message.startswith("HTTP 500")
