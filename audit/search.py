"""The log events' fields for Auth0's ``q`` search (``GET /api/v2/logs?q=...``): what each field name means in SQL.

``core.search`` parses the query (luqum) and bounds it, as for users; this module answers each field. Source: Auth0's
"Log Search Query Syntax" (https://auth0.com/docs/logs/log-search-query-syntax): "All search fields are case
sensitive", operators ``AND``/``OR``/``NOT`` on every field, and these searchable fields:

- ``type``, ``user_id``, ``user_name``, ``connection``, ``connection_id``, ``description``, ``ip``, ``user_agent``,
  ``log_id``: that column, the whole value in exact case; ranges and wildcards allowed (``log_id`` ranges: below);
- ``client_id``: ``actor_id`` of a client or sign-up actor, likewise;
- ``date``: the instant, or the period ``2026``, ``2026-01``, ``2026-01-31``; ranges, no wildcards.

A bare term searches ``connection``, ``description``, ``ip``, ``log_id``, ``type`` and ``user_name`` (Auth0's
"Fields searchable against bare terms", less ``client_name``, which is not stored). Auth0's ``client_name``,
``hostname``, ``organization_id``, ``strategy``, ``strategy_type`` and any unknown field match nothing.

``log_id`` ranges: Auth0's log ids grow with time, and its CLI follows the log with ``log_id:[LAST TO *]``
(auth0/auth0-cli ``internal/cli/logs.go``). Ours are random (``audit.models.new_log_id``), so a bound names an event
and the range is read in (date, id) order, the order of the ``audit_event_date_id`` index: ``log_id:[X TO *]`` is
that event and every later one, ``{X TO *]`` every later one. A bound no event has matches nothing.
"""

from __future__ import annotations

from django.db.models import Q
from django.db.models.fields.tuple_lookups import (
    Tuple,
    TupleGreaterThan,
    TupleGreaterThanOrEqual,
    TupleLessThan,
    TupleLessThanOrEqual,
)
from django.utils.translation import gettext as _

from audit.models import Event
from core.search import (
    MATCH_NOTHING,
    Bound,
    InvalidQuery,
    Value,
    build_filter,
    check_wildcard,
    date_bounds,
    date_term,
    no_wildcard,
)

_TEXT = {
    "type": "type",
    "user_id": "user_id",
    "user_name": "user_name",
    "connection": "connection",
    "connection_id": "connection_id",
    "description": "description",
    "ip": "ip",
    "user_agent": "user_agent",
    "log_id": "log_id",
    "client_id": "actor_id",
}
BARE_TERM_FIELDS = ("connection", "description", "ip", "log_id", "type", "user_name")
# The actors whose id is the event's client id (``api.management.logs.log_as_json``).
_CLIENT_ACTORS = ("client", "anonymous")


def event_filter(q: str) -> Q:
    """The ``Q`` on ``Event`` for the Lucene query ``q``; raises ``InvalidQuery`` (400 ``invalid_query_string``)
    for a malformed query, one past ``core.search``'s bounds, a wildcard on ``date``, a date that is no date, or a
    wildcard not at the end with fewer than 3 literal characters."""
    return build_filter(q, EventFields())


def _column(field: str) -> Q:
    """The condition that makes ``field``'s column mean it: ``client_id`` is the actor's id only for clients."""
    return Q(actor_kind__in=_CLIENT_ACTORS) if field == "client_id" else Q()


class EventFields:
    """``core.search.FieldResolver`` for ``audit.models.Event``."""

    def term(self, field: str | None, value: Value) -> Q:
        if field is None:
            result = MATCH_NOTHING
            for name in BARE_TERM_FIELDS:
                result |= self.term(name, value)
            return result
        if field == "date":
            no_wildcard(value, field)
            return date_term("date", value.text, field)
        if field not in _TEXT:
            return MATCH_NOTHING
        column = _TEXT[field]
        if value.is_wildcard:
            if value.only_wildcards:
                return self.exists(field)
            check_wildcard(value, field)
            return _column(field) & Q(**{f"{column}__wildcard": value.parts})
        return _column(field) & Q(**{column: value.text})

    def range(self, field: str | None, low: Bound, high: Bound) -> Q:
        if field is None:
            raise InvalidQuery(_("A range needs a field, for example date:[2026-01-01 TO 2026-01-31]."))
        if field == "date":
            return date_bounds("date", low, high, field)
        if field == "log_id":
            return _log_id_range(low, high)
        if field not in _TEXT:
            return MATCH_NOTHING
        column = _TEXT[field]
        q = _column(field) & ~Q(**{column: ""})
        if low.text is not None:
            q &= Q(**{f"{column}__{'gte' if low.inclusive else 'gt'}": low.text})
        if high.text is not None:
            q &= Q(**{f"{column}__{'lte' if high.inclusive else 'lt'}": high.text})
        return q

    def exists(self, field: str) -> Q:
        if field == "date":
            return Q(date__isnull=False)
        if field not in _TEXT:
            return MATCH_NOTHING
        # Unset text columns hold "" (the log entry shows them empty): "" is no value.
        return _column(field) & ~Q(**{_TEXT[field]: ""})


def _log_id_range(low: Bound, high: Bound) -> Q:
    """Events from/to the events ``low`` and ``high`` name, in (date, id) order; nothing when a bound names none."""
    q = Q(date__isnull=False)
    position = Tuple("date", "id")
    for bound, inclusive_lookup, exclusive_lookup in (
        (low, TupleGreaterThanOrEqual, TupleGreaterThan),
        (high, TupleLessThanOrEqual, TupleLessThan),
    ):
        if bound.text is None:
            continue
        event = Event.objects.filter(log_id=bound.text).values_list("date", "id").first()
        if event is None:
            return MATCH_NOTHING
        lookup = inclusive_lookup if bound.inclusive else exclusive_lookup
        q &= Q(lookup(position, event))
    return q
