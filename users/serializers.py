"""The wire schemas of the users endpoints: Auth0's ``CreateUserRequestContent`` and ``UpdateUserRequestContent``,
exactly, the query strings of the reads, and the typed bodies (``NewUser``, ``UserChanges``) the services take.

Shape, types, formats and lengths only, each field built from its one declaration in ``users.fields``. Which
fields a connection accepts is the strategy's business (``connections.strategies``); the password policy is the
connection's (``connections.password_policy``).
Help texts are Auth0's property descriptions: they appear in error messages and in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any, Required, TypedDict
from urllib.parse import urlsplit

import phonenumbers
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from core import messages
from core.errors import FieldCode
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
from core.search import MAX_QUERY_LENGTH
from users.credentials.passwords import BCRYPT_MAX_BYTES
from users.emails import InvalidEmailAddress, check_email_address
from users.fields import (
    APP_METADATA,
    BLOCKED,
    CONNECTION,
    EMAIL,
    EMAIL_VERIFIED,
    FAMILY_NAME,
    GIVEN_NAME,
    NAME,
    NICKNAME,
    PASSWORD,
    PHONE_NUMBER,
    PHONE_VERIFIED,
    PICTURE,
    USER_ID,
    USER_METADATA,
    USERNAME,
    VERIFY_EMAIL,
    Kind,
    UserField,
)

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
            raise fail(messages.format_mismatch("email", echo(value)), FieldCode.FORMAT) from exc


class PhoneNumberField(StrictCharField):
    """E.164 by the schema's pattern (``users.fields.PHONE_NUMBER``), then a number that really exists according to
    phonenumbers."""

    def check_format(self, value: str) -> None:
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise fail(messages.format_mismatch("phone-number", value), FieldCode.FORMAT) from exc
        if not phonenumbers.is_valid_number(number):
            raise fail(messages.format_mismatch("phone-number", value), FieldCode.FORMAT)


class StrictUriField(StrictCharField):
    """``format: strict-uri``: an absolute http(s) or ftp URL with a host, no white space, and a port (when given)
    from 1 to 65535.

    z-schema checks ``strict-uri`` with validator.js ``isURL``, whose protocols are http, https and ftp:
    ``javascript:``, ``data:`` and the like are refused; so is a port that is no number or outside 1 to 65535
    (``isURL``: "port <= 0 || port > 65535"), which no browser can follow.
    """

    def check_format(self, value: str) -> None:
        scheme, sep, _ = value.partition("://")
        valid = bool(sep) and scheme.lower() in _URI_SCHEMES and not any(c.isspace() for c in value)
        if valid:
            try:
                parts = urlsplit(value)
                # .port raises ValueError for a port that is no number or above 65535; 0 is returned, and refused.
                valid = bool(parts.hostname) and parts.port != 0
            except ValueError:
                valid = False
        if not valid:
            raise fail(messages.format_mismatch("strict-uri", echo(value)), FieldCode.FORMAT)


class PasswordField(StrictCharField):
    """At least one character and at most 72 bytes of UTF-8: bcrypt ignores whatever follows."""

    def check_format(self, value: str) -> None:
        size = len(value.encode("utf-8"))
        if size > BCRYPT_MAX_BYTES:
            raise fail(messages.too_many_bytes(size, BCRYPT_MAX_BYTES), FieldCode.MAX_LENGTH)


def schema_field(spec: UserField, **options: Any) -> serializers.Field:
    """The strict schema field of a user field: its kind's type and format check and its limits.

    ``options`` go to the field (``required``, ``allow_null``, ``help_text``); the help text defaults to Auth0's
    description of the field in ``CreateUserRequestContent``, which error messages quote.
    """
    options.setdefault("help_text", spec.description)
    match spec.kind:
        case Kind.TEXT:
            return StrictCharField(
                min_length=spec.min_length, max_length=spec.max_length, pattern=spec.pattern, **options
            )
        case Kind.EMAIL:
            return EmailAddressField(**options)  # the address rule bounds the length, in its own words
        case Kind.PHONE_NUMBER:
            return PhoneNumberField(pattern=spec.pattern, **options)  # the pattern bounds the length
        case Kind.URI:
            return StrictUriField(**options)
        case Kind.PASSWORD:
            return PasswordField(min_length=spec.min_length, **options)
        case Kind.BOOLEAN:
            return StrictBooleanField(**options)
        case Kind.OBJECT:
            return JSONObjectField(max_depth=spec.max_depth, **options)
    raise AssertionError(spec.kind)


class UserInput(TypedDict, total=False):
    """A new user's own fields, validated: what a create, a sign-up and an imported user have in common, and what
    ``users.services.new_user_values`` and ``check_password_policy`` read."""

    email: str
    phone_number: str
    user_metadata: dict[str, Any]
    blocked: bool
    email_verified: bool
    phone_verified: bool
    app_metadata: dict[str, Any]
    given_name: str
    family_name: str
    name: str
    nickname: str
    picture: str
    user_id: str
    password: str
    username: str


class NewUser(UserInput, total=False):
    """A body ``CreateUserRequestSerializer`` accepted: the input of ``users.services.create_user``."""

    connection: Required[str]
    verify_email: bool


class CreateUserRequestSerializer(StrictSerializer[NewUser]):
    bind_once = True  # see core.schema.validate_payload

    email = schema_field(EMAIL)
    phone_number = schema_field(PHONE_NUMBER)
    user_metadata = schema_field(USER_METADATA)
    blocked = schema_field(BLOCKED)
    email_verified = schema_field(EMAIL_VERIFIED)
    phone_verified = schema_field(PHONE_VERIFIED)
    app_metadata = schema_field(APP_METADATA)
    given_name = schema_field(GIVEN_NAME)
    family_name = schema_field(FAMILY_NAME)
    name = schema_field(NAME)
    nickname = schema_field(NICKNAME)
    picture = schema_field(PICTURE)
    user_id = schema_field(USER_ID)
    connection = schema_field(CONNECTION, required=True)
    password = schema_field(PASSWORD)
    verify_email = schema_field(VERIFY_EMAIL)
    username = schema_field(USERNAME)


class UserChanges(TypedDict, total=False):
    """A body ``UpdateUserRequestSerializer`` accepted: the input of ``users.services.update_user``.

    ``None`` removes a field.
    """

    blocked: bool
    email_verified: bool
    email: str | None
    phone_number: str | None
    phone_verified: bool
    user_metadata: dict[str, Any] | None
    app_metadata: dict[str, Any] | None
    given_name: str | None
    family_name: str | None
    name: str | None
    nickname: str | None
    picture: str | None
    verify_email: bool
    verify_phone_number: bool
    password: str
    connection: str
    client_id: str
    username: str | None


class UpdateUserRequestSerializer(StrictSerializer[UserChanges]):
    """Auth0's ``UpdateUserRequestContent`` (the fields this service implements). ``null`` removes a field."""

    bind_once = True  # see core.schema.validate_payload

    blocked = schema_field(BLOCKED)
    email_verified = schema_field(
        EMAIL_VERIFIED,
        help_text=_(
            "Whether this email address is verified (true) or unverified (false). If set to false the user "
            "will not receive a verification email unless `verify_email` is set to true."
        ),
    )
    email = schema_field(EMAIL, allow_null=True, help_text=_("Email address of this user."))
    phone_number = schema_field(PHONE_NUMBER, allow_null=True)
    phone_verified = schema_field(PHONE_VERIFIED)
    user_metadata = schema_field(
        USER_METADATA, allow_null=True, help_text=_("User metadata to which this user has read/write access.")
    )
    app_metadata = schema_field(
        APP_METADATA, allow_null=True, help_text=_("User metadata to which this user has read-only access.")
    )
    given_name = schema_field(GIVEN_NAME, allow_null=True, help_text=_("Given name/first name/forename of this user."))
    family_name = schema_field(FAMILY_NAME, allow_null=True, help_text=_("Family name/last name/surname of this user."))
    name = schema_field(NAME, allow_null=True, help_text=_("Name of this user."))
    nickname = schema_field(NICKNAME, allow_null=True, help_text=_("Preferred nickname or alias of this user."))
    picture = schema_field(PICTURE, allow_null=True, help_text=_("URL to picture, photo, or avatar of this user."))
    verify_email = schema_field(
        VERIFY_EMAIL,
        help_text=_(
            "Whether this user will receive a verification email after creation (true) or no email "
            "(false). Overrides behavior of `email_verified` parameter."
        ),
    )
    # Auth0's UpdateUserRequestContent has it (the official SDKs' users.update(verify_phone_number=...)); this service
    # sends no text messages, so either value changes nothing, as false does on Auth0.
    verify_phone_number = StrictBooleanField(
        help_text=_(
            "Whether this user will receive a text after changing the phone number (true) or no text (false). "
            "Accepted for compatibility: this service sends no text messages."
        )
    )
    password = schema_field(PASSWORD, help_text=_("New password for this user. Only valid for database connections."))
    connection = schema_field(CONNECTION, help_text=_("Name of the connection to target for this user update."))
    client_id = StrictCharField(min_length=1, help_text=_("Auth0 client ID. Only valid when updating email address."))
    username = schema_field(USERNAME, allow_null=True)


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
    # Auth0's "Sort Search Results": any field of the profile ("Sorting by app_metadata or user_metadata is not
    # supported"); those of ours a sort can order by.
    sort = StrictCharField(
        pattern=(
            r"^(created_at|updated_at|last_login|logins_count|email|user_id|name|username|given_name|family_name"
            r"|nickname|phone_number|email_verified|phone_verified|blocked|last_ip|last_password_reset):(1|-1)$"
        ),
        # Auth0's description, which its z-schema errors quote (the fields and the order: the OpenAPI operation).
        help_text=_("Field to sort by. Use field:order where order is 1 for ascending and -1 for descending."),
    )
    q = StrictCharField(
        max_length=MAX_QUERY_LENGTH,
        help_text=_(
            "Query in Lucene query string syntax (search_engine v3). Fields: user_id, email, email.domain, "
            "email_verified, name, given_name, family_name, nickname, username, phone_number, phone_verified, "
            "identities.connection, identities.provider, identities.user_id, identities.isSocial, blocked, "
            "created_at, updated_at, last_login, last_ip, logins_count, and app_metadata.<path> / "
            "user_metadata.<path> (paths go through arrays). Terms match whole values; email, username, name, "
            "given_name, family_name and nickname in any case, every other field exactly. A bare term searches the "
            "profile fields, never metadata. AND, OR, NOT (capitalised), parentheses, quoted phrases, ranges "
            "[a TO b] and {a TO b} (* for an open end), * wildcards (one not at the start of the term needs 3 "
            "literal characters), _exists_:field. Ranges and wildcards are refused on user_metadata; ?, regular "
            "expressions, fuzzy and boost syntax are refused; an unknown field matches nothing. At most "
            "1024 characters, 64 terms and 16 levels of nesting. A refused query is 400 invalid_query_string "
            "naming the problem."
        ),
    )
    connection = StrictCharField(min_length=1, help_text=_("Connection filter."))
    email = StrictCharField(min_length=1, max_length=EMAIL.max_length, help_text=_("E-mail filter (any letter case)."))
    search_engine = StrictChoiceField(
        choices=("v1", "v2", "v3"),
        help_text=_(
            "The version of the search engine: v3 (the default); v2 is read as v3; v1 is refused with 400 "
            "invalid_query_string, as Auth0 refuses it."
        ),
    )
    primary_order = QueryBooleanField(
        help_text=_("Results are always returned in a deterministic order; accepted for compatibility.")
    )


class UsersByEmailQuerySerializer(UserFieldsQuerySerializer):
    email = StrictCharField(
        min_length=1,
        max_length=EMAIL.max_length,
        required=True,
        help_text=_("Email address to search for (any letter case)."),
    )
