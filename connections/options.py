"""The shape of a connection, its options, ``display_name`` and ``metadata``, validated as Auth0 validates them.

Used by ``connections.services`` (the connections API, the admin form, ``manage.py load_tenant`` and the
``create_connection`` command all write through it), so a bad value is refused the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail

from connections.models import (
    CONNECTION_DISPLAY_NAME_MAX_LENGTH,
    CONNECTION_NAME_MAX_LENGTH,
    CONNECTION_NAME_PATTERN,
    Strategy,
)
from connections.password_policy import DEFAULT_LEVEL, LEVELS, MIN_LENGTH_BOUNDS
from core import messages
from core.errors import FieldCode
from core.schema import (
    JSONObjectField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
    StrictSerializer,
    StrictStringListField,
    fail,
    json_type,
    validate_payload,
)


class UsernameLengthOptions(StrictSerializer):
    min = StrictIntegerField(min_value=1, max_value=128, required=True, help_text=_("Minimum username length."))
    max = StrictIntegerField(min_value=1, max_value=128, required=True, help_text=_("Maximum username length."))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["min"] > attrs["max"]:
            message = gettext("Value %(min)s is greater than max %(max)s") % {"min": attrs["min"], "max": attrs["max"]}
            raise serializers.ValidationError({"min": [ErrorDetail(message, code=FieldCode.MAXIMUM)]})
        return attrs


class ValidationOptions(StrictSerializer):
    username = UsernameLengthOptions(required=False, help_text=_("Username length limits."))


class PasswordComplexityOptions(StrictSerializer):
    min_length = StrictIntegerField(
        min_value=MIN_LENGTH_BOUNDS[0],
        max_value=MIN_LENGTH_BOUNDS[1],
        help_text=_("Minimum password length; supersedes the policy's."),
    )


class PasswordDictionaryOptions(StrictSerializer):
    enable = StrictBooleanField(required=True, help_text=_("Refuse common passwords."))
    dictionary = StrictStringListField(max_items=200, max_item_length=50, help_text=_("Extra words to refuse."))


class PasswordHistoryOptions(StrictSerializer):
    enable = StrictBooleanField(required=True, help_text=_("Refuse recently used passwords."))
    size = StrictIntegerField(min_value=0, max_value=24, help_text=_("How many passwords to remember."))


class EnableOption(StrictSerializer):
    enable = StrictBooleanField(help_text=_("Whether the rule is on."))


class DatabaseConnectionOptions(StrictSerializer):
    """Options of an ``auth0`` (database) connection that change how users are validated."""

    requires_username = StrictBooleanField(help_text=_("Users must have a username."))
    validation = ValidationOptions(required=False, help_text=_("Options for validation"))
    passwordPolicy = StrictChoiceField(choices=(*LEVELS, None), help_text=_("Password strength level."))
    password_complexity_options = PasswordComplexityOptions(required=False, help_text=_("Password complexity options"))
    password_dictionary = PasswordDictionaryOptions(required=False, help_text=_("Password dictionary policy"))
    password_history = PasswordHistoryOptions(required=False, help_text=_("Password history policy"))
    password_no_personal_info = EnableOption(
        required=False, help_text=_("Refuse passwords that contain the user's personal data")
    )
    disable_signup = StrictBooleanField(help_text=_("Refuse public sign-ups."))
    brute_force_protection = StrictBooleanField(help_text=_("Brute-force protection on logins."))


class PasswordlessConnectionOptions(StrictSerializer):
    """Options of ``sms`` and ``email`` connections that this service acts on."""

    disable_signup = StrictBooleanField(help_text=_("Refuse public sign-ups."))
    brute_force_protection = StrictBooleanField(help_text=_("Brute-force protection on logins."))


class ConnectionDefinition(StrictSerializer):
    name = StrictCharField(
        min_length=1,
        max_length=CONNECTION_NAME_MAX_LENGTH,
        pattern=CONNECTION_NAME_PATTERN,
        required=True,
        help_text=_("The name of the connection"),
    )
    strategy = StrictChoiceField(choices=tuple(Strategy.values), required=True, help_text=_("The identity provider"))


_OPTIONS_BY_STRATEGY: dict[str, type[StrictSerializer]] = {
    Strategy.AUTH0: DatabaseConnectionOptions,
    Strategy.SMS: PasswordlessConnectionOptions,
    Strategy.EMAIL: PasswordlessConnectionOptions,
}


def _validate_options(strategy: str, options: Any) -> dict[str, Any]:
    # Wrapped in an envelope so errors read "on property options.x (...)" as Auth0's do.
    schema = _OPTIONS_BY_STRATEGY[strategy]
    envelope = type(
        "OptionsEnvelope",
        (StrictSerializer,),
        {"options": schema(required=False, help_text=_("Options for the connection"))},
    )
    validated: dict[str, Any] = validate_payload(envelope, {"options": options})
    return _plain(validated.get("options") or {})


def _plain(value: Any) -> Any:
    """DRF hands back OrderedDicts; store plain JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def validate_connection(*, name: Any, strategy: Any, options: Any) -> dict[str, Any]:
    """Check a connection's name, strategy and options; return the options to store.

    Raises ``PayloadValidationError`` naming each bad field. ``passwordPolicy`` defaults to
    ``password_policy.DEFAULT_LEVEL`` (``good``) for database connections, as Auth0's does.
    """
    validate_payload(ConnectionDefinition, {"name": name, "strategy": strategy})
    stored = _validate_options(strategy, options if options is not None else {})
    if strategy == Strategy.AUTH0:
        stored.setdefault("passwordPolicy", DEFAULT_LEVEL)
    return stored


