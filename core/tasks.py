"""Django's Tasks framework, from Django itself (6.0+) or its ``django-tasks`` backport (Django 5.2)."""

from __future__ import annotations

try:
    from django.tasks import Task, TaskContext, default_task_backend, task
except ImportError:  # pragma: no cover - Django 5.2 (Python 3.11)
    from django_tasks import Task, TaskContext, default_task_backend, task  # type: ignore[no-redef,import-not-found]

__all__ = ["Task", "TaskContext", "default_task_backend", "task"]
