"""Reads of connections that several callers share."""

from __future__ import annotations

from django.db.models import QuerySet

from connections.errors import ConnectionNotFound, ConnectionNotFoundById
from connections.models import Connection


def get_connection(*, name: str) -> Connection:
    """The connection called ``name``; raises ``ConnectionNotFound`` (400 ``inexistent_connection``)."""
    try:
        return Connection.objects.get(name=name)
    except Connection.DoesNotExist as exc:
        raise ConnectionNotFound() from exc


def get_connection_by_id(*, connection_id: str) -> Connection:
    """Raises ``ConnectionNotFoundById`` (404 ``inexistent_connection``)."""
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
