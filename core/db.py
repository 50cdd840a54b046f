"""Small helpers for the hand-written SQL some hot paths use, and the time limit of a search's queries."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import OperationalError, connection, models, transaction

from core.errors import QueryTimedOut


def column_of(field: models.Field[Any, Any]) -> str:
    """The database column of a concrete model ``field`` (its ``db_column``, else its attname).

    Django gives only fields without a column of their own (reverse relations, many-to-many) ``column = None``;
    raises ``ValueError`` for one, since SQL naming it would be wrong.
    """
    if field.column is None:
        raise ValueError(f"{field!r} has no database column")
    return field.column


@contextmanager
def time_limit(milliseconds: int) -> Iterator[None]:
    """Run the block's queries within ``milliseconds`` (0: no limit); past it the running query is stopped and
    ``core.errors.QueryTimedOut`` (503 ``temporarily_unavailable``) is raised. The connection stays usable.

    - PostgreSQL: ``SET LOCAL statement_timeout`` (through ``set_config(..., true)``, which takes a bound value) in a
      transaction (a savepoint inside an enclosing one) around the block only; each statement of the block gets the
      whole limit, lock waits included. The server cancels the statement (SQLSTATE 57014 ``query_canceled``), the
      transaction or savepoint is rolled back, and that rollback also undoes the setting; on success the previous
      value is put back, so the rest of an enclosing transaction runs as before.
    - SQLite has no statement timeout: a progress handler (``sqlite3.Connection.set_progress_handler``, called every
      1,000 virtual-machine instructions) interrupts the statement once the deadline has passed (SQLite's
      ``interrupted``), and is removed after the block. A wait for SQLite's write lock is not counted (reads do not
      take it).
    - Other databases: no limit.
    """
    if milliseconds <= 0 or connection.vendor not in ("postgresql", "sqlite"):
        yield
        return
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT current_setting('statement_timeout'), set_config('statement_timeout', %s, true)",
                        [f"{milliseconds}ms"],
                    )
                    previous = cursor.fetchone()[0]
                yield
                with connection.cursor() as cursor:
                    cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED:
                raise QueryTimedOut() from exc
            raise
        return
    connection.ensure_connection()
    raw = connection.connection
    deadline = time.monotonic() + milliseconds / 1000
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), SQLITE_PROGRESS_STEPS)
    try:
        yield
    except OperationalError as exc:
        if str(exc) == "interrupted":
            raise QueryTimedOut() from exc
        raise
    finally:
        raw.set_progress_handler(None, 0)


# PostgreSQL's SQLSTATE for a statement cancelled by statement_timeout (or a cancel request).
QUERY_CANCELED = "57014"
# Virtual-machine instructions between two looks at the clock: well under a millisecond of work each.
SQLITE_PROGRESS_STEPS = 1000
