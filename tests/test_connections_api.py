"""The connections endpoints of the management API, as contracts: whole bodies, scopes, validation, conflicts,
paging and filters, PATCH replacing options, DELETE taking the users with it, and Auth0's SDK against a live
server."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from clients.services import create_client
from connections.models import Connection
from core.actors import SYSTEM
from tests.helpers import CONNECTION_NOT_FOUND, CONNECTIONS, STRONG_PASSWORD, invalid_body, management_error
from users.models import User

pytestmark = pytest.mark.django_db

CONNECTION_SCOPES = "create:connections read:connections update:connections delete:connections"
UNKNOWN_ID = "con_0000000000000000"


@pytest.fixture
def app_ids():
    """Two clients' ids, in sorted order."""
    ids = [create_client(name=f"app-{n}", scopes="", actor=SYSTEM)[0].client_id for n in range(2)]
    return sorted(ids)


def _post(api, **body: Any):
    return api.post(CONNECTIONS, {"name": "Staff", "strategy": "auth0", **body}, format="json")


# --- POST /api/v2/connections ---------------------------------------------------------------------------------


def test_create_answers_201_with_auth0s_connection_body(api, app_ids):
    response = _post(api, options={"requires_username": True}, enabled_clients=[app_ids[1], app_ids[0]])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "Staff",
        "strategy": "auth0",
        "options": {"requires_username": True, "passwordPolicy": "good"},
        "enabled_clients": app_ids,
        "realms": ["Staff"],
        "is_domain_connection": False,
    }
    assert len(body["id"]) == 20 and body["id"].startswith("con_") and body["id"][4:].isalnum()
    stored = Connection.objects.get(pk=body["id"])
    assert sorted(stored.clients.values_list("client_id", flat=True)) == app_ids
    assert "x-ratelimit-limit" in response.headers


@pytest.mark.parametrize("strategy", ["sms", "email"])
def test_create_passwordless_connection_keeps_only_the_options_given(api, strategy):
    response = _post(api, name="Codes", strategy=strategy, options={"disable_signup": True})
    assert response.status_code == 201
    assert response.json()["options"] == {"disable_signup": True}
    assert response.json()["enabled_clients"] == []


def test_create_without_name_and_strategy_names_both(api):
    response = api.post(CONNECTIONS, {}, format="json")
    assert response.status_code == 400
    assert response.json() == invalid_body(
        ("name", "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: name"),
        ("strategy", "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: strategy"),
        message="Payload validation error: 'Missing required property: name'. (also) "
        "Payload validation error: 'Missing required property: strategy'.",
    )


def test_create_refuses_a_strategy_we_do_not_implement(api):
    response = _post(api, strategy="google-oauth2")
    assert response.status_code == 400
    assert response.json() == invalid_body(
        ("strategy", "ENUM_MISMATCH", "No enum match for: google-oauth2"),
        message="Payload validation error: 'No enum match for: google-oauth2' on property strategy "
        "(The identity provider identifier).",
    )


@pytest.mark.parametrize("name", ["-staff", "bad name"])
def test_create_refuses_a_name_outside_auth0s_pattern(api, name):
    response = _post(api, name=name)
    assert response.status_code == 400
    pattern = "^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$"
    message = f"String does not match pattern {pattern}: {name}"
    assert response.json() == invalid_body(
        ("name", "PATTERN", message),
        message=f"Payload validation error: '{message}' on property name (The name of the connection. Must start and "
        "end with an alphanumeric character and can only contain alphanumeric characters and '-'. Max length 128).",
    )


def test_create_keeps_auth0s_display_name_and_metadata(api):
    # Auth0's CreateConnectionRequestContent has both (the SDKs' connections.create(display_name=..., metadata=...),
    # Terraform's auth0_connection): they were refused as additional properties.
    response = _post(api, display_name="Staff accounts", metadata={"team": "ops", "ticket": None})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["display_name"] == "Staff accounts" and body["metadata"] == {"team": "ops", "ticket": None}
    assert api.get(f"{CONNECTIONS}/{body['id']}").json() == body
    assert api.get(CONNECTIONS).json() == [body]


