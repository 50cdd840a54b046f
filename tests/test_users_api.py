"""Reading, listing, updating and deleting users through the management API, as Auth0 answers them.

``GET/PATCH/DELETE /api/v2/users/{id}``, ``GET /api/v2/users`` and ``GET /api/v2/users-by-email``: every
request goes through the real URL with a real bearer token, and error bodies are compared whole so a test
fails if its rule is removed or reworded. Users are made through ``POST /api/v2/users``; only timestamps
are moved in the database, to make orderings and "did it move" checks independent of the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from core.hashing import bcrypt_verify as verify_password
from tests.helpers import STRONG_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db

ALL_SCOPES = "create:users read:users update:users delete:users"
DB = "Username-Password-Authentication"  # passwordPolicy "good"
OTHER_DB = "Other-DB"
USERNAME_DB = "with-username"  # requires_username, usernames 3..15
SMS = "sms"
EMAIL = "email"
PHONE = "+14155550123"
NEW_PASSWORD = "N3w!Passw0rd"
OLD_TIME = datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)

NOT_FOUND = {
    "statusCode": 404,
    "error": "Not Found",
    "message": "The user does not exist.",
    "errorCode": "inexistent_user",
    "errors": [],
}
MISSING_TOKEN = {
    "statusCode": 401,
    "error": "Unauthorized",
    "message": "Missing authentication",
    "errorCode": "missing_authentication",
    "errors": [],
}
USER_EXISTS = {
    "statusCode": 409,
    "error": "Conflict",
    "message": "The user already exists.",
    "errorCode": "auth0_idp_error",
    "errors": [],
}

# Auth0's UpdateUserRequestContent descriptions, as they appear in messages (final period dropped).
DESCRIPTIONS = {
    "blocked": "Whether this user was blocked by an administrator (true) or not (false)",
    "email_verified": "Whether this email address is verified (true) or unverified (false). If set to false "
    "the user will not receive a verification email unless `verify_email` is set to true",
    "email": "Email address of this user",
    "phone_number": "The user's phone number (following the E.164 recommendation)",
    "phone_verified": "Whether this phone number has been verified (true) or not (false)",
    "user_metadata": "User metadata to which this user has read/write access",
    "app_metadata": "User metadata to which this user has read-only access",
    "given_name": "Given name/first name/forename of this user",
    "family_name": "Family name/last name/surname of this user",
    "name": "Name of this user",
    "nickname": "Preferred nickname or alias of this user",
    "picture": "URL to picture, photo, or avatar of this user",
    "verify_email": "Whether this user will receive a verification email after creation (true) or no email "
    "(false). Overrides behavior of `email_verified` parameter",
    "password": "New password for this user. Only valid for database connections",
    "connection": "Name of the connection to target for this user update",
    "client_id": "Auth0 client ID. Only valid when updating email address",
    "username": "The user's username. Only valid if the connection requires a username",
}
# The username alphabet refusal for "ann lee" (the space is the character not allowed).
USERNAME_WITH_A_SPACE_REFUSAL = (
    "The username may only contain letters a-z, digits and @ ^ $ . ! ` - # + ' ~ _ (not allowed:  )."
)
PER_PAGE = "Number of results per page"
PAGE = "Page index of the results to return. First page is 0"
SORT = "Field to sort by. Use field:order where order is 1 for ascending and -1 for descending"
SORT_PATTERN = r"^(created_at|updated_at|email|user_id|name|username):(1|-1)$"
INCLUDE_TOTALS = (
    "Return results inside an object that contains the total result count (true) or as a direct array of "
    "results (false, default)"
)


def invalid_body(*errors: tuple[str | None, str, str], message: str | None = None) -> dict[str, Any]:
    """A 400 ``invalid_body`` whose message is the errors' messages joined (the strategy checks' form)."""
    return {
        "statusCode": 400,
        "error": "Bad Request",
        "message": message if message is not None else " (also) ".join(e[2] for e in errors),
        "errorCode": "invalid_body",
        "errors": [{"field": field, "code": code, "message": text} for field, code, text in errors],
    }


def schema_error(field: str, code: str, text: str) -> dict[str, Any]:
    """A z-schema refusal of one PATCH property, worded as Auth0 words it."""
    message = f"Payload validation error: '{text}' on property {field} ({DESCRIPTIONS[field]})."
    return invalid_body((field, code, text), message=message)


def query_error(field: str | None, code: str, text: str, description: str | None = None) -> dict[str, Any]:
    where = f" on property {field} ({description})" if field else ""
    return {
        "statusCode": 400,
        "error": "Bad Request",
        "message": f"Query validation error: '{text}'{where}.",
        "errorCode": "invalid_query_string",
        "errors": [{"field": field, "code": code, "message": text}],
    }


def forbidden(scope: str) -> dict[str, Any]:
    return {
        "statusCode": 403,
        "error": "Forbidden",
        "message": f"Insufficient scope, expected any of: {scope}",
        "errorCode": "insufficient_scope",
        "errors": [],
    }


def url(user_id: str) -> str:
    return f"/api/v2/users/{quote(user_id, safe='')}"


@pytest.fixture(autouse=True)
def connections(make_connection: Callable[..., Any]) -> None:
    make_connection(name=DB)
    make_connection(name=OTHER_DB)
    make_connection(name=USERNAME_DB, requires_username=True, validation={"username": {"min": 3, "max": 15}})
    make_connection(name=SMS, strategy="sms")
    make_connection(name=EMAIL, strategy="email")


@pytest.fixture
def api(api_client: APIClient, token: Callable[..., str]) -> APIClient:
    """A client whose token holds every users scope."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(ALL_SCOPES)}")
    return api_client


@pytest.fixture
def scoped(token: Callable[..., str]) -> Callable[[str | None], APIClient]:
    """A fresh client with a token holding only ``scopes`` (or no token at all with ``None``)."""

    def make(scopes: str | None) -> APIClient:
        client = APIClient()
        if scopes is not None:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(scopes)}")
        return client

    return make


