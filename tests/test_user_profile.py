"""The 201 body of ``POST /api/v2/users``: Auth0's user profile, compared with real captures (reference §1).

Key order is not compared: Auth0's own order varies between captures.
"""

import hashlib
import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from core.hashing import bcrypt_verify as verify_password
from tests.helpers import DB, STRONG_PASSWORD, password_hash_of
from users.models import User
from users.profile import format_timestamp

pytestmark = pytest.mark.django_db

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
GENERATED_USER_ID = re.compile(r"auth0\|([0-9a-f]{24})")
# go-auth0 v1.45.0 test/data/recordings/TestUserManager_Create.yaml
CHUCK_PICTURE = (
    "https://s.gravatar.com/avatar/0b79e7da7bc7877560620cf8f2cc93ae"
    "?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fch.png"
)


def parse_timestamp(value: str) -> datetime:
    assert TIMESTAMP.fullmatch(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def gravatar(email: str, initials: str) -> str:
    digest = hashlib.md5(email.lower().encode(), usedforsecurity=False).hexdigest()
    return f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{initials}.png"


def created(response) -> dict:
    assert response.status_code == 201, response.json()
    return response.json()


def without_server_values(body: dict) -> dict:
    """The body minus what the server chooses (timestamps, generated ids), for comparing with a capture."""
    rest = {k: v for k, v in body.items() if k not in ("created_at", "updated_at")}
    if GENERATED_USER_ID.fullmatch(body["user_id"]):
        rest.pop("user_id")
        rest["identities"] = [{k: v for k, v in i.items() if k != "user_id"} for i in body["identities"]]
    return rest


# --- shape of a minimal create ---------------------------------------------------------------------


def test_minimal_create_returns_exactly_auth0s_keys(create, connection):
    response = create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD})

    body = created(response)
    assert set(body) == {
        "user_id",
        "created_at",
        "updated_at",
        "identities",
        "email",
        "email_verified",
        "name",
        "nickname",
        "picture",
    }
    assert all(value is not None for value in body.values())
    assert STRONG_PASSWORD not in response.content.decode()
    assert "$2b$" not in response.content.decode()
    assert response["Content-Type"].startswith("application/json")


def test_minimal_create_matches_the_captured_body(create, connection):
    body = created(create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD}))

    assert without_server_values(body) == {
        "email": "chuck@example.com",
        "email_verified": False,
        "identities": [{"connection": DB, "provider": "auth0", "isSocial": False}],
        "name": "chuck@example.com",
        "nickname": "chuck",
        "picture": CHUCK_PICTURE,
    }


def test_go_auth0_capture_with_username(create, make_connection):
    # go-auth0 TestUserManager_Create: the same request, the same body (but for ids and timestamps).
    make_connection(requires_username=True)

    response = create(
        {"connection": DB, "email": "chuck@example.com", "username": "chuck", "password": STRONG_PASSWORD}
    )

    assert without_server_values(created(response)) == {
        "email": "chuck@example.com",
        "email_verified": False,
        "identities": [{"connection": DB, "provider": "auth0", "isSocial": False}],
        "name": "chuck@example.com",
        "nickname": "chuck",
        "picture": CHUCK_PICTURE,
        "username": "chuck",
    }


def test_timestamps_are_equal_utc_milliseconds(create, connection):
    before = datetime.now(UTC).replace(microsecond=0)

    body = created(create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD}))

    after = datetime.now(UTC)
    assert body["created_at"] == body["updated_at"]
    assert before <= parse_timestamp(body["created_at"]) <= after


def test_generated_user_id_is_an_object_id_starting_with_the_creation_time(create, connection):
    body = created(create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD}))

    match = GENERATED_USER_ID.fullmatch(body["user_id"])
    assert match, body["user_id"]
    local_id = match.group(1)
    assert int(local_id[:8], 16) == int(parse_timestamp(body["created_at"]).timestamp())
    assert body["identities"] == [{"connection": DB, "user_id": local_id, "provider": "auth0", "isSocial": False}]
    assert User.objects.get().user_id == body["user_id"]


def test_generated_user_ids_differ(create, connection):
    first = created(create({"connection": DB, "email": "one@example.com", "password": STRONG_PASSWORD}))
    second = created(create({"connection": DB, "email": "two@example.com", "password": STRONG_PASSWORD}))

    assert first["user_id"] != second["user_id"]


def test_location_header_names_the_new_user(create, connection):
    response = create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD})

    user_id = created(response)["user_id"]
    assert response["Location"] == f"/api/v2/users/auth0%7C{user_id.removeprefix('auth0|')}"


