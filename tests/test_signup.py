"""POST /dbconnections/signup: Auth0's public sign-up, its client and connection checks, its error bodies,
its per-address rate limit, and the official SDK against a real server."""

from __future__ import annotations

import re
from unittest import mock
from urllib.parse import urlencode, urlsplit

import pytest
from django.test import override_settings

from clients.services import create_client, set_client_active
from core.actors import SYSTEM
from core.hashing import bcrypt_verify as verify_password
from tests.helpers import SIGNUP, STRONG_PASSWORD, password_hash_of
from users.models import User

pytestmark = pytest.mark.django_db

OBJECT_ID = re.compile(r"[0-9a-f]{24}")
MISSING = "OBJECT_MISSING_REQUIRED_PROPERTY"

INVALID_SIGNUP = {
    "name": "BadRequestError",
    "code": "invalid_signup",
    "description": "Invalid sign up",
    "statusCode": 400,
}
USER_EXISTS = {
    "name": "BadRequestError",
    "code": "user_exists",
    "description": "The user already exists.",
    "statusCode": 400,
}
GOOD_POLICY_TEXT = (
    "* At least 8 characters in length\n* Contain at least 3 of the following 4 types of characters:\n"
    " * lower case letters (a-z)\n * upper case letters (A-Z)\n * numbers (i.e. 0-9)\n"
    " * special characters (e.g. !@#$%^&*)"
)


def _refusal(code: str, description: str) -> dict:
    return {"name": "BadRequestError", "code": code, "description": description, "statusCode": 400}


def _invalid_body(description: str, *errors: tuple[str | None, str, str]) -> dict:
    return {
        "name": "BadRequestError",
        "code": "invalid_body",
        "description": description,
        "errors": [{"field": field, "code": code, "message": message} for field, code, message in errors],
        "statusCode": 400,
    }


@pytest.fixture
def named_app(make_connection):
    """An active client whose only connection requires a username."""
    make_connection(name="Named", requires_username=True)
    client, _secret = create_client(name="named-web", scopes="", connections=["Named"], actor=SYSTEM)
    return client


def _body(signup_app, **fields):
    return {
        "client_id": signup_app.client_id,
        "connection": "Username-Password-Authentication",
        "email": "Ann@Example.com",
        "password": STRONG_PASSWORD,
        **fields,
    }


def _named_body(named_app, **fields):
    body = {
        "client_id": named_app.client_id,
        "connection": "Named",
        "email": "ann@example.com",
        "username": "ann",
        "password": STRONG_PASSWORD,
    }
    return {key: value for key, value in {**body, **fields}.items() if value is not None}


def _signup(api_client, body, **extra):
    return api_client.post(SIGNUP, body, format="json", **extra)


# --- success -------------------------------------------------------------------------------------------


def test_signup_answers_200_with_the_bare_id_the_email_and_email_verified(api_client, signup_app, connection):
    response = _signup(api_client, _body(signup_app))
    assert response.status_code == 200
    body = response.json()
    assert body == {"_id": body["_id"], "email": "ann@example.com", "email_verified": False}
    assert OBJECT_ID.fullmatch(body["_id"])
    user = User.objects.get()
    assert user.user_id == f"auth0|{body['_id']}"
    assert user.connection == connection
    assert user.email == "ann@example.com"
    stored = password_hash_of(user)
    assert stored != STRONG_PASSWORD
    assert stored.startswith("$2b$")
    assert verify_password(STRONG_PASSWORD, stored)


def test_signup_echoes_every_profile_field_given_but_not_the_metadata(api_client, named_app):
    fields = {
        "given_name": "Ann",
        "family_name": "Lee",
        "name": "Ann Lee",
        "nickname": "annie",
        "picture": "https://example.com/a.png",
        "user_metadata": {"color": "blue", "plan": "free"},
    }
    response = _signup(api_client, _named_body(named_app, username="Ann_Lee", **fields))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "_id": body["_id"],
        "email": "ann@example.com",
        "email_verified": False,
        "username": "ann_lee",
        "given_name": "Ann",
        "family_name": "Lee",
        "name": "Ann Lee",
        "nickname": "annie",
        "picture": "https://example.com/a.png",
    }
    user = User.objects.get()
    assert user.user_metadata == {"color": "blue", "plan": "free"}
    assert (user.username, user.given_name, user.family_name) == ("ann_lee", "Ann", "Lee")


