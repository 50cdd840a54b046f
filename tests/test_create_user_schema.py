"""The request schema of ``POST /api/v2/users`` (Auth0's ``CreateUserRequestContent``), rule by rule.

Each of the 17 properties has a valid form that is created (201) and invalid forms that are refused with
400 ``invalid_body`` in Auth0's z-schema wording; the whole error body is compared, so a test fails if
its rule is removed or reworded. Refused requests must store nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from core.hashing import bcrypt_verify as verify_password
from tests.helpers import DB, STRONG_PASSWORD, invalid_body, password_hash_of
from users.models import User

pytestmark = pytest.mark.django_db

USERNAME_DB = "with-username"  # requires_username, usernames 1..128
NO_POLICY_DB = "no-policy"  # passwordPolicy "none": only the schema limits the password
SMS = "sms"
PHONE = "+14155550123"
PHONE_PATTERN = r"^\+[0-9]{1,15}$"
USER_ID_PATTERN = r"^\S*$"

# Auth0's property descriptions as they appear in messages (final period dropped).
DESCRIPTIONS = {
    "email": "The user's email",
    "phone_number": "The user's phone number (following the E.164 recommendation)",
    "user_metadata": "Data related to the user that does not affect the application's core functionality",
    "blocked": "Whether this user was blocked by an administrator (true) or not (false)",
    "email_verified": "Whether this email address is verified (true) or unverified (false). User will "
    "receive a verification email after creation if `email_verified` is false or not specified",
    "phone_verified": "Whether this phone number has been verified (true) or not (false)",
    "app_metadata": "Data related to the user that does affect the application's core functionality",
    "given_name": "The user's given name(s)",
    "family_name": "The user's family name(s)",
    "name": "The user's full name",
    "nickname": "The user's nickname",
    "picture": "A URI pointing to the user's picture",
    "user_id": "The external user's id provided by the identity provider",
    "connection": "Name of the connection this user should be created in",
    "password": "Initial password for this user. Only valid for auth0 connection strategy",
    "verify_email": "Whether the user will receive a verification email after creation (true) or no "
    "email (false). Overrides behavior of `email_verified` parameter",
    "username": "The user's username. Only valid if the connection requires a username",
}
STRING_FIELDS = [
    "email",
    "phone_number",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "user_id",
    "connection",
    "password",
    "username",
]
BOOLEAN_FIELDS = ["blocked", "email_verified", "phone_verified", "verify_email"]
METADATA_FIELDS = ["user_metadata", "app_metadata"]


@pytest.fixture(autouse=True)
def connections(make_connection: Callable[..., Any]) -> None:
    make_connection()
    make_connection(name=USERNAME_DB, requires_username=True, validation={"username": {"min": 1, "max": 128}})
    make_connection(name=NO_POLICY_DB, passwordPolicy="none")
    make_connection(name=SMS, strategy="sms")


def base_body(field: str) -> dict[str, Any]:
    """A body that creates a user on a connection where ``field`` is allowed."""
    if field in ("phone_number", "phone_verified"):
        return {"connection": SMS, "phone_number": PHONE}
    if field == "username":
        return {
            "connection": USERNAME_DB,
            "email": "jane@example.com",
            "password": STRONG_PASSWORD,
            "username": "jane",
        }
    return {"connection": DB, "email": "jane@example.com", "password": STRONG_PASSWORD}


def with_field(field: str, value: Any) -> dict[str, Any]:
    return {**base_body(field), field: value}


def refusal(field: str, code: str, detail: str) -> dict[str, Any]:
    """The whole body of a one-problem refusal, worded as Auth0's z-schema errors are."""
    message = f"Payload validation error: '{detail}' on property {field} ({DESCRIPTIONS[field]})."
    return invalid_body((field, code, detail), message=message)


def assert_refused(response: Any, field: str, code: str, detail: str) -> None:
    assert response.status_code == 400, response.content
    assert response.json() == refusal(field, code, detail)
    assert User.objects.count() == 0


