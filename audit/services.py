"""Writing audit events. Callers invoke ``record_event`` inside their own transaction, so the event and the
change commit (or roll back) together; ``record_failure`` writes on its own, for refusals whose change was
rolled back."""

from __future__ import annotations

from typing import Any, Protocol

from django.db import models, transaction

from audit.models import Event, EventType
from core.actors import Actor
from core.db import insert
from core.schema import storable_text


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class AuditedUser(Protocol):
    """What an event copies of the user it is about (a ``users.models.User`` has all of it): the audit log knows
    users only by this shape, so it depends on no app that records events."""

    @property
    def user_id(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def username(self) -> str | None: ...
    @property
    def phone_number(self) -> str | None: ...
    @property
    def connection_id(self) -> str: ...
    @property
    def connection(self) -> _Named: ...


# Keys that must never reach the log, whatever a caller passes in ``details``.
_SECRET_KEYS = frozenset({"password", "password_hash", "client_secret", "secret", "access_token", "ticket"})


def _storable(value: Any) -> Any:
    """Events quote what callers sent (a refused sign-up's reason); NUL would make PostgreSQL refuse the row."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(v) for v in value]
    return value


# The size of each text column of an event.
_COLUMN_SIZES = {
    field.name: field.max_length for field in Event._meta.concrete_fields if isinstance(field, models.CharField)
}


def _fit(value: str, column: str) -> str:
    """``value`` made storable, then cut to the column's size (escaping first: it may lengthen the text)."""
    return storable_text(value)[: _COLUMN_SIZES[column]]


def _clean(details: dict[str, Any] | None) -> dict[str, Any]:
    return _storable({key: value for key, value in (details or {}).items() if key not in _SECRET_KEYS})


def record_event(
    *,
    type: EventType,
    description: str,
    actor: Actor,
    user: AuditedUser | None = None,
    user_id: str = "",
    user_name: str = "",
    connection_name: str = "",
    connection_id: str = "",
    details: dict[str, Any] | None = None,
) -> Event:
    """One audit row in the caller's transaction.

    ``user`` fills in the user id, name and connection; text is made storable (``core.schema.storable_text``)
    and cut to its column's size here, so callers pass what they have.
    """
    if user is not None:
        user_id = user.user_id
        connection_name = user.connection.name
        connection_id = user.connection_id
    event = Event(
        type=type,
        description=_fit(description, "description"),
        actor_kind=actor.kind,
        actor_id=_fit(actor.id, "actor_id"),
        ip=_fit(actor.ip or "", "ip"),
        user_agent=_fit(actor.user_agent or "", "user_agent"),
        user_id=user_id,
        user_name=(user.email or user.username or user.phone_number or "")
        if user is not None
        else _fit(user_name, "user_name"),
        connection=_fit(connection_name, "connection"),
        connection_id=connection_id,
        details=_clean(details),
    )
    insert(event)  # Event.objects.create, without building the statement each time (core.db.insert)
    return event


def record_failure(**kwargs: Any) -> Event:
    """An event for something that did not happen: committed on its own, outside the failed transaction."""
    with transaction.atomic():
        return record_event(**kwargs)
