"""``POST /dbconnections/signup``: Auth0's Authentication API sign-up, errors in its own shape.

Errors are ``{name, code, description, statusCode}`` (password errors add ``message`` and ``policy``), written by
``api.authentication.problems``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from api.authentication import problems
from api.docs import SignupErrorDoc, SignupResponseDoc
from api.parsers import StrictFormParser, StrictJSONParser
from api.throttling import ClientIPRateThrottle
from core.actors import Actor, request_metadata
from core.errors import PayloadValidationError
from core.schema import validate_payload
from idempotency.keys import idempotent, keyed_digest
from users.fields import EMAIL, PROFILE_FIELDS, USERNAME
from users.public_serializers import SignupRequestSerializer
from users.signup import record_refused_signup, sign_up

# What the answer echoes of the user, when the body gave it (Auth0's sign-up response).
_ECHOED = (EMAIL.name, USERNAME.name, *PROFILE_FIELDS)


def _signup_caller(request: Request) -> str:
    """Whose key this is: the client the body names, seen from the caller's address.

    Sign-ups carry no credential and a client id is public (every copy of the application holds it), so a key
    scoped by the client id alone would let one anonymous caller squat, or read the replayed answer of, a key
    another caller uses. The address narrows the scope to callers behind one address (``NUM_PROXIES`` decides
    which address counts); a retry from another address runs again, and the unique constraints still stop a
    second user. Both parts are kept only as a keyed digest: no address is stored, and any body (no client id,
    an array, NUL) has a caller.
    """
    client_id = request.data.get("client_id") if isinstance(request.data, Mapping) else None
    return f"signup:{keyed_digest('signup-caller', [client_id, BaseThrottle().get_ident(request)])}"


class SignupView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [StrictJSONParser, StrictFormParser]
    throttle_classes = [ClientIPRateThrottle]
    problem_renderer = staticmethod(problems.render)

    @idempotent("POST /dbconnections/signup", caller=_signup_caller)
    @extend_schema(
        operation_id="post_signup",
        summary="Sign up a user (Authentication API)",
        request=SignupRequestSerializer,
        responses={
            200: SignupResponseDoc,
            400: SignupErrorDoc,
            415: SignupErrorDoc,
            **{status: SignupErrorDoc for status in (411, 413, 429)},
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        ip, agent = request_metadata(request)
        client_id = request.data.get("client_id") if hasattr(request.data, "get") else None
        # An anonymous person signing up through the application whose client id the body names.
        actor = Actor(kind="anonymous", id=str(client_id or "unknown")[:64], ip=ip, user_agent=agent)
        try:
            data = validate_payload(SignupRequestSerializer, request.data)
        except PayloadValidationError as exc:
            record_refused_signup(body=request.data, error=exc, actor=actor)
            raise
        user = sign_up(data=data, actor=actor)
        body: dict[str, Any] = {"_id": user.identity_user_id, "email_verified": user.email_verified}
        body.update({field: getattr(user, field) for field in _ECHOED if field in data})
        return Response(body, status=200)
