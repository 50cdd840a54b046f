"""Reads of connections that several callers share. None of them finds a connection being deleted
(``Connection.deletion_requested_at`` set): ``get_connection`` says so in its SQL, the others read through
``Connection.objects`` (``connections.models.LiveConnections``)."""

from __future__ import annotations

from functools import lru_cache

from django.db import connection
from django.db.models import QuerySet

from connections.errors import ConnectionNotFound, ConnectionNotFoundById
from connections.models import Connection
from core.db import column_of, fetch_instance


def get_connection(*, name: str) -> Connection:
    """The connection called ``name``; raises ``ConnectionNotFound`` (400 ``inexistent_connection``), for a
    connection being deleted too.

    Read on every call, never cached: a connection deleted or changed through the API or the admin (in any
    process) is seen by the very next create. The statement is written out because building it through the
    QuerySet cost more than running it (about 240 against 80 µs per create on SQLite), and read without
    ``Connection.objects.raw``'s machinery (``core.db.fetch_instance``: 35 µs); the fields are still converted by
    the ORM's converters.
    """
    found = fetch_instance(Connection, _by_name_sql(connection.vendor), [name])
    if found is None:
        raise ConnectionNotFound()
    return found


@lru_cache(maxsize=2)
def _by_name_sql(vendor: str) -> str:
    """``SELECT <every column> FROM connections WHERE name = %s AND deletion_requested_at IS NULL`` in the quoting
    of the database ``vendor`` (``Connection.objects``' filter, written out)."""
    quote = connection.ops.quote_name
    meta = Connection._meta
    columns = ", ".join(quote(column_of(field)) for field in meta.concrete_fields)
    return "SELECT {} FROM {} WHERE {} = %s AND {} IS NULL".format(  # noqa: S608 - names from the model, quoted
        columns,
        quote(meta.db_table),
        quote(column_of(meta.get_field("name"))),
        quote(column_of(meta.get_field("deletion_requested_at"))),
    )


def get_connection_by_id(*, connection_id: str) -> Connection:
    """Raises ``ConnectionNotFoundById`` (404 ``inexistent_connection``), for a connection being deleted too."""
    try:
        return Connection.objects.get(pk=connection_id)
    except Connection.DoesNotExist as exc:
        raise ConnectionNotFoundById() from exc


def list_connections(*, strategies: list[str] | None = None, name: str | None = None) -> QuerySet[Connection]:
    """Connections in a stable order (by id, which the checkpoint cursor relies on)."""
    queryset = Connection.objects.prefetch_related("clients").order_by("id")
    if strategies:
        queryset = queryset.filter(strategy__in=strategies)
    if name is not None:
        queryset = queryset.filter(name=name)
    return queryset


def is_being_deleted(*, name: str) -> bool:
    """Whether the connection called ``name`` is being deleted in the background (``connections.deletion``): hidden
    from every other read here, its name still taken until its row goes."""
    return Connection.all_objects.filter(name=name, deletion_requested_at__isnull=False).exists()
