"""The worker's additions to django-tasks-db: a task left running by a worker that died is made ready again, a
live worker's is left alone; a mail task retries after a mail server error."""

from __future__ import annotations

import time
from datetime import timedelta
from unittest import mock

import pytest
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from jobs.models import WorkerHeartbeat
from jobs.taskworker import recover_orphaned_tasks
from tests.helpers import STRONG_PASSWORD, USERS
from users.verification import deliver_verification_email

pytestmark = pytest.mark.django_db


def _running(worker_id: str, started_ago: float) -> DBTaskResult:
    result = deliver_verification_email.enqueue(1, "ann@example.com", "en")
    row = DBTaskResult.objects.get(pk=result.id)
    row.status = "RUNNING"
    row.worker_ids = [worker_id]
    row.started_at = timezone.now() - timedelta(seconds=started_ago)
    row.save()
    return row


@override_settings(JOBS_STALE_AFTER_SECONDS=60)
def test_a_task_of_a_dead_worker_is_ready_again_and_a_live_workers_is_not():
    now = timezone.now()
    WorkerHeartbeat.objects.create(worker_id="alive", started_at=now, seen_at=now)
    WorkerHeartbeat.objects.create(worker_id="dead", started_at=now, seen_at=now - timedelta(seconds=120))
    dead, alive, recent = _running("dead", 300), _running("alive", 300), _running("dead", 5)
    assert recover_orphaned_tasks() == 1
    statuses = dict(DBTaskResult.objects.values_list("pk", "status"))
    assert statuses == {dead.pk: "READY", alive.pk: "RUNNING", recent.pk: "RUNNING"}


@override_settings(EMAIL_SEND_RETRY_BASE_SECONDS=0.01)
def test_a_verification_mail_is_retried_after_a_mail_server_error(api, connection, mailoutbox, run_tasks):
    from django.core.mail import send_mail as real_send_mail

    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("smtp down")
        return real_send_mail(*args, **kwargs)

    body = {"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD}
    assert api.post(USERS, body, format="json").status_code == 201
    with mock.patch("users.verification.send_mail", side_effect=flaky):
        for _ in range(100):
            run_tasks()
            if mailoutbox:
                break
            time.sleep(0.01)
    assert len(calls) == 2 and [m.to for m in mailoutbox] == [["ann@example.com"]]
    assert sorted(str(v) for v in DBTaskResult.objects.values_list("return_value", flat=True)) == ["retrying", "sent"]