@pytest.fixture
def new_user(api: APIClient) -> Callable[..., dict[str, Any]]:
    """Create a user through the API and return the created profile."""

    def make(email: str | None = "ann@example.com", connection: str = DB, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"connection": connection, **fields}
        if connection not in (SMS, EMAIL):
            body.setdefault("password", STRONG_PASSWORD)
        if email is not None:
            body["email"] = email
        response = api.post("/api/v2/users", body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


def backdate(user_id: str, created_at: datetime = OLD_TIME) -> None:
    """Move a user's timestamps into the past (the clock cannot be trusted to tick between requests)."""
    User.objects.filter(user_id=user_id).update(created_at=created_at, updated_at=created_at)


def patch(api: APIClient, user: dict[str, Any], body: Any) -> Any:
    return api.patch(url(user["user_id"]), body, format="json")


def listed_ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [user["user_id"] for user in response.json()]


# --- GET /api/v2/users/{id} ---------------------------------------------------------------------------------


def test_get_returns_the_profile_the_create_returned(api, new_user):
    created = new_user(
        given_name="Ann",
        family_name="Lee",
        name="Ann Lee",
        nickname="annie",
        picture="https://example.com/ann.png",
        user_metadata={"plan": "gold"},
        app_metadata={"roles": ["admin"]},
        blocked=False,
        email_verified=True,
    )
    response = api.get(url(created["user_id"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == created


def test_get_returns_a_username_and_phone_profile_unchanged(api, new_user):
    named = new_user(connection=USERNAME_DB, username="ann")
    texted = new_user(email=None, connection=SMS, phone_number=PHONE, phone_verified=True)
    assert api.get(url(named["user_id"])).json() == named
    assert api.get(url(texted["user_id"])).json() == texted


def test_get_accepts_the_url_encoded_id(api, new_user):
    created = new_user()
    encoded = url(created["user_id"])
    assert "%7C" in encoded
    response = api.get(encoded)
    assert response.status_code == 200
    assert response.json() == created


def test_get_accepts_the_raw_id(api, new_user):
    created = new_user()
    response = api.get(f"/api/v2/users/{created['user_id']}")
    assert response.status_code == 200
    assert response.json() == created


@pytest.mark.parametrize("path", ["/api/v2/users/auth0%7Cext%2F42%2Fb", "/api/v2/users/auth0|ext/42/b"])
def test_get_finds_a_custom_id_containing_slashes(api, new_user, path):
    created = new_user(user_id="ext/42/b")
    assert created["user_id"] == "auth0|ext/42/b"
    response = api.get(path)
    assert response.status_code == 200
    assert response.json() == created


def test_get_unknown_user_is_404(api, new_user):
    new_user()
    response = api.get(url("auth0|000000000000000000000000"))
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_get_the_bare_id_without_its_provider_is_404(api, new_user):
    created = new_user()
    bare = created["identities"][0]["user_id"]
    assert api.get(url(bare)).json() == NOT_FOUND


def test_get_fields_with_include_fields_true_keeps_only_those(api, new_user):
    created = new_user()
    response = api.get(f"{url(created['user_id'])}?fields=email,user_id&include_fields=true")
    assert response.status_code == 200
    assert response.json() == {"email": created["email"], "user_id": created["user_id"]}


def test_get_fields_without_include_fields_keeps_only_those(api, new_user):
    created = new_user()
    response = api.get(f"{url(created['user_id'])}?fields=email,%20user_id")
    assert response.json() == {"email": created["email"], "user_id": created["user_id"]}


def test_get_fields_with_include_fields_false_drops_them(api, new_user):
    created = new_user()
    response = api.get(f"{url(created['user_id'])}?fields=email,user_id&include_fields=false")
    assert response.status_code == 200
    expected = {key: value for key, value in created.items() if key not in ("email", "user_id")}
    assert response.json() == expected


def test_get_empty_fields_returns_everything(api, new_user):
    created = new_user()
    assert api.get(f"{url(created['user_id'])}?fields=&include_fields=false").json() == created


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "include_fields=yes",
            query_error(
                "include_fields",
                "INVALID_TYPE",
                "Expected type boolean but found type string",
                "Whether specified fields are to be included (true) or excluded (false)",
            ),
        ),
        (
            "foo=bar",
            query_error(None, "OBJECT_ADDITIONAL_PROPERTIES", "Additional properties not allowed: foo"),
        ),
    ],
)
def test_get_refuses_bad_query_strings(api, new_user, query, expected):
    created = new_user()
    response = api.get(f"{url(created['user_id'])}?{query}")
    assert response.status_code == 400
    assert response.json() == expected


def test_get_needs_read_users(scoped, new_user):
    created = new_user()
    response = scoped("create:users update:users delete:users").get(url(created["user_id"]))
    assert response.status_code == 403
    assert response.json() == forbidden("read:users")


def test_get_without_a_token_is_401(scoped, new_user):
    created = new_user()
    response = scoped(None).get(url(created["user_id"]))
    assert response.status_code == 401
    assert response.json() == MISSING_TOKEN
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- GET /api/v2/users --------------------------------------------------------------------------------------


@pytest.fixture
def three_users(new_user) -> list[str]:
    """Three users whose creation times disagree with their insertion order: [oldest, middle, newest]."""
    first = new_user("bob@example.com")["user_id"]
    second = new_user("carl@example.com")["user_id"]
    third = new_user("ann@example.com")["user_id"]
    backdate(second, OLD_TIME + timedelta(days=2))  # newest
    backdate(first, OLD_TIME + timedelta(days=1))
    backdate(third, OLD_TIME)  # oldest
    return [third, first, second]


def test_list_is_an_array_newest_first_by_default(api, three_users):
    assert listed_ids(api.get("/api/v2/users")) == three_users[::-1]


def test_list_entries_are_full_profiles(api, new_user):
    created = new_user(given_name="Ann", user_metadata={"a": 1})
    assert api.get("/api/v2/users").json() == [created]


def test_list_of_no_users_is_an_empty_array(api):
    response = api.get("/api/v2/users")
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("created_at:1", [0, 1, 2]),
        ("created_at:-1", [2, 1, 0]),
        ("email:1", [0, 1, 2]),  # ann, bob, carl
        ("email:-1", [2, 1, 0]),
    ],
)
def test_list_sorts(api, three_users, sort, order):
    assert listed_ids(api.get(f"/api/v2/users?sort={sort}")) == [three_users[i] for i in order]


