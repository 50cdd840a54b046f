"""The one background worker (``manage.py run_jobs``): Django's Tasks framework's database worker
(django-tasks-db), running every task — event deliveries, e-mails, import jobs — plus the recovery the framework
lacks.

django-tasks-db claims a ready task (``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, an exclusive transaction
on SQLite), marks it ``RUNNING`` with the worker's id and runs it; this worker claims every ready task (up to
``CLAIM_BATCH``) in one statement (``TaskWorker.claim_ready``), runs them in order, and stores a success in one
statement (``TaskWorker.run_task``). It has no retries and no
liveness: a worker killed mid-task leaves the task ``RUNNING`` for ever. So this worker adds, every
``JOBS_POLL_INTERVAL_SECONDS``:

- a heartbeat (``jobs.models.WorkerHeartbeat``, refreshed every ``JOBS_HEARTBEAT_SECONDS`` by a thread, so a long
  import does not look dead), and ``recover_orphaned_tasks``: a task ``RUNNING`` under a worker unseen for
  ``JOBS_STALE_AFTER_SECONDS`` is made ready again (tasks are written to be run again safely); this, and pruning
  finished tasks, only every ``recovery_seconds()`` (an eighth of that);
- ``events.recovery.sweep_deliveries``: deliveries whose worker died are queued again once their claim lapses;
- ``events.retention.prune_finished``: finished deliveries and their events older than
  ``EVENT_STREAMS_RETENTION_SECONDS`` are deleted (every five minutes);
- ``events.delivery.forget_idle_prepared``: the decrypted secrets of a stream not sent to for ten minutes are
  forgotten;
- a ``run_import_jobs`` task whenever an import job is waiting without one.

Retries are the tasks' own business (a delivery schedules its next attempt, a mail task re-enqueues itself),
but for one: a task whose database connection was lost under it (a restart of the server) is made ready again,
after a pause that doubles with each claim, up to ``LOST_CONNECTION_CLAIMS`` claims (``TaskWorker.run_task``).
A claim (or release) whose answer never came may still have been done: once the database answers again, the
tasks left ``RUNNING`` under the worker that it does not hold are made ready again (``TaskWorker.release_strays``),
and those of a claim committed later still (its server process waited for a lock) by the worker's own recovery,
once they have been running ``JOBS_STALE_AFTER_SECONDS`` (``recover_orphaned_tasks``).
Several workers, on one host or many, share the queue safely: each claim is decided by the database.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.core.signals import setting_changed
from django.db import DatabaseError, DataError, Error, close_old_connections, connection, connections, router
from django.db.models import Q
from django.db.utils import OperationalError
from django.dispatch import receiver
from django.utils import timezone
from django_tasks_db.compat import TaskContext, TaskResultStatus, task_finished, task_started
from django_tasks_db.management.commands.db_worker import Worker as DatabaseWorker
from django_tasks_db.models import DBTaskResult, get_date_max
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from connections.deletion import finish_connection_deletion
from core.db import columns, models_from_rows
from core.mail import kept_mailer_connection
from core.tasks import result_for
from events.delivery import forget_idle_prepared
from events.recovery import sweep_deliveries
from events.retention import prune_finished_now_and_then
from jobs.models import Job, JobStatus, WorkerHeartbeat
from jobs.tasks import run_import_jobs
from jobs.worker import stop_current_import

logger = logging.getLogger(__name__)

# Heartbeats of workers gone this long are deleted.
_FORGET_WORKERS_AFTER = timedelta(days=1)


def beat(worker_id: str, *, started: Any) -> None:
    """Record that ``worker_id`` is alive now."""
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(
        worker_id=worker_id, defaults={"seen_at": now}, create_defaults={"started_at": started, "seen_at": now}
    )


def recover_orphaned_tasks(*, worker_id: str | None = None, held: Collection[Any] = ()) -> int:
    """Make ready again the tasks left ``RUNNING`` by workers not seen for ``JOBS_STALE_AFTER_SECONDS``; returns how
    many. A task whose worker never beat (another kind of worker) is judged by its start time alone.

    ``worker_id``: the live worker calling, between two of its tasks, which holds none of its ``RUNNING`` tasks but
    those whose ids are in ``held`` (``TaskWorker.held_ids``). Its other tasks started as long ago are made ready
    again too, as ``TaskWorker.release`` does: a claim whose answer was lost can commit after the worker looked for
    what it took (``TaskWorker.release_strays``), its server process still waiting for a lock (a migration's index
    build, say) when a proxy or the network cut the connection; such tasks stayed ``RUNNING`` under the worker, which
    beats on, until its process ended. No statement more: the rows are among those read here anyway."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS)
    alive = set(WorkerHeartbeat.objects.filter(seen_at__gte=stale).values_list("worker_id", flat=True))
    recovered = 0
    for result in DBTaskResult.objects.running().filter(started_at__lt=stale).only("id", "worker_ids", "started_at"):
        owner = result.worker_ids[-1] if result.worker_ids else None
        if owner is not None and owner == worker_id and result.pk not in held:
            recovered += DBTaskResult.objects.filter(
                pk=result.pk, status=result.status, started_at=result.started_at
            ).update(status="READY", started_at=None, worker_ids=list(result.worker_ids[:-1]))
            logger.warning(
                "worker %s: task %s left running under it by a claim committed after its answer was lost: ready again",
                owner,
                result.pk,
            )
            continue
        if owner in alive:
            continue
        recovered += DBTaskResult.objects.filter(
            pk=result.pk, status=result.status, started_at=result.started_at
        ).update(status="READY", started_at=None, run_after=now)
        logger.warning("task %s left running by worker %s (gone): ready again", result.pk, owner)
    WorkerHeartbeat.objects.filter(seen_at__lt=now - _FORGET_WORKERS_AFTER).delete()
    return recovered


