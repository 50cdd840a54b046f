"""Tickets: ``POST /api/v2/tickets/password-change`` and ``/email-verification`` (Auth0's Management API), the
links they answer with, and what makes a link stop working (use, expiry, a password or e-mail change, a blocked or
deleted user). The reset page's own behaviour is in ``test_password_reset_page.py``."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.db import close_old_connections
from django.db import connection as db
from django.test import Client as DjangoClient
from django.utils import timezone

from audit.models import Event, EventType
from clients.services import create_client
from core.actors import SYSTEM
from tests.helpers import (
    CONNECTION_NOT_FOUND,
    STRONG_PASSWORD,
    USER_NOT_FOUND,
    forbidden,
    invalid_body,
    management_error,
    user_url,
)
from users.errors import UserNotFound
from users.models import Ticket, TicketPurpose, User
from users.tickets import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, issue_ticket

pytestmark = pytest.mark.django_db

PASSWORD_CHANGE = "/api/v2/tickets/password-change"
EMAIL_VERIFICATION = "/api/v2/tickets/email-verification"
NEW_PASSWORD = "N3w!Passw0rd-42"


def ticket_of(link: str) -> str:
    (token,) = parse_qs(urlsplit(link).query)["ticket"]
    return token


def page_path(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def issue(api, path: str = PASSWORD_CHANGE, **body) -> str:
    response = api.post(path, body, format="json")
    assert response.status_code == 201, response.json()
    assert set(response.json()) == {"ticket"}
    return response.json()["ticket"]


def reset(client, token: str, password: str = NEW_PASSWORD, confirmation: str | None = None):
    data = {
        "ticket": token,
        "password": password,
        "password_confirmation": password if confirmation is None else confirmation,
    }
    return client.post("/lo/reset", data)


@pytest.fixture
def ann(connection, new_user) -> dict:
    return new_user()


# --- creating tickets -----------------------------------------------------------------------------------------


def test_a_password_change_ticket_is_a_reset_page_link_in_auth0s_shape(api, ann):
    link = issue(api, user_id=ann["user_id"])
    parts = urlsplit(link)
    assert link.startswith(f"{settings.PUBLIC_BASE_URL}/lo/reset?ticket=")
    assert link.endswith("#")
    assert len(ticket_of(link)) >= 43  # secrets.token_urlsafe(32): 256 random bits
    assert parts.fragment == ""
    ticket = Ticket.objects.get()
    assert ticket.purpose == TicketPurpose.PASSWORD_CHANGE
    assert ticket.user.user_id == ann["user_id"]
    # Only a digest is stored, never the token.
    assert ticket_of(link) not in ticket.digest
    assert ticket.expires_at - ticket.created_at == timedelta(seconds=DEFAULT_TTL_SECONDS)


def test_an_email_verification_ticket_links_to_the_verification_page(api, ann):
    link = issue(api, EMAIL_VERIFICATION, user_id=ann["user_id"])
    assert link.startswith(f"{settings.PUBLIC_BASE_URL}/u/email-verification?ticket=")
    assert Ticket.objects.get().purpose == TicketPurpose.EMAIL_VERIFICATION


def test_no_mail_is_sent_when_a_ticket_is_created(api, ann, mailoutbox):
    issue(api, user_id=ann["user_id"])
    issue(api, EMAIL_VERIFICATION, user_id=ann["user_id"])
    assert mailoutbox == []


def test_a_ticket_by_email_and_connection_id(api, ann, connection):
    link = issue(api, email="ANN@example.com", connection_id=connection.id)
    assert Ticket.objects.get().user.user_id == ann["user_id"]
    assert link


@pytest.mark.parametrize("ttl", [0, None])
def test_ttl_0_or_absent_is_five_days(api, ann, ttl):
    body = {"user_id": ann["user_id"]} | ({"ttl_sec": ttl} if ttl is not None else {})
    issue(api, **body)
    ticket = Ticket.objects.get()
    assert ticket.expires_at - ticket.created_at == timedelta(days=5)


def test_ttl_sec_sets_the_lifetime(api, ann):
    issue(api, user_id=ann["user_id"], ttl_sec=60)
    ticket = Ticket.objects.get()
    assert ticket.expires_at - ticket.created_at == timedelta(seconds=60)


def test_creating_a_ticket_needs_create_user_tickets(scoped_client, ann):
    response = scoped_client("create:users update:users").post(
        PASSWORD_CHANGE, {"user_id": ann["user_id"]}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == forbidden("create:user_tickets")
    response = scoped_client("read:users").post(EMAIL_VERIFICATION, {"user_id": ann["user_id"]}, format="json")
    assert response.json() == forbidden("create:user_tickets")
    assert scoped_client(None).post(PASSWORD_CHANGE, {"user_id": ann["user_id"]}, format="json").status_code == 401


def test_an_unknown_user_is_404_inexistent_user(api, connection):
    for path in (PASSWORD_CHANGE, EMAIL_VERIFICATION):
        response = api.post(path, {"user_id": "auth0|nobody"}, format="json")
        assert response.status_code == 404
        assert response.json() == USER_NOT_FOUND
    response = api.post(PASSWORD_CHANGE, {"email": "nobody@example.com", "connection_id": connection.id}, format="json")
    assert response.json() == USER_NOT_FOUND


def test_an_unknown_connection_id_is_404(api, ann):
    response = api.post(
        PASSWORD_CHANGE, {"email": "ann@example.com", "connection_id": "con_0000000000000000"}, format="json"
    )
    assert response.status_code == 404
    assert response.json() == CONNECTION_NOT_FOUND


def test_a_user_without_passwords_gets_no_password_change_ticket(api, make_connection, new_user):
    make_connection(name="email", strategy="email")
    user = new_user(connection="email")
    response = api.post(PASSWORD_CHANGE, {"user_id": user["user_id"]}, format="json")
    assert response.status_code == 400
    text = "The user's connection has no passwords: it is not a database connection."
    assert response.json() == invalid_body(("user_id", "NO_PASSWORD", text), message=text)
    assert Ticket.objects.count() == 0


def test_a_verification_ticket_needs_an_email(api, make_connection, new_user):
    make_connection(name="sms", strategy="sms")
    user = new_user(email=None, connection="sms", phone_number="+14155550100")
    response = api.post(EMAIL_VERIFICATION, {"user_id": user["user_id"]}, format="json")
    text = "The user has no e-mail address."
    assert response.json() == invalid_body(("user_id", "NO_EMAIL", text), message=text)


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        ({"email": "ann@example.com"}, "connection_id", "email and connection_id must be sent together."),
        ({"connection_id": "con_0000000000000000"}, "email", "email and connection_id must be sent together."),
        ({}, "user_id", "Send user_id, or email and connection_id."),
        ({"identity": {"user_id": "x", "provider": "auth0"}}, "identity", "identity requires user_id."),
    ],
)
def test_the_user_is_named_one_way(api, ann, body, field, text):
    response = api.post(PASSWORD_CHANGE, body, format="json")
    assert response.status_code == 400
    code = "OBJECT_MISSING_REQUIRED_PROPERTY" if field == "user_id" else "CONFLICTING_FIELDS"
    assert response.json() == invalid_body((field, code, text), message=text)


def test_user_id_and_email_together_are_refused(api, ann, connection):
    body = {"user_id": ann["user_id"], "email": "ann@example.com", "connection_id": connection.id}
    response = api.post(PASSWORD_CHANGE, body, format="json")
    text = "Send either user_id, or email and connection_id."
    assert response.json() == invalid_body(("user_id", "CONFLICTING_FIELDS", text), message=text)


def test_identity_must_be_the_users(api, ann, connection):
    own = {"user_id": ann["user_id"].split("|", 1)[1], "provider": "auth0", "connection_id": connection.id}
    assert issue(api, user_id=ann["user_id"], identity=own)
    other = {**own, "user_id": "someone-else"}
    response = api.post(PASSWORD_CHANGE, {"user_id": ann["user_id"], "identity": other}, format="json")
    text = "The identity is not one of the user's."
    assert response.json() == invalid_body(("identity", "CONFLICTING_FIELDS", text), message=text)


def test_a_passwordless_email_users_own_identity_names_it_on_a_verification_ticket(api, make_connection, new_user):
    # Auth0's Identity ("must be provided to verify ... passwordless email identities") takes any provider; the
    # email-verification ticket refused the user's own, {"provider": "email"}, as "No enum match".
    connection = make_connection(name="email", strategy="email")
    user = new_user(email="pat@example.com", connection="email")
    (identity,) = user["identities"]
    own = {"user_id": identity["user_id"], "provider": identity["provider"], "connection_id": connection.id}
    assert own["provider"] == "email"
    assert issue(api, EMAIL_VERIFICATION, user_id=user["user_id"], identity=own)
    text = "The identity is not one of the user's."
    for other in ({**own, "provider": "auth0"}, {**own, "provider": "sms"}, {**own, "user_id": "someone-else"}):
        response = api.post(EMAIL_VERIFICATION, {"user_id": user["user_id"], "identity": other}, format="json")
        assert response.json() == invalid_body(("identity", "CONFLICTING_FIELDS", text), message=text)


def test_a_password_change_ticket_identity_is_auth0_only(api, ann):
    own = {"user_id": ann["user_id"].split("|", 1)[1], "provider": "email"}
    response = api.post(PASSWORD_CHANGE, {"user_id": ann["user_id"], "identity": own}, format="json")
    assert response.status_code == 400
    assert [(e["field"], e["code"]) for e in response.json()["errors"]] == [("identity.provider", "ENUM_MISMATCH")]


def test_organizations_are_refused(api, ann):
    response = api.post(PASSWORD_CHANGE, {"user_id": ann["user_id"], "organization_id": "org_1"}, format="json")
    text = "This service has no organizations."
    assert response.json() == invalid_body(("organization_id", "UNSUPPORTED", text), message=text)


def test_client_id_must_name_an_active_client(api, ann):
    client, _secret = create_client(name="app", scopes="", connections=[], actor=SYSTEM)
    assert issue(api, user_id=ann["user_id"], client_id=client.client_id)
    response = api.post(PASSWORD_CHANGE, {"user_id": ann["user_id"], "client_id": "nope"}, format="json")
    assert response.status_code == 404
    assert response.json() == management_error(404, "The client does not exist.", "inexistent_client")


@pytest.mark.parametrize("path", [PASSWORD_CHANGE, EMAIL_VERIFICATION])
def test_result_url_with_client_id_is_refused_as_auth0_does(api, ann, path):
    """Auth0: result_url "Cannot be specified when using client_id" (e-mail verification; on a password change only
    with a custom reset page and a post-challenge Action, which this service has not). Either alone is fine."""
    client, _secret = create_client(name="app", scopes="", connections=[], actor=SYSTEM)
    body = {"user_id": ann["user_id"], "result_url": "https://app.example/done", "client_id": client.client_id}
    response = api.post(path, body, format="json")
    text = "result_url cannot be specified when using client_id."
    assert response.status_code == 400
    assert response.json() == invalid_body(("result_url", "CONFLICTING_FIELDS", text), message=text)
    assert not Ticket.objects.exists()
    assert issue(api, path, user_id=ann["user_id"], client_id=client.client_id)
    assert issue(api, path, user_id=ann["user_id"], result_url="https://app.example/done")


def test_result_url_with_client_id_is_refused_by_email_and_connection_id_too(api, ann, connection):
    body = {
        "email": ann["email"],
        "connection_id": connection.id,
        "result_url": "https://app.example/done",
        "client_id": "any",
    }
    response = api.post(PASSWORD_CHANGE, body, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "result_url"


def test_ticket_creation_is_audited_with_the_actor_and_no_token(api, ann):
    link = issue(api, user_id=ann["user_id"])
    event = Event.objects.filter(description="Create a password change ticket").get()
    assert event.type == EventType.SUCCESS_API_OPERATION
    assert (event.actor_kind, event.actor_id) == ("client", "test-client")
    assert event.user_id == ann["user_id"]
    assert ticket_of(link) not in str(event.details)


# --- hostile bodies: 4xx, never 500 ----------------------------------------------------------------------------

URL_FORMAT = "Object didn't pass validation for format url: {}"


@pytest.mark.parametrize(
    "result_url",
    ["javascript:alert(1)", "JAVASCRIPT://%0aalert(1)", "data:text/html,<script>x</script>", "ftp://example.com/",
     "/relative/path", "https://", "http://exa mple.com/", "//evil.example.com/",
     # a port no browser can follow: the page redirected there after the password was changed
     "https://app.example:0/done", "https://app.example:65536/done", "https://app.example:99999/done",
     "https://app.example:x/done"],
)  # fmt: skip
def test_result_url_must_be_http_or_https(api, ann, result_url):
    response = api.post(PASSWORD_CHANGE, {"user_id": ann["user_id"], "result_url": result_url}, format="json")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error == {"field": "result_url", "code": "FORMAT", "message": URL_FORMAT.format(result_url)}
    response = api.post(EMAIL_VERIFICATION, {"user_id": ann["user_id"], "result_url": result_url}, format="json")
    assert response.status_code == 400
    assert Ticket.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("ttl_sec", -1, "MINIMUM"),
        ("ttl_sec", MAX_TTL_SECONDS + 1, "MAXIMUM"),
        ("ttl_sec", 10**30, "MAXIMUM"),
        ("ttl_sec", "60", "INVALID_TYPE"),
        ("ttl_sec", 1.5, "INVALID_TYPE"),
        ("ttl_sec", True, "INVALID_TYPE"),
        ("mark_email_as_verified", "true", "INVALID_TYPE"),
        ("includeEmailInRedirect", 1, "INVALID_TYPE"),
        ("user_id", 5, "INVALID_TYPE"),
        ("user_id", "auth0|\x00", "INVALID_CHARACTERS"),
        ("user_id", "auth0|\ud800", "INVALID_CHARACTERS"),
        ("user_id", "x" * 10_000, "MAX_LENGTH"),
        ("result_url", "https://example.com/" + "a" * 10_000, "MAX_LENGTH"),
        ("result_url", "https://example.com/\x00", "INVALID_CHARACTERS"),
        ("client_id", "x" * 10_000, "MAX_LENGTH"),
        ("connection_id", "con_bad", "PATTERN"),
        ("email", "not an address", "FORMAT"),
        ("identity", "auth0|x", "INVALID_TYPE"),
        ("organization_id", ["org"], "INVALID_TYPE"),
    ],
)
def test_hostile_fields_are_400_invalid_body(api, ann, field, value, code):
    body = json.dumps({"user_id": ann["user_id"], field: value})  # ASCII: a lone surrogate travels escaped
    response = api.generic("POST", PASSWORD_CHANGE, body, content_type="application/json")
    assert response.status_code == 400, response.json()
    assert response.json()["errorCode"] == "invalid_body"
    assert [error["code"] for error in response.json()["errors"] if error["field"] == field] == [code]


@pytest.mark.parametrize("body", [[], "x", None, 5, {"user_id": None}, {"unknown": 1, "user_id": "auth0|1"}])
def test_bodies_that_are_no_ticket_request_are_400(api, body, connection):
    for path in (PASSWORD_CHANGE, EMAIL_VERIFICATION):
        response = api.post(path, body, format="json")
        assert response.status_code == 400, response.json()
        assert response.json()["errorCode"] == "invalid_body"


def test_unknown_keys_are_refused_like_the_rest_of_the_api(api, ann):
    response = api.post(EMAIL_VERIFICATION, {"user_id": ann["user_id"], "mark_email_as_verified": True}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "field": None,
            "code": "OBJECT_ADDITIONAL_PROPERTIES",
            "message": "Additional properties not allowed: mark_email_as_verified",
        }
    ]


def test_malformed_json_is_400(api, connection):
    response = api.generic("POST", PASSWORD_CHANGE, b'{"user_id": ', content_type="application/json")
    assert response.status_code == 400


# --- using a password-change ticket ---------------------------------------------------------------------------


def test_a_ticket_sets_the_password_once(api, client, ann):
    token = ticket_of(issue(api, user_id=ann["user_id"]))
    response = reset(client, token)
    assert response.status_code == 200
    assert "Password changed" in response.content.decode()
    user = User.objects.get(user_id=ann["user_id"])
    from core.hashing import bcrypt_verify

    assert user.password_hash is not None and bcrypt_verify(NEW_PASSWORD, user.password_hash)
    again = reset(client, token, "An0ther!Passw0rd")
    assert again.status_code == 400
    assert "This password reset link has already been used." in again.content.decode()
    user.refresh_from_db()
    assert bcrypt_verify(NEW_PASSWORD, user.password_hash or "")


def test_the_change_is_recorded_as_auth0s_scp(api, client, ann):
    reset(client, ticket_of(issue(api, user_id=ann["user_id"])))
    event = Event.objects.get(type=EventType.SUCCESS_CHANGE_PASSWORD)
    assert event.description == "Successful change password"
    assert event.actor_kind == "anonymous" and event.actor_id == ann["user_id"]
    assert event.details == {"fields": ["password"]}


def test_a_weak_password_is_recorded_as_fcp_and_leaves_the_ticket_usable(api, client, ann):
    token = ticket_of(issue(api, user_id=ann["user_id"]))
    assert reset(client, token, "weak").status_code == 400
    event = Event.objects.get(type=EventType.FAILED_CHANGE_PASSWORD)
    assert event.description == "Password is too weak"
    assert event.user_id == ann["user_id"]
    assert "weak" not in str(event.details).replace("too weak", "")
    assert reset(client, token).status_code == 200


def test_mark_email_as_verified(api, client, ann):
    reset(client, ticket_of(issue(api, user_id=ann["user_id"], mark_email_as_verified=True)))
    assert User.objects.get(user_id=ann["user_id"]).email_verified is True
    event = Event.objects.get(type=EventType.SUCCESS_CHANGE_PASSWORD)
    assert event.details == {"fields": ["email_verified", "password"]}


def test_without_mark_email_as_verified_the_address_stays_unverified(api, client, ann):
    reset(client, ticket_of(issue(api, user_id=ann["user_id"])))
    assert User.objects.get(user_id=ann["user_id"]).email_verified is False


def test_the_page_redirects_to_result_url_with_auth0s_parameters(api, client, ann):
    link = issue(api, user_id=ann["user_id"], result_url="https://app.example.com/done?from=ticket#top")
    response = reset(client, ticket_of(link))
    assert response.status_code == 302
    assert response["Location"] == (
        "https://app.example.com/done?from=ticket&success=true"
        "&message=You+can+now+login+to+the+application+with+the+new+password.#top"
    )
    assert response["Referrer-Policy"] == "no-referrer"


def test_include_email_in_redirect_adds_the_address(api, client, ann):
    link = issue(api, user_id=ann["user_id"], result_url="http://localhost:3000/cb", includeEmailInRedirect=True)
    location = reset(client, ticket_of(link))["Location"]
    assert parse_qs(urlsplit(location).query) == {
        "success": ["true"],
        "message": ["You can now login to the application with the new password."],
        "email": ["ann@example.com"],
    }


def test_an_expired_ticket_is_refused(api, client, ann):
    token = ticket_of(issue(api, user_id=ann["user_id"], ttl_sec=60))
    Ticket.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(f"/lo/reset?ticket={token}").status_code == 400
    response = reset(client, token)
    assert response.status_code == 400
    assert "This password reset link has expired." in response.content.decode()
    assert Event.objects.filter(type=EventType.FAILED_CHANGE_PASSWORD, details={"reason": "expired"}).exists()


def test_a_password_change_after_issue_spends_the_ticket(api, client, ann):
    token = ticket_of(issue(api, user_id=ann["user_id"]))
    assert api.patch(user_url(ann["user_id"]), {"password": "Chang3d!Elsewhere"}, format="json").status_code == 200
    response = reset(client, token)
    assert response.status_code == 400
    assert "already been used" in response.content.decode()


def test_an_email_change_after_issue_spends_the_ticket(api, client, ann):
    token = ticket_of(issue(api, user_id=ann["user_id"]))
    assert api.patch(user_url(ann["user_id"]), {"email": "ann2@example.com"}, format="json").status_code == 200
    assert reset(client, token).status_code == 400


def test_a_blocked_user_cannot_use_a_ticket(api, client, ann):
    token = ticket_of(issue(api, user_id=ann["user_id"]))
    api.patch(user_url(ann["user_id"]), {"blocked": True}, format="json")
    assert client.get(f"/lo/reset?ticket={token}").status_code == 400
    response = reset(client, token)
    assert response.status_code == 400
    assert "is not valid" in response.content.decode()
    api.patch(user_url(ann["user_id"]), {"blocked": False}, format="json")
    assert reset(client, token).status_code == 200  # unblocking gives the unused link back


def test_a_deleted_users_ticket_is_gone(api, client, ann):
    token = ticket_of(issue(api, user_id=ann["user_id"]))
    api.delete(user_url(ann["user_id"]))
    assert Ticket.objects.count() == 0
    assert reset(client, token).status_code == 400


def test_a_ticket_for_a_user_deleted_since_it_was_read_is_user_not_found(api, ann):
    """The caller read the user, then it was deleted (alone, or with its connection): the ticket's foreign key failed
    at commit, an IntegrityError (a 500 at the API and at the public change_password endpoint)."""
    stale = User.objects.get(user_id=ann["user_id"])
    assert api.delete(user_url(ann["user_id"])).status_code == 204
    with pytest.raises(UserNotFound):
        issue_ticket(user=stale, purpose=TicketPurpose.PASSWORD_CHANGE, actor=SYSTEM)
    assert not Ticket.objects.exists()
    assert not Event.objects.filter(description="Create a password change ticket").exists()


def test_a_verification_ticket_does_not_reset_a_password(api, client, ann):
    token = ticket_of(issue(api, EMAIL_VERIFICATION, user_id=ann["user_id"]))
    assert client.get(f"/lo/reset?ticket={token}").status_code == 400
    assert reset(client, token).status_code == 400


def test_a_forged_or_tampered_ticket_is_refused(api, client, ann):
    token = ticket_of(issue(api, user_id=ann["user_id"]))
    for forged in ("", "x", token[:-1], token + "A", "A" * 43, "a" * 5000):
        assert reset(client, forged).status_code == 400
        assert client.get("/lo/reset", {"ticket": forged}).status_code == 400
    assert reset(client, token).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_submissions_cannot_both_succeed(api, ann):
    """Both POSTs pass the page's first check; the conditional UPDATE lets exactly one change the password."""
    token = ticket_of(issue(api, user_id=ann["user_id"]))
    barrier = threading.Barrier(4)
    results: list[int] = []

    def submit(password: str) -> None:
        try:
            barrier.wait()
            results.append(reset(DjangoClient(), token, password).status_code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=submit, args=(f"Racer!{n}Passw0rd",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 400, 400, 400]
    assert Event.objects.filter(type=EventType.SUCCESS_CHANGE_PASSWORD).count() == 1
    assert Ticket.objects.get().used_at is not None


# --- using an e-mail-verification ticket --------------------------------------------------------------------


def test_opening_a_verification_ticket_verifies_once(api, client, ann):
    link = issue(api, EMAIL_VERIFICATION, user_id=ann["user_id"])
    response = client.get(page_path(link))
    assert response.status_code == 200
    assert "E-mail verified" in response.content.decode()
    assert User.objects.get(user_id=ann["user_id"]).email_verified is True
    assert Event.objects.get(type=EventType.SUCCESS_VERIFICATION_EMAIL).actor_id == ann["user_id"]
    again = client.get(page_path(link))
    assert again.status_code == 400
    assert "This verification link has already been used." in again.content.decode()


def test_a_verification_ticket_redirects_to_result_url(api, client, ann):
    link = issue(
        api,
        EMAIL_VERIFICATION,
        user_id=ann["user_id"],
        result_url="https://app.example.com/v",
        includeEmailInRedirect=True,
    )
    response = client.get(page_path(link))
    assert response.status_code == 302
    assert parse_qs(urlsplit(response["Location"]).query) == {
        "success": ["true"],
        "message": ["Your email was verified. You can continue using the application."],
        "email": ["ann@example.com"],
    }


def test_a_verification_ticket_for_an_old_address_does_not_verify_the_new_one(api, client, ann):
    link = issue(api, EMAIL_VERIFICATION, user_id=ann["user_id"])
    api.patch(user_url(ann["user_id"]), {"email": "new@example.com"}, format="json")
    assert client.get(page_path(link)).status_code == 400
    assert User.objects.get(user_id=ann["user_id"]).email_verified is False
    assert Event.objects.filter(type=EventType.FAILED_VERIFICATION_EMAIL).exists()


def test_an_expired_verification_ticket_is_refused(api, client, ann):
    link = issue(api, EMAIL_VERIFICATION, user_id=ann["user_id"], ttl_sec=1)
    Ticket.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(page_path(link))
    assert response.status_code == 400
    assert "This verification link has expired." in response.content.decode()
    assert User.objects.get(user_id=ann["user_id"]).email_verified is False


def test_the_verification_page_also_answers_at_the_older_path(api, client, ann):
    token = ticket_of(issue(api, EMAIL_VERIFICATION, user_id=ann["user_id"]))
    assert client.get("/email-verification", {"ticket": token}).status_code == 200


# --- no token in logs or audit ------------------------------------------------------------------------------


def test_no_ticket_appears_in_logs_or_the_audit_log(api, client, ann, caplog):
    caplog.set_level(logging.DEBUG)
    link = issue(api, user_id=ann["user_id"], result_url="https://app.example.com/")
    token = ticket_of(link)
    client.get(page_path(link))
    reset(client, token, "weak")
    reset(client, token)
    reset(client, token)  # refused: used
    verification = ticket_of(issue(api, EMAIL_VERIFICATION, user_id=ann["user_id"]))
    client.get("/u/email-verification", {"ticket": verification})
    client.get("/u/email-verification", {"ticket": verification})
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged  # something was logged, and none of it holds a token or a password
    for secret in (token, verification, NEW_PASSWORD):
        assert secret not in logged
        for event in Event.objects.all():
            assert secret not in f"{event.description} {event.details} {event.actor_id}"
        assert not Ticket.objects.filter(digest__contains=secret).exists()


def test_the_password_grant_uses_the_new_password(api, client, ann, connection):
    app, secret = create_client(name="app", scopes="", connections=[connection.name], actor=SYSTEM)
    reset(client, ticket_of(issue(api, user_id=ann["user_id"])))
    grant = {
        "grant_type": "http://auth0.com/oauth/grant-type/password-realm",
        "client_id": app.client_id,
        "client_secret": secret,
        "realm": connection.name,
        "username": "ann@example.com",
    }
    old = client.post("/oauth/token", {**grant, "password": STRONG_PASSWORD}, content_type="application/json")
    assert old.status_code == 403
    new = client.post("/oauth/token", {**grant, "password": NEW_PASSWORD}, content_type="application/json")
    assert new.status_code == 200, new.json()


@pytest.mark.skipif(db.vendor != "postgresql", reason="SQLite has no row locks (FOR UPDATE)")
def test_a_reset_locks_the_users_row_not_its_connection(api, ann) -> None:
    # FOR UPDATE with the connection joined locked the connection's row too, holding back every insert into the
    # connection (a create's foreign key check waits for it) until the reset committed.
    token = ticket_of(issue(api, user_id=ann["user_id"]))
    locks: list[str] = []

    def record(execute, sql, params, many, context):
        if "FOR UPDATE" in sql and '"users_user"' in sql:
            locks.append(sql)
        return execute(sql, params, many, context)

    with db.execute_wrapper(record):
        response = reset(DjangoClient(), token)
    assert response.status_code in (200, 302), response.content[:300]
    assert locks
    assert all('FOR UPDATE OF "users_user"' in sql for sql in locks), locks
