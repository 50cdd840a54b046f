"""The connections endpoints of the management API: thin views over ``connections.services``."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView, select_fields
from api.bearer import client_actor
from api.docs import BODY_ERRORS, CONNECTIONS_LIST, ConnectionDoc, errors
from api.management.paging import check_connections_page
from connections.selectors import get_connection_by_id, list_connections
from connections.serializers import (
    ConnectionFieldsQuerySerializer,
    CreateConnectionRequestSerializer,
    ListConnectionsQuerySerializer,
    UpdateConnectionRequestSerializer,
)
from connections.services import (
    ConnectionDeletion,
    connection_as_json,
    create_connection,
    delete_connection,
    update_connection,
)
from core.schema import validate_payload, validate_query

# Auth0's OAS: "The amount of entries per page. Defaults to 100 if not provided" (checkpoint ``take``: 50).
DEFAULT_PER_PAGE = 100
DEFAULT_TAKE = 50

_CONNECTION_ID = OpenApiParameter("connection_id", str, OpenApiParameter.PATH, description="The id of the connection.")


class ConnectionCollectionView(ManagementAPIView):
    required_scopes = {"POST": ("create:connections",), "GET": ("read:connections",)}

    @extend_schema(
        operation_id="post_connections",
        summary="Create a connection",
        request=CreateConnectionRequestSerializer,
        responses={201: ConnectionDoc, **errors(400, 401, 403, 409, 429, *BODY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        data = validate_payload(CreateConnectionRequestSerializer, request.data)
        connection = create_connection(**data, actor=client_actor(request))
        return Response(connection_as_json(connection), status=201)

    @extend_schema(
        operation_id="get_connections",
        summary="Get all connections",
        description=(
            "Connections by offset (`page`, `per_page`) or by checkpoint (`from`, `take`). As on Auth0, checkpoint "
            "paging is the one for more than 1000 connections: an offset page reaching past them, "
            "`(page + 1) * per_page > 1000`, is refused with 400 `invalid_paging` (`Requesting page 10 exceeds the "
            "allowed maximum of 1000 records. To fetch results beyond 1000, use the checkpoint pagination method.`)."
        ),
        parameters=[ListConnectionsQuerySerializer],
        responses={200: CONNECTIONS_LIST, **errors(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        query = validate_query(ListConnectionsQuerySerializer, request.query_params)
        strategies = query.get("strategy") or None
        connections = list_connections(strategies=strategies, name=query.get("name"))
        if "take" in query or "from" in query:
            return Response(self._checkpoint_page(connections, query))
        per_page = query.get("per_page", DEFAULT_PER_PAGE)
        check_connections_page(page=query.get("page", 0), per_page=per_page)
        start = query.get("page", 0) * per_page
        page = [select_fields(connection_as_json(c), query) for c in connections[start : start + per_page]]
        if not query.get("include_totals"):
            return Response(page)
        return Response({"start": start, "limit": per_page, "total": connections.count(), "connections": page})

    @staticmethod
    def _checkpoint_page(connections: Any, query: dict[str, Any]) -> dict[str, Any]:
        """Auth0's checkpoint pagination (``from``/``take``, answering ``next``), which the SDKs use."""
        take = query.get("take", DEFAULT_TAKE)
        if query.get("from"):
            connections = connections.filter(id__gt=query["from"])
        rows = list(connections[: take + 1])
        body: dict[str, Any] = {"connections": [select_fields(connection_as_json(c), query) for c in rows[:take]]}
        if len(rows) > take:
            body["next"] = rows[take - 1].id
        return body


class ConnectionDetailView(ManagementAPIView):
    required_scopes = {
        "GET": ("read:connections",),
        "PATCH": ("update:connections",),
        "DELETE": ("delete:connections",),
    }

    @extend_schema(
        operation_id="get_connections_by_id",
        summary="Get a connection",
        parameters=[ConnectionFieldsQuerySerializer, _CONNECTION_ID],
        responses={200: ConnectionDoc, **errors(400, 401, 403, 404, 429)},
    )
    def get(self, request: Request, connection_id: str) -> Response:
        query = validate_query(ConnectionFieldsQuerySerializer, request.query_params)
        connection = get_connection_by_id(connection_id=connection_id)
        return Response(select_fields(connection_as_json(connection), query))

    @extend_schema(
        operation_id="patch_connections_by_id",
        summary="Update a connection",
        parameters=[_CONNECTION_ID],
        request=UpdateConnectionRequestSerializer,
        responses={200: ConnectionDoc, **errors(400, 401, 403, 404, 429, *BODY_ERRORS)},
    )
    def patch(self, request: Request, connection_id: str) -> Response:
        data = validate_payload(UpdateConnectionRequestSerializer, request.data)
        connection = update_connection(connection_id=connection_id, **data, actor=client_actor(request))
        return Response(connection_as_json(connection))

    @extend_schema(
        operation_id="delete_connections_by_id",
        summary="Delete a connection (and its users)",
        description=(
            "Deletes the connection and, as Auth0 does, every user in it, each one's `user.deleted` event written. "
            "A connection with at most `CONNECTION_DELETE_SYNC_MAX_USERS` users (1,000 by default) is deleted "
            "before the answer, 204. A larger one is answered 202 at once: from then on it is gone for every reader "
            "and writer (404 here, `inexistent_connection` wherever a connection is named, its users cannot log in) "
            "while the worker deletes its users in batches, then the connection; its name stays taken (409 "
            "`connection_conflict` for a new connection of that name) until then. A DELETE of a connection being "
            "deleted answers 202 again."
        ),
        parameters=[_CONNECTION_ID],
        responses={
            202: OpenApiResponse(
                description=(
                    "The connection is being deleted: its users are deleted in the background, then the connection."
                )
            ),
            204: OpenApiResponse(
                description="The connection no longer exists: it and its users are gone, each user's `user.deleted` "
                "event written."
            ),
            **errors(401, 403, 404, 429),
        },
    )
    def delete(self, request: Request, connection_id: str) -> Response:
        outcome = delete_connection(connection_id=connection_id, actor=client_actor(request))
        return Response(status=202 if outcome is ConnectionDeletion.STARTED else 204)
