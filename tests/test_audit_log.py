"""Every change writes an audit event in the same transaction; GET /api/v2/logs reads them as Auth0's API."""

from __future__ import annotations

import json
from unittest import mock

import pytest

from audit.models import Event
from clients.services import create_client
from core.actors import SYSTEM, Actor
from tests.helpers import STRONG_PASSWORD, password_hash_of
from users.models import User
from users.services import create_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(api_client, token):
    scopes = "create:users update:users delete:users read:logs create:connections update:connections delete:connections"
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token(scopes, client_id='ops-tool')}")
    return api_client


def _create(api, connection, **fields):
    body = {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD, **fields}
    response = api.post("/api/v2/users", body, format="json", HTTP_USER_AGENT="ops/1.0", REMOTE_ADDR="10.1.2.3")
    assert response.status_code == 201, response.json()
    return response.json()


def _no_secret_anywhere(*secrets: str) -> None:
    dump = json.dumps(list(Event.objects.values()), default=str)
    for secret in secrets:
        assert secret not in dump


def test_an_api_create_writes_one_sapi_event(api, connection):
    user = _create(api, connection)
    (event,) = Event.objects.filter(description="Create a User")
    assert event.type == "sapi"
    assert (event.actor_kind, event.actor_id) == ("client", "ops-tool")
    assert (event.user_id, event.user_name) == (user["user_id"], "ann@example.com")
    assert (event.connection, event.connection_id) == (connection.name, connection.id)
    assert (event.ip, event.user_agent) == ("10.1.2.3", "ops/1.0")
    _no_secret_anywhere(STRONG_PASSWORD, password_hash_of(User.objects.get()))


def test_a_refused_create_writes_nothing(api, connection):
    _create(api, connection)
    before = Event.objects.count()
    duplicate = {"connection": connection.name, "email": "ANN@example.com", "password": STRONG_PASSWORD}
    assert api.post("/api/v2/users", duplicate, format="json").status_code == 409
    assert Event.objects.count() == before


def test_the_event_and_the_user_commit_together(connection):
    with (
        mock.patch("audit.services.insert", side_effect=RuntimeError("audit down")),
        pytest.raises(RuntimeError),
    ):
        create_user(
            data={"connection": connection.name, "email": "a@example.com", "password": STRONG_PASSWORD},
            actor=SYSTEM,
        )
    assert not User.objects.exists()


def test_update_and_delete_are_recorded(api, connection):
    user = _create(api, connection)
    api.patch(f"/api/v2/users/{user['user_id']}", {"name": "Ann", "password": "N3w!Passw0rd"}, format="json")
    update = Event.objects.get(description="Update a User")
    assert update.type == "sapi"
    assert update.details == {"fields": ["name", "password"]}
    api.delete(f"/api/v2/users/{user['user_id']}")
    deletion = Event.objects.get(type="du")
    assert deletion.user_id == user["user_id"]
    _no_secret_anywhere("N3w!Passw0rd", STRONG_PASSWORD)


def test_signups_succeeded_and_refused_are_recorded(api_client, connection):
    app, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    body = {
        "client_id": app.client_id,
        "connection": connection.name,
        "email": "a@example.com",
        "password": STRONG_PASSWORD,
    }
    assert api_client.post("/dbconnections/signup", body, format="json").status_code == 200
    success = Event.objects.get(type="ss")
    assert (success.actor_kind, success.actor_id) == ("anonymous", app.client_id)

    refusals = [
        {**body},  # taken
        # a weak password that no log text contains ("weak" is in "Password is too weak")
        {**body, "email": "b@example.com", "password": "feeble"},
        {**body, "client_id": "nope"},
        {**body, "email": "not-an-email"},
    ]
    for refused in refusals:
        assert api_client.post("/dbconnections/signup", refused, format="json").status_code == 400
    failures = list(Event.objects.filter(type="fs").order_by("id"))
    assert [f.details["error"]["code"] for f in failures] == [
        "auth0_idp_error",
        "invalid_password",
        "invalid_client",
        "invalid_body",
    ]
    assert all(f.connection == connection.name for f in failures)
    _no_secret_anywhere(STRONG_PASSWORD, "feeble")