# --- custom user_id ---------------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["testaccdatasourceuser", "1235463", "a-b_c.d@e"])
def test_custom_user_id_is_prefixed_and_bare_in_identities(create, connection, given):
    response = create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD, "user_id": given})

    body = created(response)
    assert body["user_id"] == f"auth0|{given}"
    assert body["identities"] == [{"connection": DB, "user_id": given, "provider": "auth0", "isSocial": False}]
    assert response["Location"] == "/api/v2/users/" + quote(f"auth0|{given}", safe="")


def test_terraform_capture_with_every_profile_field(create, make_connection):
    # terraform-provider-auth0 TestAccDataSourceUser: custom user_id and all profile fields.
    make_connection(requires_username=True, validation={"username": {"min": 1, "max": 128}})
    metadata = {"baz": "qux", "foo": "bar"}

    response = create(
        {
            "user_id": "testaccdatasourceuser",
            "connection": DB,
            "email": "testaccdatasourceuser@acceptance.test.com",
            "name": "Firstname Lastname",
            "given_name": "Firstname",
            "family_name": "Lastname",
            "username": "testaccdatasourceuser",
            "nickname": "testaccdatasourceuser",
            "password": STRONG_PASSWORD,
            "user_metadata": metadata,
            "app_metadata": metadata,
            "picture": "https://www.example.com/picture.jpg",
        }
    )

    assert without_server_values(created(response)) == {
        "email": "testaccdatasourceuser@acceptance.test.com",
        "email_verified": False,
        "family_name": "Lastname",
        "given_name": "Firstname",
        "identities": [{"user_id": "testaccdatasourceuser", "connection": DB, "provider": "auth0", "isSocial": False}],
        "name": "Firstname Lastname",
        "nickname": "testaccdatasourceuser",
        "picture": "https://www.example.com/picture.jpg",
        "user_id": "auth0|testaccdatasourceuser",
        "user_metadata": metadata,
        "username": "testaccdatasourceuser",
        "app_metadata": metadata,
    }


def test_go_auth0_capture_with_given_names_but_no_name(create, make_connection):
    # go-auth0 v1 TestUserManager_*: blocked false, email_verified true, given/family names, no name.
    make_connection(requires_username=True)
    response = create(
        {
            "connection": DB,
            "email": "chuck878@example.com",
            "username": "test-user636",
            "password": STRONG_PASSWORD,
            "given_name": "Chuck",
            "family_name": "Sanchez",
            "nickname": "Chucky",
            "picture": "https://example-picture-url.jpg",
            "user_metadata": {"favourite_attack": "roundhouse_kick"},
            "app_metadata": {"facts": ["count_to_infinity_twice"]},
            "blocked": False,
            "email_verified": True,
            "verify_email": False,
        }
    )

    assert without_server_values(created(response)) == {
        "blocked": False,
        "email": "chuck878@example.com",
        "email_verified": True,
        "family_name": "Sanchez",
        "given_name": "Chuck",
        "identities": [{"connection": DB, "provider": "auth0", "isSocial": False}],
        "name": "chuck878@example.com",
        "nickname": "Chucky",
        "picture": "https://example-picture-url.jpg",
        "user_metadata": {"favourite_attack": "roundhouse_kick"},
        "username": "test-user636",
        "app_metadata": {"facts": ["count_to_infinity_twice"]},
    }


# --- defaults ---------------------------------------------------------------------------------------


def test_defaults_name_nickname_and_picture_from_the_email(create, connection):
    body = created(create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD}))

    assert body["name"] == "chuck@example.com"
    assert body["nickname"] == "chuck"
    assert body["picture"] == CHUCK_PICTURE


def test_name_defaults_to_email_even_with_given_and_family_names(create, connection):
    body = created(
        create(
            {
                "connection": DB,
                "email": "chuck@example.com",
                "password": STRONG_PASSWORD,
                "given_name": "Chuck",
                "family_name": "Norris",
            }
        )
    )

    assert body["name"] == "chuck@example.com"
    assert body["picture"] == CHUCK_PICTURE
    assert (body["given_name"], body["family_name"]) == ("Chuck", "Norris")


@pytest.mark.parametrize(
    ("email", "nickname"),
    [
        ("chuck@example.com", "chuck"),
        ("change.username.terra@acceptance.test.com", "change.username.terra"),
        ("first+tag@example.com", "first+tag"),
    ],
)
def test_nickname_defaults_to_the_email_local_part(create, connection, email, nickname):
    body = created(create({"connection": DB, "email": email, "password": STRONG_PASSWORD}))

    assert body["nickname"] == nickname


