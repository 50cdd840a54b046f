"""The wire schema of user creation: Auth0's ``CreateUserRequestContent``, exactly.

Shape, types, formats and lengths only. Which fields a connection accepts is the strategy's business
(``connections.strategies``); the password policy is the connection's (``connections.password_policy``).
Help texts are Auth0's property descriptions: they appear in error messages and in the OpenAPI document.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from config.schema import (
    JSONObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictSerializer,
    echo,
    fail,
)
from users.passwords import BCRYPT_MAX_BYTES

PHONE_PATTERN = r"^\+[0-9]{1,15}$"
USER_ID_PATTERN = r"^\S*$"
METADATA_MAX_DEPTH = 10
_URI_SCHEMES = frozenset({"http", "https", "ftp"})


class EmailAddressField(StrictCharField):
    """``format: email``: Django's validator, plus Auth0's 64-character local part and 254 in all."""

    def check_format(self, value: str) -> None:
        local, _, _domain = value.rpartition("@")
        try:
            validate_email(value)
        except ValidationError as exc:
            raise fail(f"Object didn't pass validation for format email: {echo(value)}", "FORMAT") from exc
        if len(local) > 64 or len(value) > 254:
            raise fail(f"Object didn't pass validation for format email: {echo(value)}", "FORMAT")


class PhoneNumberField(StrictCharField):
    """E.164 by the schema's pattern, then a number that really exists according to phonenumbers."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(pattern=PHONE_PATTERN, **kwargs)  # type: ignore[arg-type]

    def check_format(self, value: str) -> None:
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise fail(f"Object didn't pass validation for format phone-number: {value}", "FORMAT") from exc
        if not phonenumbers.is_valid_number(number):
            raise fail(f"Object didn't pass validation for format phone-number: {value}", "FORMAT")


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
            raise fail(f"Object didn't pass validation for format strict-uri: {echo(value)}", "FORMAT")


class PasswordField(StrictCharField):
    """At least one character and at most 72 bytes of UTF-8: bcrypt ignores whatever follows."""

    def check_format(self, value: str) -> None:
        size = len(value.encode("utf-8"))
        if size > BCRYPT_MAX_BYTES:
            raise fail(f"String is too long ({size} bytes), maximum {BCRYPT_MAX_BYTES} bytes", "MAX_LENGTH")


class CreateUserRequestSerializer(StrictSerializer):
    email = EmailAddressField(help_text="The user's email.")
    phone_number = PhoneNumberField(help_text="The user's phone number (following the E.164 recommendation).")
    user_metadata = JSONObjectField(
        max_depth=METADATA_MAX_DEPTH,
        help_text="Data related to the user that does not affect the application's core functionality.",
    )
    blocked = StrictBooleanField(
        help_text="Whether this user was blocked by an administrator (true) or not (false)."
    )
    email_verified = StrictBooleanField(
        help_text="Whether this email address is verified (true) or unverified (false). User will "
        "receive a verification email after creation if `email_verified` is false or not specified"
    )
    phone_verified = StrictBooleanField(
        help_text="Whether this phone number has been verified (true) or not (false)."
    )
    app_metadata = JSONObjectField(
        max_depth=METADATA_MAX_DEPTH,
        help_text="Data related to the user that does affect the application's core functionality.",
    )
    given_name = StrictCharField(min_length=1, max_length=150, help_text="The user's given name(s).")
    family_name = StrictCharField(min_length=1, max_length=150, help_text="The user's family name(s).")
    name = StrictCharField(min_length=1, max_length=300, help_text="The user's full name.")
    nickname = StrictCharField(min_length=1, max_length=300, help_text="The user's nickname.")
    picture = StrictUriField(help_text="A URI pointing to the user's picture.")
    user_id = StrictCharField(
        min_length=0,
        max_length=255,
        pattern=USER_ID_PATTERN,
        help_text="The external user's id provided by the identity provider.",
    )
    connection = StrictCharField(
        min_length=1,
        required=True,
        help_text="Name of the connection this user should be created in.",
    )
    password = PasswordField(
        min_length=1,
        help_text="Initial password for this user. Only valid for auth0 connection strategy.",
    )
    verify_email = StrictBooleanField(
        help_text="Whether the user will receive a verification email after creation (true) or no "
        "email (false). Overrides behavior of `email_verified` parameter."
    )
    username = StrictCharField(
        min_length=1,
        max_length=128,
        help_text="The user's username. Only valid if the connection requires a username.",
    )
