"""The worker's additions to django-tasks-db: a task left running by a worker that died is made ready again, a
live worker's is left alone; a mail task retries after a mail server error."""

from __future__ import annotations

import logging
import smtplib
import time
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.actors import SYSTEM
from core.crypto import encrypt_secret
from core.tasks import task
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


@pytest.mark.parametrize(
    ("error", "named"),
    [
        (smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"5.1.1 <ann@example.com>: no such user")}),
         "smtplib.SMTPRecipientsRefused (SMTP 550)"),
        (smtplib.SMTPDataError(554, b"rejected: ann@example.com is blocked"), "smtplib.SMTPDataError (SMTP 554)"),
        (ConnectionRefusedError(111, "Connection refused to ann@example.com"), "ConnectionRefusedError (errno 111)"),
    ],
    ids=["recipients-refused", "data-error", "connection-refused"],
)  # fmt: skip
def test_a_mails_last_failure_names_the_error_not_the_address(connection, run_tasks, caplog, error, named):
    """Out of retries, the mail task fails with ``core.mail.MailNotSent``: the server's error by type and code. Its
    message, which names the recipient, is neither in the worker's ERROR line nor in the task's stored traceback."""
    from users.services import create_user
    from users.tickets import deliver_password_reset_email

    user = create_user(
        data={"connection": connection.name, "email": "ann@example.com", "password": STRONG_PASSWORD,
              "verify_email": False},
        actor=SYSTEM,
    )  # fmt: skip
    deliver_verification_email.enqueue(user.pk, "ann@example.com", "en", attempt=5)
    deliver_password_reset_email.enqueue(user.pk, encrypt_secret("https://example.com/lo/reset?ticket=x"), "en", 5)
    with (
        override_settings(EMAIL_SEND_MAX_ATTEMPTS=5),
        mock.patch("users.verification.send_mail", side_effect=error),
        mock.patch("users.tickets.send_mail", side_effect=error),
        caplog.at_level(logging.INFO),
    ):
        run_tasks()
    rows = list(DBTaskResult.objects.order_by("enqueued_at"))
    assert [(row.status, row.exception_class_path) for row in rows] == [("FAILED", "core.mail.MailNotSent")] * 2
    assert all(named in row.traceback and "ann@example.com" not in row.traceback for row in rows)
    assert "ann@example.com" not in caplog.text and named in caplog.text


