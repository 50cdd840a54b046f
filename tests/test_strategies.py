"""Which fields each strategy allows and requires, and a database connection's username rules.

Everything goes through ``POST /api/v2/users`` with a real token. Each refusal is a whole 400 ``invalid_body``
body naming the field, and leaves no user behind.
"""

import re

import pytest

from connections.strategies import USERNAME_SYMBOLS
from tests.helpers import DB, STRONG_PASSWORD, invalid_body
from users.models import User

pytestmark = pytest.mark.django_db

PHONE = "+14258831929"
OBJECT_ID = re.compile(r"[0-9a-f]{24}")

MISSING_EMAIL = ("email", "OBJECT_MISSING_REQUIRED_PROPERTY", '"email" is required')
MISSING_PASSWORD = ("password", "OBJECT_MISSING_REQUIRED_PROPERTY", '"password" is required')
MISSING_USERNAME = (
    "username",
    "OBJECT_MISSING_REQUIRED_PROPERTY",
    "Payload validation error: 'Missing required property: username'.",
)
MISSING_PHONE = (
    "phone_number",
    "OBJECT_MISSING_REQUIRED_PROPERTY",
    "Payload validation error: 'Missing required property: phone_number'.",
)
USERNAME_NOT_ALLOWED = (
    "username",
    "USERNAME_NOT_ALLOWED",
    "Cannot set username for connection without requires_username.",
)
USERNAME_IS_EMAIL = ("username", "USERNAME_IS_EMAIL", "The username cannot be an email address.")


def not_allowed(field: str, strategy: str) -> tuple[str, str, str]:
    return (field, "NOT_ALLOWED_FOR_STRATEGY", f"Cannot set {field} for connection with strategy {strategy}.")


def username_length(low: int, high: int) -> tuple[str, str, str]:
    return (
        "username",
        "USERNAME_LENGTH",
        f"The username must be between {low} and {high} characters long.",
    )


def username_characters(bad: str) -> tuple[str, str, str]:
    return (
        "username",
        "USERNAME_CHARACTERS",
        f"The username may only contain letters a-z, digits and @ ^ $ . ! ` - # + ' ~ _ (not allowed: {bad}).",
    )


def assert_refused(response, *errors: tuple[str, str, str]) -> None:
    assert response.status_code == 400, response.json()
    assert response.json() == invalid_body(*errors)
    assert not User.objects.exists()


@pytest.fixture
def username_connection(make_connection):
    """A database connection that requires a username, with Auth0's default 1..15 limits."""
    return make_connection(name="with-username", requires_username=True)


def with_username(username: str, connection: str = "with-username") -> dict:
    return {
        "connection": connection,
        "email": "chuck@example.com",
        "password": STRONG_PASSWORD,
        "username": username,
    }