def test_signup_accepts_a_form_encoded_body(api_client, signup_app):
    response = api_client.post(
        SIGNUP, urlencode(_body(signup_app, name="Ann Lee")), content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "_id": body["_id"],
        "email": "ann@example.com",
        "email_verified": False,
        "name": "Ann Lee",
    }
    assert User.objects.get().name == "Ann Lee"


def test_signup_needs_no_bearer_and_ignores_a_bad_one(api_client, signup_app):
    response = _signup(api_client, _body(signup_app), HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 200
    assert User.objects.count() == 1


def test_signup_defaults_the_profile_like_a_management_create(api_client, signup_app):
    _signup(api_client, _body(signup_app))
    user = User.objects.get()
    assert (user.name, user.nickname) == ("ann@example.com", "ann")
    assert user.picture is not None
    assert user.picture.startswith("https://s.gravatar.com/avatar/")


# --- the management API's schema and strategy rules ----------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"email": "not-an-email"},
            _invalid_body(
                "Payload validation error: 'Object didn't pass validation for format email: not-an-email' "
                "on property email (The user's email address).",
                ("email", "FORMAT", "Object didn't pass validation for format email: not-an-email"),
            ),
            id="email-format",
        ),
        pytest.param(
            {"email_verified": True},
            _invalid_body(
                "Payload validation error: 'Additional properties not allowed: email_verified'.",
                (None, "OBJECT_ADDITIONAL_PROPERTIES", "Additional properties not allowed: email_verified"),
            ),
            id="cannot-self-verify",
        ),
        pytest.param(
            {"app_metadata": {"role": "admin"}},
            _invalid_body(
                "Payload validation error: 'Additional properties not allowed: app_metadata'.",
                (None, "OBJECT_ADDITIONAL_PROPERTIES", "Additional properties not allowed: app_metadata"),
            ),
            id="no-signup_app-metadata",
        ),
        pytest.param(
            {"given_name": "x" * 151},
            _invalid_body(
                "Payload validation error: 'String is too long (151 chars), maximum 150' "
                "on property given_name (The user's given name(s)).",
                ("given_name", "MAX_LENGTH", "String is too long (151 chars), maximum 150"),
            ),
            id="given-name-length",
        ),
        pytest.param(
            {"password": None},
            _invalid_body(
                "Payload validation error: 'Missing required property: password'.",
                ("password", "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: password"),
            ),
            id="missing-password",
        ),
        pytest.param(
            {"email": None},
            _invalid_body('"email" is required', ("email", MISSING, '"email" is required')),
            id="missing-email",
        ),
        pytest.param(
            {"username": "ann"},
            _invalid_body(
                "Cannot set username for connection without requires_username.",
                (
                    "username",
                    "USERNAME_NOT_ALLOWED",
                    "Cannot set username for connection without requires_username.",
                ),
            ),
            id="username-not-allowed",
        ),
    ],
)
def test_signup_applies_the_management_schema_and_strategy_rules(api_client, signup_app, fields, expected):
    body = {key: value for key, value in _body(signup_app, **fields).items() if value is not None}
    response = _signup(api_client, body)
    assert response.status_code == 400
    assert response.json() == expected
    assert not User.objects.exists()


def test_signup_reports_every_schema_problem_together(api_client, signup_app):
    response = _signup(api_client, _body(signup_app, email="not-an-email", scopes="x"))
    assert response.status_code == 400
    assert {e["code"] for e in response.json()["errors"]} == {"FORMAT", "OBJECT_ADDITIONAL_PROPERTIES"}
    extra = "Additional properties not allowed: scopes"
    email = "Object didn't pass validation for format email: not-an-email"
    assert response.json() == _invalid_body(
        f"Payload validation error: '{extra}'. (also) "
        f"Payload validation error: '{email}' on property email (The user's email address).",
        (None, "OBJECT_ADDITIONAL_PROPERTIES", extra),
        ("email", "FORMAT", email),
    )
    assert not User.objects.exists()


