"""``POST /v1/users``: a plain facade for simple integrations, over the same ``create_user`` service.

Body ``{email, password, name}``; the user goes into ``settings.V1_USERS_CONNECTION``. Errors are
``{"error": "invalid_request" | "email_exists" | "unauthorized", "message": ...}`` with 400 / 409 / 401; every
other refusal keeps its own status and code (``idempotency_key_reused`` 422, ``idempotency_request_in_progress``
409, ``invalid_idempotency_key`` 400, ``too_many_requests`` 429, ...): ``api.v1.problems`` writes them.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView
from api.bearer import bearer_principal, client_actor
from api.docs import V1ErrorDoc, V1UserDoc
from api.v1 import problems
from core.schema import validate_payload
from idempotency.keys import idempotent
from users.profile import format_timestamp
from users.public_serializers import V1CreateUserSerializer
from users.services import create_user


class V1UsersView(ManagementAPIView):
    required_scopes = {"POST": ("create:users",)}
    problem_renderer = staticmethod(problems.render)

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