def test_a_refused_signup_is_logged_as_auth0_logs_it_never_as_a_repr(api, api_client, connection, admin_client):
    # Auth0's "Failed Signup" entry (auth0-log-schemas fs.schema.json): a text description, a details object.
    app, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    body = {"client_id": app.client_id, "connection": connection.name, "email": "b@example.com", "password": "feeble"}
    assert api_client.post("/dbconnections/signup", body, format="json").status_code == 400
    [entry] = [log for log in api.get("/api/v2/logs").json() if log["type"] == "fs"]
    assert entry["description"] == "Password is too weak"
    assert entry["user_name"] == "b@example.com" and entry["connection"] == connection.name
    assert entry["details"] == {
        "error": {
            "message": "Password is too weak",
            "code": "invalid_password",
            "name": "PasswordStrengthError",
            "description": {
                "rules": [
                    {
                        "message": "At least %d characters in length",
                        "format": [8],
                        "code": "lengthAtLeast",
                        "verified": False,
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
                                "verified": False,
                            },
                        ],
                        "verified": False,
                    },
                ],
                "verified": False,
            },
        },
        "client_id": app.client_id,
        "actor": {"kind": "anonymous", "id": app.client_id},
    }
    event = Event.objects.get(type="fs")
    page = admin_client.get(f"/admin/audit/event/{event.pk}/change/").content.decode()
    assert "Password is too weak" in page and "{&#x27;rules&#x27;" not in page and "{'rules'" not in page


def test_every_refused_signup_description_is_its_message(api_client, connection):
    app, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    body = {"client_id": app.client_id, "connection": connection.name, "email": "a@example.com", "password": "x"}
    for refused in ({**body, "password": STRONG_PASSWORD}, {**body, "client_id": "nope"}, {**body, "email": "no"}):
        api_client.post("/dbconnections/signup", refused, format="json")
    api_client.post("/dbconnections/signup", {**body, "password": STRONG_PASSWORD}, format="json")  # taken
    descriptions = list(Event.objects.filter(type="fs").order_by("id").values_list("description", flat=True))
    assert descriptions == [
        "Unknown or inactive client.",
        "Payload validation error: 'Object didn't pass validation for format email: no' on property email "
        "(The user's email address).",
        "The user already exists.",
    ]


def test_verification_and_its_request_are_recorded(api, client, connection, django_capture_on_commit_callbacks):
    from users.verification import verification_link

    user = _create(api, connection, verify_email=False)
    api.post("/api/v2/jobs/verification-email", {"user_id": user["user_id"]}, format="json")
    assert Event.objects.filter(type="svr", user_id=user["user_id"]).count() == 1
    link = verification_link(User.objects.get())
    client.get(link.split("8000", 1)[1])
    assert Event.objects.filter(type="sv", user_id=user["user_id"]).count() == 1


def test_connection_changes_are_recorded(api):
    created = api.post("/api/v2/connections", {"name": "Staff", "strategy": "auth0"}, format="json").json()
    api.patch(f"/api/v2/connections/{created['id']}", {"options": {"passwordPolicy": "low"}}, format="json")
    api.delete(f"/api/v2/connections/{created['id']}")
    descriptions = list(
        Event.objects.filter(connection_id=created["id"]).order_by("id").values_list("description", flat=True)
    )
    assert descriptions == ["Create a Connection", "Update a Connection", "Delete a Connection"]


def test_logs_api_answers_auth0s_shape_with_paging(api, connection):
    for i in range(3):
        _create(api, connection, email=f"u{i}@example.com")
    logs = api.get("/api/v2/logs").json()
    assert len(logs) == 4  # the connection's creation, then three users
    newest = logs[0]
    assert set(newest) == {
        "log_id",
        "date",
        "type",
        "description",
        "client_id",
        "ip",
        "user_agent",
        "user_id",
        "user_name",
        "connection",
        "connection_id",
        "details",
    }
    assert newest["user_name"] == "u2@example.com" and newest["client_id"] == "ops-tool" and newest["type"] == "sapi"
    assert newest["date"].endswith("Z")
    oldest_first = api.get("/api/v2/logs?sort=date:1&per_page=1&page=1&include_totals=true").json()
    assert oldest_first["total"] == 4 and oldest_first["logs"][0]["user_name"] == "u0@example.com"
    one = api.get(f"/api/v2/logs/{newest['log_id']}")
    assert one.status_code == 200 and one.json() == newest
    missing = api.get("/api/v2/logs/nope")
    assert missing.status_code == 404 and missing.json()["errorCode"] == "inexistent_log"
    assert api.get("/api/v2/logs?per_page=101").status_code == 400