def assert_created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.content
    assert User.objects.count() == 1
    return response.json()


def post_raw(client: APIClient, text: str | bytes, content_type: str = "application/json") -> Any:
    """POST a body exactly as given: lone surrogates and NULs only exist as JSON escapes."""
    return client.post("/api/v2/users", data=text, content_type=content_type)


def post_form(client: APIClient, form: dict[str, str]) -> Any:
    return post_raw(client, urlencode(form), "application/x-www-form-urlencoded")


def nested(levels: int, container: str = "object") -> Any:
    """``levels`` containers, one inside the other, around a scalar."""
    value: Any = 1
    for _ in range(levels):
        value = {"a": value} if container == "object" else [value]
    return value


# --- valid forms of every property ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "jane@example.com"),
        ("email", "jane.doe+tag@sub.example.co.uk"),
        ("phone_number", PHONE),
        ("user_metadata", {}),
        ("user_metadata", {"plan": "pro", "tags": ["a", "b"], "score": 1.5, "none": None, "n": {"x": 1}}),
        ("app_metadata", {}),
        ("app_metadata", {"roles": ["admin"], "active": True}),
        ("blocked", True),
        ("blocked", False),
        ("email_verified", True),
        ("email_verified", False),
        ("phone_verified", True),
        ("phone_verified", False),
        ("given_name", "Jane"),
        ("family_name", "Doe"),
        ("name", "Jane Doe"),
        ("nickname", "jd"),
        ("picture", "https://example.com/jane.png"),
        ("picture", "http://example.com/a/b.jpg?size=480#top"),
        ("picture", "ftp://files.example.com/jane.png"),
        ("picture", "https://example.com:65535/jane.png"),
        ("username", "jane"),
    ],
)
def test_valid_value_is_accepted_and_echoed(create: Callable[..., Any], field: str, value: Any) -> None:
    profile = assert_created(create(with_field(field, value)))
    assert profile[field] == value


def test_valid_user_id_is_accepted_with_the_provider_prefix(create: Callable[..., Any]) -> None:
    profile = assert_created(create(with_field("user_id", "ext-123_ABC|x")))
    assert profile["user_id"] == "auth0|ext-123_ABC|x"
    assert profile["identities"][0]["user_id"] == "ext-123_ABC|x"


def test_valid_connection_is_accepted(create: Callable[..., Any]) -> None:
    profile = assert_created(create(base_body("connection")))
    assert profile["identities"][0]["connection"] == DB


@pytest.mark.parametrize("value", [True, False])
def test_verify_email_is_accepted_and_never_echoed(create: Callable[..., Any], value: bool) -> None:
    profile = assert_created(create(with_field("verify_email", value)))
    assert "verify_email" not in profile


def test_valid_password_is_accepted_and_never_echoed(create: Callable[..., Any]) -> None:
    profile = assert_created(create(with_field("password", STRONG_PASSWORD)))
    assert "password" not in profile
    assert verify_password(STRONG_PASSWORD, password_hash_of(User.objects.get()))


def test_body_with_all_17_properties_is_accepted(create: Callable[..., Any], make_connection: Any) -> None:
    make_connection(name="everything", requires_username=True)
    body = {
        "connection": "everything",
        "email": "jane@example.com",
        "phone_number": PHONE,
        "user_metadata": {"plan": "pro"},
        "app_metadata": {"roles": ["admin"]},
        "blocked": False,
        "email_verified": True,
        "phone_verified": False,
        "given_name": "Jane",
        "family_name": "Doe",
        "name": "Jane Doe",
        "nickname": "jd",
        "picture": "https://example.com/jane.png",
        "user_id": "jane-1",
        "password": STRONG_PASSWORD,
        "verify_email": False,
        "username": "jane",
    }
    assert len(body) == len(DESCRIPTIONS)
    response = create(body)
    # phone_number is the strategy's business (auth0 refuses it), not the schema's: the schema let it in.
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": "phone_number",
            "code": "NOT_ALLOWED_FOR_STRATEGY",
            "message": "Cannot set phone_number for connection with strategy auth0.",
        }
    ]
    del body["phone_number"], body["phone_verified"]
    assert_created(create(body))