def test_signup_requires_the_username_when_the_connection_does(api_client, named_app):
    response = _signup(api_client, _named_body(named_app, username=None))
    assert response.status_code == 400
    assert response.json() == _invalid_body(
        "Payload validation error: 'Missing required property: username'.",
        (
            "username",
            "OBJECT_MISSING_REQUIRED_PROPERTY",
            "Payload validation error: 'Missing required property: username'.",
        ),
    )
    assert not User.objects.exists()


def test_signup_applies_the_connections_username_rules(api_client, named_app):
    response = _signup(api_client, _named_body(named_app, username="ann@example.com"))
    assert response.status_code == 400
    assert response.json() == _invalid_body(
        "The username cannot be an email address.",
        ("username", "USERNAME_IS_EMAIL", "The username cannot be an email address."),
    )


def test_a_body_that_is_not_an_object_is_invalid_body(api_client, signup_app):
    response = _signup(api_client, [_body(signup_app)])
    assert response.status_code == 400
    assert response.json() == _invalid_body(
        "Payload validation error: 'Expected type object but found type array'.",
        (None, "INVALID_TYPE", "Expected type object but found type array"),
    )


@pytest.mark.parametrize("text", ['{"client_id": ', "{"])
def test_malformed_json_is_a_400_in_the_signup_shape(api_client, signup_app, text):
    response = api_client.post(SIGNUP, data=text, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "name": "BadRequestError",
        "code": "invalid_body",
        "description": "The body must be a JSON object or form-encoded.",
        "statusCode": 400,
    }


# --- sign-up metadata limits ---------------------------------------------------------------------------

_METADATA_DESCRIPTION = (
    "Payload validation error: '{}' on property user_metadata (The user metadata to be associated with the "
    "user: at most ten properties, names of at most 100 characters, values strings of at most 500 "
    "characters)."
)


@pytest.mark.parametrize(
    ("metadata", "code", "message"),
    [
        pytest.param(
            {f"k{i}": "v" for i in range(11)},
            "OBJECT_PROPERTIES_MAXIMUM",
            "Too many properties defined (11), maximum 10",
            id="eleven-properties",
        ),
        pytest.param(
            {"k" * 101: "v"},
            "MAX_LENGTH",
            "Property name is too long (101 chars), maximum 100: " + "k" * 101,
            id="long-name",
        ),
        pytest.param(
            {"k": "v" * 501}, "MAX_LENGTH", "Property k is too long (501 chars), maximum 500", id="long-value"
        ),
        pytest.param({"k": 1}, "INVALID_TYPE", "Property k must be a string", id="number-value"),
        pytest.param({"k": True}, "INVALID_TYPE", "Property k must be a string", id="boolean-value"),
        pytest.param(
            {"k": {"nested": "v"}},
            "MAX_DEPTH",
            "Object is nested too deeply (more than 1 levels)",
            id="nested-value",
        ),
        pytest.param("blue", "INVALID_TYPE", "Expected type object but found type string", id="string"),
    ],
)
def test_signup_metadata_limits(api_client, signup_app, metadata, code, message):
    response = _signup(api_client, _body(signup_app, user_metadata=metadata))
    assert response.status_code == 400
    expected = _invalid_body(_METADATA_DESCRIPTION.format(message), ("user_metadata", code, message))
    assert response.json() == expected
    assert not User.objects.exists()


def test_signup_metadata_at_the_limits_is_accepted(api_client, signup_app):
    metadata = {f"{i}" + "k" * 99: "v" * 500 for i in range(10)}
    assert _signup(api_client, _body(signup_app, user_metadata=metadata)).status_code == 200
    assert User.objects.get().user_metadata == metadata


# --- taken identifiers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"), [("email", "ANN@EXAMPLE.COM"), ("username", "ANN")], ids=["email", "username"]
)
def test_a_taken_identifier_is_the_generic_invalid_signup(api_client, named_app, field, value):
    assert _signup(api_client, _named_body(named_app)).status_code == 200
    again = _named_body(named_app, **{"email": "bob@example.com", "username": "bob", field: value})
    response = _signup(api_client, again)
    assert response.status_code == 400
    assert response.json() == INVALID_SIGNUP
    assert User.objects.count() == 1


