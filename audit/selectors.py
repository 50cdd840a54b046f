"""Reads of the audit log: a page of events, the events after a checkpoint, one user's events.

Every read walks events in (date, id) order, ``id`` being the row's insertion number: two events of the same
instant are told apart by it, so a page boundary or a checkpoint falling between them neither skips nor repeats one.
The ``audit_event_date_id`` and ``audit_event_user_date_id`` indexes serve these orders (``audit.models``).

Searching (Auth0's ``q``) comes in as ``filter``, a Django ``Q`` over ``Event``'s columns, so a query translator can
narrow any of these reads without a new selector.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet

# Django's row-value comparison, ``(date, id) > (%s, %s)``: the one form both SQLite and PostgreSQL answer with a
# range scan of the (date, id) index. Spelled as two ORed conditions, PostgreSQL plans a full scan or a bitmap OR.
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan

from audit.errors import CheckpointNotFound, LogNotFound
from audit.models import Event

ASCENDING = 1
DESCENDING = -1


@dataclass(frozen=True)
class EventPage:
    """One offset page: its events, where it starts, its size, and how many events match (when counted)."""

    events: list[Event]
    start: int
    limit: int
    total: int | None


def _ordered(events: QuerySet[Event], sort: int) -> QuerySet[Event]:
    return events.order_by("date", "id") if sort == ASCENDING else events.order_by("-date", "-id")


def get_event(*, log_id: str) -> Event:
    """The event whose ``log_id`` is given. Raises ``LogNotFound`` (404 ``inexistent_log``) when there is none."""
    event = Event.objects.filter(log_id=log_id).first()
    if event is None:
        raise LogNotFound()
    return event


def list_events(
    *, filter: Q | None = None, page: int = 0, per_page: int = 50, sort: int = DESCENDING, count: bool = False
) -> EventPage:
    """Page ``page`` (zero-based) of ``per_page`` events matching ``filter`` (every event when None), newest first
    (``sort=-1``, Auth0's default) or oldest first (``sort=1``); ``total`` counts every match when ``count`` is set,
    else is None. Raises nothing: the paging limit is the API's rule (``api.management.paging``)."""
    events = Event.objects.filter(filter) if filter is not None else Event.objects.all()
    start = page * per_page
    rows = list(_ordered(events, sort)[start : start + per_page])
    return EventPage(events=rows, start=start, limit=per_page, total=events.count() if count else None)


def events_after(*, checkpoint: str, take: int) -> list[Event]:
    """Up to ``take`` events recorded after the event whose ``log_id`` is ``checkpoint``, oldest first: Auth0's
    "Retrieve logs by checkpoint" (logs "newer than a given log_id", in log order, with no 1,000-record limit).

    The next call passes the last event's ``log_id``; an empty answer means nothing newer yet, and the same call
    answers the events written since. Raises ``CheckpointNotFound`` (400 ``invalid_query_string``) when no event has
    that id. Auth0: https://auth0.com/docs/deploy-monitor/logs/retrieve-log-events-using-mgmt-api
    """
    mark = Event.objects.filter(log_id=checkpoint).values_list("date", "id").first()
    if mark is None:
        raise CheckpointNotFound()
    after = Event.objects.filter(TupleGreaterThan(Tuple("date", "id"), mark))
    return list(_ordered(after, ASCENDING)[:take])


def events_of_user(
    *, user_id: str, page: int = 0, per_page: int = 50, sort: int = DESCENDING, count: bool = False
) -> EventPage:
    """A page of the events that name ``user_id``, as ``list_events`` pages them. The events outlive the user (a
    deleted user's deletion stays on record), so an id no current user has still answers its events, or none.
    Auth0: https://auth0.com/docs/api/management/v2/users/get-logs-by-user"""
    return list_events(filter=Q(user_id=user_id), page=page, per_page=per_page, sort=sort, count=count)
