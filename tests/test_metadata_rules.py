"""Metadata follows Auth0's "Metadata Field Names and Data Types" at every entry point (``users.metadata``): no ``.``
or ``$`` in a name at any depth, none of the names Auth0 reserves at the top of ``app_metadata``, at most 16 MB per
user; refused by ``POST``/``PATCH /api/v2/users``, sign-up, the bulk import and the admin's forms alike."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers import DB, SIGNUP, STRONG_PASSWORD, USERS, invalid_body, run_import_job, user_url
from users.metadata import MAX_METADATA_BYTES, RESERVED_APP_METADATA_NAMES
from users.models import User

pytestmark = pytest.mark.django_db

DOTTED = 'Fields with "." are not allowed, please remove all dotted fields. Example: {}'
DOLLAR = 'Fields with "$" are not allowed, please remove all fields containing "$". Example: {}'

# (metadata field, its value, the path reported, the message's template)
REFUSED: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "dotted-name": ("user_metadata", {"preference.color": "pink"}, "user_metadata.preference.color", DOTTED),
    "dotted-name-in-app-metadata": ("app_metadata", {"a.b": 1}, "app_metadata.a.b", DOTTED),
    "dotted-name-nested": (
        "user_metadata",
        {"ui": {"theme": {"dark.mode": True}}},
        "user_metadata.ui.theme.dark.mode",
        DOTTED,
    ),
    "dotted-name-in-an-array": (
        "app_metadata",
        {"roles": [{"x": 1}, {"org.id": 2}]},
        "app_metadata.roles.1.org.id",
        DOTTED,
    ),
    "namespaced-claim": (
        "app_metadata",
        {"https://example.com/tenant": "t1"},
        "app_metadata.https://example.com/tenant",
        DOTTED,
    ),
    "dollar-name": ("user_metadata", {"$set": {"a": 1}}, "user_metadata.$set", DOLLAR),
    "dollar-name-nested-in-arrays": ("user_metadata", {"a": [[{"b$": 1}]]}, "user_metadata.a.0.0.b$", DOLLAR),
    "dollar-name-deepest": (
        "app_metadata",
        {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"$i": 1}}}}}}}}},
        "app_metadata.a.b.c.d.e.f.g.h.$i",
        DOLLAR,
    ),
}
# Dots and dollars in values, and reserved names anywhere but the top of app_metadata, are fine.
ACCEPTED = {
    "user_metadata": {"preference": {"color": "pink"}, "favourite": "light.blue", "price": "$5", "email": "x"},
    "app_metadata": {"plan": "full", "nested": {"email": "a@b.c", "user_id": "1"}, "list": [{"blocked": True}]},
}


def _refusal(path: str, code: str, message: str) -> dict[str, Any]:
    return invalid_body((path, code, message), message=message)


def _case(key: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    field, value, path, template = REFUSED[key]
    message = template.format(path)
    return field, value, _refusal(path, "INVALID_FIELD_NAME", message)


@pytest.fixture
def ann(new_user, connection) -> dict[str, Any]:
    return new_user("ann@example.com", user_metadata={"theme": "dark"}, app_metadata={"plan": "free"})


# --- the management API -------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", REFUSED)
def test_create_refuses_a_name_with_a_dot_or_a_dollar_at_any_depth(api, connection, key: str) -> None:
    field, value, expected = _case(key)
    body = {"connection": DB, "email": "kate@example.com", "password": STRONG_PASSWORD, field: value}
    response = api.post(USERS, body, format="json")
    assert response.status_code == 400
    assert response.json() == expected
    assert not User.objects.exists()


@pytest.mark.parametrize("key", REFUSED)
def test_patch_refuses_a_name_with_a_dot_or_a_dollar_at_any_depth(api, ann, key: str) -> None:
    field, value, expected = _case(key)
    response = api.patch(user_url(ann["user_id"]), {field: value}, format="json")
    assert response.status_code == 400
    assert response.json() == expected
    user = User.objects.get()
    assert (user.user_metadata, user.app_metadata) == ({"theme": "dark"}, {"plan": "free"})


def test_the_issues_example_is_refused_with_auth0s_message(api, connection) -> None:
    body = {"connection": DB, "email": "kate@example.com", "password": STRONG_PASSWORD}
    response = api.post(USERS, {**body, "user_metadata": {"preference.color": "pink"}}, format="json")
    message = (
        'Fields with "." are not allowed, please remove all dotted fields. Example: user_metadata.preference.color'
    )
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": message,
        "errorCode": "invalid_body",
        "errors": [{"field": "user_metadata.preference.color", "code": "INVALID_FIELD_NAME", "message": message}],
    }


def test_a_patch_removing_a_dotted_name_is_refused_too(api, ann) -> None:
    """The rule applies to the names sent, a null (which removes its key) included."""
    response = api.patch(user_url(ann["user_id"]), {"user_metadata": {"a.b": None}}, format="json")
    assert response.json() == _refusal("user_metadata.a.b", "INVALID_FIELD_NAME", DOTTED.format("user_metadata.a.b"))


def test_a_top_level_dotted_name_is_reported_before_a_deeper_one(api, connection) -> None:
    value = {"a": {"deep.er": 1}, "top.level": 2}
    body = {"connection": DB, "email": "kate@example.com", "password": STRONG_PASSWORD, "user_metadata": value}
    expected = DOTTED.format("user_metadata.top.level")
    assert api.post(USERS, body, format="json").json() == _refusal(
        "user_metadata.top.level", "INVALID_FIELD_NAME", expected
    )


@pytest.mark.parametrize("name", sorted(RESERVED_APP_METADATA_NAMES))
def test_create_and_patch_refuse_a_reserved_app_metadata_name(api, ann, name: str) -> None:
    message = f"Forbidden attribute in app_metadata: {name}"
    expected = _refusal(f"app_metadata.{name}", "NOT_PASSED", message)
    body = {"connection": DB, "email": "kate@example.com", "password": STRONG_PASSWORD}
    assert api.post(USERS, {**body, "app_metadata": {"ok": 1, name: "x"}}, format="json").json() == expected
    assert api.patch(user_url(ann["user_id"]), {"app_metadata": {name: None}}, format="json").json() == expected
    assert User.objects.count() == 1
    assert User.objects.get().app_metadata == {"plan": "free"}


def test_the_reserved_names_are_the_pages_and_username() -> None:
    page = {
        "__tenant", "_id", "blocked", "clientID", "created_at", "email_verified", "email", "globalClientID",
        "global_client_id", "identities", "lastIP", "lastLogin", "loginsCount", "metadata",
        "multifactor_last_modified", "multifactor", "updated_at", "user_id",
    }  # fmt: skip
    assert page | {"username"} == RESERVED_APP_METADATA_NAMES


def test_dots_and_dollars_in_values_and_reserved_names_elsewhere_are_accepted(api, ann) -> None:
    body = {"connection": DB, "email": "kate@example.com", "password": STRONG_PASSWORD, **ACCEPTED}
    created = api.post(USERS, body, format="json")
    assert created.status_code == 201, created.json()
    assert (created.json()["user_metadata"], created.json()["app_metadata"]) == (
        ACCEPTED["user_metadata"],
        ACCEPTED["app_metadata"],
    )
    patched = api.patch(user_url(ann["user_id"]), ACCEPTED, format="json")
    assert patched.status_code == 200, patched.json()
    assert patched.json()["app_metadata"] == ACCEPTED["app_metadata"]  # merged: "plan" replaced


def test_the_refusal_follows_accept_language(api, connection) -> None:
    body = {"connection": DB, "email": "kate@example.com", "password": STRONG_PASSWORD, "app_metadata": {"email": 1}}
    response = api.post(USERS, body, format="json", HTTP_ACCEPT_LANGUAGE="ja")
    assert response.json()["message"] == "app_metadata では使用できない属性です: email"
    assert response.json()["errors"][0]["code"] == "NOT_PASSED"


# --- the size limit -----------------------------------------------------------------------------------------


def test_a_patch_that_would_grow_the_metadata_past_16_mb_is_refused(api, ann) -> None:
    """A body is far smaller than 16 MB, but PATCH merges: the merged result is what is measured."""
    big = "x" * (MAX_METADATA_BYTES - 100)
    User.objects.update(user_metadata={"big": big})  # as if many PATCHes had added to it
    stored = len('{"big":""}') + len(big)  # compact JSON
    response = api.patch(user_url(ann["user_id"]), {"app_metadata": {"more": "y" * 200}}, format="json")
    size = stored + len('{"plan":"free","more":""}') + 200
    message = (
        f"Metadata is too large ({size} bytes), maximum 16777216 bytes for user_metadata and app_metadata together"
    )
    assert response.status_code == 400
    assert response.json() == _refusal("user_metadata", "METADATA_TOO_LARGE", message)
    assert User.objects.get().app_metadata == {"plan": "free"}
    # What keeps it within the limit is accepted, and so is clearing it.
    assert api.patch(user_url(ann["user_id"]), {"app_metadata": {"more": "y"}}, format="json").status_code == 200
    assert api.patch(user_url(ann["user_id"]), {"user_metadata": {}}, format="json").status_code == 200
    assert User.objects.get().user_metadata is None


def test_a_large_number_counts_as_the_digits_it_reads_back_as(api, connection) -> None:
    """PostgreSQL's jsonb keeps a number as ``numeric`` and writes ``1e+308`` back as 1 and 308 zeros, which reads
    as an integer: 70,000 of them are a 490 KB body and 21.7 MB of metadata on every later read. They are measured
    as they read back, on every database (so SQLite refuses what PostgreSQL would store over the limit)."""
    count = 70_000
    body = {
        "connection": DB,
        "email": "kate@example.com",
        "password": STRONG_PASSWORD,
        "user_metadata": {"x": [1e308] * count},
    }
    size = len('{"x":[]}') + count * 309 + (count - 1)  # 10**308 has 309 digits
    message = (
        f"Metadata is too large ({size} bytes), maximum 16777216 bytes for user_metadata and app_metadata together"
    )
    response = api.post(USERS, body, format="json")
    assert response.status_code == 400
    assert response.json() == _refusal("user_metadata", "METADATA_TOO_LARGE", message)
    assert not User.objects.exists()
    # Small exponents and numbers with a fraction read back as they were sent; a negative exponent as its digits.
    fine = {"x": [1e15, 1.5e-300, -2.5e20, 10**30], "y": 1e20}
    created = api.post(USERS, {**body, "user_metadata": fine}, format="json")
    assert created.status_code == 201
    assert User.objects.get().user_metadata == fine


def test_a_tiny_number_counts_as_the_digits_it_reads_back_as(api, connection) -> None:
    """PostgreSQL writes ``5e-324`` back as ``0.`` and 323 zeros and a 5 (``numeric`` has no exponent on output):
    60,000 of them are a 420 KB body and 19.6 MB on every read of the row (a PATCH at a time, 16 MB of them would
    read back as 780 MB). Measured as they read back, on every database, as large exponents are."""
    count = 60_000
    body = {
        "connection": DB,
        "email": "kate@example.com",
        "password": STRONG_PASSWORD,
        "user_metadata": {"x": [5e-324] * count},
    }
    size = len('{"x":[]}') + count * len("0." + "0" * 323 + "5") + (count - 1)
    message = (
        f"Metadata is too large ({size} bytes), maximum 16777216 bytes for user_metadata and app_metadata together"
    )
    response = api.post(USERS, body, format="json")
    assert response.status_code == 400
    assert response.json() == _refusal("user_metadata", "METADATA_TOO_LARGE", message)
    assert not User.objects.exists()


# --- sign-up, the bulk import, the admin's forms ------------------------------------------------------------


def test_signup_refuses_a_dotted_name(api_client, signup_app) -> None:
    body = {
        "client_id": signup_app.client_id,
        "connection": DB,
        "email": "kate@example.com",
        "password": STRONG_PASSWORD,
        "user_metadata": {"preference.color": "pink"},
    }
    response = api_client.post(SIGNUP, body, format="json")
    message = DOTTED.format("user_metadata.preference.color")
    assert response.status_code == 400
    assert response.json() == {
        "name": "BadRequestError",
        "code": "invalid_body",
        "description": message,
        "errors": [{"field": "user_metadata.preference.color", "code": "INVALID_FIELD_NAME", "message": message}],
        "statusCode": 400,
    }
    assert not User.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_import_reports_each_refused_user_and_imports_the_rest(api, connection) -> None:
    users = [
        {"email": "dot@example.com", "user_metadata": {"preference.color": "pink"}},
        {"email": "dollar@example.com", "app_metadata": {"roles": [{"$ref": "admin"}]}},
        {"email": "reserved@example.com", "app_metadata": {"user_id": "1"}},
        {"email": "both@example.com", "user_metadata": {"a.b": 1}, "app_metadata": {"email": "x"}},
        {"email": "fine@example.com", **ACCEPTED},
    ]
    job_id = run_import_job(api, connection.id, users)
    assert api.get(f"/api/v2/jobs/{job_id}").json()["summary"] == {"failed": 4, "updated": 0, "inserted": 1, "total": 5}
    errors = {item["user"]["email"]: item["errors"] for item in api.get(f"/api/v2/jobs/{job_id}/errors").json()}
    assert errors == {
        "dot@example.com": [
            {
                "code": "INVALID_FIELD_NAME",
                "message": DOTTED.format("user_metadata.preference.color"),
                "path": "user_metadata.preference.color",
            }
        ],
        "dollar@example.com": [
            {
                "code": "INVALID_FIELD_NAME",
                "message": DOLLAR.format("app_metadata.roles.0.$ref"),
                "path": "app_metadata.roles.0.$ref",
            }
        ],
        "reserved@example.com": [
            {
                "code": "NOT_PASSED",
                "message": "Forbidden attribute in app_metadata: user_id",
                "path": "app_metadata.user_id",
            }
        ],
        "both@example.com": [
            {"code": "INVALID_FIELD_NAME", "message": DOTTED.format("user_metadata.a.b"), "path": "user_metadata.a.b"}
        ],
    }
    assert list(User.objects.values_list("email", flat=True)) == ["fine@example.com"]


def test_admin_add_form_shows_the_refusal_on_the_metadata_field(admin_client, connection) -> None:
    form = {
        "email": "kate@example.com",
        "password": STRONG_PASSWORD,
        "user_metadata": json.dumps({"preference.color": "pink"}),
        "app_metadata": json.dumps({"created_at": "now"}),
    }
    response = admin_client.post(f"/admin/users/user/add/?connection={connection.pk}", form)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors == {"user_metadata": [DOTTED.format("user_metadata.preference.color")]}
    assert not User.objects.exists()


def test_admin_change_form_shows_the_refusal_on_the_metadata_field(admin_client, ann) -> None:
    user = User.objects.get()
    form = {
        "email": "ann@example.com",
        "blocked": "",
        "user_metadata": json.dumps({"theme": "dark"}),
        "app_metadata": json.dumps({"plan": "free", "identities": []}),
        "new_password": "",
    }
    response = admin_client.post(f"/admin/users/user/{user.pk}/change/", form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "app_metadata": ["Forbidden attribute in app_metadata: identities"]
    }
    assert User.objects.get().app_metadata == {"plan": "free"}
