"""Against a real gunicorn server: concurrent creates, and the official Auth0 SDK unmodified."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import quote, urlsplit
from urllib.request import Request, urlopen

import pytest
from auth0.management import Auth0
from auth0.management.errors import BadRequestError, ConflictError, ForbiddenError, UnauthorizedError
from django.conf import settings

from clients.tokens import OPERATOR, issue_token
from tests.helpers import STRONG_PASSWORD
from tests.live import ROOT, gunicorn_server, post_json
from users.models import User

pytestmark = [pytest.mark.live]


def _concurrency() -> int:
    """50 concurrent writers on PostgreSQL, 20 on SQLite (one writer at a time, the rest wait their turn)."""
    from django.db import connection

    return 50 if connection.vendor == "postgresql" else 20


def _post(url: str, token: str, body: dict) -> tuple[int, dict]:
    status, answer, _headers = post_json(f"{url}/api/v2/users", body, {"Authorization": f"Bearer {token}"})
    return status, answer


def _race(url: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    token = issue_token(client_id="race", scopes=["create:users"], grant_type=OPERATOR)
    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        return list(pool.map(lambda body: _post(url, token, body), bodies))


def _case_variants(value: str, count: int) -> list[str]:
    variants = []
    for i in range(count):
        variants.append("".join(c.upper() if (i >> (j % 6)) & 1 else c for j, c in enumerate(value)))
    return variants


def _assert_one_winner(results: list[tuple[int, dict]]) -> None:
    statuses = [status for status, _ in results]
    assert statuses.count(201) == 1, statuses
    assert statuses.count(409) == len(results) - 1, statuses
    for status, body in results:
        if status == 409:
            assert body["message"] == "The user already exists."
            assert body["errorCode"] == "auth0_idp_error"


def test_concurrent_creates_of_one_email_in_mixed_case_make_one_user(live_server_url, make_connection):
    make_connection()
    bodies = [
        {"connection": "Username-Password-Authentication", "email": email, "password": STRONG_PASSWORD}
        for email in _case_variants("race.person@example.com", _concurrency())
    ]
    _assert_one_winner(_race(live_server_url, bodies))
    assert User.objects.filter(email="race.person@example.com").count() == 1
    assert User.objects.count() == 1


def test_concurrent_creates_of_one_username_make_one_user(live_server_url, make_connection):
    make_connection(requires_username=True, validation={"username": {"min": 1, "max": 30}})
    bodies = [
        {
            "connection": "Username-Password-Authentication",
            "email": f"user{i}@example.com",
            "username": username,
            "password": STRONG_PASSWORD,
        }
        for i, username in enumerate(_case_variants("racer_name", _concurrency()))
    ]
    _assert_one_winner(_race(live_server_url, bodies))
    assert User.objects.count() == 1


def test_concurrent_creates_of_one_phone_number_make_one_user(live_server_url, make_connection):
    make_connection(name="sms", strategy="sms")
    bodies = [{"connection": "sms", "phone_number": "+14155550123"} for _ in range(_concurrency())]
    _assert_one_winner(_race(live_server_url, bodies))
    assert User.objects.count() == 1


def _sdk(url: str, scopes: str = "create:users") -> Auth0:
    token = issue_token(client_id="sdk", scopes=scopes.split(), grant_type=OPERATOR)
    return Auth0(base_url=f"{url}/api/v2", token=token, max_retries=0)


def test_official_sdk_creates_a_user_and_parses_the_profile(live_server_url, make_connection):
    make_connection()
    user = _sdk(live_server_url).users.create(
        connection="Username-Password-Authentication",
        email="Chuck@Example.com",
        password=STRONG_PASSWORD,
        given_name="Chuck",
        user_metadata={"plan": "gold"},
        app_metadata={"roles": ["admin"]},
    )
    assert user.user_id.startswith("auth0|")
    assert user.email == "chuck@example.com"
    assert user.email_verified is False
    assert user.given_name == "Chuck"
    assert user.name == "chuck@example.com"
    assert user.nickname == "chuck"
    assert user.user_metadata == {"plan": "gold"}
    assert user.app_metadata == {"roles": ["admin"]}
    assert user.identities[0].provider == "auth0"
    assert user.identities[0].connection == "Username-Password-Authentication"
    assert user.identities[0].user_id == user.user_id.removeprefix("auth0|")
    assert user.created_at == user.updated_at
    assert User.objects.get(user_id=user.user_id).email == "chuck@example.com"


def test_official_sdk_surfaces_errors(live_server_url, make_connection):
    make_connection()
    client = _sdk(live_server_url)
    body = {"connection": "Username-Password-Authentication", "email": "dup@example.com"}
    client.users.create(**body, password=STRONG_PASSWORD)

    with pytest.raises(ConflictError) as conflict:
        client.users.create(**{**body, "email": "DUP@example.com"}, password=STRONG_PASSWORD)
    assert conflict.value.status_code == 409
    assert conflict.value.body["errorCode"] == "auth0_idp_error"
    assert conflict.value.body["message"] == "The user already exists."

    with pytest.raises(BadRequestError) as weak:
        client.users.create(connection="Username-Password-Authentication", email="w@example.com", password="weak")
    assert weak.value.body["message"] == "PasswordStrengthError: Password is too weak"

    with pytest.raises(BadRequestError) as missing:
        client.users.create(connection="No-Such-Connection", email="x@example.com", password=STRONG_PASSWORD)
    assert missing.value.body["errorCode"] == "inexistent_connection"

    with pytest.raises(ForbiddenError) as forbidden:
        _sdk(live_server_url, scopes="read:users").users.create(**body, password=STRONG_PASSWORD)
    assert forbidden.value.body["errorCode"] == "insufficient_scope"

    bad_token = Auth0(base_url=f"{live_server_url}/api/v2", token="not-a-jwt", max_retries=0)
    with pytest.raises(UnauthorizedError):
        bad_token.users.create(**body, password=STRONG_PASSWORD)
    assert User.objects.count() == 1


@pytest.fixture
def signup_server_url(transactional_db):
    """A server whose per-IP sign-up limit is off: the race below sends every request from one address."""
    with gunicorn_server(env={"SIGNUP_RATE_LIMIT": "off"}) as url:
        yield url


def test_concurrent_signups_of_one_email_make_one_user(signup_server_url, make_connection):
    from clients.services import create_client
    from core.actors import SYSTEM

    live_server_url = signup_server_url
    connection = make_connection()
    app, _secret = create_client(name="web", scopes="", connections=[connection.name], actor=SYSTEM)
    bodies = [
        {"client_id": app.client_id, "connection": connection.name, "email": email, "password": STRONG_PASSWORD}
        for email in _case_variants("signup.race@example.com", _concurrency())
    ]

    def signup(body: dict) -> int:
        status, answer, _headers = post_json(f"{live_server_url}/dbconnections/signup", body)
        if status != 200:
            assert answer["code"] == "invalid_signup"
        return status

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        statuses = list(pool.map(signup, bodies))
    assert statuses.count(200) == 1, statuses
    assert statuses.count(400) == len(bodies) - 1
    assert User.objects.count() == 1


def test_concurrent_patches_of_two_users_to_one_email_leave_one_winner(live_server_url, make_connection):
    make_connection()
    token = issue_token(client_id="race", scopes=["create:users", "update:users"], grant_type=OPERATOR)
    ids = []
    for email in ("first@example.com", "second@example.com"):
        status, body = _post(
            live_server_url,
            token,
            {"connection": "Username-Password-Authentication", "email": email, "password": STRONG_PASSWORD},
        )
        assert status == 201
        ids.append(body["user_id"])

    def patch(index: int) -> tuple[int, dict]:
        user_id = ids[index % 2]
        status, answer, _headers = post_json(
            f"{live_server_url}/api/v2/users/{user_id.replace('|', '%7C')}",
            {"email": "Taken@Example.com" if index % 3 else "taken@example.com"},
            {"Authorization": f"Bearer {token}"},
            method="PATCH",
        )
        return status, answer

    with ThreadPoolExecutor(max_workers=_concurrency()) as pool:
        results = list(pool.map(patch, range(_concurrency())))
    statuses = [status for status, _answer in results]
    # A change to an e-mail another user holds is Auth0's 400 (a create's conflict is the 409).
    assert set(statuses) <= {200, 400}, statuses
    taken = {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "The specified new email already exists",
        "errorCode": "auth0_idp_error",
        "errors": [],
    }
    assert all(answer == taken for status, answer in results if status == 400)
    assert User.objects.filter(email="taken@example.com").count() == 1
    assert User.objects.count() == 2


# README (Configuration, "Header size"): gunicorn refuses a header line over 8,188 bytes (its 8,190 counts the
# CRLF), so an "Authorization: Bearer …" token of up to 8,166 characters reaches the service.
def test_a_header_line_of_the_documented_size_reaches_the_service(live_server_url):
    def status_for(token: str) -> int:
        request = Request(f"{live_server_url}/api/v2/users", headers={"Authorization": f"Bearer {token}"})  # noqa: S310
        try:
            with urlopen(request, timeout=30) as response:  # noqa: S310 - loopback test server
                return response.status
        except HTTPError as error:
            return error.code

    # "Authorization: Bearer " (22 bytes) + 8,166 = 8,188 bytes, the README's limit: the service's own 401.
    assert status_for("a" * 8166) == 401
    assert status_for("a" * 8167) == 431  # one byte more: gunicorn's page, as the README says


@pytest.mark.parametrize(
    "path",
    ["/static/admin/css/base.css", "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"],
)
def test_gunicorn_started_without_collectstatic_serves_the_admins_and_the_docs_static_files(live_server_url, path):
    # The test server's STATIC_ROOT was never collected into, as a deployer's is who runs `gunicorn config.wsgi` after
    # `manage.py migrate` alone: the admin's CSS and the Swagger UI's scripts were 404.
    with urlopen(f"{live_server_url}{path}", timeout=10) as response:  # noqa: S310 - loopback only
        assert response.status == 200
        assert len(response.read()) > 1000


def test_a_line_break_in_a_requests_path_cannot_forge_a_line_of_serve_shs_access_log(transactional_db):
    # serve.sh's access-log options, as it passes them to gunicorn; %(U)s is the path decoded, so "%0D%0A" in an
    # unauthenticated request's path ended the line and began one the requester wrote.
    script = (ROOT / "scripts" / "serve.sh").read_text()
    options = re.findall(r"^\s*(--access-logfile -|--logger-class \S+|--access-logformat '[^']*')", script, re.M)
    assert any(option.startswith("--access-logformat") for option in options), options
    forged = '127.0.0.1 - - [01/Jan/2026:00:00:00 +0000] "DELETE /api/v2/event-streams/est_x HTTP/1.1" 204 0 "-"'
    with gunicorn_server(workers=1, threads=1, env={"GUNICORN_CMD_ARGS": " ".join(options)}) as base_url:
        for path in ["/api/v2/event-streams/x%0D%0A" + quote(forged), "/api/v2/event-streams/%1B%5B2J%1B%5BH"]:
            with pytest.raises(HTTPError):
                urlopen(f"{base_url}{path}", timeout=10)  # noqa: S310 - loopback only
        log = Path(settings.DATA_DIR) / f"gunicorn-{urlsplit(base_url).port}.log"
        deadline = time.monotonic() + 10
        while log.read_text().count('" 404 ') < 2 and time.monotonic() < deadline:  # both requests' lines written
            time.sleep(0.05)
        lines = log.read_text().splitlines()
    assert not [line for line in lines if line.startswith("127.0.0.1 - - [01/Jan/2026")], lines
    assert any("/api/v2/event-streams/x\\x0d\\x0a127.0.0.1" in line for line in lines), lines
    assert any("/api/v2/event-streams/\\x1b[2J\\x1b[H" in line for line in lines), lines
    assert "\x1b" not in "".join(lines)
