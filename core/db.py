"""Small helpers for the hand-written SQL some hot paths use."""

from __future__ import annotations

from typing import Any

from django.db import models


def column_of(field: models.Field[Any, Any]) -> str:
    """The database column of a concrete model ``field`` (its ``db_column``, else its attname).

    Django gives only fields without a column of their own (reverse relations, many-to-many) ``column = None``;
    raises ``ValueError`` for one, since SQL naming it would be wrong.
    """
    if field.column is None:
        raise ValueError(f"{field!r} has no database column")
    return field.column