BAD_SORTS = ["created_at", "created_at:2", "password:1", "created_at:+1", "CREATED_AT:1"]


@pytest.mark.parametrize("sort", BAD_SORTS)
def test_list_refuses_a_bad_sort(api, sort):
    response = api.get("/api/v2/users", {"sort": sort})
    assert response.status_code == 400
    text = f"String does not match pattern {SORT_PATTERN}: {sort}"
    assert response.json() == query_error("sort", "PATTERN", text, SORT)


@pytest.fixture
def five_users(new_user) -> list[str]:
    """Five users, newest first."""
    ids = [new_user(f"user{i}@example.com")["user_id"] for i in range(5)]
    for age, user_id in enumerate(reversed(ids)):
        backdate(user_id, OLD_TIME - timedelta(hours=age))
    return ids[::-1]


@pytest.mark.parametrize(
    ("query", "window"),
    [
        ("per_page=2", slice(0, 2)),
        ("per_page=2&page=0", slice(0, 2)),
        ("per_page=2&page=1", slice(2, 4)),
        ("per_page=2&page=2", slice(4, 5)),
        ("per_page=2&page=3", slice(5, 5)),
        ("per_page=3&page=1", slice(3, 5)),
        ("page=1", slice(5, 5)),  # 50 a page: the second one is empty
        ("per_page=0", slice(0, 0)),
        ("per_page=100", slice(0, 5)),
    ],
)
def test_list_pages(api, five_users, query, window):
    assert listed_ids(api.get(f"/api/v2/users?{query}")) == five_users[window]


def test_list_pages_hold_fifty_users_by_default(api, new_user):
    for i in range(51):
        new_user(email=None, connection=SMS, phone_number=f"+141555501{i:02d}")
    assert len(api.get("/api/v2/users").json()) == 50
    assert len(api.get("/api/v2/users?page=1").json()) == 1
    totals = api.get("/api/v2/users?include_totals=true").json()
    assert (totals["start"], totals["limit"], totals["length"], totals["total"]) == (0, 50, 50, 51)


def test_list_with_totals_is_an_object(api, five_users):
    response = api.get("/api/v2/users?include_totals=true&per_page=2&page=2")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["start", "limit", "length", "total", "users"]
    assert {key: body[key] for key in ("start", "limit", "length", "total")} == {
        "start": 4,
        "limit": 2,
        "length": 1,
        "total": 5,
    }
    assert [user["user_id"] for user in body["users"]] == five_users[4:]
    assert body["users"][0] == api.get(url(five_users[4])).json()


def test_list_with_totals_false_is_an_array(api, five_users):
    assert listed_ids(api.get("/api/v2/users?include_totals=false")) == five_users


def test_list_totals_count_the_filtered_users(api, new_user):
    new_user("ann@example.com")
    new_user("bob@example.com")
    new_user("ann@example.com", connection=OTHER_DB)
    body = api.get(f"/api/v2/users?include_totals=true&connection={DB}&per_page=1").json()
    assert (body["length"], body["total"]) == (1, 2)


def test_list_filters_by_connection(api, new_user):
    ann = new_user("ann@example.com")["user_id"]
    other = new_user("ann@example.com", connection=OTHER_DB)["user_id"]
    texted = new_user(email=None, connection=SMS, phone_number=PHONE)["user_id"]
    assert listed_ids(api.get(f"/api/v2/users?connection={DB}")) == [ann]
    assert listed_ids(api.get(f"/api/v2/users?connection={OTHER_DB}")) == [other]
    assert listed_ids(api.get(f"/api/v2/users?connection={SMS}")) == [texted]
    assert listed_ids(api.get("/api/v2/users?connection=Nope")) == []


@pytest.mark.parametrize("email", ["ann@example.com", "ANN@EXAMPLE.COM", "Ann@Example.Com"])
def test_list_filters_by_email_in_any_case(api, new_user, email):
    ann = new_user("ann@example.com")["user_id"]
    other = new_user("Ann@Example.com", connection=OTHER_DB)["user_id"]
    new_user("bob@example.com")
    assert set(listed_ids(api.get("/api/v2/users", {"email": email}))) == {ann, other}
    assert listed_ids(api.get("/api/v2/users", {"email": email, "connection": OTHER_DB})) == [other]
    assert listed_ids(api.get("/api/v2/users", {"email": "nobody@example.com"})) == []


def test_list_keeps_or_drops_fields(api, new_user):
    created = new_user()
    assert api.get("/api/v2/users?fields=user_id").json() == [{"user_id": created["user_id"]}]
    dropped = api.get("/api/v2/users?fields=identities,picture&include_fields=false").json()
    assert dropped == [{k: v for k, v in created.items() if k not in ("identities", "picture")}]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "per_page=101",
            query_error("per_page", "MAXIMUM", "Value 101 is greater than maximum 100", PER_PAGE),
        ),
        ("per_page=-1", query_error("per_page", "MINIMUM", "Value -1 is less than minimum 0", PER_PAGE)),
        (
            "per_page=abc",
            query_error("per_page", "INVALID_TYPE", "Expected type integer but found type string", PER_PAGE),
        ),
        (
            "per_page=1.5",
            query_error("per_page", "INVALID_TYPE", "Expected type integer but found type string", PER_PAGE),
        ),
        ("page=-1", query_error("page", "MINIMUM", "Value -1 is less than minimum 0", PAGE)),
        ("page=", query_error("page", "INVALID_TYPE", "Expected type integer but found type string", PAGE)),
        (
            "include_totals=yes",
            query_error(
                "include_totals",
                "INVALID_TYPE",
                "Expected type boolean but found type string",
                INCLUDE_TOTALS,
            ),
        ),
        (
            "foo=bar",
            query_error(None, "OBJECT_ADDITIONAL_PROPERTIES", "Additional properties not allowed: foo"),
        ),
        (
            "per_page=1&per_page=2",
            query_error("per_page", "INVALID_TYPE", "Expected type integer but found type array", PER_PAGE),
        ),
    ],
)
def test_list_refuses_bad_query_strings(api, new_user, query, expected):
    new_user()
    response = api.get(f"/api/v2/users?{query}")
    assert response.status_code == 400
    assert response.json() == expected