def _logs_paging_refusal(page: int) -> dict:
    """Auth0's logs search refusing a page past the first 1000 events (tfadeyi/auth0-simple-exporter#69)."""
    message = (
        f"Requesting page {page} exceeds the allowed maximum of 1000 records: please consider searching by checkpoint "
        "https://auth0.com/docs/logs/retrieve-log-events-using-mgmt-api#retrieve-logs-by-checkpoint"
    )
    return {"statusCode": 400, "error": "Bad Request", "message": message, "errorCode": "invalid_paging", "errors": []}


@pytest.mark.parametrize(
    ("query", "page"),
    [("per_page=100&page=11", 11), ("page=21", 21), ("per_page=1&page=1001", 1001), ("per_page=7&page=143", 143)],
)
def test_logs_refuse_a_page_starting_past_the_first_thousand_events(api, query, page):
    response = api.get(f"/api/v2/logs?{query}")
    assert response.status_code == 400
    assert response.json() == _logs_paging_refusal(page)


@pytest.mark.parametrize("query", ["per_page=100&page=10", "page=20", "per_page=1&page=1000", "per_page=0&page=9"])
def test_logs_answer_a_page_starting_within_the_first_thousand_events(api, query):
    assert api.get(f"/api/v2/logs?{query}").json() == []


def test_logs_totals_count_every_event_on_the_pages_allowed(api):
    # Inserted directly: a thousand audited API calls would make this file slow, and only reading them is tested.
    Event.objects.bulk_create(
        Event(type="sapi", description="Create a User", actor_kind="client", actor_id="ops-tool") for _ in range(1105)
    )
    last = api.get("/api/v2/logs?per_page=100&page=10&include_totals=true").json()
    assert (last["start"], last["limit"], last["length"], last["total"]) == (1000, 100, 100, 1105)
    past = api.get("/api/v2/logs?per_page=100&page=11&include_totals=true")
    assert (past.status_code, past.json()) == (400, _logs_paging_refusal(11))


def test_logs_need_read_logs(api_client, token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('read:users')}")
    response = api_client.get("/api/v2/logs")
    assert response.status_code == 403
    assert response.json()["message"] == "Insufficient scope, expected any of: read:logs,read:logs_users"


def test_admin_shows_events_read_only(admin_client, api, connection):
    _create(api, connection)
    event = Event.objects.get(description="Create a User")
    assert admin_client.get("/admin/audit/event/?type__exact=sapi").status_code == 200
    assert admin_client.get(f"/admin/audit/event/{event.pk}/change/").status_code == 200
    assert admin_client.get("/admin/audit/event/add/").status_code == 403
    admin_client.post(f"/admin/audit/event/{event.pk}/delete/", {"post": "yes"})
    assert Event.objects.filter(pk=event.pk).exists()


def test_actor_is_recorded_for_system_callers(connection):
    create_user(
        data={"connection": connection.name, "email": "a@example.com", "password": STRONG_PASSWORD},
        actor=Actor(kind="admin", id="alice", ip="127.0.0.1"),
    )
    event = Event.objects.get(description="Create a User")
    assert (event.actor_kind, event.actor_id, event.ip) == ("admin", "alice", "127.0.0.1")


def test_a_refused_signup_quoting_a_nul_is_recorded_escaped(api_client, connection):
    raw = '{"client_id": "x", "connection": "c", "email": "a@example.com", "password": "p", "\\u0000": 1}'
    response = api_client.post("/dbconnections/signup", data=raw, content_type="application/json")
    assert response.status_code == 400
    event = Event.objects.get(type="fs")
    assert "\x00" not in event.description
    assert "\\x00" in event.description