# Auth0's ConnectionsMetadata: "an object with string values (max 255 chars). Maximum of 10 metadata properties".
CONNECTION_METADATA_MAX_PROPERTIES = 10
CONNECTION_METADATA_MAX_VALUE = 255


class ConnectionMetadataField(JSONObjectField):
    """Auth0's ``ConnectionsMetadata``: at most ten properties, each a string of at most 255 characters or null."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_depth=1, **kwargs)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if isinstance(data, dict):  # the value types first: a nested object is a type error, not "too deep"
            for item in data.values():
                if item is not None and not isinstance(item, str):
                    raise fail(messages.invalid_type("string", json_type(item)), FieldCode.INVALID_TYPE)
        value = super().to_internal_value(data)
        if len(value) > CONNECTION_METADATA_MAX_PROPERTIES:
            raise fail(
                _("Too many properties defined (%(count)s), maximum %(maximum)s")
                % {"count": len(value), "maximum": CONNECTION_METADATA_MAX_PROPERTIES},
                FieldCode.OBJECT_PROPERTIES_MAXIMUM,
            )
        for item in value.values():
            if isinstance(item, str) and len(item) > CONNECTION_METADATA_MAX_VALUE:
                raise fail(messages.too_long(len(item), CONNECTION_METADATA_MAX_VALUE), FieldCode.MAX_LENGTH)
        return value


def display_name_field() -> StrictCharField:
    """Auth0's ``display_name`` of a connection (``CreateConnectionRequestContent``: a string, maxLength 128)."""
    return StrictCharField(
        max_length=CONNECTION_DISPLAY_NAME_MAX_LENGTH,
        help_text=_("Connection name used in the new universal login experience"),
    )


def metadata_field() -> ConnectionMetadataField:
    """Auth0's ``metadata`` of a connection (``ConnectionsMetadata``)."""
    return ConnectionMetadataField(
        help_text=_(
            "Metadata associated with the connection in the form of an object with string values (max 255 chars). "
            "Maximum of 10 metadata properties allowed."
        )
    )


class ConnectionDetails(StrictSerializer):
    display_name = display_name_field()
    metadata = metadata_field()


def validate_display_name_and_metadata(given: Mapping[str, Any]) -> None:
    """Check a connection's ``display_name`` and ``metadata``, those of ``given`` (a ``null`` is refused), by the
    API's own fields.

    Raises ``PayloadValidationError`` naming the field, as the connections API words it.
    """
    if given:
        validate_payload(ConnectionDetails, dict(given))


def modelled_options(strategy: str) -> frozenset[str]:
    """The option keys this service stores and acts on for ``strategy`` (one of ``Strategy``); Auth0 has more.

    Used by ``manage.py load_tenant`` to tell options it reports as skipped from those it validates.
    """
    return frozenset(_OPTIONS_BY_STRATEGY[strategy]().fields)