@override_settings(SIGNUP_USER_EXISTS_ERROR=True)
@pytest.mark.parametrize(
    ("field", "value"), [("email", "ANN@EXAMPLE.COM"), ("username", "ANN")], ids=["email", "username"]
)
def test_a_taken_identifier_is_user_exists_when_the_setting_is_on(api_client, named_app, field, value):
    assert _signup(api_client, _named_body(named_app)).status_code == 200
    again = _named_body(named_app, **{"email": "bob@example.com", "username": "bob", field: value})
    response = _signup(api_client, again)
    assert response.status_code == 400
    assert response.json() == USER_EXISTS
    assert User.objects.count() == 1


def test_a_user_created_through_the_management_api_blocks_the_same_signup(api_client, signup_app, create):
    created = create(
        {
            "connection": "Username-Password-Authentication",
            "email": "ann@example.com",
            "password": STRONG_PASSWORD,
        }
    )
    assert created.status_code == 201
    api_client.credentials()
    response = _signup(api_client, _body(signup_app))
    assert response.json() == INVALID_SIGNUP
    assert User.objects.count() == 1


# --- password policies ---------------------------------------------------------------------------------


def test_a_weak_password_is_auth0s_full_password_strength_error(api_client, signup_app):
    response = _signup(api_client, _body(signup_app, password="hello!world"))
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
        "policy": GOOD_POLICY_TEXT,
        "statusCode": 400,
    }
    assert not User.objects.exists()


def test_the_password_error_follows_the_connections_policy(api_client, make_connection):
    make_connection(name="Lax", passwordPolicy="low")
    client, _secret = create_client(name="lax-web", scopes="", connections=["Lax"], actor=SYSTEM)
    body = {"client_id": client.client_id, "connection": "Lax", "email": "a@example.com", "password": "abc"}
    response = _signup(api_client, body)
    assert response.json() == {
        "name": "PasswordStrengthError",
        "message": "Password is too weak",
        "code": "invalid_password",
        "description": {
            "rules": [
                {
                    "message": "At least %d characters in length",
                    "format": [6],
                    "code": "lengthAtLeast",
                    "verified": False,
                }
            ],
            "verified": False,
        },
        "policy": "* At least 6 characters in length",
        "statusCode": 400,
    }
    assert _signup(api_client, {**body, "password": "abcdef"}).status_code == 200


@pytest.fixture
def strict_app(make_connection):
    options = {"password_dictionary": {"enable": True}, "password_no_personal_info": {"enable": True}}
    make_connection(name="Strict", **options)
    client, _secret = create_client(name="strict-web", scopes="", connections=["Strict"], actor=SYSTEM)
    return client


def test_a_common_password_is_the_password_dictionary_error(api_client, strict_app):
    body = {"client_id": strict_app.client_id, "connection": "Strict", "email": "margaret@example.com"}
    response = _signup(api_client, {**body, "password": "Password1!"})
    assert response.status_code == 400
    assert response.json() == {
        "name": "PasswordDictionaryError",
        "message": "Password is too common",
        "code": "invalid_password",
        "description": "Password is not allowed, it might be too common.",
        "statusCode": 400,
    }
    assert not User.objects.exists()


def test_a_password_with_personal_info_is_the_no_user_info_error(api_client, strict_app):
    body = {"client_id": strict_app.client_id, "connection": "Strict", "email": "margaret@example.com"}
    response = _signup(api_client, {**body, "password": "Margaret!2024x"})
    assert response.status_code == 400
    assert response.json() == {
        "name": "PasswordNoUserInfoError",
        "message": "Password contains user information",
        "code": "invalid_password",
        "description": "Password contains user information",
        "statusCode": 400,
    }
    in_metadata = {**body, "password": "Zebedee!2024x", "user_metadata": {"first": "Zebedee"}}
    metadata = _signup(api_client, in_metadata)
    assert metadata.status_code == 400
    assert metadata.json() == response.json()
    assert not User.objects.exists()


# --- client and connection checks ----------------------------------------------------------------------


