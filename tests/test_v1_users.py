"""POST /v1/users: the plain facade over the same ``create_user`` service, in its own contract (``{error, message}``):
whole bodies, the service's rules, authentication and the client rate limit."""

from __future__ import annotations

import re
from unittest import mock

import pytest
from django.test import override_settings

from core.hashing import bcrypt_verify as verify_password
from tests.helpers import STRONG_PASSWORD, V1_USERS, password_hash_of
from users.models import User

pytestmark = pytest.mark.django_db

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
BEARER_CHALLENGE = 'Bearer realm="management-api"'


@pytest.fixture
def v1(admin_api):
    """A client whose token holds ``create:users``, all /v1/users asks for."""
    return admin_api


def _post(client, body, **extra):
    return client.post(V1_USERS, body, format="json", **extra)


def _invalid(message: str, *errors: tuple[str | None, str, str]) -> dict:
    return {
        "error": "invalid_request",
        "message": message,
        "errors": [{"field": field, "code": code, "message": text} for field, code, text in errors],
    }


# --- success -------------------------------------------------------------------------------------------


def test_creates_a_user_in_the_v1_connection_and_answers_201(v1, connection):
    response = _post(v1, {"email": "Jane@Example.com", "password": STRONG_PASSWORD, "name": "Jane Doe"})
    assert response.status_code == 201
    body = response.json()
    user = User.objects.get()
    assert body == {
        "id": user.user_id,
        "email": "jane@example.com",
        "name": "Jane Doe",
        "status": "active",
        "created_at": body["created_at"],
        "updated_at": body["created_at"],
    }
    assert TIMESTAMP.fullmatch(body["created_at"])
    assert re.fullmatch(r"auth0\|[0-9a-f]{24}", body["id"])
    assert user.connection == connection
    assert verify_password(STRONG_PASSWORD, password_hash_of(user))
    assert user.blocked is not True


