"""The users admin meets exactly the API's rules: connection first, strategy fields, policy errors on fields."""

from __future__ import annotations

import pytest

from audit.models import Event
from core.hashing import bcrypt_verify as verify_password
from tests.helpers import STRONG_PASSWORD, password_hash_of
from users.models import User

pytestmark = pytest.mark.django_db

ADD = "/admin/users/user/add/"


def test_adding_asks_for_the_connection_first(admin_client, connection, make_connection):
    make_connection(name="sms", strategy="sms")
    page = admin_client.get(ADD)
    assert page.status_code == 200
    assert "Choose a connection" in page.text
    assert connection.name in page.text


def test_the_form_shows_only_the_strategys_fields(admin_client, connection, make_connection):
    database = admin_client.get(f"{ADD}?connection={connection.pk}")
    assert 'name="email"' in database.text and 'name="password"' in database.text
    assert 'name="phone_number"' not in database.text and 'name="username"' not in database.text
    sms = make_connection(name="sms", strategy="sms")
    page = admin_client.get(f"{ADD}?connection={sms.pk}")
    assert 'name="phone_number"' in page.text
    assert 'name="password"' not in page.text and 'name="email"' not in page.text


def test_a_weak_password_is_shown_on_its_field_then_the_fixed_form_lands_on_the_user(admin_client, connection):
    url = f"{ADD}?connection={connection.pk}"
    form = {
        "email": "ann@example.com",
        "password": "weak",
        "verify_email": "on",
        "user_metadata": "",
        "app_metadata": "",
    }
    refused = admin_client.post(url, form)
    assert refused.status_code == 200
    assert "At least 8 characters in length" in refused.context["adminform"].form.errors["password"][0]
    assert not User.objects.exists()

    created = admin_client.post(url, {**form, "password": STRONG_PASSWORD, "user_metadata": '{"plan": "gold"}'})
    user = User.objects.get()
    assert created.status_code == 302
    assert created["Location"] == f"/admin/users/user/{user.pk}/change/"
    assert user.email == "ann@example.com" and user.user_metadata == {"plan": "gold"}
    assert verify_password(STRONG_PASSWORD, password_hash_of(user))
    event = Event.objects.get(description="Create a User")
    assert (event.actor_kind, event.actor_id) == ("admin", "admin")


def test_schema_and_duplicate_errors_are_form_errors(admin_client, connection):
    url = f"{ADD}?connection={connection.pk}"
    base = {"email": "ann@example.com", "password": STRONG_PASSWORD, "user_metadata": "", "app_metadata": ""}
    bad = admin_client.post(url, {**base, "email": "not-an-email", "picture": "nope", "user_metadata": "[1]"})
    errors = bad.context["adminform"].form.errors
    assert set(errors) >= {"email", "picture", "user_metadata"}
    admin_client.post(url, base)
    duplicate = admin_client.post(url, {**base, "email": "ANN@example.com"})
    assert "The user already exists." in str(duplicate.context["adminform"].form.non_field_errors())
    assert User.objects.count() == 1


def test_metadata_nested_past_what_json_reads_is_a_form_error_not_a_500(admin_client, connection, create):
    """Python's json gives up with RecursionError (not a JSON error) some thousand levels down; 100,000 brackets fit
    in a 200 KB form and once ended the add and change forms with 500."""
    deep = "[" * 100_000 + "]" * 100_000
    too_deep = ["Object is nested too deeply (more than 10 levels)"]
    added = admin_client.post(
        f"{ADD}?connection={connection.pk}",
        {"email": "ann@example.com", "password": STRONG_PASSWORD, "user_metadata": deep, "app_metadata": ""},
    )
    assert added.status_code == 200
    assert added.context["adminform"].form.errors == {"user_metadata": too_deep}
    assert f">\n{deep}</textarea>" in added.text  # shown again as typed, not quoted as a JSON string
    assert not User.objects.exists()
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    user = User.objects.get()
    form = {"email": "ann@example.com", "picture": user.picture, "user_metadata": "", "app_metadata": deep}
    changed = admin_client.post(f"/admin/users/user/{user.pk}/change/", form)
    assert changed.status_code == 200
    assert changed.context["adminform"].form.errors == {"app_metadata": too_deep}
    user.refresh_from_db()
    assert user.app_metadata is None


def test_metadata_with_a_number_past_what_python_reads_is_a_form_error_not_a_500(admin_client, connection):
    """Python reads no integer of more than 4300 digits (CVE-2020-10735) and says so with a ValueError, which Django's
    JSON form field lets through (it catches JSONDecodeError only): the add form ended with a 500."""
    number = "9" * 4301
    added = admin_client.post(
        f"{ADD}?connection={connection.pk}",
        {"email": "ann@example.com", "password": STRONG_PASSWORD, "user_metadata": f'{{"n": {number}}}'},
    )
    assert added.status_code == 200
    assert added.context["adminform"].form.errors == {
        "user_metadata": ["Enter a valid JSON: a number has more than 4300 digits."]
    }
    assert f"{number}}}</textarea>" in added.text  # shown again as typed
    assert not User.objects.exists()


@pytest.mark.parametrize("typed", ["[1]", "[]", '"x"', '""', "5", "0", "true", "false", "[" * 5_000 + "]" * 5_000])
def test_metadata_that_is_no_object_is_a_change_form_error_not_a_500(admin_client, connection, create, typed):
    """The change form replaced the stored object with what was typed, as a mapping: an array, a string or a number
    ended the page with a 500, and a falsy one ([], "", 0, false) cleared the metadata instead of being refused."""
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    user = User.objects.get()
    User.objects.filter(pk=user.pk).update(user_metadata={"plan": "gold"})
    form = {"email": "ann@example.com", "picture": user.picture, "user_metadata": typed, "app_metadata": ""}
    changed = admin_client.post(f"/admin/users/user/{user.pk}/change/", form)
    assert changed.status_code == 200
    (error,) = changed.context["adminform"].form.errors["user_metadata"]
    assert error.startswith("Expected type object but found type "), error
    user.refresh_from_db()
    assert user.user_metadata == {"plan": "gold"}


@pytest.mark.parametrize("step", ["add", "change"])
def test_a_lone_surrogate_typed_in_metadata_is_a_form_error_not_a_500(admin_client, connection, create, step):
    """The escape of a lone surrogate is valid JSON for a text no database stores: the schema refuses it, and the
    refused form, showing it again, failed to encode the page (UnicodeEncodeError, 500)."""
    typed = '{"a": "\\ud800"}'
    form: dict[str, str | None]
    if step == "add":
        url = f"{ADD}?connection={connection.pk}"
        form = {"email": "ann@example.com", "password": STRONG_PASSWORD, "user_metadata": typed, "app_metadata": ""}
    else:
        create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
        user = User.objects.get()
        url = f"/admin/users/user/{user.pk}/change/"
        form = {"email": "ann@example.com", "picture": user.picture, "user_metadata": typed, "app_metadata": ""}
    page = admin_client.post(url, form)
    assert page.status_code == 200
    assert page.context["adminform"].form.errors["user_metadata"] == [
        "String contains invalid Unicode (lone surrogate)"
    ]
    assert "\\ud800" in page.text
    assert User.objects.filter(user_metadata__has_key="a").count() == 0


def test_the_change_form_edits_through_the_service_and_never_shows_the_hash(admin_client, connection, create):
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    user = User.objects.get()
    url = f"/admin/users/user/{user.pk}/change/"
    page = admin_client.get(url)
    assert user.password_hash not in page.text and "$2b$" not in page.text
    form = {
        "email": "ann@example.com",
        "given_name": "Ann",
        "family_name": "",
        "name": "Ann Lee",
        "nickname": "ann",
        "picture": user.picture,
        "user_metadata": '{"a": 1}',
        "app_metadata": "",
        "new_password": "weak",
    }
    weak = admin_client.post(url, form)
    assert "new_password" in weak.context["adminform"].form.errors
    saved = admin_client.post(url, {**form, "new_password": "N3w!Passw0rd"})
    assert saved.status_code == 302
    user.refresh_from_db()
    assert (user.given_name, user.name, user.user_metadata) == ("Ann", "Ann Lee", {"a": 1})
    assert verify_password("N3w!Passw0rd", password_hash_of(user))
    assert Event.objects.filter(description="Update a User", actor_kind="admin").exists()


@pytest.mark.parametrize("lookup", ["password_hash__startswith", "password_hash__gt", "custom_password_hash__isnull"])
def test_the_list_does_not_filter_on_the_hash(admin_client, connection, create, lookup):
    """Django lets the query string filter on any of the model's own fields: a staff user who may view users would
    read each one's hash, a character at a time, by the users a guess lists."""
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    value = "True" if lookup.endswith("__isnull") else password_hash_of(User.objects.get())[:8]
    assert admin_client.get("/admin/users/user/", {lookup: value}).status_code == 400
    assert admin_client.get("/admin/users/user/", {"blocked__exact": "0"}).status_code == 200


def test_changing_to_another_users_email_is_an_error_on_the_field(admin_client, connection, create):
    create({"connection": connection.name, "email": "bob@example.com", "password": STRONG_PASSWORD})
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    ann = User.objects.get(email="ann@example.com")
    form = {"email": "BOB@example.com", "picture": ann.picture, "user_metadata": "", "app_metadata": ""}
    refused = admin_client.post(f"/admin/users/user/{ann.pk}/change/", form)
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert errors == {"email": ["The specified new email already exists"]}
    ann.refresh_from_db()
    assert ann.email == "ann@example.com"


def test_a_taken_identifier_is_named_among_several_changes(admin_client, make_connection, create):
    # The API changes an e-mail and a username one call at a time, as Auth0 does; the admin form changes both at once.
    named = make_connection(name="Named", requires_username=True)
    for email, username in (("bob@example.com", "bob"), ("ann@example.com", "ann")):
        create({"connection": named.name, "email": email, "username": username, "password": STRONG_PASSWORD})
    ann = User.objects.get(email="ann@example.com")
    url = f"/admin/users/user/{ann.pk}/change/"
    form = {"picture": ann.picture, "user_metadata": "", "app_metadata": ""}
    username_only = admin_client.post(url, {**form, "email": "annie@example.com", "username": "Bob"})
    assert username_only.context["adminform"].form.errors == {"username": ["The specified new username already exists"]}
    both = admin_client.post(url, {**form, "email": "BOB@example.com", "username": "bob"})
    assert both.context["adminform"].form.errors == {"email": ["The specified new email already exists"]}
    ann.refresh_from_db()
    assert (ann.email, ann.username) == ("ann@example.com", "ann")


def test_block_and_unblock_actions(admin_client, connection, create):
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    user = User.objects.get()
    admin_client.post("/admin/users/user/", {"action": "block", "_selected_action": [user.pk]})
    user.refresh_from_db()
    assert user.blocked is True
    admin_client.post("/admin/users/user/", {"action": "unblock", "_selected_action": [user.pk]})
    user.refresh_from_db()
    assert user.blocked is False


def test_deleting_in_the_admin_is_recorded(admin_client, connection, create):
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    user = User.objects.get()
    admin_client.post(f"/admin/users/user/{user.pk}/delete/", {"post": "yes"})
    assert not User.objects.exists()
    assert Event.objects.filter(type="du", actor_kind="admin").exists()


@pytest.fixture
def two_users(connection, create):
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD, "name": "Ann Lee"})
    create(
        {
            "connection": connection.name,
            "email": "bob@example.org",
            "password": STRONG_PASSWORD,
            "app_metadata": {"plan": "gold"},
        }
    )
    return {u.email: u.user_id for u in User.objects.all()}


def _listed(response) -> set[str]:
    assert response.status_code == 200
    return {user.email for user in response.context["cl"].result_list}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("ann@example.com", {"ann@example.com"}),  # a plain word: a whole value of a profile field
        ("ANN@EXAMPLE.COM", {"ann@example.com"}),
        ("name:ann*", {"ann@example.com"}),
        ('name:"ann lee"', {"ann@example.com"}),
        ("email:*@example.org", {"bob@example.org"}),
        ('app_metadata.plan:"gold"', {"bob@example.org"}),
        ("NOT app_metadata.plan:gold", {"ann@example.com"}),
        ("", {"ann@example.com", "bob@example.org"}),
    ],
)
def test_the_search_box_takes_the_apis_q(admin_client, two_users, term, expected):
    assert _listed(admin_client.get("/admin/users/user/", {"q": term})) == expected


@pytest.mark.parametrize(
    ("term", "reason"),
    [
        ("(name:ann", "The query could not be parsed"),
        ("name:*nn", "needs at least 3 characters"),
        ("logins_count:abc", "logins_count takes a whole number, not abc."),
    ],
)
def test_a_refused_search_says_why_above_an_empty_list(admin_client, two_users, term, reason):
    response = admin_client.get("/admin/users/user/", {"q": term}, follow=True)
    assert _listed(response) == set()
    shown = [str(message) for message in response.context["messages"]]
    assert len(shown) == 1
    assert shown[0].startswith("The search was not run: ")
    assert reason in shown[0]
