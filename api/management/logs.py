"""``GET /api/v2/logs``, ``GET /api/v2/logs/{id}`` and ``GET /api/v2/users/{id}/logs``, in the shape of Auth0's
logs API: thin views over ``audit.selectors``."""

from __future__ import annotations

import operator
from functools import reduce
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView, select_fields
from api.docs import LOGS_LIST, LogDoc, errors
from api.management.paging import check_logs_page
from audit.models import Event
from audit.search import event_filter
from audit.selectors import EventPage, events_after, events_of_user, get_event, list_events
from audit.serializers import ListLogsQuerySerializer, UserLogsQuerySerializer
from core.schema import validate_query
from users.profile import format_timestamp

# Auth0's OAS: per_page "Default: 50"; take "Default 50, max 100".
DEFAULT_PER_PAGE = 50
DEFAULT_TAKE = 50
# Auth0's OAS: get_logs, get_logs_by_id and get_logs_by_user each take "any of: read:logs, read:logs_users".
READ_LOGS = ("read:logs", "read:logs_users")


def log_as_json(event: Event) -> dict[str, Any]:
    """Auth0's log entry; the client is the token's client (or the sign-up's), else empty."""
    client_id = event.actor_id if event.actor_kind in ("client", "anonymous") else ""
    return {
        "log_id": event.log_id,
        "date": format_timestamp(event.date),
        "type": event.type,
        "description": event.description,
        "client_id": client_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "user_id": event.user_id,
        "user_name": event.user_name,
        "connection": event.connection,
        "connection_id": event.connection_id,
        "details": {**event.details, "actor": {"kind": event.actor_kind, "id": event.actor_id}},
    }


def logs_body(page: EventPage, query: dict[str, Any]) -> list[dict[str, Any]] | dict[str, Any]:
    """A page as Auth0 answers it: the array of entries, or with ``include_totals`` the object that counts them."""
    logs = [select_fields(log_as_json(event), query) for event in page.events]
    if page.total is None:
        return logs
    return {"start": page.start, "limit": page.limit, "length": len(logs), "total": page.total, "logs": logs}


def _search(query: dict[str, Any]) -> Q | None:
    """The filter of ``q`` and ``search`` (the SDKs' name for it), each a Lucene query; both must match when both are
    sent. None when neither is: every event."""
    filters = [event_filter(query[name]) for name in ("q", "search") if query.get(name)]
    return reduce(operator.and_, filters) if filters else None


def _sort(query: dict[str, Any]) -> int:
    return 1 if query.get("sort") == "date:1" else -1


_CHECKPOINT_RULES = (
    "**By checkpoint** (`from`, `take`): up to `take` events (default 50, at most 100) recorded after the event "
    "whose `log_id` is `from`, oldest first, as a plain array, with no 1000-record limit. Pass the last `log_id` "
    "you received as the next `from`; the `Link` header's `next` relation is that URL (the same URL when nothing "
    "newer exists yet). As on Auth0, every other parameter is ignored when `from` is given (still type-checked); "
    "an empty `from` is no checkpoint and `take` without `from` is ignored. A `from` that is no event's `log_id` is "
    "400 `invalid_query_string` (our ids are random, so an unknown one marks no place in the log). Two events of "
    "the same instant are ordered by their insertion, so a checkpoint between them neither skips nor repeats one."
)


_NEXT_LINK = OpenApiParameter(
    "Link",
    str,
    OpenApiParameter.HEADER,
    response=[200],
    description='By checkpoint only: `<https://.../api/v2/logs?from=LAST_LOG_ID&take=N>; rel="next"`, the next call.',
)


