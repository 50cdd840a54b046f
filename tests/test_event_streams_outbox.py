"""The outbox (issue 16): ``events.outbox.emit`` writes one ``PendingEvents`` row and the tasks in the caller's
transaction, and ``events.fanout.fan_out`` turns it into the ids, events and deliveries that ``Event``/``Delivery``
instances would give, once, in order, for the streams fixed at write time; and the imported users' events carry
their profiles exactly as the Management API renders them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from core.actors import SYSTEM
from events.fanout import fan_out
from events.models import (
    _BASE58,
    Delivery,
    DeliveryStatus,
    DisabledReason,
    Event,
    EventStream,
    EventStreamStatus,
    PendingEvents,
    new_event_id,
    new_event_ids,
)
from events.outbox import emit, event_source
from events.services import WebhookAuthorization, create_event_stream, delete_event_stream
from tests.helpers import run_import_job, user_url

pytestmark = pytest.mark.django_db

STRONG = "Str0ng!Passw0rd-1"
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
    # One outbox row in the caller's transaction; the events and deliveries come with the fan-out.
    assert (PendingEvents.objects.count(), Event.objects.count(), Delivery.objects.count()) == (1, 0, 0)
    assert DBTaskResult.objects.count() == tasks_before + 2  # one delivery task per stream

    assert fan_out() == 3
    assert not PendingEvents.objects.exists()
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


@pytest.mark.usefixtures("insecure")
def test_emit_writes_nothing_when_the_callers_transaction_rolls_back():
    make_stream("one")

    class Undo(Exception):
        pass

    tasks_before = DBTaskResult.objects.count()
    with pytest.raises(Undo), transaction.atomic():
        emit("user.created", lambda: PROFILES)
        raise Undo
    assert fan_out() == 0
    assert not PendingEvents.objects.exists() and not Event.objects.exists() and not Delivery.objects.exists()
    assert DBTaskResult.objects.count() == tasks_before


@pytest.mark.usefixtures("insecure")
def test_fan_out_is_idempotent():
    stream = make_stream("one")
    emit("user.created", lambda: PROFILES)
    pending = PendingEvents.objects.get()
    assert fan_out() == 3
    rows = list(Delivery.objects.values_list("pk", "event_id", "status"))

    # The same row again (as if a fan-out had died after its inserts): the constraints skip what is there.
    pending.save(force_insert=True)
    assert fan_out() == 3
    assert list(Delivery.objects.values_list("pk", "event_id", "status")) == rows
    assert Event.objects.count() == 3 and Delivery.objects.filter(stream=stream).count() == 3
    assert not PendingEvents.objects.exists()
    assert fan_out() == 0


@pytest.mark.usefixtures("insecure")
def test_fan_out_keeps_the_write_order_of_a_subjects_events():
    stream = make_stream("one", types=("user.created", "user.updated", "user.deleted"))
    emit("user.created", lambda: PROFILES)
    emit("user.updated", lambda: [PROFILES[1], PROFILES[0]])
    emit("user.deleted", lambda: [PROFILES[0]])

    fan_out()
    deliveries = Delivery.objects.filter(stream=stream).order_by("pk")
    assert [(d.event_type, d.subject) for d in deliveries] == [
        ("user.created", "auth0|a"),
        ("user.created", "auth0|b"),
        ("user.created", "auth0|c"),
        ("user.updated", "auth0|b"),
        ("user.updated", "auth0|a"),
        ("user.deleted", "auth0|a"),
    ]


@pytest.mark.usefixtures("insecure")
def test_the_streams_are_those_subscribed_when_the_events_were_written():
    kept, deleted = make_stream("kept"), make_stream("deleted")
    emit("user.created", lambda: PROFILES[:1])
    later = make_stream("later")  # created after the change committed: owed none of its events
    delete_event_stream(stream_id=deleted.id, actor=SYSTEM)

    fan_out()
    assert list(Delivery.objects.values_list("stream_id", flat=True)) == [kept.id]
    assert not Delivery.objects.filter(stream=later).exists()


@pytest.mark.usefixtures("insecure")
def test_a_stream_disabled_after_failures_gets_its_owed_deliveries_failed():
    stream = make_stream("one")
    emit("user.created", lambda: PROFILES[:1])
    # The worker gave up on the stream before fanning the row out: it fails pending deliveries, so these too.
    EventStream.objects.filter(pk=stream.pk).update(
        status=EventStreamStatus.DISABLED, disabled_reason=DisabledReason.FAILURES
    )

    fan_out()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "the event stream was disabled after failed deliveries"


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

    fan_out()
    events = list(Event.objects.filter(type="user.created"))
    assert len(events) == 2
    for event in events:
        response = api.get(user_url(event.subject))
        assert response.status_code == 200
        assert event.data == {"object": response.json()}
    assert {event.data["object"]["user_id"] for event in events} >= {"auth0|ann-1"}


@pytest.mark.usefixtures("insecure")
def test_an_imported_batchs_deliveries_are_listed_before_the_worker_ran(scoped_client, connection):
    from io import BytesIO

    from users.imports import import_users

    stream = make_stream("crm")
    users = [{"email": f"user{i}@example.com", "email_verified": True, "password": STRONG} for i in range(3)]
    summary = import_users(
        BytesIO(json.dumps(users).encode()), connection=connection, actor=SYSTEM, batch_size=2, pipelined=False
    )
    assert summary.inserted == 3
    assert PendingEvents.objects.count() == 2 and not Delivery.objects.exists()  # no worker has run
    # Each batch stored its users' values (no hash among them); the fan-out renders their profiles.
    assert {p.render for p in PendingEvents.objects.all()} == {"users.streams.imported_profile"}
    assert not any("$2b$" in p.events or "password" in p.events for p in PendingEvents.objects.all())

    api = scoped_client("read:event_streams read:event_deliveries")
    first_id = json.loads(PendingEvents.objects.order_by("pk").first().events)[0][0]  # type: ignore[union-attr]
    one = api.get(f"/api/v2/event-streams/{stream.id}/deliveries/{first_id}")
    assert one.status_code == 200, one.json()
    assert (one.json()["id"], one.json()["status"]) == (first_id, "pending")

    response = api.get(f"/api/v2/event-streams/{stream.id}/deliveries", {"statuses": "pending"})
    assert response.status_code == 200, response.json()
    listed = response.json()["deliveries"]
    assert [d["status"] for d in listed] == ["pending"] * 3
    assert [d["event"]["data"]["object"]["email"] for d in listed] == [u["email"] for u in users]
    assert listed[0]["id"] == first_id
    assert not PendingEvents.objects.exists()


@pytest.mark.usefixtures("insecure")
def test_the_sweep_queues_the_streams_of_events_no_fan_out_reached():
    from datetime import timedelta

    from django.utils import timezone

    from events.recovery import OVERDUE_AFTER, sweep_deliveries

    stream, disabled = make_stream("one"), make_stream("off")
    emit("user.created", lambda: PROFILES[:1])
    assert sweep_deliveries() == []  # just written: its own task will fan it out

    # Its task was lost (a worker killed while fanning it out): once overdue, the sweep queues its enabled streams.
    EventStream.objects.filter(pk=disabled.pk).update(status=EventStreamStatus.DISABLED)
    PendingEvents.objects.update(time=timezone.now() - OVERDUE_AFTER - timedelta(seconds=1))
    DBTaskResult.objects.all().delete()  # the lost task
    assert sweep_deliveries() == [stream.id]
    assert list(DBTaskResult.objects.values_list("args_kwargs", flat=True)) == [{"args": [stream.id], "kwargs": {}}]


@pytest.mark.django_db(transaction=True)  # the importer writes from its own thread
@pytest.mark.usefixtures("insecure")
def test_an_upserted_users_event_is_user_updated_with_its_new_profile(api, connection):
    make_stream("crm", types=("user.created", "user.updated"))
    run_import_job(api, connection.id, [{"email": "ann@example.com", "given_name": "Ann"}])
    run_import_job(api, connection.id, [{"email": "ann@example.com", "given_name": "Anne"}], upsert=True)

    fan_out()
    events = list(Event.objects.order_by("deliveries__id"))
    assert [event.type for event in events] == ["user.created", "user.updated"]
    assert [event.data["object"]["given_name"] for event in events] == ["Ann", "Anne"]
    assert events[1].data == {"object": api.get(user_url(events[1].subject)).json()}


@pytest.mark.usefixtures("insecure")
def test_emit_pauses_the_cyclic_collector_while_it_builds_a_batch_and_restores_it():
    import gc

    make_stream("one")
    seen: list[bool] = []

    def objects() -> list[tuple[str, dict[str, Any]]]:
        seen.append(gc.isenabled())
        return PROFILES

    assert gc.isenabled()
    emit("user.created", objects)
    assert seen == [False] and gc.isenabled()

    def failing() -> list[tuple[str, dict[str, Any]]]:
        raise RuntimeError("render failed")

    with pytest.raises(RuntimeError):
        emit("user.created", failing)
    assert gc.isenabled()


@pytest.mark.usefixtures("insecure")
def test_fan_out_takes_consecutive_rows_together_in_one_transaction(django_assert_num_queries, monkeypatch):
    """Under load a delivery task finds a row per create: they are fanned out together, in the statements of one
    row (a look, then the turn, the take, the streams and two inserts in one transaction), in their order; a row
    larger than the group's size goes alone."""
    from events import fanout

    one, two = make_stream("one", types=("user.created", "user.updated")), make_stream("two")
    for index in range(12):
        emit("user.created" if index % 2 == 0 else "user.updated", lambda: [PROFILES[0]])
    turn = 1 if connection_vendor() == "postgresql" else 0  # an advisory lock (SQLite's write lock: none)
    # The look; SAVEPOINT and RELEASE (the test's transaction); the take, the streams and the two inserts.
    with django_assert_num_queries(1 + 2 + turn + 4):
        assert fan_out() == 12
    assert not PendingEvents.objects.exists()
    assert [d.event_type for d in Delivery.objects.filter(stream=one).order_by("pk")] == [
        "user.created",
        "user.updated",
    ] * 6
    assert Delivery.objects.filter(stream=two, event_type="user.created").count() == 6

    emit("user.created", lambda: PROFILES[:1])
    emit("user.created", lambda: PROFILES[:3])  # the large one
    emit("user.created", lambda: PROFILES[1:2])
    sizes = sorted(len(row.events) for row in PendingEvents.objects.all())
    monkeypatch.setattr(fanout, "_GROUP_SIZE", sizes[1] + sizes[0] - 1)  # two small rows fit; the large one alone
    taken: list[list[int]] = []
    real_groups = fanout._groups

    def groups(found: list[tuple[int, int | None]]) -> list[list[int]]:
        taken.extend(real_groups(found))
        return real_groups(found)

    monkeypatch.setattr(fanout, "_groups", groups)
    assert fan_out() == 5
    assert [len(group) for group in taken] == [1, 1, 1]
    assert [d.subject for d in Delivery.objects.filter(stream=one).order_by("pk")][12:] == [
        "auth0|a",
        "auth0|a",
        "auth0|b",
        "auth0|c",
        "auth0|b",
    ]


def test_fan_out_groups_at_most_the_row_limit(monkeypatch):
    from events import fanout

    monkeypatch.setattr(fanout, "_GROUP_ROWS", 3)
    assert fanout._groups([(pk, 10) for pk in range(1, 8)]) == [[1, 2, 3], [4, 5, 6], [7]]
    assert fanout._groups([(1, 10), (2, 2 << 20), (3, 10), (4, None)]) == [[1], [2], [3, 4]]


def connection_vendor() -> str:
    from django.db import connection

    return connection.vendor
