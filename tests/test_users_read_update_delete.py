"""GET, list, users-by-email, PATCH and DELETE of users, as Auth0's management API answers them."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from core.hashing import bcrypt_verify as verify_password
from tests.helpers import STRONG_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db

SCOPES = "create:users read:users update:users delete:users"
NOT_FOUND = {
    "statusCode": 404,
    "error": "Not Found",
    "message": "The user does not exist.",
    "errorCode": "inexistent_user",
    "errors": [],
}


@pytest.fixture
def api(api_client, token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(SCOPES)}")
    return api_client


@pytest.fixture
def new_user(api, connection):
    def make(email: str = "ann@example.com", **fields):
        body = {"connection": connection.name, "email": email, "password": STRONG_PASSWORD, **fields}
        response = api.post("/api/v2/users", body, format="json")
        assert response.status_code == 201, response.json()
        return response.json()

    return make


def _url(user_id: str) -> str:
    return f"/api/v2/users/{quote(user_id, safe='')}"


# --- GET /api/v2/users/{id} ---------------------------------------------------------------------------


def test_get_returns_the_profile_the_create_returned(api, new_user):
    created = new_user(user_metadata={"plan": "gold"})
    response = api.get(_url(created["user_id"]))
    assert response.status_code == 200
    assert response.json() == created
    assert response["x-ratelimit-limit"]


def test_get_accepts_the_raw_id_and_custom_ids(api, new_user):
    created = new_user(user_id="ext/42")
    assert api.get(f"/api/v2/users/{created['user_id']}").json()["user_id"] == "auth0|ext/42"


def test_get_unknown_user_is_404(api):
    response = api.get(_url("auth0|000000000000000000000000"))
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize(("include", "keys"), [("true", {"email", "user_id"}), ("false", None)])
def test_get_fields_and_include_fields(api, new_user, include, keys):
    created = new_user()
    body = api.get(f"{_url(created['user_id'])}?fields=email,user_id&include_fields={include}").json()
    assert set(body) == (keys or set(created) - {"email", "user_id"})


def test_get_needs_read_users(api_client, token, new_user):
    created = new_user()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    response = api_client.get(_url(created["user_id"]))
    assert response.status_code == 403
    assert response.json()["message"] == "Insufficient scope, expected any of: read:users"
    api_client.credentials()
    assert api_client.get(_url(created["user_id"])).status_code == 401


# --- GET /api/v2/users and users-by-email ----------------------------------------------------------------


def test_list_is_newest_first_and_pages(api, new_user):
    ids = [new_user(f"u{i}@example.com")["user_id"] for i in range(5)]
    listed = api.get("/api/v2/users").json()
    assert [u["user_id"] for u in listed] == ids[::-1]
    page = api.get("/api/v2/users?per_page=2&page=1&include_totals=true").json()
    assert {k: page[k] for k in ("start", "limit", "length", "total")} == {
        "start": 2,
        "limit": 2,
        "length": 2,
        "total": 5,
    }
    assert [u["user_id"] for u in page["users"]] == ids[::-1][2:4]
    ascending = api.get("/api/v2/users?sort=created_at:1").json()
    assert [u["user_id"] for u in ascending] == ids


def test_list_filters_by_connection_and_email(api, new_user, make_connection):
    make_connection(name="Other-DB")
    new_user("ann@example.com")
    other = api.post(
        "/api/v2/users",
        {"connection": "Other-DB", "email": "Ann@Example.com", "password": STRONG_PASSWORD},
        format="json",
    ).json()
    assert [u["user_id"] for u in api.get("/api/v2/users?connection=Other-DB").json()] == [other["user_id"]]
    assert len(api.get("/api/v2/users?email=ANN@example.com").json()) == 2


@pytest.mark.parametrize(
    "query",
    [
        "per_page=101",
        "page=-1",
        "page=100001",
        "page=99999999999999999999999",
        "per_page=abc",
        "sort=password:1",
        "q=email:x",
        "include_totals=yes",
    ],
)
def test_list_refuses_bad_query_strings(api, query):
    response = api.get(f"/api/v2/users?{query}")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_query_string"
    assert response.json()["message"].startswith("Query validation error: ")


def test_users_by_email_is_case_insensitive_across_connections(api, new_user, make_connection):
    make_connection(name="Other-DB")
    first = new_user("ann@example.com")
    second = api.post(
        "/api/v2/users",
        {"connection": "Other-DB", "email": "ann@example.com", "password": STRONG_PASSWORD},
        format="json",
    ).json()
    found = api.get("/api/v2/users-by-email?email=ANN@EXAMPLE.COM").json()
    assert [u["user_id"] for u in found] == [first["user_id"], second["user_id"]]
    assert api.get("/api/v2/users-by-email?email=nobody@example.com").json() == []
    missing = api.get("/api/v2/users-by-email")
    assert missing.status_code == 400
    assert missing.json()["message"] == "Query validation error: 'Missing required property: email'."


# --- PATCH ---------------------------------------------------------------------------------------------


def _patch(api, user, body):
    return api.patch(_url(user["user_id"]), body, format="json")


def test_patch_sets_and_removes_profile_fields(api, new_user):
    user = new_user(given_name="Ann", nickname="annie")
    body = _patch(api, user, {"given_name": None, "family_name": "Lee", "name": "Ann Lee", "picture": None}).json()
    assert "given_name" not in body and "picture" not in body
    assert body["family_name"] == "Lee" and body["name"] == "Ann Lee" and body["nickname"] == "annie"
    assert body["created_at"] == user["created_at"]
    assert body["updated_at"] > user["updated_at"]


def test_patch_merges_metadata_at_the_top_level(api, new_user):
    user = new_user(user_metadata={"a": 1, "b": {"x": 1}}, app_metadata={"roles": ["x"]})
    body = _patch(api, user, {"user_metadata": {"b": {"y": 2}, "c": 3, "a": None}}).json()
    assert body["user_metadata"] == {"b": {"y": 2}, "c": 3}
    assert body["app_metadata"] == {"roles": ["x"]}
    cleared = _patch(api, user, {"app_metadata": {}}).json()
    assert "app_metadata" not in cleared


def test_patch_email_is_lowercased_and_unverified_again(api, new_user):
    user = new_user(email_verified=True)
    body = _patch(api, user, {"email": "New@Example.com"}).json()
    assert body["email"] == "new@example.com" and body["email_verified"] is False
    verified = _patch(api, user, {"email": "third@example.com", "email_verified": True}).json()
    assert verified["email_verified"] is True


def test_patch_to_a_taken_email_in_any_case_is_409_and_changes_nothing(api, new_user):
    new_user("ann@example.com")
    bob = new_user("bob@example.com")
    response = _patch(api, bob, {"email": "ANN@example.com", "name": "Bob"})
    assert response.status_code == 409
    assert response.json()["errorCode"] == "auth0_idp_error"
    assert User.objects.get(user_id=bob["user_id"]).email == "bob@example.com"
    assert User.objects.get(user_id=bob["user_id"]).name == "bob@example.com"


def test_patch_blocked(api, new_user):
    user = new_user()
    assert _patch(api, user, {"blocked": True}).json()["blocked"] is True
    assert _patch(api, user, {"blocked": False}).json()["blocked"] is False


def test_patch_password_obeys_the_policy(api, new_user):
    user = new_user()
    weak = _patch(api, user, {"password": "weak"})
    assert weak.status_code == 400
    assert weak.json()["message"] == "PasswordStrengthError: Password is too weak"
    stored = User.objects.get(user_id=user["user_id"]).password_hash
    assert _patch(api, user, {"password": "N3w!Passw0rd"}).status_code == 200
    changed = User.objects.get(user_id=user["user_id"]).password_hash
    assert changed != stored
    assert verify_password("N3w!Passw0rd", changed)


def test_patch_username_follows_the_connection_rules(api, make_connection):
    make_connection(name="Named", requires_username=True)
    user = api.post(
        "/api/v2/users",
        {"connection": "Named", "email": "a@example.com", "username": "ann", "password": STRONG_PASSWORD},
        format="json",
    ).json()
    assert _patch(api, user, {"username": "Annie"}).json()["username"] == "annie"
    assert _patch(api, user, {"username": "x" * 16}).status_code == 400
    removed = _patch(api, user, {"username": None})
    assert removed.status_code == 400
    assert removed.json()["errors"][0]["code"] == "REQUIRED_FOR_STRATEGY"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"username": "ann"}, "username", "USERNAME_NOT_ALLOWED"),
        ({"phone_number": "+14155550123"}, "phone_number", "NOT_ALLOWED_FOR_STRATEGY"),
        ({"email": None}, "email", "REQUIRED_FOR_STRATEGY"),
        ({"connection": "Other"}, "connection", "CONNECTION_MISMATCH"),
        ({"unknown": 1}, None, "OBJECT_ADDITIONAL_PROPERTIES"),
        ({"blocked": "true"}, "blocked", "INVALID_TYPE"),
        ({"given_name": ""}, "given_name", "MIN_LENGTH"),
    ],
)
def test_patch_refusals_name_the_field(api, new_user, body, field, code):
    user = new_user()
    response = _patch(api, user, body)
    assert response.status_code == 400
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in response.json()["errors"]
    ]


def test_patch_on_sms_changes_the_phone_and_refuses_a_password(api, make_connection):
    make_connection(name="sms", strategy="sms")
    user = api.post("/api/v2/users", {"connection": "sms", "phone_number": "+14155550123"}, format="json").json()
    changed = _patch(api, user, {"phone_number": "+14155550124"}).json()
    assert changed["phone_number"] == "+14155550124" and changed["phone_verified"] is False
    assert _patch(api, user, {"password": STRONG_PASSWORD}).status_code == 400


def test_patch_unknown_user_is_404_and_needs_update_users(api, api_client, token):
    assert api.patch(_url("auth0|nope"), {"name": "x"}, format="json").json() == NOT_FOUND
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users')}")
    response = api_client.patch(_url("auth0|nope"), {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["message"] == "Insufficient scope, expected any of: update:users"


# --- DELETE --------------------------------------------------------------------------------------------


def test_delete_removes_the_user_and_is_idempotent(api, new_user):
    user = new_user()
    response = api.delete(_url(user["user_id"]))
    assert response.status_code == 204
    assert response.content == b""
    assert api.get(_url(user["user_id"])).status_code == 404
    assert not User.objects.exists()
    assert api.delete(_url(user["user_id"])).status_code == 204


def test_delete_needs_delete_users(api_client, token, new_user):
    user = new_user()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users update:users')}")
    response = api_client.delete(_url(user["user_id"]))
    assert response.status_code == 403
    assert response.json()["message"] == "Insufficient scope, expected any of: delete:users"
    assert User.objects.count() == 1
