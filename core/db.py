"""Small helpers for the hand-written SQL some hot paths use (a model's columns, model instances from plain rows),
and the time limit of a search's queries."""

from __future__ import annotations

import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

from django.db import OperationalError, connection, connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import signals

from core.errors import QueryTimedOut

M = TypeVar("M", bound=models.Model)


def column_of(field: models.Field[Any, Any]) -> str:
    """The database column of a concrete model ``field`` (its ``db_column``, else its attname).

    Django gives only fields without a column of their own (reverse relations, many-to-many) ``column = None``;
    raises ``ValueError`` for one, since SQL naming it would be wrong.
    """
    if field.column is None:
        raise ValueError(f"{field!r} has no database column")
    return field.column


def insert(obj: models.Model, *, receivers: bool = True) -> None:
    """Insert ``obj`` as ``obj.save(force_insert=True)`` does: each field's ``pre_save`` (``auto_now_add``) and
    ``get_db_prep_save``, the generated primary key read back, ``obj._state`` marked saved; a refused row raises
    Django's ``IntegrityError`` as ``save`` does.

    The statement is written once per model (``_insert_statement``): Django builds it again on every save, which
    cost more than the insert itself on the create path (about 250 against 100 µs for a user on SQLite). A model
    that needs more than a plain INSERT (a parent model, a proxy, a field with a database default or computed by the
    database, a ``pre_save`` or ``post_save`` receiver) or a value that is an expression (``Now()``, ``F()``, a tasks
    backend's ``id_function`` on Django 6) is saved by ``save`` instead; ``receivers=False`` is for a
    caller that did what the model's receivers do itself (``core.tasks.DatabaseBackend``): none is sent.
    """
    model = type(obj)
    meta = model._meta
    using = router.db_for_write(model, instance=obj)
    if (
        meta.parents
        or meta.proxy
        or (receivers and (signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model)))
        or not _plain_insert(model)
    ):
        obj.save(force_insert=True, using=using)
        return
    auto_pk = meta.auto_field is not None and getattr(obj, meta.pk.attname) is None
    fields, sql = _insert_statement(model, using, auto_pk)
    values = [field.pre_save(obj, True) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in values):  # Now(), F(), ...: compiled into the SQL
        obj.save(force_insert=True, using=using)
        return
    db = connections[using]
    params = [field.get_db_prep_save(value, connection=db) for field, value in zip(fields, values, strict=True)]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        if auto_pk:
            if db.features.can_return_columns_from_insert:
                pk = cursor.fetchone()[0]
            else:  # pragma: no cover - SQLite before 3.35
                pk = db.ops.last_insert_id(cursor, meta.db_table, column_of(meta.pk))
            setattr(obj, meta.pk.attname, pk)
    obj._state.adding = False
    obj._state.db = using


@lru_cache(maxsize=64)
def _plain_insert(model: type[models.Model]) -> bool:
    """No column of ``model`` is filled or computed by the database (beyond an auto-incremented primary key)."""
    meta = model._meta
    return not any(
        field.generated or field.has_db_default() or (field.db_returning and field is not meta.auto_field)
        for field in meta.local_concrete_fields
    )


@lru_cache(maxsize=64)
def _insert_statement(model: type[models.Model], using: str, auto_pk: bool) -> tuple[list[models.Field[Any, Any]], str]:
    """The fields ``insert`` sends and ``INSERT INTO table (columns) VALUES (%s, ...)``, with ``RETURNING`` the
    auto-incremented primary key when the database generates it (``auto_pk``) and can return it."""
    meta = model._meta
    db = connections[using]
    quote = db.ops.quote_name
    fields = [field for field in meta.local_concrete_fields if not (auto_pk and field is meta.auto_field)]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - names from the model, quoted
        quote(meta.db_table), ", ".join(quote(column_of(field)) for field in fields), ", ".join(["%s"] * len(fields))
    )
    if auto_pk and db.features.can_return_columns_from_insert:
        sql += f" RETURNING {quote(column_of(meta.pk))}"
    return fields, sql


# (model, the fields asked for) -> those of its concrete fields, in the model's order.
_FIELDS: dict[tuple[type[models.Model], tuple[str, ...] | None], list[models.Field[Any, Any]]] = {}


