"""The queue tables (tasks, event outbox, deliveries) are cleaned and re-analysed by PostgreSQL's autovacuum after a
fixed number of changes, not after a share of the table (``core.autovacuum``): a claim steps over every dead entry
of the ready tasks' index until a cleaning."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_tasks_db.models import DBTaskResult

from core.autovacuum import QUEUE_TABLE_SETTINGS
from events.models import Delivery, PendingEvents

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="autovacuum is PostgreSQL's")
@pytest.mark.parametrize("model", [DBTaskResult, PendingEvents, Delivery], ids=lambda m: m.__name__)
def test_queue_tables_are_vacuumed_and_analysed_after_a_fixed_number_of_changes(model):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [model._meta.db_table])
        (options,) = cursor.fetchone()
    assert dict(option.split("=", 1) for option in options or []) == QUEUE_TABLE_SETTINGS


@pytest.mark.skipif(connection.vendor != "postgresql", reason="autovacuum is PostgreSQL's")
def test_the_migration_reverses_to_the_servers_defaults():
    from django.apps import apps

    from core.autovacuum import tune_queue_tables

    forward, backward = tune_queue_tables("django_tasks_database.DBTaskResult")
    with connection.schema_editor() as editor:
        backward(apps, editor)
    assert _options(DBTaskResult) is None
    with connection.schema_editor() as editor:
        forward(apps, editor)
    assert dict(option.split("=", 1) for option in _options(DBTaskResult) or []) == QUEUE_TABLE_SETTINGS


def _options(model: Any) -> list[str] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [model._meta.db_table])
        (options,) = cursor.fetchone()
    return list(options) if options is not None else None
