"""Errors of the clients app: unknown clients, refused bearer tokens, and the token endpoint's OAuth errors
(``{error, error_description}`` with a status, RFC 6749 §5.2)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class ClientErrorCode(StrEnum):
    """The codes this app answers with."""

    INEXISTENT_CLIENT = "inexistent_client"
    CLIENT_EXISTS = "client_exists"
    # Why a bearer token is refused (``clients.tokens.InvalidToken``, 401).
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code, not a secret
    USER_TOKEN = "user_token"  # noqa: S105 - an error code, not a secret
    INACTIVE_CLIENT = "inactive_client"
    REVOKED_TOKEN = "revoked_token"  # noqa: S105 - an error code, not a secret
    # OAuth error codes of ``POST /oauth/token`` (RFC 6749 §5.2, and Auth0's own).
    INVALID_REQUEST = "invalid_request"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    ACCESS_DENIED = "access_denied"
    SERVER_ERROR = "server_error"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    # Field codes of ``create_client``.
    UNKNOWN_SCOPE = "UNKNOWN_SCOPE"
    UNKNOWN_CONNECTION = "UNKNOWN_CONNECTION"


class OAuthError(DomainError):
    """An OAuth error of the token endpoint: its own status and ``error`` code, the description as message.

    ``retry_after`` (seconds) goes out as ``Retry-After``; ``challenge`` as ``WWW-Authenticate`` (the client
    authenticated with HTTP Basic and failed: RFC 6749 §5.2).
    """

    def __init__(
        self,
        status: int,
        error: ClientErrorCode | str,
        description: str,
        *,
        retry_after: int | None = None,
        challenge: str | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = error
        self.retry_after = retry_after
        self.challenge = challenge


class ClientNotFound(DomainError):
    """No client with that id (commands and admin actions)."""

    status = 404
    code = ClientErrorCode.INEXISTENT_CLIENT
    default_message = _("The client does not exist.")


class ClientAlreadyExists(DomainError):
    """A fixed client id that another client already has (409)."""

    status = 409
    code = ClientErrorCode.CLIENT_EXISTS
    default_message = _("A client with this id already exists.")


class InvalidToken(DomainError):
    """A bearer token we will not honour (401); the message uses Auth0's wording, ``code`` says why."""

    status = 401
    code = ClientErrorCode.INVALID_TOKEN

    def __init__(self, message: str, code: ClientErrorCode = ClientErrorCode.INVALID_TOKEN) -> None:
        super().__init__(message)
        self.code = code
