"""``GET /api/v2/users?q=...&search_engine=v3``: Auth0's Lucene user search (users.search, core.search).

Every example of Auth0's "User Search Query Syntax", "Retrieve Users with the Get Users Endpoint" (query examples)
and "Migrate from Search v2 to v3" (the v3 column) is run here against a small directory, on whichever database the
run uses (SQLite, or PostgreSQL with ``DATABASE_URL``); then each operator and field kind, the combination with the
other parameters, and hostile queries (each a whole 400 body, never a 500).
"""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest

from connections.models import Connection
from core.search import MAX_DEPTH, MAX_QUERY_LENGTH, MAX_TERMS, InvalidQuery
from tests.helpers import DB, OTHER_DB, SMS, USERS, management_error
from users.models import User
from users.search import user_filter

pytestmark = pytest.mark.usefixtures("user_connections")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# name -> (connection, fields). Timestamps are fixed so date queries have one answer.
PEOPLE: dict[str, tuple[str, dict[str, Any]]] = {
    "jane": (
        DB,
        {
            "email": "jane@exampleco.com",
            "email_verified": True,
            "name": "Jane Smith",
            "given_name": "Jane",
            "family_name": "Smith",
            "nickname": "jane",
            "blocked": False,
            "app_metadata": {
                "plan": "gold",
                "subscription": {"plan": "gold"},
                "age": 42,
                "active": True,
                "roles": ["admin", "dev"],
            },
            "user_metadata": {"addresses": [{"city": "Paris"}, {"city": "Lyon"}], "full_name": "John Smith"},
            "logins_count": 150,
            "last_login": _at("2017-12-15T10:00:00"),
            "last_ip": "203.0.113.7",
            "created_at": _at("2026-01-10T08:00:00"),
        },
    ),
    "john": (
        DB,
        {
            "email": "john@exampleco.com",
            "name": "john",
            "nickname": "johnny",
            "app_metadata": {"plan": "silver", "age": "42", "active": False},
            "created_at": _at("2026-02-05T12:00:00"),
        },
    ),
    "johnathan": (
        OTHER_DB,
        {
            "email": "johnathan@usa.example.org",
            "email_verified": True,
            "name": "Johnathan Richard Doe",
            "nickname": "jd",
            "blocked": True,
            "app_metadata": {"plan": None, "empty": {}, "list": [], "level": 7},
            "logins_count": 100,
            "last_login": _at("2018-03-01T00:00:00"),
            "created_at": _at("2026-02-01T00:00:00"),
        },
    ),
    "janedoe": (
        DB,
        {
            "email": "jane.doe@example.com",
            "name": "jane-doe",
            "username": "janedoe",
            "logins_count": 200,
            "last_login": _at("2017-11-30T23:59:59"),
            "created_at": _at("2025-12-31T23:59:59"),
        },
    ),
    "phone": (
        SMS,
        {
            "email": None,
            "phone_number": "+15551234567",
            "phone_verified": True,
            "name": "+15551234567",
            "logins_count": 1,
            "last_login": _at("2026-03-01T09:00:00"),
            "created_at": _at("2026-03-01T00:00:00"),
        },
    ),
}


@pytest.fixture
def people(user_connections: None) -> dict[str, str]:
    """The directory the searches run on: name -> user_id (rows written directly: the search only reads them)."""
    ids = {}
    for index, (person, (connection, fields)) in enumerate(PEOPLE.items()):
        values = dict(fields)
        values.setdefault("updated_at", values["created_at"])
        user_id = f"{Connection.objects.get(name=connection).strategy}|{index:024x}"
        User.objects.create(user_id=user_id, connection=Connection.objects.get(name=connection), **values)
        ids[person] = user_id
    return ids


def search(api: Any, q: str, **params: Any) -> Any:
    query = urlencode({"q": q, "search_engine": "v3", "per_page": 100, **params})
    return api.get(f"{USERS}?{query}")