def test_list_refuses_a_page_with_two_minus_signs(api):
    api.raise_request_exception = False
    response = api.get("/api/v2/users?page=--1")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_query_string"


def test_list_needs_read_users(scoped):
    response = scoped("create:users update:users delete:users").get("/api/v2/users")
    assert response.status_code == 403
    assert response.json() == forbidden("read:users")


def test_list_without_a_token_is_401(scoped):
    response = scoped(None).get("/api/v2/users")
    assert response.status_code == 401
    assert response.json() == MISSING_TOKEN


# --- GET /api/v2/users-by-email -----------------------------------------------------------------------------


@pytest.mark.parametrize("email", ["ann@example.com", "ANN@EXAMPLE.COM", "aNN@example.COM"])
def test_users_by_email_finds_every_connection_in_any_case(api, new_user, email):
    first = new_user("ann@example.com")
    second = new_user("ANN@example.com", connection=OTHER_DB)
    third = new_user("Ann@Example.com", connection=EMAIL)
    new_user("bob@example.com")
    response = api.get("/api/v2/users-by-email", {"email": email})
    assert response.status_code == 200
    assert response.json() == [first, second, third]


def test_users_by_email_is_an_empty_array_when_nobody_has_it(api, new_user):
    new_user("ann@example.com")
    response = api.get("/api/v2/users-by-email?email=bob@example.com")
    assert response.status_code == 200
    assert response.json() == []


def test_users_by_email_keeps_or_drops_fields(api, new_user):
    created = new_user()
    kept = api.get("/api/v2/users-by-email?email=ann@example.com&fields=user_id,email").json()
    assert kept == [{"user_id": created["user_id"], "email": "ann@example.com"}]
    dropped = api.get("/api/v2/users-by-email?email=ann@example.com&fields=identities&include_fields=false")
    assert dropped.json() == [{k: v for k, v in created.items() if k != "identities"}]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "",
            {
                **query_error(None, "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: email"),
                "errors": [
                    {
                        "field": "email",
                        "code": "OBJECT_MISSING_REQUIRED_PROPERTY",
                        "message": "Missing required property: email",
                    }
                ],
            },
        ),
        (
            "?email=",
            query_error(
                "email",
                "MIN_LENGTH",
                "String is too short (0 chars), minimum 1",
                "Email address to search for (any letter case)",
            ),
        ),
        (
            "?email=a@example.com&foo=1",
            query_error(None, "OBJECT_ADDITIONAL_PROPERTIES", "Additional properties not allowed: foo"),
        ),
    ],
)
def test_users_by_email_refuses_bad_query_strings(api, query, expected):
    response = api.get(f"/api/v2/users-by-email{query}")
    assert response.status_code == 400
    assert response.json() == expected


def test_users_by_email_needs_read_users(scoped):
    response = scoped("create:users update:users").get("/api/v2/users-by-email?email=ann@example.com")
    assert response.status_code == 403
    assert response.json() == forbidden("read:users")
    assert scoped(None).get("/api/v2/users-by-email?email=ann@example.com").json() == MISSING_TOKEN


# --- PATCH /api/v2/users/{id}: profile fields ---------------------------------------------------------------

PROFILE_VALUES = {
    "given_name": "Ann",
    "family_name": "Lee",
    "name": "Ann Lee",
    "nickname": "annie",
    "picture": "https://example.com/ann.png",
}


@pytest.mark.parametrize(("field", "value"), list(PROFILE_VALUES.items()))
def test_patch_sets_a_profile_field(api, new_user, field, value):
    user = new_user()
    response = patch(api, user, {field: value})
    assert response.status_code == 200
    body = response.json()
    assert body[field] == value
    assert body == {**user, field: value, "updated_at": body["updated_at"]}
    assert api.get(url(user["user_id"])).json() == body


@pytest.mark.parametrize("field", list(PROFILE_VALUES))
def test_patch_removes_a_profile_field_with_null(api, new_user, field):
    user = new_user(**PROFILE_VALUES)
    response = patch(api, user, {field: None})
    assert response.status_code == 200
    body = response.json()
    assert field not in body
    expected = {key: value for key, value in user.items() if key != field}
    assert body == {**expected, "updated_at": body["updated_at"]}
    assert api.get(url(user["user_id"])).json() == body


def test_patch_sets_several_fields_at_once_and_returns_the_stored_profile(api, new_user):
    user = new_user()
    body = patch(api, user, {"given_name": "Ann", "family_name": "Lee", "blocked": True}).json()
    assert (body["given_name"], body["family_name"], body["blocked"]) == ("Ann", "Lee", True)
    assert api.get(url(user["user_id"])).json() == body


def test_patch_moves_updated_at_and_keeps_created_at(api, new_user):
    user = new_user()
    backdate(user["user_id"])
    body = patch(api, user, {"nickname": "annie"}).json()
    assert body["created_at"] == "2020-01-02T03:04:05.678Z"
    assert body["updated_at"] > "2020-01-02T03:04:05.678Z"
    assert body["updated_at"][:4] == str(datetime.now(UTC).year)
    assert api.get(url(user["user_id"])).json()["updated_at"] == body["updated_at"]


@pytest.mark.parametrize("value", [True, False])
def test_patch_blocked_is_shown(api, new_user, value):
    user = new_user()
    assert "blocked" not in user
    body = patch(api, user, {"blocked": value}).json()
    assert body["blocked"] is value
    assert api.get(url(user["user_id"])).json()["blocked"] is value


def test_patch_unblocks_a_blocked_user(api, new_user):
    user = new_user(blocked=True)
    assert patch(api, user, {"blocked": False}).json()["blocked"] is False
    assert User.objects.get(user_id=user["user_id"]).blocked is False


