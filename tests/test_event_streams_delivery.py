"""Event streams, the domain side: every user change through every entry point becomes a CloudEvent written in the
change's transaction and delivered by the worker to a real local HTTP receiver, signed (Standard Webhooks) and
authorised; retries, ordering, loss-free bulk, a killed worker, the SSRF guard, encrypted secrets."""

from __future__ import annotations

import base64
import html
import json
import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, urlsplit

import pytest
from django.contrib.admin.utils import quote as admin_quote  # the admin escapes "_" in ids: con_3F… is con?…
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks.webhooks import Webhook

from core.actors import SYSTEM
from events.delivery import disable_for_unreadable_secret
from events.errors import TooManyFailedDeliveries
from events.fanout import fan_out
from events.models import Delivery, DeliveryStatus, Event, EventStream, PendingEvents
from events.recovery import sweep_deliveries
from events.services import (
    WebhookAuthorization,
    create_event_stream,
    redeliver,
    send_test_event,
    signing_secret,
    update_event_stream,
)
from tests.helpers import SIGNUP, STRONG_PASSWORD, USERS, V1_USERS, run_import_job, user_url
from tests.receiver import Receiver, receiver
from users.models import User
from users.services import create_user

pytestmark = pytest.mark.django_db

TOKEN = "receiver-bearer-token"


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


