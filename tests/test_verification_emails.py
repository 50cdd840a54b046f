"""Verification e-mails: Auth0's sending rule, signed expiring links, the pages, and re-sending."""

from __future__ import annotations

import re
import time
from unittest import mock
from urllib.parse import urlsplit

import pytest

from clients.services import create_client
from core.actors import SYSTEM
from tests.helpers import STRONG_PASSWORD
from users.models import User
from users.verification import verification_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(api_client, token):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users update:users')}")
    return api_client


def _create(api, capture, **fields):
    body = {"connection": "Username-Password-Authentication", "email": "ann@example.com", "password": STRONG_PASSWORD}
    with capture(execute=True):
        response = api.post("/api/v2/users", {**body, **fields}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def _link(message) -> str:
    (link,) = re.findall(r"http\S+email-verification\?ticket=\S+", message.body)
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


@pytest.mark.parametrize(
    ("fields", "sent"),
    [
        ({}, True),
        ({"email_verified": False}, True),
        ({"email_verified": True}, False),
        ({"verify_email": False}, False),
        ({"verify_email": True, "email_verified": True}, True),
        ({"verify_email": False, "email_verified": False}, False),
    ],
)
def test_auth0s_rule_decides_whether_a_create_sends_the_mail(
    api, connection, mailoutbox, django_capture_on_commit_callbacks, fields, sent
):
    _create(api, django_capture_on_commit_callbacks, **fields)
    assert len(mailoutbox) == (1 if sent else 0)
    if sent:
        assert mailoutbox[0].to == ["ann@example.com"]
        assert "email-verification?ticket=" in mailoutbox[0].body


def test_nothing_is_sent_before_the_transaction_commits(
    api, connection, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api.post(
            "/api/v2/users",
            {"connection": connection.name, "email": "a@example.com", "password": STRONG_PASSWORD},
            format="json",
        )
    assert len(callbacks) == 1
    assert mailoutbox == []


def test_users_without_an_email_get_no_mail(api, make_connection, mailoutbox, django_capture_on_commit_callbacks):
    make_connection(name="sms", strategy="sms")
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v2/users", {"connection": "sms", "phone_number": "+14155550123"}, format="json")
    assert mailoutbox == []


def test_signup_sends_the_mail(api_client, connection, mailoutbox, django_capture_on_commit_callbacks):
    app, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    body = {
        "client_id": app.client_id,
        "connection": connection.name,
        "email": "a@example.com",
        "password": STRONG_PASSWORD,
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.post("/dbconnections/signup", body, format="json").status_code == 200
    assert [m.to for m in mailoutbox] == [["a@example.com"]]


def test_following_the_link_verifies_once(api, client, connection, mailoutbox, django_capture_on_commit_callbacks):
    created = _create(api, django_capture_on_commit_callbacks)
    link = _link(mailoutbox[0])
    first = client.get(link)
    assert first.status_code == 200
    assert "E-mail verified" in first.text
    user = User.objects.get(user_id=created["user_id"])
    assert user.email_verified is True
    assert user.updated_at > user.created_at
    second = client.get(link)
    assert second.status_code == 200
    assert "already verified" in second.text


def test_a_tampered_link_changes_nothing(api, client, connection, mailoutbox, django_capture_on_commit_callbacks):
    _create(api, django_capture_on_commit_callbacks)
    link = _link(mailoutbox[0])
    response = client.get(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
    assert response.status_code == 400
    assert "Invalid link" in response.text
    assert client.get("/email-verification").status_code == 400
    assert User.objects.get().email_verified is False


def test_an_expired_link_changes_nothing(api, client, connection, django_capture_on_commit_callbacks, settings):
    created = _create(api, django_capture_on_commit_callbacks, verify_email=False)
    user = User.objects.get(user_id=created["user_id"])
    six_days_ago = time.time() - 6 * 86400
    with mock.patch("django.core.signing.time.time", return_value=six_days_ago):
        link = verification_link(user)
    response = client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert response.status_code == 400
    assert "expired" in response.text
    assert User.objects.get().email_verified is False
    settings.EMAIL_VERIFICATION_TTL_SECONDS = 7 * 86400
    assert client.get(urlsplit(link).path + "?" + urlsplit(link).query).status_code == 200


def test_a_link_for_an_old_address_does_not_verify_the_new_one(
    api, client, connection, mailoutbox, django_capture_on_commit_callbacks
):
    created = _create(api, django_capture_on_commit_callbacks)
    link = _link(mailoutbox[0])
    api.patch(f"/api/v2/users/{created['user_id']}", {"email": "new@example.com"}, format="json")
    assert client.get(link).status_code == 400
    assert User.objects.get().email_verified is False


def test_a_mail_failure_does_not_undo_the_create(api, connection, django_capture_on_commit_callbacks):
    with mock.patch("users.verification.send_mail", side_effect=OSError("smtp down")):
        response = None
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(
                "/api/v2/users",
                {"connection": connection.name, "email": "a@example.com", "password": STRONG_PASSWORD},
                format="json",
            )
    assert response.status_code == 201
    assert User.objects.count() == 1


def test_the_job_endpoint_sends_it_again(api, connection, mailoutbox, django_capture_on_commit_callbacks):
    created = _create(api, django_capture_on_commit_callbacks, verify_email=False)
    response = api.post("/api/v2/jobs/verification-email", {"user_id": created["user_id"]}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["type"] == "verification_email" and body["id"].startswith("job_")
    assert [m.to for m in mailoutbox] == [["ann@example.com"]]


def test_the_job_endpoint_refusals(api, api_client, token, connection, django_capture_on_commit_callbacks):
    unknown = api.post("/api/v2/jobs/verification-email", {"user_id": "auth0|nope"}, format="json")
    assert unknown.status_code == 404 and unknown.json()["errorCode"] == "inexistent_user"
    verified = _create(api, django_capture_on_commit_callbacks, email_verified=True)
    again = api.post("/api/v2/jobs/verification-email", {"user_id": verified["user_id"]}, format="json")
    assert again.status_code == 400 and again.json()["errors"][0]["code"] == "ALREADY_VERIFIED"
    assert api.post("/api/v2/jobs/verification-email", {}, format="json").status_code == 400
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    scope = api_client.post("/api/v2/jobs/verification-email", {"user_id": verified["user_id"]}, format="json")
    assert scope.status_code == 403


def test_the_mail_follows_the_request_language(api, connection, mailoutbox, django_capture_on_commit_callbacks):
    body = {"connection": connection.name, "email": "a@example.com", "password": STRONG_PASSWORD}
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v2/users", body, format="json", HTTP_ACCEPT_LANGUAGE="ja")
    assert mailoutbox[0].subject == "メールアドレスの確認"
    assert "次のリンクを開いて" in mailoutbox[0].body


def test_a_mail_server_failure_on_resend_is_a_503(api, connection, django_capture_on_commit_callbacks):
    created = _create(api, django_capture_on_commit_callbacks, verify_email=False)
    with mock.patch("users.verification.send_mail", side_effect=OSError("smtp down")):
        response = api.post("/api/v2/jobs/verification-email", {"user_id": created["user_id"]}, format="json")
    assert response.status_code == 503
    assert response.json()["errorCode"] == "mail_unavailable"
