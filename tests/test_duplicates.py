"""One user per e-mail, username and phone number in a connection, and one per user_id: 409 otherwise.

The API answers Auth0's 409; the service raises ``UserAlreadyExists``; and the database constraints refuse a
case variant even when the service is bypassed.
"""

from datetime import UTC, datetime
from typing import TypedDict, Unpack

import pytest
from django.db import IntegrityError, transaction

from core.actors import SYSTEM
from tests.helpers import DB, STRONG_PASSWORD
from users.errors import UserAlreadyExists
from users.models import User
from users.serializers import NewUser
from users.services import create_user

pytestmark = pytest.mark.django_db

PHONE = "+14258831929"
CONFLICT = {
    "statusCode": 409,
    "error": "Conflict",
    "message": "The user already exists.",
    "errorCode": "auth0_idp_error",
    "errors": [],
}


def assert_conflict(response, *, rows: int = 1) -> None:
    assert response.status_code == 409, response.json()
    assert response.json() == CONFLICT
    assert User.objects.count() == rows


class OtherFields(TypedDict, total=False):
    """The fields besides e-mail and connection these tests give a user."""

    username: str
    user_id: str
    name: str


def user_body(email: str, connection: str = DB, **fields: Unpack[OtherFields]) -> NewUser:
    return {"connection": connection, "email": email, "password": STRONG_PASSWORD, **fields}


# --- through the API ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("chuck@example.com", "chuck@example.com"),
        ("chuck@example.com", "CHUCK@EXAMPLE.COM"),
        ("chuck@example.com", "Chuck@Example.Com"),
        ("Chuck@Example.Com", "chuck@example.com"),
        ("CHUCK@EXAMPLE.COM", "chuck@EXAMPLE.com"),
    ],
)
def test_create_rejects_duplicate_email_in_any_case(create, connection, first, second):
    assert create(user_body(first)).status_code == 201

    assert_conflict(create(user_body(second)))


@pytest.mark.parametrize(
    ("first", "second"),
    [("chuck", "chuck"), ("chuck", "CHUCK"), ("ChUcK", "cHuCk")],
)
def test_create_rejects_duplicate_username_in_any_case(create, make_connection, first, second):
    make_connection(name="with-username", requires_username=True)
    assert create(user_body("one@example.com", "with-username", username=first)).status_code == 201

    assert_conflict(create(user_body("two@example.com", "with-username", username=second)))


def test_create_rejects_duplicate_phone_number(create, make_connection):
    make_connection(name="sms", strategy="sms")
    assert create({"connection": "sms", "phone_number": PHONE}).status_code == 201

    assert_conflict(create({"connection": "sms", "phone_number": PHONE}))


def test_create_rejects_duplicate_email_on_passwordless_email_connection(create, make_connection):
    make_connection(name="email", strategy="email")
    assert create({"connection": "email", "email": "chuck@example.com"}).status_code == 201

    assert_conflict(create({"connection": "email", "email": "Chuck@Example.com"}))


def test_create_rejects_duplicate_external_user_id(create, connection):
    assert create(user_body("one@example.com", user_id="abc123")).status_code == 201

    assert_conflict(create(user_body("two@example.com", user_id="abc123")))


def test_create_rejects_external_user_id_taken_in_another_connection_of_the_same_strategy(create, make_connection):
    # user_id is "auth0|abc123" in both: it names one user in the whole directory.
    make_connection(name="first")
    make_connection(name="second")
    assert create(user_body("one@example.com", "first", user_id="abc123")).status_code == 201

    assert_conflict(create(user_body("two@example.com", "second", user_id="abc123")))


def test_create_allows_same_external_user_id_for_different_strategies(create, make_connection):
    make_connection(name="db")
    make_connection(name="sms", strategy="sms")

    assert create(user_body("one@example.com", "db", user_id="abc123")).status_code == 201
    response = create({"connection": "sms", "phone_number": PHONE, "user_id": "abc123"})

    assert response.status_code == 201, response.json()
    assert set(User.objects.values_list("user_id", flat=True)) == {"auth0|abc123", "sms|abc123"}


def test_create_allows_same_email_in_two_connections(create, make_connection):
    make_connection(name="first")
    make_connection(name="second")
    make_connection(name="email", strategy="email")

    assert create(user_body("chuck@example.com", "first")).status_code == 201
    assert create(user_body("CHUCK@example.com", "second")).status_code == 201
    assert create({"connection": "email", "email": "chuck@example.com"}).status_code == 201
    assert User.objects.filter(email="chuck@example.com").count() == 3