@pytest.mark.parametrize(
    ("body", "field", "code", "message"),
    [
        ({"display_name": "x" * 129}, "display_name", "MAX_LENGTH", "String is too long (129 chars), maximum 128"),
        ({"display_name": 5}, "display_name", "INVALID_TYPE", "Expected type string but found type integer"),
        ({"metadata": []}, "metadata", "INVALID_TYPE", "Expected type object but found type array"),
        ({"metadata": {"n": 1}}, "metadata", "INVALID_TYPE", "Expected type string but found type integer"),
        ({"metadata": {"o": {}}}, "metadata", "INVALID_TYPE", "Expected type string but found type object"),
        ({"metadata": {"v": "x" * 256}}, "metadata", "MAX_LENGTH", "String is too long (256 chars), maximum 255"),
        (
            {"metadata": {f"k{i}": "v" for i in range(11)}},
            "metadata",
            "OBJECT_PROPERTIES_MAXIMUM",
            "Too many properties defined (11), maximum 10",
        ),
    ],
)
def test_create_checks_display_name_and_metadata_as_auth0s_schema_does(api, body, field, code, message):
    response = _post(api, **body)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": field, "code": code, "message": message}]
    assert not Connection.objects.exists()


@pytest.mark.parametrize("prop", ["realms", "is_domain_connection", "show_as_button", "id"])
def test_create_refuses_properties_we_do_not_act_on(api, prop):
    response = _post(api, **{prop: "x"})
    assert response.status_code == 400
    message = f"Additional properties not allowed: {prop}"
    assert response.json() == invalid_body(
        (None, "OBJECT_ADDITIONAL_PROPERTIES", message), message=f"Payload validation error: '{message}'."
    )
    assert not Connection.objects.exists()


@pytest.mark.parametrize(
    ("strategy", "option"), [("sms", "passwordPolicy"), ("auth0", "unknown")], ids=["database-only", "unknown"]
)
def test_create_validates_options_for_the_strategy(api, strategy, option):
    response = _post(api, name="Codes", strategy=strategy, options={option: "good"})
    assert response.status_code == 400
    message = f"Additional properties not allowed: {option}"
    assert response.json() == invalid_body(
        ("options", "OBJECT_ADDITIONAL_PROPERTIES", message),
        message=f"Payload validation error: '{message}' on property options (Options for the connection).",
    )


def test_create_validates_nested_options(api):
    response = _post(api, options={"passwordPolicy": "strong", "validation": {"username": {"min": 9, "max": 3}}})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_body"
    assert {e["field"] for e in response.json()["errors"]} == {
        "options.passwordPolicy",
        "options.validation.username.min",
    }
    assert 'No enum match for: "strong"' in response.json()["message"]


def test_create_refuses_options_that_are_no_object(api):
    response = _post(api, options="none")
    assert response.status_code == 400
    message = "Expected type object but found type string"
    assert response.json() == invalid_body(
        ("options", "INVALID_TYPE", message),
        message=f"Payload validation error: '{message}' on property options "
        "(Options for the connection, per strategy).",
    )


def test_create_with_an_unknown_client_is_400_naming_the_field(api, app_ids):
    response = _post(api, enabled_clients=[app_ids[0], "nope", "gone"])
    assert response.status_code == 400
    message = "Unknown clients in enabled_clients: gone, nope"
    assert response.json() == invalid_body(("enabled_clients", "UNKNOWN_CLIENT", message), message=message)
    assert not Connection.objects.exists()


def test_create_refuses_enabled_clients_that_are_not_strings(api):
    response = _post(api, enabled_clients=[1])
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "enabled_clients", "code": "INVALID_TYPE", "message": "Expected type string but found type integer"}
    ]


def test_a_taken_name_is_409_and_nothing_changes(api, app_ids):
    first = _post(api).json()
    response = _post(api, strategy="sms", enabled_clients=[app_ids[0]])
    assert response.status_code == 409
    assert response.json() == management_error(
        409, "A connection with the same name already exists", "connection_conflict"
    )
    assert list(Connection.objects.values_list("id", "strategy")) == [(first["id"], "auth0")]
    assert not Connection.objects.get().clients.exists()


def test_a_bad_body_is_refused_before_a_taken_name(api):
    assert _post(api).status_code == 201
    assert _post(api, enabled_clients=["nope"]).status_code == 400