def found(api: Any, people: dict[str, str], q: str, **params: Any) -> set[str]:
    response = search(api, q, **params)
    assert response.status_code == 200, response.json()
    by_id = {user_id: name for name, user_id in people.items()}
    return {by_id[user["user_id"]] for user in response.json()}


def refused(message: str) -> dict[str, Any]:
    return management_error(400, message, "invalid_query_string")


# --- Auth0's documented examples ------------------------------------------------------------------------------------

AUTH0_EXAMPLES = [
    # "User Search Query Syntax": exact match, wildcards, ranges, metadata paths.
    ('name:"jane smith"', {"jane"}),
    ("name:john*", {"john", "johnathan"}),
    ("name:j*", {"jane", "john", "johnathan", "janedoe"}),
    ("name:*usa", set()),
    ("logins_count:[100 TO 200}", {"jane", "johnathan"}),
    ("logins_count:{100 TO *]", {"jane", "janedoe"}),
    ('app_metadata.subscription.plan:"gold"', {"jane"}),
    ('user_metadata.addresses.city:"Paris"', {"jane"}),
    # "Retrieve Users with the Get Users Endpoint", query examples.
    ('email:"jane@exampleco.com"', {"jane"}),
    ("name:*john*", {"john", "johnathan"}),
    ('name:"jane"', set()),
    ("name:jane*smith", {"jane"}),
    ('email:"john@exampleco.com"', {"john"}),
    ('email:("john@exampleco.com" OR "jane@exampleco.com")', {"john", "jane"}),
    ("email_verified:false OR NOT _exists_:email_verified", {"john", "janedoe", "phone"}),
    ('user_metadata.full_name:"John Smith"', {"jane"}),
    ('identities.connection:"google-oauth2"', set()),
    ("(NOT _exists_:logins_count OR logins_count:0)", {"john"}),
    ("last_login:[* TO 2017-12-31]", {"jane", "janedoe"}),
    ("last_login:[2017-11 TO 2017-12]", {"jane", "janedoe"}),
    ("last_login:[2017-12-01 TO 2017-12-31]", {"jane"}),
    ("logins_count:[100 TO 200]", {"jane", "johnathan", "janedoe"}),
    ("logins_count:[100 TO *]", {"jane", "johnathan", "janedoe"}),
    ("logins_count:{100 TO 200}", {"jane"}),
    ('email.domain:"exampleco.com"', {"jane", "john"}),
    # Auth0's metadata support article ("How to Search and Filter User Metadata and App Metadata").
    ("_exists_:user_metadata.addresses", {"jane"}),
    ("_exists_:app_metadata.subscription.plan", {"jane"}),
    ("app_metadata.age:42", {"jane", "john"}),
    ("app_metadata.active:true", {"jane"}),
    # "Migrate from Search v2 to v3", the v3 column.
    ("updated_at:[2026-01-10 TO *]", {"jane", "john", "johnathan", "phone"}),
    ("updated_at:{2026-01-10 TO *]", {"john", "johnathan", "phone"}),
    ("updated_at:[* TO 2026-01-10]", {"jane", "janedoe"}),
    ("updated_at:[* TO 2026-01-10}", {"janedoe"}),
    ("last_login:[* TO 2017-12]", {"jane", "janedoe"}),
    ('name:"john richard doe"', set()),
    ('name:"johnathan richard doe"', {"johnathan"}),
    ("name:*richard*", {"johnathan"}),
    ("user_id:auth0", set()),
    ("user_id:auth0*", {"jane", "john", "johnathan", "janedoe"}),
]


@pytest.mark.parametrize(("q", "expected"), AUTH0_EXAMPLES)
def test_auth0_documented_examples(api, people, q, expected):
    assert found(api, people, q) == expected


