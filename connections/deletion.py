"""The deletion of a connection with many users, in the background: Auth0's 202, "The connection is being deleted."

``connections.services.delete_connection`` deletes a connection with at most ``CONNECTION_DELETE_SYNC_MAX_USERS``
users in the request, as one transaction (204). A larger one took longer than a request may (20,000 users in about
3 s; a few hundred thousand passed gunicorn's 30 s timeout and rolled back: such a connection could not be deleted at
all). So the request marks it (``Connection.deletion_requested_at``: from then on it is gone for every reader and
writer, ``connections.models.LiveConnections``) and enqueues ``finish_connection_deletion`` in its transaction
(``enqueue_deletion``); the task deletes the users ``BATCH_USERS`` at a time, each batch in a transaction of its own
with the batch's ``user.deleted`` events (``connections.signals.connection_users_deleting``), then the row. A run
lasts a turn (``TURN_SECONDS``), then queues the rest as a new task, so the worker's other tasks (mails, the
deletion's own event deliveries) wait for a turn, not for the whole deletion (minutes for a million users); it runs
alone, as an import does (``jobs.taskworker.LONG_TASKS``).

Until their batch deletes them, the users stay what they are in the users API (read, changed, deleted one by one),
as Auth0's do while its deletion runs; they cannot log in, be sent a ticket or a mail with a link (one queued before
is not sent), or use a link issued before (the lookups of ``users.tickets``, ``users.verification`` and the password
grant find no such connection). ``create_connection --if-missing`` shows such a connection with a warning and
``load_tenant`` skips it, rather than fail on its name: ``scripts/serve.sh`` runs both before it starts the worker.

The task can be run again at any point, and twice at once: a batch's users, their events and their deletion commit
together, so a worker killed mid-batch (its task made ready again by ``jobs.taskworker.recover_orphaned_tasks``)
leaves the batch as it was, and the next run deletes the users left, none twice. A failure is tried again later
(``core.tasks.retry_later``, ``MAX_ATTEMPTS`` tries in all); a task that gave up leaves the connection marked, and the
next ``DELETE`` of it enqueues a task again.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import transaction
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.compat import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from audit.models import EventType
from audit.services import record_event
from connections.models import Connection
from connections.signals import connection_users_deleting
from core.actors import SYSTEM
from core.tasks import retry_later, task

logger = logging.getLogger(__name__)

# Users deleted per transaction: one ``user.deleted`` outbox row each (``users.streams``), a bounded batch in memory
# and a short hold on the users' rows, whatever the connection's size.
BATCH_USERS = 1000
# A run deletes batches for about this long, then queues the rest of the work as a new task, behind the tasks
# waiting (mails, event deliveries: the worker runs one task at a time), as a stream's delivery task ends its turn.
TURN_SECONDS = 5.0
# A failing run is tried again after 5, 10, 20, ... seconds (with jitter), up to this many runs in all (about 40
# minutes): then the task fails, and the connection stays marked until it is deleted again.
MAX_ATTEMPTS = 10
RETRY_BASE_SECONDS = 5.0

# What ``delete_marked_connection`` did.
DELETED = "deleted"  # the connection's users and the connection are gone
GONE = "gone"  # nothing to do: another run deleted it, or it is not being deleted
UNFINISHED = "unfinished"  # its turn ended with users left


@task()
def finish_connection_deletion(connection_id: str, attempt: int = 1) -> str:
    """Delete the users of the connection being deleted, batch by batch, then the connection
    (``delete_marked_connection``), for a turn of ``TURN_SECONDS``; what is left is queued as a new task. Returns
    ``deleted``, ``gone`` (nothing left to do: another run finished it, or the connection is not being deleted),
    ``continuing`` (the turn ended; the next task is queued) or ``retrying`` (this run failed; another is queued)."""
    try:
        outcome = delete_marked_connection(connection_id=connection_id, turn_seconds=TURN_SECONDS)
    except Exception:  # any failure: the deletion must not be lost, only delayed
        if not retry_later(
            finish_connection_deletion,
            attempt,
            connection_id,
            max_attempts=MAX_ATTEMPTS,
            base_seconds=RETRY_BASE_SECONDS,
        ):
            logger.exception("connection deletion id=%s failed %d times: given up", connection_id, attempt)
            raise
        logger.warning("connection deletion id=%s failed (attempt %d): retrying", connection_id, attempt, exc_info=True)
        return "retrying"
    if outcome == UNFINISHED:
        finish_connection_deletion.enqueue(connection_id)  # behind the tasks waiting meanwhile
        return "continuing"
    return outcome


def delete_marked_connection(*, connection_id: str, turn_seconds: float | None = None) -> str:
    """Delete the users of the connection ``connection_id``, which must be marked as being deleted (any other is
    left alone), ``BATCH_USERS`` per transaction, then the connection itself. Returns ``DELETED``, ``GONE`` (not
    marked, or gone: another run deleted it), or ``UNFINISHED`` when ``turn_seconds`` passed with users left.

    Each batch locks its users (``FOR UPDATE``, in id order) before their events are written, as
    ``users.services.delete_user`` locks its user: a change to one of them holding the lock commits first, its
    ``user.updated`` written before the ``user.deleted``, which carries the profile as it was last. The last
    transaction locks the connection's row ``FOR UPDATE`` and deletes, with their events, the users still there (a
    create that read the connection before it was marked, committed since), then the row: a create still under way
    waits for that lock at its commit (its user's foreign key) and then fails, as for a connection deleted at once.
    """
    connection = Connection.all_objects.filter(pk=connection_id, deletion_requested_at__isnull=False).first()
    if connection is None:
        return GONE
    turn_ends = None if turn_seconds is None else time.monotonic() + turn_seconds
    deleted = 0
    while True:
        with transaction.atomic():
            batch = _delete_users(connection)
        if not batch:
            break
        deleted += batch
        if turn_ends is not None and time.monotonic() >= turn_ends:
            logger.info("connection deletion id=%s: %d users deleted this turn, more to go", connection_id, deleted)
            return UNFINISHED
    with transaction.atomic():
        locked = (
            Connection.all_objects.select_for_update()
            .filter(pk=connection_id, deletion_requested_at__isnull=False)
            .first()
        )
        if locked is None:  # another run finished meanwhile
            return GONE
        while batch := _delete_users(locked):
            deleted += batch
        # The request's entry said the deletion began; this one says when it ended (the users' count is this run's:
        # earlier turns' are in their batches' user.deleted events and in the first entry's users_deleted).
        record_event(
            type=EventType.SUCCESS_API_OPERATION,
            description="Delete a Connection (finished in the background)",
            actor=SYSTEM,
            connection_name=locked.name,
            connection_id=locked.pk,
            details={"in_background": True, "users_deleted_last_run": deleted},
        )
        locked.delete()
    logger.info("connection deleted id=%s users=%d (in the background)", connection_id, deleted)
    return DELETED


def _delete_users(connection: Connection) -> int:
    """Inside the caller's transaction: lock, announce (``connection_users_deleting``) and delete the connection's
    first ``BATCH_USERS`` users; returns how many (0: none is left)."""
    # The users' model is reached through the relation: this app does not import ``users``, which imports it.
    user_model: Any = Connection._meta.get_field("users").related_model
    users = list(
        user_model._default_manager.select_for_update(of=("self",))
        .select_related("connection")
        .filter(connection=connection)
        .order_by("pk")[:BATCH_USERS]
    )
    if not users:
        return 0
    connection_users_deleting.send(sender=Connection, connection=connection, users=users)
    user_model._default_manager.filter(pk__in=[user.pk for user in users]).delete()
    return len(users)


def enqueue_deletion(connection_id: str) -> bool:
    """Enqueue ``finish_connection_deletion`` for the connection, in the caller's transaction, unless one is queued
    or running already (a repeated ``DELETE``); returns whether one was enqueued. The caller holds the connection's
    row (``FOR UPDATE``), so two requests do not both enqueue one."""
    if _deletion_pending(connection_id):
        return False
    finish_connection_deletion.enqueue(connection_id)
    return True


def _deletion_pending(connection_id: str) -> bool:
    """Whether a ``finish_connection_deletion`` task of the connection is ready (its retry, too) or running."""
    if not isinstance(finish_connection_deletion.get_backend(), DatabaseBackend):  # a backend without rows
        return False
    return DBTaskResult.objects.filter(
        task_path=finish_connection_deletion.module_path,
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        args_kwargs__args__0=connection_id,
    ).exists()
