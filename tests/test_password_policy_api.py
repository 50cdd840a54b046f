"""A database connection's password policies, applied by ``POST /api/v2/users``.

The rules themselves are unit-tested in ``test_password_policy.py``; here each level is probed at its
boundaries through the API, with the whole error body, and a refused password never leaves a user behind.
"""

from typing import Any

import pytest

from tests.helpers import management_error
from users.models import User

pytestmark = pytest.mark.django_db

LOWER = "lower case letters (a-z)"
UPPER = "upper case letters (A-Z)"
NUMBERS = "numbers (i.e. 0-9)"
THREE_OF_FOUR = (
    "containsAtLeast",
    "Contain at least 3 of the following 4 types of characters: lower case letters (a-z), "
    "upper case letters (A-Z), numbers (i.e. 0-9), special characters (e.g. !@#$%^&*)",
)
IDENTICAL = ("identicalChars", 'No more than 2 identical characters in a row (e.g., "aaa" not allowed)')
DICTIONARY = ("password_dictionary", "Password is not allowed, it might be too common.")
PERSONAL_INFO = ("password_no_personal_info", "Password contains user information")


def length(n: int) -> tuple[str, str]:
    return ("lengthAtLeast", f"At least {n} characters in length")


def should_contain(*missing: str) -> tuple[str, str]:
    return ("shouldContain", "Should contain: " + ", ".join(missing))


def refusal(message: str, *failures: tuple[str, str]) -> dict:
    errors = [{"field": "password", "code": code, "message": text} for code, text in failures]
    return management_error(400, message, "invalid_password", errors)


def too_weak(*failures: tuple[str, str]) -> dict:
    return refusal("PasswordStrengthError: Password is too weak", *failures)


def too_common(*failures: tuple[str, str]) -> dict:
    return refusal("PasswordDictionaryError: Password is too common", *failures)


def personal(*failures: tuple[str, str]) -> dict:
    return refusal("PasswordNoUserInfoError: Password contains user information", *failures)


def post(create, connection: str, password: str, **fields) -> Any:
    return create({"connection": connection, "email": "chuck@example.com", "password": password, **fields})


def assert_created(response) -> None:
    assert response.status_code == 201, response.json()
    assert User.objects.count() == 1


def assert_refused(response, body: dict) -> None:
    assert response.status_code == 400, response.json()
    assert response.json() == body
    assert not User.objects.exists()


# --- strength levels ------------------------------------------------------------------------------

LEVEL_CASES = [
    # none: one character is enough (an empty password never gets past the schema, see below)
    ("none", "a", []),
    ("none", " ", []),
    # low: six characters, any kind
    ("low", "abcde", [length(6)]),
    ("low", "abcdef", []),
    ("low", "123456", []),
    # fair: eight characters with lower case, upper case and digits, all three
    ("fair", "Abcde1x", [length(8)]),
    ("fair", "Abcdef1x", []),
    ("fair", "abcdef1x", [should_contain(UPPER)]),
    ("fair", "ABCDEF1X", [should_contain(LOWER)]),
    ("fair", "Abcdefgx", [should_contain(NUMBERS)]),
    ("fair", "abcdef1!", [should_contain(UPPER)]),  # a special character stands in for nothing
    ("fair", "!!!!!!!!", [should_contain(LOWER, UPPER, NUMBERS)]),
    ("fair", "Ab1", [length(8)]),
    ("fair", "ab", [length(8), should_contain(UPPER, NUMBERS)]),
    # good: eight characters with three of the four classes
    ("good", "Abcde1x", [length(8)]),
    ("good", "Abcdef1x", []),
    ("good", "abcdef1!", []),
    ("good", "ABCDEF1!", []),
    ("good", "Abcdefg!", []),
    ("good", "Abc defg", []),  # a space is a special character
    ("good", "abcdefg1", [THREE_OF_FOUR]),
    ("good", "abcdefg!", [THREE_OF_FOUR]),
    ("good", "ABCDEFG1", [THREE_OF_FOUR]),
    ("good", "12345678", [THREE_OF_FOUR]),
    ("good", "Ab1!", [length(8)]),
    ("good", "abc", [length(8), THREE_OF_FOUR]),
    # excellent: ten characters, three of four classes, no more than two identical characters in a row
    ("excellent", "Abcdefgh1", [length(10)]),
    ("excellent", "Abcdefghi1", []),
    ("excellent", "abcdefghi1", [THREE_OF_FOUR]),
    ("excellent", "Abbcdefgh1", []),
    ("excellent", "Abbbcdefg1", [IDENTICAL]),
    ("excellent", "AAAbcdefg1", [IDENTICAL]),
    ("excellent", "Abcdefg111", [IDENTICAL]),
    ("excellent", "Abcdefg!!!", [IDENTICAL]),
    ("excellent", "AaAbcdefg1", []),  # identical means the same character, case included
    ("excellent", "aaab", [length(10), THREE_OF_FOUR, IDENTICAL]),
]