def drain(
    run_tasks: Callable[[], int], hook: Receiver, count: int, rounds: int | None = None, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Run the ready tasks until the receiver has ``count`` requests (retries become ready after their backoff):
    ``rounds`` times when given (to show nothing more comes), else until ``timeout`` seconds have passed (a safety
    net for a loaded machine, not a measure)."""
    import time

    deadline = time.monotonic() + timeout
    done = 0
    while (done < rounds) if rounds is not None else (time.monotonic() < deadline):
        done += 1
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

    data: Any = {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}
    with pytest.raises(Abort), transaction.atomic():
        create_user(data=data, actor=SYSTEM)
        # Written in the transaction: the outbox row (its event, owed to the stream), and the tasks (delivery and
        # verification mail).
        assert PendingEvents.objects.count() == 1
        assert sorted(DBTaskResult.objects.values_list("task_path", flat=True)) == [
            "events.tasks.deliver_stream",
            "users.verification.deliver_verification_email",
        ]
        raise Abort
    assert (PendingEvents.objects.count(), DBTaskResult.objects.count()) == (0, 0)
    assert drain(run_tasks, hook, 1, rounds=3) == []
    assert (Event.objects.count(), Delivery.objects.count()) == (0, 0)

    create_user(data=data, actor=SYSTEM)  # the same create, committed, is delivered
    assert [e["type"] for e in drain(run_tasks, hook, 1)] == ["user.created"]


def test_no_stream_no_event(api, connection, run_tasks):
    api.post(
        USERS, {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}, format="json"
    )
    assert (PendingEvents.objects.count(), Event.objects.count(), Delivery.objects.count()) == (0, 0, 0)


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


# --- every entry point ----------------------------------------------------------------------------------------


def _only_event(run_tasks, hook, event_type: str) -> dict[str, Any]:
    events = drain(run_tasks, hook, 1)
    assert [e["type"] for e in events] == [event_type], events
    assert drain(run_tasks, hook, 2, rounds=3) == events  # exactly one
    return events[0]


def _profile(api, user_id: str) -> dict[str, Any]:
    response = api.get(user_url(user_id))
    assert response.status_code == 200
    return dict(response.json())


def test_a_signup_delivers_user_created(api, api_client, signup_app, stream, hook, run_tasks):
    body = {"client_id": signup_app.client_id, "connection": signup_app.connections.get().name}
    response = api_client.post(SIGNUP, {**body, "email": "ann@example.com", "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 200
    event = _only_event(run_tasks, hook, "user.created")
    user_id = event["data"]["object"]["user_id"]
    assert user_id == "auth0|" + response.json()["_id"]
    assert event["data"]["object"] == _profile(api, user_id)


def test_a_v1_create_delivers_user_created(api, connection, stream, hook, run_tasks):
    response = api.post(V1_USERS, {"email": "jane@example.com", "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 201
    event = _only_event(run_tasks, hook, "user.created")
    assert event["data"]["object"] == _profile(api, response.json()["id"])


def test_an_admin_create_delivers_user_created(api, admin_client, connection, stream, hook, run_tasks):
    form = {"email": "ann@example.com", "password": STRONG_PASSWORD, "user_metadata": "", "app_metadata": ""}
    assert admin_client.post(f"/admin/users/user/add/?connection={connection.pk}", form).status_code == 302
    event = _only_event(run_tasks, hook, "user.created")
    user = User.objects.get()
    assert event["data"]["object"] == _profile(api, user.user_id)


@pytest.mark.django_db(transaction=True)  # the importer writes from its own thread
def test_an_import_job_delivers_user_created_for_each_inserted_user(api, connection, stream, hook, run_tasks):
    users = [{"email": f"u{i}@example.com", "email_verified": True} for i in range(3)]
    run_import_job(api, connection.id, users)
    events = drain(run_tasks, hook, 3)
    assert sorted(e["data"]["object"]["email"] for e in events) == [u["email"] for u in users]
    assert {e["type"] for e in events} == {"user.created"}
    for event in events:  # rendered from the rows written, exactly as the API reads them back
        assert event["data"]["object"] == _profile(api, event["data"]["object"]["user_id"])


@pytest.mark.django_db(transaction=True)  # the importer writes from its own thread
def test_an_import_upsert_delivers_user_updated(api, connection, hook, run_tasks):
    run_import_job(api, connection.id, [{"email": "ann@example.com", "name": "Ann"}])
    make_stream(hook.url)
    run_import_job(api, connection.id, [{"email": "ann@example.com", "name": "Ann Lee"}], upsert=True)
    event = _only_event(run_tasks, hook, "user.updated")
    assert event["data"]["object"]["name"] == "Ann Lee"
    assert event["data"]["object"] == _profile(api, event["data"]["object"]["user_id"])


def test_a_password_change_ticket_delivers_user_updated(api, client, connection, new_user, hook, run_tasks):
    ann = new_user(verify_email=False)
    make_stream(hook.url)
    ticket = api.post("/api/v2/tickets/password-change", {"user_id": ann["user_id"]}, format="json").json()
    (token,) = parse_qs(urlsplit(ticket["ticket"]).query)["ticket"]
    data = {"ticket": token, "password": "N3w!Passw0rd-x", "password_confirmation": "N3w!Passw0rd-x"}
    assert client.post("/lo/reset", data).status_code == 200
    event = _only_event(run_tasks, hook, "user.updated")
    assert event["data"]["object"] == _profile(api, ann["user_id"])


def test_a_patch_and_a_delete_deliver_updated_then_deleted_in_order(api, connection, new_user, hook, run_tasks):
    ann = new_user(verify_email=False)
    make_stream(hook.url)
    assert api.patch(user_url(ann["user_id"]), {"name": "Ann Lee"}, format="json").status_code == 200
    updated_profile = _profile(api, ann["user_id"])
    assert api.delete(user_url(ann["user_id"])).status_code == 204
    events = drain(run_tasks, hook, 2)
    assert [e["type"] for e in events] == ["user.updated", "user.deleted"]
    assert events[0]["data"]["object"] == updated_profile
    assert events[1]["data"]["object"] == updated_profile  # the profile as it was when deleted


def _users_of(api, make_connection, count: int) -> tuple[Any, list[dict[str, Any]]]:
    """A new connection with ``count`` users (no mail), their profiles as the API reads them, and one user in
    another connection that must stay out of its events."""
    doomed = make_connection(name="doomed")
    users = [
        api.post(
            USERS,
            {"connection": doomed.name, "email": f"u{i}@example.com", "password": STRONG_PASSWORD,
             "verify_email": False},
            format="json",
        ).json()
        for i in range(count)
    ]  # fmt: skip
    assert all("user_id" in user for user in users), users
    return doomed, [_profile(api, user["user_id"]) for user in users]


def test_deleting_a_connection_delivers_user_deleted_for_each_of_its_users(
    api, connection, new_user, make_connection, hook, run_tasks
):
    new_user(verify_email=False)  # in another connection: not deleted, no event
    doomed, profiles = _users_of(api, make_connection, 3)
    make_stream(hook.url)
    assert api.delete(f"/api/v2/connections/{doomed.id}").status_code == 204
    events = drain(run_tasks, hook, 3)
    assert drain(run_tasks, hook, 4, rounds=3) == events  # exactly three
    assert {e["type"] for e in events} == {"user.deleted"}
    assert sorted((e["data"]["object"] for e in events), key=lambda o: o["user_id"]) == sorted(
        profiles, key=lambda o: o["user_id"]
    )  # each the profile as it was


def test_deleting_a_connection_in_the_admin_delivers_user_deleted(api, admin_client, make_connection, hook, run_tasks):
    doomed, profiles = _users_of(api, make_connection, 2)
    make_stream(hook.url, types=("user.deleted",))
    response = admin_client.post(f"/admin/connections/connection/{admin_quote(doomed.pk)}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not User.objects.filter(connection_id=doomed.pk).exists()
    events = drain(run_tasks, hook, 2)
    assert sorted(e["data"]["object"]["user_id"] for e in events) == sorted(p["user_id"] for p in profiles)
    assert {e["type"] for e in events} == {"user.deleted"}


def test_a_deleted_connections_users_events_are_written_in_bounded_batches(api, make_connection, hook, monkeypatch):
    import users.streams

    monkeypatch.setattr(users.streams, "DELETED_BATCH", 2)
    doomed, profiles = _users_of(api, make_connection, 5)
    make_stream(hook.url)
    assert api.delete(f"/api/v2/connections/{doomed.id}").status_code == 204
    rows = list(PendingEvents.objects.order_by("pk"))
    assert [len(json.loads(row.events)) for row in rows] == [2, 2, 1]
    assert sorted(e[1] for row in rows for e in json.loads(row.events)) == sorted(p["user_id"] for p in profiles)


def test_a_connection_deletion_that_rolls_back_leaves_no_event(api, make_connection, hook, monkeypatch):
    doomed, _profiles = _users_of(api, make_connection, 2)
    make_stream(hook.url)

    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("the deletion fails after the events were written")

    monkeypatch.setattr(type(doomed), "delete", fail)
    from connections.services import delete_connection

    with pytest.raises(RuntimeError):
        delete_connection(connection_id=doomed.id, actor=SYSTEM)
    assert (PendingEvents.objects.count(), User.objects.filter(connection_id=doomed.pk).count()) == (0, 2)


def test_deleting_a_connection_with_no_stream_for_user_deleted_reads_no_user(api, make_connection, hook, monkeypatch):
    import users.streams

    doomed, _profiles = _users_of(api, make_connection, 2)
    make_stream(hook.url, types=("user.created",))

    class Unread:
        objects = property(lambda self: pytest.fail("the users were read for events no stream wants"))

    monkeypatch.setattr(users.streams, "User", Unread())
    assert api.delete(f"/api/v2/connections/{doomed.id}").status_code == 204
    assert PendingEvents.objects.count() == 0


def test_only_subscribed_enabled_streams_get_deliveries(api, connection, hook, run_tasks):
    make_stream(hook.url, types=("user.deleted",))
    make_stream(hook.url, status="disabled")
    api.post(
        USERS, {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}, format="json"
    )
    assert (Event.objects.count(), Delivery.objects.count()) == (0, 0)


# --- failures ---------------------------------------------------------------------------------------------------


def test_retry_after_is_honoured_on_429(api, connection, hook, run_tasks):
    make_stream(hook.url)
    hook.answers = [(429, {"Retry-After": "120"}, 0.0)]
    api.post(
        USERS, {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}, format="json"
    )
    drain(run_tasks, hook, 1)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code == 429
    wait = (delivery.next_attempt_at - delivery.attempts.get().timestamp).total_seconds()
    assert 119 <= wait <= 121  # not the 0.01 s backoff this test configures
    assert drain(run_tasks, hook, 2, rounds=3) == hook.events()[:1]  # nothing before then


@pytest.mark.parametrize(
    "authorization",
    [
        WebhookAuthorization(method="bearer", token=TOKEN),
        WebhookAuthorization(method="basic", username="crm", password="receiver-basic-password"),
    ],
    ids=["bearer", "basic"],
)
def test_an_answer_echoing_the_request_leaves_no_credential_in_the_recorded_errors(
    api, scoped_client, admin_client, connection, insecure, run_tasks, authorization
):
    """A receiver's error page showing the request's headers: its Authorization (the token, or the basic pair in
    base64) was stored as the attempt's error, and listed by the deliveries API (``read:event_streams``) and the
    admin, which never show a stream's secret."""
    with receiver(default=(500, {}, 0.0), echo=True) as hook:
        stream = make_stream(hook.url, authorization=authorization)
        api.post(
            USERS,
            {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD},
            format="json",
        )
        run_tasks()
    delivery = Delivery.objects.get()
    assert delivery.last_error.startswith("HTTP 500: ") and "Authorization: B" in delivery.last_error
    assert "[redacted]" in delivery.last_error
    secrets = [TOKEN, "receiver-basic-password", base64.b64encode(b"crm:receiver-basic-password").decode()]
    listed = scoped_client("read:event_streams").get(f"/api/v2/event-streams/{stream.id}/deliveries")
    page = admin_client.get(f"/admin/events/delivery/{delivery.pk}/change/")
    assert (listed.status_code, page.status_code) == (200, 200)
    errors = [attempt.error_message for attempt in delivery.attempts.all()]
    for text in (delivery.last_error, *errors, listed.content.decode(), page.content.decode()):
        assert not [secret for secret in secrets if secret in text]


def test_an_answer_echoing_the_credentials_escaped_leaves_none_of_them_in_the_recorded_error(hook, run_tasks):
    """An echo need not be the header as sent: a PHP receiver's JSON writes the basic pair's ``/`` as ``\\/``,
    Python's its non-ASCII as ``\\u00e4``, an HTML page a password's quotes as ``&quot;``, a form or a URL
    percent-encodes it. Only the raw forms were redacted."""
    password = 'p\u00e4"ss/w\u00f6rd&?1'
    pair = base64.b64encode(f"crm:{password}".encode()).decode()
    assert "/" in pair
    echoes = [
        json.dumps(pair).replace("/", "\\/"),
        json.dumps(password),
        json.dumps(password, ensure_ascii=False).replace("/", "\\/"),
        html.escape(password),
        quote(password, safe=""),
        quote_plus(pair),
    ]
    stream = make_stream(
        hook.url, authorization=WebhookAuthorization(method="basic", username="crm", password=password)
    )
    hook.default, hook.body = (500, {}, 0.0), " ".join(echoes).encode()
    send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM)
    drain(run_tasks, hook, 2, rounds=5)
    delivery = Delivery.objects.get()
    assert delivery.last_error == "HTTP 500: " + " ".join(['"[redacted]"'] * 3 + ["[redacted]"] * 3)
    assert {attempt.error_message for attempt in delivery.attempts.all()} == {delivery.last_error}