def test_names_are_unique_case_sensitively(api):
    """Auth0's connection names are case-sensitive: ``staff`` is another connection than ``Staff``."""
    assert _post(api).status_code == 201
    assert _post(api, name="staff").status_code == 201
    assert _post(api, name="STAFF").status_code == 201
    assert _post(api, name="staff").status_code == 409
    assert sorted(Connection.objects.values_list("name", flat=True)) == ["STAFF", "Staff", "staff"]


def test_a_body_that_is_no_object_is_400(api):
    response = api.post(CONNECTIONS, [{"name": "Staff"}], format="json")
    assert response.status_code == 400
    assert response.json()["message"] == "Payload validation error: 'Expected type object but found type array'."


# --- GET /api/v2/connections ----------------------------------------------------------------------------------


@pytest.fixture
def four(api):
    """Three database connections and one SMS connection, in the order the list answers them."""
    made = [_post(api, name=name).json() for name in ("A1", "B2", "C3")]
    made.append(_post(api, name="S1", strategy="sms").json())
    listed = api.get(CONNECTIONS).json()
    assert sorted(listed, key=lambda c: c["name"]) == made
    return listed


def test_list_is_a_plain_array_in_a_stable_order_by_id(api, four):
    # By id, in the database's collation (PostgreSQL's may not be Python's code-point order).
    assert [c["id"] for c in four] == list(Connection.objects.order_by("id").values_list("id", flat=True))
    assert api.get(CONNECTIONS).json() == four


def test_list_pages_with_totals(api, four):
    response = api.get(f"{CONNECTIONS}?per_page=3&page=1&include_totals=true")
    assert response.status_code == 200
    assert response.json() == {"start": 3, "limit": 3, "total": 4, "connections": four[3:]}
    assert api.get(f"{CONNECTIONS}?per_page=3&page=0").json() == four[:3]
    assert api.get(f"{CONNECTIONS}?per_page=3&page=5").json() == []
    assert api.get(f"{CONNECTIONS}?include_totals=false").json() == four
    assert api.get(f"{CONNECTIONS}?include_totals=true").json() == {
        "start": 0,
        "limit": 100,
        "total": 4,
        "connections": four,
    }


def test_list_answers_100_per_page_by_default(api, make_connection):
    for n in range(101):
        make_connection(name=f"c{n:03d}")
    assert len(api.get(CONNECTIONS).json()) == 100
    assert len(api.get(f"{CONNECTIONS}?page=1").json()) == 1


def test_list_filters_by_strategy_repeated_or_comma_separated_and_by_name(api, four):
    sms = [c for c in four if c["strategy"] == "sms"]
    assert api.get(f"{CONNECTIONS}?strategy=sms").json() == sms
    assert api.get(f"{CONNECTIONS}?strategy=sms&strategy=auth0").json() == four
    assert api.get(f"{CONNECTIONS}?strategy=sms,auth0").json() == four
    assert api.get(f"{CONNECTIONS}?strategy=google-oauth2").json() == []
    assert api.get(f"{CONNECTIONS}?strategy=auth0-adldap").json() == []  # Auth0's list filter takes it too
    assert api.get(f"{CONNECTIONS}?name=B2").json() == [c for c in four if c["name"] == "B2"]
    assert api.get(f"{CONNECTIONS}?name=b2").json() == []
    totals = api.get(f"{CONNECTIONS}?strategy=auth0&include_totals=true&per_page=2").json()
    assert totals["total"] == 3 and len(totals["connections"]) == 2


@pytest.mark.parametrize("strategy", ["Auth0", "bogus", "auth0,sms,databse", ""])
def test_list_refuses_a_strategy_auth0_does_not_know(api, four, strategy):
    response = api.get(CONNECTIONS, {"strategy": strategy})
    if strategy == "":  # no value: no filter
        assert response.status_code == 200 and response.json() == four
        return
    bad = next(s for s in strategy.split(",") if s not in ("auth0", "sms"))
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": f"Query validation error: 'No enum match for: {bad}' on property strategy "
        "(Only retrieve connections of these strategies (comma-separated)).",
        "errorCode": "invalid_query_string",
        "errors": [{"field": "strategy", "code": "ENUM_MISMATCH", "message": f"No enum match for: {bad}"}],
    }


def test_list_pages_by_checkpoint(api, four):
    first = api.get(f"{CONNECTIONS}?take=3").json()
    assert first == {"connections": four[:3], "next": four[2]["id"]}
    assert api.get(f"{CONNECTIONS}?take=3&from={first['next']}").json() == {"connections": four[3:]}


