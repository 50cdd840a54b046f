"""Races of the event streams on PostgreSQL (issue 16, review): concurrent writers whose events must keep the order
of the changes they describe, fan-outs racing the deletion of a stream or the worker's disable after failures,
an operator's discard of a held row racing another's release of it, and the deletion of a connection (its users'
user.deleted) racing changes, creates, ticket claims and imports of its users."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection as db
from django.db import connections, transaction
from django.db.models.signals import pre_delete
from django.test import override_settings
from django.utils import timezone

from connections.models import Connection
from connections.services import create_connection, delete_connection
from connections.signals import connection_deleting
from core.actors import SYSTEM
from events import delivery as delivery_module
from events import fanout
from events.delivery import Outcome, claim_due, record_attempts
from events.fanout import fan_out
from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, EventStream, EventType, PendingEvents
from events.outbox import emit
from events.retention import prune_finished
from events.services import (
    WebhookAuthorization,
    create_event_stream,
    delete_event_stream,
    discard_held_events,
    release_held_events,
    send_test_event,
)
from users.models import User
from users.services import create_user, delete_user
from users.streams import emit_user_event

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Str0ng!Passw0rd-1"


@pytest.fixture(autouse=True)
def postgresql_only() -> None:
    if db.vendor != "postgresql":
        pytest.skip("SQLite runs one write transaction at a time")


def make_stream(*types: str) -> EventStream:
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
        return create_event_stream(
            name="races",
            subscriptions=list(types),
            webhook_endpoint="http://127.0.0.1:9/events",
            authorization=WebhookAuthorization(method="bearer", token="t0ken"),
            actor=SYSTEM,
        )


def test_a_delete_racing_an_update_emits_user_deleted_after_user_updated(connection: Connection) -> None:
    make_stream(EventType.USER_UPDATED, EventType.USER_DELETED)
    data: Any = {"connection": connection.name, "email": "ann@example.com", "password": "Str0ng!Passw0rd-1"}
    user = create_user(data=data, actor=SYSTEM)
    locked = threading.Event()

    def update() -> None:
        try:
            with transaction.atomic():
                changed = User.objects.select_for_update().select_related("connection").get(pk=user.pk)
                locked.set()
                time.sleep(0.5)  # the delete starts meanwhile
                emit_user_event(EventType.USER_UPDATED, changed)
        finally:
            connections.close_all()

    updater = threading.Thread(target=update)
    updater.start()
    assert locked.wait(10)
    assert delete_user(user_id=user.user_id, actor=SYSTEM)
    updater.join()
    assert PendingEvents.objects.count() == 2
    fan_out()
    assert list(Delivery.objects.order_by("pk").values_list("event_type", flat=True)) == [
        "user.updated",
        "user.deleted",
    ]


def test_a_fan_out_racing_the_deletion_of_its_stream_leaves_the_stream_out() -> None:
    stream = make_stream(EventType.USER_CREATED)
    with transaction.atomic():
        emit("user.created", lambda: [("auth0|racer", {"user_id": "auth0|racer"})])
    deleting = threading.Event()

    def delete() -> None:
        try:
            with transaction.atomic():
                delete_event_stream(stream_id=stream.pk, actor=SYSTEM)
                deleting.set()
                time.sleep(0.5)  # the fan-out reads the stream (not deleted yet for it) meanwhile
        finally:
            connections.close_all()

    deleter = threading.Thread(target=delete)
    deleter.start()
    assert deleting.wait(10)
    assert fan_out() in (0, 1)  # once the stream is gone, its deliveries are not written (no foreign key error)
    deleter.join()
    assert (PendingEvents.objects.count(), Delivery.objects.count(), EventStream.objects.count()) == (0, 0, 0)


def test_a_redelivery_committing_while_retention_deletes_the_delivery_is_never_lost() -> None:
    stream = make_stream(EventType.USER_CREATED)
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
        delivery = send_test_event(stream_id=stream.pk, event_type="user.created", actor=SYSTEM)
    long_ago = timezone.now() - timedelta(days=30)
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.FAILED, updated_at=long_ago)
    redelivered: list[int] = []

    def redeliver_now() -> None:
        try:
            redelivered.append(Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PENDING))
        finally:
            connections.close_all()

    def redeliver_meanwhile(**kwargs: Any) -> None:
        """Between retention's choice of the delivery and its deletion, a redelivery makes it pending (owed)."""
        if not redelivered:
            thread = threading.Thread(target=redeliver_now)
            thread.start()
            thread.join(1)  # with the row locked, the redelivery waits for the deletion
            redelivered.append(0)

    pre_delete.connect(redeliver_meanwhile, sender=Delivery)
    try:
        prune_finished()
    finally:
        pre_delete.disconnect(redeliver_meanwhile, sender=Delivery)
    time.sleep(0.5)
    # Either the redelivery came first and the delivery stays, owed, or the deletion did and it found none.
    assert Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.PENDING).exists() == (redelivered[0] == 1)