class LogCollectionView(ManagementAPIView):
    required_scopes = {"GET": READ_LOGS}

    @extend_schema(
        operation_id="get_logs",
        summary="Search log events",
        description=(
            "**By search criteria** (`page`, `per_page`, `sort`, `include_totals`): as on Auth0, paging goes through "
            "the first 1000 events only: a page starting past them, `page * per_page > 1000`, is refused with 400 "
            "`invalid_paging` (`Requesting page 11 exceeds the allowed maximum of 1000 records: please consider "
            "searching by checkpoint https://auth0.com/docs/logs/retrieve-log-events-using-mgmt-api#retrieve-logs-"
            "by-checkpoint`); `include_totals` still counts every event. `q` searches in Lucene syntax as Auth0's "
            '"Log Search Query Syntax" describes (fields in the parameter\'s description; a malformed query is 400 '
            "`invalid_query_string` naming the problem; an unknown field matches nothing). `search` takes the same "
            "query under the name the official SDKs send (auth0-python's `logs.list(search=...)`); with `q` as well, "
            "an event must match both.\n\n" + _CHECKPOINT_RULES
        ),
        parameters=[ListLogsQuerySerializer, _NEXT_LINK],
        responses={200: LOGS_LIST, **errors(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        query = validate_query(ListLogsQuerySerializer, request.query_params)
        if query.get("from"):
            return self._checkpoint(request, checkpoint=query["from"], take=query.get("take", DEFAULT_TAKE))
        per_page = query.get("per_page", DEFAULT_PER_PAGE)
        check_logs_page(page=query.get("page", 0), per_page=per_page)
        count = query.get("include_totals", False)
        page = list_events(
            filter=_search(query), page=query.get("page", 0), per_page=per_page, sort=_sort(query), count=count
        )
        return Response(logs_body(page, query))

    @staticmethod
    def _checkpoint(request: Request, *, checkpoint: str, take: int) -> Response:
        """Auth0's "Retrieve logs by checkpoint": the events after ``checkpoint`` and a ``Link`` to the next call."""
        events = events_after(checkpoint=checkpoint, take=take)
        following = {"from": events[-1].log_id if events else checkpoint, "take": take}
        link = request.build_absolute_uri(f"{request.path}?{urlencode(following)}")
        return Response([log_as_json(event) for event in events], headers={"Link": f'<{link}>; rel="next"'})


class LogDetailView(ManagementAPIView):
    required_scopes = {"GET": READ_LOGS}

    @extend_schema(
        operation_id="get_logs_by_id",
        summary="Get a log event by id",
        parameters=[OpenApiParameter("log_id", str, OpenApiParameter.PATH)],
        responses={200: LogDoc, **errors(401, 403, 404, 429)},
    )
    def get(self, request: Request, log_id: str) -> Response:
        return Response(log_as_json(get_event(log_id=log_id)))


class UserLogsView(ManagementAPIView):
    required_scopes = {"GET": READ_LOGS}

    @extend_schema(
        operation_id="get_logs_by_user",
        summary="Get user's log events",
        description=(
            "The events that name the user, newest first (`sort=date:1` for oldest first), by `page` and `per_page` "
            "(1 to 100, default 50); `include_totals` answers `{start, limit, length, total, logs}`. As Auth0 pages "
            "its log search, a page starting past the first 1000 events is refused with 400 `invalid_paging`. "
            "Auth0 lists no 404 here: an id no user has (a deleted user's, whose events stay on record, or one that "
            "never existed) answers its events, or an empty list."
        ),
        parameters=[UserLogsQuerySerializer, OpenApiParameter("user_id", str, OpenApiParameter.PATH)],
        responses={200: LOGS_LIST, **errors(400, 401, 403, 429)},
    )
    def get(self, request: Request, user_id: str) -> Response:
        query = validate_query(UserLogsQuerySerializer, request.query_params)
        per_page = query.get("per_page", DEFAULT_PER_PAGE)
        check_logs_page(page=query.get("page", 0), per_page=per_page)
        count = query.get("include_totals", False)
        page = events_of_user(
            user_id=user_id, page=query.get("page", 0), per_page=per_page, sort=_sort(query), count=count
        )
        return Response(logs_body(page, query))
