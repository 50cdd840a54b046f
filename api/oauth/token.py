"""``POST /oauth/token`` (client credentials) and ``GET /.well-known/jwks.json``.

These speak OAuth, not the management API: errors are ``{error, error_description}`` (RFC 6749 §5.2).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import QueryDict
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from api.docs import JwksDoc, OAuthErrorDoc, TokenRequestDoc, TokenResponseDoc
from api.oauth import problems
from api.oauth.problems import NO_STORE
from api.parsers import StrictFormParser, StrictJSONParser
from api.throttling import (
    CLIENT_AUTH_FAILURES_PER_CLIENT,
    CLIENT_AUTH_FAILURES_PER_IP,
    LOGIN_FAILURES_PER_IP,
    LOGIN_FAILURES_PER_USERNAME,
    FailureLimit,
    Reserved,
    give_back_failures,
    reserve_failures,
)
from clients.errors import ClientErrorCode, OAuthError
from clients.models import Client
from clients.scopes import parse_scopes
from clients.services import authenticate_client
from clients.tokens import PASSWORD, issue_token
from connections.models import Strategy
from core.actors import Actor, request_metadata
from core.schema import storable_text, text_fault
from users.credentials.login import log_in
from users.errors import UserBlocked, WrongCredentials


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """The client id and secret of an ``Authorization: Basic`` header, or None without one.

    Raises ``OAuthError`` 400 ``invalid_request`` for a header that is not base64 of UTF-8 ``id:secret``, whose
    percent-escapes are not UTF-8, or whose parts hold text no database can store (``core.schema.text_fault``).
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:  # ValueError: binascii.Error, or a non-ASCII header
        raise OAuthError(400, ClientErrorCode.INVALID_REQUEST, _("Malformed HTTP Basic credentials.")) from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise OAuthError(400, ClientErrorCode.INVALID_REQUEST, _("Malformed HTTP Basic credentials."))
    # RFC 6749 §2.3.1: both parts are form-urlencoded before being joined. Decoded strictly: an escape that is
    # not UTF-8 ("%FF", the lone surrogate "%ED%A0%80") is refused, never checked as a U+FFFD secret.
    try:
        client_id, secret = unquote(client_id, errors="strict"), unquote(secret, errors="strict")
    except UnicodeDecodeError as exc:
        raise OAuthError(400, ClientErrorCode.INVALID_REQUEST, _("Malformed HTTP Basic credentials.")) from exc
    if text_fault(client_id) is not None or text_fault(secret) is not None:
        raise OAuthError(400, ClientErrorCode.INVALID_REQUEST, _("Malformed HTTP Basic credentials."))
    return client_id, secret


def _check_parameters(data: Mapping[str, Any]) -> None:
    """Every parameter's name and text value must be text the databases can store, and no parameter may be sent
    more than once, before any is used.

    A NUL or a lone surrogate would otherwise reach a lookup (client, connection, user) or an echoed error
    description and end in a 500; a repeated form parameter would silently be read as its last value (RFC 6749
    §3.2: "Request and response parameters MUST NOT be included more than once"). Raises ``OAuthError`` 400
    ``invalid_request`` (RFC 6749 §5.2).
    """
    for name in data:
        values = data.getlist(name) if isinstance(data, QueryDict) else [data[name]]
        for text in (name, *(value for value in values if isinstance(value, str))):
            fault = text_fault(text)
            if fault is not None:
                raise OAuthError(
                    400,
                    ClientErrorCode.INVALID_REQUEST,
                    _("Invalid characters in parameter %(name)s: %(reason)s")
                    % {"name": storable_text(name), "reason": fault},
                )
        if len(values) > 1:
            raise OAuthError(
                400,
                ClientErrorCode.INVALID_REQUEST,
                _("Parameter %(name)s is included more than once.") % {"name": name},
            )


def _client_credentials(request: Request, data: Mapping[str, Any]) -> tuple[str, str]:
    """The client id and secret, from HTTP Basic or from the body, never both (RFC 6749 §2.3.1: "The client MUST
    NOT use more than one authentication method in each request").

    A body ``client_id`` beside Basic credentials is accepted only when it names the same client (some OAuth
    libraries always send it); a body ``client_secret`` beside them is a second method. Raises ``OAuthError`` 400
    ``invalid_request``.
    """
    basic = _basic_credentials(request)
    request.used_basic_auth = basic is not None  # type: ignore[attr-defined]
    if basic is None:
        return _string(data, "client_id") or "", _string(data, "client_secret") or ""
    if data.get("client_secret") is not None or data.get("client_id") not in (None, basic[0]):
        raise OAuthError(
            400,
            ClientErrorCode.INVALID_REQUEST,
            _("The client must authenticate with one method only: HTTP Basic or the body, not both."),
        )
    return basic


