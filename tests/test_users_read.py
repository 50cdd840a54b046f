"""Reading users through the management API, as Auth0 answers it: ``GET /api/v2/users/{id}``, ``GET /api/v2/users``
(paging, sorting, filters, totals) and ``GET /api/v2/users-by-email``.

Every request goes through the real URL with a real bearer token, and error bodies are compared whole so a test
fails if its rule is removed or reworded. Users are made through ``POST /api/v2/users`` (the ``new_user`` fixture);
only timestamps are moved in the database, to make orderings and "did it move" checks independent of the clock.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from connections.models import Connection
from tests.helpers import (
    DB,
    EMAIL,
    MISSING_TOKEN,
    OLD_TIME,
    OTHER_DB,
    SMS,
    USER_NOT_FOUND,
    USERNAME_DB,
    backdate,
    forbidden,
    listed_ids,
    management_error,
    query_error,
    user_url,
)
from users.models import User

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("user_connections")]

PHONE = "+14155550123"
PER_PAGE = "Number of results per page"
PAGE = "Page index of the results to return. First page is 0"
SORT = "Field to sort by. Use field:order where order is 1 for ascending and -1 for descending"
SORT_PATTERN = (
    r"^(created_at|updated_at|last_login|logins_count|email|user_id|name|username|given_name|family_name"
    r"|nickname|phone_number|email_verified|phone_verified|blocked|last_ip|last_password_reset):(1|-1)$"
)
INCLUDE_TOTALS = (
    "Return results inside an object that contains the total result count (true) or as a direct array of "
    "results (false, default)"
)


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
    response = api.get(user_url(created["user_id"]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == created


def test_get_returns_a_username_and_phone_profile_unchanged(api, new_user):
    named = new_user(connection=USERNAME_DB, username="ann")
    texted = new_user(email=None, connection=SMS, phone_number=PHONE, phone_verified=True)
    assert api.get(user_url(named["user_id"])).json() == named
    assert api.get(user_url(texted["user_id"])).json() == texted


def test_get_accepts_the_url_encoded_id(api, new_user):
    created = new_user()
    encoded = user_url(created["user_id"])
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
    response = api.get(user_url("auth0|000000000000000000000000"))
    assert response.status_code == 404
    assert response.json() == USER_NOT_FOUND


def test_get_the_bare_id_without_its_provider_is_404(api, new_user):
    created = new_user()
    bare = created["identities"][0]["user_id"]
    assert api.get(user_url(bare)).json() == USER_NOT_FOUND


def test_get_fields_with_include_fields_true_keeps_only_those(api, new_user):
    created = new_user()
    response = api.get(f"{user_url(created['user_id'])}?fields=email,user_id&include_fields=true")
    assert response.status_code == 200
    assert response.json() == {"email": created["email"], "user_id": created["user_id"]}


def test_get_fields_without_include_fields_keeps_only_those(api, new_user):
    created = new_user()
    response = api.get(f"{user_url(created['user_id'])}?fields=email,%20user_id")
    assert response.json() == {"email": created["email"], "user_id": created["user_id"]}


def test_get_fields_with_include_fields_false_drops_them(api, new_user):
    created = new_user()
    response = api.get(f"{user_url(created['user_id'])}?fields=email,user_id&include_fields=false")
    assert response.status_code == 200
    expected = {key: value for key, value in created.items() if key not in ("email", "user_id")}
    assert response.json() == expected


def test_get_empty_fields_returns_everything(api, new_user):
    created = new_user()
    assert api.get(f"{user_url(created['user_id'])}?fields=&include_fields=false").json() == created


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
    response = api.get(f"{user_url(created['user_id'])}?{query}")
    assert response.status_code == 400
    assert response.json() == expected


def test_get_needs_read_users(scoped_client, new_user):
    created = new_user()
    response = scoped_client("create:users update:users delete:users").get(user_url(created["user_id"]))
    assert response.status_code == 403
    assert response.json() == forbidden("read:users")


def test_get_without_a_token_is_401(scoped_client, new_user):
    created = new_user()
    response = scoped_client(None).get(user_url(created["user_id"]))
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


def test_list_sorts_by_any_profile_field_as_auth0_does(api, new_user):
    # Auth0's "Sort Search Results": "The field is the name of the field to sort by ... Sorting by app_metadata or
    # user_metadata is not supported." given_name, nickname and the like were refused with a 400.
    ann = new_user("ann@example.com", given_name="Zed", family_name="Able", nickname="mid")["user_id"]
    bob = new_user("bob@example.com", given_name="Amy", family_name="Cole", nickname="zzz")["user_id"]
    carl = new_user("carl@example.com", given_name="Max", nickname="aaa")["user_id"]
    assert listed_ids(api.get("/api/v2/users?sort=given_name:1")) == [bob, carl, ann]
    assert listed_ids(api.get("/api/v2/users?sort=nickname:-1")) == [bob, ann, carl]
    # A user without the field comes last in either direction, as for last_login.
    assert listed_ids(api.get("/api/v2/users?sort=family_name:1")) == [ann, bob, carl]
    assert listed_ids(api.get("/api/v2/users?sort=family_name:-1")) == [bob, ann, carl]
    for field in ("phone_number", "email_verified", "phone_verified", "blocked", "last_ip"):
        response = api.get(f"/api/v2/users?sort={field}:1")
        assert response.status_code == 200 and sorted(listed_ids(response)) == sorted([ann, bob, carl])


def test_list_sorts_by_last_password_reset_a_profile_field_too(api, new_user):
    # Auth0's profile has last_password_reset (shown once the password changed), so "any profile field" sorts by it;
    # it was a 400. Users whose password never changed come last in either direction.
    ann, bob, carl = (new_user(f"{name}@example.com")["user_id"] for name in ("ann", "bob", "carl"))
    for user_id in (carl, ann):
        assert api.patch(user_url(user_id), {"password": "An0ther!Passw0rd"}, format="json").status_code == 200
    assert listed_ids(api.get("/api/v2/users?sort=last_password_reset:1")) == [carl, ann, bob]
    assert listed_ids(api.get("/api/v2/users?sort=last_password_reset:-1")) == [ann, carl, bob]


BAD_SORTS = [
    "created_at",
    "created_at:2",
    "password:1",
    "created_at:+1",
    "CREATED_AT:1",
    "app_metadata.plan:1",
    "user_metadata:1",
]


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


# Auth0's answer to a page past the first 1000 users ("View Search Results by Page", its limitation).
INVALID_PAGING = management_error(
    400,
    "You can only page through the first 1000 records. "
    "See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation",
    "invalid_paging",
)


def _many_users(count: int) -> None:
    """``count`` users of the database connection, inserted directly: a thousand creates through the API would make
    this file slow, and only reading them is tested here."""
    connection = Connection.objects.get(name=DB)
    User.objects.bulk_create(
        User(
            connection=connection,
            user_id=f"auth0|{i:024x}",
            email=f"user{i}@example.com",
            created_at=OLD_TIME + timedelta(seconds=i),
            updated_at=OLD_TIME,
        )
        for i in range(count)
    )


@pytest.mark.parametrize(
    "query",
    [
        "per_page=100&page=10",
        "per_page=100&page=10&include_totals=true",
        "page=20",  # 50 a page by default
        "per_page=1&page=1000",
        "per_page=7&page=142",  # 143 * 7 = 1001
        "per_page=100&page=100000",
    ],
)
def test_list_refuses_a_page_past_the_first_thousand_users(api, query):
    response = api.get(f"/api/v2/users?{query}")
    assert response.status_code == 400
    assert response.json() == INVALID_PAGING


@pytest.mark.parametrize(
    "query", ["per_page=100&page=9", "page=19", "per_page=1&page=999", "per_page=7&page=141", "per_page=0&page=5000"]
)
def test_list_answers_every_page_within_the_first_thousand_users(api, query):
    assert api.get(f"/api/v2/users?{query}").json() == []


def test_list_totals_count_every_user_on_the_pages_allowed(api):
    _many_users(1005)
    last = api.get("/api/v2/users?per_page=100&page=9&include_totals=true&sort=created_at:1")
    assert last.status_code == 200
    body = last.json()
    assert (body["start"], body["limit"], body["length"], body["total"]) == (900, 100, 100, 1005)
    assert body["users"][-1]["email"] == "user999@example.com"
    past = api.get("/api/v2/users?per_page=100&page=10&include_totals=true&sort=created_at:1")
    assert (past.status_code, past.json()) == (400, INVALID_PAGING)


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
    assert body["users"][0] == api.get(user_url(five_users[4])).json()


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


def test_last_password_reset_is_kept_or_dropped_by_fields_as_any_profile_field(api, new_user):
    # Auth0's fields/include_fields name any field of the profile; last_password_reset is one once the password has
    # changed (absent before, so asking for it alone gives an empty object).
    created = new_user()
    url = user_url(created["user_id"])
    assert api.get(f"{url}?fields=last_password_reset").json() == {}
    stamp = api.patch(url, {"password": "An0ther!Passw0rd"}, format="json").json()["last_password_reset"]

    assert api.get(f"{url}?fields=last_password_reset").json() == {"last_password_reset": stamp}
    assert api.get("/api/v2/users?fields=user_id,last_password_reset").json() == [
        {"user_id": created["user_id"], "last_password_reset": stamp}
    ]
    dropped = api.get(f"{url}?fields=last_password_reset&include_fields=false").json()
    assert "last_password_reset" not in dropped and dropped["user_id"] == created["user_id"]
    listed = api.get("/api/v2/users?fields=last_password_reset&include_fields=false").json()
    assert [user["user_id"] for user in listed] == [created["user_id"]]
    assert "last_password_reset" not in listed[0]


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
        ("page=100001", query_error("page", "MAXIMUM", "Value 100001 is greater than maximum 100000", PAGE)),
        (
            "page=99999999999999999999999",
            query_error("page", "MAXIMUM", "Value 99999999999999999999999 is greater than maximum 100000", PAGE),
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


def test_list_needs_read_users(scoped_client):
    response = scoped_client("create:users update:users delete:users").get("/api/v2/users")
    assert response.status_code == 403
    assert response.json() == forbidden("read:users")


def test_list_without_a_token_is_401(scoped_client):
    response = scoped_client(None).get("/api/v2/users")
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


def test_users_by_email_needs_read_users(scoped_client):
    response = scoped_client("create:users update:users").get("/api/v2/users-by-email?email=ann@example.com")
    assert response.status_code == 403
    assert response.json() == forbidden("read:users")
    assert scoped_client(None).get("/api/v2/users-by-email?email=ann@example.com").json() == MISSING_TOKEN


def test_list_counts_the_users_only_when_totals_are_asked_for(api, five_users):
    """Counting a large match costs far more than one page (1.4 s for 90,000 matches on PostgreSQL at a million
    users): a plain list runs no COUNT, ``include_totals`` does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as plain:
        assert api.get("/api/v2/users", {"per_page": 2}).status_code == 200
    with CaptureQueriesContext(connection) as totals:
        assert api.get("/api/v2/users", {"per_page": 2, "include_totals": "true"}).json()["total"] == 5
    assert not [q for q in plain.captured_queries if "COUNT(" in q["sql"].upper()]
    assert [q for q in totals.captured_queries if "COUNT(" in q["sql"].upper()]


@pytest.mark.parametrize(("sort", "nulls_last"), [("created_at:-1", False), ("user_id:1", False), ("name:1", True)])
def test_list_orders_nulls_last_only_on_a_column_that_can_be_null(api, five_users, sort, nulls_last):
    """NULLS LAST on a NOT NULL column keeps PostgreSQL from reading a page in index order (every page then sorted
    its whole match: 2.3 s instead of 1.4 ms at a million users); a column that can be NULL keeps it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert api.get("/api/v2/users", {"sort": sort}).status_code == 200
    page = [q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"]]
    assert page
    assert ("NULLS LAST" in page[-1]) is nulls_last
