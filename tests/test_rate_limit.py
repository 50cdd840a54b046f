"""Rate limits as Auth0's token buckets with its headers; exact across server processes, with or without Redis;
an unreachable Redis never answers 500."""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

import api
from api.throttling import FailureLimit, TokenBucketThrottle, parse_rate
from clients.services import create_client
from clients.tokens import OPERATOR, issue_token
from core.actors import SYSTEM
from ratelimits.buckets import purge_full_buckets
from ratelimits.models import Bucket
from tests.helpers import STRONG_PASSWORD, user_url
from tests.live import gunicorn_server, post_json
from users.models import User
from users.services import create_user

pytestmark = pytest.mark.django_db


def _post(api_client, token):
    return api_client.post("/api/v2/users", {"connection": "nope"}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")


@override_settings(MANAGEMENT_API_RATE_LIMIT="3/minute")
def test_every_response_carries_the_rate_limit_headers_and_the_fourth_is_429(api_client, token):
    tok = token("create:users")
    for used, remaining in ((1, 2), (2, 1), (3, 0)):
        sent = time.time()
        response = _post(api_client, tok)
        got = time.time()
        assert response.status_code == 400
        assert response["x-ratelimit-limit"] == "3"
        assert response["x-ratelimit-remaining"] == str(remaining)
        # A bucket of 3 refilled at one token per 20 s: full again 20 s per token used, not at a window's end.
        reset = int(response["x-ratelimit-reset"])
        assert sent + 20 * used - 1 < reset <= got + 20 * used + 1
    refused = _post(api_client, tok)
    assert refused.status_code == 429
    assert refused.json() == {
        "statusCode": 429,
        "error": "Too Many Requests",
        "message": "Global limit has been reached",
        "errorCode": "too_many_requests",
        "errors": [],
    }
    assert refused["x-ratelimit-remaining"] == "0"
    assert 1 <= int(refused["Retry-After"]) <= 20  # the next token, not the whole bucket


@override_settings(MANAGEMENT_API_RATE_LIMIT="1000/minute")
def test_a_client_far_from_its_limit_is_told_its_bucket_is_full_again_now_or_in_a_second(api_client, token):
    tok = token("create:users")
    for used in (1, 2, 3):
        sent = time.time()
        response = _post(api_client, tok)
        got = time.time()
        assert response["x-ratelimit-remaining"] == str(1000 - used)
        # 60 ms per token used, rounded up to whole seconds: never the end of a one-minute window.
        assert sent <= int(response["x-ratelimit-reset"]) < got + 0.06 * used + 1


@override_settings(MANAGEMENT_API_RATE_LIMIT="2/minute")
def test_each_client_has_its_own_budget(api_client, token):
    first, second = token("create:users", client_id="one"), token("create:users", client_id="two")
    for _ in range(2):
        assert _post(api_client, first).status_code == 400
    assert _post(api_client, first).status_code == 429
    assert _post(api_client, second).status_code == 400


@override_settings(MANAGEMENT_API_RATE_LIMIT="off")
def test_the_limit_can_be_switched_off(api_client, token):
    tok = token("create:users")
    for _ in range(5):
        response = _post(api_client, tok)
        assert response.status_code == 400
        assert "x-ratelimit-limit" not in response


@override_settings(MANAGEMENT_API_RATE_LIMIT="1/minute")
def test_unauthenticated_requests_are_refused_before_counting(api_client, token):
    assert _post(api_client, "garbage").status_code == 401
    assert _post(api_client, token("create:users")).status_code == 400


# --- the users endpoints' headers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "{user}", None, 200),
        ("get", "/api/v2/users", None, 200),
        ("get", "/api/v2/users?include_totals=true", None, 200),
        ("get", "/api/v2/users-by-email?email=ann@example.com", None, 200),
        ("patch", "{user}", {"nickname": "annie"}, 200),
        ("delete", "{user}", None, 204),
        ("get", "/api/v2/users/auth0%7Cnobody", None, 404),
        ("patch", "/api/v2/users/auth0%7Cnobody", {"nickname": "annie"}, 404),
        ("delete", "/api/v2/users/auth0%7Cnobody", None, 204),
        ("get", "/api/v2/users?per_page=101", None, 400),
        ("get", "/api/v2/users-by-email", None, 400),
        ("patch", "{user}", {"nickname": 1}, 400),
    ],
)
@pytest.mark.usefixtures("connection")
def test_responses_carry_rate_limit_headers(api, new_user, method, path, body, status):
    user = new_user()
    before = int(datetime.now(UTC).timestamp())
    response = getattr(api, method)(path.format(user=user_url(user["user_id"])), body, format="json")
    assert response.status_code == status
    limit = int(response["x-ratelimit-limit"])
    remaining = int(response["x-ratelimit-remaining"])
    assert 0 < remaining < limit  # the create spent one request already
    assert before <= int(response["x-ratelimit-reset"]) <= before + 3600