@pytest.mark.parametrize(
    ("email", "initials"),
    [
        ("chuck@example.com", "ch"),
        ("testaccuser@acceptance.test.com", "te"),
    ],
)
def test_default_picture_is_gravatar_with_first_two_letters_of_the_name(create, connection, email, initials):
    body = created(create({"connection": DB, "email": email, "password": STRONG_PASSWORD}))

    assert body["picture"] == gravatar(email, initials)


@pytest.mark.parametrize(("name", "initials"), [("John3 Doe", "jd"), ("ada lovelace king", "al"), ("Zoë", "zo")])
def test_default_picture_uses_initials_of_the_given_name(create, connection, name, initials):
    body = created(create({"connection": DB, "email": "john@example.com", "password": STRONG_PASSWORD, "name": name}))

    assert body["name"] == name
    assert body["picture"] == gravatar("john@example.com", initials)


def test_email_is_lower_cased_everywhere(create, connection):
    body = created(create({"connection": DB, "email": "Chuck.Norris@Example.COM", "password": STRONG_PASSWORD}))

    assert body["email"] == "chuck.norris@example.com"
    assert body["name"] == "chuck.norris@example.com"
    assert body["nickname"] == "chuck.norris"
    assert body["picture"] == gravatar("chuck.norris@example.com", "ch")
    assert User.objects.get().email == "chuck.norris@example.com"


def test_default_chuck_picture_is_the_same_whatever_the_email_case(create, connection):
    body = created(create({"connection": DB, "email": "CHUCK@EXAMPLE.COM", "password": STRONG_PASSWORD}))

    assert body["picture"] == CHUCK_PICTURE


# --- given values are echoed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("given_name", "Chuck"),
        ("family_name", "Norris"),
        ("name", "Chuck Norris"),
        ("nickname", "Chucky"),
        ("picture", "https://www.example.com/picture.jpg"),
        ("user_metadata", {"hobby": "karate", "nested": {"list": [1, "two", None, True]}}),
        ("app_metadata", {"roles": ["admin"], "plan": None}),
        ("user_metadata", {}),
        ("email_verified", True),
        ("email_verified", False),
        ("blocked", True),
        ("blocked", False),
    ],
)
def test_given_value_is_echoed(create, connection, field, value):
    body = created(create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD, field: value}))

    assert body[field] == value


def test_blocked_is_left_out_unless_sent(create, connection):
    body = created(create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD}))

    assert "blocked" not in body


def test_verify_email_and_password_are_never_echoed(create, connection):
    body = created(
        create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD, "verify_email": True})
    )

    assert "verify_email" not in body
    assert "password" not in body
    assert body["email_verified"] is False


# --- the stored password ----------------------------------------------------------------------------


def test_password_is_stored_as_a_verifiable_bcrypt_hash(create, connection):
    created(create({"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD}))

    stored = password_hash_of(User.objects.get())
    assert stored.startswith("$2b$")
    assert stored != STRONG_PASSWORD
    assert STRONG_PASSWORD not in stored
    assert verify_password(STRONG_PASSWORD, stored)
    assert not verify_password(STRONG_PASSWORD.lower(), stored)
    assert not verify_password(STRONG_PASSWORD + "x", stored)


def test_same_password_gets_a_different_salt(create, connection):
    created(create({"connection": DB, "email": "one@example.com", "password": STRONG_PASSWORD}))
    created(create({"connection": DB, "email": "two@example.com", "password": STRONG_PASSWORD}))

    first, second = User.objects.values_list("password_hash", flat=True)
    assert first != second


@pytest.mark.parametrize(
    ("name", "initials"),
    [
        ("chuck@example.com", "ch"),
        ("testaccuser@acceptance.test.com", "te"),
        ("John3 Doe", "jd"),
        ("a@example.com", "a"),
        ("o'brien@example.com", "ob"),
        ("+14155550123", "14"),
        ("山田 太郎", "default"),
    ],
)
def test_avatar_initials_are_plain_letters(name, initials):
    from users.profile import avatar_initials

    assert avatar_initials(name) == initials


@pytest.mark.parametrize(
    ("instant", "shown"),
    [
        (datetime(2023, 1, 25, 19, 0, 26, 187_999, tzinfo=UTC), "2023-01-25T19:00:26.187Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
        (datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), "0999-12-31T23:59:59.999Z"),
    ],
)
def test_timestamps_have_four_digits_of_year_and_milliseconds(instant, shown):
    # strftime's %Y writes a year below 1000 without its zeros on glibc ("1-01-01T..."), which no client parses.
    assert format_timestamp(instant) == shown