# --- wrong JSON types --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", STRING_FIELDS)
@pytest.mark.parametrize(
    ("value", "json_type"),
    [
        (5, "integer"),
        (2.5, "number"),
        (True, "boolean"),
        (None, "null"),
        (["x"], "array"),
        ({"a": 1}, "object"),
    ],
)
def test_string_property_of_another_type_is_refused(
    create: Callable[..., Any], field: str, value: Any, json_type: str
) -> None:
    response = create(with_field(field, value))
    assert_refused(response, field, "INVALID_TYPE", f"Expected type string but found type {json_type}")


@pytest.mark.parametrize("field", BOOLEAN_FIELDS)
@pytest.mark.parametrize(
    ("value", "json_type"),
    [("true", "string"), ("false", "string"), (1, "integer"), (0, "integer"), (None, "null"), ([], "array")],
)
def test_boolean_property_of_another_type_is_refused(
    create: Callable[..., Any], field: str, value: Any, json_type: str
) -> None:
    response = create(with_field(field, value))
    assert_refused(response, field, "INVALID_TYPE", f"Expected type boolean but found type {json_type}")


@pytest.mark.parametrize("field", METADATA_FIELDS)
@pytest.mark.parametrize(
    ("value", "json_type"),
    [
        ('{"plan": "pro"}', "string"),
        ([], "array"),
        ([{"plan": "pro"}], "array"),
        (None, "null"),
        (5, "integer"),
        (True, "boolean"),
    ],
)
def test_metadata_that_is_not_an_object_is_refused(
    create: Callable[..., Any], field: str, value: Any, json_type: str
) -> None:
    response = create(with_field(field, value))
    assert_refused(response, field, "INVALID_TYPE", f"Expected type object but found type {json_type}")


# --- lengths -----------------------------------------------------------------------------------------

LENGTH_LIMITS = [
    ("given_name", 1, 150),
    ("family_name", 1, 150),
    ("name", 1, 300),
    ("nickname", 1, 300),
    ("username", 1, 128),
]


@pytest.mark.parametrize(("field", "low", "high"), LENGTH_LIMITS)
@pytest.mark.parametrize("at", ["low", "high"])
def test_string_at_its_length_limit_is_accepted(
    create: Callable[..., Any], field: str, low: int, high: int, at: str
) -> None:
    value = "j" * (low if at == "low" else high)
    profile = assert_created(create(with_field(field, value)))
    assert profile[field] == value


@pytest.mark.parametrize(("field", "low", "high"), LENGTH_LIMITS)
def test_string_one_past_its_maximum_is_refused(create: Callable[..., Any], field: str, low: int, high: int) -> None:
    response = create(with_field(field, "j" * (high + 1)))
    assert_refused(response, field, "MAX_LENGTH", f"String is too long ({high + 1} chars), maximum {high}")


@pytest.mark.parametrize("field", ["given_name", "family_name", "name", "nickname", "username", "connection"])
def test_empty_string_is_refused_where_minimum_is_1(create: Callable[..., Any], field: str) -> None:
    response = create(with_field(field, ""))
    assert_refused(response, field, "MIN_LENGTH", "String is too short (0 chars), minimum 1")


def test_given_name_longer_than_150_is_refused(create: Callable[..., Any]) -> None:
    response = create(with_field("given_name", "x" * 151))
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Payload validation error: 'String is too long (151 chars), maximum 150' "
        "on property given_name (The user's given name(s))."
    )


def test_lengths_count_characters_not_bytes(create: Callable[..., Any]) -> None:
    assert_created(create({**with_field("given_name", "é" * 150), "name": "€" * 300}))


