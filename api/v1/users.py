"""``POST /v1/users``: a plain facade for simple integrations, over the same ``create_user`` service.

Body ``{email, password, name}``; the user goes into ``settings.V1_USERS_CONNECTION``. Errors are
``{"error": "invalid_request" | "email_exists" | "unauthorized", "message": ...}`` with 400 / 409 / 401; every
other refusal keeps its own status and code (``idempotency_key_reused`` 422, ``idempotency_request_in_progress``
409, ``invalid_idempotency_key`` 400, ``too_many_requests`` 429, ...).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions as drf
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView
from api.bearer import bearer_principal, client_actor
from api.docs import V1ErrorDoc, V1UserDoc
from api.parsers import FormParseError
from api.problems import exception_handler
from api.throttling import retry_after_header
from connections.errors import ConnectionNotFound
from connections.password_policy import PasswordPolicyError
from core.errors import DomainError, PayloadValidationError, as_domain_error
from core.schema import validate_payload
from idempotency.keys import idempotent
from users.errors import UserAlreadyExists
from users.profile import format_timestamp
from users.public_serializers import V1CreateUserSerializer
from users.services import create_user


def _error(status: int, error: str, message: str, **extra: Any) -> Response:
    return Response({"error": error, "message": message, **extra}, status)


def v1_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = as_domain_error(exc)
    if isinstance(exc, UserAlreadyExists):
        return _error(409, "email_exists", _("A user with this email already exists."))
    if isinstance(exc, PasswordPolicyError):
        failures = [{"field": "password", "code": code, "message": text} for code, text in exc.failures]
        return _error(400, "invalid_request", f"{_(exc.message)}.", errors=failures)
    if isinstance(exc, ConnectionNotFound):
        return _error(503, "service_unavailable", _("The connection for /v1/users is not configured on this server."))
    if isinstance(exc, PayloadValidationError):
        return _error(400, "invalid_request", exc.message, errors=[e.as_dict() for e in exc.errors])
    if isinstance(exc, DomainError):
        # Its own code, never a generic one: a 409 "invalid_request" for a key still in progress would read, on
        # this contract, like email_exists, and a client could not tell "still running" from "taken".
        return _error(exc.status, exc.code, exc.message)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return Response(
            {"error": "unauthorized", "message": str(exc.detail)},
            401,
            headers={"WWW-Authenticate": 'Bearer realm="management-api"'},
        )
    if isinstance(exc, drf.PermissionDenied):
        # The facade's contract has a single "unauthorized" error for missing tokens and missing scopes; a 401
        # must still carry a challenge (RFC 9110 §15.5.2), here RFC 6750's insufficient_scope.
        return Response(
            {"error": "unauthorized", "message": str(exc.detail)},
            401,
            headers={"WWW-Authenticate": 'Bearer realm="management-api", error="insufficient_scope"'},
        )
    if isinstance(exc, FormParseError):
        return _error(400, "invalid_request", str(exc.detail))
    if isinstance(exc, drf.ParseError | drf.UnsupportedMediaType):
        return _error(400, "invalid_request", _("The body must be a JSON object."))
    if isinstance(exc, drf.Throttled):
        return Response(
            {"error": "too_many_requests", "message": _("Too many requests. Try again later.")},
            429,
            # DRF sets Throttled.wait; its stubs omit it.
            headers={"Retry-After": retry_after_header(exc.wait)},  # type: ignore[attr-defined]
        )
    return exception_handler(exc, context)


class V1UsersView(ManagementAPIView):
    required_scopes = {"POST": ("create:users",)}

    def get_exception_handler(self) -> Any:
        return v1_exception_handler

    @idempotent("POST /v1/users", caller=lambda request: f"client:{bearer_principal(request).client_id}")
    @extend_schema(
        operation_id="post_v1_users",
        summary="Create a new user (plain facade)",
        request=V1CreateUserSerializer,
        responses={
            201: V1UserDoc,
            **{status: V1ErrorDoc for status in (400, 401, 409, 411, 413, 422, 429, 503)},
        },
    )
    def post(self, request: Request) -> Response:
        data = validate_payload(V1CreateUserSerializer, request.data)
        user = create_user(data={**data, "connection": settings.V1_USERS_CONNECTION}, actor=client_actor(request))
        body = {
            "id": user.user_id,
            "email": user.email,
            "name": user.name,
            "status": "blocked" if user.blocked else "active",
            "created_at": format_timestamp(user.created_at),
            "updated_at": format_timestamp(user.updated_at),
        }
        return Response(body, status=201)