def _authenticated_client(request: Request, *, client_id: str, secret: str) -> Client:
    """The client these credentials authenticate; failures are counted per address and per client id.

    The budgets are checked before the secret is: a caller past ``CLIENT_AUTH_FAILURES_PER_IP`` or
    ``CLIENT_AUTH_FAILURES_PER_CLIENT`` costs no bcrypt. Raises ``OAuthError`` 429 ``too_many_attempts`` (with
    ``Retry-After``) or 401 ``access_denied`` "Unauthorized" (Auth0's answer to a wrong secret).
    """
    ip = BaseThrottle().get_ident(request) or ""
    held = _reserve_failures(
        (CLIENT_AUTH_FAILURES_PER_IP, ip, _TOO_MANY_CLIENT_FAILURES),
        (CLIENT_AUTH_FAILURES_PER_CLIENT, client_id, _TOO_MANY_CLIENT_FAILURES),
    )
    try:
        client = authenticate_client(client_id=client_id, secret=secret)
    except BaseException:
        give_back_failures(held)
        raise
    if client is None:  # a failure: the reserved failures stay counted
        # A client that tried HTTP Basic is challenged to use it again (RFC 6749 §5.2, invalid_client).
        challenge = 'Basic realm="oauth"' if getattr(request, "used_basic_auth", False) else None
        raise OAuthError(401, ClientErrorCode.ACCESS_DENIED, _("Unauthorized"), challenge=challenge)
    CLIENT_AUTH_FAILURES_PER_IP.give_back(ip)
    CLIENT_AUTH_FAILURES_PER_CLIENT.clear(client_id)
    return client


