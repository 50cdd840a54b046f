"""The events app's tasks (Django's Tasks framework; ``django-tasks`` on Django 5.2): sending a stream's due
deliveries. Enqueued in the caller's transaction (the database backend's row commits or rolls back with it)."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, router
from django.utils import timezone
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult, get_date_max

from core.crypto import SecretDecryptionError
from core.tasks import TaskContext, task
from events.delivery import (
    CLAIM_BATCH,
    Claim,
    Sender,
    claim_due,
    disable_for_unreadable_secret,
    get_stream,
    next_retry_at,
    record_attempts,
    send_batch,
    worker_name,
)
from events.fanout import fan_out
from events.models import EventStreamStatus

logger = logging.getLogger(__name__)

# How long a ready delivery task takes in the creates of its stream (``enqueue_delivery``).
COALESCE_SECONDS = 1.0
# A delivery task sends for about this long (and the request under way), then leaves the rest of its stream's due
# deliveries to a new task queued behind the others (``deliver_due``).
TURN_SECONDS = 5.0
COALESCE_WINDOW = timedelta(seconds=COALESCE_SECONDS)


# The tasks of a stream that were queued or claimed when one of its turns ended in this process (``deliver_due``),
# by id, with when that was and the task the turn queued at its end, which stands for them: they end at once here
# while it is still to run after them (``_successor_follows``). Kept ``_SUPERSEDED_SECONDS`` at most (a task taken
# later simply takes a turn of its own, as before).
_superseded: dict[str, tuple[float, str]] = {}
_SUPERSEDED_SECONDS = 600.0


@task(takes_context=True)
def deliver_stream(context: TaskContext, stream_id: str) -> int:
    """Send the stream's due deliveries (``events.delivery.deliver_due``); returns how many were attempted (0 for a
    task that a later one of its stream stands for: ``deliver_due``)."""
    noted = _superseded.pop(_task_id(context.task_result.id), None)
    if noted is not None and _successor_follows(noted[1], context.task_result.worker_ids):
        return 0
    return deliver_due(stream_id)


def _task_id(value: Any) -> str:
    return str(uuid.UUID(str(value)))


def _successor_follows(successor: str, worker_ids: list[str]) -> bool:
    """Whether the task ``successor`` starts after the task now running (claimed by the last of ``worker_ids``):
    it is ready still, or this worker claimed it with this one (it runs them in order). A superseded task that was
    still ready may have been joined since (``enqueue_delivery``: a create's deliveries, a retry's time) while its
    successor had started already, even ended (on PostgreSQL a create holding the task's row passes it by for the
    worker's claim, which takes the successor behind it): ended here, it left those deliveries to the sweep."""
    row = DBTaskResult.objects.filter(pk=successor).values_list("status", "worker_ids").first()
    if row is None:
        return False
    status, claimed_by = row
    if status == TaskResultStatus.READY:
        return True
    return status == TaskResultStatus.RUNNING and bool(worker_ids) and claimed_by[-1:] == worker_ids[-1:]


def _supersede_queued(stream_id: str, *, successor: Any) -> None:
    """Note the stream's tasks queued or claimed (not yet finished) now, but ``successor``, the task queued at the
    end of its turn: they are claimed before it, often together (the worker claims the ready tasks together, and a
    stream under load gets a task a second), and each took a whole turn of its own, so a slow stream held the worker
    a turn per task, everything else behind it (16 s for what one turn sends in 5, live)."""
    now = time.monotonic()
    for task_id, (expired, _successor) in list(_superseded.items()):
        if now - expired > _SUPERSEDED_SECONDS:
            del _superseded[task_id]
    queued = DBTaskResult.objects.filter(
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        task_path=deliver_stream.module_path,
        args_kwargs={"args": [stream_id], "kwargs": {}},
    ).values_list("id", flat=True)
    for pk in queued:
        if _task_id(pk) != _task_id(successor):
            _superseded[_task_id(pk)] = (now, _task_id(successor))


def enqueue_delivery(stream_id: str, *, run_after: datetime | None = None) -> None:
    """Ask a worker to send the stream's due deliveries now, or at ``run_after``, in the caller's transaction.

    Nothing is added when a ready (not yet started) ``deliver_stream`` task of the stream runs by then: each create
    used to add one, and the worker paid a claim and an empty look for all but the first (issue 16). That task
    cannot start before the caller commits, so it sees the caller's deliveries: on SQLite the caller's transaction
    holds the write lock a claim needs (``transaction_mode`` IMMEDIATE; outside a transaction the deliveries are
    committed already); on PostgreSQL its row is locked ``FOR SHARE`` until the commit, and django-tasks-db's claim
    (``SELECT … FOR UPDATE SKIP LOCKED``) passes it by; a row a claim holds right now is passed by here
    (``SKIP LOCKED``) and a task added. Only a task enqueued in the last ``COALESCE_SECONDS`` is joined: on
    PostgreSQL, creates overlapping without a pause would otherwise keep one task locked, never claimed; after that
    window the next create adds a fresh task, and the old one's lockers commit and let it go. Under load, a stream
    gets a task a second at most. ``events.recovery.sweep_deliveries`` stays the safety net."""
    if _ready_task_held(stream_id, timezone.now() if run_after is None else run_after):
        return
    if run_after is None:
        deliver_stream.enqueue(stream_id)
    else:
        deliver_stream.using(run_after=run_after).enqueue(stream_id)


def _ready_task_held(stream_id: str, when: datetime) -> bool:
    """Whether a ready ``deliver_stream(stream_id)`` task runs no later than ``when``; on PostgreSQL its row is then
    locked ``FOR SHARE`` until the end of the transaction. One short statement (raw SQL: it is on the create path,
    and the ORM has no ``FOR SHARE``).

    It seeks the library's index of ready tasks (status, priority, run_after, enqueued_at) for each of the two kinds
    of task it may join: one ready now (``run_after`` is the far-future date meaning "none") enqueued within the
    window, and one due by ``when`` enqueued within it. Filtering on status alone read every ready task, the
    create's mails waiting for the worker among them: about 0.4 ms a create with 3,000 waiting on SQLite, against
    0.04 now. SQLite's planner seeks the index only for each kind on its own, hence the ``UNION ALL`` there;
    PostgreSQL, whose ``FOR SHARE`` cannot follow a ``UNION``, combines both seeks itself (``BitmapOr``)."""
    backend = deliver_stream.get_backend()
    if not isinstance(backend, DatabaseBackend):  # a backend without rows: nothing to share
        return False
    table = DBTaskResult._meta.db_table
    using = router.db_for_write(DBTaskResult)
    connection = connections[using]
    quote, ops = connection.ops.quote_name, connection.ops
    postgresql = connection.vendor == "postgresql"
    same_args = "args_kwargs = %s::jsonb" if postgresql else "json(args_kwargs) = json(%s)"
    task = f"status = %s AND priority = %s AND task_path = %s AND backend_name = %s AND {same_args}"
    task_params: list[Any] = [
        TaskResultStatus.READY,
        deliver_stream.priority,
        deliver_stream.module_path,
        backend.alias,
        json.dumps({"args": [stream_id], "kwargs": {}}),
    ]
    no_run_after = ops.adapt_datetimefield_value(get_date_max())
    by = ops.adapt_datetimefield_value(when)
    since = ops.adapt_datetimefield_value(timezone.now() - COALESCE_WINDOW)
    if postgresql:
        sql = (
            f"SELECT 1 FROM {quote(table)} WHERE {task}"  # noqa: S608 (our names)
            " AND ((run_after = %s AND enqueued_at >= %s) OR (run_after <= %s AND enqueued_at >= %s))"
            " LIMIT 1 FOR SHARE SKIP LOCKED"
        )
        params = [*task_params, no_run_after, since, by, since]
    else:
        sql = (
            f"SELECT 1 FROM {quote(table)} WHERE {task} AND run_after = %s AND enqueued_at >= %s"  # noqa: S608 (our names)
            f" UNION ALL SELECT 1 FROM {quote(table)} WHERE {task} AND run_after <= %s AND enqueued_at >= %s LIMIT 1"
        )
        params = [*task_params, no_run_after, since, *task_params, by, since]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


def deliver_due(stream_id: str) -> int:
    """Send the stream's due deliveries until none is left to claim, batch by batch over one kept-alive connection
    (``events.delivery.Sender``, made again when the stream's endpoint or secrets change), each batch's attempts
    recorded together; then, if some wait for a retry, make sure the stream's task runs for the earliest. Returns
    the number of attempts made.

    After a batch shorter than ``CLAIM_BATCH`` (the claim took every delivery that could be claimed then), one look
    (``next_retry_at``) says what is left instead of another claim that would mostly find nothing: nothing pending,
    a retry later (the task is queued for it), or a delivery claimable now (a subject's next event, which waited on
    the one just delivered, or one the batch left unsent when its stream changed): then the loop claims again, so
    it is sent in this task, not by the sweep.

    A task's turn lasts ``TURN_SECONDS``: then (at the next request, or after the batch) it records what it sent and
    queues the stream's next task, behind the tasks already waiting; the stream's tasks queued before it end at once
    in this worker (``_supersede_queued``). A receiver answering slowly with a backlog (20
    creates answered in 3 s each, live) held the worker, which runs one task at a time, for as long as the backlog
    lasted: every other stream's deliveries, the mails and the imports waited behind it (a minute there; hours for
    thousands of events)."""
    fan_out()  # the outbox's committed events become deliveries first (events.fanout)
    made = 0
    stream = get_stream(stream_id)
    sender: Sender | None = None
    waiting: datetime | None = None  # when the next claimable pending delivery is due, once looked at
    turn_ends, turn_over = time.monotonic() + TURN_SECONDS, False
    try:
        while stream is not None and stream.status == EventStreamStatus.ENABLED:
            claim = Claim.starting(f"{worker_name()}:{uuid.uuid4().hex[:12]}")
            token = claim.token
            batch = claim_due(stream_id, token)
            if not batch:
                waiting = next_retry_at(stream_id)
                break
            if sender is None or not sender.matches(stream):
                if sender is not None:
                    sender.close()
                try:
                    sender = Sender(stream)
                except SecretDecryptionError:  # SECRET_KEY changed without its fallback: the stream waits, disabled
                    sender, stream = None, disable_for_unreadable_secret(stream_id, token, batch)
                    continue
            outcomes = send_batch(
                sender, batch, consecutive_failures=stream.consecutive_failures, claim=claim, stop_at=turn_ends
            )
            made += len(outcomes)
            stream = record_attempts(stream_id, token, batch, outcomes)
            for delivery, outcome in zip(batch, outcomes, strict=False):
                logger.info(
                    "event delivery stream=%s event=%s status=%s http=%s ms=%.1f",
                    stream_id,
                    delivery.event_id,
                    "delivered" if outcome.delivered else "failed",
                    outcome.http_status,
                    outcome.duration_ms,
                )
            if len(batch) < CLAIM_BATCH and stream is not None and stream.status == EventStreamStatus.ENABLED:
                waiting = next_retry_at(stream_id)
                if waiting is None or waiting > timezone.now():
                    break
            if time.monotonic() >= turn_ends:
                turn_over = True
                break
        if stream is None or stream.status != EventStreamStatus.ENABLED:
            return made
    finally:
        if sender is not None:
            sender.close()
    if turn_over:
        # A new task, behind every task waiting (never one queued before), which stands for those queued before it.
        successor = deliver_stream.enqueue(stream_id)
        _supersede_queued(stream_id, successor=successor.id)
    elif waiting is not None and waiting > timezone.now():
        enqueue_delivery(stream_id, run_after=waiting)
    return made
