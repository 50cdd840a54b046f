"""``sort=last_login:-1`` reads newest logins first with the never-logged-in last (``users.selectors.list_users``):
on PostgreSQL an index in exactly that order lets a page be read in index order instead of sorting the whole match.
SQLite cannot declare NULLS LAST in an index (``unsupported use of NULLS LAST``) and keeps the (last_login, id) one.
"""

from django.db import migrations

NAME = "users_user_last_login_desc_idx"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{NAME}" ON "users_user" ("last_login" DESC NULLS LAST, "id" DESC)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{NAME}"')


class Migration(migrations.Migration):
    dependencies = [("users", "0005_search_indexes")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