def prune_finished_tasks() -> int:
    """Delete tasks finished more than ``TASKS_RETENTION_SECONDS`` ago (django-tasks-db keeps every result)."""
    before = timezone.now() - timedelta(seconds=settings.TASKS_RETENTION_SECONDS)
    deleted, _rows = DBTaskResult.objects.finished().filter(finished_at__lt=before).delete()
    return deleted


def _import_task_waiting() -> bool:
    return (
        DBTaskResult.objects.filter(task_path=run_import_jobs.module_path)
        .filter(status__in=["READY", "RUNNING"])
        .exists()
    )


def _jobs_waiting() -> bool:
    stale = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS)
    waiting = Q(status=JobStatus.PENDING) | Q(status=JobStatus.PROCESSING, heartbeat_at__lt=stale)
    return Job.objects.filter(waiting).exists()


def housekeeping(*, recover: bool = True, worker_id: str | None = None, held: Collection[Any] = ()) -> None:
    """What the worker does between tasks every ``JOBS_POLL_INTERVAL_SECONDS`` (see the module's docstring);
    ``recover``: also recover the tasks of dead workers and prune finished tasks, which the worker does every
    ``recovery_seconds()`` only (``worker_id`` and ``held``: the calling worker's, as ``recover_orphaned_tasks``
    takes them)."""
    if recover:
        recover_orphaned_tasks(worker_id=worker_id, held=held)
        prune_finished_tasks()
    sweep_deliveries()
    prune_finished_now_and_then()
    forget_idle_prepared()
    if _jobs_waiting() and not _import_task_waiting():
        run_import_jobs.enqueue()


# How often at most the worker checks its database connections (``TaskWorker.run``), in seconds.
CONNECTION_CHECK_SECONDS = 1.0

# A worker whose first heartbeat fails (the database unreachable, its connection lost) tries again after a pause
# that doubles from this, up to ``_FIRST_BEAT_MAX_DELAY`` (``TaskWorker.first_beat``), in seconds.
FIRST_BEAT_RETRY_SECONDS = 1.0
_FIRST_BEAT_MAX_DELAY = 30.0
# A batch worker (``--once``: cron, tests) tries its first heartbeat this many times, then the error ends it (exit 1).
FIRST_BEAT_BATCH_TRIES = 3

# A task whose database connection was lost under it is run again (``TaskWorker.run_task``) until it has been
# claimed this many times, after 1, 2, 4, ... seconds (at most ``_LOST_CONNECTION_MAX_DELAY``); then it fails.
LOST_CONNECTION_CLAIMS = 5
_LOST_CONNECTION_MAX_DELAY = 60.0

# Ready tasks claimed at once (``TaskWorker.claim_ready``), and the tasks that run alone because they may take long.
CLAIM_BATCH = 10
LONG_TASKS = frozenset({run_import_jobs.module_path, finish_connection_deletion.module_path})

# The tasks ``started_result`` built, by what the row says of them, and how many are kept.
_TASKS: dict[tuple[str, int, str, str], Any] = {}
_TASKS_MAX = 256


@receiver(setting_changed)
def _forget_tasks(*, setting: str, **kwargs: Any) -> None:
    """Build the tasks again, validated, after ``TASKS`` changed (a test's override): a kept one may no longer be
    valid for its backend (its queue gone, say), which the row's ``task`` would raise."""
    if setting == "TASKS":
        _TASKS.clear()


def started_result(row: DBTaskResult) -> Any:
    """``row.task_result`` (django-tasks-db's result of a claimed row), with the task built once per kind of task in
    this process: the row's ``task`` imports it and copies it (``Task.using``, which validates it again through
    ``inspect``), about a tenth of the worker's CPU for a short task (issue 16). Only tasks without ``run_after``
    are kept (a deferred task's copy carries its own time); the first of each kind goes through the row's ``task``,
    so a path that is not a task still raises ``SuspiciousOperation`` there."""
    if row.run_after != get_date_max():
        return row.task_result
    key = (row.task_path, row.priority, row.queue_name, row.backend_name)
    task = _TASKS.get(key)
    if task is None:
        if len(_TASKS) >= _TASKS_MAX:
            _TASKS.clear()
        task = _TASKS[key] = row.task
    return result_for(row, task)


