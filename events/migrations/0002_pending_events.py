from typing import Any

from django.db import migrations, models


def compress_with_lz4(apps: Any, schema_editor: Any) -> None:
    """PostgreSQL compresses a large text value (TOAST) with pglz by default: an import batch's outbox row is
    megabytes of JSON, and pglz cost the database server about four times what lz4 does (figures in issue 16).
    lz4 where the server was built with it; the default elsewhere (and nothing to do on SQLite)."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'")
        row = cursor.fetchone()
        if row and "lz4" in row[0]:
            cursor.execute("ALTER TABLE events_pendingevents ALTER COLUMN events SET COMPRESSION lz4")


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="PendingEvents",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("type", models.CharField(max_length=64, verbose_name="type")),
                ("source", models.CharField(max_length=255, verbose_name="source")),
                ("time", models.DateTimeField(verbose_name="time")),
                ("purpose", models.CharField(blank=True, default="", max_length=16, verbose_name="purpose")),
                ("stream_ids", models.JSONField(verbose_name="stream ids")),
                ("events", models.TextField(verbose_name="events")),
                ("render", models.CharField(blank=True, default="", max_length=200, verbose_name="renderer")),
                ("render_args", models.JSONField(blank=True, default=dict, verbose_name="renderer arguments")),
            ],
            options={
                "verbose_name": "pending events",
                "verbose_name_plural": "pending events",
                "ordering": ["id"],
            },
        ),
        migrations.RunPython(compress_with_lz4, migrations.RunPython.noop),
    ]