# An hour-long bucket: at the default 1000/minute a request comes back every 60 ms, so a slow (loaded, parallel)
# run saw two requests leave the same count.
@override_settings(MANAGEMENT_API_RATE_LIMIT="1000/hour")
@pytest.mark.usefixtures("connection")
def test_rate_limit_remaining_counts_down(api, new_user):
    user = new_user()
    first = int(api.get(user_url(user["user_id"]))["x-ratelimit-remaining"])
    second = int(api.get("/api/v2/users")["x-ratelimit-remaining"])
    third = int(api.patch(user_url(user["user_id"]), {"name": "Ann"}, format="json")["x-ratelimit-remaining"])
    assert (second, third) == (first - 1, first - 2)


@pytest.mark.usefixtures("connection")
def test_a_refused_scope_still_carries_rate_limit_headers(scoped_client, new_user):
    user = new_user()
    response = scoped_client("create:users").get(user_url(user["user_id"]))
    assert response.status_code == 403
    assert int(response["x-ratelimit-remaining"]) < int(response["x-ratelimit-limit"])


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("100/minute", (100, 60)), ("5/s", (5, 1)), ("7/hour", (7, 3600)), ("off", None), ("", None)],
)
def test_rates_are_parsed(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.parametrize("rate", ["many/minute", "5/fortnight", "5"])
def test_bad_rates_are_refused(rate):
    with pytest.raises(ValueError):
        parse_rate(rate)


def _redis_url() -> str | None:
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/3"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


def test_full_buckets_are_purged_and_others_kept():
    now_ms = int(time.time() * 1000)
    Bucket.objects.create(key="client:full", tat=now_ms - 1)
    Bucket.objects.create(key="client:in-use", tat=now_ms + 60_000)
    assert purge_full_buckets(now_ms) == 1
    assert list(Bucket.objects.values_list("key", flat=True)) == ["client:in-use"]


def test_health_names_each_dependency(api_client):
    response = api_client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "cache": "ok"}}