def test_user_id_of_255_characters_is_accepted(create: Callable[..., Any]) -> None:
    profile = assert_created(create(with_field("user_id", "u" * 255)))
    assert profile["user_id"] == "auth0|" + "u" * 255


def test_user_id_of_256_characters_is_refused(create: Callable[..., Any]) -> None:
    response = create(with_field("user_id", "u" * 256))
    assert_refused(response, "user_id", "MAX_LENGTH", "String is too long (256 chars), maximum 255")


def test_empty_user_id_is_allowed_by_the_schema_and_an_id_is_generated(create: Callable[..., Any]) -> None:
    profile = assert_created(create(with_field("user_id", "")))
    assert len(profile["identities"][0]["user_id"]) == 24


def test_connection_name_of_one_character_is_accepted(
    create: Callable[..., Any], make_connection: Callable[..., Any]
) -> None:
    make_connection(name="c")
    profile = assert_created(create({**base_body("connection"), "connection": "c"}))
    assert profile["identities"][0]["connection"] == "c"


# --- password: 1 character to 72 bytes of UTF-8 ------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "a",
        "a" * 72,
        "€" * 24,  # 3 bytes each: 72 bytes
        "😀" * 18,  # 4 bytes each: 72 bytes
        "é" * 36,  # 2 bytes each: 72 bytes
        "a" * 70 + "é",
    ],
    ids=["1-char", "72-ascii", "24-euro", "18-emoji", "36-e-acute", "70-ascii+e-acute"],
)
def test_password_of_1_to_72_bytes_is_accepted(create: Callable[..., Any], password: str) -> None:
    assert_created(create({**base_body("password"), "connection": NO_POLICY_DB, "password": password}))
    # Stored whole: bcrypt would silently ignore anything past 72 bytes.
    assert verify_password(password, password_hash_of(User.objects.get()))
    assert not verify_password(password[:-1], password_hash_of(User.objects.get()))


@pytest.mark.parametrize(
    ("password", "size"),
    [
        ("a" * 73, 73),
        ("€" * 24 + "a", 73),
        ("€" * 25, 75),
        ("😀" * 18 + "a", 73),
        ("a" * 71 + "é", 73),
        ("x" * 1000, 1000),
    ],
    ids=["73-ascii", "24-euro+a", "25-euro", "18-emoji+a", "71-ascii+e-acute", "1000-ascii"],
)
def test_password_over_72_bytes_is_refused(create: Callable[..., Any], password: str, size: int) -> None:
    response = create({**base_body("password"), "connection": NO_POLICY_DB, "password": password})
    assert_refused(response, "password", "MAX_LENGTH", f"String is too long ({size} bytes), maximum 72 bytes")


def test_empty_password_is_refused(create: Callable[..., Any]) -> None:
    response = create({**base_body("password"), "connection": NO_POLICY_DB, "password": ""})
    assert_refused(response, "password", "MIN_LENGTH", "String is too short (0 chars), minimum 1")


# --- email ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    [
        "plainaddress",
        "@example.com",
        "jane@",
        "jane@example",
        "jane@@example.com",
        "jane doe@example.com",
        "jane@exa mple.com",
        "jane..doe@example.com",
        "jane@example..com",
        "jane@-example.com",
        " jane@example.com",
        "jane@example.com ",
        "jane@example.com\n",
        "jane\U0001f600@example.com",  # Auth0 takes UTF-8 local parts (jané@...), but no astral characters
        "",
    ],
)
def test_malformed_email_is_refused(create: Callable[..., Any], email: str) -> None:
    response = create(with_field("email", email))
    assert_refused(response, "email", "FORMAT", f"Object didn't pass validation for format email: {email}")


def test_email_with_64_character_local_part_is_accepted(create: Callable[..., Any]) -> None:
    email = "a" * 64 + "@example.com"
    assert assert_created(create(with_field("email", email)))["email"] == email


def test_email_with_65_character_local_part_is_refused(create: Callable[..., Any]) -> None:
    email = "a" * 65 + "@example.com"
    response = create(with_field("email", email))
    assert_refused(response, "email", "FORMAT", f"Object didn't pass validation for format email: {email}")