# --- operators ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("name:jane*", {"jane", "janedoe"}),
        ("name:jane* AND logins_count:[* TO 160]", {"jane"}),
        ("name:jane* OR nickname:jd", {"jane", "janedoe", "johnathan"}),
        ("name:jane* AND NOT blocked:false", {"janedoe"}),
        ("NOT name:jane*", {"john", "johnathan", "phone"}),
        ("-name:jane*", {"john", "johnathan", "phone"}),
        ("+name:jane* -username:janedoe", {"jane"}),
        ("(name:john OR name:jane-doe) AND email.domain:*example*", {"john", "janedoe"}),
        ("name:john name:jane-doe", {"john", "janedoe"}),  # Lucene's default operator is OR
        ("john", {"john"}),  # a bare term: whole values of the profile fields
        ("jane", {"jane"}),  # nickname
        ("janedoe", {"janedoe"}),  # username
        ("Smith", {"jane"}),  # family_name
        ("Smit", set()),  # not a whole value
        ("gold", set()),  # metadata is never searched by a bare term
        ("john*", {"john", "johnathan"}),
        ("*", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ("NOT *", set()),
        ("* OR name:nobody", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ("", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ("   ", {"jane", "john", "johnathan", "janedoe", "phone"}),
    ],
)
def test_operators(api, people, q, expected):
    assert found(api, people, q) == expected


# --- field kinds ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # normalised fields ignore case; the value is whole
        ("email:JANE@EXAMPLECO.COM", {"jane"}),
        ('name:"JANE SMITH"', {"jane"}),
        ("given_name:JANE", {"jane"}),
        ("family_name:smith", {"jane"}),
        ("nickname:JOHNNY", {"john"}),
        ("username:JaneDoe", {"janedoe"}),
        ("email:*@EXAMPLECO.COM", {"jane", "john"}),
        ("email:jane*", {"jane", "janedoe"}),
        ("email.domain:usa.example.org", {"johnathan"}),
        ("email.domain:example.com", {"janedoe"}),
        # other fields are exact
        ("phone_number:\\+15551234567", {"phone"}),
        ('phone_number:"+15551234567"', {"phone"}),
        ("phone_verified:true", {"phone"}),
        ("phone_verified:false", set()),
        ("last_ip:203.0.113.7", {"jane"}),
        ("last_ip:203.0.*", {"jane"}),
        ('user_id:"auth0|000000000000000000000000"', {"jane"}),
        ("identities.connection:Other-DB", {"johnathan"}),
        ("identities.connection:other-db", set()),
        ("identities.provider:sms", {"phone"}),
        ("identities.user_id:000000000000000000000004", {"phone"}),
        ("identities.isSocial:false", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ("identities.isSocial:true", set()),
        # booleans; blocked is in the profile only once set
        ("blocked:true", {"johnathan"}),
        ("blocked:false", {"jane"}),
        ("email_verified:true", {"jane", "johnathan"}),
        ("email_verified:false", {"john", "janedoe"}),
        # dates: an instant, or a whole period
        ("created_at:2026", {"jane", "john", "johnathan", "phone"}),
        ("created_at:2026-02", {"john", "johnathan"}),
        ("created_at:2026-02-05", {"john"}),
        ('created_at:"2026-01-10T08:00:00Z"', {"jane"}),
        ("created_at:[2026-01-01 TO 2026-02-01}", {"jane"}),
        ("created_at:[2026-01-01 TO 2026-02-01]", {"jane", "johnathan"}),
        ('last_login:["2017-12-15T10:00:00.000Z" TO *]', {"jane", "johnathan", "phone"}),
        # the ends of the calendar (Python's datetime stops at 9999-12-31T23:59:59.999999): never an overflow
        ("created_at:[* TO 9999-12-31]", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ("created_at:[0001-01-01 TO *]", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ("created_at:[0001 TO 9999]", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ("created_at:[0001-01-01 TO 9999-12]", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ('created_at:[* TO "9999-12-31T23:59:59.999999Z"]', {"jane", "john", "johnathan", "janedoe", "phone"}),
        ('created_at:[* TO "9999-12-31T23:00:00-05:00"]', {"jane", "john", "johnathan", "janedoe", "phone"}),
        ('created_at:["0001-01-01T00:00:00+05:00" TO *]', {"jane", "john", "johnathan", "janedoe", "phone"}),
        ('created_at:[* TO "0001-01-01T00:00:00+05:00"]', set()),
        ("created_at:{9999-12-31 TO *]", set()),
        ("created_at:{* TO 0001-01-01}", set()),
        ("created_at:9999", set()),
        ("created_at:9999-12-31", set()),
        ('created_at:"9999-12-31T23:59:59.999999Z"', set()),
        ("last_login:[* TO 9999-12-31]", {"jane", "johnathan", "janedoe", "phone"}),
        # integers
        ("logins_count:150", {"jane"}),
        ("logins_count:0", {"john"}),
        ("logins_count:[* TO 1]", {"john", "phone"}),
        ("logins_count:99999999999", set()),  # past the column's range: no error, no match
        ("logins_count:[* TO 99999999999]", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ("logins_count:[-99999999999 TO -1]", set()),
        ("app_metadata.level:[-10 TO 7]", {"johnathan"}),
        # existence
        ("_exists_:username", {"janedoe"}),
        ("_exists_:given_name", {"jane"}),
        ("_exists_:email", {"jane", "john", "johnathan", "janedoe"}),
        ("email:*", {"jane", "john", "johnathan", "janedoe"}),
        ("_exists_:last_login", {"jane", "johnathan", "janedoe", "phone"}),
        ("_exists_:logins_count", {"jane", "johnathan", "janedoe", "phone"}),
        ("_exists_:blocked", {"jane", "johnathan"}),
        ("_exists_:phone_number", {"phone"}),
        ("_exists_:app_metadata", {"jane", "john", "johnathan"}),
        # metadata: case-sensitive, strings exact, numbers and booleans by value, through arrays
        ("app_metadata.plan:gold", {"jane"}),
        ("app_metadata.plan:Gold", set()),
        ('app_metadata.age:"42"', {"jane", "john"}),
        ("app_metadata.age:42.0", {"jane"}),
        ("app_metadata.active:false", {"john"}),
        ("app_metadata.roles:admin", {"jane"}),
        ("user_metadata.addresses.city:Lyon", {"jane"}),
        ("user_metadata.addresses.city:paris", set()),
        ("app_metadata.level:[5 TO 10]", {"johnathan"}),
        ("app_metadata.age:{41 TO *]", {"jane"}),
        ("app_metadata.plan:[a TO h]", {"jane"}),
        ("app_metadata.plan:gol*", {"jane"}),
        ("app_metadata.plan:*ilver", {"john"}),
        # nulls, empty objects and empty arrays are not indexed
        ("_exists_:app_metadata.plan", {"jane", "john"}),
        ("_exists_:app_metadata.empty", set()),
        ("_exists_:app_metadata.list", set()),
        ("_exists_:app_metadata.level", {"johnathan"}),
        ("NOT app_metadata.plan:gold", {"john", "johnathan", "janedoe", "phone"}),
        # unknown fields match nothing, and NOT of them everything
        ("nosuchfield:x", set()),
        ("_exists_:nosuchfield", set()),
        ("NOT nosuchfield:x", {"jane", "john", "johnathan", "janedoe", "phone"}),
        ("connection:Other-DB", set()),  # v2's field; v3 has identities.connection
        # keys that look like syntax are only names
        ('app_metadata.a\\"\\]\\[:x', set()),
        ("app_metadata.\\$\\.x:1", set()),
        ('app_metadata.plan:"gold\' OR 1=1 --"', set()),
        ('name:"x\'); DROP TABLE users_user; --"', set()),
    ],
)
def test_field_kinds(api, people, q, expected):
    assert found(api, people, q) == expected


def test_metadata_value_with_quotes_and_backslashes_matches_exactly(api, people):
    User.objects.filter(user_id=people["john"]).update(app_metadata={"note": 'say "hi" \\ $.x ?(@ == 1)'})
    assert found(api, people, 'app_metadata.note:"say \\"hi\\" \\\\ $.x ?(@ == 1)"') == {"john"}
    assert found(api, people, 'app_metadata.note:"say \\"hi\\" \\\\ $.x*"') == set()
    assert found(api, people, "app_metadata.note:say*") == {"john"}


def test_metadata_numbers_past_a_floats_range_are_numbers_not_a_500(api, people):
    # A whole number JSON stores exactly but a float cannot hold (json.loads reads it as an int): compared as the
    # number it is, on both databases (PostgreSQL's jsonpath numbers are exact; SQLite's test is Python's).
    big = "1" + "0" * 400
    User.objects.filter(user_id=people["john"]).update(app_metadata={"big": int(big), "small": -int(big)})
    assert found(api, people, f"app_metadata.big:{big}") == {"john"}
    assert found(api, people, f"app_metadata.big:{big}1") == set()
    assert found(api, people, f"app_metadata.big:[{big} TO *]") == {"john"}
    assert found(api, people, f"app_metadata.big:{{{big} TO *]") == set()
    assert found(api, people, f"app_metadata.small:[* TO -{big}]") == {"john"}
    assert found(api, people, f"app_metadata.level:[0 TO {big}]") == {"johnathan"}
    assert found(api, people, "app_metadata.big:[0 TO 1e308]") == set()


def test_metadata_numbers_compare_as_the_decimals_json_writes_on_both_databases(api, people):
    # PostgreSQL's jsonb keeps a number as the decimal its JSON text says (1e+23 is 10**23 exactly) and jsonpath
    # compares those; SQLite's test compared Python's float (1e23 is 99999999999999991611392) with the exact int of
    # the query, so the same search found john on PostgreSQL and nobody on SQLite.
    User.objects.filter(user_id=people["john"]).update(app_metadata={"float": 1e23, "int": 10**23, "tiny": 5e-324})
    exact = "1" + "0" * 23
    assert found(api, people, f"app_metadata.float:{exact}") == {"john"}
    assert found(api, people, "app_metadata.int:1e23") == {"john"}
    assert found(api, people, f"app_metadata.float:[{exact} TO {exact}]") == {"john"}
    assert found(api, people, f"app_metadata.float:{{{exact} TO *]") == set()
    assert found(api, people, "app_metadata.int:[1e23 TO 1e23]") == {"john"}
    assert found(api, people, f"app_metadata.float:{exact}1") == set()
    assert found(api, people, "app_metadata.tiny:[0 TO 5e-324]") == {"john"}
    assert found(api, people, "app_metadata.tiny:{5e-324 TO *]") == set()


def test_metadata_wildcards_between_literals_take_time_linear_in_the_value(api, people):
    # SQLite tests metadata in Python (core.jsonsearch.matches): a regular expression of several ".*" backtracked
    # through every split of the value (300 letters: four wildcards took 17 s, five outlasted gunicorn's 30 s worker
    # timeout; the search's timeout cannot stop a SQL function midway). The alarm ends the old way; the new one is a
    # few finds.
    User.objects.filter(user_id=people["john"]).update(app_metadata={"long": "a" * 299 + "c"})
    stuck = "app_metadata.long:" + "*aaa" * 8

    def give_up(signum: int, frame: Any) -> None:
        raise TimeoutError("the wildcard search did not end")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(20)
    try:
        assert found(api, people, stuck + "*b") == set()
        assert found(api, people, stuck + "*c") == {"john"}
        assert found(api, people, "app_metadata.long:" + "aaa*" * 8 + "ac") == {"john"}
        assert found(api, people, "app_metadata.long:" + "aaa*" * 8 + "aac") == {"john"}
        assert found(api, people, "app_metadata.long:" + "a" * 298 + "*ac") == {"john"}
        assert found(api, people, "app_metadata.long:" + "a" * 299 + "*ac") == set()  # the ends may not overlap
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- combined with the other parameters -----------------------------------------------------------------------------


def test_q_combines_with_connection_sort_fields_paging_and_totals(api, people):
    response = search(
        api,
        "name:j*",
        connection=DB,
        sort="logins_count:-1",
        fields="user_id,logins_count",
        include_totals="true",
        per_page=2,
        page=0,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert body["users"] == [
        {"user_id": people["janedoe"], "logins_count": 200},
        {"user_id": people["jane"], "logins_count": 150},
    ]
    second = search(api, "name:j*", connection=DB, sort="logins_count:-1", per_page=2, page=1).json()
    assert [u["user_id"] for u in second] == [people["john"]]


def test_q_keeps_the_paging_limit(api, people):
    response = search(api, "name:j*", per_page=100, page=10)
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_paging"


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("last_login:1", ["janedoe", "jane", "johnathan", "phone", "john"]),
        ("last_login:-1", ["phone", "johnathan", "jane", "janedoe", "john"]),
        ("logins_count:1", ["john", "phone", "johnathan", "jane", "janedoe"]),
        ("logins_count:-1", ["janedoe", "jane", "johnathan", "phone", "john"]),
    ],
)
def test_sort_by_login_statistics_never_logged_in_last(api, people, sort, order):
    response = search(api, "*", sort=sort)
    assert [u["user_id"] for u in response.json()] == [people[name] for name in order]


def test_search_engine_v2_is_read_as_v3_and_v1_is_refused(api, people):
    assert found(api, people, "name:john", search_engine="v2") == {"john"}
    response = search(api, "name:john", search_engine="v1")
    assert response.status_code == 400
    assert response.json() == refused("You are not allowed to use search_engine=v1.")


def test_a_user_is_found_the_moment_its_create_returns(api, new_user):
    created = new_user("fresh.person@example.com", app_metadata={"tier": "new"})
    response = search(api, 'email:"fresh.person@example.com" AND app_metadata.tier:new')
    assert [u["user_id"] for u in response.json()] == [created["user_id"]]


# --- refused queries ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "message"),
    [
        (
            "name:*sa",
            "A wildcard search that does not start with its text needs at least 3 characters besides the "
            "wildcards: name:*sa",
        ),
        (
            "name:*a",
            "A wildcard search that does not start with its text needs at least 3 characters besides the "
            "wildcards: name:*a",
        ),
        (
            "name:*ab*",
            "A wildcard search that does not start with its text needs at least 3 characters besides the "
            "wildcards: name:*ab*",
        ),
        ("name:j?hn", "The ? wildcard is not supported: j?hn"),
        ("name:/jo.n/", "Regular expressions are not supported: /jo.n/"),
        ("name:john~", "Fuzzy searches (~) are not supported: john~"),
        ('name:"john smith"~2', 'Proximity searches (~) are not supported: "john smith"~2'),
        ("name:john^2", "Boosts (^) are not supported: john^2"),
        ("logins_count:>100", "Comparisons such as >100 are not supported: use a range, for example field:[10 TO *]."),
        ("user_metadata.city:Par*", "Wildcard searches are not available on user_metadata fields: user_metadata.city"),
        ("user_metadata.age:[1 TO 5]", "Range searches are not available on user_metadata fields: user_metadata.age"),
        ("app_metadata.:x", "A metadata field name is missing in app_metadata.."),
        ("_exists_:app_metadata.", "A metadata field name is missing in app_metadata.."),
        ("app_metadata..plan:x", "A metadata field name is missing in app_metadata..plan."),
        ("created_at:yesterday", "created_at takes a date such as 2026-01-31 or 2026-01-31T10:00:00Z, not yesterday."),
        (
            "created_at:[2026-13 TO *]",
            "created_at takes a date such as 2026-01-31 or 2026-01-31T10:00:00Z, not 2026-13.",
        ),
        ("created_at:2026*", "Wildcard searches are not available on created_at."),
        # the calendar's ends are dates (see test_field_kinds); a year 0 or 10000 is not
        ("created_at:0000", "created_at takes a date such as 2026-01-31 or 2026-01-31T10:00:00Z, not 0000."),
        (
            "created_at:[* TO 10000-01-01]",
            "created_at takes a date such as 2026-01-31 or 2026-01-31T10:00:00Z, not 10000-01-01.",
        ),
        ("logins_count:99999999999999999999", "logins_count takes a whole number, not 99999999999999999999."),
        ("logins_count:abc", "logins_count takes a whole number, not abc."),
        ("logins_count:[1 TO abc]", "logins_count takes a whole number, not abc."),
        ("blocked:yes", "blocked takes true or false, not yes."),
        ("blocked:[false TO true]", "Range searches are not available on blocked."),
        ("email_verified:tru*", "Wildcard searches are not available on email_verified."),
        ("[1 TO 2]", "A range needs a field, for example logins_count:[1 TO 10]."),
        ("a:b:c", "A field cannot hold another field: b:c"),
        ("_exists_:(a OR b)", "_exists_ takes one field name: _exists_:(a OR b)"),
        (
            "(name:john",
            "The query could not be parsed: Syntax error in input : unexpected end of expression "
            "(maybe due to unmatched parenthesis) at the end!",
        ),
        ("name:john)", "The query could not be parsed: Syntax error in input : unexpected  ')' at position 9!"),
        ('name:"john', "The query could not be parsed: Illegal character '\"john' at position 5"),
        ("AND", "The query could not be parsed: Syntax error in input : unexpected  'AND' at position 0!"),
        (
            "name:john AND",
            "The query could not be parsed: Syntax error in input : unexpected end of expression "
            "(maybe due to unmatched parenthesis) at the end!",
        ),
        ("(" * 500 + "a" + ")" * 500, f"The query is nested too deeply: at most {MAX_DEPTH} levels."),
        ("(" * 17 + "a" + ")" * 17, f"The query is nested too deeply: at most {MAX_DEPTH} levels."),
        (
            " OR ".join(f"name:n{i}" for i in range(MAX_TERMS + 1)),
            f"The query has too many terms: at most {MAX_TERMS}.",
        ),
    ],
)
def test_refused_queries_are_400_naming_the_problem(api, people, q, message):
    response = search(api, q)
    assert response.status_code == 400, response.json()
    assert response.json() == refused(message)


SIGN_AFTER_COLON = (
    "A field's value cannot start with a sign or NOT: {term}. Quote or escape a value that starts with - or + "
    '(field:"-5", field:\\-5); to exclude, put the sign before the field (-field:5).'
)


@pytest.mark.parametrize(
    "q",
    ["app_metadata.level:-7", "logins_count:-1", "name:-jane*", 'name:-"jane doe"', "phone_number:+15551234567",
     "email:+jane@example.com", "name:NOT jane", "app_metadata.level:-[1 TO 9]"],
)  # fmt: skip
def test_a_sign_or_not_after_a_fields_colon_is_refused_as_lucene_refuses_it(api, people, q):
    # Lucene's grammar (Clause ::= ["+", "-"] [<TERM> ":"] (<TERM> | "(" Query ")")) has no sign after the colon, so
    # Auth0 answers 400; luqum read "app_metadata.level:-7" as NOT app_metadata.level:7 (every other user, for a
    # script that meant the value -7) and "phone_number:+1555..." as the number without its "+" (nobody).
    response = search(api, q)
    assert response.status_code == 400, response.json()
    assert response.json() == refused(SIGN_AFTER_COLON.format(term=q))


def test_a_signed_value_is_searched_quoted_or_escaped_and_a_sign_before_the_field_still_excludes(api, people):
    assert found(api, people, 'phone_number:"+15551234567"') == {"phone"}
    assert found(api, people, "phone_number:\\+15551234567") == {"phone"}
    assert found(api, people, "-name:jane*") == found(api, people, "name:(-jane*)") == {"john", "johnathan", "phone"}


@pytest.mark.parametrize(
    ("q", "term"),
    [
        ("name:jane* && logins_count:1", "&&"),
        ("name:jane* || name:john", "||"),
        ("!name:jane*", "!name:jane*"),
        ("name:jane* AND !john", "!john"),
        ("name:!jane", "!jane"),
        # After _exists_'s colon too: "_exists_:!email" answered nobody (a field named "!email"), not everyone else.
        ("_exists_:!email", "!email"),
        ("_exists_:&&", "&&"),
    ],
)
def test_lucenes_symbol_operators_are_refused_naming_the_words(api, people, q, term):
    # Elasticsearch's query_string (Auth0's search) reads &&, || and ! as AND, OR and NOT; luqum read "&&" and "||"
    # as bare terms between two OR-ed clauses (name:jane* && logins_count:1 answered the union) and "!name" as a
    # field no user has (nobody instead of everyone else).
    response = search(api, q)
    assert response.status_code == 400, response.json()
    message = f"The operators &&, || and ! are not supported: write AND, OR and NOT ({term})."
    assert response.json() == refused(message)


def test_escaped_symbols_are_characters(api, people):
    assert found(api, people, "name:\\!jane OR name:\\&\\&") == set()
    assert found(api, people, "_exists_:\\!email") == set()  # a field named "!email": nobody has it


def test_a_query_over_the_length_limit_is_refused(api, people):
    response = search(api, "a" * (MAX_QUERY_LENGTH + 1))
    assert response.status_code == 400
    body = response.json()
    assert body["errorCode"] == "invalid_query_string"
    assert body["errors"][0]["field"] == "q"
    assert body["errors"][0]["code"] == "MAX_LENGTH"
    assert search(api, "a" * 10_000).status_code == 400


def test_a_thousand_nested_parentheses_are_refused_without_parsing():
    # Over the length bound before luqum sees it (the API's query schema refuses it first, with MAX_LENGTH).
    with pytest.raises(InvalidQuery) as refusal:
        user_filter("(" * 1000 + "a" + ")" * 1000)
    assert refusal.value.message == f"The query is too long: 2001 characters, at most {MAX_QUERY_LENGTH}."


def test_nul_is_refused(api, people):
    response = api.get(USERS, {"q": "name:jo\x00hn", "search_engine": "v3"})
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_query_string"


def test_a_lone_surrogate_in_the_url_is_refused(api, people):
    # A lone surrogate's bytes are no UTF-8: api.middleware refuses them before any view.
    response = api.get(f"{USERS}?q=name:jo%ED%A0%80hn&search_engine=v3")
    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_query_string"


@pytest.mark.parametrize("bad", ["name:jo\x00hn", "name:jo\ud800hn", "app_metadata.a\ud800:x"])
def test_the_domain_filter_refuses_text_no_database_stores(bad):
    # The admin's search box reaches user_filter without the query serializer's text checks.
    with pytest.raises(InvalidQuery) as refusal:
        user_filter(bad)
    assert refusal.value.code == "invalid_query_string"


def test_the_limits_themselves_are_accepted(api, people):
    assert found(api, people, "(" * (MAX_DEPTH - 2) + "name:john" + ")" * (MAX_DEPTH - 2)) == {"john"}
    many = " OR ".join(["name:john"] + [f"name:n{i}" for i in range(MAX_TERMS - 1)])
    assert found(api, people, many) == {"john"}