@pytest.mark.parametrize(("level", "password", "failures"), LEVEL_CASES)
def test_password_policy_level_boundaries(create, make_connection, level, password, failures):
    make_connection(name="db", passwordPolicy=level)

    response = post(create, "db", password)

    if failures:
        assert_refused(response, too_weak(*failures))
    else:
        assert_created(response)


def test_connection_without_explicit_policy_uses_good(create, connection):
    assert connection.options["passwordPolicy"] == "good"

    assert_refused(post(create, connection.name, "abcdefgh"), too_weak(THREE_OF_FOUR))


def test_null_password_policy_means_none(create, make_connection):
    make_connection(name="db", passwordPolicy=None)

    assert_created(post(create, "db", "a"))


def test_empty_password_is_refused_by_the_schema_before_any_policy(create, make_connection):
    make_connection(name="db", passwordPolicy="none")

    response = post(create, "db", "")

    assert response.status_code == 400
    assert response.json()["errorCode"] == "invalid_body"
    assert [error["field"] for error in response.json()["errors"]] == ["password"]
    assert not User.objects.exists()


# --- password_complexity_options.min_length ------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "min_length", "password", "failures"),
    [
        # raised above the level's own minimum
        ("good", 12, "Abcdefgh1!x", [length(12)]),
        ("good", 12, "Abcdefgh1!xy", []),
        ("low", 10, "abcdefghi", [length(10)]),
        ("low", 10, "abcdefghij", []),
        ("none", 3, "ab", [length(3)]),
        ("none", 3, "abc", []),
        ("excellent", 72, "Ab1!" * 17 + "Ab1", [length(72)]),  # 72 bytes: bcrypt's limit
        ("excellent", 72, "Ab1!" * 18, []),
        # lowered below it: the level's other rules still apply
        ("good", 4, "Ab1", [length(4)]),
        ("good", 4, "Ab1x", []),
        ("good", 4, "abcd", [THREE_OF_FOUR]),
        ("fair", 1, "A1b", []),
        ("fair", 1, "ab", [should_contain(UPPER, NUMBERS)]),
        ("excellent", 6, "Ab1xy", [length(6)]),
        ("excellent", 6, "Ab1xyz", []),
        ("excellent", 6, "Ab1xxx", [IDENTICAL]),
    ],
)
def test_min_length_supersedes_the_levels_minimum(create, make_connection, level, min_length, password, failures):
    make_connection(name="db", passwordPolicy=level, password_complexity_options={"min_length": min_length})

    response = post(create, "db", password)

    if failures:
        assert_refused(response, too_weak(*failures))
    else:
        assert_created(response)


# --- dictionary -------------------------------------------------------------------------------------


@pytest.fixture
def dictionary_connection(make_connection):
    return make_connection(
        name="db", password_dictionary={"enable": True, "dictionary": ["Tr0ub4dor&3", "Corr3ct-Horse"]}
    )