def test_a_4xx_answer_fails_the_delivery_without_retrying(api, connection, hook, run_tasks):
    make_stream(hook.url)
    hook.default = (400, {}, 0.0)
    api.post(
        USERS, {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}, format="json"
    )
    drain(run_tasks, hook, 2, rounds=10)
    assert len(hook.received) == 1
    assert Delivery.objects.get().status == DeliveryStatus.FAILED


def test_an_answer_holding_a_nul_is_recorded_as_the_attempts_failure(connection, hook, run_tasks):
    # PostgreSQL's text refuses a NUL: the batch's record raised, and the event was sent again at each claim's lapse.
    stream = make_stream(hook.url)
    hook.default, hook.body = (400, {}, 0.0), b"bad\x00answer"
    send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM)
    drain(run_tasks, hook, 2, rounds=5)
    assert len(hook.received) == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.FAILED, "HTTP 400: bad\ufffdanswer")
    assert delivery.attempts.get().error_message == "HTTP 400: bad\ufffdanswer"


def test_an_answer_without_a_body_is_recorded_as_its_status_alone(connection, hook, run_tasks):
    # The deliveries list read "HTTP 401:" for a receiver refusing the token with an empty body.
    stream = make_stream(hook.url)
    hook.default, hook.body = (401, {}, 0.0), b""
    send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM)
    drain(run_tasks, hook, 2, rounds=5)
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.FAILED, "HTTP 401")
    assert delivery.attempts.get().error_message == "HTTP 401"