# --- PATCH: metadata ----------------------------------------------------------------------------------------


METADATA_PAIRS = [("user_metadata", "app_metadata"), ("app_metadata", "user_metadata")]


@pytest.mark.parametrize(("field", "other"), METADATA_PAIRS)
def test_patch_merges_metadata_at_the_top_level(api, new_user, field, other):
    user = new_user(**{field: {"a": 1, "b": {"x": 1}, "keep": True}, other: {"o": 1}})
    body = patch(api, user, {field: {"b": {"y": 2}, "c": [3], "a": None}}).json()
    assert body[field] == {"b": {"y": 2}, "keep": True, "c": [3]}
    assert body[other] == {"o": 1}
    assert api.get(url(user["user_id"])).json()[field] == {"b": {"y": 2}, "keep": True, "c": [3]}


@pytest.mark.parametrize("field", ["user_metadata", "app_metadata"])
def test_patch_sets_metadata_on_a_user_without_any(api, new_user, field):
    user = new_user()
    assert field not in user
    assert patch(api, user, {field: {"a": 1}}).json()[field] == {"a": 1}


@pytest.mark.parametrize("field", ["user_metadata", "app_metadata"])
def test_patch_null_value_of_a_missing_key_changes_nothing(api, new_user, field):
    user = new_user(**{field: {"a": 1}})
    assert patch(api, user, {field: {"zzz": None}}).json()[field] == {"a": 1}


@pytest.mark.parametrize("field", ["user_metadata", "app_metadata"])
@pytest.mark.parametrize("change", [{}, None, {"a": None, "b": None}], ids=["empty", "null", "all-null"])
def test_patch_clears_metadata(api, new_user, field, change):
    user = new_user(user_metadata={"a": 1, "b": 2}, app_metadata={"a": 1, "b": 2})
    body = patch(api, user, {field: change}).json()
    assert field not in body
    assert getattr(User.objects.get(user_id=user["user_id"]), field) is None
    kept = "app_metadata" if field == "user_metadata" else "user_metadata"
    assert body[kept] == {"a": 1, "b": 2}


# --- PATCH: e-mail ------------------------------------------------------------------------------------------


def test_patch_email_is_lowercased_and_unverified_again(api, new_user):
    user = new_user(email_verified=True)
    body = patch(api, user, {"email": "New.Address@Example.COM"}).json()
    assert (body["email"], body["email_verified"]) == ("new.address@example.com", False)
    assert User.objects.get(user_id=user["user_id"]).email == "new.address@example.com"
    assert listed_ids(api.get("/api/v2/users-by-email?email=new.address@example.com")) == [user["user_id"]]
    assert api.get("/api/v2/users-by-email?email=ann@example.com").json() == []


def test_patch_email_stays_verified_when_the_body_says_so(api, new_user):
    user = new_user()
    body = patch(api, user, {"email": "new@example.com", "email_verified": True}).json()
    assert (body["email"], body["email_verified"]) == ("new@example.com", True)


def test_patch_the_same_email_in_another_case_keeps_it_verified(api, new_user):
    user = new_user(email_verified=True)
    body = patch(api, user, {"email": "ANN@example.com"}).json()
    assert (body["email"], body["email_verified"]) == ("ann@example.com", True)


@pytest.mark.parametrize("value", [True, False])
def test_patch_email_verified_alone(api, new_user, value):
    user = new_user(email_verified=not value)
    assert patch(api, user, {"email_verified": value}).json()["email_verified"] is value


@pytest.mark.parametrize("taken", ["bob@example.com", "BOB@Example.com"])
def test_patch_to_another_users_email_is_409_and_changes_nothing(api, new_user, taken):
    new_user("bob@example.com")
    ann = new_user("ann@example.com")
    backdate(ann["user_id"])
    before = api.get(url(ann["user_id"])).json()
    response = patch(api, ann, {"email": taken, "name": "Ann Lee", "user_metadata": {"a": 1}})
    assert response.status_code == 409
    assert response.json() == USER_EXISTS
    assert api.get(url(ann["user_id"])).json() == before


def test_patch_to_an_email_used_in_another_connection_is_fine(api, new_user):
    new_user("bob@example.com", connection=OTHER_DB)
    ann = new_user("ann@example.com")
    assert patch(api, ann, {"email": "bob@example.com"}).json()["email"] == "bob@example.com"


def test_patch_email_with_verify_email_sends_a_verification_mail(
    api, new_user, mailoutbox, django_capture_on_commit_callbacks
):
    user = new_user(verify_email=False)
    with django_capture_on_commit_callbacks(execute=True):
        response = patch(api, user, {"email": "New@Example.com", "verify_email": True})
    assert response.status_code == 200
    assert [message.to for message in mailoutbox] == [["new@example.com"]]


@pytest.mark.parametrize(
    "body",
    [
        {"email": "new@example.com"},
        {"email": "new@example.com", "verify_email": False},
        {"email": "new@example.com", "verify_email": True, "email_verified": True},
        {"email": "ann@example.com", "verify_email": True},  # not a change
        {"name": "Ann", "verify_email": True},
    ],
)
def test_patch_sends_no_mail_otherwise(api, new_user, mailoutbox, django_capture_on_commit_callbacks, body):
    user = new_user(verify_email=False)
    with django_capture_on_commit_callbacks(execute=True):
        assert patch(api, user, body).status_code == 200
    assert mailoutbox == []


# --- PATCH: username, phone number and the strategies -------------------------------------------------------


def test_patch_username_is_lowercased_on_a_connection_that_requires_one(api, new_user):
    user = new_user(connection=USERNAME_DB, username="ann")
    body = patch(api, user, {"username": "Annie.Lee"}).json()
    assert body["username"] == "annie.lee"
    assert User.objects.get(user_id=user["user_id"]).username == "annie.lee"