@pytest.mark.parametrize("password", ["Password1", "pASSWORD1", "Qwerty123", "Welcome1", "Iloveyou1"])
def test_dictionary_refuses_common_passwords_in_any_case(create, dictionary_connection, password):
    # Each one passes the "good" strength level on its own; only the dictionary refuses it.
    assert_refused(post(create, "db", password), too_common(DICTIONARY))


@pytest.mark.parametrize("password", ["Tr0ub4dor&3", "tr0ub4dor&3", "TR0UB4DOR&3", "cORR3CT-hORSE"])
def test_dictionary_refuses_custom_entries_in_any_case(create, dictionary_connection, password):
    assert_refused(post(create, "db", password), too_common(DICTIONARY))


@pytest.mark.parametrize("password", ["Tr0ub4dor&3x", "xPassword1", "Str0ng!Passw0rd"])
def test_dictionary_compares_the_whole_password(create, dictionary_connection, password):
    assert_created(post(create, "db", password))


def test_dictionary_failure_is_listed_with_strength_failures(create, dictionary_connection):
    # The first failing policy names the error; every failed rule is listed.
    assert_refused(post(create, "db", "password"), too_weak(THREE_OF_FOUR, DICTIONARY))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"password_dictionary": {"enable": False, "dictionary": ["Tr0ub4dor&3"]}},
    ],
)
@pytest.mark.parametrize("password", ["Password1", "Tr0ub4dor&3"])
def test_dictionary_off_allows_common_passwords(create, make_connection, options, password):
    make_connection(name="db", **options)

    assert_created(post(create, "db", password))


# --- no personal information ----------------------------------------------------------------------


@pytest.fixture
def personal_info_connection(make_connection):
    return make_connection(
        name="db",
        requires_username=True,
        validation={"username": {"min": 1, "max": 30}},
        password_no_personal_info={"enable": True},
    )


PERSONAL_CASES = [
    ("Zebediah#2024", {"name": "Zebediah"}),
    ("zEBEDIAH#2024", {"name": "Zebediah"}),
    ("Zebediah Smith#1", {"name": "Zebediah Smith"}),
    ("xQUIXOTE#1", {"username": "Quixote"}),
    ("MyGrumpyCat#1", {"nickname": "grumpycat"}),
    ("ChuckNorris!9", {"email": "chucknorris@example.com"}),
    ("Esmeralda#2024", {"user_metadata": {"first": "Esmeralda"}}),
    ("Fitzgerald#2024", {"user_metadata": {"last": "Fitzgerald"}}),
    ("Ottoline#2024", {"user_metadata": {"name": "Ottoline"}}),
]


@pytest.mark.parametrize(("password", "fields"), PERSONAL_CASES)
def test_no_personal_info_refuses_passwords_containing_user_data(create, personal_info_connection, password, fields):
    body = {"username": "someone", "email": "someone@example.com", **fields}

    assert_refused(post(create, "db", password, **body), personal(PERSONAL_INFO))


@pytest.mark.parametrize(
    "options",
    [{}, {"password_no_personal_info": {"enable": False}}],
)
@pytest.mark.parametrize(("password", "fields"), PERSONAL_CASES)
def test_no_personal_info_off_allows_user_data_in_password(create, make_connection, options, password, fields):
    make_connection(name="db", requires_username=True, validation={"username": {"min": 1, "max": 30}}, **options)
    body = {"username": "someone", "email": "someone@example.com", **fields}

    assert_created(post(create, "db", password, **body))


def test_no_personal_info_ignores_values_shorter_than_three_characters(create, personal_info_connection):
    response = post(create, "db", "Jo!Secret99", username="someone", name="Jo", nickname="J")

    assert_created(response)


def test_no_personal_info_comes_after_dictionary(create, make_connection):
    make_connection(
        name="db",
        password_dictionary={"enable": True},
        password_no_personal_info={"enable": True},
    )

    response = post(create, "db", "Password1", name="Password")

    assert_refused(response, too_common(DICTIONARY, PERSONAL_INFO))
