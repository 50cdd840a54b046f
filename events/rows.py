"""Plain-row inserts for the outbox and its fan-out: thousands of rows a batch, where building and adapting a model
instance per row would cost more than the inserts (issue 16)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from django.db import connection as db
from django.db.models import Field, Model


def adapted(model: type[Model], given: dict[str, Any], defaulted: Iterable[str] = ()) -> dict[str, Any]:
    """Column values as the database takes them: ``given`` values and the model's defaults for ``defaulted``
    fields, adapted once (times as SQLite's text, choices as plain str, JSON as text)."""
    values = {**given, **{name: _field(model, name).get_default() for name in defaulted}}
    return {name: _field(model, name).get_db_prep_save(value, db) for name, value in values.items()}


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field), name  # a column of the model, not a reverse relation
    return field


def _column(model: type[Model], name: str) -> str:
    column = _field(model, name).column
    assert column, name  # a concrete field: it has a column
    return column


def insert_rows(
    model: type[Model], fields: Sequence[str], rows: list[tuple[Any, ...]], *, ignore_conflicts: bool = False
) -> None:
    """Insert ``rows`` (values of ``fields``, in order, already adapted) into ``model``'s table, in row order (the
    order of a ``BigAutoField``'s ids).

    One row: one ``INSERT``, on PostgreSQL with its values bound by the server (an import batch's outbox row is
    megabytes of text, which client-side binding would escape into the statement and the server parse back out).
    More: ``COPY`` on PostgreSQL, one ``executemany`` elsewhere. ``ignore_conflicts``: rows a unique constraint
    refuses are skipped (``INSERT ... ON CONFLICT DO NOTHING``, never ``COPY``).
    """
    if not rows:
        return
    quote = db.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(_column(model, name)) for name in fields)
    with db.cursor() as cursor:
        if db.vendor == "postgresql" and len(rows) > 1 and not ignore_conflicts:
            # psycopg's own cursor and COPY, under Django's wrapping of database errors: a failure is Django's class
            # (``DataError``, ``OperationalError``...) and marks the connection for its health check, as any query.
            with db.wrap_database_errors, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608 (our own names)
        if ignore_conflicts:
            sql += " ON CONFLICT DO NOTHING"
        if len(rows) == 1 and db.vendor == "postgresql":
            with db.wrap_database_errors, psycopg.Cursor(cursor.cursor.connection) as bound:
                bound.execute(sql, rows[0])
        elif len(rows) == 1:
            cursor.execute(sql, rows[0])
        else:
            cursor.executemany(sql, rows)
