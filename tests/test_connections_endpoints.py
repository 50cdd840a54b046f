"""The connections API: Auth0's bodies, scopes, validation, conflicts, paging, cascade delete."""

from __future__ import annotations

import pytest

from clients.services import create_client
from connections.models import Connection
from core.actors import SYSTEM
from tests.helpers import STRONG_PASSWORD
from users.models import User

pytestmark = pytest.mark.django_db

ALL = "create:connections read:connections update:connections delete:connections create:users"


@pytest.fixture
def api(api_client, token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(ALL)}")
    return api_client


def _create(api, **body):
    return api.post("/api/v2/connections", {"name": "Staff", "strategy": "auth0", **body}, format="json")


def test_create_answers_auth0s_connection_body(api):
    app, _secret = create_client(name="app", scopes="", actor=SYSTEM)
    response = _create(api, options={"requires_username": True}, enabled_clients=[app.client_id])
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["id"].startswith("con_") and len(body["id"]) == 20
    assert body == {
        "id": body["id"],
        "name": "Staff",
        "strategy": "auth0",
        "options": {"requires_username": True, "passwordPolicy": "good"},
        "enabled_clients": [app.client_id],
        "realms": ["Staff"],
        "is_domain_connection": False,
    }


def test_taken_name_is_409(api):
    assert _create(api).status_code == 201
    response = _create(api)
    assert response.status_code == 409
    assert response.json()["errorCode"] == "connection_conflict"
    assert Connection.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"strategy": "google-oauth2"}, "strategy"),
        ({"name": "bad name"}, "name"),
        ({"options": {"passwordPolicy": "strong"}}, "options.passwordPolicy"),
        ({"options": {"unknown": 1}}, "options"),
        ({"enabled_clients": ["nope"]}, "enabled_clients"),
        ({"display_name": "Staff"}, None),
    ],
)
def test_invalid_bodies_are_400_naming_the_field(api, body, field):
    response = _create(api, **body)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_body"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert Connection.objects.count() == 0


def test_get_list_and_paging(api):
    for name in ("A1", "B2", "C3"):
        assert _create(api, name=name).status_code == 201
    _create(api, name="S1", strategy="sms")
    listed = api.get("/api/v2/connections").json()
    assert len(listed) == 4
    one = api.get(f"/api/v2/connections/{listed[0]['id']}")
    assert one.status_code == 200 and one.json() == listed[0]
    totals = api.get("/api/v2/connections?per_page=2&page=1&include_totals=true").json()
    assert totals["start"] == 2 and totals["limit"] == 2 and totals["total"] == 4 and len(totals["connections"]) == 2
    assert [c["name"] for c in api.get("/api/v2/connections?strategy=sms").json()] == ["S1"]
    assert len(api.get("/api/v2/connections?strategy=sms&strategy=auth0").json()) == 4  # the SDKs repeat it
    assert len(api.get("/api/v2/connections?strategy=sms,auth0").json()) == 4
    assert [c["name"] for c in api.get("/api/v2/connections?name=B2").json()] == ["B2"]
    first = api.get("/api/v2/connections?take=3").json()
    assert len(first["connections"]) == 3 and first["next"]
    rest = api.get(f"/api/v2/connections?take=3&from={first['next']}").json()
    assert len(rest["connections"]) == 1 and "next" not in rest
    assert api.get("/api/v2/connections?per_page=101").json()["errorCode"] == "invalid_query_string"


def test_unknown_connection_is_404(api):
    for method in ("get", "patch", "delete"):
        body = {"options": {}} if method == "patch" else {}  # an empty PATCH is a 400 (minProperties)
        response = getattr(api, method)("/api/v2/connections/con_0000000000000000", body, format="json")
        assert response.status_code == 404
        assert response.json()["message"] == "The connection does not exist"
        assert response.json()["errorCode"] == "inexistent_connection"


def test_patch_replaces_options_and_the_new_policy_applies(api):
    connection = _create(api, options={"passwordPolicy": "none"}).json()
    weak = {"connection": "Staff", "email": "a@example.com", "password": "abc"}
    assert api.post("/api/v2/users", weak, format="json").status_code == 201
    response = api.patch(
        f"/api/v2/connections/{connection['id']}", {"options": {"passwordPolicy": "excellent"}}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["options"] == {"passwordPolicy": "excellent"}
    again = api.post("/api/v2/users", {**weak, "email": "b@example.com"}, format="json")
    assert again.status_code == 400
    assert again.json()["message"] == "PasswordStrengthError: Password is too weak"
    refused = api.patch(f"/api/v2/connections/{connection['id']}", {"name": "Other"}, format="json")
    assert refused.status_code == 400


def test_delete_removes_the_connection_and_its_users(api):
    connection = _create(api).json()
    body = {"connection": "Staff", "email": "a@example.com", "password": STRONG_PASSWORD}
    assert api.post("/api/v2/users", body, format="json").status_code == 201
    response = api.delete(f"/api/v2/connections/{connection['id']}")
    assert response.status_code == 204
    assert not Connection.objects.exists()
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("post", "/api/v2/connections", "create:connections"),
        ("get", "/api/v2/connections", "read:connections"),
        ("get", "/api/v2/connections/con_0000000000000000", "read:connections"),
        ("patch", "/api/v2/connections/con_0000000000000000", "update:connections"),
        ("delete", "/api/v2/connections/con_0000000000000000", "delete:connections"),
    ],
)
def test_each_endpoint_needs_its_scope(api_client, token, method, path, scope):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users')}")
    response = getattr(api_client, method)(path, {}, format="json")
    assert response.status_code == 403
    assert response.json()["message"] == f"Insufficient scope, expected any of: {scope}"
    api_client.credentials()
    assert getattr(api_client, method)(path, {}, format="json").status_code == 401