def _email_of_length(total: int) -> str:
    domain_tail = "d" * (total - 64 - 1 - 63 - 1 - 63 - 1 - 4)
    email = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{domain_tail}.com"
    assert len(email) == total
    return email


def test_email_of_254_characters_is_accepted(create: Callable[..., Any]) -> None:
    email = _email_of_length(254)
    assert assert_created(create(with_field("email", email)))["email"] == email


def test_email_of_255_characters_is_refused_and_only_its_start_is_echoed(create: Callable[..., Any]) -> None:
    email = _email_of_length(255)
    response = create(with_field("email", email))
    echoed = email[:120] + "…"
    assert_refused(response, "email", "FORMAT", f"Object didn't pass validation for format email: {echoed}")


# --- phone_number ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phone",
    [
        "14155550123",  # no +
        "+1415555O123",  # a letter O
        "+1234567890123456",  # 16 digits
        "+14155550123\n",  # "$" must not match before a final newline
        "\n+14155550123",
        "+1 415 555 0123",
        "+1-415-555-0123",
        "++14155550123",
        "+",
        "",
        "+١٤١٥٥٥٥٠١٢٣",  # Arabic-Indic digits: [0-9] is ASCII only
    ],
)
def test_phone_number_not_matching_the_pattern_is_refused(create: Callable[..., Any], phone: str) -> None:
    response = create(with_field("phone_number", phone))
    assert_refused(response, "phone_number", "PATTERN", f"String does not match pattern {PHONE_PATTERN}: {phone}")


@pytest.mark.parametrize("phone", ["+10000000000", "+999999", "+1415555012"])
def test_phone_number_that_does_not_exist_is_refused(create: Callable[..., Any], phone: str) -> None:
    response = create(with_field("phone_number", phone))
    assert_refused(
        response, "phone_number", "FORMAT", f"Object didn't pass validation for format phone-number: {phone}"
    )


@pytest.mark.parametrize("phone", ["+442079460958", "+33612345678", "+819012345678"])
def test_real_phone_numbers_of_other_countries_are_accepted(create: Callable[..., Any], phone: str) -> None:
    assert assert_created(create(with_field("phone_number", phone)))["phone_number"] == phone


# --- picture -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "picture",
    [
        "example.com/jane.png",  # no scheme
        "//example.com/jane.png",
        "/jane.png",
        "https:",  # nothing after the scheme
        "https://",
        "https:///jane.png",  # no host
        "",
        "https://exa mple.com/jane.png",
        " https://example.com/jane.png",
        "https://example.com/jane.png ",
        "https://example.com/jane.png\n",
        "https://example.com/\tjane.png",
        "https://[::1/jane.png",
        "javascript:alert(1)",
        "data:image/png;base64,iVBORw0KGgo=",
        "mailto:jane@example.com",
        "file:///etc/passwd",
        # validator.js isURL (z-schema's strict-uri) refuses a port that is no number or outside 1 to 65535
        "https://example.com:0/jane.png",
        "https://example.com:65536/jane.png",
        "https://example.com:99999/jane.png",
        "https://example.com:http/jane.png",
        "https://[::1]:70000/jane.png",
    ],
)
def test_picture_that_is_not_a_strict_uri_is_refused(create: Callable[..., Any], picture: str) -> None:
    response = create(with_field("picture", picture))
    detail = f"Object didn't pass validation for format strict-uri: {picture}"
    assert_refused(response, "picture", "FORMAT", detail)


# --- user_id ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("user_id", ["a b", " ab", "ab ", "ab\n", "\tab", "a\u00a0b", "a\u2003b", " "])
def test_user_id_with_white_space_is_refused(create: Callable[..., Any], user_id: str) -> None:
    response = create(with_field("user_id", user_id))
    detail = f"String does not match pattern {USER_ID_PATTERN}: {user_id}"
    assert_refused(response, "user_id", "PATTERN", detail)


