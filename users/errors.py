"""Errors raised by the users app (stable codes, Auth0's messages)."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError


class UserErrorCode(StrEnum):
    """The codes this app answers with: ``errorCode`` values and its own field codes."""

    USER_EXISTS = "auth0_idp_error"  # Auth0's code for a taken e-mail, username or phone number
    INEXISTENT_USER = "inexistent_user"
    INVALID_GRANT = "invalid_grant"
    UNAUTHORIZED = "unauthorized"
    # Sign-up refusals (Auth0's Authentication API).
    INVALID_CLIENT = "invalid_client"
    INVALID_CONNECTION = "invalid_connection"
    OPERATION_NOT_ENABLED = "operation_not_enabled"
    MAIL_UNAVAILABLE = "mail_unavailable"
    # Field codes: a user's update naming another connection; ``POST /api/v2/jobs/verification-email``.
    CONNECTION_MISMATCH = "CONNECTION_MISMATCH"
    CHANGED_TOGETHER = "CHANGED_TOGETHER"  # a PATCH changing two fields Auth0 changes one call at a time
    NO_EMAIL = "NO_EMAIL"
    ALREADY_VERIFIED = "ALREADY_VERIFIED"
    # Auth0's bulk-import job error codes (``users.imports``), beside z-schema's (``core.errors.FieldCode``): the
    # list of "Bulk User Imports", section "Retrieve failed entries". CONFLICT_EMAIL is on it too, but every case
    # it could name is DUPLICATED_USER (no upsert) or an update (upsert), so it is never answered.
    NOT_PASSED = "NOT_PASSED"
    MFA_FACTORS_FAILED = "MFA_FACTORS_FAILED"
    CONFLICT = "CONFLICT"
    CONFLICT_USERNAME = "CONFLICT_USERNAME"
    DUPLICATED_USER = "DUPLICATED_USER"
    # This service's own import codes, for what Auth0's import has no case of: a JSON lines file's unreadable line,
    # a plain password (Auth0 takes hashes only), a rejects file whose secrets were left out.
    INVALID_JSON = "INVALID_JSON"
    PASSWORD_STRENGTH = "PASSWORD_STRENGTH"  # noqa: S105 - an error code, not a secret
    SECRET_REMOVED = "SECRET_REMOVED"  # noqa: S105 - an error code, not a secret
    # Field codes of metadata Auth0 would not store (``users.metadata``; a reserved app_metadata name is NOT_PASSED):
    # a name with "." or "$", and metadata over the size limit. Auth0 publishes no code for either.
    INVALID_FIELD_NAME = "INVALID_FIELD_NAME"
    METADATA_TOO_LARGE = "METADATA_TOO_LARGE"
    # Tickets (``users.tickets``): a link that cannot be used; field codes of a ticket request this service refuses.
    INVALID_TICKET = "invalid_ticket"
    NO_PASSWORD = "NO_PASSWORD"  # noqa: S105 - a field code: the user's connection has no passwords
    UNSAFE_URL = "UNSAFE_URL"
    UNSUPPORTED = "UNSUPPORTED"
    CONFLICTING_FIELDS = "CONFLICTING_FIELDS"


class UserAlreadyExists(DomainError):
    status = 409
    code = UserErrorCode.USER_EXISTS
    default_message = _("The user already exists.")


class IdentifierTaken(DomainError):
    """A change (``PATCH /api/v2/users/{id}``, the admin's change form) to an e-mail, username or phone number that
    another user of the connection holds: 400 ``auth0_idp_error``, not the 409 a create answers.

    Auth0 words it per identifier ("The specified new email already exists"; public clients branch on that text)
    and reports it with the connection's ``auth0_idp_error`` code (auth0/node-auth0#139: a taken e-mail on update is
    ``{"statusCode":400,"error":"Bad Request","errorCode":"auth0_idp_error"}``). ``field`` names the identifier, so a
    form can show the refusal beside it. Only ``users.services.update_user`` raises it, never a create: the ``/v1``
    and sign-up renderers read ``auth0_idp_error`` as a create's conflict.
    """

    status = 400
    code = UserErrorCode.USER_EXISTS
    MESSAGES = {
        # Auth0's texts for e-mail (community.auth0.com/t/7413, public clients) and username (public clients).
        "email": _("The specified new email already exists"),
        "username": _("The specified new username already exists"),
        # Not found in public material: worded like the two above.
        "phone_number": _("The specified new phone number already exists"),
    }

    def __init__(self, field: str) -> None:
        super().__init__(self.MESSAGES[field])
        self.field = field


class UserNotFound(DomainError):
    status = 404
    code = UserErrorCode.INEXISTENT_USER
    default_message = _("The user does not exist.")


class WrongCredentials(DomainError):
    """Unknown user, wrong password or no password: one answer, so nobody learns which."""

    status = 403
    code = UserErrorCode.INVALID_GRANT
    default_message = _("Wrong email or password.")


class UserBlocked(DomainError):
    """The password was right but the user is blocked."""

    status = 401
    code = UserErrorCode.UNAUTHORIZED
    default_message = _("user is blocked")


class MailUnavailable(DomainError):
    """The mail server did not take the verification e-mail (503): the server, not the caller, failed."""

    status = 503
    code = UserErrorCode.MAIL_UNAVAILABLE
    default_message = _("The verification e-mail could not be sent. Try again later.")


class TicketRejection(StrEnum):
    """Why a ticket link cannot be used (the page words each; ``blocked`` reads as an invalid link)."""

    INVALID = "invalid"
    USED = "used"
    EXPIRED = "expired"
    BLOCKED = "blocked"


class TicketRejected(DomainError):
    """A ticket link that is unknown, used, expired, spent by a password or e-mail change, or whose user is blocked
    or deleted (``users.tickets``). Only the ticket pages meet it; ``reason`` picks their text."""

    status = 400
    code = UserErrorCode.INVALID_TICKET
    default_message = _("This link is not valid.")

    def __init__(self, reason: TicketRejection) -> None:
        super().__init__()
        self.reason = reason


class SignupRefused(DomainError):
    """A sign-up the client or connection does not allow (400); ``code`` and the message go on the wire."""

    def __init__(self, code: UserErrorCode, description: str) -> None:
        super().__init__(description)
        self.code = code
