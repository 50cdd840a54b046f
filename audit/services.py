"""Writing audit events. Callers invoke ``record_event`` inside their own transaction, so the event and the
change commit (or roll back) together; ``record_failure`` writes on its own, for refusals whose change was
rolled back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import transaction

from audit.models import Event, EventType
from core.actors import Actor
from core.schema import storable_text

if TYPE_CHECKING:
    from users.models import User

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


def _clean(details: dict[str, Any] | None) -> dict[str, Any]:
    return _storable({key: value for key, value in (details or {}).items() if key not in _SECRET_KEYS})


def record_event(
    *,
    type: EventType,
    description: str,
    actor: Actor,
    user: User | None = None,
    user_id: str = "",
    user_name: str = "",
    connection_name: str = "",
    connection_id: str = "",
    details: dict[str, Any] | None = None,
) -> Event:
    """One audit row in the caller's transaction."""
    if user is not None:
        user_id = user.user_id
        connection_name = user.connection.name
        connection_id = user.connection_id
    return Event.objects.create(
        type=type,
        description=storable_text(description)[:500],
        actor_kind=actor.kind,
        actor_id=storable_text(actor.id)[:255],
        ip=storable_text(actor.ip or "")[:64],
        user_agent=storable_text(actor.user_agent or "")[:512],
        user_id=user_id,
        user_name=(user.email or user.username or user.phone_number or "")
        if user is not None
        else storable_text(user_name),
        connection=storable_text(connection_name),
        connection_id=connection_id,
        details=_clean(details),
    )


def record_failure(**kwargs: Any) -> Event:
    """An event for something that did not happen: committed on its own, outside the failed transaction."""
    with transaction.atomic():
        return record_event(**kwargs)
