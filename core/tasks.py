"""Django's Tasks framework, from Django itself (6.0+) or its ``django-tasks`` backport (Django 5.2), and the retry
rule of the tasks that send mail.

The database backend (django-tasks-db) writes a task as a row in the caller's transaction: enqueueing inside the
transaction of a change makes the task commit or roll back with it (a transactional outbox). The framework has
no retries of its own, so a task that wants another try enqueues itself again (``retry_later``).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

try:
    from django.tasks import Task, TaskContext, default_task_backend, task
except ImportError:  # pragma: no cover - Django 5.2 (Python 3.11)
    from django_tasks import Task, TaskContext, default_task_backend, task  # type: ignore[no-redef,import-not-found]

__all__ = ["Task", "TaskContext", "default_task_backend", "retry_later", "task"]


def retry_later(task: Task[..., Any], attempt: int, *args: Any) -> bool:
    """Enqueue ``task(*args, attempt=attempt + 1)`` after an exponential backoff with jitter
    (``EMAIL_SEND_RETRY_BASE_SECONDS`` x 2^(attempt-1), between half and all of it); ``False`` (nothing enqueued)
    once ``attempt`` reached ``EMAIL_SEND_MAX_ATTEMPTS``."""
    if attempt >= int(settings.EMAIL_SEND_MAX_ATTEMPTS):
        return False
    delay = float(settings.EMAIL_SEND_RETRY_BASE_SECONDS) * 2 ** (attempt - 1)
    delay = delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret
    task.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(*args, attempt=attempt + 1)
    return True
