"""E-mail verification: Auth0's sending rule on create, sending after commit, the signed expiring link and
its pages, and ``POST /api/v2/jobs/verification-email``."""

from __future__ import annotations

import re
import time
from contextlib import contextmanager
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import override_settings

from audit.models import Event, EventType
from core.actors import SYSTEM
from tests.helpers import (
    MISSING_TOKEN,
    SIGNUP,
    STRONG_PASSWORD,
    USER_NOT_FOUND,
    USERS,
    VERIFICATION_JOB,
    forbidden,
    invalid_body,
    management_error,
)
from users.models import User

pytestmark = pytest.mark.django_db

FIVE_DAYS = 5 * 86400
LINK = re.compile(r"(?P<base>\S+)/email-verification\?ticket=(?P<ticket>\S+)")


@pytest.fixture
def on_commit(capture_tasks):
    """The mail is a task queued in the request's transaction and sent by the worker: ``capture_tasks`` runs the
    queued tasks as the worker would (``execute=True``), or hands them to the test to run when it decides."""
    return capture_tasks


def _create(api, capture, **fields):
    """Create through the management API and run the queued tasks, as the worker would."""
    body = {
        "connection": "Username-Password-Authentication",
        "email": "ann@example.com",
        "password": STRONG_PASSWORD,
    }
    with capture(execute=True):
        response = api.post(USERS, {**body, **fields}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _path(message) -> str:
    """The path and query of the one verification link in a mail, to follow with the test client."""
    (match,) = LINK.finditer(message.body)
    parts = urlsplit(match.group(0))
    return f"{parts.path}?{parts.query}"


@contextmanager
def _signing_clock(at: float):
    """Sign (or check) tickets as if it were ``at``; nothing else sees the fake clock."""
    with mock.patch("django.core.signing.time") as clock:
        clock.time.return_value = at
        yield


def _created_with_callbacks(api, capture, **fields):
    """Create, holding back the queued tasks so the test decides when (and at what time) they run."""
    body = {
        "connection": "Username-Password-Authentication",
        "email": "ann@example.com",
        "password": STRONG_PASSWORD,
    }
    with capture(execute=False) as callbacks:
        response = api.post(USERS, {**body, **fields}, format="json")
    assert response.status_code == 201
    return response.json(), callbacks


def _verified_events():
    return Event.objects.filter(type=EventType.SUCCESS_VERIFICATION_EMAIL)


# --- when a mail is sent -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "sent"),
    [
        pytest.param({}, True, id="unspecified"),
        pytest.param({"email_verified": False}, True, id="unverified"),
        pytest.param({"email_verified": True}, False, id="verified"),
        pytest.param({"verify_email": True}, True, id="verify"),
        pytest.param({"verify_email": False}, False, id="no-verify"),
        pytest.param({"verify_email": True, "email_verified": True}, True, id="verify-overrides-verified"),
        pytest.param({"verify_email": False, "email_verified": False}, False, id="no-verify-overrides"),
    ],
)
def test_auth0s_rule_decides_whether_a_management_create_sends_the_mail(
    api, connection, mailoutbox, on_commit, fields, sent
):
    created = _create(api, on_commit, **fields)
    assert [m.to for m in mailoutbox] == ([["ann@example.com"]] if sent else [])
    assert created["email_verified"] is fields.get("email_verified", False)


@override_settings(PUBLIC_BASE_URL="https://id.example.org", DEFAULT_FROM_EMAIL="accounts@example.org")
def test_the_mail_carries_a_link_to_this_service(api, connection, mailoutbox, on_commit):
    _create(api, on_commit, name="Ann Lee")
    (message,) = mailoutbox
    (match,) = LINK.finditer(message.body)
    assert match.group("base") == "https://id.example.org"
    assert message.subject == "Verify your e-mail address"
    assert message.from_email == "accounts@example.org"
    assert message.to == ["ann@example.com"]
    assert message.body == (
        "Hello Ann Lee,\n\n"
        "Please verify your e-mail address by opening this link:\n\n"
        f"{match.group(0)}\n\n"
        "The link expires in 5 days.\n\n"
        "If you did not create an account, you can ignore this message.\n"
    )