def test_a_retry_after_of_latin1_superscript_digits_is_no_delay_but_no_crash_either(connection, hook, run_tasks):
    # str.isdigit() takes "²" (a header's byte 0xB2, as http.client decodes it), float() does not: the task raised.
    stream = make_stream(hook.url)
    hook.answers = [(503, {"Retry-After": "\xb2"}, 0.0)]
    send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM)
    drain(run_tasks, hook, 2)
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [(a.status, a.http_status) for a in delivery.attempts.order_by("id")] == [
        ("failed", 503),
        ("delivered", 200),
    ]


def test_consecutive_failures_disable_the_stream_and_redeliver_queues_again(api, connection, hook, run_tasks):
    stream = make_stream(hook.url)
    hook.default = (410, {}, 0.0)
    with override_settings(EVENT_STREAMS_DISABLE_AFTER_FAILURES=3):
        for i in range(4):
            body = {"connection": connection.name, "email": f"u{i}@example.com", "password": STRONG_PASSWORD}
            assert api.post(USERS, body, format="json").status_code == 201
        drain(run_tasks, hook, 4, rounds=10)
    stream.refresh_from_db()
    assert (stream.status, stream.disabled_reason, stream.consecutive_failures) == ("disabled", "failures", 3)
    assert len(hook.received) == 3  # the fourth was not sent: the stream was disabled
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.FAILED}

    hook.default = (200, {}, 0.0)
    update_event_stream(stream_id=stream.id, status="enabled", actor=SYSTEM)
    assert redeliver(stream_id=stream.id, actor=SYSTEM) == 4
    drain(run_tasks, hook, 7)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    stream.refresh_from_db()
    assert (stream.status, stream.disabled_reason, stream.consecutive_failures) == ("enabled", "", 0)


