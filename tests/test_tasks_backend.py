"""``core.tasks.DatabaseBackend``: django-tasks-db's backend whose enqueue writes the library's own row, more
cheaply, and still announces it (``task_enqueued``) once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import django_tasks_db
import pytest
from django.core.exceptions import SuspiciousOperation
from django.utils import timezone
from django_tasks_db.compat import task_enqueued
from django_tasks_db.models import DBTaskResult

from core.tasks import DatabaseBackend, task
from events.tasks import deliver_stream
from tests.helpers import orm_inserts_built
from users.verification import deliver_verification_email

pytestmark = pytest.mark.django_db


def _row(result: Any) -> dict[str, Any]:
    row = DBTaskResult.objects.filter(pk=result.id).values().get()
    return {name: value for name, value in row.items() if name not in {"id", "enqueued_at"}}


@pytest.mark.parametrize(
    "task",
    [
        deliver_verification_email,
        deliver_stream.using(run_after=timezone.now() + timedelta(minutes=5)),
        deliver_stream.using(priority=7, queue_name="default"),
    ],
    ids=["ready now", "run after", "priority"],
)
def test_the_row_is_the_one_the_library_writes(task):
    library = django_tasks_db.DatabaseBackend("default", {})
    backend = task.get_backend()
    assert isinstance(backend, DatabaseBackend)  # settings.TASKS

    ours = backend.enqueue(task, [42, "a@example.com"], {"language": "ja"})
    theirs: Any = library.enqueue(task, [42, "a@example.com"], {"language": "ja"})

    assert _row(ours) == _row(theirs)
    stored = DBTaskResult.objects.get(pk=ours.id)
    assert stored.enqueued_at == ours.enqueued_at
    assert (ours.status, ours.args, ours.kwargs, ours.backend) == (
        "READY",
        [42, "a@example.com"],
        {"language": "ja"},
        "default",
    )
    assert ours.task.run_after == task.run_after and ours.task.priority == task.priority
    # The result it returns (built from the task in hand) is the one the library builds from the stored row.
    library_result = stored.task_result
    for name in ("task", "id", "status", "enqueued_at", "started_at", "last_attempted_at", "finished_at", "args"):
        assert getattr(ours, name) == getattr(library_result, name), name
    assert (ours.kwargs, ours.backend, ours.errors, ours.worker_ids) == (
        library_result.kwargs,
        library_result.backend,
        library_result.errors,
        library_result.worker_ids,
    )
    assert str(ours.db_result.pk) == str(ours.id)


def test_enqueue_announces_the_result_it_returns_once(monkeypatch):
    announced: list[Any] = []

    def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
        announced.append(task_result)

    task_enqueued.connect(receiver)
    try:
        result = deliver_verification_email.enqueue(1, "a@example.com", "en")
    finally:
        task_enqueued.disconnect(receiver)

    assert announced == [result]


def test_enqueue_builds_no_insert_through_the_orm(monkeypatch):
    deliver_verification_email.enqueue(1, "warm@example.com", "en")
    built = orm_inserts_built(monkeypatch)
    deliver_verification_email.enqueue(2, "cold@example.com", "en")

    assert built == []


def test_an_id_made_by_the_database_is_written_as_the_library_writes_it():
    # django-tasks-db takes an id_function that is a database expression on Django 6 (the ORM compiles it).
    from django.db.models.functions import UUID4

    backend = DatabaseBackend("default", {"OPTIONS": {"id_function": UUID4}})

    result = backend.enqueue(deliver_verification_email, [42, "a@example.com"], {"language": "ja"})

    assert DBTaskResult.objects.get(pk=result.id).args_kwargs["args"] == [42, "a@example.com"]


def _plain_function(user_pk: int) -> str:
    return "ran"


def _rebound(user_pk: int) -> str:
    return "enqueued"


def _runs_instead(user_pk: int) -> str:
    return "ran instead"


# Tasks whose path does not name them: ``tests.test_tasks_backend._plain_function`` names the plain function (the
# task was never bound to it), ``tests.test_tasks_backend._rebound`` names another task (the name was rebound).
_TASK_OF_A_PLAIN_FUNCTION = task()(_plain_function)
_REBOUND_TASK = task()(_rebound)
_rebound = task()(_runs_instead)  # type: ignore[assignment]


def test_a_task_its_path_does_not_name_is_refused_as_the_library_refuses_it():
    """The library's ``enqueue`` built its result from the stored row's path: a path naming a plain function raised
    ``SuspiciousOperation`` (the worker would fail the row without running it). Building the result from the task
    in hand must not skip that check."""
    library = django_tasks_db.DatabaseBackend("default", {})
    with pytest.raises(SuspiciousOperation, match="does not point to a Task"):
        library.enqueue(_TASK_OF_A_PLAIN_FUNCTION, [1], {})
    with pytest.raises(SuspiciousOperation, match="does not point to a Task"):
        _TASK_OF_A_PLAIN_FUNCTION.enqueue(1)


def test_a_task_whose_path_names_another_task_gets_the_librarys_result_naming_that_task():
    """The row runs the task its path names: the result says so, as the library's does."""
    library: Any = django_tasks_db.DatabaseBackend("default", {}).enqueue(_REBOUND_TASK, [1], {})
    ours = _REBOUND_TASK.enqueue(1)
    assert library.task.func is _runs_instead
    assert ours.task == library.task
    assert DBTaskResult.objects.get(pk=ours.id).task_result.task == ours.task