def test_nothing_is_sent_before_the_worker_runs_the_queued_task(api, connection, mailoutbox, on_commit):
    _created, callbacks = _created_with_callbacks(api, on_commit)
    assert mailoutbox == []
    assert len(callbacks) == 1
    callbacks[0]()
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]


@pytest.mark.django_db(transaction=True)
def test_a_committed_create_sends_and_a_refused_one_does_not(api, connection, mailoutbox, run_tasks):
    body = {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}
    assert api.post(USERS, body, format="json").status_code == 201
    assert run_tasks() == 1
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]
    assert api.post(USERS, body, format="json").status_code == 409
    weak = {**body, "email": "bob@example.com", "password": "weak"}
    assert api.post(USERS, weak, format="json").status_code == 400
    assert run_tasks() == 0  # the refused creates queued nothing
    assert len(mailoutbox) == 1


def test_a_user_without_an_email_gets_no_mail(api, make_connection, mailoutbox, on_commit):
    make_connection(name="sms", strategy="sms")
    with on_commit(execute=True):
        response = api.post(USERS, {"connection": "sms", "phone_number": "+14155550123"}, format="json")
    assert response.status_code == 201
    assert mailoutbox == []


def test_a_mail_failure_does_not_undo_the_create(api, connection, on_commit):
    body = {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}
    failing = mock.patch("users.verification.send_mail", side_effect=OSError("smtp down"))
    with failing as send, on_commit(execute=True):
        response = api.post(USERS, body, format="json")
    assert send.call_count == 1
    assert response.status_code == 201
    assert User.objects.filter(email="ann@example.com").exists()


def test_signup_sends_one_mail(api_client, signup_app, mailoutbox, on_commit):
    body = {
        "client_id": signup_app.client_id,
        "connection": "Username-Password-Authentication",
        "email": "ann@example.com",
        "password": STRONG_PASSWORD,
    }
    with on_commit(execute=True):
        response = api_client.post(SIGNUP, body, format="json")
    assert response.status_code == 200
    assert response.json()["email_verified"] is False
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]


def test_a_refused_signup_sends_nothing(api_client, signup_app, mailoutbox, on_commit):
    body = {
        "client_id": signup_app.client_id,
        "connection": "Username-Password-Authentication",
        "email": "ann@example.com",
        "password": STRONG_PASSWORD,
    }
    with on_commit(execute=True):
        assert api_client.post(SIGNUP, body, format="json").status_code == 200
    mailoutbox.clear()
    with on_commit(execute=True) as callbacks:
        assert api_client.post(SIGNUP, body, format="json").status_code == 400
        weak = {**body, "email": "bob@example.com", "password": "weak"}
        assert api_client.post(SIGNUP, weak, format="json").status_code == 400
    assert callbacks == []
    assert mailoutbox == []


def test_the_mail_follows_the_request_language(api, connection, mailoutbox, on_commit):
    body = {"connection": connection.name, "email": "a@example.com", "password": STRONG_PASSWORD}
    with on_commit(execute=True):
        api.post(USERS, body, format="json", HTTP_ACCEPT_LANGUAGE="ja")
    assert mailoutbox[0].subject == "メールアドレスの確認"
    assert "次のリンクを開いて" in mailoutbox[0].body


def test_a_v1_create_sends_one_mail(api, connection, mailoutbox, on_commit):
    with on_commit(execute=True):
        body = {"email": "ann@example.com", "password": STRONG_PASSWORD}
        response = api.post("/v1/users", body, format="json")
    assert response.status_code == 201
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]


# --- following the link --------------------------------------------------------------------------------


