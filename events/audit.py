"""The audit rows of event stream writes (``sapi``, Auth0's operation names as descriptions), shared by the
management API and the admin. Called in the write's transaction, so the row and the change commit together.

Only ids, names and the names of the fields changed are recorded: never a token, password or signing secret.
"""

from __future__ import annotations

from typing import Any

from audit.models import EventType
from audit.services import record_event
from core.actors import Actor


def record_stream_write(description: str, *, stream_id: str, actor: Actor, **details: Any) -> None:
    """One ``sapi`` audit row for a write to ``stream_id`` (``description``: Auth0's operation summary, e.g.
    "Create an Event Stream"); ``details`` are ids, names and field names only."""
    record_event(
        type=EventType.SUCCESS_API_OPERATION,
        description=description,
        actor=actor,
        details={"event_stream_id": stream_id, **details},
    )