def recovery_seconds() -> float:
    """How often the worker recovers dead workers' tasks and prunes finished ones: an eighth of
    ``JOBS_STALE_AFTER_SECONDS`` (15 s by default), never more often than ``JOBS_POLL_INTERVAL_SECONDS``. A task is
    recovered once its worker has been silent that long, so looking every poll (2 s) gained nothing but CPU: an
    idle worker spent most of its time on it (issue 16). A worker starting recovers at once."""
    return max(float(settings.JOBS_POLL_INTERVAL_SECONDS), float(settings.JOBS_STALE_AFTER_SECONDS) / 8)


# The SQLSTATEs of a connection the server ended: connection exceptions (class 08), and its shutdowns (57P01: the
# backend terminated, 57P02: the server crashed, 57P03: it is starting or stopping). A statement timeout (57014) is
# the task's own.
_LOST_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")


def _lost_connection_state(exc: BaseException) -> bool:
    """Whether ``exc`` or one of its causes (Django's error wraps the driver's, which may have come while handling
    the server's goodbye: psycopg's "cannot exit pipeline mode while busy") bears a ``_LOST_CONNECTION_STATES``."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and state.startswith(_LOST_CONNECTION_STATES):
            return True
        error = error.__cause__ or error.__context__
    return False


def _storable(text: str) -> str:
    """``text`` as every database's text column takes it: lone surrogates (a message decoded with
    ``surrogateescape``: not UTF-8) and NUL bytes (PostgreSQL's text cannot hold them) escaped."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class _HeartbeatThread(threading.Thread):
    def __init__(self, worker_id: str, interval: float) -> None:
        super().__init__(name=f"heartbeat-{worker_id}", daemon=True)
        self.worker_id, self.interval = worker_id, interval
        self.started = timezone.now()
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.wait(self.interval):
                try:
                    beat(self.worker_id, started=self.started)
                except DatabaseError:  # the database hiccuped: the next beat tries again
                    logger.warning("worker %s: heartbeat failed", self.worker_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's own connection


class TaskWorker(DatabaseWorker):
    """django-tasks-db's worker with the recovery above; ``batch`` (``--once``) runs what is ready, then stops."""

    def __init__(self, *, worker_id: str, interval: float, batch: bool, linger: float | None = None) -> None:
        super().__init__(
            queue_names=["*"],
            interval=interval,
            batch=batch,
            backend_name="default",
            startup_delay=False,
            max_tasks=None,
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        self.wake = threading.Event()
        self._claimed: list[DBTaskResult] = []  # claimed together, not started yet (``claim_ready``)
        self.linger = float(settings.TASKS_LINGER_SECONDS) if linger is None else linger
        self._drained = False  # the last claim took every ready task (fewer than ``CLAIM_BATCH``, none released)
        self._left_ready = False  # the last claim released tasks after a long one (``claim_ready``)
        # Tasks whose connection was lost, to be made ready again at the time given (``_run_again_later``), or
        # (``None``) whose failure is to be saved (``run_task``): ``_settle_lost``.
        self._lost: list[tuple[DBTaskResult, datetime | None]] = []
        # A claim or a release failed: it may have been done all the same (``release_strays``).
        self._strays_unknown = False

    def shutdown(self, signum: int, frame: FrameType | None) -> None:
        """First signal: stop taking tasks, ask a running import to hand its job back between batches, and let
        the running task end. A second signal ends the process at once (django-tasks-db's rule)."""
        if not self.running:
            super().shutdown(signum, frame)
            return
        logger.info("worker %s: stopping after the current task", self.worker_id)  # a normal stop, not a warning
        self.running = False
        stop_current_import()
        self.wake.set()

    def claim_next(self) -> DBTaskResult | None:
        """The next claimed task to run, or ``None``: from the tasks this worker claimed together last time
        (``claim_ready``), else from a new claim of up to ``CLAIM_BATCH`` ready ones. ``DatabaseError`` when the
        claim fails; what it may have taken all the same is released before the next claim (``release_strays``)."""
        if not self._claimed:
            self._left_ready = False
            try:
                self._claimed = self.claim_ready(CLAIM_BATCH)
            except DatabaseError:
                # The claim may have been done though its answer never came (the connection lost after the
                # commit): its tasks are then RUNNING under this worker, which recover_orphaned_tasks leaves
                # alone while it beats. The driver cannot tell that loss from one before the statement reached the
                # server, nor can the worker tell other errors apart for sure: any failed claim counts.
                self._strays_unknown = True
                raise
            self._drained = len(self._claimed) < CLAIM_BATCH and not self._left_ready
        return self._claimed.pop(0) if self._claimed else None

    def lingers(self) -> bool:
        """Whether the worker waits ``linger`` seconds before its next look: it just ran the last of the tasks its
        claim took, and that claim took every ready task (so no backlog waits), and it runs until stopped.

        Under load each look would otherwise find one create's tasks (its mail, its stream's delivery), and pay a
        claim, a fan-out, a delivery claim and their commits for each create; after a short wait it finds several,
        whose deliveries share one task per stream (``events.tasks.enqueue_delivery``) and whose statements share
        one claim: on PostgreSQL the worker's CPU per create fell by about two fifths and the database's by a third
        (issue 16). A worker idle for ``linger`` seconds looks every ``interval`` again, so the first event after a
        quiet spell still leaves within one poll; under load an event waits up to ``linger`` more (Kafka's
        ``linger.ms``, Nagle's algorithm). A stop ends the wait at once."""
        return self.linger > 0 and not self.batch and self._drained and not self._claimed

    def claim_ready(self, limit: int) -> list[DBTaskResult]:
        """Claim up to ``limit`` ready tasks in django-tasks-db's order (priority, then run_after, then enqueued_at)
        with one ``UPDATE … RETURNING`` that sets them ``RUNNING`` under this worker's id; returns them in that
        order.

        Racing workers cannot take the same row: on PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED`` (as
        django-tasks-db's ``get_locked``), on SQLite the statement holds the write lock. django-tasks-db's own claim
        (a look, an exclusive transaction, a locked read, a save) built four ORM queries per task, and a raw
        queryset's row cost more than the statement (issue 16): the rows are built as the ORM would
        (``core.db.models_from_rows``). On SQLite a look without a lock comes first: an idle worker polling often
        must not take the write lock each time. Other databases keep django-tasks-db's claim, one task at a time.

        Claiming together: an idle worker's look finds the tasks of the creates made since the last one (a mail and
        an event delivery each), and one claim of all of them costs the database about what one claim did (a claim
        was the costliest statement of a create on PostgreSQL). A task known to be long (``LONG_TASKS``: an import,
        a turn of a connection's deletion) runs alone: it and the tasks after it are released again at once
        (``release``), so nothing waits behind it (a release that fails may have been done all the same:
        ``release_strays`` settles it). A claimed task not yet started when the worker stops is released too; one a
        killed worker held is made ready again by ``recover_orphaned_tasks``, as a running one is. A task enqueued
        meanwhile, whatever its priority, waits for the claimed ones (``CLAIM_BATCH`` short tasks at most)."""
        connection = connections[router.db_for_write(DBTaskResult)]
        if connection.vendor not in ("sqlite", "postgresql"):
            task = self._claim_next_portably()
            return [task] if task is not None else []
        table = connection.ops.quote_name(DBTaskResult._meta.db_table)
        at = connection.ops.adapt_datetimefield_value
        ready = "status = %s AND backend_name = %s AND (run_after = %s OR run_after <= %s)"
        ready_params = [TaskResultStatus.READY, self.backend_name, at(get_date_max()), at(timezone.now())]
        if connection.vendor == "sqlite":
            append, picked = "json_insert(worker_ids, '$[#]', %s)", ("id IN (", ")")
        else:
            # ``= ANY(ARRAY(...))`` makes the pick an InitPlan, run once (``IN`` may rescan it per row).
            append, picked = (
                "worker_ids || jsonb_build_array(%s::text)",
                ("id = ANY(ARRAY(", " FOR UPDATE SKIP LOCKED))"),
            )
        sql = (
            f"UPDATE {table} SET status = %s, started_at = %s, worker_ids = {append}"  # noqa: S608 (our names)
            f" WHERE {picked[0]}SELECT id FROM {table} WHERE {ready}"
            f" ORDER BY priority DESC, run_after ASC, enqueued_at ASC LIMIT %s{picked[1]} AND status = %s"
            f" RETURNING {columns(DBTaskResult)}"
        )
        params = [
            TaskResultStatus.RUNNING,
            at(timezone.now()),
            self.worker_id,
            *ready_params,
            limit,
            TaskResultStatus.READY,
        ]
        try:
            with connection.cursor() as cursor:
                if connection.vendor == "sqlite":
                    cursor.execute(f"SELECT 1 FROM {table} WHERE {ready} LIMIT 1", ready_params)  # noqa: S608
                    if cursor.fetchone() is None:
                        return []
                cursor.execute(sql, params)
                claimed = models_from_rows(DBTaskResult, cursor.fetchall(), connection)
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return []
            raise
        claimed.sort(key=lambda row: (-row.priority, row.run_after, row.enqueued_at))
        for index, row in enumerate(claimed):
            if row.task_path in LONG_TASKS:
                keep = max(index, 1)  # a long task first runs alone; one later waits for a claim of its own
                try:
                    self.release(claimed[keep:])
                except DatabaseError:
                    # The connection was lost since the claim, maybe after the release was done: running them here
                    # as well ran them twice then (ready, another worker took them too). They are released on a new
                    # connection, else once the database answers (before the next claim: ``run``); until then they
                    # are this worker's, RUNNING, which recover_orphaned_tasks leaves alone while it beats.
                    logger.warning("worker %s: releasing claimed tasks failed", self.worker_id, exc_info=True)
                    self._strays_unknown = True
                    if not connection.in_atomic_block:
                        connection.close()
                    try:
                        self.release_strays(holding=claimed[:keep])
                    except DatabaseError:
                        logger.warning(
                            "worker %s: the database is still away: claimed tasks released later", self.worker_id
                        )
                self._left_ready = keep < len(claimed)  # ready again: no linger before the next claim
                return claimed[:keep]
        return claimed

    def release(self, rows: list[DBTaskResult]) -> None:
        """Make claimed tasks that did not start ready again, as they were before the claim (no start time, this
        worker's id taken off their ``worker_ids``); a task no longer ``RUNNING`` under this claim is left alone."""
        if not rows:
            return
        connection = connections[router.db_for_write(DBTaskResult)]
        table = connection.ops.quote_name(DBTaskResult._meta.db_table)
        field = DBTaskResult._meta.get_field("worker_ids")
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET status = %s, started_at = NULL, worker_ids = %s"  # noqa: S608 (our names)
                " WHERE id = %s AND status = %s AND started_at = %s",
                [
                    (
                        TaskResultStatus.READY,
                        field.get_db_prep_save(list(row.worker_ids[:-1]), connection),
                        DBTaskResult._meta.pk.get_db_prep_value(row.pk, connection),
                        TaskResultStatus.RUNNING,
                        connection.ops.adapt_datetimefield_value(row.started_at),
                    )
                    for row in rows
                ],
            )
        for row in rows:
            logger.debug("task %s released unstarted by worker %s", row.pk, self.worker_id)

    def release_strays(self, *, holding: list[DBTaskResult] | None = None) -> int:
        """After a claim or a release failed (``claim_next``, ``claim_ready``): make ready again, as ``release``
        does, every task ``RUNNING`` under this worker (the last of its ``worker_ids``) that it does not hold: not
        among its claimed tasks, the tasks whose loss it has still to write (``_settle_lost``) or ``holding`` (the
        one it is about to run). Returns how many; ``DatabaseError`` when the database is still away (then it is
        tried again before the next claim, ``run``).

        Such a task was claimed, or not released, by a statement whose answer was lost (the connection cut after
        the commit): the worker does not have it, and ``recover_orphaned_tasks`` leaves a live worker's tasks
        alone, so it stayed ``RUNNING`` until the worker's process ended. The worker runs its tasks one at a time on
        the thread that calls this, so none of its own is running unseen; another worker's tasks (another id last)
        are left alone, and a task taken up again meanwhile (``recover_orphaned_tasks``, then a claim) is no longer
        ``RUNNING`` under this claim, which ``release`` leaves alone. One read of the running tasks, only after a
        failure. A claim committed after this look (its server process still waiting for a lock when the connection
        was cut) is left to the worker's recovery (``recover_orphaned_tasks``, which takes ``held_ids``)."""
        held = self.held_ids(holding or [])
        running = DBTaskResult.objects.running().only("id", "worker_ids", "started_at")
        strays = [
            row for row in running if row.worker_ids and row.worker_ids[-1] == self.worker_id and row.pk not in held
        ]
        self.release(strays)
        self._strays_unknown = False
        for row in strays:
            logger.warning(
                "worker %s: task %s left running under it by a statement whose answer was lost: ready again",
                self.worker_id,
                row.pk,
            )
        return len(strays)

    def held_ids(self, holding: list[DBTaskResult] | None = None) -> set[Any]:
        """The ids of the tasks ``RUNNING`` under this worker that it holds: claimed and not started yet, whose loss
        it has still to write (``_settle_lost``), and ``holding`` (the one about to run). Between two tasks, every
        other task ``RUNNING`` under its id is one it does not have (``release_strays``, ``recover_orphaned_tasks``)."""
        return {row.pk for row in [*self._claimed, *(row for row, _ in self._lost), *(holding or [])]}

    def _claim_next_portably(self) -> DBTaskResult | None:
        tasks = DBTaskResult.objects.ready().filter(backend_name=self.backend_name)
        if not tasks.exists():
            return None
        try:
            with exclusive_transaction(tasks.db):
                task_result: DBTaskResult | None = tasks.get_locked()
                if task_result is not None:
                    task_result.claim(self.worker_id)
                return task_result
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None
            raise

    def run_task(self, db_task_result: DBTaskResult) -> None:
        """Run a claimed task as django-tasks-db does (its signals, its result columns), but for a success, which is
        stored by one plain UPDATE instead of its model save (per task, the save cost more than most tasks), and
        whose finished result is derived from the started one (``_succeeded``)."""
        connection = connections[db_task_result._state.db or "default"]
        if connection.vendor not in ("sqlite", "postgresql"):
            super().run_task(db_task_result)
            return
        started_on = connection.connection  # lost while the task runs, psycopg marks it broken (``_connection_lost``)
        try:
            self.running_task = True
            task_result = started_result(db_task_result)
            task = task_result.task
            sender = type(task.get_backend())
            task_started.send(sender=sender, task_result=task_result)
            if task.takes_context:
                return_value = task.call(TaskContext(task_result=task_result), *task_result.args, **task_result.kwargs)
            else:
                return_value = task.call(*task_result.args, **task_result.kwargs)
            self._store_success(connection, db_task_result, return_value)
            task_finished.send(sender=sender, task_result=self._succeeded(task_result, db_task_result))
        except BaseException as exc:
            # A connection lost under the task (the server restarted, its backend was terminated) is replaced first,
            # else the failure's save would fail on it too and end the worker with the task left running. The task
            # did not fail: it is run again, as a dead worker's task is (tasks are written to be run again safely).
            if self._connection_lost(connection, started_on, exc) and self._run_again_later(connection, db_task_result):
                return
            # django-tasks-db's failure path: its save, retried; its signal when the task can still be named.
            try:
                db_task_result.set_failed(exc)
            except (DatabaseError, UnicodeError) as error:
                # Not saved: a traceback the database refuses (a NUL byte, which PostgreSQL's text cannot hold, or a
                # lone surrogate, which is not UTF-8), saved escaped; or the connection lost meanwhile, saved once
                # the database answers. Raised, the error ended the worker with the task left RUNNING (and, for a
                # refused traceback, every worker that took the task up again after).
                refused = isinstance(error, (DataError, UnicodeError))
                if not refused and not self._connection_lost(connection, connection.connection, error):
                    raise
                db_task_result.traceback = _storable(db_task_result.traceback)
                db_task_result.exception_class_path = _storable(db_task_result.exception_class_path)
                self._lost.append((db_task_result, None))
                self._settle_lost(connection)
            try:
                failed_sender = type(db_task_result.task.get_backend())
                failed_result = db_task_result.task_result
            except (ImportError, SuspiciousOperation):
                logger.exception("Task id=%s failed unexpectedly", db_task_result.id)
            else:
                task_finished.send(sender=failed_sender, task_result=failed_result)
        finally:
            self.running_task = False
            self._run_tasks += 1

    @staticmethod
    def _connection_lost(connection: Any, started_on: Any, exc: BaseException) -> bool:
        """Whether ``exc``, a task's failure, came with the loss of its database connection: a database error
        (Django's, or the driver's own from a statement run on its cursor: ``events.rows``), and the server's word
        for the loss is among its causes (``_LOST_CONNECTION_STATES``), or the connection the task started on
        (``started_on``) was interrupted (psycopg's ``broken``), or the one it has now is broken or unusable
        (Django's check: on PostgreSQL a ``SELECT 1``), which is then replaced. Outside a transaction only (in a
        test's, the connection is kept).

        A loss under a ``transaction.atomic`` block (a delivery's statements run in such blocks) is covered up by
        Django: the block's rollback either does nothing (psycopg saw the server's goodbye and counts the
        connection idle), which clears ``errors_occurred``, or fails, and Django drops the connection; then the
        block's end connects again, and the connection the worker sees is a new one that works. SQLite's
        connections are never broken (no server), and its errors carry no SQLSTATE."""
        if connection.in_atomic_block:
            return False
        database_error = isinstance(exc, (Error, connection.Database.Error))
        lost = bool(getattr(started_on, "broken", False)) or _lost_connection_state(exc)
        current = connection.connection
        if current is not None and (
            getattr(current, "broken", False)
            or ((connection.errors_occurred or database_error) and not connection.is_usable())
        ):
            connection.close()
            lost = True
        return lost and database_error

    def _run_again_later(self, connection: Any, row: DBTaskResult) -> bool:
        """Make ``row``, whose connection was lost while it ran, ready again after a pause that doubles with each
        claim (1, 2, 4, ... seconds, at most ``_LOST_CONNECTION_MAX_DELAY``), unless it has been claimed
        ``LOST_CONNECTION_CLAIMS`` times (``worker_ids`` counts the claims): then it fails as other tasks do. A
        mail whose success was not stored may be sent twice, as after a worker's death: at least once, not once.
        Returns whether it runs again; when the database is still away it is made ready by a later try
        (``_settle_lost``)."""
        claims = len(row.worker_ids)
        if claims >= LOST_CONNECTION_CLAIMS:
            return False
        run_after = timezone.now() + timedelta(seconds=min(2.0 ** (claims - 1), _LOST_CONNECTION_MAX_DELAY))
        self._lost.append((row, run_after))
        self._settle_lost(connection)
        return True

    def _settle_lost(self, connection: Any) -> None:
        """Write, in turn, what a lost connection kept from being written: a task ``_run_again_later`` kept, made
        ready again (unless no longer ``RUNNING`` under its claim: its success was stored before the loss was
        seen), or (``None`` for its time) a failure ``set_failed`` could not save. When the database is still away
        (the statement fails too), the rest are kept for the next try, before the worker's next claim (``run``):
        the error, raised, ended the worker with the task left ``RUNNING``, which ``recover_orphaned_tasks`` leaves
        alone under a live worker."""
        table = connection.ops.quote_name(DBTaskResult._meta.db_table)
        while self._lost:
            row, run_after = self._lost[0]
            made_ready = False
            try:
                if run_after is None:
                    row.save(
                        update_fields=["status", "return_value", "finished_at", "exception_class_path", "traceback"]
                    )
                else:
                    with connection.cursor() as cursor:
                        cursor.execute(
                            f"UPDATE {table} SET status = %s, started_at = NULL, run_after = %s"  # noqa: S608
                            " WHERE id = %s AND status = %s AND started_at = %s",
                            [
                                TaskResultStatus.READY,
                                connection.ops.adapt_datetimefield_value(run_after),
                                DBTaskResult._meta.pk.get_db_prep_value(row.pk, connection),
                                TaskResultStatus.RUNNING,
                                connection.ops.adapt_datetimefield_value(row.started_at),
                            ],
                        )
                        made_ready = cursor.rowcount == 1
            except DatabaseError:
                logger.warning(
                    "worker %s: task %s lost its database connection, which is still away: settled later",
                    self.worker_id, row.pk,
                )  # fmt: skip
                return
            self._lost.pop(0)
            if made_ready and run_after is not None:
                logger.warning(
                    "worker %s: task %s lost its database connection (claim %s of %s): ready again at %s",
                    self.worker_id, row.pk, len(row.worker_ids), LOST_CONNECTION_CLAIMS, run_after.isoformat(),
                )  # fmt: skip

    @staticmethod
    def _succeeded(started: Any, db_task_result: DBTaskResult) -> Any:
        """The finished task's result, as ``db_task_result.task_result`` builds it after a success, from the one
        built at the start: the same but for the status, the end time and the return value (building it anew
        imports and copies the task again)."""
        finished = dataclasses.replace(
            started, status=TaskResultStatus.SUCCESSFUL, finished_at=db_task_result.finished_at, errors=[]
        )
        object.__setattr__(finished, "_return_value", db_task_result.return_value)  # as django-tasks-db sets it
        return finished

    @staticmethod
    def _store_success(connection: Any, db_task_result: DBTaskResult, return_value: Any) -> None:
        """``DBTaskResult.set_successful`` in one statement (the return value is encoded by the model's field, so a
        value JSON cannot hold fails here, before anything is written, as the save would)."""
        field = DBTaskResult._meta.get_field("return_value")
        db_task_result.status = TaskResultStatus.SUCCESSFUL
        db_task_result.finished_at = timezone.now()
        db_task_result.return_value = return_value
        db_task_result.exception_class_path = db_task_result.traceback = ""
        encoded = field.get_db_prep_save(return_value, connection)
        table = connection.ops.quote_name(DBTaskResult._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET status = %s, return_value = %s, finished_at = %s, exception_class_path = '',"  # noqa: S608
                " traceback = '' WHERE id = %s",
                [
                    TaskResultStatus.SUCCESSFUL,
                    encoded,
                    connection.ops.adapt_datetimefield_value(db_task_result.finished_at),
                    DBTaskResult._meta.pk.get_db_prep_value(db_task_result.pk, connection),
                ],
            )

    def first_beat(self, started: datetime) -> bool:
        """Record this worker's first heartbeat (``beat``), trying again after a pause (``FIRST_BEAT_RETRY_SECONDS``,
        doubling up to ``_FIRST_BEAT_MAX_DELAY``) while the database fails it; returns ``False`` when told to stop
        first (``shutdown`` ends the pause at once). A lost connection is replaced before the next try. A batch
        worker (``--once``) tries ``FIRST_BEAT_BATCH_TRIES`` times, then raises the error.

        Its error, raised, ended the worker (``run_jobs`` exited 1) when the database restarted or cut the
        connection just as the worker started, where a later heartbeat's is logged and tried again
        (``_HeartbeatThread``). A batch worker still ends: ``--once`` run by cron while the database was away
        waited for it for ever, each run adding a process, where it used to exit 1."""
        pause = FIRST_BEAT_RETRY_SECONDS
        tries = 0
        while self.running:
            tries += 1
            try:
                beat(self.worker_id, started=started)
            except DatabaseError:
                if self.batch and tries >= FIRST_BEAT_BATCH_TRIES:
                    raise
                logger.warning(
                    "worker %s: first heartbeat failed: trying again in %s s", self.worker_id, pause, exc_info=True
                )
                if not connection.in_atomic_block:
                    close_old_connections()  # a lost one is replaced (one seen lost in a transaction is already)
                self.wake.wait(pause)
                pause = min(pause * 2, _FIRST_BEAT_MAX_DELAY)
            else:
                return True
        return False

    def run(self) -> None:
        heartbeat = _HeartbeatThread(self.worker_id, float(settings.JOBS_HEARTBEAT_SECONDS))
        if not self.first_beat(heartbeat.started):
            logger.info("worker %s: stopped before the database answered", self.worker_id)
            return
        heartbeat.start()
        period = float(settings.JOBS_POLL_INTERVAL_SECONDS)
        next_housekeeping = next_recovery = 0.0
        # The mail tasks run one after another share one connection to the mailer while there is work, closed
        # whenever the worker finds none (``core.mail.kept_mailer_connection``).
        mailer = contextlib.ExitStack()
        close_mailer = mailer.enter_context(kept_mailer_connection())
        try:
            next_connection_check = 0.0
            while self.running:
                # Django's end-of-request check of the connections (its age, its errors, and with
                # CONN_HEALTH_CHECKS a "SELECT 1" on PostgreSQL before the next statement), before a claim and
                # at most every CONNECTION_CHECK_SECONDS: done before every task and every idle look, it was one
                # statement in three of an idle worker's and one more per mail. A connection broken meanwhile
                # fails the claim (the worker pauses) and is replaced before the next one; one that saw an error
                # (a task's, say) is checked before the next task. In a test's transaction (run_tasks) the
                # connection is kept.
                if not connection.in_atomic_block and (
                    connection.errors_occurred or (not self._claimed and time.monotonic() >= next_connection_check)
                ):
                    close_old_connections()
                    next_connection_check = time.monotonic() + CONNECTION_CHECK_SECONDS
                if time.monotonic() >= next_housekeeping:
                    recover = time.monotonic() >= next_recovery
                    try:
                        housekeeping(recover=recover, worker_id=self.worker_id, held=self.held_ids())
                    except DatabaseError:
                        logger.warning("worker %s: housekeeping failed", self.worker_id, exc_info=True)
                    next_housekeeping = time.monotonic() + period
                    if recover:
                        next_recovery = time.monotonic() + recovery_seconds()
                try:
                    if self._lost:  # settled before anything else once the database is back
                        self._settle_lost(connections[router.db_for_write(DBTaskResult)])
                    if self._strays_unknown and not self._lost:
                        self.release_strays()
                    task_result = self.claim_next()
                except DatabaseError:  # the database is away: keep the worker, try again after a pause
                    logger.warning("worker %s: the task queue is unreachable", self.worker_id, exc_info=True)
                    task_result = None
                if task_result is not None:
                    self.run_task(task_result)
                    if self.running and self.lingers():
                        self.wake.wait(self.linger)
                    continue
                close_mailer()
                if self.batch:
                    return
                self.wake.wait(self.interval)
        finally:
            mailer.close()
            if connection.errors_occurred and not connection.in_atomic_block:
                close_old_connections()  # one lost just before the stop is replaced for what follows
            if self._lost:  # else ready again once this worker is seen gone (recover_orphaned_tasks)
                self._settle_lost(connections[router.db_for_write(DBTaskResult)])
            unstarted, self._claimed = self._claimed, []

            def release_unstarted() -> None:
                self.release(unstarted)  # stopped by a signal between two claimed tasks
                if self._strays_unknown and not self._lost:
                    self.release_strays()

            self._at_stop("releasing unstarted tasks", release_unstarted)
            heartbeat.done.set()
            heartbeat.join()
            self._at_stop("deleting its heartbeat", WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete)

    def _at_stop(self, what: str, write: Callable[[], object]) -> None:
        """Do ``write``, one of the stopping worker's last writes, once more on a new connection when it fails (the
        connection lost just now); when the database is still away, log it and go on: ``recover_orphaned_tasks``
        makes the tasks ready once this worker's heartbeat is stale, as a killed worker's. Raised, the error ended a
        worker stopped by SIGTERM with exit 1 and a traceback, after its last task had run."""
        for last in (False, True):
            try:
                write()
                return
            except DatabaseError:
                if last or connection.in_atomic_block:
                    logger.warning("worker %s: %s failed", self.worker_id, what, exc_info=True)
                    return
                connection.close()  # lost: the next statement connects again
