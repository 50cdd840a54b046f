"""Django's Tasks framework, from Django itself (6.0+) or its ``django-tasks`` backport (Django 5.2), and the retry
rule of the tasks that send mail (and of the deletion of a connection's users, with its own numbers).

The database backend (django-tasks-db) writes a task as a row in the caller's transaction: enqueueing inside the
transaction of a change makes the task commit or roll back with it (a transactional outbox). The framework has
no retries of its own, so a task that wants another try enqueues itself again (``retry_later``).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import django_tasks_db
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.compat import TaskResultStatus, normalize_json, task_enqueued

from core.db import insert

try:
    from django.tasks import Task, TaskContext, default_task_backend, task
except ImportError:  # pragma: no cover - Django 5.2 (Python 3.11)
    from django_tasks import Task, TaskContext, default_task_backend, task  # type: ignore[no-redef,import-not-found]

__all__ = ["DatabaseBackend", "Task", "TaskContext", "default_task_backend", "result_for", "retry_later", "task"]


class DatabaseBackend(django_tasks_db.DatabaseBackend):
    """django-tasks-db's backend (``TASKS``), whose ``enqueue`` writes the row the library writes with
    ``core.db.insert`` and builds the task's result once.

    The library's ``enqueue`` saved the row through the ORM, which built the INSERT again each time, and built the
    result twice (for the ``task_enqueued`` signal, then to return it), each time importing, copying and validating
    the task again: about 0.2 of the 0.4 ms that a create's verification mail cost. The result is built once, from
    the task in hand when the task's path names it (else the library's: a path naming no task raises
    ``SuspiciousOperation``, an unimportable one ``ImportError``, as the library's ``enqueue`` did). The library's
    one ``pre_save`` receiver (``set_run_after``: no ``run_after`` is stored as the far-future date meaning "ready
    now") is done here, so no receiver is sent; ``tests/test_tasks_backend.py`` compares the row with the library's
    own.
    """

    def enqueue(self, task: Any, args: Any, kwargs: Any) -> Any:
        from django_tasks_db.models import DBTaskResult, get_date_max

        self.validate_task(task)
        row: DBTaskResult[Any, Any] = DBTaskResult(
            id=self._get_id(),
            args_kwargs=normalize_json({"args": args, "kwargs": kwargs}),
            priority=task.priority,
            task_path=task.module_path,
            queue_name=task.queue_name,
            run_after=get_date_max() if task.run_after is None else task.run_after,
            backend_name=self.alias,
        )
        insert(row, receivers=False)
        named = import_string(task.module_path)  # ImportError as the library's result raises it
        if not isinstance(named, Task) or named.func is not task.func or named.takes_context != task.takes_context:
            # The path names no task, or another one (a task not bound to its function's name in its module): the
            # library's result, which raises SuspiciousOperation for the first (as its enqueue did) and names the
            # task the worker will run for the second.
            result = row.task_result
        else:
            # The row's ``task`` property imports the task again and copies it (``using``, which validates it
            # again): the task in hand is that copy already when it names this backend.
            result = result_for(row, task if task.backend == self.alias else task.using(backend=self.alias))
        task_enqueued.send(type(self), task_result=result)
        return result


def result_for(row: Any, task: Task[..., Any]) -> Any:
    """What django-tasks-db's ``DBTaskResult.task_result`` builds for ``row``, with ``task`` instead of the one that
    property builds from the row's path (an import, a copy and a validation each time): for a row just enqueued
    (``DatabaseBackend.enqueue``) or just claimed (``jobs.taskworker.started_result``). A failed row's result, whose
    errors the library builds, is the library's."""
    from django_tasks_db.backend import TaskResult
    from django_tasks_db.utils import normalize_uuid

    if row.status == TaskResultStatus.FAILED:
        return row.task_result
    result: Any = TaskResult(
        db_result=row,
        task=task,
        id=normalize_uuid(row.id),
        status=TaskResultStatus[row.status],
        enqueued_at=row.enqueued_at,
        started_at=row.started_at,
        last_attempted_at=row.started_at,
        finished_at=row.finished_at,
        args=row.args_kwargs["args"],
        kwargs=row.args_kwargs["kwargs"],
        backend=row.backend_name,
        errors=[],
        worker_ids=row.worker_ids,
    )
    object.__setattr__(result, "_return_value", row.return_value)  # as the library's property sets it
    return result


def retry_later(
    task: Task[..., Any],
    attempt: int,
    *args: Any,
    max_attempts: int | None = None,
    base_seconds: float | None = None,
) -> bool:
    """Enqueue ``task(*args, attempt=attempt + 1)`` after an exponential backoff with jitter (``base_seconds`` x
    2^(attempt-1), between half and all of it); ``False`` (nothing enqueued) once ``attempt`` reached
    ``max_attempts``. Both default to the mail tasks' settings, ``EMAIL_SEND_RETRY_BASE_SECONDS`` and
    ``EMAIL_SEND_MAX_ATTEMPTS``."""
    if max_attempts is None:
        max_attempts = int(settings.EMAIL_SEND_MAX_ATTEMPTS)
    if base_seconds is None:
        base_seconds = float(settings.EMAIL_SEND_RETRY_BASE_SECONDS)
    if attempt >= max_attempts:
        return False
    delay = base_seconds * 2 ** (attempt - 1)
    delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret
    task.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(*args, attempt=attempt + 1)
    return True
