"""The password-reset page (``/lo/reset``): the form and its rules, CSRF, headers that keep the ticket from leaking,
English and Japanese, accessibility markers, refusals that never become a 500, limits on refused submissions, and
the official SDK's ticket calls against a live server."""

from __future__ import annotations

import re
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings
from django.test import Client as DjangoClient

from api.authentication import password_reset
from clients.services import create_client
from core.actors import SYSTEM
from ratelimits import buckets
from ratelimits.buckets import StoreUnavailable
from tests.helpers import STRONG_PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "N3w!Passw0rd-42"


def ticket_for(api, user_id: str, **body) -> str:
    response = api.post("/api/v2/tickets/password-change", {"user_id": user_id, **body}, format="json")
    assert response.status_code == 201, response.json()
    (token,) = parse_qs(urlsplit(response.json()["ticket"]).query)["ticket"]
    return token


@pytest.fixture
def reset_token(api, connection, new_user) -> str:
    return ticket_for(api, new_user()["user_id"])


def post(client, token: str, password: str, confirmation: str | None = None, **headers):
    data = {
        "ticket": token,
        "password": password,
        "password_confirmation": password if confirmation is None else confirmation,
    }
    return client.post("/lo/reset", data, **headers)


def rule_states(html: str) -> dict[str, str]:
    """``data-code`` → the rule's class (``pending``, ``met``, ``unmet``) as the page shows them."""
    return dict((code, state) for state, code in re.findall(r'<li class="(\w+)" data-code="(\w+)"', html))


def test_the_form_shows_the_connections_rules_unchecked(client, reset_token):
    response = client.get("/lo/reset", {"ticket": reset_token}, follow=True)
    html = response.content.decode()
    assert response.status_code == 200
    assert rule_states(html) == {
        "lengthAtLeast": "pending",
        "containsAtLeast": "pending",
        "lowerCase": "pending",
        "upperCase": "pending",
        "numbers": "pending",
        "specialCharacters": "pending",
    }
    assert "At least 8 characters in length" in html
    assert 'action="/lo/reset"' in html  # the ticket travels in the body, not in the POST's URL
    assert 'name="csrfmiddlewaretoken"' in html


def test_the_rules_follow_the_connections_policy(api, client, make_connection, new_user):
    make_connection(
        name="strict",
        passwordPolicy="excellent",
        password_complexity_options={"min_length": 12},
        password_dictionary={"enable": True},
        password_no_personal_info={"enable": True},
    )
    user = new_user(email="kim@example.com", connection="strict", password="Zq9!xT4#mW2$pL")
    token = ticket_for(api, user["user_id"])
    html = post(client, token, "password").content.decode()
    states = rule_states(html)
    assert "At least 12 characters in length" in html
    assert states["identicalChars"] == "met"
    assert states["password_dictionary"] == "unmet"
    assert states["password_no_personal_info"] == "met"
    assert "Password is not allowed, it might be too common." in html
    html = post(client, token, "kimkimkim-Zq9!xT4#").content.decode()
    assert rule_states(html)["password_no_personal_info"] == "unmet"


def test_a_weak_password_shows_which_rules_fail_and_announces_them(client, reset_token):
    response = post(client, reset_token, "weakpass")
    html = response.content.decode()
    assert response.status_code == 400
    states = rule_states(html)
    assert states["lengthAtLeast"] == "met"
    assert states["containsAtLeast"] == "unmet"
    assert states["lowerCase"] == "met"
    assert states["upperCase"] == "unmet"
    assert 'role="alert"' in html
    assert 'aria-describedby="password-errors password-rules"' in html
    assert 'aria-invalid="true"' in html
    assert '<label for="password">' in html and '<label for="password_confirmation">' in html
    assert "weakpass" not in html  # the password is never echoed


