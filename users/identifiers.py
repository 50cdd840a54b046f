"""User ids in Auth0's form: ``<provider>|<24 hex>``, the first 8 hex being the creation time."""

from __future__ import annotations

import secrets
from datetime import datetime


def new_object_id(created_at: datetime) -> str:
    """A MongoDB-ObjectId-shaped id: 4 bytes of unix time, then 8 random bytes."""
    return f"{int(created_at.timestamp()):08x}{secrets.token_hex(8)}"


def full_user_id(provider: str, local_id: str) -> str:
    return f"{provider}|{local_id}"
