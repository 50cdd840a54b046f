"""Writes of connections. Raises ``PayloadValidationError`` and ``ConnectionAlreadyExists``."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from config.actors import Actor
from connections.errors import ConnectionAlreadyExists
from connections.models import Connection
from connections.options import validate_connection

logger = logging.getLogger(__name__)


@transaction.atomic
def create_connection(
    *, name: str, strategy: str, options: dict[str, Any] | None = None, actor: Actor
) -> Connection:
    """Create a connection; the unique name constraint, not a prior lookup, decides conflicts."""
    stored = validate_connection(name=name, strategy=strategy, options=options or {})
    try:
        with transaction.atomic():
            connection = Connection.objects.create(name=name, strategy=strategy, options=stored)
    except IntegrityError as exc:
        raise ConnectionAlreadyExists() from exc
    logger.info("connection created id=%s name=%s by %s", connection.id, name, actor)
    return connection


def connection_as_json(connection: Connection) -> dict[str, Any]:
    """Auth0's connection body."""
    return {
        "id": connection.id,
        "name": connection.name,
        "strategy": connection.strategy,
        "options": connection.options,
    }