def test_the_total_failure_limit_disables_the_stream_and_holds_it_until_redelivered(api, connection, hook, run_tasks):
    """Auth0: 5000 total failures disable a stream, which cannot be enabled again until the failure count drops
    under the limit; redelivering (allowed while disabled) drops it, and the redelivered events go out once it is
    enabled."""
    stream = make_stream(hook.url)
    hook.default = (410, {}, 0.0)  # refused for good: each delivery fails at its first attempt
    with override_settings(EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES=3, EVENT_STREAMS_DISABLE_AFTER_FAILURES=100):
        # A success between failures: never 3 in a row, so only the total can disable the stream.
        for i in range(2):
            body = {"connection": connection.name, "email": f"t{i}@example.com", "password": STRONG_PASSWORD}
            assert api.post(USERS, body, format="json").status_code == 201
        drain(run_tasks, hook, 2)
        hook.default = (200, {}, 0.0)
        ok = {"connection": connection.name, "email": "ok@example.com", "password": STRONG_PASSWORD}
        assert api.post(USERS, ok, format="json").status_code == 201
        drain(run_tasks, hook, 3)
        stream.refresh_from_db()
        assert (stream.status, stream.consecutive_failures) == ("enabled", 0)
        hook.default = (410, {}, 0.0)
        last = {"connection": connection.name, "email": "t2@example.com", "password": STRONG_PASSWORD}
        assert api.post(USERS, last, format="json").status_code == 201
        drain(run_tasks, hook, 4)
        stream.refresh_from_db()
        assert (stream.status, stream.disabled_reason) == ("disabled", "failures")
        assert Delivery.objects.filter(status=DeliveryStatus.FAILED).count() == 3

        with pytest.raises(TooManyFailedDeliveries):
            update_event_stream(stream_id=stream.id, status="enabled", actor=SYSTEM)

        hook.default = (200, {}, 0.0)
        assert redeliver(stream_id=stream.id, actor=SYSTEM) == 3  # allowed while disabled: they wait, pending
        drain(run_tasks, hook, 5, rounds=3)
        assert len(hook.received) == 4  # nothing is sent to a disabled stream
        update_event_stream(stream_id=stream.id, status="enabled", actor=SYSTEM)
        drain(run_tasks, hook, 7)
    assert len(hook.received) == 7
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_finished_deliveries_and_their_events_are_pruned_after_the_retention(stream, hook, run_tasks):
    from datetime import timedelta

    from django.utils import timezone

    from events.models import DeliveryAttempt
    from events.retention import prune_finished

    old, kept, owed = (send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM) for _ in "abc")
    drain(run_tasks, hook, 3)
    long_ago = timezone.now() - timedelta(days=8)
    Delivery.objects.filter(pk=old.pk).update(updated_at=long_ago)
    Event.objects.filter(pk=old.event_id).update(time=long_ago)
    # Pending (still owed) and old: never pruned.
    Delivery.objects.filter(pk=owed.pk).update(status=DeliveryStatus.PENDING, updated_at=long_ago)
    Event.objects.filter(pk=owed.event_id).update(time=long_ago)

    assert prune_finished() == (1, 1)

    assert set(Delivery.objects.values_list("pk", flat=True)) == {kept.pk, owed.pk}
    assert set(Event.objects.values_list("pk", flat=True)) == {kept.event_id, owed.event_id}
    assert not DeliveryAttempt.objects.filter(delivery_id=old.pk).exists()
    assert prune_finished() == (0, 0)