def test_following_the_link_verifies_the_address_once(api, client, connection, mailoutbox, on_commit):
    created = _create(api, on_commit)
    link = _path(mailoutbox[0])

    first = client.get(link)
    assert first.status_code == 200
    assert '<h1 class="ok">E-mail verified</h1>' in first.text
    assert "Thank you: your e-mail address is verified." in first.text
    user = User.objects.get(user_id=created["user_id"])
    assert user.email_verified is True
    assert user.updated_at > user.created_at
    assert _verified_events().filter(user_id=user.user_id).count() == 1
    profile = api.get(f"{USERS}/{created['user_id']}").json()
    assert profile["email_verified"] is True

    second = client.get(link)
    assert second.status_code == 200
    assert '<h1 class="ok">E-mail already verified</h1>' in second.text
    assert User.objects.get().updated_at == user.updated_at
    assert _verified_events().count() == 1


def test_a_tampered_link_shows_a_clear_page(api, client, connection, mailoutbox, on_commit):
    _create(api, on_commit)
    link = _path(mailoutbox[0])
    tampered = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    response = client.get(tampered)
    assert response.status_code == 400
    assert '<h1 class="bad">Invalid link</h1>' in response.text
    assert "This verification link is not valid." in response.text
    assert User.objects.get().email_verified is False
    assert not _verified_events().exists()


@pytest.mark.parametrize(
    "query",
    ["", "?ticket=", "?ticket=garbage", "?ticket=" + signing.dumps({"u": "auth0|x", "e": "ann@example.com"})],
    ids=["no-ticket", "empty", "garbage", "other-salt"],
)
def test_a_link_that_is_not_ours_is_invalid(api, client, connection, on_commit, query):
    _create(api, on_commit)
    response = client.get(f"/email-verification{query}")
    assert response.status_code == 400
    assert "Invalid link" in response.text
    assert User.objects.get().email_verified is False


def test_a_ticket_signed_for_another_purpose_does_not_verify(api, client, connection, on_commit):
    created = _create(api, on_commit)
    forged = signing.dumps({"u": created["user_id"], "e": "ann@example.com"}, compress=True)
    response = client.get("/email-verification", {"ticket": forged})
    assert response.status_code == 400
    assert "Invalid link" in response.text
    assert User.objects.get().email_verified is False


@pytest.mark.parametrize(
    ("age", "verified"),
    [(FIVE_DAYS - 60, True), (FIVE_DAYS + 60, False)],
    ids=["just-inside-five-days", "just-past-five-days"],
)
def test_links_expire_after_five_days(api, client, connection, mailoutbox, on_commit, age, verified):
    _created, callbacks = _created_with_callbacks(api, on_commit)
    with _signing_clock(time.time() - age):
        for callback in callbacks:
            callback()
    response = client.get(_path(mailoutbox[0]))
    if verified:
        assert response.status_code == 200
        assert "E-mail verified" in response.text
    else:
        assert response.status_code == 400
        assert '<h1 class="bad">Link expired</h1>' in response.text
        assert "This verification link has expired. Ask for a new verification e-mail." in response.text
    assert User.objects.get().email_verified is verified


def test_the_lifetime_comes_from_the_setting(api, client, connection, mailoutbox, on_commit):
    with override_settings(EMAIL_VERIFICATION_TTL_SECONDS=60):
        _created, callbacks = _created_with_callbacks(api, on_commit)
        with _signing_clock(time.time() - 120):
            callbacks[0]()
        assert "The link expires in 1 day." in mailoutbox[0].body
        expired = client.get(_path(mailoutbox[0]))
        assert expired.status_code == 400
        assert "Link expired" in expired.text
        assert User.objects.get().email_verified is False
    # The same link is still good under the default five days: the age, not the link, decided.
    assert client.get(_path(mailoutbox[0])).status_code == 200
    assert User.objects.get().email_verified is True


def test_an_old_address_link_does_not_verify_the_new_one(api, client, connection, mailoutbox, on_commit):
    created = _create(api, on_commit)
    old_link = _path(mailoutbox[0])
    changed = api.patch(f"{USERS}/{created['user_id']}", {"email": "new@example.com"}, format="json")
    assert changed.status_code == 200
    response = client.get(old_link)
    assert response.status_code == 400
    assert "Invalid link" in response.text
    user = User.objects.get()
    assert (user.email, user.email_verified) == ("new@example.com", False)

    assert api.post(VERIFICATION_JOB, {"user_id": created["user_id"]}, format="json").status_code == 201
    new_link = _path(mailoutbox[-1])
    assert mailoutbox[-1].to == ["new@example.com"]
    assert client.get(new_link).status_code == 200
    assert User.objects.get().email_verified is True


