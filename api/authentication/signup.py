"""``POST /dbconnections/signup``: Auth0's Authentication API sign-up, errors in its own shape.

Errors are ``{name, code, description, statusCode}`` (password errors add ``message`` and ``policy``), never
the management envelope. A taken e-mail or username answers the generic ``invalid_signup`` unless
``SIGNUP_USER_EXISTS_ERROR`` is on, so the endpoint cannot be used to find out who has an account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions as drf
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from api.docs import SignupErrorDoc, SignupResponseDoc
from api.parsers import FormParseError, StrictFormParser, StrictJSONParser
from api.problems import exception_handler
from api.throttling import ClientIPRateThrottle, retry_after_header
from connections.errors import ConnectionNotFound
from connections.password_policy import PasswordPolicyError
from core.actors import Actor, request_metadata
from core.errors import DomainError, PayloadValidationError, as_domain_error
from core.schema import validate_payload
from idempotency.keys import idempotent, keyed_digest
from users.errors import UserAlreadyExists
from users.fields import EMAIL, PROFILE_FIELDS, USERNAME
from users.public_serializers import SignupRequestSerializer
from users.signup import SignupRefused, record_refused_signup, sign_up

# What the answer echoes of the user, when the body gave it (Auth0's sign-up response).
_ECHOED = (EMAIL.name, USERNAME.name, *PROFILE_FIELDS)


def _bad_request(code: str, description: Any, name: str = "BadRequestError", **extra: Any) -> dict[str, Any]:
    return {"name": name, "code": code, "description": description, **extra, "statusCode": 400}


def signup_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    exc = as_domain_error(exc)
    if isinstance(exc, PasswordPolicyError):
        body: dict[str, Any] = {
            "name": exc.name,
            "message": _(exc.message),
            "code": "invalid_password",
            "description": exc.description,
        }
        if exc.policy is not None:
            body["policy"] = exc.policy
        body["statusCode"] = 400
        return Response(body, 400)
    if isinstance(exc, UserAlreadyExists):
        if settings.SIGNUP_USER_EXISTS_ERROR:
            return Response(_bad_request("user_exists", _("The user already exists.")), 400)
        return Response(_bad_request("invalid_signup", _("Invalid sign up")), 400)
    if isinstance(exc, SignupRefused):
        return Response(_bad_request(exc.code, exc.description), 400)
    if isinstance(exc, ConnectionNotFound):
        return Response(_bad_request("invalid_connection", _("The connection does not exist.")), 400)
    if isinstance(exc, PayloadValidationError):
        errors = [error.as_dict() for error in exc.errors]
        return Response(_bad_request("invalid_body", exc.message, errors=errors), 400)
    if isinstance(exc, DomainError):
        body = {
            "name": "BadRequestError",
            "code": exc.code,
            "description": exc.message,
            "statusCode": exc.status,
        }
        return Response(body, exc.status)
    if isinstance(exc, drf.ParseError | drf.UnsupportedMediaType):
        status = 415 if isinstance(exc, drf.UnsupportedMediaType) else 400
        body = {
            "name": "BadRequestError",
            "code": "invalid_body",
            "description": str(exc.detail)
            if isinstance(exc, FormParseError)
            else _("The body must be a JSON object or form-encoded."),
            "statusCode": status,
        }
        return Response(body, status)
    if isinstance(exc, drf.Throttled):
        body = {
            "name": "TooManyRequestsError",
            "code": "too_many_requests",
            "description": _("Too many sign-ups from this address. Try again later."),
            "statusCode": 429,
        }
        # DRF sets Throttled.wait; its stubs omit it.
        return Response(body, 429, headers={"Retry-After": retry_after_header(exc.wait)})  # type: ignore[attr-defined]
    return exception_handler(exc, context)


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

    def get_exception_handler(self) -> Any:
        return signup_exception_handler

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