def _send(url: str, path: str, body: dict, headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
    return post_json(f"{url}{path}", body, headers)


def _health(url: str) -> tuple[int, dict]:
    try:
        with urlopen(f"{url}/health", timeout=30) as response:  # noqa: S310 - loopback test server
            return response.status, json.loads(response.read())
    except HTTPError as error:
        return error.code, json.loads(error.read())


def _burst(count: int, send) -> list[int]:
    """``count`` requests at once, so several server processes race for the same bucket."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return [status for status, _body, _headers in pool.map(lambda i: send(i), range(count))]


@pytest.fixture
def login_app(make_connection):
    make_connection()
    create_user(
        data={
            "connection": "Username-Password-Authentication",
            "email": "jane@example.com",
            "password": STRONG_PASSWORD,
        },
        actor=SYSTEM,
    )
    return create_client(
        name="app", scopes="read:users", connections=["Username-Password-Authentication"], actor=SYSTEM
    )


def _password_grant(app, password: str, username: str = "jane@example.com") -> dict:
    client, secret = app
    return {
        "grant_type": "http://auth0.com/oauth/grant-type/password-realm",
        "client_id": client.client_id,
        "client_secret": secret,
        "username": username,
        "password": password,
        "realm": "Username-Password-Authentication",
    }


@pytest.mark.live
@pytest.mark.parametrize("workers", [2, 4])
@pytest.mark.parametrize("store", ["database", "redis"])
def test_limits_are_exact_across_server_processes(transactional_db, login_app, store, workers):
    env = {
        "CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        # Hour-long buckets: one token comes back every 6 minutes, never during the burst.
        "MANAGEMENT_API_RATE_LIMIT": "10/hour",
        "SIGNUP_RATE_LIMIT": "10/hour",
        "LOGIN_FAILURES_PER_USERNAME": "10/hour",
        "REDIS_URL": "",
    }
    if store == "redis":
        env["REDIS_URL"] = _redis_url() or pytest.skip("Redis is not reachable at REDIS_URL or 127.0.0.1:6379/3")
    token = issue_token(client_id="shared", scopes=["create:users"], grant_type=OPERATOR)
    auth = {"Authorization": f"Bearer {token}"}
    client, _secret = login_app
    with gunicorn_server(workers=workers, threads=4, env=env) as url:
        management = _burst(15, lambda i: _send(url, "/api/v2/users", {"connection": "nope"}, auth))
        signups = _burst(
            15, lambda i: _send(url, "/dbconnections/signup", {"client_id": client.client_id, "connection": "nope"})
        )
        logins = _burst(15, lambda i: _send(url, "/oauth/token", _password_grant(login_app, "Wrong!Passw0rd")))
    assert sorted(management) == [400] * 10 + [429] * 5, management
    assert sorted(signups) == [400] * 10 + [429] * 5, signups
    assert sorted(logins) == [403] * 10 + [429] * 5, logins


@pytest.mark.live
def test_an_unreachable_redis_is_never_a_500_and_health_says_so(transactional_db, login_app):
    env = {"REDIS_URL": "redis://127.0.0.1:1/0", "MANAGEMENT_API_RATE_LIMIT": "1/hour", "SIGNUP_RATE_LIMIT": "1/hour"}
    token = issue_token(client_id="outage", scopes=["create:users"], grant_type=OPERATOR)
    client, _secret = login_app
    with gunicorn_server(workers=1, env=env) as url:
        status, body = _health(url)
        managed = [
            _send(url, "/api/v2/users", {"connection": "nope"}, {"Authorization": f"Bearer {token}"}) for _ in range(2)
        ]
        signed = [
            _send(url, "/dbconnections/signup", {"client_id": client.client_id, "connection": "nope"}) for _ in range(2)
        ]
        login = _send(url, "/oauth/token", _password_grant(login_app, STRONG_PASSWORD))
    assert status == 503
    assert body == {"status": "unavailable", "checks": {"database": "ok", "cache": "error: ConnectionError"}}
    # Request rates fail open: answered as without a limit (over it, even), without rate-limit headers.
    assert [s for s, _b, _h in managed] == [400, 400]
    assert all("x-ratelimit-limit" not in {k.lower() for k in h} for _s, _b, h in managed)
    assert [s for s, _b, _h in signed] == [400, 400]
    # Failure limits fail closed: no password is checked while its failures cannot be counted.
    assert login[0] == 503
    assert login[1] == {
        "error": "temporarily_unavailable",
        "error_description": "The service is temporarily unavailable. Try again later.",
    }


@pytest.mark.live
def test_the_sdk_with_default_retries_surfaces_a_conflict_within_seconds(live_server_url, make_connection, monkeypatch):
    """auth0-python retries a 409 twice, sleeping until ``x-ratelimit-reset``: it must be near for a far-off limit."""
    from auth0.management import Auth0
    from auth0.management.core import http_client
    from auth0.management.errors import ConflictError

    make_connection()
    slept: list[float] = []
    real_sleep = time.sleep

    def recording_sleep(seconds: float) -> None:
        if sys._getframe(1).f_globals.get("__name__") == http_client.__name__:  # the SDK's own waits only
            slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(http_client.time, "sleep", recording_sleep)
    token = issue_token(client_id="sdk", scopes=["create:users"], grant_type=OPERATOR)
    body = {"connection": "Username-Password-Authentication", "email": "dup@example.com", "password": STRONG_PASSWORD}
    # The session's server runs the default limit, 1000/minute.
    api = Auth0(base_url=f"{live_server_url}/api/v2", token=token)  # the SDK's default max_retries
    api.users.create(**body)
    with pytest.raises(ConflictError):
        api.users.create(**body)
    assert len(slept) == 2  # the SDK did retry, twice
    assert sum(slept) < 5, slept


# attack2: with the buckets in SQLite, a writer holding the database lock (a backup, a long import batch, another
# tool) makes every bucket take wait SQLite's 30 s busy timeout, the same as gunicorn's default worker timeout:
# live, POST /api/v2/users under such a lock got no HTTP answer at all (WORKER TIMEOUT, SIGKILL), while /health
# kept answering 200 "ok" because it only reads. /health must see that the limit store cannot be written.
def test_health_is_503_while_the_sqlite_database_cannot_be_written(transactional_db, api_client):
    import sqlite3

    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    locker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None, timeout=5)
    try:
        locker.execute("BEGIN IMMEDIATE")  # what any other writer holds while it writes
        response = api_client.get("/health")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert response.status_code == 503
    assert set(response.json()["checks"].values()) != {"ok"}


def test_a_create_behind_a_long_sqlite_write_lock_is_503_not_a_500(transactional_db, connection, api_client, token):
    """Another writer holds SQLite's lock: the bucket gives up after its short wait (the request passes, as the
    outage policy says for capacity limits), the create gives up after the database's timeout, and the answer is
    503 ``temporarily_unavailable`` with ``Retry-After``, never a 500 or a worker killed with no answer."""
    import sqlite3

    from django.db import connection as db

    if db.vendor != "sqlite":
        pytest.skip("SQLite's database-wide write lock")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token('create:users')}")
    body = {"connection": connection.name, "email": "locked@example.com", "password": STRONG_PASSWORD}
    locker = sqlite3.connect(db.settings_dict["NAME"], isolation_level=None, timeout=5)
    try:
        locker.execute("BEGIN IMMEDIATE")
        # The database's own wait, shortened for the test (20 s when served, below gunicorn's worker timeout).
        with db.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout = 500")
        original = db.settings_dict["OPTIONS"].get("timeout")
        db.settings_dict["OPTIONS"]["timeout"] = 0.5  # what the bucket's short wait restores afterwards
        try:
            response = api_client.post("/api/v2/users", body, format="json")
        finally:
            db.settings_dict["OPTIONS"]["timeout"] = original
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert response.status_code == 503
    assert response.json()["errorCode"] == "temporarily_unavailable"
    assert response["Retry-After"] == "1"
    assert not User.objects.filter(email="locked@example.com").exists()


# --- every rate setting is checked at start ---------------------------------------------------------------

# One per setting a limit is read from: the request rates (management API, sign-up, change-password requests) and
# the failure limits (logins, client authentications, the reset page).
EVERY_RATE_SETTING = {
    "MANAGEMENT_API_RATE_LIMIT",
    "SIGNUP_RATE_LIMIT",
    "CHANGE_PASSWORD_RATE_LIMIT",
    "CHANGE_PASSWORD_RATE_LIMIT_PER_EMAIL",
    "LOGIN_FAILURES_PER_IP",
    "LOGIN_FAILURES_PER_USERNAME",
    "CLIENT_AUTH_FAILURES_PER_IP",
    "CLIENT_AUTH_FAILURES_PER_CLIENT",
    "PASSWORD_RESET_FAILURES_PER_IP",
    "PASSWORD_RESET_FAILURES_PER_TICKET",
}
_START = (
    "import json, django; django.setup(); from api.throttling import RATE_SETTINGS; "
    "print(json.dumps(sorted(RATE_SETTINGS)))"
)


def _start(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    # Only what a start needs: nothing another test left in this process's environment.
    base = {"PATH": os.environ.get("PATH", ""), "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "x"}
    base.update({"DATA_DIR": str(tmp_path)}, **env)
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", _START]
    return subprocess.run(command, cwd=root, env=base, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", sorted(EVERY_RATE_SETTING))
@pytest.mark.parametrize("rate", ["lots/minute", "10/fortnight", "0/hour", "10"])
def test_a_malformed_rate_setting_stops_the_start(name, rate):
    with override_settings(**{name: rate}), pytest.raises(ImproperlyConfigured) as refused:
        apps.get_app_config("api").ready()
    assert str(refused.value) == f"{name}: rate must look like '100/minute', got {rate!r}"


@pytest.mark.parametrize("name", sorted(EVERY_RATE_SETTING))
def test_off_and_well_formed_rates_start(name):
    for rate in ("off", "", "5/second", "5/h"):
        with override_settings(**{name: rate}):
            apps.get_app_config("api").ready()


def test_the_start_checks_every_setting_a_limit_reads(tmp_path):
    """The settings checked at start (registered by the throttles and failure limits as they are defined) are every
    rate setting there is, and no view module has to be imported first for its limit to be checked."""
    result = _start(tmp_path)
    assert result.returncode == 0, result.stderr
    at_start = set(json.loads(result.stdout))
    assert at_start == EVERY_RATE_SETTING
    # Every throttle and failure limit of every API module, once all are imported, reads one of those settings.
    modules = [importlib.import_module(info.name) for info in pkgutil.walk_packages(api.__path__, "api.")]
    read = {
        value.rate_setting
        for module in modules
        for value in vars(module).values()
        if isinstance(value, FailureLimit) or (isinstance(value, type) and issubclass(value, TokenBucketThrottle))
    }
    assert read - {""} <= at_start
    named = {name for name in dir(settings) if name.endswith("_RATE_LIMIT") or "_RATE_LIMIT_" in name}
    named |= {name for name in dir(settings) if "_FAILURES_PER_" in name}
    assert named == at_start


def test_a_malformed_failure_limit_in_the_environment_stops_the_process(tmp_path):
    result = _start(tmp_path, PASSWORD_RESET_FAILURES_PER_TICKET="ten/hour")
    assert result.returncode != 0
    assert "ImproperlyConfigured: PASSWORD_RESET_FAILURES_PER_TICKET: rate must look like" in result.stderr
