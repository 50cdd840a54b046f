"""``GET /api/v2/logs`` and ``GET /api/v2/logs/{id}``, in the shape of Auth0's logs API."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView, select_fields
from api.docs import LOGS_LIST, LogDoc, errors
from api.management.paging import check_logs_page
from audit.errors import LogNotFound
from audit.models import Event
from audit.serializers import ListLogsQuerySerializer
from core.schema import validate_query
from users.profile import format_timestamp


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


class LogCollectionView(ManagementAPIView):
    required_scopes = {"GET": ("read:logs",)}

    @extend_schema(
        operation_id="get_logs",
        summary="Search log events",
        description=(
            "Log events page by page (`page`, `per_page`). As on Auth0, paging goes through the first 1000 events "
            "only: a page starting past them, `page * per_page > 1000`, is refused with 400 `invalid_paging` "
            "(`Requesting page 11 exceeds the allowed maximum of 1000 records: please consider searching by "
            "checkpoint https://auth0.com/docs/logs/retrieve-log-events-using-mgmt-api#retrieve-logs-by-checkpoint`)"
            "; `include_totals` still counts every event."
        ),
        parameters=[ListLogsQuerySerializer],
        responses={200: LOGS_LIST, **errors(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        query = validate_query(ListLogsQuerySerializer, request.query_params)
        order = "date" if query.get("sort") == "date:1" else "-date"
        events = Event.objects.order_by(order, order.replace("date", "id"))
        per_page = query.get("per_page", 50)
        check_logs_page(page=query.get("page", 0), per_page=per_page)
        start = query.get("page", 0) * per_page
        logs = [select_fields(log_as_json(e), query) for e in events[start : start + per_page]]
        if not query.get("include_totals"):
            return Response(logs)
        return Response({"start": start, "limit": per_page, "length": len(logs), "total": events.count(), "logs": logs})


class LogDetailView(ManagementAPIView):
    required_scopes = {"GET": ("read:logs",)}

    @extend_schema(
        operation_id="get_logs_by_id",
        summary="Get a log event by id",
        parameters=[OpenApiParameter("log_id", str, OpenApiParameter.PATH)],
        responses={200: LogDoc, **errors(401, 403, 404, 429)},
    )
    def get(self, request: Request, log_id: str) -> Response:
        event = Event.objects.filter(log_id=log_id).first()
        if event is None:
            raise LogNotFound()
        return Response(log_as_json(event))
