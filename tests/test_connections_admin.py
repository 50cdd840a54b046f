"""Connections in the admin: strategy first, only its options, the API's validation, users counted."""

from __future__ import annotations

import pytest

from audit.models import Event
from connections.models import Connection

pytestmark = pytest.mark.django_db

ADD = "/admin/connections/connection/add/"


def test_adding_asks_for_the_strategy_then_shows_only_its_options(admin_client):
    assert "Choose a strategy" in admin_client.get(ADD).text
    database = admin_client.get(f"{ADD}?strategy=auth0").text
    assert 'name="password_policy"' in database and 'name="requires_username"' in database
    sms = admin_client.get(f"{ADD}?strategy=sms").text
    assert 'name="password_policy"' not in sms and 'name="disable_signup"' in sms


def test_a_database_connection_is_created_through_the_service(admin_client):
    response = admin_client.post(
        f"{ADD}?strategy=auth0",
        {"name": "Staff", "password_policy": "excellent", "requires_username": "on", "min_length": "12",
         "dictionary_enabled": "on", "dictionary_words": "acme\nwidget"},
    )  # fmt: skip
    assert response.status_code == 302
    connection = Connection.objects.get(name="Staff")
    assert connection.options == {
        "passwordPolicy": "excellent",
        "requires_username": True,
        "password_complexity_options": {"min_length": 12},
        "password_dictionary": {"enable": True, "dictionary": ["acme", "widget"]},
    }
    assert Event.objects.filter(description="Create a Connection", actor_kind="admin").exists()


def test_bad_options_and_names_are_refused_on_their_fields(admin_client):
    response = admin_client.post(
        f"{ADD}?strategy=auth0", {"name": "bad name", "password_policy": "good", "min_length": "0"}
    )
    errors = response.context["adminform"].form.errors
    assert "name" in errors
    response = admin_client.post(
        f"{ADD}?strategy=auth0", {"name": "Good", "password_policy": "good", "min_length": "0"}
    )
    assert "min_length" in response.context["adminform"].form.errors
    assert not Connection.objects.exists()


def test_editing_options(admin_client, connection):
    url = f"/admin/connections/connection/{connection.pk}/change/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"password_policy": "low", "disable_signup": "on"})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.options == {"passwordPolicy": "low", "disable_signup": True}


def test_editing_other_options_keeps_the_password_history_policy(admin_client, make_connection):
    """The form replaces the whole options object: an option it had no field for (password_history) was dropped by
    any save, which turned the history policy off without a word."""
    connection = make_connection(name="History", password_history={"enable": True, "size": 10})
    url = f"/admin/connections/connection/{connection.pk}/change/"
    page = admin_client.get(url)
    form = page.context["adminform"].form
    assert (form.initial["history_enabled"], form.initial["history_size"]) == (True, 10)
    response = admin_client.post(
        url, {"password_policy": "good", "disable_signup": "on", "history_enabled": "on", "history_size": "10"}
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.options["password_history"] == {"enable": True, "size": 10}
    assert connection.options["disable_signup"] is True


def test_the_password_history_policy_is_set_and_bounded_in_the_admin(admin_client):
    response = admin_client.post(
        f"{ADD}?strategy=auth0", {"name": "Hist", "password_policy": "good", "history_enabled": "on"}
    )
    assert response.status_code == 302
    assert Connection.objects.get(name="Hist").options["password_history"] == {"enable": True}  # size 5
    refused = admin_client.post(
        f"{ADD}?strategy=auth0",
        {"name": "Hist2", "password_policy": "good", "history_enabled": "on", "history_size": "25"},
    )
    assert "history_size" in refused.context["adminform"].form.errors
    assert not Connection.objects.filter(name="Hist2").exists()