def test_a_missing_client_id_is_refused(api_client, signup_app):
    body = _body(signup_app)
    del body["client_id"]
    response = _signup(api_client, body)
    assert response.status_code == 400
    assert response.json() == _invalid_body(
        "Payload validation error: 'Missing required property: client_id'.",
        ("client_id", "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: client_id"),
    )
    assert not User.objects.exists()


def test_an_unknown_client_is_refused(api_client, signup_app):
    response = _signup(api_client, _body(signup_app, client_id="x" * 32))
    assert response.status_code == 400
    assert response.json() == _refusal("invalid_client", "Unknown or inactive client.")
    assert not User.objects.exists()


def test_an_inactive_client_is_refused(api_client, signup_app):
    set_client_active(client_id=signup_app.client_id, active=False, actor=SYSTEM)
    response = _signup(api_client, _body(signup_app))
    assert response.status_code == 400
    assert response.json() == _refusal("invalid_client", "Unknown or inactive client.")
    assert not User.objects.exists()
    set_client_active(client_id=signup_app.client_id, active=True, actor=SYSTEM)
    assert _signup(api_client, _body(signup_app)).status_code == 200


def test_an_unknown_connection_is_refused(api_client, signup_app):
    response = _signup(api_client, _body(signup_app, connection="Nope"))
    assert response.status_code == 400
    assert response.json() == _refusal("invalid_connection", "The connection does not exist.")


@pytest.mark.parametrize("elsewhere_enabled", [False, True], ids=["for-no-client", "for-another-client"])
def test_a_connection_not_enabled_for_the_client_is_refused(api_client, signup_app, make_connection, elsewhere_enabled):
    make_connection(name="Elsewhere")
    if elsewhere_enabled:
        create_client(name="other", scopes="", connections=["Elsewhere"], actor=SYSTEM)
    response = _signup(api_client, _body(signup_app, connection="Elsewhere"))
    assert response.status_code == 400
    assert response.json() == _refusal("invalid_connection", "The connection is not enabled for this client.")
    assert not User.objects.exists()


def test_a_passwordless_connection_is_refused(api_client, make_connection):
    make_connection(name="mail", strategy="email")
    client, _secret = create_client(name="web", scopes="", connections=["mail"], actor=SYSTEM)
    body = {"client_id": client.client_id, "connection": "mail", "email": "a@example.com", "password": "x"}
    response = _signup(api_client, body)
    assert response.status_code == 400
    description = "Sign-up is only available on database connections."
    assert response.json() == _refusal("invalid_connection", description)
    assert not User.objects.exists()


def test_disabled_signups_are_refused_but_management_creates_still_work(api_client, make_connection, create):
    make_connection(name="Closed", disable_signup=True)
    client, _secret = create_client(name="web", scopes="", connections=["Closed"], actor=SYSTEM)
    body = {
        "client_id": client.client_id,
        "connection": "Closed",
        "email": "a@example.com",
        "password": STRONG_PASSWORD,
    }
    response = _signup(api_client, body)
    assert response.status_code == 400
    assert response.json() == _refusal("operation_not_enabled", "public signup is disabled")
    assert not User.objects.exists()
    created = create({"connection": "Closed", "email": "a@example.com", "password": STRONG_PASSWORD})
    assert created.status_code == 201


# --- rate limit ----------------------------------------------------------------------------------------

TOO_MANY = {
    "name": "TooManyRequestsError",
    "code": "too_many_requests",
    "description": "Too many sign-ups from this address. Try again later.",
    "statusCode": 429,
}
# 30 s into a one-minute window, so the window cannot roll over in the middle of a test.
WINDOW_MIDDLE = 1_700_000_010.0


@pytest.fixture
def clock():
    with mock.patch("api.throttling.time") as fake:
        fake.time.return_value = WINDOW_MIDDLE
        yield fake


@override_settings(SIGNUP_RATE_LIMIT="2/minute")
def test_signups_are_limited_per_client_address(api_client, signup_app, clock):
    for i in range(2):
        assert _signup(api_client, _body(signup_app, email=f"u{i}@example.com")).status_code == 200
    limited = _signup(api_client, _body(signup_app, email="u3@example.com"))
    assert limited.status_code == 429
    assert limited.json() == TOO_MANY
    assert limited["Retry-After"] == "30"  # a bucket of 2 refilled at 2 a minute: the next token in 30 s
    assert not User.objects.filter(email="u3@example.com").exists()