def test_the_name_is_optional_and_defaults_to_the_email(v1, connection):
    response = _post(v1, {"email": "jane@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": User.objects.get().user_id,
        "email": "jane@example.com",
        "name": "jane@example.com",
        "status": "active",
        "created_at": body["created_at"],
        "updated_at": body["created_at"],
    }


@override_settings(V1_USERS_CONNECTION="Staff")
def test_the_connection_comes_from_the_setting(v1, connection, make_connection):
    make_connection(name="Staff")
    assert _post(v1, {"email": "a@example.com", "password": STRONG_PASSWORD}).status_code == 201
    assert User.objects.get().connection.name == "Staff"


def test_the_user_is_a_normal_directory_user(v1, connection, api_client, token):
    created = _post(v1, {"email": "jane@example.com", "password": STRONG_PASSWORD, "name": "Jane"}).json()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users')}")
    profile = api_client.get(f"/api/v2/users/{created['id']}").json()
    assert profile["user_id"] == created["id"]
    assert profile["email"] == "jane@example.com"
    assert profile["name"] == "Jane"
    assert profile["identities"] == [
        {
            "connection": connection.name,
            "user_id": created["id"].split("|", 1)[1],
            "provider": "auth0",
            "isSocial": False,
        }
    ]
    assert profile["created_at"] == created["created_at"]


# --- the same service's rules --------------------------------------------------------------------------


def test_a_taken_email_is_409_email_exists_in_any_case(v1, connection):
    assert _post(v1, {"email": "jane@example.com", "password": STRONG_PASSWORD}).status_code == 201
    response = _post(v1, {"email": "JANE@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 409
    assert response.json() == {"error": "email_exists", "message": "A user with this email already exists."}
    assert User.objects.count() == 1


def test_an_email_taken_through_the_management_api_is_409(create, connection, v1):
    body = {"connection": connection.name, "email": "jane@example.com", "password": STRONG_PASSWORD}
    assert create(body).status_code == 201
    response = _post(v1, {"email": "jane@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 409
    assert response.json() == {"error": "email_exists", "message": "A user with this email already exists."}


def test_a_weak_password_in_japanese_ends_with_a_japanese_full_stop(v1, connection):
    response = _post(v1, {"email": "jane@example.com", "password": "weak"}, HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 400
    assert response.json()["message"] == "パスワードが弱すぎます。"


def test_a_weak_password_is_400_invalid_request_with_the_failed_rules(v1, connection):
    response = _post(v1, {"email": "jane@example.com", "password": "weak"})
    assert response.status_code == 400
    assert response.json() == _invalid(
        "Password is too weak.",
        ("password", "lengthAtLeast", "At least 8 characters in length"),
        (
            "password",
            "containsAtLeast",
            "Contain at least 3 of the following 4 types of characters: lower case letters (a-z), "
            "upper case letters (A-Z), numbers (i.e. 0-9), special characters (e.g. !@#$%^&*)",
        ),
    )
    assert not User.objects.exists()


@override_settings(V1_USERS_CONNECTION="Strict")
def test_the_connections_own_password_policies_apply(v1, make_connection):
    make_connection(name="Strict", password_dictionary={"enable": True})
    response = _post(v1, {"email": "jane@example.com", "password": "Password1!"})
    assert response.status_code == 400
    assert response.json() == _invalid(
        "Password is too common.",
        ("password", "password_dictionary", "Password is not allowed, it might be too common."),
    )
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {"password": STRONG_PASSWORD},
            _invalid(
                "Payload validation error: 'Missing required property: email'.",
                ("email", "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: email"),
            ),
            id="missing-email",
        ),
        pytest.param(
            {"email": "jane@example.com"},
            _invalid(
                "Payload validation error: 'Missing required property: password'.",
                ("password", "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: password"),
            ),
            id="missing-password",
        ),
        pytest.param(
            {"email": "not-an-email", "password": STRONG_PASSWORD},
            _invalid(
                "Payload validation error: 'Object didn't pass validation for format email: not-an-email' "
                "on property email (The user's unique email address).",
                ("email", "FORMAT", "Object didn't pass validation for format email: not-an-email"),
            ),
            id="bad-email",
        ),
        pytest.param(
            {"email": "jane@example.com", "password": STRONG_PASSWORD, "name": 5},
            _invalid(
                "Payload validation error: 'Expected type string but found type integer' "
                "on property name (The user's full name).",
                ("name", "INVALID_TYPE", "Expected type string but found type integer"),
            ),
            id="name-type",
        ),
        pytest.param(
            {"email": "jane@example.com", "password": STRONG_PASSWORD, "connection": "Other"},
            _invalid(
                "Payload validation error: 'Additional properties not allowed: connection'.",
                (None, "OBJECT_ADDITIONAL_PROPERTIES", "Additional properties not allowed: connection"),
            ),
            id="no-connection",
        ),
        pytest.param(
            {"email": "jane@example.com", "password": STRONG_PASSWORD, "email_verified": True},
            _invalid(
                "Payload validation error: 'Additional properties not allowed: email_verified'.",
                (None, "OBJECT_ADDITIONAL_PROPERTIES", "Additional properties not allowed: email_verified"),
            ),
            id="no-email-verified",
        ),
        pytest.param(
            {"email": "jane@example.com", "password": STRONG_PASSWORD, "blocked": True},
            _invalid(
                "Payload validation error: 'Additional properties not allowed: blocked'.",
                (None, "OBJECT_ADDITIONAL_PROPERTIES", "Additional properties not allowed: blocked"),
            ),
            id="no-blocked",
        ),
        pytest.param(
            ["jane@example.com"],
            _invalid(
                "Payload validation error: 'Expected type object but found type array'.",
                (None, "INVALID_TYPE", "Expected type object but found type array"),
            ),
            id="not-an-object",
        ),
    ],
)
def test_invalid_bodies_are_400_invalid_request(v1, connection, body, expected):
    response = _post(v1, body)
    assert response.status_code == 400
    assert response.json() == expected
    assert not User.objects.exists()


@pytest.mark.parametrize("text", ['{"email": ', "{"])
def test_malformed_json_is_400_invalid_request(v1, connection, text):
    response = v1.post(V1_USERS, data=text, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "message": "The body must be a JSON object."}


@override_settings(V1_USERS_CONNECTION="Named")
def test_a_v1_connection_that_requires_usernames_refuses_with_invalid_request(v1, make_connection):
    make_connection(name="Named", requires_username=True)
    response = _post(v1, {"email": "jane@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 400
    message = "Payload validation error: 'Missing required property: username'."
    assert response.json() == _invalid(message, ("username", "OBJECT_MISSING_REQUIRED_PROPERTY", message))
    assert not User.objects.exists()


def test_a_missing_v1_connection_is_a_clear_503(v1):
    response = _post(v1, {"email": "jane@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 503
    assert response.json() == {
        "error": "service_unavailable",
        "message": "The connection for /v1/users is not configured on this server.",
    }


# --- authentication ------------------------------------------------------------------------------------


def test_a_missing_token_is_401_unauthorized(api_client, connection):
    response = _post(api_client, {"email": "jane@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "Missing authentication"}
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert not User.objects.exists()


def test_a_bad_token_is_401_unauthorized(api_client, connection):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = _post(api_client, {"email": "jane@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized", "message": "Invalid token"}
    assert response["WWW-Authenticate"] == BEARER_CHALLENGE
    assert not User.objects.exists()


def test_a_token_without_create_users_is_401_unauthorized(api_client, token, connection):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users update:users')}")
    response = _post(api_client, {"email": "jane@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 401
    assert response.json() == {
        "error": "unauthorized",
        "message": "Insufficient scope, expected any of: create:users",
    }
    # Every 401 names the scheme (RFC 9110 §15.5.2); the error says why this token was not enough.
    assert response["WWW-Authenticate"] == 'Bearer realm="management-api", error="insufficient_scope"'
    assert not User.objects.exists()


# --- rate limit ----------------------------------------------------------------------------------------


@override_settings(MANAGEMENT_API_RATE_LIMIT="1/minute")
def test_the_client_rate_limit_answers_in_the_v1_shape(v1, connection):
    with mock.patch("api.throttling.time") as clock:
        clock.time.return_value = 1_700_000_010.0
        assert _post(v1, {"email": "a@example.com", "password": STRONG_PASSWORD}).status_code == 201
        response = _post(v1, {"email": "b@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 429
    assert response.json() == {"error": "too_many_requests", "message": "Too many requests. Try again later."}
    assert response["Retry-After"] == "60"  # a bucket of one, refilled once a minute: the token is back in 60 s
    assert User.objects.count() == 1
