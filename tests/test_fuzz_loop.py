"""10,000 seeded malformed requests against a live server: no 5xx, it still answers, memory stays flat."""

from __future__ import annotations

import http.client
import json
import random
import string
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from clients.tokens import OPERATOR, issue_token
from tests.helpers import STRONG_PASSWORD
from tests.live import gunicorn_server, worker_pids

pytestmark = [pytest.mark.live]

REQUESTS = 10_000
SEED = 20261123
PATHS = [
    "/api/v2/users", "/api/v2/users/auth0%7Cnope", "/api/v2/users/%00", "/api/v2/users-by-email",
    "/api/v2/users?per_page=abc", "/api/v2/users?page=-1&sort=x", "/api/v2/connections",
    "/api/v2/connections/con_x", "/api/v2/logs?per_page=1000", "/oauth/token", "/dbconnections/signup",
    "/v1/users", "/api/v2/jobs/verification-email", "/.well-known/jwks.json", "/nope",
    "/api/v2/users/%ED%A0%80", "/api/v2/openapi.json",
]  # fmt: skip
FIELDS = ["connection", "email", "password", "username", "phone_number", "user_metadata", "app_metadata", "name",
          "given_name", "picture", "user_id", "blocked", "email_verified", "client_id", "grant_type", "options",
          "strategy", "scopes", "\x00", "ünïcode"]  # fmt: skip


def _value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(12)
    if kind == 0:
        return rng.randint(-(2**70), 2**70)
    if kind == 1:
        return rng.random() * 10 ** rng.randint(-5, 300)
    if kind == 2:
        return rng.choice([True, False, None])
    if kind == 3:
        return "".join(rng.choice(string.printable) for _ in range(rng.randint(0, 40)))
    if kind == 4:
        return rng.choice(["a@b.co", "not-an-email", "+14155550123", "+1", "http://x", "\ud800", "\x00", "😀" * 50])
    if kind == 5:
        return "x" * rng.choice([0, 1, 128, 129, 300, 301, 5000])
    if kind == 6 and depth < 4:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 7 and depth < 12:
        return {rng.choice(FIELDS): _value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if kind == 8:
        return rng.choice(["Username-Password-Authentication", "nope", "", "sms"])
    return STRONG_PASSWORD


def _body(rng: random.Random) -> tuple[bytes, str]:
    kind = rng.randrange(8)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 200))), "application/json"
    if kind == 1:
        return b"[" * rng.randint(1, 5000), "application/json"
    if kind == 2:
        return b"email=a%40b.co&password=x&blocked=maybe&user_metadata=%7B", "application/x-www-form-urlencoded"
    if kind == 3:
        return b"{}", rng.choice(["text/plain", "application/xml", "multipart/form-data; boundary=x", ""])
    document = {rng.choice(FIELDS): _value(rng) for _ in range(rng.randint(0, 8))}
    return json.dumps(document, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass"), "application/json"


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_ten_thousand_malformed_requests(transactional_db, make_connection):
    make_connection()
    rng = random.Random(SEED)
    good = issue_token(
        client_id="fuzz", scopes=["create:users", "read:users", "update:users", "read:logs"], grant_type=OPERATOR
    )
    tokens = [f"Bearer {good}", "Bearer garbage", "Basic Zm9vOmJhcg==", "", f"Bearer {good[:-3]}abc"]
    pids: list[int] = []
    statuses: dict[int, int] = {}
    env = {"MANAGEMENT_API_RATE_LIMIT": "off", "SIGNUP_RATE_LIMIT": "off", "LOG_LEVEL": "ERROR"}
    with gunicorn_server(workers=1, threads=2, env=env, pids=pids) as url:
        host = urlsplit(url).netloc
        conn = http.client.HTTPConnection(host, timeout=30)
        workers = worker_pids(pids[0])
        sent = 0

        def send(method: str, path: str, body: bytes | None, headers: dict[str, str]) -> int:
            nonlocal conn
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, ConnectionError):
                conn.close()
                conn = http.client.HTTPConnection(host, timeout=30)
                return 0  # the server closed a connection it judged broken: not a 5xx

        baseline = None
        for i in range(REQUESTS):
            method = rng.choice(["POST", "POST", "POST", "GET", "PATCH", "DELETE", "PUT"])
            body, content_type = _body(rng)
            headers = {"Content-Type": content_type, "Authorization": rng.choice(tokens)}
            if rng.random() < 0.1:
                headers["Idempotency-Key"] = rng.choice(["k", "", "x" * 300])
            if rng.random() < 0.1:
                headers["Accept-Language"] = rng.choice(["ja", "en", "zz", "*"])
            status = send(method, rng.choice(PATHS), body if method != "GET" else None, headers)
            statuses[status] = statuses.get(status, 0) + 1
            sent += 1
            if i == 1_000:
                baseline = sum(_rss_kib(pid) for pid in workers)
        after = sum(_rss_kib(pid) for pid in workers)
        after_body = {"connection": "Username-Password-Authentication", "email": "after@example.com"}
        healthy = send(
            "POST",
            "/api/v2/users",
            json.dumps({**after_body, "password": STRONG_PASSWORD}).encode(),
            {"Content-Type": "application/json", "Authorization": f"Bearer {good}"},
        )
    print(f"\nfuzz: {sent} requests, statuses {dict(sorted(statuses.items()))}, worker RSS {baseline} -> {after} KiB")
    assert sent == REQUESTS
    assert not [s for s in statuses if s >= 500], statuses
    assert healthy == 201
    assert baseline is not None and after - baseline < 50 * 1024  # less than 50 MiB growth over 9,000 requests
