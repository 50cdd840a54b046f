"""A worker killed in the middle of a batch of creates: every row is complete, every acknowledged create exists."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import pytest

from audit.models import Event
from clients.tokens import OPERATOR, issue_token
from tests.helpers import STRONG_PASSWORD
from tests.live import gunicorn_server, worker_pids
from users.models import User

pytestmark = [pytest.mark.live]

BATCH = 120


def test_killing_a_worker_mid_batch_loses_or_halves_nothing(transactional_db, make_connection):
    make_connection()
    token = issue_token(client_id="batch", scopes=["create:users"], grant_type=OPERATOR)
    pids: list[int] = []
    acknowledged: list[str] = []
    failures = {"connection": 0, "5xx": 0, "4xx": 0}
    lock = threading.Lock()

    with gunicorn_server(workers=2, threads=4, env={"MANAGEMENT_API_RATE_LIMIT": "off"}, pids=pids) as url:

        def create(i: int) -> None:
            body = {
                "connection": "Username-Password-Authentication",
                "email": f"u{i}@example.com",
                "password": STRONG_PASSWORD,
            }
            request = Request(  # noqa: S310 - loopback test server
                f"{url}/api/v2/users",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                method="POST",
            )
            try:
                with urlopen(request, timeout=60) as response:  # noqa: S310
                    user_id = json.loads(response.read())["user_id"]
                    with lock:
                        acknowledged.append(user_id)
            except HTTPError as error:
                with lock:
                    failures["5xx" if error.code >= 500 else "4xx"] += 1
            except (URLError, OSError, http.client.HTTPException):
                with lock:
                    failures["connection"] += 1  # the worker holding this request was killed

        killed: list[int] = []

        def assassin() -> None:
            deadline = time.monotonic() + 30
            while len(acknowledged) < BATCH // 5 and time.monotonic() < deadline:
                time.sleep(0.01)
            victims = worker_pids(pids[0])
            if victims:
                os.kill(victims[0], signal.SIGKILL)
                killed.append(victims[0])

        killer = threading.Thread(target=assassin)
        killer.start()
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(create, range(BATCH)))
        killer.join()

    users = {u.user_id: u for u in User.objects.all()}
    events = set(Event.objects.filter(description="Create a User").values_list("user_id", flat=True))
    print(f"\nworker killed: {len(acknowledged)} acknowledged, {len(users)} rows, failures {failures}")
    assert set(acknowledged) <= set(users)  # every 201 is a row
    assert set(users) == events  # every row has its audit event and no event lacks its row
    for user in users.values():
        assert user.password_hash and user.password_hash.startswith("$2b$")
        assert user.email and user.created_at == user.updated_at
    assert killed, "no worker was killed"
    assert failures["5xx"] == 0 and failures["4xx"] == 0
    assert len(acknowledged) + failures["connection"] == BATCH
