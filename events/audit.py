"""The audit rows of event stream writes (``sapi``, Auth0's operation names as descriptions), shared by the
management API and the admin, and of held outbox rows an operator released or discarded. Called in the write's
transaction, so the row and the change commit together.

Only ids, names and the names of the fields changed are recorded: never a token, password or signing secret, nor
an outbox row's events (users' profiles) or its renderer's arguments.
"""

from __future__ import annotations

from typing import Any

from audit.models import EventType
from audit.services import record_event
from core.actors import Actor
from events.models import PendingEvents, listed_stream_ids


def record_stream_write(description: str, *, stream_id: str, actor: Actor, **details: Any) -> None:
    """One ``sapi`` audit row for a write to ``stream_id`` (``description``: Auth0's operation summary, e.g.
    "Create an Event Stream"); ``details`` are ids, names and field names only."""
    record_event(
        type=EventType.SUCCESS_API_OPERATION,
        description=description,
        actor=actor,
        details={"event_stream_id": stream_id, **details},
    )


def record_held_row_discarded(row: PendingEvents, *, events: int | None, actor: Actor) -> None:
    """One ``sapi`` audit row for the held outbox row ``row`` that ``events.services.discard_held_events`` deleted
    (``events``: how many events were lost with it, ``None`` when they were malformed). The description names the
    row's id, event type, purpose (when it has one) and why it was held (``held_reason``: an exception's type and
    place, never its message); the details add when it was held, its renderer's dotted path and its streams' ids.
    Auth0 has no event type of its own for this: ``sapi``, as every operator's write here."""
    _record_held_row("Discard", row, actor=actor, render=row.render, events=events)


def record_held_row_released(row: PendingEvents, *, actor: Actor) -> None:
    """One ``sapi`` audit row for the held outbox row ``row`` that ``events.services.release_held_events`` gave back
    to the fan-out, naming its id, event type, purpose and why it had been held (as
    ``record_held_row_discarded``; never its events)."""
    _record_held_row("Release", row, actor=actor)


def _record_held_row(verb: str, row: PendingEvents, *, actor: Actor, **extra: Any) -> None:
    purpose = f", purpose {row.purpose}" if row.purpose else ""
    details: dict[str, Any] = {
        "pending_events_id": row.pk,
        "type": row.type,
        "purpose": row.purpose,
        "held_at": row.held_at.isoformat() if row.held_at else None,
        "held_reason": row.held_reason,
        "stream_ids": listed_stream_ids(row.stream_ids),
    }
    record_event(
        type=EventType.SUCCESS_API_OPERATION,
        description=f"{verb} held outbox row {row.pk} ({row.type}{purpose}): {row.held_reason}",
        actor=actor,
        details={**details, **extra},
    )