def test_an_update_locks_its_user_alone_not_the_connection(connection: Connection) -> None:
    """Updates of different users of one connection do not wait on each other: the update locks the user's row
    only (``FOR UPDATE OF``), not the connection it reads along."""
    from users.services import update_user

    data: Any = {"connection": connection.name, "email": "bo@example.com", "password": "Str0ng!Passw0rd-1"}
    user = create_user(data=data, actor=SYSTEM)
    held, release = threading.Event(), threading.Event()

    def hold_the_connection() -> None:
        try:
            with transaction.atomic():
                Connection.objects.select_for_update().get(pk=connection.pk)  # another update's lock, say
                held.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_connection)
    holder.start()
    try:
        assert held.wait(10)
        with transaction.atomic():
            with db.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '500ms'")
            updated = update_user(user_id=user.user_id, data={"given_name": "Bo"}, actor=SYSTEM)
        assert updated.given_name == "Bo"
    finally:
        release.set()
        holder.join()


def _failing_outcome() -> Outcome:
    return Outcome(delivered=False, retryable=True, http_status=503, error="HTTP 503", duration_ms=1.0)


def _owed_event_and_a_failing_batch(stream: EventStream) -> tuple[str, list[Delivery]]:
    """A claimed delivery whose failure reaches the limit (1), and an event of the outbox owed to the stream."""
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
        send_test_event(stream_id=stream.pk, event_type="user.created", actor=SYSTEM)
    token = "racing-worker"
    batch = claim_due(stream.pk, token)
    assert len(batch) == 1
    with transaction.atomic():
        emit("user.created", lambda: [("auth0|racer", {"user_id": "auth0|racer"})])
    return token, batch


def _no_pending_delivery_on_the_disabled_stream(stream: EventStream) -> None:
    stream.refresh_from_db()
    assert (stream.status, stream.disabled_reason) == ("disabled", "failures")
    test_event_id = Delivery.objects.get(event__purpose="test").event_id  # a test event's subject is its own id
    assert sorted(Delivery.objects.values_list("subject", "status")) == [
        ("auth0|racer", DeliveryStatus.FAILED),
        (test_event_id, DeliveryStatus.FAILED),
    ]


@override_settings(EVENT_STREAMS_DISABLE_AFTER_FAILURES=1)
def test_a_fan_out_waits_for_the_workers_disable_and_writes_its_deliveries_failed() -> None:
    stream = make_stream(EventType.USER_CREATED)
    token, batch = _owed_event_and_a_failing_batch(stream)
    disabled = threading.Event()

    def disable() -> None:
        try:
            with transaction.atomic():
                record_attempts(stream.pk, token, batch, [_failing_outcome()])  # disables it, under its row lock
                disabled.set()
                time.sleep(0.5)  # the fan-out reads the stream meanwhile
        finally:
            connections.close_all()

    worker = threading.Thread(target=disable)
    worker.start()
    assert disabled.wait(10)
    fan_out()
    worker.join()
    _no_pending_delivery_on_the_disabled_stream(stream)


