"""POST /dbconnections/signup: Auth0's Authentication API sign-up, its checks and its error bodies."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from django.test import override_settings

from clients.services import create_client, set_client_active
from core.actors import SYSTEM
from tests.helpers import STRONG_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db

URL = "/dbconnections/signup"


@pytest.fixture
def app(connection):
    client, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    return client


def _body(app, **fields):
    return {
        "client_id": app.client_id,
        "connection": "Username-Password-Authentication",
        "email": "Ann@Example.com",
        "password": STRONG_PASSWORD,
        **fields,
    }


def _signup(api_client, body, **extra):
    return api_client.post(URL, body, format="json", **extra)


def test_signup_answers_auth0s_body(api_client, app):
    response = _signup(api_client, _body(app))
    assert response.status_code == 200
    body = response.json()
    assert body == {"_id": body["_id"], "email": "ann@example.com", "email_verified": False}
    assert len(body["_id"]) == 24 and int(body["_id"], 16) >= 0
    user = User.objects.get()
    assert user.user_id == f"auth0|{body['_id']}"
    assert user.password_hash.startswith("$2b$")


def test_signup_echoes_the_profile_fields_given(api_client, app):
    fields = {
        "given_name": "Ann",
        "family_name": "Lee",
        "name": "Ann Lee",
        "nickname": "annie",
        "picture": "https://example.com/a.png",
        "user_metadata": {"color": "blue"},
    }
    body = _signup(api_client, _body(app, **fields)).json()
    assert {k: body[k] for k in ("given_name", "family_name", "name", "nickname", "picture")} == {
        k: fields[k] for k in ("given_name", "family_name", "name", "nickname", "picture")
    }
    assert User.objects.get().user_metadata == {"color": "blue"}


def test_signup_accepts_a_form_body(api_client, app):
    response = api_client.post(URL, urlencode(_body(app)), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200


def test_username_connection(api_client, make_connection):
    make_connection(name="Named", requires_username=True)
    client, _ = create_client(name="web", scopes="", connections=["Named"], actor=SYSTEM)
    body = {"client_id": client.client_id, "connection": "Named", "email": "a@example.com", "password": STRONG_PASSWORD}
    missing = _signup(api_client, body)
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_body"
    ok = _signup(api_client, {**body, "username": "Ann"})
    assert ok.json()["username"] == "ann"


@pytest.mark.parametrize("field", ["email", "username"])
def test_taken_identifier_is_the_generic_invalid_signup(api_client, make_connection, field):
    make_connection(name="Named", requires_username=True)
    client, _ = create_client(name="web", scopes="", connections=["Named"], actor=SYSTEM)
    base = {"client_id": client.client_id, "connection": "Named", "password": STRONG_PASSWORD}
    assert _signup(api_client, {**base, "email": "a@example.com", "username": "ann"}).status_code == 200
    again = {**base, "email": "b@example.com", "username": "bob", field: "A@EXAMPLE.COM" if field == "email" else "ANN"}
    response = _signup(api_client, again)
    assert response.status_code == 400
    assert response.json() == {
        "name": "BadRequestError",
        "code": "invalid_signup",
        "description": "Invalid sign up",
        "statusCode": 400,
    }
    assert User.objects.count() == 1


@override_settings(SIGNUP_USER_EXISTS_ERROR=True)
def test_user_exists_error_when_the_setting_is_on(api_client, app):
    _signup(api_client, _body(app))
    assert _signup(api_client, _body(app)).json() == {
        "name": "BadRequestError",
        "code": "user_exists",
        "description": "The user already exists.",
        "statusCode": 400,
    }


def test_weak_password_is_auth0s_full_password_strength_error(api_client, app):
    response = _signup(api_client, _body(app, password="hello!world"))
    assert response.status_code == 400
    assert response.json() == {
        "name": "PasswordStrengthError",
        "message": "Password is too weak",
        "code": "invalid_password",
        "description": {
            "rules": [
                {
                    "message": "At least %d characters in length",
                    "format": [8],
                    "code": "lengthAtLeast",
                    "verified": True,
                },
                {
                    "message": "Contain at least %d of the following %d types of characters:",
                    "code": "containsAtLeast",
                    "format": [3, 4],
                    "items": [
                        {"message": "lower case letters (a-z)", "code": "lowerCase", "verified": True},
                        {"message": "upper case letters (A-Z)", "code": "upperCase", "verified": False},
                        {"message": "numbers (i.e. 0-9)", "code": "numbers", "verified": False},
                        {
                            "message": "special characters (e.g. !@#$%^&*)",
                            "code": "specialCharacters",
                            "verified": True,
                        },
                    ],
                    "verified": False,
                },
            ],
            "verified": False,
        },
        "policy": "* At least 8 characters in length\n* Contain at least 3 of the following 4 types of characters:\n"
        " * lower case letters (a-z)\n * upper case letters (A-Z)\n * numbers (i.e. 0-9)\n"
        " * special characters (e.g. !@#$%^&*)",
        "statusCode": 400,
    }


def test_dictionary_and_personal_info_errors(api_client, make_connection):
    make_connection(name="Strict", password_dictionary={"enable": True}, password_no_personal_info={"enable": True})
    client, _ = create_client(name="web", scopes="", connections=["Strict"], actor=SYSTEM)
    base = {"client_id": client.client_id, "connection": "Strict", "email": "margaret@example.com"}
    common = _signup(api_client, {**base, "password": "Password1!"}).json()
    assert common == {
        "name": "PasswordDictionaryError",
        "message": "Password is too common",
        "code": "invalid_password",
        "description": "Password is not allowed, it might be too common.",
        "statusCode": 400,
    }
    personal = _signup(api_client, {**base, "password": "Margaret!2024x"}).json()
    assert personal["name"] == "PasswordNoUserInfoError"
    assert personal["code"] == "invalid_password"
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("change", "code", "description"),
    [
        ({"client_id": "x" * 32}, "invalid_client", "Unknown or inactive client."),
        ({"connection": "Nope"}, "invalid_connection", "The connection does not exist."),
    ],
)
def test_unknown_client_or_connection(api_client, app, change, code, description):
    response = _signup(api_client, _body(app, **change))
    assert response.json() == {"name": "BadRequestError", "code": code, "description": description, "statusCode": 400}


def test_missing_client_id_is_a_400(api_client, app):
    body = _body(app)
    del body["client_id"]
    response = _signup(api_client, body)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"
    assert response.json()["description"] == "Payload validation error: 'Missing required property: client_id'."


def test_inactive_client_is_refused(api_client, app):
    set_client_active(client_id=app.client_id, active=False, actor=SYSTEM)
    assert _signup(api_client, _body(app)).json()["code"] == "invalid_client"


def test_connection_not_enabled_for_the_client(api_client, app, make_connection):
    make_connection(name="Elsewhere")
    response = _signup(api_client, _body(app, connection="Elsewhere"))
    assert response.json()["description"] == "The connection is not enabled for this client."


def test_passwordless_connection_is_refused(api_client, make_connection):
    make_connection(name="mail", strategy="email")
    client, _ = create_client(name="web", scopes="", connections=["mail"], actor=SYSTEM)
    response = _signup(
        api_client, {"client_id": client.client_id, "connection": "mail", "email": "a@example.com", "password": "x"}
    )
    assert response.json()["description"] == "Sign-up is only available on database connections."


def test_disabled_signups(api_client, make_connection):
    make_connection(name="Closed", disable_signup=True)
    client, _ = create_client(name="web", scopes="", connections=["Closed"], actor=SYSTEM)
    body = {
        "client_id": client.client_id,
        "connection": "Closed",
        "email": "a@example.com",
        "password": STRONG_PASSWORD,
    }
    assert _signup(api_client, body).json() == {
        "name": "BadRequestError",
        "code": "operation_not_enabled",
        "description": "public signup is disabled",
        "statusCode": 400,
    }


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(11)},
        {"k" * 101: "v"},
        {"k": "v" * 501},
        {"k": 1},
        {"k": {"nested": "v"}},
    ],
)
def test_signup_metadata_limits(api_client, app, metadata):
    response = _signup(api_client, _body(app, user_metadata=metadata))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_body"
    assert response.json()["errors"][0]["field"] == "user_metadata"


def test_signup_metadata_at_the_limits_is_accepted(api_client, app):
    metadata = {f"{i}" + "k" * 99: "v" * 500 for i in range(10)}
    assert _signup(api_client, _body(app, user_metadata=metadata)).status_code == 200


def test_schema_rules_are_the_management_apis(api_client, app):
    response = _signup(api_client, _body(app, email="not-an-email", scopes="x"))
    assert response.status_code == 400
    assert {e["code"] for e in response.json()["errors"]} == {"FORMAT", "OBJECT_ADDITIONAL_PROPERTIES"}


def test_malformed_body_is_a_400_in_the_same_shape(api_client):
    response = api_client.post(URL, data="{", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["name"] == "BadRequestError"


@override_settings(SIGNUP_RATE_LIMIT="2/minute")
def test_signups_are_limited_per_client_ip(api_client, app):
    for i in range(2):
        assert _signup(api_client, _body(app, email=f"u{i}@example.com")).status_code == 200
    limited = _signup(api_client, _body(app, email="u3@example.com"))
    assert limited.status_code == 429
    assert limited.json() == {
        "name": "TooManyRequestsError",
        "code": "too_many_requests",
        "description": "Too many sign-ups from this address. Try again later.",
        "statusCode": 429,
    }
    assert int(limited["Retry-After"]) >= 1
    other = _signup(api_client, _body(app, email="u4@example.com"), REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 200


@pytest.mark.live
def test_official_sdk_signup(live_server_url, connection):
    from auth0.authentication import Database
    from auth0.authentication.exceptions import Auth0Error

    client, _ = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    database = Database(urlsplit(live_server_url).netloc, client.client_id, protocol="http")
    created = database.signup(email="Sdk@Example.com", password=STRONG_PASSWORD, connection=connection.name, name="Sdk")
    assert created["email"] == "sdk@example.com"
    assert created["name"] == "Sdk"
    assert len(created["_id"]) == 24

    with pytest.raises(Auth0Error) as duplicate:
        database.signup(email="sdk@example.com", password=STRONG_PASSWORD, connection=connection.name)
    assert duplicate.value.status_code == 400
    assert duplicate.value.error_code == "invalid_signup"

    with pytest.raises(Auth0Error) as weak:
        database.signup(email="weak@example.com", password="weak", connection=connection.name)
    assert weak.value.status_code == 400
    assert weak.value.error_code == "invalid_password"
    assert weak.value.message == "Password is too weak"