@pytest.mark.parametrize(
    ("username", "errors"),
    [
        ("ab", [("username", "USERNAME_LENGTH", "The username must be between 3 and 15 characters long.")]),
        (
            "a" * 16,
            [("username", "USERNAME_LENGTH", "The username must be between 3 and 15 characters long.")],
        ),
        (
            "ann lee",
            [
                (
                    "username",
                    "USERNAME_CHARACTERS",
                    USERNAME_WITH_A_SPACE_REFUSAL,
                )
            ],
        ),
        ("ann@example.com", [("username", "USERNAME_IS_EMAIL", "The username cannot be an email address.")]),
        (
            None,
            [("username", "REQUIRED_FOR_STRATEGY", "Cannot remove username: the connection requires it.")],
        ),
    ],
)
def test_patch_username_follows_the_connection_rules(api, new_user, username, errors):
    user = new_user(connection=USERNAME_DB, username="ann")
    response = patch(api, user, {"username": username})
    assert response.status_code == 400
    assert response.json() == invalid_body(*errors)
    assert User.objects.get(user_id=user["user_id"]).username == "ann"


@pytest.mark.parametrize("taken", ["bob", "BOB"])
def test_patch_to_another_users_username_is_409(api, new_user, taken):
    new_user("bob@example.com", connection=USERNAME_DB, username="bob")
    ann = new_user("ann@example.com", connection=USERNAME_DB, username="ann")
    response = patch(api, ann, {"username": taken})
    assert response.status_code == 409
    assert response.json() == USER_EXISTS
    assert User.objects.get(user_id=ann["user_id"]).username == "ann"


@pytest.mark.parametrize("connection", [DB, EMAIL])
def test_patch_username_is_refused_without_requires_username(api, new_user, connection):
    user = new_user(connection=connection)
    response = patch(api, user, {"username": "ann"})
    assert response.status_code == 400
    if connection == DB:
        expected = (
            "username",
            "USERNAME_NOT_ALLOWED",
            "Cannot set username for connection without requires_username.",
        )
    else:
        expected = (
            "username",
            "NOT_ALLOWED_FOR_STRATEGY",
            "Cannot set username for connection with strategy email.",
        )
    assert response.json() == invalid_body(expected)
    assert User.objects.get(user_id=user["user_id"]).username is None


def test_patch_phone_number_on_sms_is_unverified_again(api, new_user):
    user = new_user(email=None, connection=SMS, phone_number=PHONE, phone_verified=True)
    body = patch(api, user, {"phone_number": "+14155550124"}).json()
    assert (body["phone_number"], body["phone_verified"]) == ("+14155550124", False)
    assert body["user_id"] == user["user_id"]
    assert api.get(url(user["user_id"])).json() == body


def test_patch_phone_number_stays_verified_when_the_body_says_so(api, new_user):
    user = new_user(email=None, connection=SMS, phone_number=PHONE)
    body = patch(api, user, {"phone_number": "+14155550124", "phone_verified": True}).json()
    assert (body["phone_number"], body["phone_verified"]) == ("+14155550124", True)


def test_patch_the_same_phone_number_keeps_it_verified(api, new_user):
    user = new_user(email=None, connection=SMS, phone_number=PHONE, phone_verified=True)
    assert patch(api, user, {"phone_number": PHONE}).json()["phone_verified"] is True


def test_patch_to_another_users_phone_number_is_409(api, new_user):
    new_user(email=None, connection=SMS, phone_number="+14155550124")
    user = new_user(email=None, connection=SMS, phone_number=PHONE)
    response = patch(api, user, {"phone_number": "+14155550124"})
    assert response.status_code == 409
    assert response.json() == USER_EXISTS
    assert User.objects.get(user_id=user["user_id"]).phone_number == PHONE


def _refused(field: str, strategy: str) -> tuple[str, str, str]:
    return (field, "NOT_ALLOWED_FOR_STRATEGY", f"Cannot set {field} for connection with strategy {strategy}.")


def _required(field: str) -> tuple[str, str, str]:
    return (field, "REQUIRED_FOR_STRATEGY", f"Cannot remove {field}: the connection requires it.")


@pytest.mark.parametrize(
    ("connection", "body", "errors"),
    [
        (SMS, {"password": STRONG_PASSWORD}, [_refused("password", "sms")]),
        (SMS, {"email": "ann@example.com"}, [_refused("email", "sms")]),
        (SMS, {"username": "ann"}, [_refused("username", "sms")]),
        (SMS, {"phone_number": None}, [_required("phone_number")]),
        (DB, {"phone_number": PHONE}, [_refused("phone_number", "auth0")]),
        (DB, {"email": None}, [_required("email")]),
        (EMAIL, {"password": STRONG_PASSWORD}, [_refused("password", "email")]),
        (EMAIL, {"phone_number": PHONE}, [_refused("phone_number", "email")]),
        (EMAIL, {"email": None}, [_required("email")]),
        (
            DB,
            {"phone_number": PHONE, "email": None},
            [_refused("phone_number", "auth0"), _required("email")],
        ),
    ],
)
def test_patch_strategy_refusals(api, new_user, connection, body, errors):
    if connection == SMS:
        user = new_user(email=None, connection=SMS, phone_number="+14155550199")
    else:
        user = new_user(connection=connection)
    backdate(user["user_id"])
    before = api.get(url(user["user_id"])).json()
    response = patch(api, user, body)
    assert response.status_code == 400
    assert response.json() == invalid_body(*errors)
    assert api.get(url(user["user_id"])).json() == before


@pytest.mark.parametrize("connection", [SMS, DB])
def test_patch_null_for_a_field_the_strategy_lacks_is_harmless(api, new_user, connection):
    if connection == SMS:
        user = new_user(email=None, connection=SMS, phone_number=PHONE)
        body = {"email": None, "username": None}
    else:
        user = new_user()
        body = {"phone_number": None, "username": None}
    response = patch(api, user, body)
    assert response.status_code == 200
    assert response.json() == {**user, "updated_at": response.json()["updated_at"]}


# --- PATCH: password ----------------------------------------------------------------------------------------


