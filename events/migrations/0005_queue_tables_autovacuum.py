"""The event outbox and the deliveries are queue tables: PostgreSQL cleans and re-analyses them after a fixed number
of changes (``core.autovacuum``)."""

from django.db import migrations

from core.autovacuum import tune_queue_tables

forward, backward = tune_queue_tables("events.PendingEvents", "events.Delivery")


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0004_disabled_reason_undecryptable"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
