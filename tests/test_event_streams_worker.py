"""Event deliveries through real ``manage.py run_jobs`` processes: a worker killed (SIGKILL) mid-delivery is
recovered by the next one; 1,000 creates reach the receiver, none lost, each user's events in order, with two
workers sharing the queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings

from core.actors import SYSTEM
from events.models import Delivery, DeliveryStatus
from events.services import WebhookAuthorization, create_event_stream
from tests.helpers import STRONG_PASSWORD
from tests.live import ROOT, database_url
from tests.receiver import receiver
from users.services import create_user, update_user

pytestmark = [pytest.mark.live]


def _env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "DATA_DIR": str(settings.DATA_DIR),
        "PYTHONUNBUFFERED": "1",
        "BCRYPT_ROUNDS": "4",
        "EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS": "true",
        "EVENT_STREAMS_RETRY_BASE_SECONDS": "0.05",
        "JOBS_POLL_INTERVAL_SECONDS": "1",
        **extra,
    }


@contextmanager
def worker(**extra: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_jobs", "--poll-interval", "0.02"],
        cwd=ROOT,
        env=_env(**extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _stream(url: str) -> Any:
    with_flag = settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS
    settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS = True
    try:
        return create_event_stream(
            name="crm",
            subscriptions=["user.created", "user.updated"],
            webhook_endpoint=url,
            authorization=WebhookAuthorization(method="bearer", token="t"),
            actor=SYSTEM,
        )
    finally:
        settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS = with_flag


def test_a_worker_killed_mid_delivery_is_redelivered_after_restart(transactional_db, connection):
    # The first request hangs long enough for the worker to be killed while it waits for the answer.
    with receiver(answers=[(200, {}, 60.0)]) as hook:
        _stream(hook.url)
        data: Any = {
            "connection": connection.name,
            "email": "ann@example.com",
            "password": STRONG_PASSWORD,
            "verify_email": False,
        }
        create_user(data=data, actor=SYSTEM)
        short = {"EVENT_STREAMS_CLAIM_SECONDS": "2", "EVENT_STREAMS_TIMEOUT_SECONDS": "90"}
        with worker(**short) as first:
            hook.wait_for(1, timeout=60)
            assert len(hook.received) == 1
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=30)
        delivery = Delivery.objects.get()
        assert delivery.status == DeliveryStatus.PENDING and delivery.claimed_by  # claimed by the dead worker

        with worker(**short):
            received = hook.wait_for(2, timeout=90)
            deadline = time.monotonic() + 30
            while Delivery.objects.get().status != DeliveryStatus.DELIVERED and time.monotonic() < deadline:
                time.sleep(0.1)
    assert len(received) == 2 and received[0].event["id"] == received[1].event["id"]  # the same event, again
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [a.status for a in delivery.attempts.all()] == ["delivered"]  # the killed attempt never finished


def test_a_thousand_creates_arrive_all_in_per_user_order_with_two_workers(transactional_db, connection):
    users, updates = 1000, 100
    with receiver() as hook:
        _stream(hook.url)
        ids = []
        for i in range(users):
            data: Any = {
                "connection": connection.name,
                "email": f"u{i}@example.com",
                "password": STRONG_PASSWORD,
                "verify_email": False,
            }
            ids.append(create_user(data=data, actor=SYSTEM).user_id)
        for round_ in range(2):  # two updates each for the first hundred users, after their create
            for user_id in ids[:updates]:
                update_user(user_id=user_id, data={"name": f"round {round_}"}, actor=SYSTEM)
        expected = users + 2 * updates
        with worker(), worker():
            received = hook.wait_for(expected, timeout=300)
    events = [r.event for r in received]
    assert len({e["id"] for e in events}) == expected  # none lost (at least once: a duplicate would show below)
    assert len(events) == expected
    by_user: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    for event in events:
        obj = event["data"]["object"]
        by_user[obj["user_id"]].append((event["type"], obj.get("name")))
    assert len(by_user) == users
    for user_id in ids[:updates]:
        assert [t for t, _name in by_user[user_id]] == ["user.created", "user.updated", "user.updated"]
        assert [name for _t, name in by_user[user_id]][1:] == ["round 0", "round 1"]