# --- object-level rules ---------------------------------------------------------------------------------


def test_unknown_property_is_refused(create: Callable[..., Any]) -> None:
    response = create({**base_body("email"), "scopes": ["create:users"]})
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Payload validation error: 'Additional properties not allowed: scopes'.",
        "errorCode": "invalid_body",
        "errors": [
            {
                "field": None,
                "code": "OBJECT_ADDITIONAL_PROPERTIES",
                "message": "Additional properties not allowed: scopes",
            }
        ],
    }
    assert User.objects.count() == 0


def test_several_unknown_properties_are_named_together(create: Callable[..., Any]) -> None:
    response = create({**base_body("email"), "scopes": [], "Email": "x", "given_name ": "Jane"})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Payload validation error: 'Additional properties not allowed: scopes,Email,given_name '."
    )


def test_unknown_property_with_a_huge_name_is_echoed_cut_short(create: Callable[..., Any]) -> None:
    response = create({**base_body("email"), "k" * 5000: 1})
    assert response.status_code == 400
    detail = "Additional properties not allowed: " + "k" * 120 + "…"
    assert response.json()["errors"] == [{"field": None, "code": "OBJECT_ADDITIONAL_PROPERTIES", "message": detail}]


def test_missing_connection_is_refused(create: Callable[..., Any]) -> None:
    body = base_body("email")
    del body["connection"]
    response = create(body)
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Payload validation error: 'Missing required property: connection'.",
        "errorCode": "invalid_body",
        "errors": [
            {
                "field": "connection",
                "code": "OBJECT_MISSING_REQUIRED_PROPERTY",
                "message": "Missing required property: connection",
            }
        ],
    }
    assert User.objects.count() == 0


def test_empty_object_is_refused_for_missing_connection(create: Callable[..., Any]) -> None:
    response = create({})
    assert response.status_code == 400
    assert response.json()["message"] == "Payload validation error: 'Missing required property: connection'."


def test_several_errors_are_reported_together_joined_by_also(create: Callable[..., Any]) -> None:
    body = {"connection": USERNAME_DB, "username": "", "picture": "", "phone_number": ""}
    response = create(body)
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": (
            "Payload validation error: 'String does not match pattern ^\\+[0-9]{1,15}$: ' on property "
            "phone_number (The user's phone number (following the E.164 recommendation))."
            " (also) "
            "Payload validation error: 'Object didn't pass validation for format strict-uri: ' on property "
            "picture (A URI pointing to the user's picture)."
            " (also) "
            "Payload validation error: 'String is too short (0 chars), minimum 1' on property username "
            "(The user's username. Only valid if the connection requires a username)."
        ),
        "errorCode": "invalid_body",
        "errors": [
            {
                "field": "phone_number",
                "code": "PATTERN",
                "message": "String does not match pattern ^\\+[0-9]{1,15}$: ",
            },
            {
                "field": "picture",
                "code": "FORMAT",
                "message": "Object didn't pass validation for format strict-uri: ",
            },
            {
                "field": "username",
                "code": "MIN_LENGTH",
                "message": "String is too short (0 chars), minimum 1",
            },
        ],
    }


def test_unknown_property_missing_connection_and_bad_field_are_all_reported(
    create: Callable[..., Any],
) -> None:
    response = create({"scopes": 1, "email": 5})
    assert response.status_code == 400
    assert response.json()["message"] == (
        "Payload validation error: 'Additional properties not allowed: scopes'."
        " (also) "
        "Payload validation error: 'Expected type string but found type integer' on property email "
        "(The user's email)."
        " (also) "
        "Payload validation error: 'Missing required property: connection'."
    )
    assert [e["code"] for e in response.json()["errors"]] == [
        "OBJECT_ADDITIONAL_PROPERTIES",
        "INVALID_TYPE",
        "OBJECT_MISSING_REQUIRED_PROPERTY",
    ]