def test_patch_weak_password_is_refused_by_the_connections_policy(api, new_user):
    user = new_user()
    stored = User.objects.get(user_id=user["user_id"]).password_hash
    response = patch(api, user, {"password": "weakpass"})
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "PasswordStrengthError: Password is too weak",
        "errorCode": "invalid_password",
        "errors": [
            {
                "field": "password",
                "code": "containsAtLeast",
                "message": "Contain at least 3 of the following 4 types of characters: "
                "lower case letters (a-z), "
                "upper case letters (A-Z), numbers (i.e. 0-9), special characters (e.g. !@#$%^&*)",
            }
        ],
    }
    assert User.objects.get(user_id=user["user_id"]).password_hash == stored


def test_patch_strong_password_replaces_the_hash(api, new_user):
    user = new_user()
    stored = User.objects.get(user_id=user["user_id"]).password_hash
    response = patch(api, user, {"password": NEW_PASSWORD})
    assert response.status_code == 200
    assert "password" not in response.json()
    changed = User.objects.get(user_id=user["user_id"]).password_hash
    assert changed != stored
    assert verify_password(NEW_PASSWORD, changed)
    assert not verify_password(STRONG_PASSWORD, changed)


def test_patch_password_is_checked_against_the_personal_info_in_the_same_body(api, new_user, make_connection):
    make_connection(name="personal", password_no_personal_info={"enable": True})
    user = new_user(connection="personal")
    refused = patch(api, user, {"name": "Zebrafish", "password": "Zebrafish!123"})
    assert refused.status_code == 400
    assert refused.json()["message"] == "PasswordNoUserInfoError: Password contains user information"
    assert "name" in user and User.objects.get(user_id=user["user_id"]).name == user["name"]
    assert patch(api, user, {"password": "Zebrafish!123"}).status_code == 200


def test_patch_password_obeys_a_lenient_policy_too(api, new_user, make_connection):
    make_connection(name="lenient", passwordPolicy="none")
    user = new_user(connection="lenient")
    assert patch(api, user, {"password": "x"}).status_code == 200
    assert verify_password("x", User.objects.get(user_id=user["user_id"]).password_hash)


# --- PATCH: the body's shape --------------------------------------------------------------------------------


def test_patch_naming_the_users_connection_is_fine(api, new_user):
    user = new_user()
    assert patch(api, user, {"connection": DB, "nickname": "annie"}).json()["nickname"] == "annie"


@pytest.mark.parametrize("connection", [OTHER_DB, "Nope", DB.lower()])
def test_patch_naming_another_connection_is_refused(api, new_user, connection):
    user = new_user()
    response = patch(api, user, {"connection": connection, "nickname": "annie"})
    assert response.status_code == 400
    assert response.json() == invalid_body(
        ("connection", "CONNECTION_MISMATCH", "The user does not belong to that connection.")
    )
    assert User.objects.get(user_id=user["user_id"]).nickname == "ann"


def test_patch_unknown_property_is_refused(api, new_user):
    user = new_user()
    response = patch(api, user, {"nickname": "annie", "favourite_colour": "blue"})
    assert response.status_code == 400
    text = "Additional properties not allowed: favourite_colour"
    assert response.json() == invalid_body(
        (None, "OBJECT_ADDITIONAL_PROPERTIES", text), message=f"Payload validation error: '{text}'."
    )
    assert User.objects.get(user_id=user["user_id"]).nickname == "ann"


@pytest.mark.parametrize(
    ("field", "value", "code", "text"),
    [
        ("blocked", "true", "INVALID_TYPE", "Expected type boolean but found type string"),
        ("blocked", None, "INVALID_TYPE", "Expected type boolean but found type null"),
        ("email_verified", 1, "INVALID_TYPE", "Expected type boolean but found type integer"),
        ("phone_verified", "false", "INVALID_TYPE", "Expected type boolean but found type string"),
        ("verify_email", 0, "INVALID_TYPE", "Expected type boolean but found type integer"),
        ("given_name", 5, "INVALID_TYPE", "Expected type string but found type integer"),
        ("given_name", "", "MIN_LENGTH", "String is too short (0 chars), minimum 1"),
        ("family_name", "x" * 151, "MAX_LENGTH", "String is too long (151 chars), maximum 150"),
        ("name", ["Ann"], "INVALID_TYPE", "Expected type string but found type array"),
        ("nickname", "x" * 301, "MAX_LENGTH", "String is too long (301 chars), maximum 300"),
        ("picture", "not a uri", "FORMAT", "Object didn't pass validation for format strict-uri: not a uri"),
        ("email", "not-an-email", "FORMAT", "Object didn't pass validation for format email: not-an-email"),
        ("email", 42, "INVALID_TYPE", "Expected type string but found type integer"),
        (
            "phone_number",
            "4155550123",
            "PATTERN",
            r"String does not match pattern ^\+[0-9]{1,15}$: 4155550123",
        ),
        ("user_metadata", [], "INVALID_TYPE", "Expected type object but found type array"),
        ("app_metadata", "x", "INVALID_TYPE", "Expected type object but found type string"),
        ("password", "", "MIN_LENGTH", "String is too short (0 chars), minimum 1"),
        ("connection", "", "MIN_LENGTH", "String is too short (0 chars), minimum 1"),
        ("connection", None, "INVALID_TYPE", "Expected type string but found type null"),
        ("client_id", 1, "INVALID_TYPE", "Expected type string but found type integer"),
        ("username", "", "MIN_LENGTH", "String is too short (0 chars), minimum 1"),
    ],
)
def test_patch_wrong_types_and_formats_are_refused(api, new_user, field, value, code, text):
    user = new_user()
    backdate(user["user_id"])
    response = patch(api, user, {field: value})
    assert response.status_code == 400
    assert response.json() == schema_error(field, code, text)
    assert User.objects.get(user_id=user["user_id"]).updated_at == OLD_TIME