@pytest.mark.parametrize(
    ("password", "confirmation", "message"),
    [
        ("", "", "Enter a new password."),
        (NEW_PASSWORD, NEW_PASSWORD + "x", "The two passwords do not match."),
        ("Ab1!\x00xyzzy", "Ab1!\x00xyzzy", "The password contains characters that cannot be used."),
        ("Ab1!" + "é" * 40, "Ab1!" + "é" * 40, "The password is too long: at most 72 bytes."),
        ("x" * 10_000, "x" * 10_000, "The password is too long: at most 72 bytes."),
    ],
)
def test_refusals_before_the_policy(client, reset_token, password, confirmation, message):
    response = post(client, reset_token, password, confirmation)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert post(client, reset_token, NEW_PASSWORD).status_code == 200  # the ticket still works


@pytest.mark.parametrize("ticket", ["\x00", "a:b", "x" * 10_000, "%ff"])
def test_hostile_tickets_are_a_400_page(client, connection, ticket):
    assert post(client, ticket, NEW_PASSWORD).status_code == 400
    assert client.get("/lo/reset", {"ticket": ticket}).status_code == 400


def test_the_page_answers_get_and_post_only(client, reset_token):
    assert client.put("/lo/reset").status_code == 405


def test_posts_without_the_csrf_token_are_refused(reset_token):
    browser = DjangoClient(enforce_csrf_checks=True)
    assert post(browser, reset_token, NEW_PASSWORD).status_code == 403
    page = browser.get("/lo/reset", {"ticket": reset_token}, follow=True).content.decode()
    (csrf,) = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    data = {
        "ticket": reset_token,
        "password": NEW_PASSWORD,
        "password_confirmation": NEW_PASSWORD,
        "csrfmiddlewaretoken": csrf,
    }
    assert browser.post("/lo/reset", data).status_code == 200


def test_every_answer_keeps_the_ticket_from_leaking(api, client, connection, new_user):
    token = ticket_for(api, new_user()["user_id"], result_url="https://app.example.com/")
    answers = [
        client.get("/lo/reset", {"ticket": token}),  # to /lo/reset, the ticket in a cookie
        client.get("/lo/reset"),
        post(client, token, "weak"),
        post(client, token, NEW_PASSWORD),  # the redirect to the result_url
        post(client, token, NEW_PASSWORD),  # used
        client.get("/lo/reset", {"ticket": "unknown"}),
    ]
    assert [answer.status_code for answer in answers] == [302, 200, 400, 302, 400, 400]
    assert answers[0]["Location"] == "/lo/reset"
    assert answers[3]["Location"].startswith("https://app.example.com/?success=true")
    policies = [answer["Referrer-Policy"] for answer in answers]
    # The form pages keep Referer on this site (a same-origin POST keeps its Origin for the CSRF check); the
    # redirects and refusals send none at all, so the result_url never sees where the user came from.
    assert policies == ["no-referrer", "same-origin", "same-origin", "no-referrer", "no-referrer", "no-referrer"]
    for answer in answers:
        assert answer["Cache-Control"] == "no-store"
        assert "default-src 'none'" in answer["Content-Security-Policy"]