@pytest.mark.parametrize(
    ("query", "page"), [("per_page=100&page=10", 10), ("page=10", 10), ("per_page=3&page=333", 333)]
)
def test_list_refuses_an_offset_page_past_the_first_thousand_connections(api, four, query, page):
    response = api.get(f"{CONNECTIONS}?{query}")
    assert response.status_code == 400
    message = (
        f"Requesting page {page} exceeds the allowed maximum of 1000 records. "
        "To fetch results beyond 1000, use the checkpoint pagination method."
    )
    assert response.json() == management_error(400, message, "invalid_paging")


def test_list_answers_offset_pages_within_the_first_thousand_connections(api, four):
    assert api.get(f"{CONNECTIONS}?per_page=100&page=9").json() == []
    assert api.get(f"{CONNECTIONS}?per_page=3&page=332&include_totals=true").json() == {
        "start": 996,
        "limit": 3,
        "total": 4,
        "connections": [],
    }


def test_list_keeps_only_the_fields_asked_for(api, four):
    assert api.get(f"{CONNECTIONS}?fields=id,name").json() == [{"id": c["id"], "name": c["name"]} for c in four]
    dropped = api.get(f"{CONNECTIONS}?fields=options,enabled_clients&include_fields=false").json()
    assert dropped[0] == {k: v for k, v in four[0].items() if k not in ("options", "enabled_clients")}


@pytest.mark.parametrize(
    ("query", "message", "field", "code"),
    [
        (
            "per_page=0",
            "Query validation error: 'Value 0 is less than minimum 1' on property per_page "
            "(The amount of entries per page).",
            "per_page",
            "MINIMUM",
        ),
        (
            "per_page=101",
            "Query validation error: 'Value 101 is greater than maximum 100' on property per_page "
            "(The amount of entries per page).",
            "per_page",
            "MAXIMUM",
        ),
        (
            "page=-1",
            "Query validation error: 'Value -1 is less than minimum 0' on property page (The page number. Zero based).",
            "page",
            "MINIMUM",
        ),
        (
            "page=first",
            "Query validation error: 'Expected type integer but found type string' on property page "
            "(The page number. Zero based).",
            "page",
            "INVALID_TYPE",
        ),
        (
            "include_totals=yes",
            "Query validation error: 'Expected type boolean but found type string' on property include_totals "
            "(true if a query summary must be included in the result).",
            "include_totals",
            "INVALID_TYPE",
        ),
        (
            "sort=name:1",
            "Query validation error: 'Additional properties not allowed: sort'.",
            None,
            "OBJECT_ADDITIONAL_PROPERTIES",
        ),
        (
            "name=a&name=b",
            "Query validation error: 'Expected type string but found type array' on property name "
            "(The name of the connection to retrieve).",
            "name",
            "INVALID_TYPE",
        ),
    ],
)
def test_list_refuses_bad_query_values(api, query, message, field, code):
    response = api.get(f"{CONNECTIONS}?{query}")
    assert response.status_code == 400
    inner = message.split("'")[1]
    assert response.json() == management_error(
        400, message, "invalid_query_string", [{"field": field, "code": code, "message": inner}]
    )


# --- GET /api/v2/connections/{id} ----------------------------------------------------------------------------


