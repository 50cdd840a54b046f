"""A user id ending in ``/logs`` (``auth0|abc/logs``, allowed by Auth0's ``^\\S*$``) against the logs of the user
``auth0|abc``: WSGI decodes ``%2F`` before Django routes, so both arrive as ``users/auth0|abc/logs``. The rule is
``api.management.user_routes``': the request target as sent (gunicorn's ``RAW_URI``, others' ``REQUEST_URI``)
decides; without it, a method the logs do not serve means the user, and for GET, which of the two users exists."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from auth0.authentication import GetToken
from auth0.management import Auth0
from auth0.management.errors import NotFoundError
from django.conf import settings
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from api.management.urls import urlpatterns
from clients.services import create_client
from core.actors import SYSTEM
from tests.helpers import STRONG_PASSWORD, USER_NOT_FOUND, USERS, USERS_BY_EMAIL, user_url
from users.models import User

pytestmark = pytest.mark.django_db

# Every users/{id}/<name> route of the management API; each must tell its sub-resource from a user id ending in it.
SUBROUTE_PREFIX = "users/<path:user_id>/"
SUBROUTES = [
    str(pattern.pattern).removeprefix(SUBROUTE_PREFIX)
    for pattern in urlpatterns
    if str(pattern.pattern).startswith(SUBROUTE_PREFIX)
]
SLASHED = "auth0|abc/logs"
LITERAL = "/api/v2/users/auth0%7Cabc/logs"  # the logs of auth0|abc, as an SDK spells them
ESCAPED = user_url(SLASHED)  # the user auth0|abc/logs: /api/v2/users/auth0%7Cabc%2Flogs


def _make(api: Any, local_id: str, email: str) -> dict[str, Any]:
    body = {
        "connection": "Username-Password-Authentication",
        "user_id": local_id,
        "email": email,
        "password": STRONG_PASSWORD,
    }
    response = api.post(USERS, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


@pytest.fixture
def slashed(api, connection) -> dict[str, Any]:
    """The user ``auth0|abc/logs`` alone."""
    return _make(api, "abc/logs", "slashed@example.com")


@pytest.fixture
def both(api, slashed) -> dict[str, Any]:
    """The users ``auth0|abc`` and ``auth0|abc/logs``; returns the first."""
    return _make(api, "abc", "plain@example.com")


@pytest.fixture
def logs_reader(scoped_client):
    return scoped_client("read:logs")


def _is_profile_of(response: Any, user_id: str) -> bool:
    return response.status_code == 200 and isinstance(response.json(), dict) and response.json()["user_id"] == user_id


def _is_logs_of(response: Any, user_id: str) -> bool:
    body = response.json()
    return response.status_code == 200 and isinstance(body, list) and {e["user_id"] for e in body} <= {user_id}


def test_the_management_api_has_a_users_subroute():
    assert SUBROUTES == ["logs"]


@pytest.mark.parametrize("name", SUBROUTES)
def test_an_id_ending_in_a_subroute_name_is_read_updated_and_deleted_as_the_sdk_sends_it(api, connection, name):
    user_id = _make(api, f"abc/{name}", "slashed@example.com")["user_id"]
    assert user_id == f"auth0|abc/{name}"

    assert _is_profile_of(api.get(user_url(user_id)), user_id)
    updated = api.patch(user_url(user_id), {"user_metadata": {"team": "ops"}}, format="json")
    assert updated.status_code == 200, updated.json()
    assert User.objects.get(user_id=user_id).user_metadata == {"team": "ops"}
    assert api.delete(user_url(user_id)).status_code == 204
    assert not User.objects.filter(user_id=user_id).exists()


def test_the_created_users_location_reads_it_back(api, connection):
    body = {"connection": connection.name, "user_id": "abc/logs", "email": "a@example.com", "password": STRONG_PASSWORD}
    location = api.post(USERS, body, format="json").headers["Location"]
    assert location == "/api/v2/users/auth0%7Cabc%2Flogs"
    assert _is_profile_of(api.get(location), SLASHED)


@pytest.mark.parametrize("key", ["RAW_URI", "REQUEST_URI"])
def test_the_request_target_as_sent_tells_the_user_from_the_logs(api, both, key):
    assert _is_profile_of(api.get(ESCAPED, **{key: ESCAPED}), SLASHED)
    assert _is_logs_of(api.get(LITERAL, **{key: LITERAL}), both["user_id"])
    # The lower-case escape and a query string in the target change nothing.
    target = "/api/v2/users/auth0%7cabc%2flogs?fields=user_id"
    assert api.get(ESCAPED, {"fields": "user_id"}, **{key: target}).json() == {"user_id": SLASHED}
    # The absolute form of the target (RFC 9112 §3.2) too.
    assert _is_profile_of(api.get(ESCAPED, **{key: f"http://testserver{ESCAPED}"}), SLASHED)


def test_a_user_id_ending_in_logs_is_found_by_the_target_even_when_the_shorter_user_is_missing(api, slashed):
    assert api.delete(ESCAPED, RAW_URI=ESCAPED).status_code == 204
    # Gone, and the target says the user was meant: 404, not the (empty) logs of auth0|abc.
    response = api.get(ESCAPED, RAW_URI=ESCAPED)
    assert (response.status_code, response.json()) == (404, USER_NOT_FOUND)
    assert api.get(LITERAL, RAW_URI=LITERAL).json() == []


def test_the_logs_of_an_id_ending_in_logs_are_reached_with_one_more_segment(api, both):
    logs_of_slashed = f"{ESCAPED}/logs"
    assert _is_logs_of(api.get(logs_of_slashed, RAW_URI=logs_of_slashed), SLASHED)
    assert [e["type"] for e in api.get(logs_of_slashed, RAW_URI=logs_of_slashed).json()] == ["sapi"]
    # Without a target, user auth0|abc/logs exists: its logs.
    assert _is_logs_of(api.get(logs_of_slashed), SLASHED)


def test_without_a_target_writes_on_an_id_ending_in_logs_mean_the_user(api, both):
    # The logs are GET only, so a PATCH or DELETE on users/X/logs can only mean the user X/logs.
    assert _is_profile_of(api.patch(LITERAL, {"user_metadata": {"n": 1}}, format="json"), SLASHED)
    assert api.patch(ESCAPED, {"user_metadata": {"n": 2}}, format="json").json()["user_metadata"] == {"n": 2}
    assert not User.objects.get(user_id=both["user_id"]).user_metadata
    assert api.delete(LITERAL).status_code == 204
    assert list(User.objects.values_list("user_id", flat=True)) == [both["user_id"]]


def test_with_a_target_a_write_on_the_logs_is_refused_as_the_schema_documents(api, both):
    # A literal "/logs" in the target is the logs, which are GET only: 405, and neither user is touched.
    assert api.patch(LITERAL, {"user_metadata": {"n": 1}}, format="json", RAW_URI=LITERAL).status_code == 405
    assert api.delete(LITERAL, REQUEST_URI=LITERAL).status_code == 405
    assert User.objects.filter(user_id__in=[SLASHED, both["user_id"]]).count() == 2
    assert api.delete(ESCAPED, RAW_URI=ESCAPED).status_code == 204
    assert list(User.objects.values_list("user_id", flat=True)) == [both["user_id"]]


def test_without_a_target_the_logs_win_while_the_shorter_user_exists(api, both):
    # Django's runserver and the test client pass on no raw target: the two spellings are one path.
    assert _is_logs_of(api.get(ESCAPED), both["user_id"])
    assert _is_logs_of(api.get(LITERAL), both["user_id"])


def test_without_a_target_the_user_ending_in_logs_is_read_when_the_shorter_one_does_not_exist(api, slashed):
    assert _is_profile_of(api.get(ESCAPED), SLASHED)
    assert _is_profile_of(api.get(LITERAL), SLASHED)


def test_without_a_target_and_neither_user_the_logs_answer(logs_reader):
    # Auth0 answers no 404 for the logs of an id no user has (a deleted user's events stay readable).
    response = logs_reader.get(ESCAPED)
    assert (response.status_code, response.json()) == (200, [])


def test_a_target_that_is_not_the_routed_path_is_ignored(api, both):
    # A proxy or middleware rewrote the path: its target says nothing about this one, the existence rule decides.
    assert _is_logs_of(api.get(ESCAPED, RAW_URI="/somewhere/else%2Flogs"), both["user_id"])
    assert _is_logs_of(api.get(ESCAPED, RAW_URI=f"/prefix{ESCAPED}"), both["user_id"])


def test_the_logs_scope_alone_reads_the_logs_and_not_the_user(scoped_client, both):
    logs_only = scoped_client("read:logs")
    assert _is_logs_of(logs_only.get(LITERAL, RAW_URI=LITERAL), both["user_id"])
    assert logs_only.get(ESCAPED, RAW_URI=ESCAPED).status_code == 403


def test_head_follows_get(logs_reader, both):
    # The user's view wants read:users, which this token lacks: HEAD reaches it only for the escaped spelling.
    assert logs_reader.head(LITERAL, RAW_URI=LITERAL).status_code == 200
    assert logs_reader.head(ESCAPED, RAW_URI=ESCAPED).status_code == 403


def test_users_by_email_is_not_a_user_route(api, slashed):
    response = api.get(USERS_BY_EMAIL, {"email": "slashed@example.com"}, RAW_URI=f"{USERS_BY_EMAIL}?email=x")
    assert [user["user_id"] for user in response.json()] == [SLASHED]


@pytest.mark.live
def test_the_sdk_reads_updates_and_deletes_an_id_ending_in_logs_under_gunicorn(live_server_url, make_connection):
    make_connection()
    scopes = "create:users read:users update:users delete:users read:logs"
    client, secret = create_client(name="ops-script", scopes=scopes, actor=SYSTEM)
    granted = GetToken(urlsplit(live_server_url).netloc, client.client_id, client_secret=secret, protocol="http")
    token = granted.client_credentials(settings.MANAGEMENT_API_AUDIENCE)["access_token"]
    sdk = Auth0(base_url=f"{live_server_url}/api/v2", token=token, max_retries=0)
    common = {"connection": "Username-Password-Authentication", "password": STRONG_PASSWORD}
    plain = sdk.users.create(user_id="abc", email="plain@example.com", **common)
    slashed = sdk.users.create(user_id="abc/logs", email="slashed@example.com", **common)
    assert (plain.user_id, slashed.user_id) == ("auth0|abc", SLASHED)

    # Both exist, so only the request target (gunicorn's RAW_URI) tells the two apart.
    assert sdk.users.get(SLASHED).email == "slashed@example.com"
    assert {log.user_id for log in sdk.users.logs.list(plain.user_id)} == {"auth0|abc"}
    assert sdk.users.update(SLASHED, user_metadata={"team": "ops"}).user_metadata == {"team": "ops"}
    assert not sdk.users.get(plain.user_id).user_metadata
    sdk.users.delete(SLASHED)
    with pytest.raises(NotFoundError):
        sdk.users.get(SLASHED)
    assert sdk.users.get(plain.user_id).user_id == "auth0|abc"


# --- no user enumeration through the route's choice ----------------------------------------------------------------


@pytest.mark.parametrize("scopes", [None, "read:connections", "read:logs"])
def test_without_a_target_the_answer_does_not_tell_whether_a_user_ending_in_logs_exists(scoped_client, slashed, scopes):
    # Which view answers decides the status and the 403's scopes: a token that cannot read users must not learn from
    # it whether auth0|abc/logs exists (and an unauthenticated request must not make the lookup at all).
    client = scoped_client(scopes)
    existing, missing = client.get(LITERAL), client.get("/api/v2/users/auth0%7Cnobody/logs")
    assert (existing.status_code, existing.json()) == (missing.status_code, missing.json())
    options = client.options(LITERAL), client.options("/api/v2/users/auth0%7Cnobody/logs")
    assert options[0].status_code == options[1].status_code
    assert options[0].content == options[1].content


def test_without_a_target_an_unauthenticated_request_looks_up_no_user(api_client, slashed):
    with CaptureQueriesContext(db_connection) as queries:
        response = api_client.get(LITERAL)
    assert response.status_code == 401
    assert not [query["sql"] for query in queries.captured_queries if User._meta.db_table in query["sql"]]


# --- targets gunicorn passes on as they arrived ----------------------------------------------------------------------


def test_a_fragment_in_the_target_does_not_hide_it(api, both):
    # gunicorn routes "/...%2Flogs#x" as "/...%2Flogs" and passes the target on with its fragment.
    assert _is_profile_of(api.get(ESCAPED, RAW_URI=f"{ESCAPED}#x"), SLASHED)
    assert _is_logs_of(api.get(LITERAL, RAW_URI=f"{LITERAL}#x%2Flogs"), both["user_id"])


def test_a_target_that_is_not_utf8_still_decides(api, connection):
    # Django routes %FF (no UTF-8) as the text "%FF", as it does in users/<id>: the target still says which is meant.
    _make(api, "%FF", "plain@example.com")
    _make(api, "%FF/logs", "slashed@example.com")
    broken = "/api/v2/users/auth0%7C%FF%2Flogs"
    assert _is_profile_of(api.get(broken, RAW_URI=broken), "auth0|%FF/logs")
