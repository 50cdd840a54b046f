"""Reads of connections that several callers share."""

from __future__ import annotations

from connections.errors import ConnectionNotFound
from connections.models import Connection


def get_connection(*, name: str) -> Connection:
    """The connection called ``name``; raises ``ConnectionNotFound`` (400 ``inexistent_connection``)."""
    try:
        return Connection.objects.get(name=name)
    except Connection.DoesNotExist as exc:
        raise ConnectionNotFound() from exc
