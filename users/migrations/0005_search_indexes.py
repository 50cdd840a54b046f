"""Indexes for the ``q`` search (users.search) that Django's model state cannot describe on both databases.

PostgreSQL: ``varchar_pattern_ops``/``text_pattern_ops`` btree indexes serve equality and prefix ``LIKE 'jo%'``
whatever the database's collation; ``pg_trgm`` GIN indexes serve suffix and infix patterns (``*@example.com``,
``*john*``: Auth0 asks for 3 literal characters, a trigram's length); ``lower(column)`` indexes serve the normalised
fields, compared in any case; GIN (``jsonb_ops``) indexes on the metadata serve jsonpath ``@?`` equality and
existence. SQLite: the ``lower(column)`` indexes only. Nothing here is in the model state, so ``makemigrations``
stays clean; each statement runs only on its database.

On a large live table, create these by hand with ``CREATE INDEX CONCURRENTLY`` first (the same names, ``IF NOT
EXISTS``) to avoid locking writes while the migration builds them.
"""

from django.db import migrations

LOWERED = ("name", "given_name", "family_name", "nickname")

POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS users_user_email_pattern_idx ON users_user (email varchar_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS users_user_user_id_pattern_idx ON users_user (user_id varchar_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS users_user_username_pattern_idx ON users_user (username varchar_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS users_user_phone_pattern_idx ON users_user (phone_number varchar_pattern_ops)",
    "CREATE INDEX IF NOT EXISTS users_user_last_ip_pattern_idx ON users_user (last_ip varchar_pattern_ops)",
    *(
        f"CREATE INDEX IF NOT EXISTS users_user_{column}_lower_idx ON users_user (lower({column}) text_pattern_ops)"
        for column in LOWERED
    ),
    "CREATE INDEX IF NOT EXISTS users_user_email_trgm_idx ON users_user USING gin (email gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS users_user_name_trgm_idx ON users_user USING gin (lower(name) gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS users_user_user_id_trgm_idx ON users_user USING gin (user_id gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS users_user_app_metadata_gin_idx ON users_user USING gin (app_metadata)",
    "CREATE INDEX IF NOT EXISTS users_user_user_metadata_gin_idx ON users_user USING gin (user_metadata)",
]
POSTGRESQL_NAMES = [
    "users_user_email_pattern_idx",
    "users_user_user_id_pattern_idx",
    "users_user_username_pattern_idx",
    "users_user_phone_pattern_idx",
    "users_user_last_ip_pattern_idx",
    *(f"users_user_{column}_lower_idx" for column in LOWERED),
    "users_user_email_trgm_idx",
    "users_user_name_trgm_idx",
    "users_user_user_id_trgm_idx",
    "users_user_app_metadata_gin_idx",
    "users_user_user_metadata_gin_idx",
]
SQLITE = [
    f"CREATE INDEX IF NOT EXISTS users_user_{column}_lower_idx ON users_user (lower({column}))" for column in LOWERED
]
SQLITE_NAMES = [f"users_user_{column}_lower_idx" for column in LOWERED]


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = POSTGRESQL if vendor == "postgresql" else SQLITE if vendor == "sqlite" else []
    for statement in statements:
        schema_editor.execute(statement)


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    names = POSTGRESQL_NAMES if vendor == "postgresql" else SQLITE_NAMES if vendor == "sqlite" else []
    for name in names:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("users", "0004_login_statistics")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
