"""``GET /api/v2/logs?q=...``: Auth0's log search (audit.search over core.search), as "Log Search Query Syntax"
describes it: every field case sensitive, AND/OR/NOT, date ranges, bare terms over the documented fields; log_id
ranges read in the log's order (our ids are random)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from audit.models import Event
from tests.helpers import management_error

pytestmark = pytest.mark.django_db

LOGS = "/api/v2/logs"


@pytest.fixture
def logs(scoped_client):
    return scoped_client("read:logs")


@pytest.fixture
def events() -> dict[str, Event]:
    """Named events of several types, clients, users and days, in insertion order."""
    rows = {
        "api": dict(
            type="sapi",
            description="Create a User",
            actor_kind="client",
            actor_id="cli_ops",
            user_id="auth0|aaa",
            user_name="ann@example.com",
            connection="Username-Password-Authentication",
            connection_id="con_0123456789abcdef",
            ip="10.0.0.1",
            date=datetime(2026, 1, 5, 10, tzinfo=UTC),
        ),
        "signup": dict(
            type="ss",
            description="Successful signup",
            actor_kind="anonymous",
            actor_id="cli_app",
            user_id="auth0|bbb",
            user_name="bob@example.com",
            connection="Username-Password-Authentication",
            ip="10.0.0.2",
            date=datetime(2026, 1, 31, 23, 59, tzinfo=UTC),
        ),
        "wrong": dict(
            type="fp",
            description="Wrong email or password.",
            actor_kind="client",
            actor_id="cli_app",
            user_id="auth0|aaa",
            user_name="ann@example.com",
            connection="Username-Password-Authentication",
            ip="192.0.2.7",
            date=datetime(2026, 2, 1, 0, 0, tzinfo=UTC),
        ),
        "admin": dict(
            type="du",
            description="Delete a User",
            actor_kind="admin",
            actor_id="cli_ops",
            user_id="auth0|ccc",
            user_name="",
            connection="sms",
            date=datetime(2026, 3, 1, tzinfo=UTC),
        ),
    }
    made = {}
    for name, fields in rows.items():
        date = fields.pop("date")
        event = Event.objects.create(**fields)
        Event.objects.filter(pk=event.pk).update(date=date)
        event.refresh_from_db()
        made[name] = event
    return made


def found(client: Any, events: dict[str, Event], q: str, **params: Any) -> set[str]:
    response = client.get(LOGS, {"q": q, **params})
    assert response.status_code == 200, response.json()
    names = {event.log_id: name for name, event in events.items()}
    return {names[entry["log_id"]] for entry in response.json()}


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("type:fp", {"wrong"}),
        ("type:FP", set()),  # case sensitive
        ('user_id:"auth0|aaa"', {"api", "wrong"}),
        ("client_id:cli_app", {"signup", "wrong"}),
        ("client_id:cli_ops", {"api"}),  # an admin's id is no client id
        ('connection:"Username-Password-Authentication" AND NOT type:sapi', {"signup", "wrong"}),
        ("type:sapi OR type:du", {"api", "admin"}),
        ("(type:ss OR type:fp) AND ip:10.0.0.2", {"signup"}),
        ("date:2026-01-31", {"signup"}),
        ("date:2026-01", {"api", "signup"}),
        ("date:[2026-01-06 TO 2026-02-01]", {"signup", "wrong"}),
        ("date:[2026-01-06 TO 2026-02-01}", {"signup"}),
        ("date:{2026-01-31 TO *]", {"wrong", "admin"}),
        # the ends of the calendar: open and maximal ends are ranges like any other, never an overflow
        ("date:[* TO 9999-12-31]", {"api", "signup", "wrong", "admin"}),
        ("date:[0001-01-01 TO *]", {"api", "signup", "wrong", "admin"}),
        ("date:[0001-01-01 TO 9999]", {"api", "signup", "wrong", "admin"}),
        ("date:{9999-12-31 TO *]", set()),
        ("date:9999-12", set()),
        ('description:"Wrong email or password."', {"wrong"}),
        ("description:Delete*", {"admin"}),
        ("user_name:*@example.com", {"api", "signup", "wrong"}),
        ("_exists_:user_name", {"api", "signup", "wrong"}),
        ("_exists_:connection_id", {"api"}),
        ("ss", {"signup"}),  # a bare term: type among the documented fields
        ("sms", {"admin"}),  # a bare term: connection
        ("auth0|aaa", set()),  # user_id is not among the bare-term fields
        ("hostname:example.com", set()),  # documented by Auth0, not stored: matches nothing
        ("nonsense:x", set()),
    ],
)
def test_each_field_and_operator(logs, events, q, expected):
    assert found(logs, events, q) == expected


def test_log_id_exact_and_ranges_follow_the_log_order(logs, events):
    middle = events["signup"].log_id
    assert found(logs, events, f"log_id:{middle}") == {"signup"}
    assert found(logs, events, f"log_id:[{middle} TO *]") == {"signup", "wrong", "admin"}
    assert found(logs, events, f"log_id:{{{middle} TO *]") == {"wrong", "admin"}
    assert found(logs, events, f"log_id:[* TO {middle}}}") == {"api"}
    assert found(logs, events, "log_id:[0000 TO *]") == set()  # a bound no event has


def test_search_combines_with_sort_paging_and_totals(logs, events):
    response = logs.get(
        LOGS, {"q": "user_id:auth0|aaa OR type:ss", "sort": "date:1", "include_totals": "true", "per_page": 2}
    )
    body = response.json()
    assert [e["log_id"] for e in body["logs"]] == [events["api"].log_id, events["signup"].log_id]
    assert (body["total"], body["length"], body["start"]) == (3, 2, 0)


def test_search_is_q_under_the_name_the_sdks_send(logs, events):
    # auth0-python 6's logs.list(search=...) (and node-auth0's logs.list({search})) send the query as "search", the
    # name Auth0's OAS gives get_logs' parameter; it was refused as an unknown parameter.
    response = logs.get(LOGS, {"search": "type:fp OR type:du", "sort": "date:1", "include_totals": "true"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [entry["log_id"] for entry in body["logs"]] == [events["wrong"].log_id, events["admin"].log_id]
    assert body["total"] == 2


def test_search_and_q_together_must_both_match(logs, events):
    assert found(logs, events, "user_id:auth0|aaa", search="type:fp OR type:ss") == {"wrong"}


def test_a_refused_search_is_400_invalid_query_string_like_q(logs, events):
    response = logs.get(LOGS, {"search": "date:yesterday"})
    message = "date takes a date such as 2026-01-31 or 2026-01-31T10:00:00Z, not yesterday."
    assert (response.status_code, response.json()) == (400, management_error(400, message, "invalid_query_string"))


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("AND", "The query could not be parsed: Syntax error in input : unexpected  'AND' at position 0!"),
        ("date:2026*", "Wildcard searches are not available on date."),
        (
            "date:yesterday",
            "date takes a date such as 2026-01-31 or 2026-01-31T10:00:00Z, not yesterday.",
        ),
        (
            "type:*a",
            "A wildcard search that does not start with its text needs at least 3 characters besides the "
            "wildcards: type:*a",
        ),
        ("[a TO b]", "A range needs a field, for example date:[2026-01-01 TO 2026-01-31]."),
    ],
)
def test_a_refused_query_is_400_invalid_query_string_naming_the_problem(logs, events, q, message):
    response = logs.get(LOGS, {"q": q})
    assert (response.status_code, response.json()) == (400, management_error(400, message, "invalid_query_string"))


def test_hostile_queries_are_refused_never_500(logs, events):
    for q in ["(" * 1000, "a" * 10_000, "type:\x00", 'type:"unclosed', "type:x^2", "type:/re/", "a:b:c"]:
        response = logs.get(LOGS, {"q": q})
        assert response.status_code == 400, (q[:20], response.json())
        assert response.json()["errorCode"] == "invalid_query_string"


def test_search_needs_a_logs_scope(scoped_client, events):
    response = scoped_client("read:users").get(LOGS, {"q": "type:ss"})
    assert response.status_code == 403


def test_a_refusal_speaks_japanese(logs, events):
    response = logs.get(LOGS, {"q": "[a TO b]"}, HTTP_ACCEPT_LANGUAGE="ja")
    assert response.json()["message"] == "範囲にはフィールドが必要です（例: date:[2026-01-01 TO 2026-01-31]）。"
