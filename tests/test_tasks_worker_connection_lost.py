"""The worker's database connection terminated under it (a server restart, ``pg_terminate_backend``): it
reconnects at its next look, and a task the loss interrupted is made ready again after a pause (up to
``LOST_CONNECTION_CLAIMS`` claims, then it fails) while the worker goes on; tasks a claim took though its answer
was lost are made ready again once the database answers; a first heartbeat that fails is tried again. The losses
are real on PostgreSQL; on SQLite, which has no server to lose, Django's usability check is made to answer "lost",
or the driver's error is raised after the statement."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DatabaseError, OperationalError, connection, connections, transaction
from django.db.backends.signals import connection_created
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from core.actors import SYSTEM
from core.tasks import task
from events.services import WebhookAuthorization, create_event_stream
from jobs.models import WorkerHeartbeat
from tests.helpers import STRONG_PASSWORD
from tests.receiver import Receiver, receiver
from users.services import create_user

if TYPE_CHECKING:
    from jobs.taskworker import TaskWorker

pytestmark = pytest.mark.django_db(transaction=True)  # the worker runs outside a test's transaction, as in production
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs a database server to lose")


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


@postgresql_only
def test_a_task_that_lost_its_connection_runs_again_later_and_the_worker_runs_the_next():
    from jobs.taskworker import TaskWorker

    wait.enqueue(1.0)
    count_tasks.enqueue()  # claimed with the first
    killer = threading.Timer(0.3, _terminate_the_others)  # while the first task waits
    killer.start()
    before = timezone.now()
    TaskWorker(worker_id="w-lost", interval=0.05, batch=True).run()  # ends normally
    killer.join()
    rows = DBTaskResult.objects.order_by("enqueued_at")
    # Its success could not be stored: not failed, ready again a second later (the first claim's pause).
    assert [(row.task_path.rsplit(".", 1)[1], row.status, row.exception_class_path) for row in rows] == [
        ("wait", "READY", ""),
        ("count_tasks", "SUCCESSFUL", ""),
    ]
    again = rows[0]
    assert again.started_at is None and again.worker_ids == ["w-lost"]
    assert before + timedelta(seconds=1) <= again.run_after <= timezone.now() + timedelta(seconds=1)
    DBTaskResult.objects.filter(pk=again.pk).update(run_after=timezone.now())
    TaskWorker(worker_id="w-next", interval=0.05, batch=True).run()
    again.refresh_from_db()
    assert (again.status, again.worker_ids) == ("SUCCESSFUL", ["w-lost", "w-next"])


@task()
def lose_the_connection_in_a_transaction() -> None:
    """Its backend terminated under a ``transaction.atomic`` block (as a delivery's statements run): the block's
    rollback fails, and Django drops the connection before the task's error reaches the worker."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


@postgresql_only
def test_a_task_whose_connection_was_lost_in_a_transaction_runs_again_later():
    from jobs.taskworker import TaskWorker

    lose_the_connection_in_a_transaction.enqueue()
    TaskWorker(worker_id="w-atomic", interval=0.05, batch=True).run()
    row = DBTaskResult.objects.get()
    assert (row.status, row.started_at, row.exception_class_path, row.worker_ids) == ("READY", None, "", ["w-atomic"])


@task()
def lose_the_connection_on_the_drivers_cursor() -> None:
    """Its backend terminated under a statement run on psycopg's own cursor (as ``events.rows`` inserts): the
    driver's error reaches the worker as it is, not as Django's."""
    import psycopg

    with connection.cursor() as cursor, psycopg.Cursor(cursor.cursor.connection) as bound:
        bound.execute("SELECT pg_terminate_backend(pg_backend_pid())")


@postgresql_only
def test_a_task_whose_connection_was_lost_under_the_drivers_cursor_runs_again_later():
    from jobs.taskworker import TaskWorker

    lose_the_connection_on_the_drivers_cursor.enqueue()
    TaskWorker(worker_id="w-driver", interval=0.05, batch=True).run()
    row = DBTaskResult.objects.get()
    assert (row.status, row.started_at, row.exception_class_path, row.worker_ids) == ("READY", None, "", ["w-driver"])


@task()
def lose_the_connection_in_a_pipeline() -> None:
    """What a delivery's ``executemany`` (psycopg's pipeline) raised when its backend was terminated: psycopg's own
    error, raised while handling the server's goodbye, with the connection not yet seen closed (here it is fine)."""
    import psycopg

    try:
        try:
            raise psycopg.errors.AdminShutdown("terminating connection due to administrator command")
        except psycopg.Error:
            raise psycopg.OperationalError("cannot exit pipeline mode while busy")  # noqa: B904 (as psycopg does)
    except psycopg.Error as exc:
        raise OperationalError(*exc.args) from exc  # as Django wraps it


def test_a_task_whose_error_has_the_servers_goodbye_among_its_causes_runs_again_later():
    from jobs.taskworker import TaskWorker

    lose_the_connection_in_a_pipeline.enqueue()
    TaskWorker(worker_id="w-goodbye", interval=0.05, batch=True).run()
    row = DBTaskResult.objects.get()
    assert (row.status, row.started_at, row.exception_class_path, row.worker_ids) == ("READY", None, "", ["w-goodbye"])


def _terminate(pid: int) -> None:
    """Terminate the backend ``pid`` from another thread's connection, and wait for it to be gone."""

    def kill() -> None:
        try:
            with connections["default"].cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
                for _ in range(100):
                    cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
                    if cursor.fetchone() is None:
                        break
                    threading.Event().wait(0.01)
        finally:
            connections.close_all()

    killer = threading.Thread(target=kill)
    killer.start()
    killer.join()


_armed = threading.Event()


@task()
def lose_the_connection_twice() -> None:
    """Its backend terminated, and the next connection's too (``terminate_the_next_connection``): the one the
    worker makes the task ready again on."""
    _armed.set()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")


@pytest.fixture
def terminate_the_next_connection() -> Iterator[None]:
    """Once ``_armed``, the next connection this thread makes is terminated as soon as it is made (from another
    thread's connection, waiting for it to be gone)."""

    def terminate(sender: Any, connection: Any, **kwargs: Any) -> None:
        if threading.current_thread() is main and _armed.is_set():
            _armed.clear()
            _terminate(connection.connection.info.backend_pid)

    main = threading.current_thread()
    connection_created.connect(terminate)
    try:
        yield
    finally:
        connection_created.disconnect(terminate)
        _armed.clear()


@postgresql_only
def test_a_task_whose_connection_is_lost_again_as_it_is_made_ready_is_made_ready_at_the_next_look(
    terminate_the_next_connection, caplog
):
    from jobs.taskworker import TaskWorker

    lose_the_connection_twice.enqueue()
    with caplog.at_level(logging.WARNING, logger="jobs.taskworker"):
        TaskWorker(worker_id="w-twice", interval=0.05, batch=True).run()  # ends normally
    row = DBTaskResult.objects.get()
    assert (row.status, row.started_at, row.exception_class_path, row.worker_ids) == ("READY", None, "", ["w-twice"])
    assert "which is still away: settled later" in caplog.text
    assert "lost its database connection (claim 1 of 5): ready again at" in caplog.text


@task()
def fail_on_its_own() -> None:
    raise ValueError("the task's own error")


@postgresql_only
def test_a_failure_whose_connection_is_lost_as_it_is_saved_is_saved_on_a_new_one():
    from jobs.taskworker import TaskWorker

    fail_on_its_own.enqueue()
    killed: list[int] = []

    def terminate_at_the_failures_save(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith(f'UPDATE "{DBTaskResult._meta.db_table}" SET "status"') and not killed:  # noqa: S608
            killed.append(connection.connection.info.backend_pid)
            _terminate(killed[0])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(terminate_at_the_failures_save):
        TaskWorker(worker_id="w-fail-lost", interval=0.05, batch=True).run()  # ends normally
    row = DBTaskResult.objects.get()
    assert killed and (row.status, row.exception_class_path) == ("FAILED", "builtins.ValueError")


@task()
def lose_the_connection() -> None:
    """A statement that fails (as one on a lost connection does), its connection then judged unusable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table")


# What the database raises for the missing table.
NO_SUCH_TABLE = f"django.db.utils.{'ProgrammingError' if connection.vendor == 'postgresql' else 'OperationalError'}"


@pytest.fixture
def connections_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django's usability check answers "lost" for every connection (SQLite has no server to lose)."""
    monkeypatch.setattr(type(connections["default"]), "is_usable", lambda self: False)


def test_a_task_whose_connection_was_lost_is_ready_again_after_a_pause_that_doubles(connections_lost, caplog):
    from jobs.taskworker import TaskWorker

    lose_the_connection.enqueue()
    pauses = []
    for claim in range(1, 5):
        before = timezone.now()
        with caplog.at_level(logging.WARNING, logger="jobs.taskworker"):
            TaskWorker(worker_id=f"w{claim}", interval=0.05, batch=True).run()
        row = DBTaskResult.objects.get()
        assert (row.status, row.started_at, len(row.worker_ids)) == ("READY", None, claim)
        pauses.append(round((row.run_after - before).total_seconds()))
        DBTaskResult.objects.filter(pk=row.pk).update(run_after=timezone.now())  # due now
    assert pauses == [1, 2, 4, 8]
    assert "lost its database connection (claim 4 of 5)" in caplog.text
    TaskWorker(worker_id="w5", interval=0.05, batch=True).run()  # the fifth claim: it fails
    row = DBTaskResult.objects.get()
    assert (row.status, row.exception_class_path, len(row.worker_ids)) == (
        "FAILED",
        NO_SUCH_TABLE,
        5,
    )


def test_a_task_that_fails_on_a_usable_connection_fails_at_once():
    from jobs.taskworker import TaskWorker

    lose_the_connection.enqueue()  # the statement fails, the connection is fine: the task's own error
    TaskWorker(worker_id="w-own", interval=0.05, batch=True).run()
    row = DBTaskResult.objects.get()
    assert (row.status, row.exception_class_path) == ("FAILED", NO_SUCH_TABLE)


def test_a_task_that_raises_something_else_fails_even_if_the_connection_is_judged_lost(connections_lost):
    from jobs.taskworker import TaskWorker

    boom.enqueue()
    TaskWorker(worker_id="w-boom", interval=0.05, batch=True).run()
    row = DBTaskResult.objects.get()
    assert (row.status, row.exception_class_path) == ("FAILED", "builtins.ValueError")


@task()
def boom() -> None:
    with connection.cursor() as cursor:
        try:
            cursor.execute("SELECT * FROM no_such_table")
        except DatabaseError:
            raise ValueError("the task's own error") from None


@postgresql_only
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


def _lose_the_answer(context: Any) -> None:
    """The statement just run was done, and its answer is lost: on PostgreSQL its backend is terminated and the
    next statement on the connection fails with the driver's error; on SQLite the driver's error is raised."""
    if connection.vendor == "postgresql":
        _terminate(context["connection"].connection.info.backend_pid)
        context["cursor"].execute("SELECT 1")  # raises: the connection is gone
    raise OperationalError("disk I/O error")


def _is_claim(sql: str) -> bool:
    return sql.startswith(f'UPDATE "{DBTaskResult._meta.db_table}" SET status = %s, started_at = %s, worker_ids')  # noqa: S608


def _statuses() -> list[tuple[str, str, list[str]]]:
    rows = DBTaskResult.objects.order_by("enqueued_at")
    return [(row.task_path.rsplit(".", 1)[1], row.status, row.worker_ids) for row in rows]


def test_tasks_a_claim_took_though_its_answer_was_lost_run_without_restarting_the_worker(caplog, monkeypatch):
    """The claim was done (the tasks ``RUNNING`` under this worker) but its answer never came: the worker, which
    beats on, would have kept them for the life of its process (``recover_orphaned_tasks`` leaves a live worker's
    tasks alone). Once the database answers they are ready again, as before the claim, and run; another worker's
    running task is left alone."""
    from jobs.taskworker import TaskWorker

    ids = [str(count_tasks.enqueue().id) for _ in range(3)]
    others = str(count_tasks.enqueue().id)
    DBTaskResult.objects.filter(pk=others).update(status="RUNNING", started_at=timezone.now(), worker_ids=["w-other"])
    lost: list[str] = []

    def lose_the_claims_answer(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not _is_claim(sql) or lost:
            return execute(sql, params, many, context)
        lost.append(sql)
        execute(sql, params, many, context)
        assert len(context["cursor"].fetchall()) == 3  # done: every ready task claimed
        _lose_the_answer(context)

    worker = TaskWorker(worker_id="w-claim", interval=0.02, batch=False)
    # Without the release the tasks never run: the worker stops at the deadline and the test fails.
    ran = _stop_after_three_tasks_or_ten_seconds(worker, monkeypatch)
    with connection.execute_wrapper(lose_the_claims_answer), caplog.at_level(logging.WARNING, "jobs.taskworker"):
        worker.run()
    assert lost and "the task queue is unreachable" in caplog.text
    assert sorted(ran) == sorted(ids)
    rows = {str(row.pk): row for row in DBTaskResult.objects.all()}
    # Made ready as before the claim (this worker's id taken off), then claimed once more: one id, not two.
    assert [(rows[pk].status, rows[pk].worker_ids) for pk in ids] == [("SUCCESSFUL", ["w-claim"])] * 3
    assert (rows[others].status, rows[others].worker_ids) == ("RUNNING", ["w-other"])
    assert caplog.text.count("by a statement whose answer was lost: ready again") == 3


@override_settings(JOBS_STALE_AFTER_SECONDS=2, JOBS_HEARTBEAT_SECONDS=0.2, JOBS_POLL_INTERVAL_SECONDS=0.05)
def test_tasks_a_lost_claim_took_after_the_worker_looked_for_them_are_made_ready_by_its_recovery(monkeypatch, caplog):
    """The claim's connection was cut (a proxy, the network) while its server process waited for a lock (an index
    being built by a migration): the worker saw the error and looked for what the claim took (nothing yet); then the
    lock was released and the claim committed, its tasks ``RUNNING`` under the worker, which beats on. They stayed so
    until its process ended (seen live: ``LOCK TABLE ... IN SHARE MODE``, connections cut by a proxy). The worker's
    recovery, which reads the tasks running that long anyway, makes ready again its own that it does not hold; not
    the one another live worker runs."""
    from jobs.taskworker import TaskWorker

    ids = [str(count_tasks.enqueue().id) for _ in range(3)]
    others = str(count_tasks.enqueue().id)
    long_ago = timezone.now() - timedelta(seconds=5)
    DBTaskResult.objects.filter(pk=others).update(status="RUNNING", started_at=long_ago, worker_ids=["w-other"])
    WorkerHeartbeat.objects.create(
        worker_id="w-other", started_at=long_ago, seen_at=timezone.now() + timedelta(hours=1)
    )
    worker = TaskWorker(worker_id="w-late", interval=0.02, batch=False)
    failed: list[str] = []

    def cut_the_claim(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if _is_claim(sql) and not failed:
            failed.append(sql)  # its server process still waits for the lock: nothing done yet
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    release_strays = worker.release_strays
    committed: list[int] = []

    def look_then_the_claim_commits(**kwargs: Any) -> int:
        found = release_strays(**kwargs)
        if not committed:  # the lock released: the lost claim commits, built (its start time) before the wait
            committed.append(
                DBTaskResult.objects.filter(pk__in=ids).update(
                    status="RUNNING", started_at=long_ago, worker_ids=["w-late"]
                )
            )
        return found

    monkeypatch.setattr(worker, "release_strays", look_then_the_claim_commits)
    # Without the recovery the tasks never run: the worker stops at the deadline and the test fails.
    ran = _stop_after_three_tasks_or_ten_seconds(worker, monkeypatch)
    with connection.execute_wrapper(cut_the_claim), caplog.at_level(logging.WARNING, "jobs.taskworker"):
        worker.run()
    assert failed and committed == [3]
    assert sorted(ran) == sorted(ids)
    rows = {str(row.pk): row for row in DBTaskResult.objects.all()}
    assert [(rows[pk].status, rows[pk].worker_ids) for pk in ids] == [("SUCCESSFUL", ["w-late"])] * 3
    assert (rows[others].status, rows[others].worker_ids) == ("RUNNING", ["w-other"])
    assert caplog.text.count("by a claim committed after its answer was lost: ready again") == 3


def test_the_recovery_leaves_the_tasks_a_live_worker_holds():
    """Called by a live worker between two tasks, the recovery takes its own long-running tasks but those it holds
    (claimed and not started yet, or whose loss is still to be written: ``held_ids``); without a worker id, a live
    worker's tasks are all left alone, as before."""
    from jobs.taskworker import TaskWorker, recover_orphaned_tasks

    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 60)
    stray, claimed, settling = (DBTaskResult.objects.get(pk=count_tasks.enqueue().id) for _ in range(3))
    DBTaskResult.objects.update(status="RUNNING", started_at=long_ago, worker_ids=["w-before", "w-live"])
    WorkerHeartbeat.objects.create(worker_id="w-live", started_at=long_ago, seen_at=timezone.now())
    worker = TaskWorker(worker_id="w-live", interval=0, batch=True)
    worker._claimed = [DBTaskResult.objects.get(pk=claimed.pk)]
    worker._lost = [(DBTaskResult.objects.get(pk=settling.pk), None)]
    assert recover_orphaned_tasks() == 0
    assert recover_orphaned_tasks(worker_id="w-live", held=worker.held_ids()) == 1
    rows = {row.pk: (row.status, row.started_at is None, row.worker_ids) for row in DBTaskResult.objects.all()}
    assert rows == {
        stray.pk: ("READY", True, ["w-before"]),
        claimed.pk: ("RUNNING", False, ["w-before", "w-live"]),
        settling.pk: ("RUNNING", False, ["w-before", "w-live"]),
    }


def test_a_batch_worker_whose_claims_answer_was_lost_releases_its_tasks_as_it_stops():
    """``--once`` stops at a failed claim (the database away); the tasks it may have claimed are released before it
    ends, not left to ``recover_orphaned_tasks`` once it is seen gone."""
    from jobs.taskworker import TaskWorker

    count_tasks.enqueue()

    def lose_the_claims_answer(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        result = execute(sql, params, many, context)
        if _is_claim(sql):
            context["cursor"].fetchall()
            _lose_the_answer(context)
        return result

    with connection.execute_wrapper(lose_the_claims_answer):
        TaskWorker(worker_id="w-once", interval=0, batch=True).run()  # ends normally
    assert _statuses() == [("count_tasks", "READY", [])]


def test_the_release_after_a_lost_answer_leaves_the_tasks_the_worker_holds_and_other_workers_tasks():
    """Only tasks ``RUNNING`` under this worker's id (the last of ``worker_ids``) that it does not hold are made
    ready: not the one it runs, nor those it claimed and has still to run, nor one whose loss it has still to write,
    nor another worker's (one this worker ran before included)."""
    from jobs.taskworker import TaskWorker

    for _ in range(3):
        count_tasks.enqueue()
    worker = TaskWorker(worker_id="w-mine", interval=0, batch=False)
    running = worker.claim_next()  # the other two claimed with it
    assert running is not None
    stray, other, settling = (DBTaskResult.objects.get(pk=count_tasks.enqueue().id) for _ in range(3))
    now = timezone.now()
    DBTaskResult.objects.filter(pk=stray.pk).update(status="RUNNING", started_at=now, worker_ids=["w-old", "w-mine"])
    DBTaskResult.objects.filter(pk=other.pk).update(status="RUNNING", started_at=now, worker_ids=["w-mine", "w-next"])
    DBTaskResult.objects.filter(pk=settling.pk).update(status="RUNNING", started_at=now, worker_ids=["w-mine"])
    settling.refresh_from_db()
    worker._lost.append((settling, None))
    assert worker.release_strays(holding=[running]) == 1
    rows = {row.pk: (row.status, row.started_at is None, row.worker_ids) for row in DBTaskResult.objects.all()}
    assert rows.pop(stray.pk) == ("READY", True, ["w-old"])
    assert rows.pop(other.pk) == ("RUNNING", False, ["w-mine", "w-next"])
    # The one running, the two claimed with it, the one whose loss is still to be written:
    assert list(rows.values()) == [("RUNNING", False, ["w-mine"])] * 4


def test_a_worker_whose_claims_succeed_never_looks_for_tasks_left_running_under_it(monkeypatch):
    """The look costs a read of the running tasks: only after a failed claim or release, never on the happy path."""
    from jobs.taskworker import TaskWorker

    def look(self: Any, **kwargs: Any) -> int:
        raise AssertionError("looked for tasks left running without a failure")

    monkeypatch.setattr(TaskWorker, "release_strays", look)
    for _ in range(3):
        count_tasks.enqueue()
    TaskWorker(worker_id="w-happy", interval=0, batch=True).run()
    assert [status for _name, status, _ids in _statuses()] == ["SUCCESSFUL"] * 3


def _is_heartbeat(sql: str) -> bool:
    return f'"{WorkerHeartbeat._meta.db_table}"' in sql


def test_a_worker_whose_first_heartbeat_lost_its_connection_tries_again_and_runs(monkeypatch, caplog):
    """The database restarted (the backend terminated on PostgreSQL) as the worker made its first heartbeat: the
    error ended ``run_jobs`` (exit 1); it is tried again on a new connection, as later heartbeats are."""
    from jobs import taskworker

    monkeypatch.setattr(taskworker, "FIRST_BEAT_RETRY_SECONDS", 0.01)
    count_tasks.enqueue()
    lost: list[str] = []

    def lose_the_first_beat(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if _is_heartbeat(sql) and not lost:
            lost.append(sql)
            if connection.vendor == "postgresql":
                _terminate(context["connection"].connection.info.backend_pid)
                return execute(sql, params, many, context)  # raises: the connection is gone
            raise OperationalError("disk I/O error")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(lose_the_first_beat), caplog.at_level(logging.WARNING, "jobs.taskworker"):
        call_command("run_jobs", "--once")  # ends normally
    assert lost and "first heartbeat failed: trying again in 0.01 s" in caplog.text
    assert [(name, status, len(ids)) for name, status, ids in _statuses()] == [("count_tasks", "SUCCESSFUL", 1)]


def test_a_worker_whose_first_heartbeat_keeps_failing_waits_longer_each_time_and_stops_when_told(monkeypatch):
    from jobs import taskworker
    from jobs.taskworker import TaskWorker

    monkeypatch.setattr(taskworker, "FIRST_BEAT_RETRY_SECONDS", 4.0)
    count_tasks.enqueue()
    worker = TaskWorker(worker_id="w-unreachable", interval=0, batch=False)
    pauses: list[float] = []

    def pause(timeout: float) -> bool:
        pauses.append(timeout)
        if len(pauses) == 5:
            worker.shutdown(15, None)  # SIGTERM: ends the pause at once (the worker's event is set)
        return False

    def unreachable(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if _is_heartbeat(sql):
            raise OperationalError("connection refused")
        return execute(sql, params, many, context)

    monkeypatch.setattr(worker.wake, "wait", pause)
    with connection.execute_wrapper(unreachable):
        worker.run()  # returns
    assert pauses == [4.0, 8.0, 16.0, 30.0, 30.0]
    assert _statuses() == [("count_tasks", "READY", [])] and not WorkerHeartbeat.objects.exists()


def test_a_batch_worker_whose_first_heartbeat_keeps_failing_ends_with_the_error(monkeypatch, caplog):
    """``run_jobs --once`` (cron, tests) while the database is away: it tried again for ever (30 s pauses), so each
    cron run added a process that waited for the database; it tries a few times, then exits 1 as it used to."""
    from jobs import taskworker

    monkeypatch.setattr(taskworker, "FIRST_BEAT_RETRY_SECONDS", 0.01)
    count_tasks.enqueue()
    tries: list[str] = []

    def unreachable(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if _is_heartbeat(sql):
            tries.append(sql)
            if len(tries) > 10:
                raise RuntimeError("still trying")  # ends the test that would otherwise wait for ever
            raise OperationalError("connection refused")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(unreachable), pytest.raises(OperationalError, match="connection refused"):
        call_command("run_jobs", "--once")
    assert len(tries) == taskworker.FIRST_BEAT_BATCH_TRIES == 3
    assert caplog.text.count("first heartbeat failed: trying again") == 2
    assert _statuses() == [("count_tasks", "READY", [])]


@pytest.mark.parametrize("away", [False, True], ids=["lost-once", "still-away"])
def test_a_stopping_worker_whose_connection_is_lost_at_its_last_write_still_ends_normally(caplog, away):
    """SIGTERM, the last task run, and the connection lost as the worker deletes its heartbeat (seen live with
    ``pg_terminate_backend``): the error ended ``run_jobs`` with exit 1 and a traceback, its heartbeat left behind.
    It is deleted on a new connection; with the database still away the worker ends all the same (its heartbeat goes
    stale, as a killed worker's)."""
    from jobs.taskworker import TaskWorker

    count_tasks.enqueue()
    lost: list[str] = []

    def lose_the_deletion(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if sql.startswith("DELETE") and _is_heartbeat(sql) and "worker_id" in sql and (away or not lost):
            lost.append(sql)
            if connection.vendor == "postgresql" and len(lost) == 1:
                _terminate(context["connection"].connection.info.backend_pid)
                return execute(sql, params, many, context)  # raises: the connection is gone
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(lose_the_deletion), caplog.at_level(logging.WARNING, "jobs.taskworker"):
        TaskWorker(worker_id="w-last-write", interval=0, batch=True).run()  # returns
    assert _statuses() == [("count_tasks", "SUCCESSFUL", ["w-last-write"])]
    assert len(lost) == (2 if away else 1), lost
    assert WorkerHeartbeat.objects.filter(worker_id="w-last-write").exists() == away
    assert ("deleting its heartbeat failed" in caplog.text) == away


def test_a_worker_told_to_stop_while_its_first_heartbeat_waits_to_be_tried_again_stops_at_once(monkeypatch):
    from jobs import taskworker
    from jobs.taskworker import TaskWorker

    monkeypatch.setattr(taskworker, "FIRST_BEAT_RETRY_SECONDS", 60.0)
    worker = TaskWorker(worker_id="w-stop-unreachable", interval=0, batch=False)

    def unreachable(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if _is_heartbeat(sql):
            raise OperationalError("connection refused")
        return execute(sql, params, many, context)

    stop = threading.Timer(0.3, worker.shutdown, args=(15, None))
    stop.start()
    started = time.monotonic()
    with connection.execute_wrapper(unreachable):
        worker.run()
    stop.join()
    assert time.monotonic() - started < 5


def _stop_after_three_tasks_or_ten_seconds(worker: TaskWorker, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the tasks ``worker`` runs, as it runs them; it stops after three, or after ten seconds."""
    ran: list[str] = []
    run_task, wait = worker.run_task, worker.wake.wait
    deadline = time.monotonic() + 10

    def run_and_count(row: DBTaskResult) -> None:
        run_task(row)
        ran.append(str(row.pk))
        worker.running = len(ran) < 3

    def wait_until_the_deadline(timeout: float) -> bool:
        worker.running = worker.running and time.monotonic() < deadline
        return wait(timeout)

    monkeypatch.setattr(worker, "run_task", run_and_count)
    monkeypatch.setattr(worker.wake, "wait", wait_until_the_deadline)
    return ran
