"""GET /api/v2/users/{id}/logs: a user's events as Auth0's get_logs_by_user answers them (scopes read:logs or
read:logs_users, page/per_page/sort/include_totals, the 1,000-record paging limit, no 404 for an id no user has)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from audit.models import Event
from tests.helpers import STRONG_PASSWORD, forbidden, management_error, query_error, user_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def logs(scoped_client):
    return scoped_client("read:logs")


def _user_logs(client: Any, user_id: str, **query: Any) -> Any:
    return client.get(f"{user_url(user_id)}/logs", query)


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [entry["log_id"] for entry in response.json()]


def _event(user_id: str, description: str = "Update a User") -> Event:
    return Event.objects.create(
        type="sapi", description=description, actor_kind="client", actor_id="x", user_id=user_id
    )


def test_a_users_events_newest_first_and_no_one_elses(api, logs, connection):
    body = {"connection": connection.name, "email": "kate@example.com", "password": STRONG_PASSWORD}
    user_id = api.post("/api/v2/users", body, format="json").json()["user_id"]
    api.patch(user_url(user_id), {"user_metadata": {"a": 1}}, format="json")
    _event("auth0|someone-else")
    mine = list(Event.objects.filter(user_id=user_id).order_by("-date", "-id").values_list("log_id", flat=True))
    assert len(mine) == 2
    assert _ids(_user_logs(logs, user_id)) == mine
    assert _ids(_user_logs(logs, user_id, sort="date:1")) == mine[::-1]
    assert {entry["user_id"] for entry in _user_logs(logs, user_id).json()} == {user_id}


def test_pages_and_totals_in_auth0s_shape(logs):
    made = [_event("auth0|pager").log_id for _ in range(5)][::-1]
    assert _ids(_user_logs(logs, "auth0|pager", per_page=2, page=1)) == made[2:4]
    page = _user_logs(logs, "auth0|pager", per_page=2, page=2, include_totals="true").json()
    assert {key: page[key] for key in ("start", "limit", "length", "total")} == {
        "start": 4,
        "limit": 2,
        "length": 1,
        "total": 5,
    }
    assert [entry["log_id"] for entry in page["logs"]] == made[4:]


def test_paging_stops_at_the_first_thousand_events(logs):
    Event.objects.bulk_create(
        Event(type="sapi", description="Update a User", actor_kind="client", actor_id="x", user_id="auth0|busy")
        for _ in range(1010)
    )
    assert len(_ids(_user_logs(logs, "auth0|busy", per_page=100, page=10))) == 10
    refused = _user_logs(logs, "auth0|busy", per_page=100, page=11)
    message = (
        "Requesting page 11 exceeds the allowed maximum of 1000 records: please consider searching by checkpoint "
        "https://auth0.com/docs/logs/retrieve-log-events-using-mgmt-api#retrieve-logs-by-checkpoint"
    )
    assert (refused.status_code, refused.json()) == (400, management_error(400, message, "invalid_paging"))


def test_a_deleted_users_events_stay_readable(api, logs, connection):
    body = {"connection": connection.name, "email": "gone@example.com", "password": STRONG_PASSWORD}
    user_id = api.post("/api/v2/users", body, format="json").json()["user_id"]
    assert api.delete(user_url(user_id)).status_code == 204
    assert [entry["type"] for entry in _user_logs(logs, user_id).json()] == ["du", "sapi"]


@pytest.mark.parametrize(
    "user_id", ["auth0|nobody", "sms|+15550100", "a/b", "a%2Fb", "x" * 5000, "auth0|ünï", "user id with spaces"]
)
def test_an_id_no_user_has_answers_an_empty_list(logs, user_id):
    response = _user_logs(logs, user_id)
    assert (response.status_code, response.json()) == (200, [])


def test_ids_with_a_bar_or_a_slash_are_one_id_however_the_path_spells_them(logs):
    _event("auth0|abc")
    _event("ldap|ou=x/cn=y")
    for path in ("auth0|abc", "auth0%7Cabc", "auth0%7cabc"):
        assert len(_ids(logs.get(f"/api/v2/users/{path}/logs"))) == 1, path
    for path in ("ldap%7Cou%3Dx%2Fcn%3Dy", "ldap|ou=x/cn=y"):
        assert len(_ids(logs.get(f"/api/v2/users/{path}/logs"))) == 1, path


def test_the_users_own_profile_is_still_reached_beside_its_logs(api, connection):
    body = {"connection": connection.name, "email": "both@example.com", "password": STRONG_PASSWORD}
    user_id = api.post("/api/v2/users", body, format="json").json()["user_id"]
    assert api.get(user_url(user_id)).json()["user_id"] == user_id
    assert api.get(f"/api/v2/users/{quote(user_id, safe='')}/logs").status_code == 200


def _user_logs_error(field: str, code: str, text: str) -> dict[str, Any]:
    descriptions = {"per_page": "Number of results per page", "page": "Page index of the results to return"}
    return query_error(field, code, text, descriptions.get(field))


@pytest.mark.parametrize(
    ("query", "body"),
    [
        ("per_page=0", _user_logs_error("per_page", "MINIMUM", "Value 0 is less than minimum 1")),
        ("per_page=101", _user_logs_error("per_page", "MAXIMUM", "Value 101 is greater than maximum 100")),
        ("page=-1", _user_logs_error("page", "MINIMUM", "Value -1 is less than minimum 0")),
        ("per_page=abc", _user_logs_error("per_page", "INVALID_TYPE", "Expected type integer but found type string")),
        (
            "sort=type:1",
            query_error(
                "sort",
                "PATTERN",
                "String does not match pattern ^date:(1|-1)$: type:1",
                "date:1 for oldest first, date:-1 for newest",
            ),
        ),
        (
            "from=abc",
            management_error(
                400,
                "Query validation error: 'Additional properties not allowed: from'.",
                "invalid_query_string",
                [
                    {
                        "field": None,
                        "code": "OBJECT_ADDITIONAL_PROPERTIES",
                        "message": "Additional properties not allowed: from",
                    }
                ],
            ),
        ),
        ("page=%00", management_error(400, "The query string contains invalid characters.", "invalid_query_string")),
    ],
)
def test_bad_queries_are_refused_whole(logs, query, body):
    response = logs.get(f"/api/v2/users/auth0%7Cabc/logs?{query}")
    assert (response.status_code, response.json()) == (400, body)


def test_bad_paths_are_refused_not_crashed(logs):
    nul = logs.get("/api/v2/users/auth0%7C%00/logs")
    assert (nul.status_code, nul.json()) == (
        400,
        management_error(400, "The request path contains invalid characters.", "invalid_uri"),
    )


def test_scopes_are_read_logs_or_read_logs_users(scoped_client):
    _event("auth0|abc")
    assert len(_ids(_user_logs(scoped_client("read:logs_users"), "auth0|abc"))) == 1
    denied = _user_logs(scoped_client("read:users"), "auth0|abc")
    assert (denied.status_code, denied.json()) == (403, forbidden("read:logs,read:logs_users"))
    anonymous = _user_logs(scoped_client(None), "auth0|abc")
    assert anonymous.status_code == 401


def test_a_users_events_are_an_index_range_scan(logs):
    """The page query behind this endpoint reads the (user_id, date, id) index in order: no sort step."""
    _event("auth0|abc")
    with CaptureQueriesContext(db) as queries:
        assert _ids(_user_logs(logs, "auth0|abc"))
    page = next(q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"] and "audit_event" in q["sql"])
    with db.cursor() as cursor:
        if db.vendor == "postgresql":
            # A one-row table is cheaper to scan whole, or through a bitmap and a sort of its two rows (a CI run's
            # plan); forbid both to see whether an index gives the order.
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("SET LOCAL enable_bitmapscan = off")
            cursor.execute(f"EXPLAIN {page}")
        else:
            cursor.execute(f"EXPLAIN QUERY PLAN {page}")
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "audit_event_user_date_id" in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan
