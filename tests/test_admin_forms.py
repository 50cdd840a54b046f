"""The admin's forms: every refusal in one round, words instead of patterns, the same controls on add and change,
only the strategy's fields, typed metadata kept, and labels and help texts that say what a setting does."""

from __future__ import annotations

import re

import pytest

from clients.admin import ClientForm
from connections.admin_forms import ConnectionForm
from connections.models import Connection
from core.actors import SYSTEM
from tests.helpers import STRONG_PASSWORD
from users.admin_forms import UserAddForm, UserChangeForm
from users.models import User

pytestmark = pytest.mark.django_db

ADD_CONNECTION = "/admin/connections/connection/add/?strategy=auth0"


def _errors(response) -> dict[str, list[str]]:
    assert response.status_code == 200
    return {k: list(v) for k, v in response.context["adminform"].form.errors.items()}


def test_a_bad_connection_name_says_in_words_what_is_allowed(admin_client):
    errors = _errors(admin_client.post(ADD_CONNECTION, {"name": "my connection", "password_policy": "good"}))
    assert errors == {
        "name": [
            "Use only letters (a-z, A-Z) and digits, with single hyphens between them: no spaces, dots or "
            "underscores, and no hyphen at the start or the end."
        ]
    }
    assert not Connection.objects.exists()


def test_the_connection_form_shows_all_its_errors_in_one_round(admin_client):
    form = {"name": "bad name", "password_policy": "good", "min_length": "0", "username_min": "x"}
    errors = _errors(admin_client.post(ADD_CONNECTION, form))
    assert set(errors) == {"name", "min_length", "username_min"}


def test_the_user_add_form_shows_schema_and_password_errors_in_one_round(admin_client, connection):
    url = f"/admin/users/user/add/?connection={connection.pk}"
    errors = _errors(
        admin_client.post(url, {"email": "not-an-email", "password": "weak", "user_metadata": "", "app_metadata": ""})
    )
    assert set(errors) == {"email", "password"}
    assert "At least 8 characters in length" in errors["password"][0]
    missing = _errors(admin_client.post(url, {"email": "not-an-email", "user_metadata": "", "app_metadata": ""}))
    assert set(missing) == {"email", "password"}
    assert not User.objects.exists()


def test_the_user_change_form_shows_schema_and_password_errors_in_one_round(admin_client, connection, create):
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    user = User.objects.get()
    form = {"email": "not-an-email", "new_password": "weak", "user_metadata": "", "app_metadata": ""}
    errors = _errors(admin_client.post(f"/admin/users/user/{user.pk}/change/", form))
    assert set(errors) == {"email", "new_password"}


def test_blocked_is_the_same_checkbox_on_add_and_change(admin_client, connection, create):
    add = admin_client.get(f"/admin/users/user/add/?connection={connection.pk}").text
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    change = admin_client.get(f"/admin/users/user/{User.objects.get().pk}/change/").text
    for page in (add, change):
        assert re.search(r'<input type="checkbox" name="blocked"', page)
        assert '<select name="blocked"' not in page


def test_the_change_form_shows_only_the_fields_the_strategy_uses(admin_client, connection, make_connection, create):
    make_connection(name="sms", strategy="sms")
    created = create({"connection": "sms", "phone_number": "+819012345678"})
    assert created.status_code == 201, created.json()
    create({"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD})
    sms = admin_client.get(f"/admin/users/user/{User.objects.get(connection__name='sms').pk}/change/").text
    assert 'name="phone_verified"' in sms
    assert 'name="email_verified"' not in sms and 'name="email"' not in sms and 'name="new_password"' not in sms
    database = admin_client.get(f"/admin/users/user/{User.objects.get(email='ann@example.com').pk}/change/").text
    assert 'name="email_verified"' in database and 'name="new_password"' in database
    assert 'name="phone_verified"' not in database and 'name="phone_number"' not in database


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        ('{"plan": "gold"}', "{\n  &quot;plan&quot;: &quot;gold&quot;\n}"),
        ('{"plan": ', "{&quot;plan&quot;: "),
        ("", ""),
    ],
)
def test_metadata_boxes_keep_what_was_typed_after_an_error(admin_client, connection, typed, shown):
    url = f"/admin/users/user/add/?connection={connection.pk}"
    page = admin_client.post(url, {"email": "bad", "password": "weak", "user_metadata": typed, "app_metadata": ""})
    boxes = dict(re.findall(r'<textarea name="(\w+)"[^>]*>\n?(.*?)</textarea>', page.text, re.S))
    assert boxes["user_metadata"] == shown
    assert boxes["app_metadata"] == ""


def test_labels_are_short_names_capitalised_alike():
    """Admin labels start with a capital (the admin capitalises model and form labels alike) and are names, not
    sentences: no label ends with a full stop; explanations are help texts."""
    connection = Connection(name="x", strategy="auth0")
    user = User(connection=connection)
    forms = [
        ConnectionForm(strategy="auth0", actor=SYSTEM),
        UserAddForm(connection=connection, actor=SYSTEM),
        UserChangeForm(instance=user, actor=SYSTEM),
        ClientForm(),
    ]
    for form in forms:
        for name, field in form.fields.items():
            label = str(field.label or name)
            assert not label.rstrip().endswith("."), (type(form).__name__, name, label)


def test_the_client_help_texts_say_what_connections_and_scopes_control(admin_client):
    page = admin_client.get("/admin/clients/client/add/").text
    assert "public sign-up (POST /dbconnections/signup), password logins" in page
    assert "Management API calls are not limited by this list" in page
    assert "tokens already issued keep their scopes until they expire or the secret is rotated" in page
    ja = admin_client.get("/admin/clients/client/add/", HTTP_ACCEPT_LANGUAGE="ja").text
    assert "Management API calls are not limited" not in ja