@override_settings(SIGNUP_RATE_LIMIT="2/minute")
def test_each_client_address_has_its_own_budget(api_client, signup_app, clock):
    for i in range(2):
        response = _signup(api_client, _body(signup_app, email=f"a{i}@example.com"), REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 200
    assert _signup(api_client, _body(signup_app, email="a3@example.com"), REMOTE_ADDR="10.0.0.1").status_code == 429
    for i in range(2):
        response = _signup(api_client, _body(signup_app, email=f"b{i}@example.com"), REMOTE_ADDR="10.0.0.2")
        assert response.status_code == 200
    assert _signup(api_client, _body(signup_app, email="b3@example.com"), REMOTE_ADDR="10.0.0.2").status_code == 429


@override_settings(SIGNUP_RATE_LIMIT="2/minute")
def test_a_forged_forwarded_for_header_gets_no_new_budget(api_client, signup_app, clock):
    for i in range(2):
        assert _signup(api_client, _body(signup_app, email=f"u{i}@example.com")).status_code == 200
    forged = _signup(api_client, _body(signup_app, email="u3@example.com"), HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert forged.status_code == 429


@override_settings(SIGNUP_RATE_LIMIT="2/minute")
def test_refused_signups_use_up_the_budget_too(api_client, signup_app, clock):
    for _ in range(2):
        assert _signup(api_client, _body(signup_app, client_id="nope")).status_code == 400
    assert _signup(api_client, _body(signup_app)).json() == TOO_MANY
    assert not User.objects.exists()


@override_settings(SIGNUP_RATE_LIMIT="2/minute")
def test_the_budget_comes_back_with_the_next_window(api_client, signup_app, clock):
    for i in range(2):
        assert _signup(api_client, _body(signup_app, email=f"u{i}@example.com")).status_code == 200
    assert _signup(api_client, _body(signup_app, email="u3@example.com")).status_code == 429
    clock.time.return_value = WINDOW_MIDDLE + 60
    assert _signup(api_client, _body(signup_app, email="u3@example.com")).status_code == 200


def test_the_default_budget_is_twenty_a_minute(api_client, signup_app, clock):
    for _ in range(20):
        assert _signup(api_client, _body(signup_app, client_id="nope")).status_code == 400
    assert _signup(api_client, _body(signup_app)).status_code == 429


# --- the official SDK against a real server ------------------------------------------------------------


@pytest.mark.live
def test_the_official_sdk_signs_up_and_reads_our_errors(live_server_url, connection):
    from auth0.authentication import Database
    from auth0.authentication.exceptions import Auth0Error

    client, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    database = Database(urlsplit(live_server_url).netloc, client.client_id, protocol="http")

    created = database.signup(
        email="Sdk@Example.com",
        password=STRONG_PASSWORD,
        connection=connection.name,
        name="Sdk User",
        user_metadata={"plan": "free"},
    )
    assert created == {
        "_id": created["_id"],
        "email": "sdk@example.com",
        "email_verified": False,
        "name": "Sdk User",
    }
    assert OBJECT_ID.fullmatch(created["_id"])
    user = User.objects.get()
    assert user.user_id == f"auth0|{created['_id']}"
    assert user.user_metadata == {"plan": "free"}

    # The SDK takes ``code`` as error_code; it never reads ``description``, so the message is empty.
    with pytest.raises(Auth0Error) as duplicate:
        database.signup(email="sdk@example.com", password=STRONG_PASSWORD, connection=connection.name)
    assert duplicate.value.status_code == 400
    assert duplicate.value.error_code == "invalid_signup"
    assert duplicate.value.message == ""
    assert duplicate.value.content is None
    assert str(duplicate.value) == "400: "

    with pytest.raises(Auth0Error) as weak:
        database.signup(email="weak@example.com", password="weak", connection=connection.name)
    assert weak.value.status_code == 400
    assert weak.value.error_code == "invalid_password"
    assert weak.value.message == "Password is too weak"
    assert weak.value.content is None
    assert str(weak.value) == "400: Password is too weak"
    assert User.objects.count() == 1