def _string(data: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise OAuthError(
                400, ClientErrorCode.INVALID_REQUEST, _("Missing required parameter: %(name)s") % {"name": name}
            )
        return None
    if not isinstance(value, str):
        raise OAuthError(
            400, ClientErrorCode.INVALID_REQUEST, _("Parameter %(name)s must be a string.") % {"name": name}
        )
    return value


class TokenView(APIView):
    """Client-credentials grant for the management API, as Auth0's ``/oauth/token`` answers it."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    parser_classes = [StrictJSONParser, StrictFormParser]

    problem_renderer = staticmethod(problems.render)

    @extend_schema(
        operation_id="post_token",
        summary="Get a token (client credentials, or a user's password)",
        description=(
            "client_credentials: a management API token for the client's granted scopes. password and "
            "http://auth0.com/oauth/grant-type/password-realm: an end user's token (sub = user_id, gty password, "
            "OpenID scopes only), never accepted by the management API. Wrong e-mail, username or password: 403 "
            "invalid_grant; blocked user: 401 unauthorized; too many failed attempts per IP or username: 429 "
            "too_many_attempts; no realm and no DEFAULT_DIRECTORY: 500 server_error, as Auth0 answers. The client "
            "authenticates with HTTP Basic or client_id and client_secret in the body, never both (400 "
            "invalid_request); a NUL or a lone surrogate in any parameter is 400 invalid_request; too many failed "
            "client authentications per IP or per client id: 429 too_many_attempts, before the secret is checked."
        ),
        request=TokenRequestDoc,
        responses={
            200: TokenResponseDoc,
            400: OAuthErrorDoc,
            401: OAuthErrorDoc,
            403: OAuthErrorDoc,
            **{status: OAuthErrorDoc for status in (411, 413, 429, 500, 503)},
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, Mapping):
            raise OAuthError(400, ClientErrorCode.INVALID_REQUEST, _("The body must be a JSON object or a form."))
        _check_parameters(data)
        grant_type = _string(data, "grant_type")
        if grant_type != "client_credentials" and grant_type not in PASSWORD_GRANTS:
            raise OAuthError(
                400,
                ClientErrorCode.UNSUPPORTED_GRANT_TYPE,
                _("Unsupported grant type: %(grant)s") % {"grant": grant_type},
            )
        client_id, secret = _client_credentials(request, data)
        if data.get("organization") is not None:  # the SDK always sends "organization": null
            raise OAuthError(400, ClientErrorCode.INVALID_REQUEST, _("Organizations are not supported."))
        if grant_type in PASSWORD_GRANTS:
            return _password_grant(request, data, client_id=client_id, secret=secret)
        audience = _string(data, "audience", required=False) or settings.MANAGEMENT_API_AUDIENCE
        requested = parse_scopes(_string(data, "scope", required=False) or "")

        client = _authenticated_client(request, client_id=client_id, secret=secret)
        if audience != settings.MANAGEMENT_API_AUDIENCE:
            raise OAuthError(
                403,
                ClientErrorCode.ACCESS_DENIED,
                _("Service not enabled within domain: %(audience)s") % {"audience": audience},
            )
        if not client.scopes:
            raise OAuthError(
                403,
                ClientErrorCode.ACCESS_DENIED,
                _('Client is not authorized to access "%(audience)s". No scopes are granted to it.')
                % {"audience": audience},
            )
        scopes = [scope for scope in client.scopes if not requested or scope in requested]
        lifetime = settings.ACCESS_TOKEN_LIFETIME_SECONDS
        body: dict[str, Any] = {
            "access_token": issue_token(
                client_id=client.client_id, scopes=scopes, expires_in=lifetime, generation=client.token_generation
            ),
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        if scopes:
            body["scope"] = " ".join(scopes)
        return Response(body, headers=NO_STORE)


PASSWORD_GRANTS = ("password", "http://auth0.com/oauth/grant-type/password-realm")
# What an end user's token may carry: OpenID Connect scopes only, never a management API permission.
# (offline_access is not granted: no refresh tokens are issued.)
USER_SCOPES = ("openid", "profile", "email")


def _password_audiences() -> set[str]:
    return {settings.MANAGEMENT_API_AUDIENCE, f"{settings.AUTH_ISSUER}userinfo", *settings.PASSWORD_GRANT_AUDIENCES}


def _password_grant(request: Request, data: Mapping[str, Any], *, client_id: str, secret: str) -> Response:
    """Resource-owner password grants, as Auth0 answers them; the client authenticates as for client credentials."""
    username = _string(data, "username") or ""
    password = _string(data, "password") or ""
    realm = _string(data, "realm", required=False)
    audience = _string(data, "audience", required=False) or f"{settings.AUTH_ISSUER}userinfo"
    requested = parse_scopes(_string(data, "scope", required=False) or "openid")

    client = _authenticated_client(request, client_id=client_id, secret=secret)
    connection_name = realm or settings.DEFAULT_DIRECTORY
    if not connection_name:
        raise OAuthError(
            500, ClientErrorCode.SERVER_ERROR, _("Authorization server not configured with default connection.")
        )
    connection = client.connections.filter(name=connection_name, strategy=Strategy.AUTH0).first()
    if connection is None:  # unknown, not a database connection, or not enabled for this client: one answer
        raise OAuthError(400, ClientErrorCode.INVALID_REQUEST, _("the connection is not enabled"))
    if audience not in _password_audiences():
        raise OAuthError(
            403, ClientErrorCode.ACCESS_DENIED, _("Service not found: %(audience)s") % {"audience": audience}
        )

    ip = BaseThrottle().get_ident(request)
    account = f"{connection.pk}:{username.lower()}"
    held = _reserve_failures(
        (LOGIN_FAILURES_PER_IP, ip, _TOO_MANY_FROM_IP),
        (LOGIN_FAILURES_PER_USERNAME, account, _TOO_MANY_FOR_USER),
    )

    _ip, agent = request_metadata(request)
    actor = Actor(kind="client", id=client.client_id, ip=ip, user_agent=agent)
    try:
        user = log_in(connection=connection, username=username, password=password, actor=actor)
    except WrongCredentials as exc:  # a failure: the reserved failures stay counted
        raise OAuthError(exc.status, exc.code, exc.message) from exc
    except UserBlocked as exc:  # the right password: not a failed guess
        give_back_failures(held)
        raise OAuthError(exc.status, exc.code, exc.message) from exc
    except BaseException:
        give_back_failures(held)
        raise
    LOGIN_FAILURES_PER_IP.give_back(ip)
    LOGIN_FAILURES_PER_USERNAME.clear(account)

    scopes = [scope for scope in USER_SCOPES if scope in requested]
    lifetime = settings.ACCESS_TOKEN_LIFETIME_SECONDS
    body: dict[str, Any] = {
        "access_token": issue_token(
            client_id=client.client_id,
            scopes=scopes,
            expires_in=lifetime,
            audience=audience,
            grant_type=PASSWORD,
            subject=user.user_id,
        ),
        "token_type": "Bearer",
        "expires_in": lifetime,
    }
    if scopes:
        body["scope"] = " ".join(scopes)
    return Response(body, headers=NO_STORE)


def _reserve_failures(*limits: tuple[FailureLimit, str, Any]) -> Reserved:
    """``api.throttling.reserve_failures`` for this endpoint: each limit with its identity and the description of
    its 429. Raises ``OAuthError`` 429 ``too_many_attempts`` (with ``Retry-After``) past a limit, and
    ``LimiterUnavailable`` (503) when the store does not answer."""
    held, spent = reserve_failures([(limit, ident) for limit, ident, _description in limits])
    if spent is not None:
        description = limits[spent.index][2]
        raise OAuthError(429, ClientErrorCode.TOO_MANY_ATTEMPTS, str(description), retry_after=spent.retry_after)
    return held


_TOO_MANY_FROM_IP = gettext_lazy(
    "We have detected suspicious login behavior and further attempts will be blocked. Please contact the administrator."
)
_TOO_MANY_FOR_USER = gettext_lazy("Your account has been blocked after multiple consecutive login attempts.")
_TOO_MANY_CLIENT_FAILURES = gettext_lazy("Too many failed client authentications. Try again later.")


class JwksView(APIView):
    """The public signing key, so resource servers can verify our tokens themselves."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="get_jwks", summary="The token signing keys", responses={200: JwksDoc}, auth=[])
    def get(self, request: Request) -> Response:
        key = settings.JWT_SIGNING_KEY
        public = serialization.load_pem_public_key(key.public_pem.encode())
        if not isinstance(public, rsa.RSAPublicKey):  # config.keys loads RSA keys only
            raise ImproperlyConfigured("The JWT signing key must be an RSA key")
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
        jwk.update({"kid": key.kid, "alg": "RS256", "use": "sig"})
        return Response({"keys": [jwk]}, headers={"Cache-Control": "public, max-age=300"})