# --- metadata depth and numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("field", METADATA_FIELDS)
@pytest.mark.parametrize("container", ["object", "array"])
def test_metadata_nested_10_levels_is_accepted(create: Callable[..., Any], field: str, container: str) -> None:
    value = {"a": nested(9, container)}
    profile = assert_created(create(with_field(field, value)))
    assert profile[field] == value


@pytest.mark.parametrize("field", METADATA_FIELDS)
@pytest.mark.parametrize("container", ["object", "array"])
def test_metadata_nested_11_levels_is_refused(create: Callable[..., Any], field: str, container: str) -> None:
    response = create(with_field(field, {"a": nested(10, container)}))
    assert_refused(response, field, "MAX_DEPTH", "Object is nested too deeply (more than 10 levels)")


@pytest.mark.parametrize("field", METADATA_FIELDS)
@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_metadata_number_that_overflows_to_infinity_is_refused(admin_api: APIClient, field: str, number: str) -> None:
    text = json.dumps(base_body(field))[:-1] + f', "{field}": {{"score": {number}}}}}'
    response = post_raw(admin_api, text)
    assert_refused(response, field, "INVALID_NUMBER", "Number is out of range (not finite)")


# --- NUL characters and lone surrogates -------------------------------------------------------------

BAD_TEXT = [
    ("a\x00b", "String must not contain NUL characters"),
    ("\x00", "String must not contain NUL characters"),
    ("a\ud800b", "String contains invalid Unicode (lone surrogate)"),
    ("\udc00", "String contains invalid Unicode (lone surrogate)"),
    ("\udc00\ud800", "String contains invalid Unicode (lone surrogate)"),
]


@pytest.mark.parametrize("field", STRING_FIELDS)
@pytest.mark.parametrize(("text", "detail"), BAD_TEXT)
def test_string_with_nul_or_lone_surrogate_is_refused(admin_api: APIClient, field: str, text: str, detail: str) -> None:
    raw = json.dumps(with_field(field, text))  # ASCII: "\u0000", "\ud800" travel as JSON escapes
    assert "\\u" in raw
    assert_refused(post_raw(admin_api, raw), field, "INVALID_CHARACTERS", detail)


@pytest.mark.parametrize("field", METADATA_FIELDS)
@pytest.mark.parametrize(("text", "detail"), BAD_TEXT)
@pytest.mark.parametrize(
    "where",
    [
        lambda t: {t: 1},
        lambda t: {"plan": t},
        lambda t: {"deep": {"deeper": {t: "x"}}},
        lambda t: {"list": ["ok", t]},
    ],
    ids=["key", "value", "nested-key", "array-item"],
)
def test_metadata_with_nul_or_lone_surrogate_is_refused(
    admin_api: APIClient, field: str, text: str, detail: str, where: Callable[[str], Any]
) -> None:
    raw = json.dumps(with_field(field, where(text)))
    assert_refused(post_raw(admin_api, raw), field, "INVALID_CHARACTERS", detail)


def test_valid_surrogate_pair_is_accepted(admin_api: APIClient) -> None:
    raw = json.dumps({**base_body("name"), "name": "Jane 😀", "user_metadata": {"😀": "😀"}})
    assert "\\ud83d\\ude00" in raw
    profile = assert_created(post_raw(admin_api, raw))
    assert profile["name"] == "Jane 😀"
    assert profile["user_metadata"] == {"😀": "😀"}


@pytest.mark.parametrize(("key", "shown"), [("\ud800", "\\ud800"), ("a\x00", "a\\x00")])
def test_unknown_property_with_bad_characters_is_refused_not_crashed(
    admin_api: APIClient, key: str, shown: str
) -> None:
    raw = json.dumps({**base_body("email"), key: 1})
    response = post_raw(admin_api, raw)
    assert response.status_code == 400
    assert response.json()["message"] == f"Payload validation error: 'Additional properties not allowed: {shown}'."
    assert User.objects.count() == 0


# --- form-encoded bodies ----------------------------------------------------------------------------------


