"""django-tasks-db's table is the task queue the worker claims from: PostgreSQL cleans and re-analyses it after a
fixed number of changes (``core.autovacuum``)."""

from django.db import migrations

from core.autovacuum import tune_queue_tables

forward, backward = tune_queue_tables("django_tasks_database.DBTaskResult")


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_worker_heartbeat"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
