"""The worker's database connection terminated under it (a server restart, ``pg_terminate_backend``): it
reconnects at its next look, and a task the loss failed is recorded failed while the worker goes on (PostgreSQL:
SQLite has no server to lose)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, connections
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from core.actors import SYSTEM
from core.tasks import task
from events.services import WebhookAuthorization, create_event_stream
from tests.helpers import STRONG_PASSWORD
from tests.receiver import Receiver, receiver
from users.services import create_user

pytestmark = [
    pytest.mark.django_db(transaction=True),  # the worker runs outside a test's transaction, as in production
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a database server to lose"),
]


@pytest.fixture(autouse=True)
def insecure() -> Iterator[None]:
    with override_settings(EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=True):
        yield


def _stream(name: str, hook: Receiver) -> None:
    create_event_stream(
        name=name,
        subscriptions=["user.created"],
        webhook_endpoint=hook.url,
        authorization=WebhookAuthorization(method="bearer", token="t0ken"),
        actor=SYSTEM,
    )


def _create(email: str, connection_name: str) -> None:
    data: Any = {"connection": connection_name, "email": email, "password": STRONG_PASSWORD, "verify_email": False}
    create_user(data=data, actor=SYSTEM)


def _terminate_the_others() -> None:
    """Terminate every other session on the test database (the worker's), from this thread's own connection."""
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    finally:
        connections.close_all()


@task()
def wait(seconds: float) -> None:
    """A task whose connection may be lost while it works without it (as a mail or a delivery waits)."""
    threading.Event().wait(seconds)


@task()
def count_tasks() -> int:
    return DBTaskResult.objects.count()


def test_a_task_that_lost_its_connection_is_recorded_failed_and_the_worker_runs_the_next():
    from jobs.taskworker import TaskWorker

    wait.enqueue(1.0)
    count_tasks.enqueue()  # claimed with the first
    killer = threading.Timer(0.3, _terminate_the_others)  # while the first task waits
    killer.start()
    TaskWorker(worker_id="w-lost", interval=0.05, batch=True).run()  # ends normally
    killer.join()
    rows = DBTaskResult.objects.order_by("enqueued_at")
    assert [(row.task_path.rsplit(".", 1)[1], row.status, row.exception_class_path) for row in rows] == [
        ("wait", "FAILED", "django.db.utils.OperationalError"),  # its success could not be stored
        ("count_tasks", "SUCCESSFUL", ""),
    ]


def test_a_worker_whose_idle_connection_was_terminated_reconnects_at_its_next_look(connection, caplog, monkeypatch):
    from jobs import taskworker
    from jobs.taskworker import TaskWorker

    monkeypatch.setattr(taskworker, "CONNECTION_CHECK_SECONDS", 3600.0)  # no periodic check comes to the rescue
    with receiver() as hook:
        _stream("one", hook)
        worker = TaskWorker(worker_id="w-idle", interval=0.02, batch=False)
        delivered: list[int] = []

        def terminate_then_create() -> None:
            try:
                threading.Event().wait(0.5)  # the worker idles, looking every 20 ms
                _terminate_the_others()
                threading.Event().wait(0.1)
                _create("ann@example.com", connection.name)
                hook.wait_for(1, timeout=5)
                delivered.append(len(hook.received))
            finally:
                connections.close_all()
                worker.shutdown(15, None)

        control = threading.Thread(target=terminate_then_create)
        control.start()
        with caplog.at_level(logging.WARNING, logger="jobs.taskworker"):
            worker.run()
        control.join()
    assert delivered == [1]
    unreachable = [r for r in caplog.records if "the task queue is unreachable" in r.getMessage()]
    assert len(unreachable) <= 1  # the failed look, then a new connection
