"""Per-client rate limits with Auth0's headers; one budget across server processes through Redis."""

from __future__ import annotations

import json
import os
import time
import uuid
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from django.test import override_settings

from clients.tokens import OPERATOR, issue_token
from config.throttling import parse_rate
from tests.live import gunicorn_server

pytestmark = pytest.mark.django_db


def _post(api_client, token):
    return api_client.post("/api/v2/users", {"connection": "nope"}, format="json", HTTP_AUTHORIZATION=f"Bearer {token}")


@override_settings(MANAGEMENT_API_RATE_LIMIT="3/minute")
def test_every_response_carries_the_rate_limit_headers_and_the_fourth_is_429(api_client, token):
    tok = token("create:users")
    before = int(time.time())
    for remaining in (2, 1, 0):
        response = _post(api_client, tok)
        assert response.status_code == 400
        assert response["x-ratelimit-limit"] == "3"
        assert response["x-ratelimit-remaining"] == str(remaining)
        reset = int(response["x-ratelimit-reset"])
        assert before < reset <= before + 61
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
    assert 1 <= int(refused["Retry-After"]) <= 61


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
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/15"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:
        return None
    return url


@pytest.mark.live
def test_two_server_processes_share_one_budget_through_redis(transactional_db):
    url = _redis_url()
    if url is None:
        pytest.skip("Redis is not reachable (set REDIS_URL); the shared-budget test needs it")
    env = {
        "REDIS_URL": url,
        "CACHE_KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        "MANAGEMENT_API_RATE_LIMIT": "5/hour",  # an hour window: the burst never straddles a boundary
    }
    token = issue_token(client_id="shared", scopes=["create:users"], grant_type=OPERATOR)
    statuses = []
    with gunicorn_server(workers=1, env=env) as first, gunicorn_server(workers=1, env=env) as second:
        for i in range(10):
            request = Request(  # noqa: S310 - loopback test servers
                f"{(first, second)[i % 2]}/api/v2/users",
                data=json.dumps({"connection": "nope"}).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                method="POST",
            )
            try:
                with urlopen(request, timeout=30) as response:  # noqa: S310
                    statuses.append(response.status)
            except HTTPError as error:
                statuses.append(error.code)
    assert statuses.count(429) == 5, statuses
    assert statuses[:5] == [400] * 5
