"""``POST /dbconnections/change_password`` (Auth0's Authentication API): the same answer for any address, the mail
and its link, refusals in the Authentication API's shape, and the per-address and per-IP limits."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.test import override_settings

from audit.models import Event, EventType
from tests.helpers import user_url
from users.models import Ticket, TicketPurpose

pytestmark = pytest.mark.django_db

URL = "/dbconnections/change_password"
SENT = "We've just sent you an email to reset your password."
LINK = re.compile(r"(\S+/lo/reset\?ticket=\S+)")


@pytest.fixture
def on_commit(capture_tasks):
    """The mail is a task queued in the request's transaction: run it as the worker would."""
    return capture_tasks


@pytest.fixture
def new_user(new_user):
    """These tests are about the reset mail: their users are created without a verification mail (which is now a
    queued task the worker would send along with the reset mail)."""

    def make(*args, **fields):
        fields.setdefault("verify_email", False)
        return new_user(*args, **fields)

    return make


def ask(api_client, body, capture=None):
    if capture is None:
        return api_client.post(URL, body, format="json")
    with capture(execute=True):
        return api_client.post(URL, body, format="json")


def body(signup_app, email="ann@example.com", **extra):
    return {
        "client_id": signup_app.client_id,
        "email": email,
        "connection": "Username-Password-Authentication",
        **extra,
    }


def test_a_known_address_gets_the_mail_and_auth0s_text(api_client, signup_app, new_user, mailoutbox, on_commit):
    new_user()
    response = ask(api_client, body(signup_app, "ANN@example.com"), on_commit)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == SENT
    (mail,) = mailoutbox
    assert mail.to == ["ann@example.com"]
    assert mail.subject == "Reset your password"
    (link,) = LINK.findall(mail.body)
    assert Ticket.objects.get().purpose == TicketPurpose.PASSWORD_CHANGE
    parts = urlsplit(link)
    assert api_client.get(f"{parts.path}?{parts.query}", follow=True).status_code == 200
    event = Event.objects.get(type=EventType.SUCCESS_CHANGE_PASSWORD_REQUEST)
    assert event.user_id and event.actor_id == signup_app.client_id
    assert urlsplit(link).query.split("=", 1)[1].rstrip("#") not in str(event.details)


@pytest.mark.parametrize("email", ["nobody@example.com", "not an address", "\u212aate@example.com"])
def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    api_client, signup_app, new_user, mailoutbox, on_commit, email
):
    new_user()
    response = ask(api_client, body(signup_app, email), on_commit)
    assert (response.status_code, response.content.decode()) == (200, SENT)
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert mailoutbox == []
    assert Ticket.objects.count() == 0


def test_a_blocked_user_gets_no_mail(api, api_client, signup_app, new_user, mailoutbox, on_commit):
    user = new_user()
    api.patch(user_url(user["user_id"]), {"blocked": True}, format="json")
    assert ask(api_client, body(signup_app), on_commit).content.decode() == SENT
    assert mailoutbox == []


def test_a_user_of_another_connection_gets_no_mail(
    api_client, signup_app, make_connection, new_user, mailoutbox, on_commit
):
    make_connection(name="Other-DB")
    new_user(connection="Other-DB")
    assert ask(api_client, body(signup_app), on_commit).content.decode() == SENT
    assert mailoutbox == []


def test_the_sdks_change_password(live_server_url, signup_app, new_user, mailoutbox):
    """The official SDK's ``Database.change_password`` gets Auth0's text back."""
    from auth0.authentication import Database

    new_user()
    database = Database(urlsplit(live_server_url).netloc, signup_app.client_id, protocol="http")
    assert database.change_password(email="ann@example.com", connection="Username-Password-Authentication") == SENT


@pytest.mark.parametrize(
    ("change", "code", "description"),
    [
        ({"client_id": "nope"}, "invalid_client", "Unknown or inactive client."),
        ({"connection": "nope"}, "invalid_connection", "The connection does not exist."),
    ],
)
def test_a_bad_client_or_connection_is_400(api_client, signup_app, change, code, description):
    response = ask(api_client, {**body(signup_app), **change})
    assert response.status_code == 400
    assert response.json() == {"name": "BadRequestError", "code": code, "description": description, "statusCode": 400}
    assert Event.objects.get(type=EventType.FAILED_CHANGE_PASSWORD_REQUEST).description == description


def test_a_connection_not_enabled_for_the_client_is_400(api_client, signup_app, make_connection):
    make_connection(name="Other-DB")
    response = ask(api_client, body(signup_app, connection="Other-DB"))
    assert response.json() == {
        "name": "BadRequestError",
        "code": "invalid_connection",
        "description": "The connection is not enabled for this client.",
        "statusCode": 400,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"email": 5},
        {"email": "a\x00@example.com"},
        {"email": "\ud800@example.com"},
        {"email": "a" * 10_000},
        {"connection": None},
        {"client_id": ["x"]},
        {"password": "new"},  # Auth0's old body; refused, as unknown keys are everywhere
        {"unknown": 1},
    ],
)
def test_hostile_bodies_are_400_invalid_body(api_client, signup_app, change):
    data = json.dumps({**body(signup_app), **change})
    response = api_client.generic("POST", URL, data, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "invalid_body"
    assert response.json()["statusCode"] == 400


def test_missing_fields_are_400(api_client, signup_app):
    response = ask(api_client, {"client_id": signup_app.client_id})
    assert response.status_code == 400
    assert {error["field"] for error in response.json()["errors"]} == {"email", "connection"}


def test_a_form_body_works_too(api_client, signup_app, new_user, mailoutbox, on_commit):
    new_user()
    with on_commit(execute=True):
        response = api_client.post(URL, body(signup_app))  # multipart is refused; form-encoded is Auth0's
    assert response.status_code == 415
    with on_commit(execute=True):
        response = api_client.generic(
            "POST",
            URL,
            f"client_id={signup_app.client_id}&email=ann%40example.com&connection=Username-Password-Authentication",
            content_type="application/x-www-form-urlencoded",
        )
    assert response.content.decode() == SENT
    assert len(mailoutbox) == 1


@override_settings(CHANGE_PASSWORD_RATE_LIMIT_PER_EMAIL="2/hour", CHANGE_PASSWORD_RATE_LIMIT="100/minute")
def test_requests_about_one_address_are_limited(api_client, signup_app, new_user, mailoutbox, on_commit):
    new_user()
    for _ in range(2):
        assert ask(api_client, body(signup_app, "Ann@Example.com"), on_commit).status_code == 200
    response = ask(api_client, body(signup_app), on_commit)
    assert response.status_code == 429
    assert response.json() == {
        "name": "TooManyRequestsError",
        "code": "too_many_requests",
        "description": "Too many password reset requests. Try again later.",
        "statusCode": 429,
    }
    assert int(response["Retry-After"]) >= 1
    assert len(mailoutbox) == 2
    # The same limit for an address without an account: the 429 tells nothing either.
    for _ in range(2):
        assert ask(api_client, body(signup_app, "nobody@example.com")).status_code == 200
    assert ask(api_client, body(signup_app, "nobody@example.com")).status_code == 429


@override_settings(CHANGE_PASSWORD_RATE_LIMIT="3/minute", CHANGE_PASSWORD_RATE_LIMIT_PER_EMAIL="100/hour")
def test_requests_from_one_address_are_limited(api_client, signup_app):
    for n in range(3):
        assert ask(api_client, body(signup_app, f"u{n}@example.com")).status_code == 200
    assert ask(api_client, body(signup_app, "u9@example.com")).status_code == 429