def test_create_allows_same_username_in_two_connections(create, make_connection):
    make_connection(name="first", requires_username=True)
    make_connection(name="second", requires_username=True)

    assert create(user_body("one@example.com", "first", username="chuck")).status_code == 201
    assert create(user_body("two@example.com", "second", username="chuck")).status_code == 201


def test_create_allows_same_phone_number_in_two_sms_connections(create, make_connection):
    make_connection(name="sms", strategy="sms")
    make_connection(name="sms2", strategy="sms")

    assert create({"connection": "sms", "phone_number": PHONE}).status_code == 201
    assert create({"connection": "sms2", "phone_number": PHONE}).status_code == 201


def test_conflict_keeps_the_first_user_unchanged(create, connection):
    first = create(user_body("chuck@example.com", name="First")).json()

    assert_conflict(create(user_body("CHUCK@example.com", name="Second")))
    assert User.objects.get().user_id == first["user_id"]
    assert User.objects.get().name == "First"


# --- the service ----------------------------------------------------------------------------------


@pytest.mark.parametrize("second", ["chuck@example.com", "CHUCK@example.com", "chuck@EXAMPLE.COM"])
def test_create_user_raises_user_already_exists_for_duplicate_email(connection, second):
    create_user(data=user_body("chuck@example.com"), actor=SYSTEM)

    with pytest.raises(UserAlreadyExists) as excinfo:
        create_user(data=user_body(second), actor=SYSTEM)

    assert (excinfo.value.status, excinfo.value.code, excinfo.value.message) == (
        409,
        "auth0_idp_error",
        "The user already exists.",
    )
    assert User.objects.count() == 1


def test_create_user_raises_user_already_exists_for_duplicate_username(make_connection):
    make_connection(name="with-username", requires_username=True)
    create_user(data=user_body("one@example.com", "with-username", username="chuck"), actor=SYSTEM)

    with pytest.raises(UserAlreadyExists):
        create_user(data=user_body("two@example.com", "with-username", username="Chuck"), actor=SYSTEM)
    assert User.objects.count() == 1


def test_create_user_raises_user_already_exists_for_duplicate_phone_number(make_connection):
    make_connection(name="sms", strategy="sms")
    create_user(data={"connection": "sms", "phone_number": PHONE}, actor=SYSTEM)

    with pytest.raises(UserAlreadyExists):
        create_user(data={"connection": "sms", "phone_number": PHONE}, actor=SYSTEM)
    assert User.objects.count() == 1


# --- the database constraints, bypassing the service ------------------------------------------------


def insert(connection, **fields) -> User:
    now = datetime.now(UTC)
    defaults = {"user_id": f"auth0|{User.objects.count():024x}", "created_at": now, "updated_at": now}
    return User.objects.create(connection=connection, **{**defaults, **fields})


@pytest.mark.parametrize(
    ("field", "first", "second"),
    [
        ("email", "chuck@example.com", "CHUCK@example.com"),
        ("email", "Chuck@Example.com", "chuck@example.COM"),
        ("username", "chuck", "CHUCK"),
        ("phone_number", PHONE, PHONE),
    ],
)
def test_database_refuses_duplicate_inserted_without_the_service(connection, field, first, second):
    insert(connection, user_id="auth0|1", **{field: first})

    with pytest.raises(IntegrityError), transaction.atomic():
        insert(connection, user_id="auth0|2", **{field: second})

    assert User.objects.count() == 1


def test_database_refuses_duplicate_user_id_across_connections(make_connection):
    first, second = make_connection(name="first"), make_connection(name="second")
    insert(first, user_id="auth0|abc123", email="one@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        insert(second, user_id="auth0|abc123", email="two@example.com")


def test_database_allows_same_email_in_another_connection(make_connection):
    first, second = make_connection(name="first"), make_connection(name="second")
    insert(first, user_id="auth0|1", email="chuck@example.com")

    insert(second, user_id="auth0|2", email="CHUCK@example.com")

    assert User.objects.count() == 2


def test_database_allows_many_users_without_email_username_or_phone(connection):
    # The uniqueness constraints are partial: absent values do not collide.
    for index in range(3):
        insert(connection, user_id=f"auth0|{index}")

    assert User.objects.count() == 3
