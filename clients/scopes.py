"""The management API scopes this service knows. A client can only be granted these."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

# Each scope with Auth0's description of it (the Management API's permission list; "Read logs relating to users" is
# read:logs_users, which get_logs, get_logs_by_id and get_logs_by_user accept as well as read:logs).
SCOPE_DESCRIPTIONS = {
    "create:users": _("Create Users"),
    "read:users": _("Read Users"),
    "update:users": _("Update Users"),
    "delete:users": _("Delete Users"),
    "create:connections": _("Create Connections"),
    "read:connections": _("Read Connections"),
    "update:connections": _("Update Connections"),
    "delete:connections": _("Delete Connections"),
    "read:logs": _("Read Logs"),
    "read:logs_users": _("Read logs relating to users"),
    "create:user_tickets": _("Create user tickets"),
    # Event streams (Auth0's permission list; deliveries have their own pair: listing them also accepts
    # read:event_streams, one delivery only read:event_deliveries, redelivering update:event_deliveries).
    "create:event_streams": _("Create Event Streams"),
    "read:event_streams": _("Read Event Streams"),
    "update:event_streams": _("Update Event Streams"),
    "delete:event_streams": _("Delete Event Streams"),
    "read:event_deliveries": _("Read Event Deliveries"),
    "update:event_deliveries": _("Update Event Deliveries"),
}
KNOWN_SCOPES: tuple[str, ...] = tuple(SCOPE_DESCRIPTIONS)


def parse_scopes(value: str | list[str] | tuple[str, ...]) -> list[str]:
    """A space-separated string or a list, de-duplicated in order."""
    items = value.split() if isinstance(value, str) else list(value)
    return list(dict.fromkeys(item for item in items if item))


def unknown_scopes(scopes: list[str]) -> list[str]:
    return [scope for scope in scopes if scope not in KNOWN_SCOPES]