@pytest.mark.django_db(transaction=True)
def test_racing_workers_claim_each_ready_task_once():
    import threading

    from django.db import connection

    from jobs.taskworker import TaskWorker

    last = str(deliver_verification_email.using(priority=-5).enqueue(99, "late@example.com", "en").id)
    first = [str(deliver_verification_email.enqueue(n, f"u{n}@example.com", "en").id) for n in range(11)]
    barrier, lock = threading.Barrier(4), threading.Lock()
    claims: dict[str, list[str]] = {f"w{i}": [] for i in range(4)}
    won: list[str] = []

    def claim(worker_id: str) -> None:
        try:
            worker = TaskWorker(worker_id=worker_id, interval=0, batch=True)
            barrier.wait()
            deadline = time.monotonic() + 20
            while len(won) < 12 and time.monotonic() < deadline:
                task = worker.claim_next()  # None too while another worker holds the lock
                if task is not None:
                    with lock:
                        claims[worker_id].append(str(task.pk))
                        won.append(str(task.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(worker_id,)) for worker_id in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == sorted([*first, last])  # each task once
    rows = {str(r.pk): r for r in DBTaskResult.objects.all()}
    assert {r.status for r in rows.values()} == {"RUNNING"} and all(r.started_at for r in rows.values())
    assert all(rows[pk].worker_ids == [worker_id] for worker_id, mine in claims.items() for pk in mine)


def test_a_worker_claims_by_priority_then_run_after_then_enqueue_time_and_not_before_run_after():
    from jobs.taskworker import TaskWorker

    now = timezone.now()
    later = deliver_verification_email.using(run_after=now + timedelta(minutes=5)).enqueue(1, "a@x.com", "en").id
    low = deliver_verification_email.using(priority=-5).enqueue(2, "b@x.com", "en").id
    due = deliver_verification_email.using(run_after=now - timedelta(seconds=1)).enqueue(3, "c@x.com", "en").id
    plain = deliver_verification_email.enqueue(4, "d@x.com", "en").id
    high = deliver_verification_email.using(priority=5).enqueue(5, "e@x.com", "en").id
    worker = TaskWorker(worker_id="w", interval=0, batch=True)
    claimed = []
    while (task := worker.claim_next()) is not None:
        claimed.append(str(task.pk))
    assert claimed == [str(high), str(due), str(plain), str(low)]
    assert DBTaskResult.objects.get(pk=later).status == "READY"


def test_a_finished_tasks_signal_carries_what_django_tasks_db_builds_with_the_task_built_once(monkeypatch):
    """``TaskWorker.run_task`` derives the finished result from the started one (building it anew imports and
    copies the task again): a ``task_finished`` receiver gets what ``DBTaskResult.task_result`` gives afterwards.
    Each kind of task is built once in the process (``jobs.taskworker.started_result``)."""
    from django_tasks_db.compat import task_finished

    from jobs.taskworker import TaskWorker

    built = []
    build_task = vars(DBTaskResult)["task"].fget

    def counted(row: DBTaskResult) -> Any:
        built.append(row.pk)
        return build_task(row)

    finished = []

    def receive(sender: Any, task_result: Any, **kwargs: Any) -> None:
        finished.append(task_result)

    deliver_verification_email.enqueue(999_999, "gone@example.com", "en")  # no such user: "skipped"
    worker = TaskWorker(worker_id="test-worker", interval=0, batch=True)
    claimed = worker.claim_next()
    assert claimed is not None
    monkeypatch.setattr(DBTaskResult, "task", property(counted))
    task_finished.connect(receive)
    try:
        worker.run_task(claimed)
    finally:
        task_finished.disconnect(receive)
    assert len(built) <= 1  # for the started result only, and not again for a kind of task built before
    monkeypatch.undo()
    (got,) = finished
    stored = DBTaskResult.objects.get(pk=claimed.pk).task_result
    names = ["task", "id", "status", "enqueued_at", "started_at", "finished_at", "last_attempted_at", "args"]
    names += ["kwargs", "backend", "errors", "worker_ids", "return_value"]
    assert {name: getattr(got, name) for name in names} == {name: getattr(stored, name) for name in names}
    assert got.return_value == "skipped"


def test_the_started_result_is_the_librarys_with_each_kind_of_task_built_once(monkeypatch):
    """``started_result`` gives what ``DBTaskResult.task_result`` gives for a claimed row, building the task (an
    import, a copy and a validation) once per kind; a deferred task is built from its row every time (its copy
    carries its ``run_after``)."""
    from datetime import timedelta

    from django.utils import timezone

    from jobs import taskworker
    from jobs.taskworker import TaskWorker, started_result

    monkeypatch.setattr(taskworker, "_TASKS", {})
    built = []
    build_task = vars(DBTaskResult)["task"].fget

    def counted(row: DBTaskResult) -> Any:
        built.append(row.pk)
        return build_task(row)

    for address in ("a@example.com", "b@example.com", "c@example.com"):
        deliver_verification_email.enqueue(999_999, address, "en")
    deferred = deliver_verification_email.using(run_after=timezone.now() - timedelta(seconds=1)).enqueue(1, "d", "ja")
    worker = TaskWorker(worker_id="test-worker", interval=0, batch=True)
    names = ["task", "id", "status", "enqueued_at", "started_at", "finished_at", "last_attempted_at", "args"]
    names += ["kwargs", "backend", "errors", "worker_ids"]
    seen = []
    while (claimed := worker.claim_next()) is not None:
        monkeypatch.setattr(DBTaskResult, "task", property(counted))
        ours = started_result(claimed)
        monkeypatch.setattr(DBTaskResult, "task", property(build_task))
        library = claimed.task_result
        assert {name: getattr(ours, name) for name in names} == {name: getattr(library, name) for name in names}
        assert ours.status == "RUNNING" and ours.db_result is claimed
        seen.append(str(claimed.pk))
    assert len(seen) == 4
    assert [str(pk) for pk in built].count(str(deferred.id)) == 1
    assert len(built) == 2  # the deferred one, and the first ready one only


def test_a_kept_task_is_validated_again_after_the_tasks_setting_changed(monkeypatch):
    """``started_result`` keeps each kind of task it built; a ``TASKS`` override (a test's) under which that task is
    no longer valid (its queue gone) makes it raise what the row's own result raises, not run the kept task."""
    from django.tasks.exceptions import InvalidTask

    from jobs import taskworker
    from jobs.taskworker import TaskWorker, started_result

    monkeypatch.setattr(taskworker, "_TASKS", {})
    deliver_verification_email.enqueue(999_999, "a@example.com", "en")
    deliver_verification_email.enqueue(999_999, "b@example.com", "en")
    worker = TaskWorker(worker_id="test-worker", interval=0, batch=True)
    first = worker.claim_next()
    assert first is not None
    started_result(first)  # kept
    with override_settings(TASKS={"default": {"BACKEND": "core.tasks.DatabaseBackend", "QUEUES": ["elsewhere"]}}):
        claimed = worker.claim_next()
        assert claimed is not None
        with pytest.raises(InvalidTask, match="Queue 'default' is not valid"):
            claimed.task_result  # noqa: B018 - the library's result of the row
        with pytest.raises(InvalidTask, match="Queue 'default' is not valid"):
            started_result(claimed)


@override_settings(JOBS_POLL_INTERVAL_SECONDS=2, JOBS_STALE_AFTER_SECONDS=120)
def test_the_worker_sweeps_every_poll_but_recovers_at_start_then_every_eighth_of_the_stale_time(monkeypatch):
    """Recovering dead workers' tasks (and pruning finished ones) every poll cost an idle worker most of its CPU and
    gained nothing: a task is recovered once its worker has been silent ``JOBS_STALE_AFTER_SECONDS``. The sweep of
    lapsed deliveries keeps the poll's pace."""
    from types import SimpleNamespace

    from jobs import taskworker
    from jobs.taskworker import TaskWorker, recovery_seconds

    assert recovery_seconds() == 15.0
    clock = [1000.0]
    monkeypatch.setattr(taskworker, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    calls: list[tuple[float, bool]] = []
    monkeypatch.setattr(taskworker, "housekeeping", lambda *, recover, **_: calls.append((clock[0] - 1000, recover)))
    worker = TaskWorker(worker_id="test-cadence", interval=0, batch=False)
    monkeypatch.setattr(worker, "claim_next", lambda: None)

    def idle(timeout: float) -> bool:
        clock[0] += 2.0
        worker.running = len(calls) < 20
        return False

    monkeypatch.setattr(worker.wake, "wait", idle)
    worker.run()
    assert len(calls) == 20  # every poll interval
    assert [at for at, recover in calls if recover] == [0.0, 16.0, 32.0]


def _status(task_id: Any) -> tuple[str, Any, list[str]]:
    row = DBTaskResult.objects.get(pk=task_id)
    return row.status, row.started_at, row.worker_ids


def test_a_worker_claims_the_ready_tasks_together_and_runs_them_in_order(django_assert_num_queries):
    """One claim takes every ready task (up to ``CLAIM_BATCH``): an idle worker's look finds a create's mail and
    event delivery, and one claim of both costs the database about what one did."""
    from jobs.taskworker import CLAIM_BATCH, TaskWorker

    ids = [str(deliver_verification_email.enqueue(n, f"u{n}@example.com", "en").id) for n in range(CLAIM_BATCH + 2)]
    worker = TaskWorker(worker_id="w-together", interval=0, batch=True)
    with django_assert_num_queries(2 if connection.vendor == "sqlite" else 1):  # SQLite looks before it locks
        first = worker.claim_next()
    assert first is not None and str(first.pk) == ids[0]
    statuses = {pk: _status(pk)[0] for pk in ids}
    assert [statuses[pk] for pk in ids] == ["RUNNING"] * CLAIM_BATCH + ["READY"] * 2
    with django_assert_num_queries(0):
        rest = [str(worker.claim_next().pk) for _ in range(CLAIM_BATCH - 1)]  # type: ignore[union-attr]
    assert rest == ids[1:CLAIM_BATCH]
    assert [str(t.pk) for t in iter(worker.claim_next, None)] == ids[CLAIM_BATCH:]


@pytest.mark.parametrize("long_task", ["import", "connection deletion"])
def test_a_long_task_is_claimed_alone_and_nothing_waits_behind_it(long_task: str):
    """An import may run for minutes, a turn of a connection's deletion for seconds: claimed with others, it and
    those after it are released at once (ready again, as before the claim); it is then claimed alone."""
    from connections.deletion import finish_connection_deletion
    from jobs.tasks import run_import_jobs
    from jobs.taskworker import TaskWorker

    mail = str(deliver_verification_email.enqueue(1, "a@example.com", "en").id)
    long = run_import_jobs.enqueue() if long_task == "import" else finish_connection_deletion.enqueue("con_x")
    imports = str(long.id)
    later = str(deliver_verification_email.enqueue(2, "b@example.com", "en").id)
    worker = TaskWorker(worker_id="w-long", interval=0, batch=False)
    assert str(worker.claim_next().pk) == mail  # type: ignore[union-attr]
    assert _status(imports) == ("READY", None, []) and _status(later) == ("READY", None, [])
    assert not worker.lingers()  # the released tasks are ready: no wait before the next claim
    assert str(worker.claim_next().pk) == imports  # type: ignore[union-attr]
    assert _status(later) == ("READY", None, [])
    assert not worker.lingers()  # the same after the import
    assert str(worker.claim_next().pk) == later  # type: ignore[union-attr]
    assert worker.lingers()  # that claim took every ready task


@pytest.mark.parametrize("done", [False, True], ids=["lost-before-the-release", "lost-after-the-release"])
def test_tasks_whose_release_after_a_long_one_failed_are_released_again_and_not_run_with_it(done):
    """The connection lost around the release of the tasks claimed after a long one: if it was not done, they are
    this worker's, ``RUNNING``, and nobody else would ever run them while it lives (``recover_orphaned_tasks``
    leaves a live worker's tasks); if it was (only the answer lost), they are ready, and running them here as well
    ran them twice. Either way they are released again on a new connection and the long one runs alone."""
    from django.db import OperationalError

    from jobs.tasks import run_import_jobs
    from jobs.taskworker import TaskWorker

    imports = str(run_import_jobs.enqueue().id)
    later = [str(deliver_verification_email.enqueue(n, f"{n}@example.com", "en").id) for n in range(2)]
    lost: list[str] = []

    def lose_the_release(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if many and "started_at = NULL, worker_ids" in sql and not lost:
            lost.append(sql)
            if done:
                execute(sql, params, many, context)
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    worker = TaskWorker(worker_id="w-lost-release", interval=0, batch=False)
    with connection.execute_wrapper(lose_the_release):
        assert str(worker.claim_next().pk) == imports  # type: ignore[union-attr]
    assert lost and [_status(pk) for pk in later] == [("READY", None, [])] * 2
    assert not worker.lingers()  # they are ready: no wait before the next claim
    other = TaskWorker(worker_id="w-other", interval=0, batch=False)
    assert [str(task.pk) for task in iter(other.claim_next, None)] == later
    assert worker.claim_next() is None  # not run here as well


def test_a_stopping_worker_releases_the_claimed_tasks_it_did_not_start():
    from jobs.taskworker import TaskWorker

    ids = [str(deliver_verification_email.enqueue(10**9 + n, "gone@example.com", "en").id) for n in range(3)]
    worker = TaskWorker(worker_id="w-stop", interval=0, batch=False)
    ran = []

    def run_one(task: Any) -> None:
        ran.append(str(task.pk))
        worker.running = False  # as the first SIGTERM does

    worker.run_task = run_one  # type: ignore[method-assign,assignment]
    worker.run()
    assert ran == ids[:1]
    assert _status(ids[0])[0] == "RUNNING"  # (run_task stubbed: the started one is its business)
    assert [_status(pk) for pk in ids[1:]] == [("READY", None, [])] * 2
    assert [str(t.pk) for t in iter(TaskWorker(worker_id="w-next", interval=0, batch=True).claim_next, None)] == ids[1:]


@override_settings(TASKS_LINGER_SECONDS=0.2)
@pytest.mark.parametrize("batch", [False, True])
def test_a_worker_that_ran_every_ready_task_lingers_before_its_next_look_and_one_with_a_backlog_does_not(
    monkeypatch, batch
):
    """Under load each look would find one create's tasks: after running all a claim took, a worker waits
    ``TASKS_LINGER_SECONDS`` so the next look finds several. A full claim (a backlog) is followed by the next claim
    at once; an idle look by the poll interval; ``--once`` never waits."""
    from jobs import taskworker
    from jobs.taskworker import CLAIM_BATCH, TaskWorker

    monkeypatch.setattr(taskworker, "housekeeping", lambda *, recover, **_: None)
    worker = TaskWorker(worker_id="w-linger", interval=0.05, batch=batch)
    assert worker.linger == 0.2
    claims: list[list[Any]] = [["full"] * CLAIM_BATCH, ["a", "b"], [], ["c"], []]
    events: list[object] = []

    def claim_ready(limit: int) -> list[Any]:
        claimed = claims.pop(0)
        worker.running = bool(claims)  # the last claim's look is the last
        events.append(f"claim {len(claimed)}")
        return claimed

    monkeypatch.setattr(worker, "claim_ready", claim_ready)
    monkeypatch.setattr(worker, "run_task", lambda task: events.append(task))
    monkeypatch.setattr(worker.wake, "wait", lambda timeout: events.append(timeout))
    worker.run()
    if batch:
        assert events == [f"claim {CLAIM_BATCH}", *["full"] * CLAIM_BATCH, "claim 2", "a", "b", "claim 0"]
    else:
        assert events == [
            f"claim {CLAIM_BATCH}",
            *["full"] * CLAIM_BATCH,  # a backlog: no wait before the next claim
            "claim 2",
            "a",
            "b",
            0.2,  # ran every ready task: lingers
            "claim 0",
            0.05,  # idle: the poll interval
            "claim 1",
            "c",
            0.2,
            "claim 0",
            0.05,
        ]


def test_a_worker_told_to_stop_while_it_lingers_stops_at_once():
    from jobs.taskworker import TaskWorker

    worker = TaskWorker(worker_id="w-stop-linger", interval=0.05, batch=False, linger=30.0)
    worker.running = True
    worker.shutdown(15, None)
    assert worker.wake.wait(0) is True  # the linger's wait returns at once


def test_the_worker_checks_its_connections_before_a_claim_at_most_every_second(monkeypatch):
    """Django's connection check (with CONN_HEALTH_CHECKS a ``SELECT 1`` on PostgreSQL) ran before every task and
    every idle look: now before a claim, once a second at most, never between the tasks of one claim."""
    from types import SimpleNamespace

    from jobs import taskworker
    from jobs.taskworker import CONNECTION_CHECK_SECONDS, TaskWorker

    assert CONNECTION_CHECK_SECONDS == 1.0
    clock = [0.0]
    monkeypatch.setattr(taskworker, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(taskworker, "housekeeping", lambda *, recover, **_: None)
    # As outside a test's transaction:
    monkeypatch.setattr(taskworker, "connection", SimpleNamespace(in_atomic_block=False, errors_occurred=False))
    events: list[str] = []
    monkeypatch.setattr(taskworker, "close_old_connections", lambda: events.append("check"))
    worker = TaskWorker(worker_id="w-check", interval=0.4, batch=False, linger=0.3)
    claims: list[list[Any]] = [["a", "b", "c"], [], [], [], ["d"], []]

    def claim_ready(limit: int) -> list[Any]:
        worker.running = len(claims) > 1
        claimed = claims.pop(0)
        events.append(f"claim {len(claimed)}")
        return claimed

    def wait(timeout: float) -> bool:
        clock[0] += timeout
        return False

    monkeypatch.setattr(worker, "claim_ready", claim_ready)
    monkeypatch.setattr(worker, "run_task", lambda task: events.append(task))
    monkeypatch.setattr(worker.wake, "wait", wait)
    worker.run()
    # t=0 check, claim, tasks; t=0.3 claim; t=0.7 claim; t=1.1 check, claim; t=1.5 claim "d"; t=1.8 claim.
    assert events == [
        "check",
        "claim 3",
        "a",
        "b",
        "c",
        "claim 0",
        "claim 0",
        "check",
        "claim 0",
        "claim 1",
        "d",
        "claim 0",
    ]


@task()
def fail_with(message: str) -> None:
    """Raise with ``message``'s bytes (hex: the queue's JSON would not take a NUL byte) as a message decoded with
    ``surrogateescape`` (a byte that is not UTF-8 becomes a lone surrogate)."""
    raise ValueError(bytes.fromhex(message).decode("utf-8", "surrogateescape"))


@pytest.mark.django_db(transaction=True)  # the failure is saved outside a test's transaction, as in production
@pytest.mark.parametrize(
    ("message", "stored"),
    [
        # PostgreSQL's text refuses a NUL byte (SQLite keeps it)
        (b"a \x00 byte, as a remote server's answer may have", ("a \\x00 byte", "a \x00 byte")),
        (b"a \xff byte", ("a \\udcff byte",)),  # a lone surrogate: no database takes it (not UTF-8)
    ],
    ids=["nul-byte", "lone-surrogate"],
)
def test_a_task_whose_traceback_the_database_refuses_is_recorded_failed_and_the_worker_goes_on(
    message, stored, monkeypatch
):
    """The failure's save raised, ending the worker with the task left RUNNING (and every worker that took it up
    again after its recovery)."""
    from jobs.taskworker import TaskWorker

    # The framework logs the failure's traceback: a lone surrogate in the captured log breaks pytest-xdist's report.
    monkeypatch.setattr(logging.getLogger("django.tasks"), "disabled", True)
    fail_with.enqueue(message.hex())
    TaskWorker(worker_id="w-refused", interval=0, batch=True).run()  # ends normally
    row = DBTaskResult.objects.get()
    assert (row.status, row.exception_class_path) == ("FAILED", "builtins.ValueError")
    assert any(text in row.traceback for text in stored)


@task()
def nothing() -> None:
    """A task that does nothing: only the worker that ran it is looked at."""


def test_workers_on_a_host_with_a_long_name_have_ids_of_their_own(monkeypatch):
    """The id is ``host:pid:random`` and a heartbeat's id holds 64 characters: the whole id was cut at 64, so on a
    host named with 55 characters or more (a Kubernetes pod's name may have 63) the pid and the random part were
    lost and two workers had one id, each taking the other's tasks for its own (``release_strays`` made ready again
    a task the other was running). The host's name is cut instead."""
    import os
    import socket

    from django.core.management import call_command

    monkeypatch.setattr(socket, "gethostname", lambda: "userdir-background-worker-deployment-5f7c8d9b4f-x2k9q.cluster")
    for _ in range(2):
        nothing.enqueue()
        call_command("run_jobs", "--once")
    ids = [row.worker_ids[0] for row in DBTaskResult.objects.order_by("finished_at")]
    assert len(set(ids)) == 2
    for worker_id in ids:
        assert len(worker_id) <= 64
        host, pid, random_part = worker_id.rsplit(":", 2)
        assert (pid, len(random_part)) == (str(os.getpid()), 8)
        assert "userdir-background-worker-deployment-5f7c8d9b4f-x2k9q.cluster".startswith(host)