@override_settings(EVENT_STREAMS_DISABLE_AFTER_FAILURES=1)
def test_the_workers_disable_waits_for_a_fan_out_under_way_and_fails_what_it_wrote() -> None:
    stream = make_stream(EventType.USER_CREATED)
    token, batch = _owed_event_and_a_failing_batch(stream)
    reading, real_insert = threading.Event(), fanout.insert_rows

    def slow_insert(model: Any, *args: Any, **kwargs: Any) -> Any:
        if model is Event and not reading.is_set():
            reading.set()  # the stream was read: the worker disables it now
            time.sleep(0.5)
        return real_insert(model, *args, **kwargs)

    def disable() -> None:
        try:
            assert reading.wait(10)
            record_attempts(stream.pk, token, batch, [_failing_outcome()])
        finally:
            connections.close_all()

    worker = threading.Thread(target=disable)
    worker.start()
    with mock.patch.object(fanout, "insert_rows", slow_insert):
        fan_out()
    worker.join()
    _no_pending_delivery_on_the_disabled_stream(stream)


def test_a_stream_deleted_while_the_worker_records_its_batch_waits_for_it_without_a_deadlock() -> None:
    """The worker records a batch under the stream's row lock, then updates its deliveries; the deletion used to
    delete the deliveries first and the stream last: each waited for the other (PostgreSQL aborted one, the API's
    DELETE answering 503 or the worker's task failing). It takes the stream's lock first now, as the worker does."""
    stream = make_stream(EventType.USER_CREATED)
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
        send_test_event(stream_id=stream.pk, event_type="user.created", actor=SYSTEM)
    batch = claim_due(stream.pk, "racing-worker")
    recording, failures, real = threading.Event(), [], delivery_module._failed_fields

    def slow_failed_fields(*args: Any, **kwargs: Any) -> Any:
        recording.set()  # the attempt is inserted, the stream locked: the deletion starts meanwhile
        time.sleep(0.5)
        return real(*args, **kwargs)

    def record() -> None:
        try:
            with mock.patch.object(delivery_module, "_failed_fields", slow_failed_fields):
                record_attempts(stream.pk, "racing-worker", batch, [_failing_outcome()])
        except Exception as exc:  # the test reports it
            failures.append(exc)
        finally:
            connections.close_all()

    worker = threading.Thread(target=record)
    worker.start()
    assert recording.wait(10)
    with transaction.atomic():
        delete_event_stream(stream_id=stream.pk, actor=SYSTEM)
    worker.join()
    assert failures == []
    assert (EventStream.objects.count(), Delivery.objects.count(), DeliveryAttempt.objects.count()) == (0, 0, 0)


def test_racing_claims_of_a_stream_take_different_deliveries_without_waiting_on_each_other() -> None:
    """A claim locks the deliveries it picks ``FOR UPDATE SKIP LOCKED``: a second worker's claim passes them by
    instead of waiting for the first one's commit (updating rows picked without a lock, two claims could lock them
    in opposite orders and deadlock)."""
    from events.delivery import CLAIM_BATCH

    stream = make_stream(EventType.USER_CREATED)
    with transaction.atomic():
        emit("user.created", lambda: [(f"auth0|{n}", {"user_id": f"auth0|{n}"}) for n in range(2 * CLAIM_BATCH)])
    fan_out()
    first_claimed, release = threading.Event(), threading.Event()
    firsts: list[int] = []

    def claim_and_hold() -> None:
        try:
            with transaction.atomic():
                firsts.extend(d.pk for d in claim_due(stream.pk, "first"))
                first_claimed.set()
                release.wait(10)  # the rows stay locked until this commits
        finally:
            connections.close_all()

    first = threading.Thread(target=claim_and_hold)
    first.start()
    try:
        assert first_claimed.wait(10)
        with transaction.atomic():
            with db.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '500ms'")
            seconds = [d.pk for d in claim_due(stream.pk, "second")]
    finally:
        release.set()
        first.join()
    assert len(firsts) == len(seconds) == CLAIM_BATCH and not set(firsts) & set(seconds)


