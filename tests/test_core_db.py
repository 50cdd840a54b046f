"""``core.db``'s helpers for the create path: ``insert`` (the user, its audit event) writes exactly the row ``save``
writes, with a statement built once, and falls back to ``save`` for a model that needs more than a plain INSERT;
``fetch_instance`` (the connection) and ``models_from_rows`` (the worker's reads) build the instance the ORM would."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.db.models.functions import Now
from django.db.models.query import RawQuerySet
from django.db.models.signals import pre_save
from django_tasks_db.models import DBTaskResult

from audit.models import Event, EventType
from audit.services import record_event
from connections.models import Connection
from connections.selectors import get_connection
from core.actors import Actor
from core.db import insert
from tests.helpers import orm_inserts_built
from users.models import User
from users.profile import now_ms
from users.services import new_user_values

pytestmark = pytest.mark.django_db

ACTOR = Actor(kind="client", id="cli_1", ip="10.0.0.1", user_agent="tests/1.0")


def _user(connection, email: str) -> User:
    data: Any = {"email": email, "user_metadata": {"colour": "blue"}, "app_metadata": {"plan": ["a", 1]}}
    return User(connection=connection, **new_user_values(strategy="auth0", data=data, password_hash="h", now=now_ms()))


def _stored(model: Any, pk: int, *ignored: str) -> dict[str, Any]:
    row = model.objects.filter(pk=pk).values().get()
    return {name: value for name, value in row.items() if name not in {"id", *ignored}}


def test_insert_writes_the_row_save_writes_and_marks_the_instance_saved(connection):
    saved, inserted = _user(connection, "saved@example.com"), _user(connection, "inserted@example.com")
    inserted.created_at = inserted.updated_at = saved.created_at
    saved.save(force_insert=True)

    insert(inserted)

    assert inserted.pk is not None and inserted.pk != saved.pk
    assert (inserted._state.adding, inserted._state.db) == (False, "default")
    assert User.objects.get(pk=inserted.pk).email == "inserted@example.com"
    assert _stored(User, inserted.pk, "user_id", "email", "name", "nickname", "picture") == _stored(
        User, saved.pk, "user_id", "email", "name", "nickname", "picture"
    )


def test_an_audit_event_is_stored_as_objects_create_stores_it(connection):
    user = _user(connection, "ann@example.com")
    insert(user)

    recorded = record_event(
        type=EventType.SUCCESS_API_OPERATION, description="Create", actor=ACTOR, user=user, details={"k": ["v", 1]}
    )
    same = {
        f.attname: getattr(recorded, f.attname) for f in Event._meta.concrete_fields if f.name not in {"id", "log_id"}
    }
    created = Event.objects.create(**same)

    assert recorded.pk is not None and recorded.log_id and recorded.log_id != created.log_id
    assert Event.objects.get(pk=recorded.pk).date == recorded.date
    assert _stored(Event, recorded.pk, "log_id", "date") == _stored(Event, created.pk, "log_id", "date")
    assert _stored(Event, recorded.pk)["details"] == {"k": ["v", 1]}


def test_a_refused_insert_raises_integrity_error_as_save_does(connection):
    first = _user(connection, "twice@example.com")
    insert(first)
    again = _user(connection, "twice@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        insert(again)


def test_a_model_with_a_pre_save_receiver_is_saved_by_save(connection):
    # django-tasks-db sets a task's run_after in a pre_save receiver: insert must not skip it.
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(instance)

    pre_save.connect(receiver, sender=User)
    try:
        user = _user(connection, "received@example.com")
        insert(user)
    finally:
        pre_save.disconnect(receiver, sender=User)

    assert seen == [user]
    task: Any = DBTaskResult(args_kwargs={"args": [], "kwargs": {}}, task_path="x.y", backend_name="default")
    task.run_after = None  # what the library's receiver fills in
    insert(task)
    assert DBTaskResult.objects.get(pk=task.pk).run_after is not None


def test_inserts_build_no_statement_through_the_orm(connection, monkeypatch):
    insert(_user(connection, "warm@example.com"))
    built = orm_inserts_built(monkeypatch)
    user = _user(connection, "cold@example.com")
    insert(user)
    record_event(type=EventType.SUCCESS_API_OPERATION, description="Create", actor=ACTOR, user=user)

    assert built == []


def test_the_connection_is_read_as_the_orm_reads_it(make_connection, monkeypatch):
    made = make_connection(name="fetched", passwordPolicy="fair", brute_force_protection=True)
    iterated: list[Any] = []
    real_iter = RawQuerySet.__iter__

    def counting_iter(self: RawQuerySet[Any]) -> Any:
        iterated.append(self.model)
        return real_iter(self)

    monkeypatch.setattr(RawQuerySet, "__iter__", counting_iter)
    fetched = get_connection(name="fetched")

    assert iterated == []  # no RawQuerySet: its machinery cost as much as the query (core.db.fetch_instance)
    orm = Connection.objects.get(pk=made.pk)
    for field in Connection._meta.concrete_fields:
        assert getattr(fetched, field.attname) == getattr(orm, field.attname), field.name
    assert fetched.options["passwordPolicy"] == "fair" and fetched.created_at.tzinfo is not None
    assert (fetched._state.adding, fetched._state.db) == (False, "default")


def test_a_row_of_another_width_than_the_fields_asked_for_is_refused(connection):
    """``core.db.models_from_rows`` (``fetch_instance``, the worker's reads) maps columns to fields by position: a
    row with a column more or less would shift every value into the wrong field."""
    from django.db import connection as db

    from core.db import columns, models_from_rows

    with db.cursor() as cursor:
        cursor.execute(f"SELECT {columns(Connection)} FROM {Connection._meta.db_table}")  # noqa: S608 (our names)
        row = cursor.fetchone()
    (read,) = models_from_rows(Connection, [row])
    assert read.pk == connection.pk and read.name == connection.name
    with pytest.raises(ValueError, match="columns for the"):
        models_from_rows(Connection, [(*row, "one more")])
    with pytest.raises(ValueError, match="columns for the"):
        models_from_rows(Connection, [row[:2]], fields=("id",))
    assert columns(Connection, fields=("id",)) == '"id"'


def test_a_value_computed_by_the_database_is_inserted_as_save_inserts_it(connection):
    # An expression (Now(), F(), the tasks backend's id_function on Django 6) is compiled into the INSERT by save;
    # get_db_prep_save alone cannot take it (the tasks backend would fail every enqueue with a 500).
    user = _user(connection, "computed@example.com")
    user.updated_at = Now()

    insert(user)

    assert user.pk is not None
    assert User.objects.get(pk=user.pk).updated_at is not None