def test_form_encoded_body_creates_a_user(admin_api: APIClient) -> None:
    form = {**base_body("email"), "given_name": "Jane", "family_name": "Doe"}
    profile = assert_created(post_form(admin_api, form))
    assert profile["email"] == "jane@example.com"
    assert profile["given_name"] == "Jane"
    assert profile["family_name"] == "Doe"
    assert verify_password(STRONG_PASSWORD, password_hash_of(User.objects.get()))


@pytest.mark.parametrize("text", ["true", "false"])
def test_form_booleans_written_true_or_false_are_accepted(admin_api: APIClient, text: str) -> None:
    form = {**base_body("email"), "blocked": text, "email_verified": text, "verify_email": text}
    profile = assert_created(post_form(admin_api, form))
    assert profile["blocked"] is (text == "true")
    assert profile["email_verified"] is (text == "true")


def test_form_phone_verified_written_true_is_accepted(admin_api: APIClient) -> None:
    profile = assert_created(post_form(admin_api, {**base_body("phone_verified"), "phone_verified": "true"}))
    assert profile["phone_verified"] is True


@pytest.mark.parametrize("field", BOOLEAN_FIELDS)
@pytest.mark.parametrize("text", ["yes", "True", "1", "on", ""])
def test_form_booleans_written_otherwise_are_refused(admin_api: APIClient, field: str, text: str) -> None:
    response = post_form(admin_api, {**base_body(field), field: text})
    assert_refused(response, field, "INVALID_TYPE", "Expected type boolean but found type string")


@pytest.mark.parametrize("field", METADATA_FIELDS)
def test_form_metadata_given_as_json_text_is_accepted(admin_api: APIClient, field: str) -> None:
    value = {"plan": "pro", "tags": ["a"], "n": {"x": 1}}
    profile = assert_created(post_form(admin_api, {**base_body(field), field: json.dumps(value)}))
    assert profile[field] == value


@pytest.mark.parametrize("field", METADATA_FIELDS)
@pytest.mark.parametrize(
    ("text", "json_type"),
    [
        ("plan=pro", "string"),
        ("{plan: pro}", "string"),
        ('{"a": NaN}', "string"),  # not strict JSON: left as text
        ("[" * 50_000 + "]" * 50_000, "string"),  # too deep to parse: left as text
        ("[1, 2]", "array"),
        ("null", "null"),
        ("42", "integer"),
    ],
    ids=["query-text", "js-object", "nan", "deep", "array", "null", "integer"],
)
def test_form_metadata_that_is_not_a_json_object_is_refused(
    admin_api: APIClient, field: str, text: str, json_type: str
) -> None:
    response = post_form(admin_api, {**base_body(field), field: text})
    assert_refused(response, field, "INVALID_TYPE", f"Expected type object but found type {json_type}")


def test_form_metadata_with_an_infinite_number_is_refused(admin_api: APIClient) -> None:
    response = post_form(admin_api, {**base_body("user_metadata"), "user_metadata": '{"a": 1e400}'})
    assert_refused(response, "user_metadata", "INVALID_NUMBER", "Number is out of range (not finite)")


def test_form_unknown_field_is_refused(admin_api: APIClient) -> None:
    response = post_form(admin_api, {**base_body("email"), "scopes": "create:users"})
    assert response.status_code == 400
    assert response.json()["message"] == "Payload validation error: 'Additional properties not allowed: scopes'."


def test_form_string_field_with_nul_is_refused(admin_api: APIClient) -> None:
    response = post_form(admin_api, {**base_body("name"), "name": "a\x00b"})
    assert_refused(response, "name", "INVALID_CHARACTERS", "String must not contain NUL characters")


def test_form_body_without_connection_is_refused(admin_api: APIClient) -> None:
    response = post_form(admin_api, {"email": "jane@example.com", "password": STRONG_PASSWORD})
    assert response.status_code == 400
    assert response.json()["message"] == "Payload validation error: 'Missing required property: connection'."
