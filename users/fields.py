"""A directory user's fields, declared once: name, kind (JSON type and format), limits and Auth0's description.

Every request schema that takes a user field builds it from here with ``users.serializers.schema_field``: create
and update (``users.serializers``), sign-up and ``/v1/users`` (``users.public_serializers``) and the bulk import
(``users.imports.validation``, which reuses the create schema's fields). The model's column sizes are the same
limits (``users.models``), and the admin forms and services take the field groups below.

What is *not* here: which fields each entry point accepts is its schema's list (the wire contract, one class per
contract), which of them a connection takes is its strategy's (``connections.strategies``), and how a password
must look is its connection's policy (``connections.password_policy``).

The limits and descriptions are Auth0's ``CreateUserRequestContent`` (Management API v2, ``POST /api/v2/users``);
a contract that words a field differently (``PATCH``, sign-up, ``/v1``) passes its own ``help_text``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from users.emails import MAX_EMAIL_LENGTH

# Auth0's nesting limit for user_metadata and app_metadata.
METADATA_MAX_DEPTH = 10


class Kind(enum.Enum):
    """The JSON type and format of a field, which decides the schema field class that checks it."""

    TEXT = enum.auto()  # a string with length limits and, optionally, a pattern
    EMAIL = enum.auto()  # users.emails.check_email_address (which also bounds the length)
    PHONE_NUMBER = enum.auto()  # E.164 by the pattern (which bounds the length), and a number that exists
    URI = enum.auto()  # strict-uri: an absolute http(s) or ftp URL
    PASSWORD = enum.auto()  # at most 72 bytes of UTF-8 (bcrypt's limit)
    BOOLEAN = enum.auto()
    OBJECT = enum.auto()  # a JSON object (metadata), bounded in depth


@dataclass(frozen=True)
class UserField:
    """One field of a user as requests carry it.

    ``max_length`` is the longest value in characters, and the size of the model's column. A ``TEXT`` field's
    schema checks it directly; the e-mail rule (at most 254 UTF-16 units, validator.js) and the phone pattern
    (``+`` and at most 15 digits) imply it and report a longer value in their own words, as Auth0 does.
    ``max_depth`` is how deeply an ``OBJECT`` may nest.
    """

    name: str
    kind: Kind
    description: str | Promise
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    max_depth: int = METADATA_MAX_DEPTH


EMAIL = UserField("email", Kind.EMAIL, _("The user's email."), max_length=MAX_EMAIL_LENGTH)
PHONE_NUMBER = UserField(
    "phone_number",
    Kind.PHONE_NUMBER,
    _("The user's phone number (following the E.164 recommendation)."),
    max_length=16,
    pattern=r"^\+[0-9]{1,15}$",
)
USER_METADATA = UserField(
    "user_metadata",
    Kind.OBJECT,
    _("Data related to the user that does not affect the application's core functionality."),
)
BLOCKED = UserField(
    "blocked", Kind.BOOLEAN, _("Whether this user was blocked by an administrator (true) or not (false).")
)
EMAIL_VERIFIED = UserField(
    "email_verified",
    Kind.BOOLEAN,
    _(
        "Whether this email address is verified (true) or unverified (false). User will "
        "receive a verification email after creation if `email_verified` is false or not specified"
    ),
)
PHONE_VERIFIED = UserField(
    "phone_verified", Kind.BOOLEAN, _("Whether this phone number has been verified (true) or not (false).")
)
APP_METADATA = UserField(
    "app_metadata",
    Kind.OBJECT,
    _("Data related to the user that does affect the application's core functionality."),
)
GIVEN_NAME = UserField("given_name", Kind.TEXT, _("The user's given name(s)."), min_length=1, max_length=150)
FAMILY_NAME = UserField("family_name", Kind.TEXT, _("The user's family name(s)."), min_length=1, max_length=150)
NAME = UserField("name", Kind.TEXT, _("The user's full name."), min_length=1, max_length=300)
NICKNAME = UserField("nickname", Kind.TEXT, _("The user's nickname."), min_length=1, max_length=300)
PICTURE = UserField("picture", Kind.URI, _("A URI pointing to the user's picture."))
# The id without its provider: stored as "<provider>|<id>" (``users.identifiers.full_user_id``).
USER_ID = UserField(
    "user_id",
    Kind.TEXT,
    _("The external user's id provided by the identity provider."),
    min_length=0,
    max_length=255,
    pattern=r"^\S*$",
)
CONNECTION = UserField(
    "connection", Kind.TEXT, _("Name of the connection this user should be created in."), min_length=1
)
PASSWORD = UserField(
    "password",
    Kind.PASSWORD,
    _("Initial password for this user. Only valid for auth0 connection strategy."),
    min_length=1,
)
VERIFY_EMAIL = UserField(
    "verify_email",
    Kind.BOOLEAN,
    _(
        "Whether the user will receive a verification email after creation (true) or no "
        "email (false). Overrides behavior of `email_verified` parameter."
    ),
)
USERNAME = UserField(
    "username",
    Kind.TEXT,
    _("The user's username. Only valid if the connection requires a username."),
    min_length=1,
    max_length=128,
)

# --- groups of fields that several places treat alike ----------------------------------------------------

# The profile: free text any strategy takes, stored as given, shown back as given.
PROFILE_FIELDS: tuple[str, ...] = (GIVEN_NAME.name, FAMILY_NAME.name, NAME.name, NICKNAME.name, PICTURE.name)
# Metadata: JSON objects, merged key by key on update (a null value removes its key).
METADATA_FIELDS: tuple[str, ...] = (USER_METADATA.name, APP_METADATA.name)
# The flags that belong to an identifier: shown and taken only where the identifier is.
VERIFICATION_FLAGS: dict[str, tuple[str, ...]] = {
    EMAIL.name: (EMAIL_VERIFIED.name, VERIFY_EMAIL.name),
    PHONE_NUMBER.name: (PHONE_VERIFIED.name,),
}