def test_get_answers_the_connection(api, app_ids):
    created = _post(api, enabled_clients=app_ids, options={"passwordPolicy": "fair"}).json()
    response = api.get(f"{CONNECTIONS}/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created
    assert api.get(f"{CONNECTIONS}/{created['id']}?fields=id,strategy").json() == {
        "id": created["id"],
        "strategy": "auth0",
    }


@pytest.mark.parametrize("connection_id", [UNKNOWN_ID, "not-a-connection-id", "con_short"])
def test_get_of_an_unknown_connection_is_404_without_a_final_period(api, connection_id):
    """Auth0's OAS gives the id no pattern, so a malformed id is as unknown as a well-formed one."""
    response = api.get(f"{CONNECTIONS}/{connection_id}")
    assert response.status_code == 404
    assert response.json() == CONNECTION_NOT_FOUND


# --- PATCH /api/v2/connections/{id} --------------------------------------------------------------------------


def test_patch_replaces_the_whole_options_object(api):
    options = {"passwordPolicy": "fair", "requires_username": True, "brute_force_protection": True}
    created = _post(api, options=options).json()
    before = Connection.objects.get(pk=created["id"])
    response = api.patch(f"{CONNECTIONS}/{created['id']}", {"options": {"disable_signup": True}}, format="json")
    assert response.status_code == 200
    # Auth0: "the entire options object is overridden"; the policy falls back to its default.
    assert response.json() == {**created, "options": {"disable_signup": True, "passwordPolicy": "good"}}
    after = Connection.objects.get(pk=created["id"])
    assert after.options == {"disable_signup": True, "passwordPolicy": "good"}
    assert after.updated_at > before.updated_at
    assert after.created_at == before.created_at
    assert api.get(f"{CONNECTIONS}/{created['id']}").json() == response.json()


def test_patch_sets_and_clears_the_enabled_clients(api, app_ids):
    created = _post(api, enabled_clients=[app_ids[0]], options={"passwordPolicy": "low"}).json()
    response = api.patch(f"{CONNECTIONS}/{created['id']}", {"enabled_clients": app_ids}, format="json")
    assert response.status_code == 200
    assert response.json() == {**created, "enabled_clients": app_ids}  # options untouched
    cleared = api.patch(f"{CONNECTIONS}/{created['id']}", {"enabled_clients": []}, format="json")
    assert cleared.json()["enabled_clients"] == []
    assert not Connection.objects.get(pk=created["id"]).clients.exists()


def test_patch_with_an_unknown_client_changes_nothing(api, app_ids):
    created = _post(api, enabled_clients=[app_ids[0]]).json()
    body = {"options": {"passwordPolicy": "none"}, "enabled_clients": ["nope"]}
    response = api.patch(f"{CONNECTIONS}/{created['id']}", body, format="json")
    assert response.status_code == 400
    message = "Unknown clients in enabled_clients: nope"
    assert response.json() == invalid_body(("enabled_clients", "UNKNOWN_CLIENT", message), message=message)
    assert api.get(f"{CONNECTIONS}/{created['id']}").json() == created


@pytest.mark.parametrize(("prop", "value"), [("name", "Other"), ("strategy", "sms"), ("realms", ["Staff"])])
def test_patch_refuses_name_strategy_and_realms(api, prop, value):
    created = _post(api).json()
    response = api.patch(f"{CONNECTIONS}/{created['id']}", {prop: value}, format="json")
    assert response.status_code == 400
    message = f"Additional properties not allowed: {prop}"
    assert response.json() == invalid_body(
        (None, "OBJECT_ADDITIONAL_PROPERTIES", message), message=f"Payload validation error: '{message}'."
    )
    assert api.get(f"{CONNECTIONS}/{created['id']}").json() == created


def test_patch_changes_display_name_and_replaces_metadata_leaving_the_rest(api):
    created = _post(api, display_name="Staff", metadata={"a": "1", "b": "2"}, options={"passwordPolicy": "low"}).json()
    renamed = api.patch(f"{CONNECTIONS}/{created['id']}", {"display_name": "Staff 2"}, format="json").json()
    assert renamed == {**created, "display_name": "Staff 2"}
    replaced = api.patch(f"{CONNECTIONS}/{created['id']}", {"metadata": {"c": "3"}}, format="json").json()
    assert replaced == {**renamed, "metadata": {"c": "3"}}
    # Options alone leave both as they are.
    changed = api.patch(f"{CONNECTIONS}/{created['id']}", {"options": {}}, format="json").json()
    assert changed["display_name"] == "Staff 2" and changed["metadata"] == {"c": "3"}
    assert api.get(f"{CONNECTIONS}/{created['id']}").json() == changed


def test_an_empty_patch_is_400(api):
    created = _post(api).json()
    updated_at = Connection.objects.get(pk=created["id"]).updated_at
    response = api.patch(f"{CONNECTIONS}/{created['id']}", {}, format="json")
    assert response.status_code == 400
    message = "Too few properties defined (0), minimum 1"
    assert response.json() == invalid_body(
        (None, "OBJECT_PROPERTIES_MINIMUM", message), message=f"Payload validation error: '{message}'."
    )
    assert Connection.objects.get(pk=created["id"]).updated_at == updated_at


def test_patch_validates_options_for_the_connections_strategy(api):
    created = _post(api, name="Codes", strategy="email").json()
    response = api.patch(f"{CONNECTIONS}/{created['id']}", {"options": {"requires_username": True}}, format="json")
    assert response.status_code == 400
    message = "Additional properties not allowed: requires_username"
    assert response.json() == invalid_body(
        ("options", "OBJECT_ADDITIONAL_PROPERTIES", message),
        message=f"Payload validation error: '{message}' on property options (Options for the connection).",
    )


def test_patch_of_an_unknown_connection_is_404(api):
    response = api.patch(f"{CONNECTIONS}/{UNKNOWN_ID}", {"options": {}}, format="json")
    assert response.status_code == 404
    assert response.json() == CONNECTION_NOT_FOUND


def test_a_stricter_password_policy_applies_to_the_next_user(api):
    created = _post(api, options={"passwordPolicy": "low"}).json()
    weak = {"connection": "Staff", "email": "a@example.com", "password": "abcdef"}
    assert api.post("/api/v2/users", weak, format="json").status_code == 201
    patched = api.patch(f"{CONNECTIONS}/{created['id']}", {"options": {"passwordPolicy": "excellent"}}, format="json")
    assert patched.status_code == 200
    refused = api.post("/api/v2/users", {**weak, "email": "b@example.com"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["message"] == "PasswordStrengthError: Password is too weak"
    accepted = api.post("/api/v2/users", {**weak, "email": "c@example.com", "password": STRONG_PASSWORD}, format="json")
    assert accepted.status_code == 201


# --- DELETE /api/v2/connections/{id} -------------------------------------------------------------------------


def test_delete_answers_204_and_takes_the_users_with_it(api):
    doomed = _post(api).json()
    kept = _post(api, name="Kept").json()
    for name, email in (("Staff", "a@example.com"), ("Staff", "b@example.com"), ("Kept", "a@example.com")):
        body = {"connection": name, "email": email, "password": STRONG_PASSWORD}
        assert api.post("/api/v2/users", body, format="json").status_code == 201
    response = api.delete(f"{CONNECTIONS}/{doomed['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert list(Connection.objects.values_list("id", flat=True)) == [kept["id"]]
    assert list(User.objects.values_list("connection__name", "email")) == [("Kept", "a@example.com")]
    assert api.get(f"{CONNECTIONS}/{doomed['id']}").status_code == 404
    assert api.get(CONNECTIONS).json() == [kept]


def test_a_deleted_connections_name_can_be_taken_again(api):
    first = _post(api).json()
    assert api.delete(f"{CONNECTIONS}/{first['id']}").status_code == 204
    again = _post(api)
    assert again.status_code == 201 and again.json()["id"] != first["id"]


def test_delete_of_an_unknown_connection_is_404(api):
    response = api.delete(f"{CONNECTIONS}/{UNKNOWN_ID}")
    assert response.status_code == 404
    assert response.json() == CONNECTION_NOT_FOUND


# --- scopes and authentication -------------------------------------------------------------------------------

ENDPOINTS = [
    ("post", CONNECTIONS, "create:connections"),
    ("get", CONNECTIONS, "read:connections"),
    ("get", f"{CONNECTIONS}/{UNKNOWN_ID}", "read:connections"),
    ("patch", f"{CONNECTIONS}/{UNKNOWN_ID}", "update:connections"),
    ("delete", f"{CONNECTIONS}/{UNKNOWN_ID}", "delete:connections"),
]


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_each_endpoint_needs_its_own_scope(api_client, token, method, path, scope):
    others = " ".join(s for s in CONNECTION_SCOPES.split() if s != scope)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(f'{others} create:users read:users')}")
    response = getattr(api_client, method)(path, format="json")
    assert response.status_code == 403
    assert response.json() == management_error(
        403, f"Insufficient scope, expected any of: {scope}", "insufficient_scope"
    )


@pytest.mark.parametrize(("method", "path", "scope"), ENDPOINTS)
def test_each_endpoint_needs_a_token(api_client, method, path, scope):
    response = getattr(api_client, method)(path, format="json")
    assert response.status_code == 401
    assert response.json() == management_error(401, "Missing authentication", "missing_authentication")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_garbage_token_is_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")
    response = api_client.get(CONNECTIONS)
    assert response.status_code == 401
    assert response.json()["errorCode"] == "invalid_token"


# --- Auth0's own SDK against a live server -------------------------------------------------------------------


@pytest.mark.live
def test_auth0_sdk_creates_lists_reads_updates_and_deletes_connections(live_server_url, token):
    from auth0.management import Auth0
    from auth0.management.errors import BadRequestError, ConflictError, NotFoundError

    app, _secret = create_client(name="sdk-app", scopes="", actor=SYSTEM)
    client = Auth0(base_url=f"{live_server_url}/api/v2", token=token(CONNECTION_SCOPES), max_retries=0)

    created = client.connections.create(
        name="Sdk-DB", strategy="auth0", options={"passwordPolicy": "low"}, enabled_clients=[app.client_id]
    )
    assert created.id.startswith("con_") and created.name == "Sdk-DB" and created.strategy == "auth0"
    assert created.options == {"passwordPolicy": "low"}
    assert created.enabled_clients == [app.client_id]
    assert created.realms == ["Sdk-DB"] and created.is_domain_connection is False
    client.connections.create(name="Sdk-Codes", strategy="sms")

    with pytest.raises(ConflictError) as taken:
        client.connections.create(name="Sdk-DB", strategy="auth0")
    assert taken.value.body["errorCode"] == "connection_conflict"

    fetched = client.connections.get(created.id)
    assert fetched.id == created.id and fetched.enabled_clients == [app.client_id]

    # The SDK pages by checkpoint (take/from) and follows ``next`` itself.
    listed = list(client.connections.list(take=1))
    assert sorted(c.name for c in listed) == ["Sdk-Codes", "Sdk-DB"]
    assert [c.name for c in client.connections.list(strategy=["sms"])] == ["Sdk-Codes"]

    updated = client.connections.update(created.id, options={"passwordPolicy": "excellent"}, enabled_clients=[])
    assert updated.enabled_clients == []
    assert updated.options == {"passwordPolicy": "excellent"}
    assert client.connections.get(created.id).options == {"passwordPolicy": "excellent"}
    with pytest.raises(BadRequestError) as refused:
        client.connections.update(created.id, show_as_button=True)
    assert (
        refused.value.body["message"]
        == "Payload validation error: 'Additional properties not allowed: show_as_button'."
    )
    labelled = client.connections.update(created.id, display_name="Staff", metadata={"team": "ops"})
    assert labelled.display_name == "Staff" and labelled.metadata == {"team": "ops"}
    assert client.connections.get(created.id).display_name == "Staff"

    client.connections.delete(created.id)
    with pytest.raises(NotFoundError) as gone:
        client.connections.get(created.id)
    assert gone.value.body["errorCode"] == "inexistent_connection"
    assert [c.name for c in client.connections.list()] == ["Sdk-Codes"]


def test_an_empty_patch_is_400_in_japanese_too(api):
    created = _post(api).json()
    response = api.patch(f"{CONNECTIONS}/{created['id']}", {}, format="json", HTTP_ACCEPT_LANGUAGE="ja")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_body"
    assert "定義されたプロパティが少なすぎます（0 個）。最小 1 個です" in response.json()["message"]


@pytest.mark.parametrize("bad", ["\x00", "cli\x00x"])
def test_a_form_posted_client_id_with_a_nul_is_400_not_500(api, bad):
    """A form-encoded body does not pass the JSON parser's text check; PostgreSQL refuses a NUL in a query
    (schemathesis found the 500)."""
    body = urlencode({"name": "form-conn", "strategy": "auth0", "enabled_clients": ["", bad]}, doseq=True)
    response = api.post(CONNECTIONS, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["errorCode"] == "invalid_body"
    assert [(e["field"], e["code"]) for e in body["errors"]] == [("enabled_clients", "INVALID_CHARACTERS")]
    assert not Connection.objects.filter(name="form-conn").exists()


def test_a_refused_strategy_is_echoed_cut_short(api):
    # Any length passes the query string's checks: the message quotes at most 120 characters of it, as elsewhere.
    strategy = "x" * 5000
    for response in (api.get(CONNECTIONS, {"strategy": strategy}), _post(api, strategy=strategy)):
        assert response.status_code == 400
        (error,) = response.json()["errors"]
        assert error == {"field": "strategy", "code": "ENUM_MISMATCH", "message": f"No enum match for: {'x' * 120}…"}
