"""Idempotency-Key on POST /api/v2/users, /v1/users and sign-up: retries replay, never create twice."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from django.utils import timezone

from clients.services import create_client
from clients.tokens import OPERATOR, issue_token
from config.actors import SYSTEM
from idempotency.models import IdempotencyRecord
from tests.conftest import STRONG_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db


def _body(connection, email="ann@example.com"):
    return {"connection": connection.name, "email": email, "password": STRONG_PASSWORD}


def test_a_retry_returns_the_first_answer_and_creates_nothing(create, connection):
    first = create(_body(connection), HTTP_IDEMPOTENCY_KEY="key-1")
    again = create(_body(connection), HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Location"] == first["Location"]
    assert again["Idempotent-Replayed"] == "true"
    assert User.objects.count() == 1


def test_refusals_are_replayed_too(create, connection):
    bad = {**_body(connection), "email": "not-an-email"}
    first = create(bad, HTTP_IDEMPOTENCY_KEY="key-2")
    again = create(bad, HTTP_IDEMPOTENCY_KEY="key-2")
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()


def test_the_same_key_with_another_body_is_422(create, connection):
    create(_body(connection), HTTP_IDEMPOTENCY_KEY="key-3")
    response = create(_body(connection, "bob@example.com"), HTTP_IDEMPOTENCY_KEY="key-3")
    assert response.status_code == 422
    assert response.json()["errorCode"] == "idempotency_key_reused"
    assert User.objects.count() == 1


def test_keys_belong_to_one_client(api_client, token, connection):
    for client_id, email in (("one", "a@example.com"), ("two", "b@example.com")):
        api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users', client_id=client_id)}")
        response = api_client.post(
            "/api/v2/users", _body(connection, email), format="json", HTTP_IDEMPOTENCY_KEY="shared"
        )
        assert response.status_code == 201
    assert User.objects.count() == 2


def test_without_a_key_nothing_is_stored(create, connection):
    create(_body(connection))
    assert not IdempotencyRecord.objects.exists()


def test_expired_keys_run_again(create, connection):
    create(_body(connection), HTTP_IDEMPOTENCY_KEY="key-4")
    IdempotencyRecord.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    again = create(_body(connection), HTTP_IDEMPOTENCY_KEY="key-4")
    assert again.status_code == 409  # ran again: the e-mail is taken now
    assert "Idempotent-Replayed" not in again


def test_a_claim_abandoned_by_a_dead_process_is_taken_over(create, connection, settings):
    IdempotencyRecord.objects.create(
        caller="client:test-client",
        endpoint="POST /api/v2/users",
        key="key-5",
        request_hash="x",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS + 1)
    )
    assert create(_body(connection), HTTP_IDEMPOTENCY_KEY="key-5").status_code == 201


def test_a_running_claim_answers_409_in_progress(create, connection):
    first = create(_body(connection), HTTP_IDEMPOTENCY_KEY="key-6")
    assert first.status_code == 201
    IdempotencyRecord.objects.update(status_code=None, created_at=timezone.now())
    running = create(_body(connection), HTTP_IDEMPOTENCY_KEY="key-6")
    assert running.status_code == 409
    assert running.json()["errorCode"] == "idempotency_request_in_progress"


@pytest.mark.parametrize("key", ["", "x" * 256, "naïve", "tab\there"])
def test_malformed_keys_are_400(create, connection, key):
    response = create(_body(connection), HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_idempotency_key"
    assert not User.objects.exists()


def test_v1_users_and_signup_are_idempotent(api_client, token, connection):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    body = {"email": "v@example.com", "password": STRONG_PASSWORD}
    first = api_client.post("/v1/users", body, format="json", HTTP_IDEMPOTENCY_KEY="v1")
    again = api_client.post("/v1/users", body, format="json", HTTP_IDEMPOTENCY_KEY="v1")
    assert (first.status_code, again.status_code) == (201, 201) and again.json() == first.json()

    api_client.credentials()
    app, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    signup = {
        "client_id": app.client_id,
        "connection": connection.name,
        "email": "s@example.com",
        "password": STRONG_PASSWORD,
    }
    first = api_client.post("/dbconnections/signup", signup, format="json", HTTP_IDEMPOTENCY_KEY="s1")
    again = api_client.post("/dbconnections/signup", signup, format="json", HTTP_IDEMPOTENCY_KEY="s1")
    assert (first.status_code, again.status_code) == (200, 200) and again.json() == first.json()
    assert User.objects.count() == 2


@pytest.mark.live
def test_concurrent_requests_with_one_key_create_one_user(live_server_url, make_connection):
    make_connection()
    token = issue_token(client_id="retrier", scopes=["create:users"], grant_type=OPERATOR)
    body = json.dumps(
        {"connection": "Username-Password-Authentication", "email": "race@example.com", "password": STRONG_PASSWORD}
    ).encode()

    def post(_: int) -> tuple[int, dict]:
        request = Request(  # noqa: S310 - loopback test server
            f"{live_server_url}/api/v2/users",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}", "Idempotency-Key": "k"},
            method="POST",
        )
        try:
            with urlopen(request, timeout=60) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except HTTPError as error:
            return error.code, json.loads(error.read())

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(post, range(10)))
    statuses = [status for status, _ in results]
    assert set(statuses) <= {201, 409}, statuses
    created = [body for status, body in results if status == 201]
    assert created and all(b == created[0] for b in created)  # replays carry the same body
    in_progress = [body for status, body in results if status == 409]
    assert all(b["errorCode"] == "idempotency_request_in_progress" for b in in_progress)
    assert User.objects.filter(email="race@example.com").count() == 1
