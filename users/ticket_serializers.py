"""Request schemas of the ticket operations, exactly Auth0's (shape and types only; no unknown keys).

Auth0: Management API v2 ``post_password_change`` (``ChangePasswordTicketRequestContent``) and
``post_email_verification`` (``VerifyEmailTicketRequestContent``): ``additionalProperties: false``, ``ttl_sec`` an
integer ``minimum: 0`` (we also bound it above, ``users.tickets.MAX_TTL_SECONDS``), ``connection_id``
``^con_[A-Za-z0-9]{16}$``, ``identity`` ``{user_id, provider, connection_id}``. And the Authentication API's
``POST /dbconnections/change_password`` body: ``client_id``, ``email``, ``connection``, ``organization``.
"""

from __future__ import annotations

from typing import TypedDict
from urllib.parse import urlsplit

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from connections.models import Strategy
from core import messages
from core.errors import FieldCode
from core.schema import (
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
    StrictSerializer,
    echo,
    fail,
)
from users.serializers import EmailAddressField, StrictUriField
from users.tickets import MAX_TTL_SECONDS

# Long enough for any real callback URL; a 10,000-character one is refused, not stored.
MAX_RESULT_URL_LENGTH = 2048
CONNECTION_ID_PATTERN = r"^con_[A-Za-z0-9]{16}$"


class ResultUrlField(StrictUriField):
    """``format: url``, narrowed to absolute ``http``/``https`` URLs with a host: the page redirects there, so
    ``javascript:``, ``data:`` and ``ftp:`` (and anything else a browser might run or fetch) are refused."""

    def check_format(self, value: str) -> None:
        try:
            super().check_format(value)
            allowed = urlsplit(value).scheme.lower() in {"http", "https"}
        except serializers.ValidationError:
            allowed = False
        if not allowed:
            raise fail(messages.format_mismatch("url", echo(value)), FieldCode.FORMAT)


class TicketIdentitySerializer(StrictSerializer):
    """A password change ticket's ``identity``: Auth0's ``ChangePasswordTicketIdentity``, whose ``provider`` is
    ``auth0`` only (``IdentityProviderOnlyAuth0Enum``): only database users have passwords."""

    user_id = StrictCharField(min_length=1, max_length=300, required=True, help_text=_("user_id of the identity."))
    provider = StrictChoiceField(
        choices=("auth0",), required=True, help_text=_("Identity provider name of the identity.")
    )
    connection_id = StrictCharField(pattern=CONNECTION_ID_PATTERN, help_text=_("connection_id of the identity."))


class VerificationIdentitySerializer(TicketIdentitySerializer):
    """The identity whose e-mail to verify: Auth0's ``Identity`` ("must be provided to verify primary social,
    enterprise and passwordless email identities"), for e-mail verification tickets and jobs. Its ``provider`` is
    any of Auth0's; the identities this service has are the strategies' (``auth0``, ``email``, ``sms``), so those
    are the ones that can name a user's own."""

    provider = StrictChoiceField(
        choices=tuple(Strategy.values), required=True, help_text=_("Identity provider name of the identity.")
    )


class _TicketRequestSerializer(StrictSerializer):
    """The fields both ticket operations take."""

    result_url = ResultUrlField(
        max_length=MAX_RESULT_URL_LENGTH,
        help_text=_(
            "URL the user will be redirected to once the ticket is used (http or https). Cannot be specified when "
            "using client_id."
        ),
    )
    client_id = StrictCharField(min_length=1, max_length=64, help_text=_("ID of the client (application)."))
    organization_id = StrictCharField(
        min_length=1, max_length=64, help_text=_("Organization ID (this service has no organizations).")
    )
    ttl_sec = StrictIntegerField(
        min_value=0,
        max_value=MAX_TTL_SECONDS,
        help_text=_("Seconds the ticket is valid for; 0 or absent is 432000 (5 days)."),
    )
    includeEmailInRedirect = StrictBooleanField(
        help_text=_("Whether to include the email address in the redirect to result_url.")
    )


class PasswordChangeTicket(TypedDict, total=False):
    result_url: str
    user_id: str
    client_id: str
    organization_id: str
    connection_id: str
    email: str
    ttl_sec: int
    mark_email_as_verified: bool
    includeEmailInRedirect: bool
    identity: dict[str, str]


class EmailVerificationTicket(TypedDict, total=False):
    result_url: str
    user_id: str
    client_id: str
    organization_id: str
    ttl_sec: int
    includeEmailInRedirect: bool
    identity: dict[str, str]


class PasswordChangeTicketRequestSerializer(_TicketRequestSerializer):
    """Auth0's ``ChangePasswordTicketRequestContent``; answers ``PasswordChangeTicket``."""

    user_id = StrictCharField(
        min_length=1, max_length=300, help_text=_("user_id of for whom the ticket should be created.")
    )
    connection_id = StrictCharField(
        pattern=CONNECTION_ID_PATTERN, help_text=_("ID of the connection; requires email, excludes user_id.")
    )
    email = EmailAddressField(help_text=_("Email address of the user; requires connection_id."))
    mark_email_as_verified = StrictBooleanField(
        help_text=_("Whether to set the email_verified attribute to true once the password is changed.")
    )
    identity = TicketIdentitySerializer(required=False, help_text=_("The user's identity (requires user_id)."))


class EmailVerificationTicketRequestSerializer(_TicketRequestSerializer):
    """Auth0's ``VerifyEmailTicketRequestContent``; answers ``EmailVerificationTicket``."""

    user_id = StrictCharField(
        min_length=1, max_length=300, required=True, help_text=_("user_id of for whom the ticket should be created.")
    )
    identity = VerificationIdentitySerializer(required=False, help_text=_("The identity to verify."))


class ChangePasswordRequest(TypedDict, total=False):
    client_id: str
    email: str
    connection: str
    organization: str


class ChangePasswordRequestSerializer(StrictSerializer[ChangePasswordRequest]):
    """``POST /dbconnections/change_password`` (Auth0's Authentication API "Change Password")."""

    client_id = StrictCharField(
        min_length=1, max_length=64, required=True, help_text=_("The client_id of your client.")
    )
    email = StrictCharField(
        min_length=1, max_length=512, required=True, help_text=_("The user's email address.")
    )  # any text: an address that is no address simply has no account, and the answer is the same
    connection = StrictCharField(
        min_length=1, max_length=128, required=True, help_text=_("The name of the database connection.")
    )
    organization = StrictCharField(min_length=1, max_length=64, help_text=_("Organization ID (not used here)."))
