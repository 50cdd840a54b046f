"""The outbox rows ``events.outbox.emit`` writes as plain rows (issue 16): the same ids, events, deliveries and
tasks that ``Event``/``Delivery`` instances would give, in the caller's transaction; and the imported users' events
carrying their profiles exactly as the Management API renders them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from core.actors import SYSTEM
from events.models import _BASE58, Delivery, DeliveryStatus, Event, EventStream, new_event_id, new_event_ids
from events.outbox import emit, event_source
from events.services import WebhookAuthorization, create_event_stream
from tests.helpers import run_import_job, user_url

pytestmark = pytest.mark.django_db

EVENT_ID = re.compile(r"evt_[1-9A-HJ-NP-Za-km-z]{22}")


@pytest.fixture
def insecure() -> Iterator[None]:
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
        yield


def make_stream(name: str, types: tuple[str, ...] = ("user.created",)) -> EventStream:
    return create_event_stream(
        name=name,
        subscriptions=list(types),
        webhook_endpoint="http://127.0.0.1:9/events",
        authorization=WebhookAuthorization(method="bearer", token="t0ken"),
        actor=SYSTEM,
    )


def test_event_ids_are_evt_and_22_base58_characters_each_equally_likely():
    ids = new_event_ids(10_000)
    assert len(ids) == 10_000 and len(set(ids)) == 10_000
    assert all(EVENT_ID.fullmatch(event_id) for event_id in ids)
    assert EVENT_ID.fullmatch(new_event_id())
    counts = {c: 0 for c in _BASE58}
    for event_id in ids:
        for c in event_id[4:]:
            counts[c] += 1
    # 220,000 characters over 58: 3,793 each on average, standard deviation about 62; these bounds are 6 of it
    # away. A skewed mapping (byte % 58 over all 256 bytes gives the first 24 characters 5 bytes each, the rest 4:
    # about 4,297 against 3,438) lands far outside them.
    assert min(counts.values()) > 3420 and max(counts.values()) < 4160, counts


PROFILES: list[tuple[str, dict[str, Any]]] = [
    ("auth0|a", {"user_id": "auth0|a", "name": 'Zoë "Z" O\'Hara\n', "user_metadata": {"k": [1, 2.5, None, True]}}),
    ("auth0|b", {"user_id": "auth0|b", "nickname": "b\\tab\t", "app_metadata": {}}),
    ("auth0|c", {"user_id": "auth0|c", "email": "c@example.com", "blocked": False}),
]


@pytest.mark.usefixtures("insecure")
def test_emit_writes_an_event_per_object_and_a_pending_delivery_per_stream_in_order():
    first, second = make_stream("one"), make_stream("two")
    make_stream("other", types=("user.deleted",))
    tasks_before = DBTaskResult.objects.count()

    assert emit("user.created", lambda: PROFILES) == 3

    events = {event.subject: event for event in Event.objects.all()}
    assert set(events) == {"auth0|a", "auth0|b", "auth0|c"}
    times = {event.time for event in events.values()}
    assert len(times) == 1
    for subject, profile in PROFILES:
        event = events[subject]
        assert EVENT_ID.fullmatch(event.id)
        assert (event.type, event.source, event.purpose) == ("user.created", event_source(), "")
        assert event.data == {"object": profile}
    (time,) = times
    for stream in (first, second):
        deliveries = list(Delivery.objects.filter(stream=stream).order_by("id"))
        # Per stream, in the order the objects came: the worker sends a subject's deliveries by id.
        assert [d.event_id for d in deliveries] == [events[subject].id for subject, _ in PROFILES]
        for delivery in deliveries:
            assert (delivery.event_type, delivery.subject) == ("user.created", delivery.event.subject)
            assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.PENDING, 0)
            assert (delivery.claimed_until, delivery.claimed_by, delivery.last_status_code) == (None, "", None)
            assert (delivery.last_error, delivery.delivered_at) == ("", None)
            assert delivery.next_attempt_at == delivery.created_at == delivery.updated_at == time
    # Streams in creation order: all of the first's deliveries were inserted before the second's.
    assert max(Delivery.objects.filter(stream=first).values_list("id", flat=True)) < min(
        Delivery.objects.filter(stream=second).values_list("id", flat=True)
    )
    assert DBTaskResult.objects.count() == tasks_before + 2  # one delivery task per stream


@pytest.mark.usefixtures("insecure")
def test_emit_writes_nothing_when_the_callers_transaction_rolls_back():
    make_stream("one")

    class Undo(Exception):
        pass

    tasks_before = DBTaskResult.objects.count()
    with pytest.raises(Undo), transaction.atomic():
        emit("user.created", lambda: PROFILES)
        raise Undo
    assert not Event.objects.exists() and not Delivery.objects.exists()
    assert DBTaskResult.objects.count() == tasks_before


@pytest.mark.django_db(transaction=True)  # the importer writes from its own thread
@pytest.mark.usefixtures("insecure")
def test_imported_users_events_carry_the_profile_the_api_renders(api, connection):
    make_stream("crm")
    users = [
        {
            "email": "Ann@Example.com",
            "email_verified": True,
            "given_name": "Ann",
            "family_name": "Lee",
            "name": "Ann Lee",
            "nickname": "annie",
            "picture": "https://example.com/ann.png",
            "user_metadata": {"theme": "dark", "langs": ["ja", "en"]},
            "app_metadata": {"plan": "pro"},
            "blocked": True,
            "user_id": "ann-1",
        },
        {"email": "bob@example.com"},
    ]
    run_import_job(api, connection.id, users)

    events = list(Event.objects.filter(type="user.created"))
    assert len(events) == 2
    for event in events:
        response = api.get(user_url(event.subject))
        assert response.status_code == 200
        assert event.data == {"object": response.json()}
    assert {event.data["object"]["user_id"] for event in events} >= {"auth0|ann-1"}