def test_the_link_moves_the_ticket_out_of_the_url_into_a_signed_cookie(client, reset_token):
    response = client.get("/lo/reset", {"ticket": reset_token})
    assert (response.status_code, response["Location"]) == (302, "/lo/reset")
    cookie = response.cookies["reset_ticket"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/lo/reset"
    assert int(cookie["max-age"]) == 3600
    page = client.get("/lo/reset")
    assert page.status_code == 200
    assert "Change your password" in page.content.decode()
    # A cookie that was not signed here is no ticket.
    client.cookies["reset_ticket"] = reset_token
    assert client.get("/lo/reset").status_code == 400
    # Without any cookie there is nothing to show.
    del client.cookies["reset_ticket"]
    assert client.get("/lo/reset").status_code == 400


def test_success_forgets_the_cookie(client, reset_token):
    client.get("/lo/reset", {"ticket": reset_token})
    response = post(client, reset_token, NEW_PASSWORD)
    assert response.status_code == 200
    assert response.cookies["reset_ticket"].value == ""


def test_a_remembered_password_is_refused_on_the_page_and_the_ticket_stays_usable(
    api, client, make_connection, new_user
):
    make_connection(name="history", password_history={"enable": True, "size": 2})
    token = ticket_for(api, new_user(connection="history")["user_id"])
    refused = post(client, token, STRONG_PASSWORD)
    assert refused.status_code == 400
    assert "Password has previously been used" in refused.content.decode()
    assert post(client, token, NEW_PASSWORD).status_code == 200


def test_the_page_in_japanese(client, reset_token):
    page = client.get("/lo/reset", {"ticket": reset_token}, headers={"accept-language": "ja"}, follow=True)
    html = page.content.decode()
    assert '<html lang="ja">' in html
    assert "パスワードの変更" in html
    assert "新しいパスワード" in html
    html = post(client, reset_token, "weak", headers={"accept-language": "ja"}).content.decode()
    assert "パスワードは変更されていません。" in html


def test_the_success_page_without_a_result_url(client, reset_token):
    response = post(client, reset_token, NEW_PASSWORD)
    assert response.status_code == 200
    assert "Your password has been changed." in response.content.decode()


def assert_protected(response) -> None:
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "same-origin"
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_the_eleventh_refused_submit_on_a_ticket_is_429_without_any_password_check(
    api, client, make_connection, new_user, monkeypatch
):
    make_connection(name="history", password_history={"enable": True, "size": 24})
    token = ticket_for(api, new_user(connection="history")["user_id"])
    # The page's own refusals come before the limit and are not counted.
    for _ in range(5):
        assert post(client, token, NEW_PASSWORD, NEW_PASSWORD + "x").status_code == 400
    for _ in range(10):  # PASSWORD_RESET_FAILURES_PER_TICKET's default: 10/hour
        refused = post(client, token, STRONG_PASSWORD)  # the current password: the history refuses it
        assert refused.status_code == 400
        assert "Password has previously been used" in refused.content.decode()
    checks = mock.Mock(side_effect=AssertionError("the password was checked"))
    monkeypatch.setattr(password_reset, "reset_password", checks)
    limited = post(client, token, NEW_PASSWORD)  # even a good password is not looked at any more
    html = limited.content.decode()
    assert limited.status_code == 429
    assert 300 <= int(limited["Retry-After"]) <= 360  # a token back every 6 minutes
    assert "Too many attempts to change the password. Try again in 6 minutes." in html
    assert 'role="alert"' in html
    assert set(rule_states(html).values()) == {"pending"}  # nothing was checked
    assert NEW_PASSWORD not in html
    assert_protected(limited)
    checks.assert_not_called()


def test_refused_submits_are_limited_per_address_across_tickets(api, client, connection, new_user, settings):
    settings.PASSWORD_RESET_FAILURES_PER_IP = "3/hour"
    tokens = [ticket_for(api, new_user(email=f"u{i}@example.com")["user_id"]) for i in range(3)]
    assert [post(client, token, "weakpass").status_code for token in tokens] == [400, 400, 400]
    limited = post(client, tokens[0], NEW_PASSWORD)
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) > 0
    assert_protected(limited)
    # Another address has its own budget; the tickets are still usable.
    assert post(client, tokens[0], NEW_PASSWORD, REMOTE_ADDR="198.51.100.7").status_code == 200


def test_a_success_gives_its_reserved_failure_back(api, client, connection, new_user, settings):
    settings.PASSWORD_RESET_FAILURES_PER_IP = "3/hour"
    first = ticket_for(api, new_user(email="first@example.com")["user_id"])
    second = ticket_for(api, new_user(email="second@example.com")["user_id"])
    assert [post(client, first, "weakpass").status_code for _ in range(2)] == [400, 400]
    assert post(client, first, NEW_PASSWORD).status_code == 200
    assert post(client, second, "weakpass").status_code == 400  # the success's reservation came back
    assert post(client, second, "weakpass").status_code == 429


