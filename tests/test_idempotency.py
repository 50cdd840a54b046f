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
from core.actors import SYSTEM
from idempotency.models import IdempotencyRecord
from tests.helpers import STRONG_PASSWORD
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
    assert running["Retry-After"] == "1"


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


# Bodies that are no object, or hold text no database can store (written as JSON escapes, so the parsed body
# holds the lone surrogate or the NUL itself).
HOSTILE_JSON = [
    "[]",
    "null",
    '"x"',
    "1",
    "true",
    '{"email": "\\ud800@example.com", "password": "Str0ng!Passw0rd"}',
    '{"\\ud800": 1}',
    '{"client_id": "\\ud800", "connection": "\\udfff"}',
    '{"client_id": "app\\u0000", "email": "a\\u0000b@example.com", "password": "a\\u0000"}',
    '{"client_id": ["x"], "email": {"a": "\\ud800"}}',
    '{"email": 1e999, "user_metadata": {"n": -1e999}}',
]
HOSTILE_FORMS = ["email=a%00b%40example.com&password=x", "client_id=app%00&connection=%00", "%00=1"]
ENDPOINTS = ["/api/v2/users", "/v1/users", "/dbconnections/signup"]


def _post(api_client, path, body, content_type, **headers):
    return api_client.generic("POST", path, body, content_type=content_type, **headers)


@pytest.mark.parametrize("path", ENDPOINTS)
@pytest.mark.parametrize(
    ("body", "content_type"),
    [(body, "application/json") for body in HOSTILE_JSON]
    + [(body, "application/x-www-form-urlencoded") for body in HOSTILE_FORMS],
)
def test_the_key_never_changes_the_answer_to_a_hostile_body(api_client, token, connection, path, body, content_type):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    plain = _post(api_client, path, body, content_type)
    assert 400 <= plain.status_code < 500
    keyed = _post(api_client, path, body, content_type, HTTP_IDEMPOTENCY_KEY="hostile")
    replayed = _post(api_client, path, body, content_type, HTTP_IDEMPOTENCY_KEY="hostile")
    assert (keyed.status_code, keyed.json()) == (plain.status_code, plain.json())
    assert (replayed.status_code, replayed.json()) == (plain.status_code, plain.json())
    assert replayed["Idempotent-Replayed"] == "true"
    assert not User.objects.exists()


def test_the_stored_fingerprint_is_keyed_by_the_server_secret(create, connection, settings):
    """Without the server's secret, the stored fingerprint cannot be used to test guesses of the password."""
    create(_body(connection), HTTP_IDEMPOTENCY_KEY="fp")
    first = IdempotencyRecord.objects.get().request_hash
    IdempotencyRecord.objects.all().delete()
    User.objects.all().delete()
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    create(_body(connection), HTTP_IDEMPOTENCY_KEY="fp")
    assert IdempotencyRecord.objects.get().request_hash != first


def _signup(api_client, app, connection, email, ip):
    body = {"client_id": app.client_id, "connection": connection.name, "email": email, "password": STRONG_PASSWORD}
    return api_client.post("/dbconnections/signup", body, format="json", HTTP_IDEMPOTENCY_KEY="mine", REMOTE_ADDR=ip)


def test_signup_keys_of_one_application_are_scoped_by_the_callers_address(api_client, connection):
    """Two people signing up through one application cannot squat (or read) each other's key."""
    app, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    first = _signup(api_client, app, connection, "ann@example.com", "192.0.2.1")
    other = _signup(api_client, app, connection, "bob@example.com", "192.0.2.2")
    assert (first.status_code, other.status_code) == (200, 200)
    assert other.json()["email"] == "bob@example.com"
    assert "Idempotent-Replayed" not in other
    same_address = _signup(api_client, app, connection, "cid@example.com", "192.0.2.1")
    assert same_address.status_code == 422
    assert User.objects.count() == 2
    assert not IdempotencyRecord.objects.filter(caller__contains="192.0.2").exists()


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


# attack2: /v1/users turns every DomainError into {"error": "invalid_request"}, so the idempotency refusals lose
# their documented codes (422 idempotency_key_reused, 409 idempotency_request_in_progress); a /v1 client that
# reads a 409 as email_exists cannot tell "still running" from "taken".
def test_v1_users_keeps_the_idempotency_error_codes(api_client, token, connection):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    first = {"email": "v1a@example.com", "password": STRONG_PASSWORD}
    assert api_client.post("/v1/users", first, format="json", HTTP_IDEMPOTENCY_KEY="v1-reuse").status_code == 201
    other = {"email": "v1b@example.com", "password": STRONG_PASSWORD}
    response = api_client.post("/v1/users", other, format="json", HTTP_IDEMPOTENCY_KEY="v1-reuse")
    assert response.status_code == 422
    assert response.json()["error"] == "idempotency_key_reused"


# attack2: on PostgreSQL the answer is kept in a jsonb column, which reorders object keys (shortest first), so a
# replay is the same JSON but not the same body ("gets the first answer again (same status and body)").
def test_a_replay_is_byte_for_byte_the_first_answer(create, connection):
    body = {**_body(connection), "user_metadata": {"zeta": 1, "alpha": 2}}
    first = create(body, HTTP_IDEMPOTENCY_KEY="bytes-1")
    again = create(body, HTTP_IDEMPOTENCY_KEY="bytes-1")
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content


def test_v1_users_answers_a_running_claim_409_in_progress_not_email_exists(api_client, token, connection):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    body = {"email": "v1run@example.com", "password": STRONG_PASSWORD}
    assert api_client.post("/v1/users", body, format="json", HTTP_IDEMPOTENCY_KEY="v1-run").status_code == 201
    IdempotencyRecord.objects.update(status_code=None, created_at=timezone.now())
    running = api_client.post("/v1/users", body, format="json", HTTP_IDEMPOTENCY_KEY="v1-run")
    assert running.status_code == 409
    assert running.json() == {
        "error": "idempotency_request_in_progress",
        "message": "A request with this Idempotency-Key is still being processed. Retry shortly.",
    }
    assert running["Retry-After"] == "1"


def test_a_replay_keeps_the_content_type_and_the_indentation_asked_for_first(create, connection):
    body = _body(connection)
    first = create(body, HTTP_IDEMPOTENCY_KEY="indent-1", HTTP_ACCEPT="application/json; indent=2")
    again = create(body, HTTP_IDEMPOTENCY_KEY="indent-1")
    assert first.content.startswith(b"{\n  ")
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
