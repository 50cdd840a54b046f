"""POST /v1/users: the plain facade over the same create_user service."""

from __future__ import annotations

import pytest
from django.test import override_settings

from tests.conftest import STRONG_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db

URL = "/v1/users"


@pytest.fixture
def v1(api_client, token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    return api_client


def test_creates_a_user_in_the_default_connection(v1, connection):
    response = v1.post(
        URL, {"email": "Jane@Example.com", "password": STRONG_PASSWORD, "name": "Jane Doe"}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "email": "jane@example.com",
        "name": "Jane Doe",
        "status": "active",
        "created_at": body["created_at"],
        "updated_at": body["created_at"],
    }
    user = User.objects.get()
    assert body["id"] == user.user_id and user.connection == connection


def test_name_is_optional(v1, connection):
    body = v1.post(URL, {"email": "jane@example.com", "password": STRONG_PASSWORD}, format="json").json()
    assert body["name"] == "jane@example.com"


@override_settings(V1_USERS_CONNECTION="Staff")
def test_the_connection_is_configurable(v1, make_connection):
    make_connection(name="Staff")
    assert v1.post(URL, {"email": "a@example.com", "password": STRONG_PASSWORD}, format="json").status_code == 201
    assert User.objects.get().connection.name == "Staff"


def test_a_taken_email_is_409_email_exists(v1, connection):
    v1.post(URL, {"email": "jane@example.com", "password": STRONG_PASSWORD}, format="json")
    response = v1.post(URL, {"email": "JANE@example.com", "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 409
    assert response.json() == {"error": "email_exists", "message": "A user with this email already exists."}
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"password": STRONG_PASSWORD},
        {"email": "jane@example.com"},
        {"email": "not-an-email", "password": STRONG_PASSWORD},
        {"email": "jane@example.com", "password": STRONG_PASSWORD, "connection": "x"},
        {"email": "jane@example.com", "password": STRONG_PASSWORD, "name": 5},
        {"email": "jane@example.com", "password": "weak"},
    ],
)
def test_invalid_bodies_are_400_invalid_request(v1, connection, body):
    response = v1.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert response.json()["message"]
    assert not User.objects.exists()


def test_malformed_json_is_400_invalid_request(v1, connection):
    response = v1.post(URL, data="{", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "message": "The body must be a JSON object."}


def test_missing_token_or_scope_is_401_unauthorized(api_client, token, connection):
    body = {"email": "jane@example.com", "password": STRONG_PASSWORD}
    missing = api_client.post(URL, body, format="json")
    assert missing.status_code == 401
    assert missing.json() == {"error": "unauthorized", "message": "Missing authentication"}
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users')}")
    scope = api_client.post(URL, body, format="json")
    assert scope.status_code == 401
    assert scope.json()["error"] == "unauthorized"
    assert not User.objects.exists()


def test_a_missing_default_connection_is_a_clear_503(v1):
    response = v1.post(URL, {"email": "jane@example.com", "password": STRONG_PASSWORD}, format="json")
    assert response.status_code == 503
    assert response.json()["error"] == "service_unavailable"