def test_a_test_event_is_delivered_with_its_purpose(stream, hook, run_tasks):
    delivery = send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM)
    (event,) = drain(run_tasks, hook, 1)
    assert event["id"] == delivery.event_id and event["a0purpose"] == "test" and event["type"] == "user.created"
    assert "user_id" in event["data"]["object"]


def test_a_test_event_waits_for_no_earlier_test_events_retry(stream, hook, run_tasks):
    # Test events are about no user: the one sent once the receiver is fixed is not held behind a failed one's retry.
    hook.answers = [(503, {}, 0.0)]
    with override_settings(EVENT_STREAMS_RETRY_BASE_SECONDS=600):
        failed = send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM)
        drain(run_tasks, hook, 1)
        fixed = send_test_event(stream_id=stream.id, event_type="user.created", actor=SYSTEM)
        events = drain(run_tasks, hook, 2)
    assert [event["id"] for event in events] == [failed.event_id, fixed.event_id]
    assert Delivery.objects.get(pk=failed.pk).status == DeliveryStatus.PENDING  # its retry is still minutes away
    assert Delivery.objects.get(pk=fixed.pk).status == DeliveryStatus.DELIVERED


# --- a secret no key opens --------------------------------------------------------------------------------------


def test_a_stream_whose_secrets_no_key_opens_is_disabled_and_its_deliveries_wait_for_new_ones(
    connection, stream, hook, run_tasks, scoped_client, settings, caplog
):
    """After a SECRET_KEY change without the old key in SECRET_KEY_FALLBACKS: one ERROR line and a disabled stream
    (not a task failing for ever), deliveries kept pending, the API still answering; sending the authorization
    again (which brings a new signing secret, shown once) and enabling the stream sends them."""
    streams_api = scoped_client("read:event_streams update:event_streams")
    old_signing_secret = signing_secret(stream)
    data: Any = {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}
    create_user(data=data, actor=SYSTEM)
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-without-the-old-one", []

    run_tasks()
    stream.refresh_from_db()
    assert (stream.status, stream.disabled_reason) == ("disabled", "undecryptable")
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempt_count, delivery.claimed_by) == (DeliveryStatus.PENDING, 0, "")
    assert not delivery.attempts.exists() and hook.received == []
    (logged,) = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert stream.id in logged.getMessage() and "webhook_authorization and signing_secret" in logged.getMessage()
    for secret in (TOKEN, old_signing_secret, stream.authorization_secret_encrypted):
        assert secret not in caplog.text
    Delivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    assert sweep_deliveries() == []  # not queued again: it waits for the operator
    assert run_tasks() == 0

    url = f"/api/v2/event-streams/{stream.id}"
    got = streams_api.get(url)
    assert (got.status_code, got.json()["status"]) == (200, "disabled")
    refused = streams_api.patch(url, {"status": "enabled"}, format="json")
    message = (
        "The event stream's stored webhook authorization can no longer be decrypted (the service's secret key "
        "changed): send destination.configuration.webhook_authorization with its token or password to enable it"
    )
    assert (refused.status_code, refused.json()) == (
        400,
        {
            "statusCode": 400,
            "error": "Bad Request",
            "message": message,
            "errorCode": "event_stream_secret_unreadable",
            "errors": [
                {
                    "field": "destination.configuration.webhook_authorization",
                    "code": "OBJECT_MISSING_REQUIRED_PROPERTY",
                    "message": message,
                }
            ],
        },
    )
    destination = {
        "type": "webhook",
        "configuration": {
            "webhook_endpoint": hook.url,
            "webhook_authorization": {"method": "bearer", "token": "a-new-token"},
        },
    }
    patched = streams_api.patch(url, {"destination": destination}, format="json")
    assert patched.status_code == 200, patched.json()
    new_signing_secret = patched.json()["signing_secret"]
    assert new_signing_secret.startswith("whsec_") and new_signing_secret != old_signing_secret
    enabled = streams_api.patch(url, {"status": "enabled"}, format="json")
    assert (enabled.status_code, enabled.json()["status"]) == (200, "enabled")
    assert "signing_secret" not in enabled.json()  # shown once

    (event,) = drain(run_tasks, hook, 1)
    (request,) = hook.received
    assert event["type"] == "user.created" and request.headers["authorization"] == "Bearer a-new-token"
    Webhook(new_signing_secret).verify(request.body, request.headers)
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_an_operators_disable_keeps_the_unreadable_secret_reason_until_the_authorization_is_sent_again(
    stream, settings
):
    """A PATCH of ``status: disabled`` (the admin's Disable) on a stream the worker disabled for an unreadable
    secret used to clear ``disabled_reason``: the admin's filter lost a stream that still cannot be enabled."""
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-without-the-old-one", []
    assert disable_for_unreadable_secret(stream.id, "no-claim", []) is not None
    update_event_stream(stream_id=stream.id, status="disabled", actor=SYSTEM)
    stream.refresh_from_db()
    assert (stream.status, stream.disabled_reason) == ("disabled", "undecryptable")
    new_token = WebhookAuthorization(method="bearer", token="a-new-token")
    update_event_stream(stream_id=stream.id, authorization=new_token, status="disabled", actor=SYSTEM)
    stream.refresh_from_db()
    assert (stream.status, stream.disabled_reason) == ("disabled", "")


def test_events_owed_to_a_stream_disabled_for_an_unreadable_secret_are_fanned_out_pending(
    connection, stream, hook, run_tasks, settings
):
    """Unlike a stream disabled after failures (whose pending deliveries fail), nothing fails here: events written
    before the disable but fanned out after it wait, pending, with the others."""
    data: Any = {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}
    create_user(data=data, actor=SYSTEM)  # owed to the stream, still in the outbox
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-without-the-old-one", []
    assert disable_for_unreadable_secret(stream.id, "no-claim", []) is not None
    assert fan_out() == 1
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.PENDING, "")
    update_event_stream(
        stream_id=stream.id,
        authorization=WebhookAuthorization(method="bearer", token="a-new-token"),
        status="enabled",
        actor=SYSTEM,
    )
    assert [event["type"] for event in drain(run_tasks, hook, 1)] == ["user.created"]