def _fields(model: type[models.Model], names: Sequence[str] | None) -> list[models.Field[Any, Any]]:
    key = (model, None if names is None else tuple(names))
    found = _FIELDS.get(key)
    if found is None:
        wanted = None if names is None else {model._meta.pk.name if name == "pk" else name for name in names}
        found = _FIELDS[key] = [
            field for field in model._meta.concrete_fields if wanted is None or field.name in wanted
        ]
        if wanted is not None and len(found) != len(wanted):
            raise ValueError(f"not concrete fields of {model.__name__}: {sorted(wanted - {f.name for f in found})}")
    return found


def columns(model: type[models.Model], prefix: str = "", *, fields: Sequence[str] | None = None) -> str:
    """The quoted columns of ``model``'s concrete fields (``fields`` only, when given) in the model's order of
    fields, each after ``prefix`` (a table alias and a dot) when given: the select list ``models_from_rows`` and
    ``read_models`` take."""
    key = (connection.vendor, model, prefix, None if fields is None else tuple(fields))
    found = _COLUMNS.get(key)
    if found is None:
        quote = connection.ops.quote_name
        found = _COLUMNS[key] = ", ".join(prefix + quote(column_of(field)) for field in _fields(model, fields))
    return found


_COLUMNS: dict[tuple[str, type[models.Model], str, tuple[str, ...] | None], str] = {}


# Per connection (each thread has its own), per model and fields: each field's attname, column expression and the
# converters the ORM's compiler finds for it (the backend's, then the field's).
_CONVERTERS: weakref.WeakKeyDictionary[
    BaseDatabaseWrapper, dict[Any, tuple[list[str], list[tuple[int, Any, list[Any]]]]]
] = weakref.WeakKeyDictionary()


def _converters(
    model: type[models.Model], fields: Sequence[str] | None, database: BaseDatabaseWrapper
) -> tuple[list[str], list[tuple[int, Any, list[Any]]]]:
    by_model = _CONVERTERS.setdefault(database, {})
    key = (model, None if fields is None else tuple(fields))
    found = by_model.get(key)
    if found is None:
        selected = _fields(model, fields)
        converters = []
        for i, field in enumerate(selected):
            col = field.get_col(model._meta.db_table)
            if convert := database.ops.get_db_converters(col) + col.get_db_converters(database):
                converters.append((i, col, convert))
        found = by_model[key] = ([field.attname for field in selected], converters)
    return found


def models_from_rows(
    model: type[M],
    rows: Iterable[Sequence[Any]],
    database: BaseDatabaseWrapper | None = None,
    *,
    fields: Sequence[str] | None = None,
) -> list[M]:
    """``model`` instances from ``rows`` holding the columns of ``columns(model, fields=fields)``, each value through
    the converters the ORM's compiler would apply (SQLite's times become aware datetimes, JSON text is decoded):
    what a queryset (with ``only(*fields)``) would have built, without compiling one. ``database``: the router's
    for writing ``model`` by default."""
    if database is None:
        database = connections[router.db_for_write(model)]
    names, converters = _converters(model, fields, database)
    built = []
    for row in rows:
        values = list(row)
        if len(values) != len(names):
            raise ValueError(f"{len(values)} columns for the {len(names)} fields of {model.__name__} asked for")
        for i, col, found in converters:
            for convert in found:
                values[i] = convert(values[i], col, database)
        built.append(model.from_db(database.alias, names, values))
    return built


def read_models(
    model: type[M],
    sql: str,
    params: Sequence[Any],
    database: BaseDatabaseWrapper | None = None,
    *,
    fields: Sequence[str] | None = None,
) -> list[M]:
    """Run ``sql``, which selects ``columns(model, fields=fields)``, and return its rows as ``model`` instances
    (``models_from_rows``)."""
    if database is None:
        database = connections[router.db_for_write(model)]
    with database.cursor() as cursor:
        cursor.execute(sql, params)
        return models_from_rows(model, cursor.fetchall(), database, fields=fields)


def fetch_instance(
    model: type[M],
    sql: str,
    params: Sequence[Any],
    database: BaseDatabaseWrapper | None = None,
    *,
    fields: Sequence[str] | None = None,
) -> M | None:
    """The ``model`` instance that the first row of ``sql`` describes (the statement selects
    ``columns(model, fields=fields)``), its values converted as the ORM converts them (``models_from_rows``);
    ``None`` without a row. ``database``: the router's for reading ``model`` by default.

    ``Model.objects.raw`` does the same with more machinery (the column names matched to fields, a query object, an
    iterator): about 70 against 35 µs on SQLite for a connection, on every create.
    """
    if database is None:
        database = connections[router.db_for_read(model)]
    with database.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else models_from_rows(model, [row], database, fields=fields)[0]


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
