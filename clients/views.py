"""``POST /oauth/token`` (client credentials) and ``GET /.well-known/jwks.json``.

These speak OAuth, not the management API: errors are ``{error, error_description}`` (RFC 6749 §5.2).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions as drf
from rest_framework.parsers import FormParser
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clients.errors import OAuthError
from clients.scopes import parse_scopes
from clients.services import authenticate_client
from clients.tokens import issue_token
from config.api_docs import JwksDoc, OAuthErrorDoc, TokenRequestDoc, TokenResponseDoc, errors
from config.exceptions import exception_handler
from config.parsers import StrictJSONParser

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, OAuthError):
        headers = dict(_NO_STORE)
        if exc.status == 401 and getattr(context.get("request"), "used_basic_auth", False):
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        return Response({"error": exc.error, "error_description": exc.description}, exc.status, headers=headers)
    if isinstance(exc, drf.ParseError | drf.UnsupportedMediaType):
        return Response(
            {"error": "invalid_request", "error_description": _("The body must be JSON or form-encoded.")},
            400,
        )
    if isinstance(exc, drf.MethodNotAllowed):
        return Response({"error": "invalid_request", "error_description": str(exc.detail)}, 405)
    if isinstance(exc, drf.Throttled):
        return Response(
            {"error": "too_many_requests", "error_description": _("Too many requests")},
            429,
            headers={"Retry-After": str(int(exc.wait or 1) + 1)},
        )
    return exception_handler(exc, context)


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise OAuthError(400, "invalid_request", _("Malformed HTTP Basic credentials.")) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError(400, "invalid_request", _("Malformed HTTP Basic credentials."))
    # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined.
    return unquote(client_id), unquote(secret)


def _string(data: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise OAuthError(400, "invalid_request", _("Missing required parameter: %(name)s") % {"name": name})
        return None
    if not isinstance(value, str):
        raise OAuthError(400, "invalid_request", _("Parameter %(name)s must be a string.") % {"name": name})
    return value


class TokenView(APIView):
    """Client-credentials grant for the management API, as Auth0's ``/oauth/token`` answers it."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [StrictJSONParser, FormParser]

    def get_exception_handler(self) -> Any:
        return oauth_exception_handler

    @extend_schema(
        operation_id="post_token",
        summary="Get a management API token (client credentials)",
        request=TokenRequestDoc,
        responses={
            200: TokenResponseDoc,
            400: OAuthErrorDoc,
            401: OAuthErrorDoc,
            403: OAuthErrorDoc,
            **errors(411, 413),  # the body guards answer before the view, in the management envelope
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, Mapping):
            raise OAuthError(400, "invalid_request", _("The body must be a JSON object or a form."))
        grant_type = _string(data, "grant_type")
        if grant_type != "client_credentials":
            raise OAuthError(
                400, "unsupported_grant_type", _("Unsupported grant type: %(grant)s") % {"grant": grant_type}
            )
        basic = _basic_credentials(request)
        request.used_basic_auth = basic is not None  # type: ignore[attr-defined]
        if basic is not None:
            client_id, secret = basic
        else:
            client_id = _string(data, "client_id") or ""
            secret = _string(data, "client_secret") or ""
        if data.get("organization") is not None:  # the SDK always sends "organization": null
            raise OAuthError(400, "invalid_request", _("Organizations are not supported."))
        audience = _string(data, "audience", required=False) or settings.MANAGEMENT_API_AUDIENCE
        requested = parse_scopes(_string(data, "scope", required=False) or "")

        client = authenticate_client(client_id=client_id, secret=secret)
        if client is None:
            raise OAuthError(401, "access_denied", _("Unauthorized"))
        if audience != settings.MANAGEMENT_API_AUDIENCE:
            raise OAuthError(
                403,
                "access_denied",
                _("Service not enabled within domain: %(audience)s") % {"audience": audience},
            )
        if not client.scopes:
            raise OAuthError(
                403,
                "access_denied",
                _('Client is not authorized to access "%(audience)s". No scopes are granted to it.')
                % {"audience": audience},
            )
        scopes = [scope for scope in client.scopes if not requested or scope in requested]
        lifetime = settings.ACCESS_TOKEN_LIFETIME_SECONDS
        body: dict[str, Any] = {
            "access_token": issue_token(client_id=client.client_id, scopes=scopes, expires_in=lifetime),
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        if scopes:
            body["scope"] = " ".join(scopes)
        return Response(body, headers=_NO_STORE)


class JwksView(APIView):
    """The public signing key, so resource servers can verify our tokens themselves."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="get_jwks", summary="The token signing keys", responses={200: JwksDoc}, auth=[])
    def get(self, request: Request) -> Response:
        key = settings.JWT_SIGNING_KEY
        public = serialization.load_pem_public_key(key.public_pem.encode())
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
        jwk.update({"kid": key.kid, "alg": "RS256", "use": "sig"})
        return Response({"keys": [jwk]}, headers={"Cache-Control": "public, max-age=300"})