def test_off_disables_each_limit(api, client, connection, new_user, settings):
    settings.PASSWORD_RESET_FAILURES_PER_IP = "2/hour"
    settings.PASSWORD_RESET_FAILURES_PER_TICKET = "off"
    token = ticket_for(api, new_user()["user_id"])
    assert [post(client, token, "weakpass").status_code for _ in range(3)] == [400, 400, 429]
    settings.PASSWORD_RESET_FAILURES_PER_IP = "off"
    assert [post(client, token, "weakpass").status_code for _ in range(12)] == [400] * 12
    assert post(client, token, NEW_PASSWORD).status_code == 200


def test_the_limits_store_down_is_a_503_and_no_password_is_checked(client, reset_token, monkeypatch):
    def down(*args, **kwargs):
        raise StoreUnavailable("the database did not answer")

    checks = mock.Mock(wraps=password_reset.reset_password)
    monkeypatch.setattr(password_reset, "reset_password", checks)
    with monkeypatch.context() as outage:
        outage.setattr(buckets, "take", down)
        response = post(client, reset_token, NEW_PASSWORD)
    html = response.content.decode()
    assert response.status_code == 503
    assert "The service is temporarily unavailable. Try again later." in html
    assert set(rule_states(html).values()) == {"pending"}
    assert_protected(response)
    checks.assert_not_called()
    assert post(client, reset_token, NEW_PASSWORD).status_code == 200  # the ticket was not spent


def test_the_limit_in_japanese(client, reset_token, settings):
    settings.PASSWORD_RESET_FAILURES_PER_TICKET = "1/hour"
    assert post(client, reset_token, "weakpass").status_code == 400
    limited = post(client, reset_token, "weakpass", headers={"accept-language": "ja"})
    assert limited.status_code == 429
    assert "パスワード変更の試行回数が多すぎます。60 分後にもう一度お試しください。" in limited.content.decode()


@pytest.mark.live
def test_the_official_sdks_ticket_calls(live_server_url, connection, new_user):
    """``tickets.change_password`` and ``tickets.verify_email`` of auth0-python, unmodified, against a live server;
    then the links work (their path and query, on the live server)."""
    from auth0.authentication import GetToken
    from auth0.management import Auth0

    user = new_user()
    client, secret = create_client(name="ops", scopes="create:user_tickets read:users", connections=[], actor=SYSTEM)
    granted = GetToken(urlsplit(live_server_url).netloc, client.client_id, client_secret=secret, protocol="http")
    token = granted.client_credentials(settings.MANAGEMENT_API_AUDIENCE)["access_token"]
    api = Auth0(base_url=f"{live_server_url}/api/v2", token=token, max_retries=0)
    change = api.tickets.change_password(
        user_id=user["user_id"], result_url="https://app.example.com/done", ttl_sec=3600, mark_email_as_verified=True
    )
    assert change.ticket.startswith(f"{settings.PUBLIC_BASE_URL}/lo/reset?ticket=")
    verify = api.tickets.verify_email(user_id=user["user_id"], include_email_in_redirect=True)
    assert verify.ticket.startswith(f"{settings.PUBLIC_BASE_URL}/u/email-verification?ticket=")

    import requests

    parts = urlsplit(change.ticket)
    page = requests.get(f"{live_server_url}{parts.path}?{parts.query}", timeout=10)
    assert page.status_code == 200 and "Change your password" in page.text
    from auth0.management.errors import BadRequestError, NotFoundError

    with pytest.raises(NotFoundError):
        api.tickets.change_password(user_id="auth0|nobody")
    with pytest.raises(BadRequestError):
        api.tickets.change_password(user_id=user["user_id"], result_url="javascript:alert(1)")