def test_the_verification_page_only_answers_get(client):
    assert client.post("/email-verification?ticket=x").status_code == 405


# --- POST /api/v2/jobs/verification-email --------------------------------------------------------------


def test_the_job_sends_the_mail_again(api, client, connection, mailoutbox, on_commit):
    created = _create(api, on_commit, verify_email=False)
    assert mailoutbox == []
    response = api.post(VERIFICATION_JOB, {"user_id": created["user_id"]}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "type": "verification_email",
        "status": "completed",
        "created_at": body["created_at"],
        "id": body["id"],
    }
    assert re.fullmatch(r"job_[A-Za-z0-9]{16}", body["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["created_at"])
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]
    requests = Event.objects.filter(type=EventType.VERIFICATION_EMAIL_REQUEST, user_id=created["user_id"])
    assert requests.count() == 1
    assert client.get(_path(mailoutbox[0])).status_code == 200
    assert User.objects.get().email_verified is True


def test_the_jobs_id_reads_back_as_auth0s_check_job_status_says(api, connection, mailoutbox, on_commit):
    # Auth0's "Resend Verification Emails": "Check job status: ... Call the Management API Get a job endpoint with the
    # job's id" -> {"type":"verification_email","status":"completed","created_at":...,"id":...}. The id was made up
    # and never stored, so a script polling it got 404 inexistent_job.
    created = _create(api, on_commit, verify_email=False)
    job = api.post(VERIFICATION_JOB, {"user_id": created["user_id"]}, format="json").json()
    response = api.get(f"/api/v2/jobs/{job['id']}")
    assert response.status_code == 200
    assert response.json() == job
    # A job that refused no user: its errors are Auth0's 204, as for a clean import.
    assert api.get(f"/api/v2/jobs/{job['id']}/errors").status_code == 204
    assert len(mailoutbox) == 1


def test_a_connection_deleted_while_the_mail_goes_out_is_a_404_not_a_500(api, connection, mailoutbox, on_commit):
    # The mail is sent (an SMTP round trip) before the job is recorded; a DELETE of the user's connection that
    # committed meanwhile left the job's foreign key pointing at nothing: an IntegrityError, a 500. The job is now
    # recorded with the connection's row locked, as an import's is, and a connection gone is the user gone.
    from api.management import verification
    from connections.services import delete_connection
    from jobs.models import Job

    created = _create(api, on_commit, verify_email=False)
    send = verification.send_verification_email

    def send_then_delete(user):
        send(user)
        delete_connection(connection_id=connection.pk, actor=SYSTEM)

    with mock.patch.object(verification, "send_verification_email", send_then_delete):
        response = api.post(VERIFICATION_JOB, {"user_id": created["user_id"]}, format="json")
    assert response.status_code == 404
    assert response.json() == USER_NOT_FOUND
    assert not Job.objects.exists()


def test_the_job_answers_404_for_an_unknown_user(api, connection, mailoutbox):
    response = api.post(VERIFICATION_JOB, {"user_id": "auth0|000000000000000000000000"}, format="json")
    assert response.status_code == 404
    assert response.json() == USER_NOT_FOUND
    assert mailoutbox == []


def test_the_job_refuses_a_user_without_an_email(api, make_connection, mailoutbox):
    make_connection(name="sms", strategy="sms")
    created = api.post(USERS, {"connection": "sms", "phone_number": "+14155550123"}, format="json").json()
    response = api.post(VERIFICATION_JOB, {"user_id": created["user_id"]}, format="json")
    assert response.status_code == 400
    assert response.json() == invalid_body(("user_id", "NO_EMAIL", "The user has no e-mail address."))
    assert mailoutbox == []


def test_the_job_refuses_an_already_verified_address(api, connection, mailoutbox, on_commit):
    created = _create(api, on_commit, email_verified=True)
    response = api.post(VERIFICATION_JOB, {"user_id": created["user_id"]}, format="json")
    assert response.status_code == 400
    message = "The user's e-mail address is already verified."
    assert response.json() == invalid_body(("user_id", "ALREADY_VERIFIED", message))
    assert mailoutbox == []


def test_the_job_takes_auth0s_identity_when_it_is_the_users_own(api, connection, mailoutbox, on_commit):
    # Auth0's PostVerificationEmailRequest has identity (the SDKs' jobs.verification_email.create(identity=...)); it
    # was refused as an unknown property.
    created = _create(api, on_commit, verify_email=False)
    (identity,) = created["identities"]
    own = {"user_id": identity["user_id"], "provider": "auth0", "connection_id": connection.id}
    response = api.post(VERIFICATION_JOB, {"user_id": created["user_id"], "identity": own}, format="json")
    assert response.status_code == 201, response.json()
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]
    other = {**own, "user_id": "someone-else"}
    response = api.post(VERIFICATION_JOB, {"user_id": created["user_id"], "identity": other}, format="json")
    text = "The identity is not one of the user's."
    assert response.json() == invalid_body(("identity", "CONFLICTING_FIELDS", text), message=text)
    assert len(mailoutbox) == 1