def test_a_discard_waiting_on_a_release_leaves_the_released_row() -> None:
    """Another operator releases a held row while a discard of it starts: the discard's ``DELETE`` waits for the
    release's row lock, then re-checks ``held_at`` on the committed row, and leaves it (its events are owed again)."""
    make_stream(EventType.USER_CREATED)
    with transaction.atomic():
        emit("user.created", lambda: [("auth0|racer", {"user_id": "auth0|racer"})])
    row = PendingEvents.objects.get()
    PendingEvents.objects.filter(pk=row.pk).update(held_at=timezone.now(), held_reason="builtins.ValueError at x.py:1")
    releasing = threading.Event()

    def release() -> None:
        try:
            with transaction.atomic():
                assert release_held_events(ids=[row.pk], actor=SYSTEM) == 1
                releasing.set()
                time.sleep(0.5)  # the discard starts meanwhile, and waits
        finally:
            connections.close_all()

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        assert releasing.wait(10)
        outcome = discard_held_events(ids=[row.pk], actor=SYSTEM)
    finally:
        releaser.join()
    assert (outcome.discarded, outcome.not_held) == ([], [row.pk])
    assert PendingEvents.objects.filter(pk=row.pk, held_at__isnull=True).exists()
    assert fan_out() == 1


# --- the deletion of a connection, which locks its users and writes each one's user.deleted ---------------------


@contextmanager
def _deleting(doomed: Connection) -> Iterator[dict[str, Any]]:
    """``delete_connection`` of ``doomed`` in another thread, held (as a connection with many users is held by their
    batches) once its users are locked and their events written, until the block ends; yields what it raised."""
    locked, release, outcome = threading.Event(), threading.Event(), {}

    def hold(**_kwargs: Any) -> None:  # connected after users.streams' receiver, so it runs after it
        locked.set()
        release.wait(10)

    def delete() -> None:
        try:
            delete_connection(connection_id=doomed.pk, actor=SYSTEM)
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    connection_deleting.connect(hold, dispatch_uid="tests.hold")
    deleter = threading.Thread(target=delete)
    deleter.start()
    try:
        assert locked.wait(10)
        yield outcome
    finally:
        release.set()
        deleter.join()
        connection_deleting.disconnect(dispatch_uid="tests.hold")


