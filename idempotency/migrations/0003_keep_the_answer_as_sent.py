"""The kept answer becomes the text that was sent (plus its Content-Type) instead of jsonb, which reorders the
keys of an object, so a replay is byte for byte the first answer. Kept answers are converted: rendered as DRF's
JSONRenderer renders (compact, UTF-8), their keys in the order jsonb left them."""

import json

from django.db import migrations, models


def render(apps, schema_editor):
    records = apps.get_model("idempotency", "IdempotencyRecord").objects
    for record in records.filter(response_body__isnull=False).iterator():
        text = json.dumps(record.response_body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")  # as JSONRenderer writes them
        records.filter(pk=record.pk).update(response_text=text, content_type="application/json")


class Migration(migrations.Migration):
    dependencies = [("idempotency", "0002_forget_unkeyed_fingerprints")]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="content_type",
            field=models.CharField(blank=True, default="", max_length=200, verbose_name="content type"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="response_text",
            field=models.TextField(blank=True, default="", verbose_name="response body"),
            preserve_default=False,
        ),
        migrations.RunPython(render, migrations.RunPython.noop),
        migrations.RemoveField(model_name="idempotencyrecord", name="response_body"),
        migrations.RenameField(model_name="idempotencyrecord", old_name="response_text", new_name="response_body"),
    ]
