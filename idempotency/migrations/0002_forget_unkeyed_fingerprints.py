"""Rows written before fingerprints were keyed hold a plain SHA-256 of the body, password included: anyone
reading the table could test password guesses against it. They are deleted; a retry of such a request runs
again, and the unique constraints on users still stop a second create."""

from django.db import migrations


def forget(apps, schema_editor):
    apps.get_model("idempotency", "IdempotencyRecord").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("idempotency", "0001_initial")]

    operations = [migrations.RunPython(forget, migrations.RunPython.noop)]