def _in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except Exception as exc:
            outcome["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _written() -> list[tuple[str, str]]:
    """(type, user id) of each event written, in the order the fan-out reads them."""
    return [(row.type, item[1]) for row in PendingEvents.objects.order_by("pk") for item in json.loads(row.events)]


def _doomed(count: int) -> tuple[Connection, list[User]]:
    doomed = create_connection(name="doomed", strategy="auth0", actor=SYSTEM)
    made = [
        create_user(data={"connection": "doomed", "email": f"u{n}@example.com", "password": PASSWORD}, actor=SYSTEM)
        for n in range(count)
    ]
    make_stream(EventType.USER_CREATED, EventType.USER_UPDATED, EventType.USER_DELETED)
    return doomed, made


def test_a_user_updated_while_its_connection_is_deleted_waits_and_is_not_found() -> None:
    from users.errors import UserNotFound
    from users.services import update_user

    doomed, (ann, bob) = _doomed(2)
    with _deleting(doomed) as deletion:
        updater, updated = _in_thread(lambda: update_user(user_id=ann.user_id, data={"name": "A"}, actor=SYSTEM))
        time.sleep(0.3)  # it waits for ann's row
    updater.join()
    assert "error" not in deletion and isinstance(updated.get("error"), UserNotFound), (deletion, updated)
    assert sorted(_written()) == sorted(("user.deleted", user.user_id) for user in (ann, bob))


def test_a_user_created_while_its_connection_is_deleted_is_inexistent_connection_and_no_event() -> None:
    from connections.errors import ConnectionNotFound

    doomed, (ann,) = _doomed(1)
    data: Any = {"connection": "doomed", "email": "late@example.com", "password": PASSWORD}
    with _deleting(doomed) as deletion:
        creator, created = _in_thread(lambda: create_user(data=data, actor=SYSTEM))
        time.sleep(0.3)  # its insert's foreign key check waits for the connection's row
    creator.join()
    assert "error" not in deletion and isinstance(created.get("error"), ConnectionNotFound), (deletion, created)
    assert _written() == [("user.deleted", ann.user_id)]
    assert not User.objects.exists()


def test_a_ticket_opened_while_its_connection_is_deleted_is_refused_without_a_deadlock() -> None:
    """The claim marked the ticket used, then waited for the user's row, which the deletion holds while it goes on
    to delete the user's tickets: each waited for the other (PostgreSQL's "deadlock detected" for one of them)."""
    from users.errors import TicketRejected, TicketRejection
    from users.tickets import TicketPurpose, issue_ticket, verify_email

    doomed, (ann,) = _doomed(1)
    link = issue_ticket(user=ann, purpose=TicketPurpose.EMAIL_VERIFICATION, actor=SYSTEM)
    (token,) = parse_qs(urlsplit(link).query)["ticket"]
    with _deleting(doomed) as deletion:
        opener, opened = _in_thread(lambda: verify_email(token=token, actor=SYSTEM))
        time.sleep(0.3)  # it waits for ann's row
    opener.join()
    assert "error" not in deletion, deletion
    assert isinstance(opened.get("error"), TicketRejected), opened
    assert opened["error"].reason == TicketRejection.USED
    assert _written() == [("user.deleted", ann.user_id)]


def test_a_ticket_asked_for_while_its_connection_is_deleted_is_user_not_found() -> None:
    """The ticket's insert waited, at commit, for the user's row the deletion holds, then failed its foreign key: an
    IntegrityError, a 500 at ``POST /api/v2/tickets/password-change`` and at the public change_password."""
    from users.errors import UserNotFound
    from users.tickets import create_password_change_ticket, request_password_reset

    doomed, (ann,) = _doomed(1)
    with _deleting(doomed) as deletion:
        asker, asked = _in_thread(lambda: create_password_change_ticket(data={"user_id": ann.user_id}, actor=SYSTEM))
        requester, requested = _in_thread(
            lambda: request_password_reset(email="u0@example.com", connection=doomed, actor=SYSTEM)
        )
        time.sleep(0.3)  # both wait for ann's row
    asker.join()
    requester.join()
    assert "error" not in deletion, deletion
    assert isinstance(asked.get("error"), UserNotFound), asked
    assert requested == {"value": False}  # as for an unknown address
    assert _written() == [("user.deleted", ann.user_id)]


def test_an_upsert_import_batch_and_the_deletion_of_its_connection_wait_for_each_other_without_a_deadlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch locked the users it upserts, then, at commit, the connection's row for its new users' foreign keys;
    the deletion holds that row and waits for those users: PostgreSQL's "deadlock detected", a 503 for the DELETE."""
    import io

    from users.imports import import_users
    from users.imports import importer as importer_module

    doomed, (ann,) = _doomed(1)
    batch_written = threading.Event()
    emit_imported = importer_module.emit_imported

    def emit_then_linger(*args: Any, **kwargs: Any) -> None:  # the batch's last step before its commit
        emit_imported(*args, **kwargs)
        batch_written.set()
        time.sleep(0.5)  # the deletion starts meanwhile

    monkeypatch.setattr(importer_module, "emit_imported", emit_then_linger)
    rows = json.dumps([{"email": "u0@example.com", "name": "Ann"}, {"email": "new@example.com"}]).encode()
    importer, imported = _in_thread(
        lambda: import_users(io.BytesIO(rows), connection=doomed, actor=SYSTEM, upsert=True, pipelined=False)
    )
    assert batch_written.wait(10)
    deleter, deleted = _in_thread(lambda: delete_connection(connection_id=doomed.pk, actor=SYSTEM))
    importer.join()
    deleter.join()
    assert "error" not in imported and "error" not in deleted, (imported, deleted)
    assert (imported["value"].inserted, imported["value"].updated) == (1, 1)
    written = _written()
    (created,) = [user_id for kind, user_id in written if kind == "user.created"]
    assert written[:2] == [("user.created", created), ("user.updated", ann.user_id)]  # the batch's, first
    assert sorted(written[2:]) == sorted([("user.deleted", ann.user_id), ("user.deleted", created)])
    assert not User.objects.exists()


def test_an_import_job_asked_for_while_its_connection_is_deleted_is_inexistent_connection() -> None:
    """The job's insert waited, at commit, for the connection's row the deletion holds, then failed its foreign key:
    an IntegrityError, a 500 at ``POST /api/v2/jobs/users-imports``."""
    from connections.errors import ConnectionNotFound
    from jobs.models import Job
    from jobs.serializers import ImportUsersRequest
    from jobs.services import create_import_job

    doomed, (ann,) = _doomed(1)
    request = ImportUsersRequest(
        users=b'[{"email": "new@example.com"}]',
        file_name="users.json",
        connection_id=doomed.pk,
        upsert=False,
        external_id="",
        send_completion_email=False,
    )
    with _deleting(doomed) as deletion:
        asker, asked = _in_thread(lambda: create_import_job(request=request, actor=SYSTEM))
        time.sleep(0.3)  # it waits for the connection's row
    asker.join()
    assert "error" not in deletion, deletion
    assert isinstance(asked.get("error"), ConnectionNotFound), asked
    assert not Job.objects.exists()
    assert _written() == [("user.deleted", ann.user_id)]


# --- the deletion of a connection with many users, in the background (connections.deletion) --------------------


def _marked(count: int, settings: Any) -> tuple[Connection, list[User]]:
    """``_doomed(count)``, its deletion accepted (202: the threshold is below ``count``), its task not run."""
    from connections.services import ConnectionDeletion

    settings.CONNECTION_DELETE_SYNC_MAX_USERS = count - 1
    doomed, made = _doomed(count)
    assert delete_connection(connection_id=doomed.pk, actor=SYSTEM) is ConnectionDeletion.STARTED
    return doomed, made


def test_a_user_updated_while_its_batch_is_deleted_in_the_background_gets_user_updated_first(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch locks its users before it writes their events: a change holding a user's row commits first, its
    user.updated before the user.deleted, which carries the changed profile."""
    import users.services
    from connections.deletion import finish_connection_deletion
    from users.services import update_user

    doomed, (ann, bob) = _marked(2, settings)
    written_before = len(_written())
    locked = threading.Event()
    emit_user_event_now = users.services.emit_user_event

    def emit_then_hold(event_type: EventType, user: User) -> None:  # inside the change's transaction, the row locked
        emit_user_event_now(event_type, user)
        locked.set()
        time.sleep(0.5)  # the task's batch starts meanwhile and waits for ann's row

    monkeypatch.setattr(users.services, "emit_user_event", emit_then_hold)
    updater, updated = _in_thread(lambda: update_user(user_id=ann.user_id, data={"name": "Ann Late"}, actor=SYSTEM))
    assert locked.wait(10)
    assert finish_connection_deletion.call(doomed.pk) == "deleted"
    updater.join()
    assert "error" not in updated, updated
    written = _written()[written_before:]
    assert written.index(("user.updated", ann.user_id)) < written.index(("user.deleted", ann.user_id))
    assert sorted(kind for kind in written if kind[0] == "user.deleted") == sorted(
        ("user.deleted", user.user_id) for user in (ann, bob)
    )
    deleted = next(
        item[2]
        for row in PendingEvents.objects.filter(type="user.deleted")
        for item in json.loads(row.events)
        if item[1] == ann.user_id
    )
    assert deleted["name"] == "Ann Late"  # the profile as it was last


def test_two_runs_of_the_deletion_at_once_delete_each_user_once(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A task made ready again while its first run still went on (a worker thought dead): the second run's batch
    waits for the first's locks and then skips the users it deleted; one of them deletes the row."""
    from connections import deletion
    from connections.deletion import finish_connection_deletion
    from connections.signals import connection_users_deleting

    monkeypatch.setattr(deletion, "BATCH_USERS", 2)
    doomed, made = _marked(5, settings)
    written_before = len(_written())
    first_batch, go_on = threading.Event(), threading.Event()

    def hold_the_first_batch(**_kwargs: Any) -> None:
        if not first_batch.is_set():
            first_batch.set()
            go_on.wait(10)

    connection_users_deleting.connect(hold_the_first_batch, dispatch_uid="tests.hold")
    try:
        first, first_outcome = _in_thread(lambda: finish_connection_deletion.call(doomed.pk))
        assert first_batch.wait(10)
        second, second_outcome = _in_thread(lambda: finish_connection_deletion.call(doomed.pk))
        time.sleep(0.3)  # the second run waits for the first batch's users
        go_on.set()
        first.join(10)
        second.join(10)
    finally:
        go_on.set()
        connection_users_deleting.disconnect(dispatch_uid="tests.hold")
    outcomes = sorted([first_outcome.get("value"), second_outcome.get("value")], key=str)
    assert outcomes == ["deleted", "gone"], (first_outcome, second_outcome)  # the other found the row gone
    deleted = [user_id for kind, user_id in _written()[written_before:] if kind == "user.deleted"]
    assert sorted(deleted) == sorted(user.user_id for user in made)  # each once
    assert not Connection.all_objects.filter(pk=doomed.pk).exists() and not User.objects.exists()


def test_a_create_committing_while_the_deletion_holds_the_connection_is_inexistent_connection(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A create that read the connection before the 202 and commits while the task's last transaction holds the
    connection's row: its foreign key check waits for that lock, then fails (400 inexistent_connection), as for a
    connection deleted in the request; no user is left behind, no event for it."""
    import users.services
    from connections.deletion import finish_connection_deletion
    from connections.errors import ConnectionNotFound

    settings.CONNECTION_DELETE_SYNC_MAX_USERS = 0
    doomed, (ann,) = _doomed(1)
    read, holding = threading.Event(), threading.Event()
    hash_password = users.services.hash_password

    def hash_once_the_deletion_holds_the_row(password: str) -> str:
        read.set()  # the create has read the connection (before the 202)
        assert holding.wait(10)
        return hash_password(password)

    def hold(sender: Any, **_kwargs: Any) -> None:  # the last transaction, the connection's row locked
        if sender is Connection:
            holding.set()
            time.sleep(0.5)  # the create inserts and commits meanwhile: its foreign key check waits

    monkeypatch.setattr(users.services, "hash_password", hash_once_the_deletion_holds_the_row)
    data: Any = {"connection": "doomed", "email": "late@example.com", "password": PASSWORD}
    creator, created = _in_thread(lambda: create_user(data=data, actor=SYSTEM))
    assert read.wait(10)
    delete_connection(connection_id=doomed.pk, actor=SYSTEM)  # 202: marked
    pre_delete.connect(hold, dispatch_uid="tests.hold")
    try:
        deleter, deleted = _in_thread(lambda: finish_connection_deletion.call(doomed.pk))
        creator.join(10)
        deleter.join(10)
    finally:
        holding.set()
        pre_delete.disconnect(dispatch_uid="tests.hold")
    assert deleted == {"value": "deleted"}, deleted
    assert isinstance(created.get("error"), ConnectionNotFound), created
    assert not User.objects.exists() and not Connection.all_objects.exists()
    assert _written() == [("user.deleted", ann.user_id)]  # none for the refused create