def test_the_job_refuses_organizations_as_the_tickets_do(api, connection, mailoutbox, on_commit):
    created = _create(api, on_commit, verify_email=False)
    response = api.post(VERIFICATION_JOB, {"user_id": created["user_id"], "organization_id": "org_1"}, format="json")
    text = "This service has no organizations."
    assert response.json() == invalid_body(("organization_id", "UNSUPPORTED", text), message=text)
    assert mailoutbox == []


def test_the_job_needs_a_user_id(api, connection):
    response = api.post(VERIFICATION_JOB, {}, format="json")
    assert response.status_code == 400
    assert response.json() == invalid_body(
        ("user_id", "OBJECT_MISSING_REQUIRED_PROPERTY", "Missing required property: user_id"),
        message="Payload validation error: 'Missing required property: user_id'.",
    )


def test_the_job_needs_update_users(api_client, token, connection, mailoutbox, on_commit):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users read:users')}")
    created = _create(api_client, on_commit, verify_email=False)
    response = api_client.post(VERIFICATION_JOB, {"user_id": created["user_id"]}, format="json")
    assert response.status_code == 403
    assert response.json() == forbidden("update:users")
    api_client.credentials()
    anonymous = api_client.post(VERIFICATION_JOB, {"user_id": created["user_id"]}, format="json")
    assert anonymous.status_code == 401
    assert anonymous.json() == MISSING_TOKEN
    assert anonymous["WWW-Authenticate"] == 'Bearer realm="management-api"'
    assert mailoutbox == []


def test_a_mail_server_failure_on_resend_is_a_503(api, connection, on_commit):
    created = _create(api, on_commit, verify_email=False)
    with mock.patch("users.verification.send_mail", side_effect=OSError("smtp down")):
        response = api.post(VERIFICATION_JOB, {"user_id": created["user_id"]}, format="json")
    assert response.status_code == 503
    assert response.json()["errorCode"] == "mail_unavailable"
    assert response.json() == management_error(
        503, "The verification e-mail could not be sent. Try again later.", "mail_unavailable"
    )


@pytest.mark.parametrize("policy_name", ["default", "SMTP"])
def test_the_mail_is_djangos_message_byte_for_byte_with_each_header_class_made_once(policy_name):
    """``core.mail.EmailMessage`` (what the verification task sends) builds Django's message under the backend's
    policy, but makes each header name's class once (the standard library makes one per header per message)."""
    import email.policy

    from django.core.mail import EmailMessage as DjangoEmailMessage

    from core.mail import EmailMessage

    policy = getattr(email.policy, policy_name)
    fields: dict[str, Any] = {
        "subject": "Vérifiez votre adresse",
        "body": "Bonjour Zoë,\n\nhttps://example.com/email-verification?ticket=abc%3Adef\n",
        "from_email": "Service <no-reply@example.com>",
        "to": ["zoë@example.com", "Ann <ann@exämple.com>"],
        "headers": {"Date": "Tue, 01 Dec 2026 09:00:00 +0000", "Message-ID": "<1@example.com>"},
    }
    ours, django = EmailMessage(**fields).message(policy=policy), DjangoEmailMessage(**fields).message(policy=policy)
    assert ours.as_bytes() == django.as_bytes()
    again = EmailMessage(**fields).message(policy=policy)
    assert type(again["To"]) is type(ours["To"]) and type(again["Subject"]) is type(ours["Subject"])
    assert type(django["To"]) is not type(DjangoEmailMessage(**fields).message(policy=policy)["To"])


