"""Connections in the admin: strategy first, only its options, the API's validation, users counted; deleting one or
several through the service, their users' events and audit entries written, one deleted meanwhile no error."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.admin.utils import quote  # the admin escapes "_" in ids: est_3F... is est?...
from django.test import override_settings

from audit.models import Event
from connections.admin import ConnectionAdmin
from connections.models import Connection
from connections.services import delete_connection
from connections.signals import connection_deleting
from core.actors import SYSTEM
from events.models import PendingEvents
from events.services import WebhookAuthorization, create_event_stream
from tests.helpers import STRONG_PASSWORD
from users.models import User
from users.services import create_user

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
    url = f"/admin/connections/connection/{quote(connection.pk)}/change/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"password_policy": "low", "disable_signup": "on"})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.options == {"passwordPolicy": "low", "disable_signup": True}


def test_editing_other_options_keeps_the_password_history_policy(admin_client, make_connection):
    """The form replaces the whole options object: an option it had no field for (password_history) was dropped by
    any save, which turned the history policy off without a word."""
    connection = make_connection(name="History", password_history={"enable": True, "size": 10})
    url = f"/admin/connections/connection/{quote(connection.pk)}/change/"
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


# --- Auth0's display_name and metadata --------------------------------------------------------------------------


def test_a_display_name_and_metadata_are_set_through_the_service_and_answered_by_the_api(admin_client, api):
    assert 'name="display_name"' in admin_client.get(f"{ADD}?strategy=sms").text
    response = admin_client.post(
        f"{ADD}?strategy=auth0",
        {"name": "Staff", "password_policy": "good", "display_name": "Our staff", "metadata": '{"team": "ops"}'},
    )
    assert response.status_code == 302
    connection = Connection.objects.get(name="Staff")
    body = api.get(f"/api/v2/connections/{connection.pk}").json()
    assert (body["display_name"], body["metadata"]) == ("Our staff", {"team": "ops"})
    assert Event.objects.filter(description="Create a Connection", actor_kind="admin").exists()


def test_a_connection_without_display_name_or_metadata_gets_none(admin_client):
    response = admin_client.post(f"{ADD}?strategy=auth0", {"name": "Plain", "password_policy": "good"})
    assert response.status_code == 302
    connection = Connection.objects.get(name="Plain")
    assert (connection.display_name, connection.metadata) == ("", None)


def test_editing_the_display_name_and_metadata(admin_client, make_connection):
    connection = make_connection(name="Edited")
    url = f"/admin/connections/connection/{quote(connection.pk)}/change/"
    options = {"password_policy": "good"}
    response = admin_client.post(url, {**options, "display_name": "Before", "metadata": '{"a": "1", "b": null}'})
    assert response.status_code == 302
    form = admin_client.get(url).context["adminform"].form
    assert (form.initial["display_name"], form.initial["metadata"]) == ("Before", {"a": "1", "b": None})

    response = admin_client.post(url, {**options, "display_name": "After", "metadata": ""})
    assert response.status_code == 302
    connection.refresh_from_db()
    # Emptied metadata is {}, as the API's PATCH {"metadata": {}} leaves it: a connection's metadata cannot go back
    # to none.
    assert (connection.display_name, connection.metadata) == ("After", {})
    update = Event.objects.filter(description="Update a Connection").latest("pk")
    assert update.details["fields"] == ["display_name", "metadata", "options"]


LONG = "x" * 129


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"display_name": LONG}, "display_name", "String is too long (129 chars), maximum 128"),
        (
            {"metadata": json.dumps({f"k{n}": "v" for n in range(11)})},
            "metadata",
            "Too many properties defined (11), maximum 10",
        ),
        ({"metadata": json.dumps({"k": "v" * 256})}, "metadata", "String is too long (256 chars), maximum 255"),
        ({"metadata": '{"k": 1}'}, "metadata", "Expected type string but found type integer"),
        ({"metadata": '{"k": {"deeper": "v"}}'}, "metadata", "Expected type string but found type object"),
        ({"metadata": '["team"]'}, "metadata", "Expected type object but found type array"),
        ({"metadata": "null"}, "metadata", "Expected type object but found type null"),
        ({"metadata": '{"team": '}, "metadata", "Enter a valid JSON."),
        ({"metadata": "[" * 100_000}, "metadata", "Object is nested too deeply (more than 1 levels)"),
        # Python reads no integer of more than 4300 digits (CVE-2020-10735): a ValueError that Django's JSON form
        # field does not catch (only JSONDecodeError), so the page was a 500.
        (
            {"metadata": '{"k": 1' + "0" * 4300 + "}"},
            "metadata",
            "Enter a valid JSON: a number has more than 4300 digits.",
        ),
    ],
)
def test_a_display_name_or_metadata_the_api_refuses_is_a_form_error(
    admin_client, make_connection, values, field, message
):
    response = admin_client.post(f"{ADD}?strategy=auth0", {"name": "Refused", "password_policy": "good", **values})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    assert not Connection.objects.filter(name="Refused").exists()

    connection = make_connection(name="Kept")
    url = f"/admin/connections/connection/{quote(connection.pk)}/change/"
    response = admin_client.post(url, {"password_policy": "good", **values})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [message]
    connection.refresh_from_db()
    assert (connection.display_name, connection.metadata) == ("", None)


def test_the_list_shows_and_searches_display_names(admin_client, make_connection):
    connection = make_connection(name="Listed")
    admin_client.post(
        f"/admin/connections/connection/{quote(connection.pk)}/change/",
        {"password_policy": "good", "display_name": "Shown in the list"},
    )
    page = admin_client.get(f"{LIST}?q=Shown")
    assert "Shown in the list" in page.text
    assert list(page.context["cl"].result_list) == [connection]


# --- deleting, one or several, with their users ---------------------------------------------------------------

LIST = "/admin/connections/connection/"


def _with_users(make_connection, new_user, name: str, count: int) -> Connection:
    connection = make_connection(name=name)
    for n in range(count):
        new_user(email=f"u{n}@example.com", connection=name, verify_email=False)
    return connection


def test_deleting_selected_connections_goes_through_the_service_for_each(admin_client, make_connection, new_user):
    """The bulk action deletes each connection as the API does: its users go with it, each gets its user.deleted
    event, and the audit log names the connection, the operator and how many users went."""
    first, second = (_with_users(make_connection, new_user, name, n) for name, n in (("First", 2), ("Second", 1)))
    kept = _with_users(make_connection, new_user, "Kept", 1)
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
        stream = create_event_stream(
            name="crm",
            subscriptions=["user.deleted"],
            webhook_endpoint="http://127.0.0.1:9/events",
            authorization=WebhookAuthorization(method="bearer", token="t0ken"),
            actor=SYSTEM,
        )
    doomed = {pk: list(User.objects.filter(connection_id=pk).values_list("user_id", flat=True)) for pk in
              (first.pk, second.pk)}  # fmt: skip
    selected = {"action": "delete_selected", "_selected_action": [first.pk, second.pk]}
    page = admin_client.post(LIST, selected)
    assert page.status_code == 200 and "Users: 3" in page.text  # the confirmation page counts them
    assert admin_client.post(LIST, {**selected, "post": "yes"}).status_code == 302
    assert list(Connection.objects.values_list("pk", flat=True)) == [kept.pk]
    assert list(User.objects.values_list("connection_id", flat=True)) == [kept.pk]
    written = [(row.type, item[1]) for row in PendingEvents.objects.order_by("pk") for item in json.loads(row.events)]
    assert sorted(written) == sorted(("user.deleted", user_id) for ids in doomed.values() for user_id in ids)
    assert all(row.stream_ids == [stream.pk] for row in PendingEvents.objects.all())
    logged = Event.objects.filter(description="Delete a Connection").order_by("id")
    assert [(e.connection_id, e.actor_kind, e.details) for e in logged] == [
        (first.pk, "admin", {"users_deleted": 2}),
        (second.pk, "admin", {"users_deleted": 1}),
    ]


def test_deleting_selected_connections_one_of_which_is_gone_meanwhile_deletes_the_rest(
    admin_client, make_connection, new_user
):
    """A connection deleted elsewhere between the page's read and its deletion (here, by a receiver while the first
    one goes) was an unhandled ConnectionNotFoundById: a 500, after the first one was deleted."""
    first, second = (_with_users(make_connection, new_user, name, 1) for name in ("First", "Second"))

    def delete_the_second_meanwhile(connection: Connection, **_kwargs: object) -> None:
        if connection.pk == first.pk:
            delete_connection(connection_id=second.pk, actor=SYSTEM)

    connection_deleting.connect(delete_the_second_meanwhile, dispatch_uid="test.meanwhile")
    try:
        response = admin_client.post(
            LIST, {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"}
        )
    finally:
        connection_deleting.disconnect(dispatch_uid="test.meanwhile")
    assert response.status_code == 302
    assert not Connection.objects.exists() and not User.objects.exists()


def test_deleting_a_connection_gone_meanwhile_is_no_error_page(admin_client, make_connection, new_user, monkeypatch):
    """Two operators (or an operator and an API call) deleting one connection at once: the second found it on the
    page, then the service did not (an unhandled ConnectionNotFoundById, a 500)."""
    doomed = _with_users(make_connection, new_user, "Doomed", 1)
    log_deletions = ConnectionAdmin.log_deletions

    def log_then_lose_it(self, request, queryset):  # the step before delete_model
        log_deletions(self, request, queryset)
        delete_connection(connection_id=doomed.pk, actor=SYSTEM)

    monkeypatch.setattr(ConnectionAdmin, "log_deletions", log_then_lose_it)
    response = admin_client.post(f"{LIST}{quote(doomed.pk)}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Connection.objects.exists() and not User.objects.exists()


def test_the_deletion_page_lists_a_hundred_users_and_counts_the_rest(admin_client, make_connection):
    doomed = make_connection(name="Doomed")
    for n in range(102):
        create_user(
            data={"connection": "Doomed", "email": f"u{n}@example.com", "password": STRONG_PASSWORD}, actor=SYSTEM
        )
    for page in (
        admin_client.get(f"{LIST}{quote(doomed.pk)}/delete/"),
        admin_client.post(LIST, {"action": "delete_selected", "_selected_action": [doomed.pk]}),
    ):
        assert page.status_code == 200
        assert len(re.findall(r'href="/admin/users/user/[0-9]+/', page.text)) == 99  # the connection, then 99 users
        assert "Users: 102" in page.text and "…and 3 more objects." in page.text


# --- a connection with more users than CONNECTION_DELETE_SYNC_MAX_USERS: deleted in the background ---------------


@pytest.fixture
def threshold(settings) -> None:
    settings.CONNECTION_DELETE_SYNC_MAX_USERS = 1


def test_deleting_a_large_connection_starts_its_deletion_and_says_so(
    admin_client, make_connection, new_user, threshold, run_tasks
):
    doomed = _with_users(make_connection, new_user, "Doomed", 2)
    page = admin_client.get(f"{LIST}{quote(doomed.pk)}/delete/")
    assert page.status_code == 200
    assert "Users: 2" in page.text  # counted, not read one by one for the page
    assert not re.findall(r'href="/admin/users/user/[0-9]+/', page.text)
    response = admin_client.post(f"{LIST}{quote(doomed.pk)}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert "The connection “Doomed” is being deleted: its users are deleted in the background" in response.text
    assert "was deleted successfully" not in response.text
    assert Connection.all_objects.get(pk=doomed.pk).being_deleted and User.objects.count() == 2
    run_tasks()
    assert not Connection.all_objects.exists() and not User.objects.exists()


def test_a_connection_being_deleted_is_listed_as_such_and_cannot_be_changed(
    admin_client, make_connection, new_user, threshold
):
    doomed = _with_users(make_connection, new_user, "Doomed", 2)
    make_connection(name="Alive")
    delete_connection(connection_id=doomed.pk, actor=SYSTEM)
    listing = admin_client.get(LIST)
    assert "Doomed" in listing.text and "Alive" in listing.text
    assert listing.text.count("icon-yes.svg") == 1  # the "being deleted" column, Doomed's alone
    change = admin_client.get(f"{LIST}{quote(doomed.pk)}/change/", follow=True)
    assert change.redirect_chain == [(LIST, 302)]
    assert "The connection “Doomed” is being deleted: it cannot be changed." in change.text
    posted = admin_client.post(f"{LIST}{quote(doomed.pk)}/change/", {"disable_signup": "on"})
    assert posted.status_code == 302
    assert Connection.all_objects.get(pk=doomed.pk).options == doomed.options


def test_deleting_selected_connections_deletes_the_small_ones_and_starts_the_large_ones(
    admin_client, make_connection, new_user, threshold
):
    small = _with_users(make_connection, new_user, "Small", 1)
    large = _with_users(make_connection, new_user, "Large", 2)
    selected = {"action": "delete_selected", "_selected_action": [small.pk, large.pk]}
    page = admin_client.post(LIST, selected)
    assert page.status_code == 200 and "Users: 3" in page.text
    assert not re.findall(r'href="/admin/users/user/[0-9]+/', page.text)
    response = admin_client.post(LIST, {**selected, "post": "yes"}, follow=True)
    assert "The connection “Large” is being deleted" in response.text
    assert "The connection “Small” is being deleted" not in response.text
    assert not Connection.all_objects.filter(pk=small.pk).exists()
    assert Connection.all_objects.get(pk=large.pk).being_deleted
    assert User.objects.filter(connection_id=large.pk).count() == 2


def test_the_page_for_selected_connections_counts_their_users_when_together_they_have_many(
    admin_client, make_connection, new_user, settings
):
    """Each is small enough to be deleted in the request, but the collector would read all their users for the page
    (fifty connections of 1,000 users: 50,000)."""
    settings.CONNECTION_DELETE_SYNC_MAX_USERS = 3
    first = _with_users(make_connection, new_user, "First", 2)
    second = _with_users(make_connection, new_user, "Second", 2)
    page = admin_client.post(LIST, {"action": "delete_selected", "_selected_action": [first.pk, second.pk]})
    assert page.status_code == 200 and "Users: 4" in page.text
    assert not re.findall(r'href="/admin/users/user/[0-9]+/', page.text)
