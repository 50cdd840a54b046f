"""The wire schema of user creation: Auth0's ``CreateUserRequestContent``, exactly.

Shape, types, formats and lengths only. Which fields a connection accepts is the strategy's business
(``connections.strategies``); the password policy is the connection's (``connections.password_policy``).
Help texts are Auth0's property descriptions: they appear in error messages and in the OpenAPI document.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import phonenumbers
from django.utils.translation import gettext_lazy as _

from core import messages
from core.schema import (
    MAX_PAGE,
    JSONObjectField,
    QueryBooleanField,
    QueryIntegerField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictSerializer,
    echo,
    fail,
)
from users.credentials.passwords import BCRYPT_MAX_BYTES
from users.emails import InvalidEmailAddress, check_email_address

PHONE_PATTERN = r"^\+[0-9]{1,15}$"
USER_ID_PATTERN = r"^\S*$"
METADATA_MAX_DEPTH = 10
_URI_SCHEMES = frozenset({"http", "https", "ftp"})


class EmailAddressField(StrictCharField):
    """``format: email``: ``users.emails.check_email_address`` (Auth0's check and ours), in z-schema's wording.

    Every entry point that takes an address (create, PATCH, sign-up, ``/v1/users``, the admin forms, imports)
    validates it with this field, so one rule applies everywhere.
    """

    def check_format(self, value: str) -> None:
        try:
            check_email_address(value)
        except InvalidEmailAddress as exc:
            raise fail(messages.format_mismatch("email", echo(value)), "FORMAT") from exc


class PhoneNumberField(StrictCharField):
    """E.164 by the schema's pattern, then a number that really exists according to phonenumbers."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(pattern=PHONE_PATTERN, **kwargs)  # type: ignore[arg-type]

    def check_format(self, value: str) -> None:
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise fail(messages.format_mismatch("phone-number", value), "FORMAT") from exc
        if not phonenumbers.is_valid_number(number):
            raise fail(messages.format_mismatch("phone-number", value), "FORMAT")


class StrictUriField(StrictCharField):
    """``format: strict-uri``: an absolute http(s) or ftp URL with a host, no white space.

    z-schema checks ``strict-uri`` with validator.js ``isURL``, whose protocols are http, https and ftp:
    ``javascript:``, ``data:`` and the like are refused.
    """

    def check_format(self, value: str) -> None:
        scheme, sep, _ = value.partition("://")
        valid = bool(sep) and scheme.lower() in _URI_SCHEMES and not any(c.isspace() for c in value)
        if valid:
            try:
                valid = bool(urlsplit(value).hostname)
            except ValueError:
                valid = False
        if not valid:
            raise fail(messages.format_mismatch("strict-uri", echo(value)), "FORMAT")


class PasswordField(StrictCharField):
    """At least one character and at most 72 bytes of UTF-8: bcrypt ignores whatever follows."""

    def check_format(self, value: str) -> None:
        size = len(value.encode("utf-8"))
        if size > BCRYPT_MAX_BYTES:
            raise fail(messages.too_many_bytes(size, BCRYPT_MAX_BYTES), "MAX_LENGTH")


class CreateUserRequestSerializer(StrictSerializer):
    bind_once = True  # see core.schema.validate_payload

    email = EmailAddressField(help_text=_("The user's email."))
    phone_number = PhoneNumberField(help_text=_("The user's phone number (following the E.164 recommendation)."))
    user_metadata = JSONObjectField(
        max_depth=METADATA_MAX_DEPTH,
        help_text=_("Data related to the user that does not affect the application's core functionality."),
    )
    blocked = StrictBooleanField(
        help_text=_("Whether this user was blocked by an administrator (true) or not (false).")
    )
    email_verified = StrictBooleanField(
        help_text=_(
            "Whether this email address is verified (true) or unverified (false). User will "
            "receive a verification email after creation if `email_verified` is false or not specified"
        )
    )
    phone_verified = StrictBooleanField(
        help_text=_("Whether this phone number has been verified (true) or not (false).")
    )
    app_metadata = JSONObjectField(
        max_depth=METADATA_MAX_DEPTH,
        help_text=_("Data related to the user that does affect the application's core functionality."),
    )
    given_name = StrictCharField(min_length=1, max_length=150, help_text=_("The user's given name(s)."))
    family_name = StrictCharField(min_length=1, max_length=150, help_text=_("The user's family name(s)."))
    name = StrictCharField(min_length=1, max_length=300, help_text=_("The user's full name."))
    nickname = StrictCharField(min_length=1, max_length=300, help_text=_("The user's nickname."))
    picture = StrictUriField(help_text=_("A URI pointing to the user's picture."))
    user_id = StrictCharField(
        min_length=0,
        max_length=255,
        pattern=USER_ID_PATTERN,
        help_text=_("The external user's id provided by the identity provider."),
    )
    connection = StrictCharField(
        min_length=1,
        required=True,
        help_text=_("Name of the connection this user should be created in."),
    )
    password = PasswordField(
        min_length=1,
        help_text=_("Initial password for this user. Only valid for auth0 connection strategy."),
    )
    verify_email = StrictBooleanField(
        help_text=_(
            "Whether the user will receive a verification email after creation (true) or no "
            "email (false). Overrides behavior of `email_verified` parameter."
        )
    )
    username = StrictCharField(
        min_length=1,
        max_length=128,
        help_text=_("The user's username. Only valid if the connection requires a username."),
    )


class UpdateUserRequestSerializer(StrictSerializer):
    """Auth0's ``UpdateUserRequestContent`` (the fields this service implements). ``null`` removes a field."""

    bind_once = True  # see core.schema.validate_payload

    blocked = StrictBooleanField(
        help_text=_("Whether this user was blocked by an administrator (true) or not (false).")
    )
    email_verified = StrictBooleanField(
        help_text=_(
            "Whether this email address is verified (true) or unverified (false). If set to false the user "
            "will not receive a verification email unless `verify_email` is set to true."
        )
    )
    email = EmailAddressField(allow_null=True, help_text=_("Email address of this user."))
    phone_number = PhoneNumberField(
        allow_null=True, help_text=_("The user's phone number (following the E.164 recommendation).")
    )
    phone_verified = StrictBooleanField(
        help_text=_("Whether this phone number has been verified (true) or not (false).")
    )
    user_metadata = JSONObjectField(
        max_depth=METADATA_MAX_DEPTH,
        allow_null=True,
        help_text=_("User metadata to which this user has read/write access."),
    )
    app_metadata = JSONObjectField(
        max_depth=METADATA_MAX_DEPTH,
        allow_null=True,
        help_text=_("User metadata to which this user has read-only access."),
    )
    given_name = StrictCharField(
        min_length=1,
        max_length=150,
        allow_null=True,
        help_text=_("Given name/first name/forename of this user."),
    )
    family_name = StrictCharField(
        min_length=1,
        max_length=150,
        allow_null=True,
        help_text=_("Family name/last name/surname of this user."),
    )
    name = StrictCharField(min_length=1, max_length=300, allow_null=True, help_text=_("Name of this user."))
    nickname = StrictCharField(
        min_length=1,
        max_length=300,
        allow_null=True,
        help_text=_("Preferred nickname or alias of this user."),
    )
    picture = StrictUriField(allow_null=True, help_text=_("URL to picture, photo, or avatar of this user."))
    verify_email = StrictBooleanField(
        help_text=_(
            "Whether this user will receive a verification email after creation (true) or no email "
            "(false). Overrides behavior of `email_verified` parameter."
        )
    )
    password = PasswordField(
        min_length=1, help_text=_("New password for this user. Only valid for database connections.")
    )
    connection = StrictCharField(min_length=1, help_text=_("Name of the connection to target for this user update."))
    client_id = StrictCharField(min_length=1, help_text=_("Auth0 client ID. Only valid when updating email address."))
    username = StrictCharField(
        min_length=1,
        max_length=128,
        allow_null=True,
        help_text=_("The user's username. Only valid if the connection requires a username."),
    )


class UserFieldsQuerySerializer(StrictSerializer):
    # DRF's metaclass moves declared fields out of the class, so this does not shadow Serializer.fields; the stubs
    # cannot express that.
    fields = StrictCharField(  # type: ignore[assignment]
        help_text=_(
            "Comma-separated list of fields to include or exclude (based on value provided for "
            "include_fields) in the result. Leave empty to retrieve all fields."
        )
    )
    include_fields = QueryBooleanField(
        help_text=_("Whether specified fields are to be included (true) or excluded (false).")
    )


class ListUsersQuerySerializer(UserFieldsQuerySerializer):
    page = QueryIntegerField(
        min_value=0, max_value=MAX_PAGE, help_text=_("Page index of the results to return. First page is 0.")
    )
    per_page = QueryIntegerField(min_value=0, max_value=100, help_text=_("Number of results per page."))
    include_totals = QueryBooleanField(
        help_text=_(
            "Return results inside an object that contains the total result count (true) or as a "
            "direct array of results (false, default)."
        )
    )
    sort = StrictCharField(
        pattern=r"^(created_at|updated_at|email|user_id|name|username):(1|-1)$",
        help_text=_("Field to sort by. Use field:order where order is 1 for ascending and -1 for descending."),
    )
    connection = StrictCharField(min_length=1, help_text=_("Connection filter."))
    email = StrictCharField(min_length=1, max_length=254, help_text=_("E-mail filter (any letter case)."))
    search_engine = StrictChoiceField(choices=("v1", "v2", "v3"), help_text=_("The version of the search engine."))
    primary_order = QueryBooleanField(
        help_text=_("Results are always returned in a deterministic order; accepted for compatibility.")
    )


class UsersByEmailQuerySerializer(UserFieldsQuerySerializer):
    email = StrictCharField(
        min_length=1,
        max_length=254,
        required=True,
        help_text=_("Email address to search for (any letter case)."),
    )