# --- auth0: e-mail and password ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("omitted", "errors"),
    [
        (("email",), [MISSING_EMAIL]),
        (("password",), [MISSING_PASSWORD]),
        (("email", "password"), [MISSING_EMAIL, MISSING_PASSWORD]),
    ],
)
def test_database_connection_requires_email_and_password(create, connection, omitted, errors):
    body = {"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD}
    for field in omitted:
        del body[field]

    assert_refused(create(body), *errors)


def test_database_connection_refuses_phone_number(create, connection):
    response = create(
        {"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD, "phone_number": PHONE}
    )

    assert_refused(response, not_allowed("phone_number", "auth0"))


def test_database_connection_reports_every_problem_at_once(create, connection):
    response = create({"connection": DB, "phone_number": PHONE, "username": "chuck"})

    assert_refused(
        response,
        not_allowed("phone_number", "auth0"),
        MISSING_EMAIL,
        MISSING_PASSWORD,
        USERNAME_NOT_ALLOWED,
    )


# --- auth0: username ----------------------------------------------------------------------------------


def test_username_refused_on_connection_without_requires_username(create, connection):
    response = create(
        {"connection": DB, "email": "chuck@example.com", "password": STRONG_PASSWORD, "username": "chuck"}
    )

    assert_refused(response, USERNAME_NOT_ALLOWED)


def test_username_refused_even_when_connection_sets_username_limits_without_requiring_it(create, make_connection):
    make_connection(name="limits-only", validation={"username": {"min": 1, "max": 30}})

    assert_refused(create(with_username("chuck", "limits-only")), USERNAME_NOT_ALLOWED)


def test_username_required_when_connection_requires_it(create, username_connection):
    response = create({"connection": "with-username", "email": "chuck@example.com", "password": STRONG_PASSWORD})

    assert_refused(response, MISSING_USERNAME)


def test_username_accepted_when_connection_requires_it(create, username_connection):
    response = create(with_username("chuck"))

    assert response.status_code == 201, response.json()
    assert response.json()["username"] == "chuck"
    assert User.objects.get().username == "chuck"


@pytest.mark.parametrize(
    ("username", "accepted"),
    [
        ("a", True),
        ("a" * 15, True),
        ("a" * 16, False),
        ("a" * 40, False),
    ],
)
def test_username_length_defaults_to_one_to_fifteen(create, username_connection, username, accepted):
    response = create(with_username(username))

    if accepted:
        assert response.status_code == 201, response.json()
    else:
        assert_refused(response, username_length(1, 15))


@pytest.mark.parametrize(
    ("username", "accepted"),
    [
        ("a", False),
        ("ab", False),
        ("abc", True),
        ("a" * 20, True),
        ("a" * 21, False),
    ],
)
def test_username_length_follows_connection_validation(create, make_connection, username, accepted):
    make_connection(name="custom", requires_username=True, validation={"username": {"min": 3, "max": 20}})

    response = create(with_username(username, "custom"))

    if accepted:
        assert response.status_code == 201, response.json()
    else:
        assert_refused(response, username_length(3, 20))


def test_username_length_up_to_128_when_connection_allows_it(create, make_connection):
    make_connection(name="long", requires_username=True, validation={"username": {"min": 128, "max": 128}})

    assert create(with_username("a" * 127, "long")).json()["errors"] == [
        dict(zip(("field", "code", "message"), username_length(128, 128), strict=True))
    ]
    assert create(with_username("a" * 128, "long")).status_code == 201


@pytest.mark.parametrize(
    "username",
    [
        *(f"a{symbol}b" for symbol in USERNAME_SYMBOLS),
        "@^$.!`-#+'~_",
        "0123456789",
        "abcxyz",
        "jo@hn",  # "@" is fine as long as the whole is not an e-mail address
        "john@localhost-",
    ],
)
def test_username_accepts_auth0_alphabet(create, username_connection, username):
    response = create(with_username(username))

    assert response.status_code == 201, response.json()
    assert response.json()["username"] == username.lower()


def test_username_alphabet_is_exactly_auth0s_symbols():
    # Guards the parametrization above: Auth0's documented list, nothing more, nothing less.
    assert sorted(USERNAME_SYMBOLS) == sorted("@^$.!`-#+'~_")


@pytest.mark.parametrize(
    ("username", "bad"),
    [
        ("josé", "é"),
        ("ünal", "ü"),
        ("john doe", " "),
        ("tab\tbed", "\t"),
        ("a%b", "%"),
        ("a&b", "&"),
        ("a*b", "*"),
        ("a(b)", "()"),
        ("a/b", "/"),
        ("a\\b", "\\"),
        ("a,b", ","),
        ("a;b", ";"),
        ("a:b", ":"),
        ("a<b>", "<>"),
        ("a=b", "="),
        ("a?b", "?"),
        ("a[b]", "[]"),
        ("a{b}", "{}"),
        ("a|b", "|"),
        ('a"b', '"'),
        ("\u0430dmin", "\u0430"),  # Cyrillic small a, a homoglyph of "a"
        ("user٣", "٣"),  # Arabic-Indic digit three
        ("\uff55ser", "\uff55"),  # full-width "u"
        ("a€b", "€"),
        ("ab%&", "%&"),
    ],
)
def test_username_refuses_other_characters(create, username_connection, username, bad):
    assert_refused(create(with_username(username)), username_characters(bad))


@pytest.mark.parametrize("username", ["jo@ex.co", "a.b@example.org", "CHUCK@EXAMPLE.COM", "x@localhost"])
def test_username_refuses_email_address(create, make_connection, username):
    make_connection(name="long", requires_username=True, validation={"username": {"min": 1, "max": 40}})

    assert_refused(create(with_username(username, "long")), USERNAME_IS_EMAIL)


def test_username_reports_length_and_characters_together(create, username_connection):
    assert_refused(
        create(with_username("josé " * 4)),
        username_length(1, 15),
        username_characters(" é"),
    )


def test_username_is_lower_cased(create, username_connection):
    response = create(with_username("ChUcK.NoRRis"))

    assert response.status_code == 201, response.json()
    assert response.json()["username"] == "chuck.norris"
    assert User.objects.get().username == "chuck.norris"


# --- sms -------------------------------------------------------------------------------------------


@pytest.fixture
def sms(make_connection):
    return make_connection(name="sms", strategy="sms")


@pytest.fixture
def email_connection(make_connection):
    return make_connection(name="email", strategy="email")


def test_sms_requires_phone_number(create, sms):
    assert_refused(create({"connection": "sms"}), MISSING_PHONE)


@pytest.mark.parametrize(
    ("field", "value"),
    [("password", STRONG_PASSWORD), ("email", "chuck@example.com"), ("username", "chuck")],
)
def test_sms_refuses_database_fields(create, sms, field, value):
    response = create({"connection": "sms", "phone_number": PHONE, field: value})

    assert_refused(response, not_allowed(field, "sms"))


def test_sms_reports_every_refused_field(create, sms):
    response = create({"connection": "sms", "email": "chuck@example.com", "password": STRONG_PASSWORD, "username": "c"})

    assert_refused(
        response,
        not_allowed("password", "sms"),
        not_allowed("email", "sms"),
        not_allowed("username", "sms"),
        MISSING_PHONE,
    )


def test_sms_user_is_created_with_phone_number_as_name(create, sms):
    response = create({"connection": "sms", "phone_number": PHONE})

    assert response.status_code == 201, response.json()
    body = response.json()
    provider, _, local_id = body["user_id"].partition("|")
    assert provider == "sms"
    assert OBJECT_ID.fullmatch(local_id)
    assert body["identities"] == [{"connection": "sms", "user_id": local_id, "provider": "sms", "isSocial": False}]
    assert body["phone_number"] == PHONE
    assert body["phone_verified"] is False
    assert body["name"] == PHONE
    assert "email" not in body
    assert "email_verified" not in body
    assert User.objects.get().password_hash is None


def test_sms_user_echoes_phone_verified(create, sms):
    response = create({"connection": "sms", "phone_number": PHONE, "phone_verified": True})

    assert response.status_code == 201, response.json()
    assert response.json()["phone_verified"] is True


# --- email -----------------------------------------------------------------------------------------


def test_email_connection_requires_email(create, email_connection):
    assert_refused(create({"connection": "email"}), MISSING_EMAIL)


@pytest.mark.parametrize(
    ("field", "value"),
    [("password", STRONG_PASSWORD), ("phone_number", PHONE), ("username", "chuck")],
)
def test_email_connection_refuses_other_fields(create, email_connection, field, value):
    response = create({"connection": "email", "email": "chuck@example.com", field: value})

    assert_refused(response, not_allowed(field, "email"))


def test_email_user_is_created_without_password(create, email_connection):
    response = create({"connection": "email", "email": "Chuck@Example.com"})

    assert response.status_code == 201, response.json()
    body = response.json()
    provider, _, local_id = body["user_id"].partition("|")
    assert provider == "email"
    assert OBJECT_ID.fullmatch(local_id)
    assert body["identities"] == [{"connection": "email", "user_id": local_id, "provider": "email", "isSocial": False}]
    assert body["email"] == "chuck@example.com"
    assert body["email_verified"] is False
    assert body["name"] == "chuck@example.com"
    assert body["nickname"] == "chuck"
    assert "phone_number" not in body
    assert User.objects.get().password_hash is None
