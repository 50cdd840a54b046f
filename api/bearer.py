"""Bearer authentication for the management API.

``authenticate_header`` matters: without it DRF turns every 401 into a 403.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated
from rest_framework.request import Request

from clients.errors import InvalidToken
from clients.tokens import TokenPrincipal, verify_token
from core.actors import Actor, request_metadata

# The challenge of every 401 the bearer-token APIs answer (RFC 6750 §3).
BEARER_CHALLENGE = 'Bearer realm="management-api"'


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "bearer"

    def authenticate(self, request: Request) -> tuple[TokenPrincipal, TokenPrincipal] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        parts = header.split()
        if len(parts) != 2 or parts[0].lower() != self.keyword:
            raise _failed(_("Bad HTTP authentication header format"), "invalid_authorization_header")
        try:
            principal = verify_token(parts[1])
        except InvalidToken as exc:
            raise _failed(exc.message, exc.code) from exc
        return principal, principal

    def authenticate_header(self, request: Request) -> str:
        return BEARER_CHALLENGE


def _failed(message: str, code: str) -> AuthenticationFailed:
    exc = AuthenticationFailed(message)
    exc.error_code = code  # type: ignore[attr-defined]
    return exc


def bearer_principal(request: Request) -> TokenPrincipal:
    """The verified bearer token of ``request``, as ``BearerTokenAuthentication`` left it in ``request.auth``.

    For views behind ``HasRequiredScopes``, which answers 401 before such a view runs without one; raises
    ``NotAuthenticated`` all the same if there is none (DRF types ``request.auth`` loosely: it is narrowed here).
    """
    principal = request.auth
    if not isinstance(principal, TokenPrincipal):
        raise NotAuthenticated()
    return principal


def client_actor(request: Request) -> Actor:
    """The client whose bearer token authenticated ``request``, as recorded with its changes."""
    ip, agent = request_metadata(request)
    return Actor(kind="client", id=bearer_principal(request).client_id, ip=ip, user_agent=agent)
