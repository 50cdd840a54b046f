"""The management API scopes this service knows. A client can only be granted these."""

from __future__ import annotations

KNOWN_SCOPES: tuple[str, ...] = (
    "create:users",
    "read:users",
    "update:users",
    "delete:users",
    "create:connections",
    "read:connections",
    "update:connections",
    "delete:connections",
    "read:logs",
    "create:user_tickets",
)


def parse_scopes(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """A space-separated string or a list, de-duplicated in order."""
    items = value.split() if isinstance(value, str) else list(value)
    return list(dict.fromkeys(item for item in items if item))


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [scope for scope in scopes if scope not in KNOWN_SCOPES]
