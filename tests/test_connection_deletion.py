"""Deleting a connection with many users (Auth0's 202, "The connection is being deleted."): at most
``CONNECTION_DELETE_SYNC_MAX_USERS`` users are deleted in the request (204); a larger connection is marked and gone
at once for every reader and writer, as an unknown one is, while the worker's task deletes its users in batches, each
with its ``user.deleted`` events, then the row; the task resumes where a failed or killed run stopped, and never
writes an event twice. The threshold is 3 here. Races on PostgreSQL are in ``test_event_streams_races.py``."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from audit.models import Event as AuditEvent
from clients.models import Client
from clients.services import create_client, update_client
from connections import deletion
from connections.deletion import finish_connection_deletion
from connections.models import Connection
from connections.signals import connection_users_deleting
from core.actors import SYSTEM
from core.errors import PayloadValidationError
from events.fanout import fan_out
from events.models import Event, PendingEvents
from events.services import WebhookAuthorization, create_event_stream
from tests.helpers import (
    CONNECTION_NOT_FOUND,
    CONNECTIONS,
    SIGNUP,
    STRONG_PASSWORD,
    USER_NOT_FOUND,
    USERS,
    V1_USERS,
    connection_url,
    management_error,
    user_url,
)
from users.imports import ImportConnectionError, import_users
from users.models import User
from users.services import create_user
from users.tickets import TicketPurpose, issue_ticket
from users.verification import verification_link

pytestmark = pytest.mark.django_db

DOOMED = "Doomed"
PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"


@pytest.fixture(autouse=True)
def threshold(settings: Any) -> None:
    settings.CONNECTION_DELETE_SYNC_MAX_USERS = 3


def _fill(name: str, count: int, start: int = 0) -> list[User]:
    return [
        create_user(
            data={"connection": name, "email": f"u{n}@example.com", "password": STRONG_PASSWORD, "verify_email": False},
            actor=SYSTEM,
        )
        for n in range(start, start + count)
    ]


def _stream() -> None:
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
        create_event_stream(
            name="crm",
            subscriptions=["user.created", "user.updated", "user.deleted"],
            webhook_endpoint="http://127.0.0.1:9/events",
            authorization=WebhookAuthorization(method="bearer", token="t0ken"),
            actor=SYSTEM,
        )


def _written(kind: str = "user.deleted") -> list[str]:
    """The user ids of the ``kind`` events written, sorted: those the worker fanned out already (``Event``) and
    those still in the outbox."""
    fan_out()
    return sorted(Event.objects.filter(type=kind).values_list("subject", flat=True))


def _deletion_tasks(status: str | None = None) -> list[DBTaskResult]:
    tasks = DBTaskResult.objects.filter(task_path=finish_connection_deletion.module_path)
    return list(tasks.filter(status=status) if status else tasks)


@pytest.fixture
def app(make_connection: Callable[..., Connection]) -> tuple[Client, str]:
    """A client with a secret, enabled for the connection the tests delete (``DOOMED``)."""
    make_connection(name=DOOMED)
    return create_client(name="app", scopes="read:users", connections=[DOOMED], actor=SYSTEM)


@pytest.fixture
def doomed(api: Any, app: tuple[Client, str]) -> Connection:
    """``DOOMED`` with four users (one over the threshold), its DELETE answered 202: being deleted, task not run."""
    connection = Connection.objects.get(name=DOOMED)
    _fill(DOOMED, 4)
    response = api.delete(connection_url(connection.id))
    assert response.status_code == 202, response.content
    return Connection.all_objects.get(pk=connection.pk)


# --- the two answers ---------------------------------------------------------------------------------------------


def test_a_connection_with_at_most_the_threshold_of_users_is_deleted_in_the_request(api, make_connection):
    connection = make_connection(name=DOOMED)
    _fill(DOOMED, 3)
    response = api.delete(connection_url(connection.id))
    assert (response.status_code, response.content) == (204, b"")
    assert not Connection.all_objects.exists() and not User.objects.exists()
    assert _deletion_tasks() == []


def test_a_larger_connection_is_answered_202_marked_and_its_task_queued_in_the_request(api, make_connection):
    connection = make_connection(name=DOOMED)
    users = _fill(DOOMED, 4)
    before = timezone.now()
    response = api.delete(connection_url(connection.id))
    assert (response.status_code, response.content) == (202, b"")
    marked = Connection.all_objects.get(pk=connection.pk)
    assert marked.deletion_requested_at is not None and marked.deletion_requested_at >= before
    assert User.objects.count() == len(users)  # the worker deletes them
    (queued,) = _deletion_tasks()
    assert (queued.status, queued.args_kwargs) == ("READY", {"args": [connection.pk], "kwargs": {}})
    (logged,) = AuditEvent.objects.filter(description="Delete a Connection")
    assert (logged.connection_id, logged.details) == (connection.pk, {"users_deleted": 4, "in_background": True})


def test_the_task_deletes_every_user_with_one_user_deleted_event_each_in_batches_then_the_connection(
    api, make_connection, run_tasks, monkeypatch
):
    monkeypatch.setattr(deletion, "BATCH_USERS", 2)
    kept = make_connection(name="Kept")
    (bystander,) = _fill("Kept", 1, start=100)
    connection = make_connection(name=DOOMED)
    users = _fill(DOOMED, 5)
    _stream()
    assert api.delete(connection_url(connection.id)).status_code == 202
    assert not PendingEvents.objects.filter(type="user.deleted").exists()  # nothing is deleted in the request
    assert finish_connection_deletion.call(connection.pk) == "deleted"
    assert not Connection.all_objects.filter(pk=connection.pk).exists()
    assert list(User.objects.all()) == [bystander] and Connection.objects.get() == kept
    rows = PendingEvents.objects.filter(type="user.deleted").order_by("pk")
    assert [len(json.loads(row.events)) for row in rows] == [2, 2, 1]  # one outbox row per batch
    assert _written() == sorted(user.user_id for user in users)


def test_the_worker_runs_the_task_queued_by_the_202(doomed, run_tasks):
    run_tasks()
    assert not Connection.all_objects.filter(pk=doomed.pk).exists() and not User.objects.exists()
    (finished,) = _deletion_tasks()
    assert (finished.status, finished.return_value) == ("SUCCESSFUL", "deleted")


def test_each_events_profile_is_the_user_as_it_was(api, doomed):
    _stream()
    profiles = {user.user_id: api.get(f"{USERS}/{user.user_id}").json() for user in User.objects.all()}
    finish_connection_deletion.call(doomed.pk)
    fan_out()
    assert {e.subject: e.data["object"] for e in Event.objects.filter(type="user.deleted")} == profiles


def test_the_audit_log_says_when_the_deletion_began_and_when_it_ended(api, doomed):
    users = User.objects.count()
    finish_connection_deletion.call(doomed.pk)
    deleting = AuditEvent.objects.filter(connection_id=doomed.pk, description__startswith="Delete a Connection")
    began, ended = deleting.order_by("date", "pk")
    assert (began.description, began.details) == (
        "Delete a Connection",
        {"users_deleted": users, "in_background": True},
    )
    assert ended.description == "Delete a Connection (finished in the background)"
    assert (ended.actor_kind, ended.connection) == ("system", doomed.name)
    assert ended.details == {"in_background": True, "users_deleted_last_run": users}


def test_the_task_leaves_a_connection_not_being_deleted_alone(make_connection):
    connection = make_connection(name="Alive")
    _fill("Alive", 2)
    assert finish_connection_deletion.call(connection.pk) == "gone"
    assert Connection.objects.filter(pk=connection.pk).exists() and User.objects.count() == 2


# --- resumable and idempotent ------------------------------------------------------------------------------------


def test_a_task_run_twice_deletes_each_user_once(doomed):
    _stream()
    assert finish_connection_deletion.call(doomed.pk) == "deleted"
    assert finish_connection_deletion.call(doomed.pk) == "gone"
    assert len(_written()) == len(set(_written())) == 4


def test_a_run_failing_after_a_batch_is_retried_and_the_next_run_deletes_the_rest_without_duplicates(
    doomed, monkeypatch
):
    monkeypatch.setattr(deletion, "BATCH_USERS", 2)
    _stream()
    users = sorted(User.objects.all(), key=lambda user: user.pk)
    calls: list[int] = []

    def fail_on_the_second_batch(**_kwargs: Any) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the database went away mid-deletion")

    connection_users_deleting.connect(fail_on_the_second_batch, dispatch_uid="test.fail")
    try:
        assert finish_connection_deletion.call(doomed.pk) == "retrying"
    finally:
        connection_users_deleting.disconnect(dispatch_uid="test.fail")
    # The first batch is gone with its events; the second rolled back, events and all.
    assert _written() == sorted(user.user_id for user in users[:2])
    assert list(User.objects.order_by("pk")) == users[2:]
    assert Connection.all_objects.filter(pk=doomed.pk).exists()
    retry = [task for task in _deletion_tasks("READY") if task.args_kwargs["kwargs"] == {"attempt": 2}]
    assert len(retry) == 1 and retry[0].run_after > timezone.now()  # after a backoff

    assert finish_connection_deletion.call(doomed.pk, attempt=2) == "deleted"
    assert _written() == sorted(user.user_id for user in users)  # each once
    assert not Connection.all_objects.filter(pk=doomed.pk).exists() and not User.objects.exists()


def test_a_run_that_keeps_failing_gives_up_after_its_attempts_and_a_new_delete_queues_it_again(
    api, doomed, monkeypatch
):
    def fail(**_kwargs: Any) -> None:
        raise RuntimeError("always")

    connection_users_deleting.connect(fail, dispatch_uid="test.fail")
    try:
        with pytest.raises(RuntimeError):
            finish_connection_deletion.call(doomed.pk, attempt=deletion.MAX_ATTEMPTS)
    finally:
        connection_users_deleting.disconnect(dispatch_uid="test.fail")
    DBTaskResult.objects.filter(task_path=finish_connection_deletion.module_path).update(status="FAILED")
    assert api.delete(connection_url(doomed.pk)).status_code == 202
    assert len(_deletion_tasks("READY")) == 1


def test_a_task_left_running_by_a_killed_worker_is_recovered_and_finishes_without_duplicates(
    doomed, run_tasks, monkeypatch, settings
):
    monkeypatch.setattr(deletion, "BATCH_USERS", 2)
    _stream()
    first_batch = sorted(User.objects.all(), key=lambda user: user.pk)[:2]
    # The dead worker committed its first batch, then was killed: its task stayed RUNNING under it.
    with transaction.atomic():
        deletion._delete_users(doomed)
    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 60)
    DBTaskResult.objects.filter(task_path=finish_connection_deletion.module_path).update(
        status="RUNNING", started_at=long_ago, worker_ids=["dead-worker"]
    )
    assert _written() == sorted(user.user_id for user in first_batch)
    run_tasks()  # a worker starting makes the dead worker's task ready again (recover_orphaned_tasks), then runs it
    assert [task.status for task in _deletion_tasks()] == ["SUCCESSFUL"]
    assert len(_written()) == len(set(_written())) == 4
    assert not Connection.all_objects.filter(pk=doomed.pk).exists() and not User.objects.exists()


def test_a_run_ends_its_turn_and_queues_the_rest_as_a_new_task(doomed, monkeypatch, run_tasks):
    """The worker runs one task at a time: a deletion of many users gives the mails and deliveries queued meanwhile
    their turn after each of its own."""
    monkeypatch.setattr(deletion, "BATCH_USERS", 2)
    monkeypatch.setattr(deletion, "TURN_SECONDS", 0)
    _stream()
    DBTaskResult.objects.filter(task_path=finish_connection_deletion.module_path).delete()  # run here instead
    assert finish_connection_deletion.call(doomed.pk) == "continuing"
    assert User.objects.count() == 2 and len(_written()) == 2
    (queued,) = _deletion_tasks("READY")
    assert queued.args_kwargs == {"args": [doomed.pk], "kwargs": {}}
    for _turn in range(3):
        run_tasks()
    assert not Connection.all_objects.filter(pk=doomed.pk).exists() and not User.objects.exists()
    assert len(_written()) == len(set(_written())) == 4
    assert [task.return_value for task in _deletion_tasks()].count("deleted") == 1


# --- a repeated DELETE, and the name -----------------------------------------------------------------------------


def test_a_repeated_delete_answers_202_again_and_queues_no_second_task(api, doomed):
    response = api.delete(connection_url(doomed.pk))
    assert (response.status_code, response.content) == (202, b"")
    assert len(_deletion_tasks()) == 1
    assert AuditEvent.objects.filter(description="Delete a Connection").count() == 1


def test_the_name_is_a_conflict_until_the_deletion_finished(api, doomed, run_tasks):
    body = {"name": DOOMED, "strategy": "auth0"}
    response = api.post(CONNECTIONS, body, format="json")
    assert response.status_code == 409
    assert response.json() == management_error(
        409, "A connection with the same name already exists", "connection_conflict"
    )
    run_tasks()
    assert api.post(CONNECTIONS, body, format="json").status_code == 201


# --- gone for every reader and writer, as an unknown connection ---------------------------------------------------


def test_get_and_patch_of_a_connection_being_deleted_are_404(api, doomed):
    for response in (
        api.get(connection_url(doomed.pk)),
        api.patch(connection_url(doomed.pk), {"options": {}}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json() == CONNECTION_NOT_FOUND


def test_the_list_and_its_filters_leave_a_connection_being_deleted_out(api, doomed, make_connection):
    other = make_connection(name="Other")

    def ids(query: str) -> list[str]:
        response = api.get(f"{CONNECTIONS}{query}")
        assert response.status_code == 200, response.json()
        body = response.json()
        listed = body if isinstance(body, list) else body["connections"]
        return [connection["id"] for connection in listed]

    assert ids("") == [other.pk]
    assert ids(f"?name={DOOMED}") == []
    assert ids("?strategy=auth0") == [other.pk]
    assert ids("?take=10") == [other.pk]
    assert api.get(f"{CONNECTIONS}?include_totals=true").json()["total"] == 1


def test_creating_a_user_in_it_is_inexistent_connection(api, doomed):
    body = {"connection": DOOMED, "email": "new@example.com", "password": STRONG_PASSWORD}
    response = api.post(USERS, body, format="json")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "inexistent_connection"
    assert not User.objects.filter(email="new@example.com").exists()


def test_signing_up_in_it_is_refused_as_for_an_unknown_connection(api_client, doomed, app):
    client, _secret = app
    body = {"client_id": client.client_id, "connection": DOOMED, "email": "new@example.com"}
    response = api_client.post(SIGNUP, {**body, "password": STRONG_PASSWORD}, format="json")
    unknown = api_client.post(SIGNUP, {**body, "connection": "Nope", "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 400
    assert response.json() == unknown.json()
    assert response.json()["description"] == "The connection does not exist."


def test_v1_users_in_it_is_refused_as_for_an_unknown_connection(api, doomed, settings):
    body = {"email": "new@example.com", "password": STRONG_PASSWORD}
    settings.V1_USERS_CONNECTION = DOOMED
    response = api.post(V1_USERS, body, format="json")
    settings.V1_USERS_CONNECTION = "Nope"
    unknown = api.post(V1_USERS, body, format="json")
    assert response.status_code == unknown.status_code
    assert response.json() == unknown.json()
    assert not User.objects.filter(email="new@example.com").exists()


def test_an_import_job_into_it_is_inexistent_connection(api, doomed):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("users.json", b'[{"email": "new@example.com"}]', content_type="application/json")
    response = api.post("/api/v2/jobs/users-imports", {"connection_id": doomed.pk, "users": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "inexistent_connection"


def test_an_import_under_way_stops_at_its_next_batch(doomed):
    with pytest.raises(ImportConnectionError):
        import_users(io.BytesIO(b'[{"email": "new@example.com"}]'), connection=doomed, actor=SYSTEM, pipelined=False)
    assert not User.objects.filter(email="new@example.com").exists()


def test_the_admin_does_not_offer_it_for_a_new_user(admin_client, doomed):
    page = admin_client.get(f"/admin/users/user/add/?connection={doomed.pk}")
    assert page.status_code == 200
    assert "Choose a connection" in page.text and doomed.pk not in page.text  # step one again, without it


def test_tickets_for_its_users_are_refused_as_for_unknown_ones(api, doomed):
    user = User.objects.order_by("pk").first()
    assert user is not None
    for path, body, expected in (
        ("/api/v2/tickets/password-change", {"user_id": user.user_id}, USER_NOT_FOUND),
        ("/api/v2/tickets/email-verification", {"user_id": user.user_id}, USER_NOT_FOUND),
        ("/api/v2/tickets/password-change", {"email": user.email, "connection_id": doomed.pk}, CONNECTION_NOT_FOUND),
    ):
        response = api.post(path, body, format="json")
        assert response.status_code == 404, response.json()
        assert response.json() == expected


def test_the_verification_email_job_for_its_users_is_inexistent_user_and_sends_nothing(api, doomed, mailoutbox):
    user = User.objects.filter(email_verified=False).order_by("pk").first()
    assert user is not None
    response = api.post("/api/v2/jobs/verification-email", {"user_id": user.user_id}, format="json")
    assert response.status_code == 404, response.json()
    assert response.json() == USER_NOT_FOUND
    assert mailoutbox == []


def test_a_verification_mail_queued_before_the_deletion_is_not_sent(api, app, run_tasks, mailoutbox):
    connection = Connection.objects.get(name=DOOMED)
    _fill(DOOMED, 4)
    user = User.objects.order_by("pk").first()
    assert user is not None
    changed = api.patch(user_url(user.user_id), {"email": "new@example.com", "verify_email": True}, format="json")
    assert changed.status_code == 200, changed.json()
    assert api.delete(connection_url(connection.pk)).status_code == 202
    DBTaskResult.objects.filter(task_path=finish_connection_deletion.module_path).delete()  # the mail alone
    run_tasks()
    assert mailoutbox == []  # its link would be dead on arrival (``verify_ticket``)


def test_links_issued_before_the_deletion_no_longer_work(api, client, app, make_connection):
    connection = Connection.objects.get(name=DOOMED)
    users = _fill(DOOMED, 4)
    reset = issue_ticket(user=users[0], purpose=TicketPurpose.PASSWORD_CHANGE, actor=SYSTEM)
    verify = issue_ticket(user=users[1], purpose=TicketPurpose.EMAIL_VERIFICATION, actor=SYSTEM)
    signed = verification_link(users[2])
    assert api.delete(connection_url(connection.pk)).status_code == 202
    (reset_token,) = parse_qs(urlsplit(reset).query)["ticket"]
    (verify_token,) = parse_qs(urlsplit(verify).query)["ticket"]
    assert client.get("/lo/reset", {"ticket": reset_token}).status_code == 400
    posted = {"ticket": reset_token, "password": "N3w!Passw0rd-42", "password_confirmation": "N3w!Passw0rd-42"}
    assert client.post("/lo/reset", posted).status_code == 400
    assert client.get("/u/email-verification", {"ticket": verify_token}).status_code == 400
    parts = urlsplit(signed)
    assert client.get(f"{parts.path}?{parts.query}").status_code == 400
    assert User.objects.get(pk=users[0].pk).password_hash == users[0].password_hash
    assert not User.objects.filter(pk__in=[users[1].pk, users[2].pk], email_verified=True).exists()


def test_its_users_cannot_log_in_with_a_password_grant(api_client, doomed, app):
    client, secret = app
    body = {
        "grant_type": PASSWORD_REALM,
        "client_id": client.client_id,
        "client_secret": secret,
        "username": "u0@example.com",
        "password": STRONG_PASSWORD,
    }
    response = api_client.post("/oauth/token", {**body, "realm": DOOMED}, format="json")
    unknown = api_client.post("/oauth/token", {**body, "realm": "Nope"}, format="json")
    assert response.status_code == 400
    assert (
        response.json()
        == unknown.json()
        == {
            "error": "invalid_request",
            "error_description": "the connection is not enabled",
        }
    )


def test_change_password_for_its_users_is_refused_as_for_an_unknown_connection(api_client, doomed, app, mailoutbox):
    client, _secret = app
    body = {"client_id": client.client_id, "email": "u0@example.com"}
    response = api_client.post("/dbconnections/change_password", {**body, "connection": DOOMED}, format="json")
    unknown = api_client.post("/dbconnections/change_password", {**body, "connection": "Nope"}, format="json")
    assert response.status_code == 400
    assert response.json() == unknown.json()
    assert response.json()["description"] == "The connection does not exist."
    assert mailoutbox == []


def test_a_password_reset_mail_queued_before_the_deletion_is_not_sent(api, api_client, app, run_tasks, mailoutbox):
    connection = Connection.objects.get(name=DOOMED)
    _fill(DOOMED, 4)
    client, _secret = app
    body = {"client_id": client.client_id, "email": "u0@example.com", "connection": DOOMED}
    assert api_client.post("/dbconnections/change_password", body, format="json").status_code == 200
    assert api.delete(connection_url(connection.pk)).status_code == 202
    DBTaskResult.objects.filter(task_path=finish_connection_deletion.module_path).delete()  # the mail alone
    run_tasks()
    assert mailoutbox == []  # its link would be refused (``find_ticket``)


def test_a_client_cannot_enable_it(doomed, app):
    client, _secret = app
    assert list(Client.objects.get(pk=client.pk).connections.all()) == []  # no longer listed as enabled
    with pytest.raises(PayloadValidationError, match=f"Unknown connections: {DOOMED}"):
        update_client(client_id=client.pk, connections=[DOOMED], actor=SYSTEM)
    with pytest.raises(PayloadValidationError, match=f"Unknown connections: {DOOMED}"):
        create_client(name="late", scopes="read:users", connections=[DOOMED], actor=SYSTEM)


def test_the_clients_admin_does_not_offer_it(admin_client, doomed, app):
    client, _secret = app
    page = admin_client.get(f"/admin/clients/client/{client.pk}/change/")
    assert page.status_code == 200
    assert f'value="{doomed.pk}"' not in page.text


def test_a_user_created_by_a_request_that_read_the_connection_before_its_deletion_is_deleted_with_it(
    api, app, run_tasks, monkeypatch
):
    """The window the 202 leaves: a create that read the connection before the DELETE committed, and inserts after
    it, gets its user (it was asked first); the task deletes that user too, its user.deleted after its user.created.
    """
    import users.services

    connection = Connection.objects.get(name=DOOMED)
    _fill(DOOMED, 4)
    _stream()
    hash_password = users.services.hash_password

    def hash_while_the_connection_is_deleted(password: str) -> str:
        assert api.delete(connection_url(connection.pk)).status_code == 202
        return hash_password(password)

    monkeypatch.setattr(users.services, "hash_password", hash_while_the_connection_is_deleted)
    body = {"connection": DOOMED, "email": "late@example.com", "password": STRONG_PASSWORD}
    response = api.post(USERS, body, format="json")
    assert response.status_code == 201
    run_tasks()
    assert not User.objects.exists() and not Connection.all_objects.exists()
    assert response.json()["user_id"] in _written("user.created")
    assert _written().count(response.json()["user_id"]) == 1


def test_a_user_arriving_after_the_last_batch_is_deleted_with_its_event_before_the_row(doomed, monkeypatch):
    """A create that read the connection before the 202 may commit its user after the batches found none left: the
    last transaction, holding the connection's row, deletes such users with their events, never by the row's
    cascade alone (which would write none)."""
    from users.profile import now_ms
    from users.services import new_user_values

    _stream()
    delete_users = deletion._delete_users
    late: list[User] = []

    def then_a_late_user(connection: Connection) -> int:
        deleted = delete_users(connection)
        if not deleted and not late:  # the batches are done: a user arrives
            values = new_user_values(strategy="auth0", data={"email": "late@example.com"}, now=now_ms())
            late.append(User.objects.create(connection=connection, **values))
        return deleted

    monkeypatch.setattr(deletion, "_delete_users", then_a_late_user)
    assert finish_connection_deletion.call(doomed.pk) == "deleted"
    assert late and late[0].user_id in _written()
    assert len(_written()) == 5 and not User.objects.exists()


def test_create_connection_if_missing_shows_a_connection_being_deleted_with_a_warning(doomed):
    """``scripts/serve.sh`` runs it before it starts the worker that finishes the deletion: a conflict there kept
    the server, and so the worker, from starting at all."""
    out, err = io.StringIO(), io.StringIO()
    call_command("create_connection", DOOMED, if_missing=True, stdout=out, stderr=err)
    assert json.loads(out.getvalue())["id"] == doomed.pk
    assert f"The connection {DOOMED} ({doomed.pk}) is being deleted" in err.getvalue()
    assert Connection.all_objects.filter(name=DOOMED).count() == 1


def test_a_tenant_file_naming_a_connection_being_deleted_skips_it_and_its_users(doomed, tmp_path):
    """``scripts/serve.sh`` loads TENANT_FILE before it starts the worker that finishes the deletion: a conflict
    there kept the server, and so the worker, from starting at all."""
    tenant = tmp_path / "tenant.yaml"
    tenant.write_text(
        f"databases:\n  - name: {DOOMED}\n    strategy: auth0\n  - name: Other\n    strategy: auth0\n"
        f"users:\n  - connection: {DOOMED}\n    users:\n      - email: new@example.com\n"
    )
    out = io.StringIO()
    call_command("load_tenant", str(tenant), stdout=out)
    assert f"skipped: databases[0] {DOOMED}: being deleted, not made again (nor its users)" in out.getvalue()
    assert Connection.objects.filter(name="Other").exists()
    assert Connection.all_objects.filter(name=DOOMED).count() == 1
    assert not User.objects.filter(email="new@example.com").exists()

    only_users = tmp_path / "users.yaml"
    only_users.write_text(f"users:\n  - connection: {DOOMED}\n    users:\n      - email: new@example.com\n")
    out = io.StringIO()
    call_command("load_tenant", str(only_users), stdout=out)
    assert f"skipped: users[0]: the connection {DOOMED} is being deleted: its users are not imported" in out.getvalue()
    assert not User.objects.filter(email="new@example.com").exists()


def test_a_tenant_file_whose_users_connection_begins_its_deletion_after_the_plan_is_refused_cleanly(
    api, app, tmp_path, monkeypatch
):
    from tenants.loader import _Loader

    connection = Connection.objects.get(name=DOOMED)
    _fill(DOOMED, 4)
    planned = _Loader.plan

    def plan_then_delete(self: Any) -> None:
        planned(self)
        assert api.delete(connection_url(connection.pk)).status_code == 202  # another process, between the two

    monkeypatch.setattr(_Loader, "plan", plan_then_delete)
    tenant = tmp_path / "tenant.yaml"
    tenant.write_text(f"users:\n  - connection: {DOOMED}\n    users:\n      - email: new@example.com\n")
    with pytest.raises(CommandError) as refused:
        call_command("load_tenant", str(tenant), stdout=io.StringIO())
    assert f"users[0].connection: no connection is named {DOOMED}." in str(refused.value)
    assert not User.objects.filter(email="new@example.com").exists()