@pytest.mark.parametrize("policy_name", ["default", "SMTP", "SMTPUTF8"])
def test_repeating_headers_are_parsed_once_and_every_message_stays_djangos(policy_name):
    """``core.mail`` parses the sender, the subject and the MIME headers once and reuses them; the recipients are
    parsed for each message. Reused headers fold alike every time (folding must not change them): a long non-ASCII
    subject needing encoded words, sent twice to two recipients, is Django's message byte for byte both times."""
    import email.policy

    from django.core.mail import EmailMessage as DjangoEmailMessage

    from core.mail import EmailMessage

    policy = getattr(email.policy, policy_name)
    subject = "Vérifiez votre adresse électronique, s'il vous plaît — " * 3 + "ユーザー登録の確認"
    built = []
    for to in (["zoë@example.com"], ["Ann <ann@exämple.com>", "bob@example.com"], ["zoë@example.com"]):
        fields: dict[str, Any] = {
            "subject": subject,
            "body": "Bonjour,\n\nhttps://example.com/email-verification?ticket=abc%3Adef\n",
            "from_email": "Sérvice <no-reply@example.com>",
            "to": to,
            "headers": {"Date": "Tue, 01 Dec 2026 09:00:00 +0000", "Message-ID": "<1@example.com>"},
        }
        ours = EmailMessage(**fields).message(policy=policy)
        assert ours.as_bytes() == DjangoEmailMessage(**fields).message(policy=policy).as_bytes()
        assert ours.as_bytes() == EmailMessage(**fields).message(policy=policy).as_bytes()  # folded again, alike
        built.append(ours)
    first, second, third = built
    assert second["Subject"] is first["Subject"] and second["From"] is first["From"]
    assert second["Content-Type"] is first["Content-Type"]
    assert third["To"] == first["To"] and third["To"] is not first["To"]  # addresses are not kept


@pytest.mark.parametrize(
    ("template", "context"),
    [
        ("users/verification_email.txt", {"days": 5}),
        ("users/password_reset_email.txt", {}),
    ],
)
def test_plain_text_mails_show_names_and_links_as_they_are_not_html_escaped(template, context):
    """The mails are ``text/plain``: Django's templates escape for HTML by default, which wrote a user named
    ``Tom & Jerry's`` as ``Tom &amp; Jerry&#x27;s`` and a link's ``&`` as ``&amp;`` (a link that no longer works)."""
    from types import SimpleNamespace

    from django.template.loader import render_to_string

    name, link = "Tom & Jerry's <b>", "https://example.com/lo/reset?ticket=a%2Bb&lang=ja#x"
    text = render_to_string(template, {"user": SimpleNamespace(name=name), "name": name, "link": link, **context})
    assert f"Hello {name}," in text
    assert f"\n{link}\n" in text
    assert "&amp;" not in text and "&#x27;" not in text and "&lt;" not in text


def test_a_name_cannot_add_lines_to_the_mail(api, connection, mailoutbox, on_commit):
    """Anyone may sign up with another person's address, and the API accepts line breaks in a name: the greeting
    shows the name on one line, so it cannot write paragraphs of its own into a mail sent from this service."""
    name = "Ann\r\n\r\nYour account is locked. Call +1 555 0100\u2028now\tplease"
    _create(api, on_commit, name=name)
    (message,) = mailoutbox
    assert message.body.splitlines()[0] == "Hello Ann Your account is locked. Call +1 555 0100 now please,"
    assert "\nYour account is locked" not in message.body
