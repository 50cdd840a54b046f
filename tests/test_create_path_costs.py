"""The create path's cost guards: the statements one create runs, and that nothing on the path serves stale
state (a connection or client changed through the API is seen by the very next request)."""

from __future__ import annotations

import time

import pytest
from django.db import connection as db
from django.db.models.sql.compiler import SQLCompiler
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from clients.services import create_client, set_client_active
from clients.tokens import issue_token
from core.actors import SYSTEM
from events.models import EventStream
from events.outbox import subscribed_stream_ids
from events.services import WebhookAuthorization, create_event_stream, delete_event_stream, update_event_stream
from events.tasks import _ready_task_held
from ratelimits import buckets
from tests.helpers import STRONG_PASSWORD
from users.models import User
from users.verification import deliver_verification_email

WEAK = "a"


@pytest.fixture
def client_api(api_client, connection):
    """An API client holding a client-credentials token (the revocation check runs) with every scope used here."""
    client, _secret = create_client(
        name="costs",
        scopes="create:users update:connections delete:connections",
        actor=SYSTEM,
    )
    token = issue_token(client_id=client.client_id, scopes=["create:users", "update:connections", "delete:connections"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    api_client.client_row = client
    return api_client


def _create(api, email, password=STRONG_PASSWORD, connection="Username-Password-Authentication"):
    body = {"connection": connection, "email": email, "password": password, "verify_email": False}
    return api.post("/api/v2/users", body, format="json")


def test_a_create_runs_the_client_check_the_connection_lookup_and_two_inserts(client_api, monkeypatch, settings):
    # The database store's statements are counted (with REDIS_URL the bucket lives in Redis, no SQL to count); one
    # take in PURGE_ONE_IN also sweeps full buckets (a DELETE): chance, not the create path's cost.
    settings.REDIS_URL = None
    monkeypatch.setattr(buckets, "purge_full_buckets", lambda now_ms, batch=0: 0)
    _create(client_api, "warm@example.com")  # first request: nothing lazily loaded is counted

    with CaptureQueriesContext(db) as queries:
        response = _create(client_api, "counted@example.com")

    assert response.status_code == 201
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    tables = [
        name
        for q in queries.captured_queries
        for name in (
            "ratelimits_bucket",
            "clients_client",
            "connections_connection",
            "users_user",
            "audit_event",
            "events_eventstream",
        )
        if name in q["sql"]
    ]
    # Inside the test's transaction each transaction is a savepoint (BEGIN/COMMIT when served): the token's
    # client, its rate-limit bucket (one atomic upsert, shared by every process), the connection, the create with
    # its audit row and the one look at the enabled event streams (none here: no event, no delivery, no task).
    assert statements == [
        "SELECT",
        *("SAVEPOINT", "INSERT", "RELEASE"),
        "SELECT",
        *("SAVEPOINT", "INSERT", "INSERT", "SELECT", "RELEASE"),
    ], statements
    assert tables == [
        "clients_client",
        "ratelimits_bucket",
        "connections_connection",
        "users_user",
        "audit_event",
        "events_eventstream",
    ]


def test_a_deleted_connection_refuses_the_very_next_create(client_api, connection):
    assert _create(client_api, "before@example.com").status_code == 201

    assert client_api.delete(f"/api/v2/connections/{connection.id}").status_code == 204
    response = _create(client_api, "after@example.com")

    assert response.status_code == 400
    assert response.json()["errorCode"] == "inexistent_connection"
    assert not User.objects.filter(email="after@example.com").exists()


def test_changed_options_apply_to_the_very_next_create(client_api, make_connection):
    db_connection = make_connection(name="db", passwordPolicy="none")
    assert _create(client_api, "weak@example.com", WEAK, "db").status_code == 201

    response = client_api.patch(
        f"/api/v2/connections/{db_connection.id}", {"options": {"passwordPolicy": "good"}}, format="json"
    )
    assert response.status_code == 200
    refused = _create(client_api, "weak2@example.com", WEAK, "db")

    assert refused.status_code == 400
    assert refused.json()["errorCode"] == "invalid_password"
    assert _create(client_api, "strong@example.com", STRONG_PASSWORD, "db").status_code == 201


def test_a_recreated_connection_of_the_same_name_gets_the_next_create(client_api, connection, make_connection):
    assert client_api.delete(f"/api/v2/connections/{connection.id}").status_code == 204
    again = make_connection(name=connection.name)

    assert _create(client_api, "again@example.com").status_code == 201
    assert User.objects.get(email="again@example.com").connection_id == again.id


def test_deactivating_the_client_refuses_its_token_on_the_very_next_request(client_api):
    assert _create(client_api, "one@example.com").status_code == 201

    set_client_active(client_id=client_api.client_row.client_id, active=False, actor=SYSTEM)
    refused = _create(client_api, "two@example.com")
    set_client_active(client_id=client_api.client_row.client_id, active=True, actor=SYSTEM)

    assert refused.status_code == 401
    assert _create(client_api, "three@example.com").status_code == 201


def test_a_remembered_token_is_refused_once_it_expires(client_api, token):
    short = token("create:users", expires_in=1)
    client_api.credentials(HTTP_AUTHORIZATION=f"Bearer {short}")
    assert _create(client_api, "early@example.com").status_code == 201  # verified, and remembered

    time.sleep(1.1)
    response = _create(client_api, "late@example.com")

    assert response.status_code == 401
    assert response.json()["message"] == "Expired token received for JSON Web Token validation"


def test_a_remembered_token_is_refused_when_the_signing_key_changes(client_api, settings, tmp_path):
    from config.keys import load_signing_key

    assert _create(client_api, "kept@example.com").status_code == 201

    settings.JWT_SIGNING_KEY = load_signing_key(pem=None, pem_file=None, data_dir=tmp_path)
    response = _create(client_api, "rekeyed@example.com")

    assert response.status_code == 401


def test_a_serializer_bound_once_keeps_nothing_from_one_body_to_the_next(client_api):
    bad = {"connection": "Username-Password-Authentication", "email": "nope", "colour": "red"}

    first = client_api.post("/api/v2/users", bad, format="json")
    created = _create(client_api, "fine@example.com")
    again = client_api.post("/api/v2/users", bad, format="json")
    missing = client_api.post("/api/v2/users", {"email": "x@example.com"}, format="json")

    assert first.status_code == again.status_code == 400
    assert first.json() == again.json()
    assert created.status_code == 201
    assert created.json()["email"] == "fine@example.com"
    assert [e["field"] for e in missing.json()["errors"]] == ["connection"]


@pytest.mark.django_db(transaction=True)
def test_a_connection_deleted_while_the_password_hashes_is_400_not_500(client_api, connection, monkeypatch):
    import users.services
    from connections.models import Connection

    real_hash = users.services.hash_password

    def hash_while_the_connection_goes(password):
        Connection.objects.filter(pk=connection.pk).delete()
        return real_hash(password)

    monkeypatch.setattr(users.services, "hash_password", hash_while_the_connection_goes)
    response = _create(client_api, "orphan@example.com")

    assert response.status_code == 400
    assert response.json()["errorCode"] == "inexistent_connection"
    assert not User.objects.exists()


def _stream(name: str, types: tuple[str, ...] = ("user.created",)) -> EventStream:
    return create_event_stream(
        name=name,
        subscriptions=list(types),
        webhook_endpoint="http://127.0.0.1:9/events",
        authorization=WebhookAuthorization(method="bearer", token="t0ken"),
        actor=SYSTEM,
    )


def test_the_stream_lookup_sees_every_change_to_the_streams_at_the_next_create(db, settings):
    settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS = True
    first, _deleted_only, second = _stream("first"), _stream("other", ("user.deleted",)), _stream("second")
    assert subscribed_stream_ids("user.created") == [first.id, second.id]  # enabled, subscribed, oldest first

    update_event_stream(stream_id=first.id, status="disabled", actor=SYSTEM)
    assert subscribed_stream_ids("user.created") == [second.id]
    delete_event_stream(stream_id=second.id, actor=SYSTEM)
    assert subscribed_stream_ids("user.created") == []
    update_event_stream(stream_id=first.id, status="enabled", actor=SYSTEM)
    assert subscribed_stream_ids("user.created") == [first.id]


def test_the_stream_lookup_builds_its_statement_once(db, settings, monkeypatch):
    settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS = True
    stream = _stream("one")
    assert subscribed_stream_ids("user.created") == [stream.id]
    compiled = []
    real_as_sql = SQLCompiler.as_sql

    def counting_as_sql(self, *args, **kwargs):
        compiled.append(self.query.model)
        return real_as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting_as_sql)
    # Building a QuerySet's statement on every create cost ten times running it (events.outbox).
    assert subscribed_stream_ids("user.created") == [stream.id]
    assert compiled == []


@pytest.mark.django_db
def test_the_delivery_task_look_seeks_the_ready_tasks_index_past_the_waiting_mails():
    # A create looks for its stream's ready delivery task; the mails waiting for the worker (thousands when it lags)
    # are ready tasks too: the look must reach the recent ones of the one kind through the index, not read them all.
    deliver_verification_email.enqueue(1, "waiting@example.com", "en")
    with CaptureQueriesContext(db) as queries:
        _ready_task_held("est_none", timezone.now())
    (look,) = [q["sql"] for q in queries.captured_queries]
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")  # a one-row table is cheaper to scan whole
            cursor.execute(f"EXPLAIN {look}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {look}")
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "tasks_db_new_ordering_idx" in plan, plan
    if db.vendor == "postgresql":
        # The planner picks its seeks by the table's size; each reaches past the status to the priority and beyond.
        conditions = plan.split("Index Cond: ")[1:]
        assert conditions and all("(priority = 0)" in condition for condition in conditions), plan
    else:
        assert "run_after=? AND enqueued_at>?" in plan and "run_after<?" in plan, plan