def test_patch_reports_every_refused_property(api, new_user):
    user = new_user()
    response = patch(api, user, {"given_name": 5, "picture": "x"})
    assert response.status_code == 400
    first = "Expected type string but found type integer"
    second = "Object didn't pass validation for format strict-uri: x"
    assert response.json() == invalid_body(
        ("given_name", "INVALID_TYPE", first),
        ("picture", "FORMAT", second),
        message=f"Payload validation error: '{first}' on property given_name ({DESCRIPTIONS['given_name']})."
        f" (also) Payload validation error: '{second}' on property picture ({DESCRIPTIONS['picture']}).",
    )


@pytest.mark.parametrize(("raw", "found"), [("null", "null"), ("[]", "array"), ('"x"', "string")])
def test_patch_body_must_be_an_object(api, new_user, raw, found):
    user = new_user()
    response = api.patch(url(user["user_id"]), raw, content_type="application/json")
    assert response.status_code == 400
    text = f"Expected type object but found type {found}"
    message = f"Payload validation error: '{text}'."
    assert response.json() == invalid_body((None, "INVALID_TYPE", text), message=message)


def test_patch_unknown_user_is_404(api):
    response = api.patch(url("auth0|000000000000000000000000"), {"name": "x"}, format="json")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_patch_needs_update_users(scoped, new_user):
    user = new_user()
    client = scoped("create:users read:users delete:users")
    response = client.patch(url(user["user_id"]), {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json() == forbidden("update:users")
    assert User.objects.get(user_id=user["user_id"]).name == "ann@example.com"


def test_patch_without_a_token_is_401(scoped, new_user):
    user = new_user()
    response = scoped(None).patch(url(user["user_id"]), {"name": "x"}, format="json")
    assert response.status_code == 401
    assert response.json() == MISSING_TOKEN
    assert User.objects.get(user_id=user["user_id"]).name == "ann@example.com"


def test_patch_a_custom_id_containing_a_slash(api, new_user):
    user = new_user(user_id="ext/42")
    assert patch(api, user, {"nickname": "annie"}).json()["nickname"] == "annie"


# --- DELETE /api/v2/users/{id} ------------------------------------------------------------------------------


def test_delete_removes_the_user(api, new_user):
    user = new_user()
    other = new_user("bob@example.com")
    response = api.delete(url(user["user_id"]))
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(url(user["user_id"])).json() == NOT_FOUND
    assert listed_ids(api.get("/api/v2/users")) == [other["user_id"]]


def test_delete_frees_the_email_for_a_new_user(api, new_user):
    user = new_user()
    assert api.delete(url(user["user_id"])).status_code == 204
    assert new_user()["user_id"] != user["user_id"]


@pytest.mark.parametrize("user_id", ["auth0|000000000000000000000000", "nobody", "auth0|a/b"])
def test_delete_unknown_user_is_204_too(api, new_user, user_id):
    new_user()
    response = api.delete(url(user_id))
    assert response.status_code == 204
    assert response.content == b""
    assert User.objects.count() == 1


def test_delete_twice_is_204_both_times(api, new_user):
    user = new_user()
    assert api.delete(url(user["user_id"])).status_code == 204
    assert api.delete(url(user["user_id"])).status_code == 204


def test_delete_a_custom_id_containing_a_slash_by_its_raw_path(api, new_user):
    new_user(user_id="ext/42")
    assert api.delete("/api/v2/users/auth0|ext/42").status_code == 204
    assert not User.objects.filter(user_id="auth0|ext/42").exists()


def test_delete_needs_delete_users(scoped, new_user):
    user = new_user()
    response = scoped("create:users read:users update:users").delete(url(user["user_id"]))
    assert response.status_code == 403
    assert response.json() == forbidden("delete:users")
    assert User.objects.filter(user_id=user["user_id"]).exists()


def test_delete_without_a_token_is_401(scoped, new_user):
    user = new_user()
    response = scoped(None).delete(url(user["user_id"]))
    assert response.status_code == 401
    assert response.json() == MISSING_TOKEN
    assert User.objects.filter(user_id=user["user_id"]).exists()


# --- rate-limit headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "{user}", None, 200),
        ("get", "/api/v2/users", None, 200),
        ("get", "/api/v2/users?include_totals=true", None, 200),
        ("get", "/api/v2/users-by-email?email=ann@example.com", None, 200),
        ("patch", "{user}", {"nickname": "annie"}, 200),
        ("delete", "{user}", None, 204),
        ("get", "/api/v2/users/auth0%7Cnobody", None, 404),
        ("patch", "/api/v2/users/auth0%7Cnobody", {"nickname": "annie"}, 404),
        ("delete", "/api/v2/users/auth0%7Cnobody", None, 204),
        ("get", "/api/v2/users?per_page=101", None, 400),
        ("get", "/api/v2/users-by-email", None, 400),
        ("patch", "{user}", {"nickname": 1}, 400),
    ],
)
def test_responses_carry_rate_limit_headers(api, new_user, method, path, body, status):
    user = new_user()
    before = int(datetime.now(UTC).timestamp())
    response = getattr(api, method)(path.format(user=url(user["user_id"])), body, format="json")
    assert response.status_code == status
    limit = int(response["x-ratelimit-limit"])
    remaining = int(response["x-ratelimit-remaining"])
    assert 0 < remaining < limit  # the create spent one request already
    assert before <= int(response["x-ratelimit-reset"]) <= before + 3600


# An hour-long bucket: at the default 1000/minute a request comes back every 60 ms, so a slow (loaded, parallel)
# run saw two requests leave the same count.
@override_settings(MANAGEMENT_API_RATE_LIMIT="1000/hour")
def test_rate_limit_remaining_counts_down(api, new_user):
    user = new_user()
    first = int(api.get(url(user["user_id"]))["x-ratelimit-remaining"])
    second = int(api.get("/api/v2/users")["x-ratelimit-remaining"])
    third = int(api.patch(url(user["user_id"]), {"name": "Ann"}, format="json")["x-ratelimit-remaining"])
    assert (second, third) == (first - 1, first - 2)


def test_a_refused_scope_still_carries_rate_limit_headers(scoped, new_user):
    user = new_user()
    response = scoped("create:users").get(url(user["user_id"]))
    assert response.status_code == 403
    assert int(response["x-ratelimit-remaining"]) < int(response["x-ratelimit-limit"])
