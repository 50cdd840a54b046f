"""Wire schemas of the event streams API (shape and types only), and the typed bodies they accept, which the views
pass to ``events.services`` as keywords.

Auth0's: the Management API's ``CreateEventStreamWebHookRequestContent``, ``UpdateEventStreamRequestContent``,
``CreateEventStreamTestEventRequestContent`` and ``CreateEventStreamRedeliveryRequestContent`` (auth0-python 6.8
``auth0/management/types``; Auth0's OpenAPI document: ``additionalProperties: false`` everywhere, ``name`` 1..128,
``subscriptions`` ``minItems: 1``, basic ``username`` ``maxLength: 128`` and ``^[^:]+$``, dates ``maxLength: 20``
without sub-seconds). Narrowed to what this service does: the destination is a webhook (``eventbridge`` and
``action`` are refused), authorization ``bearer`` or ``basic`` (``custom_header`` is refused), event types the ones
it emits (``events.models.EventType``).

Secrets (``token``, ``password``) are never quoted back in an error: their fields report a fault without the
value. Whether an endpoint may be called (https, public addresses) is ``events.endpoints.check_webhook_endpoint``'s
rule, applied by the services.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any, Required, TypedDict

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

from core import messages
from core.errors import FieldCode
from core.schema import (
    JSONObjectField,
    QueryIntegerField,
    StrictCharField,
    StrictChoiceField,
    StrictField,
    StrictSerializer,
    check_text,
    echo,
    fail,
    json_type,
)
from events.models import (
    EVENT_STREAM_NAME_MAX_LENGTH,
    WEBHOOK_ENDPOINT_MAX_LENGTH,
    AuthorizationMethod,
    DeliveryStatus,
    EventStreamStatus,
    EventType,
)

# Auth0's basic-auth username: maxLength 128, no colon (RFC 7617: the colon separates username and password).
WEBHOOK_USERNAME_MAX_LENGTH = 128
WEBHOOK_USERNAME_PATTERN = r"^[^:]+$"
# Secrets go into an HTTP header: bounded, and a bearer token is visible ASCII only (RFC 6750's b64token and the
# opaque tokens receivers hand out alike), so no CR/LF can split the header.
WEBHOOK_TOKEN_MAX_LENGTH = 4096
WEBHOOK_PASSWORD_MAX_LENGTH = 1024
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Every event type Auth0 knows (``EventStreamEventTypeEnum``): a known one this service does not emit is refused with
# a message that says so, an unknown one as no enum match.
AUTH0_EVENT_TYPES = frozenset(
    {
        "connection.created",
        "connection.deleted",
        "connection.updated",
        "group.created",
        "group.deleted",
        "group.member.added",
        "group.member.deleted",
        "group.role.assigned",
        "group.role.deleted",
        "group.updated",
        "organization.connection.added",
        "organization.connection.removed",
        "organization.connection.updated",
        "organization.created",
        "organization.deleted",
        "organization.group.role.assigned",
        "organization.group.role.deleted",
        "organization.member.added",
        "organization.member.deleted",
        "organization.member.role.assigned",
        "organization.member.role.deleted",
        "organization.updated",
        "user.created",
        "user.deleted",
        "user.updated",
    }
)
# Auth0: "An RFC-3339 date-time ... Does not allow sub-second precision", maxLength 20: ``YYYY-MM-DDTHH:MM:SSZ``.
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
DATE_MAX_LENGTH = 20
# Subscriptions may repeat a type (kept once), up to this many items.
MAX_SUBSCRIPTIONS = 32
# Auth0's ``take``: 1..100, 50 when not given.
MAX_TAKE = 100
DEFAULT_TAKE = 50
CURSOR_MAX_LENGTH = 64


def emitted_event_types() -> str:
    return ", ".join(EventType.values)


class EventTypeField(StrictField):
    """One event type this service emits; a type Auth0 has but we do not emit is refused as not supported."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise self.type_error(data)
        check_text(data)
        if data in EventType.values:
            return data
        if data in AUTH0_EVENT_TYPES:
            message = _("Event type %(type)s is not emitted by this service; the supported types are: %(types)s") % {
                "type": data,
                "types": emitted_event_types(),
            }
            raise fail(message, FieldCode.ENUM_MISMATCH)
        raise fail(messages.enum_mismatch(echo(data)), FieldCode.ENUM_MISMATCH)


class SubscriptionSerializer(StrictSerializer):
    event_type = EventTypeField(required=True, help_text=_lazy("The event type"))


class SubscriptionListField(StrictField):
    """Auth0's ``subscriptions``: an array of ``{"event_type": ...}`` objects, at least one; a type named twice is
    kept once (the order of first mention is kept)."""

    expected_type = "array"
    min_items = 1
    max_items = MAX_SUBSCRIPTIONS

    def to_internal_value(self, data: Any) -> list[dict[str, str]]:
        if not isinstance(data, list):
            raise self.type_error(data)
        if len(data) < self.min_items:
            raise fail(messages.array_too_short(len(data), self.min_items), FieldCode.ARRAY_LENGTH_SHORT)
        # Each item is checked by the strict object schema; the errors keep the item's index in their path.
        errors: dict[str, Any] = {}
        types: list[str] = []
        if len(data) > self.max_items:
            # A few repeats are harmless; thousands are a mistake, refused before checking them one by one.
            raise fail(messages.array_too_long(len(data), self.max_items), FieldCode.ARRAY_LENGTH_LONG)
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                # Checked here: a bound serializer given null reports a list, which its ``errors`` cannot hold.
                message = messages.invalid_type("object", json_type(item))
                errors[str(index)] = [ErrorDetail(message, code=FieldCode.INVALID_TYPE)]
                continue
            serializer = SubscriptionSerializer(data=item)
            if serializer.is_valid():
                types.append(serializer.validated_data["event_type"])
            else:
                errors[str(index)] = serializer.errors
        if errors:
            raise serializers.ValidationError(errors)
        return [{"event_type": event_type} for event_type in dict.fromkeys(types)]


class SecretField(StrictCharField):
    """A secret (token, password): type and length checked, never quoted back in an error, never shown in the
    OpenAPI examples. ``visible_ascii`` narrows it to the characters an HTTP header carries unencoded."""

    def __init__(self, *, visible_ascii: bool = False, **kwargs: Any) -> None:
        self.visible_ascii = visible_ascii
        kwargs.setdefault("min_length", 1)
        kwargs.setdefault("write_only", True)
        super().__init__(**kwargs)

    def check_format(self, value: str) -> None:
        if self.visible_ascii and not _VISIBLE_ASCII.fullmatch(value):
            raise fail(
                _("The token may contain only visible ASCII characters (no spaces or control characters)"),
                FieldCode.PATTERN,
            )
        if _CONTROL.search(value):
            raise fail(_("The secret must not contain control characters"), FieldCode.PATTERN)


class BasicUsernameField(StrictCharField):
    """A basic ``username``: Auth0's pattern (no colon), and no control character (RFC 7617: the user-id "MUST NOT
    contain any control characters", as the password here may not)."""

    def check_format(self, value: str) -> None:
        if _CONTROL.search(value):
            raise fail(_("The username must not contain control characters"), FieldCode.PATTERN)


class WebhookAuthorizationSerializer(StrictSerializer):
    """``{"method": "bearer", "token"}`` or ``{"method": "basic", "username", "password"}``; a property of the
    other method is refused as additional. ``secret_required``: the create needs the token or password; an update
    may leave it out to keep the stored one (``events.services.update_event_stream`` decides)."""

    secret_required = True

    method = StrictChoiceField(
        choices=tuple(AuthorizationMethod.values),
        required=True,
        help_text=_lazy("Type of authorization"),
    )
    token = SecretField(
        visible_ascii=True, max_length=WEBHOOK_TOKEN_MAX_LENGTH, help_text=_lazy("Bearer token (method bearer)")
    )
    username = BasicUsernameField(
        min_length=1,
        max_length=WEBHOOK_USERNAME_MAX_LENGTH,
        pattern=WEBHOOK_USERNAME_PATTERN,
        help_text=_lazy("Username (method basic)"),
    )
    password = SecretField(max_length=WEBHOOK_PASSWORD_MAX_LENGTH, help_text=_lazy("Password (method basic)"))

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)
        allowed = {"bearer": {"method", "token"}, "basic": {"method", "username", "password"}}[value["method"]]
        extra = [key for key in value if key not in allowed]
        if extra:
            message = messages.additional_properties(",".join(extra))
            raise serializers.ValidationError(
                {api_settings.NON_FIELD_ERRORS_KEY: [ErrorDetail(message, code=FieldCode.OBJECT_ADDITIONAL_PROPERTIES)]}
            )
        required = ["username"] if value["method"] == AuthorizationMethod.BASIC else []
        if self.secret_required:
            required.append("token" if value["method"] == AuthorizationMethod.BEARER else "password")
        missing = [key for key in required if key not in value]
        if missing:
            # "required": reported as z-schema's missing property (core.schema._collect).
            raise serializers.ValidationError({key: [ErrorDetail(key, code="required")] for key in missing})
        return value


class WebhookAuthorizationPatchSerializer(WebhookAuthorizationSerializer):
    secret_required = False


class WebhookConfigurationSerializer(StrictSerializer):
    webhook_endpoint = StrictCharField(
        min_length=1,
        max_length=WEBHOOK_ENDPOINT_MAX_LENGTH,
        required=True,
        help_text=_lazy("Target HTTP endpoint URL"),
    )
    webhook_authorization = WebhookAuthorizationSerializer(required=True)


class WebhookConfigurationPatchSerializer(WebhookConfigurationSerializer):
    webhook_authorization = WebhookAuthorizationPatchSerializer(required=True)


class DestinationTypeField(StrictChoiceField):
    """``webhook``; Auth0's other destinations (``eventbridge``, ``action``) are refused as not supported here."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=("webhook",), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if data in ("eventbridge", "action"):
            message = _("Destination type %(type)s is not supported by this service; use webhook") % {"type": data}
            raise fail(message, FieldCode.ENUM_MISMATCH)
        return super().to_internal_value(data)


class WebhookDestinationSerializer(StrictSerializer):
    type = DestinationTypeField(required=True, help_text=_lazy("Destination type"))
    configuration = WebhookConfigurationSerializer(required=True)


class WebhookDestinationPatchSerializer(StrictSerializer):
    type = DestinationTypeField(required=True, help_text=_lazy("Destination type"))
    configuration = WebhookConfigurationPatchSerializer(required=True)


class Destination(TypedDict):
    type: str
    configuration: dict[str, Any]


class NewEventStream(TypedDict, total=False):
    """A body ``CreateEventStreamRequestSerializer`` accepted."""

    name: Required[str]
    subscriptions: list[dict[str, str]]
    destination: Required[Destination]
    status: str


def _name_field(*, required: bool = False) -> StrictCharField:
    return StrictCharField(
        min_length=1,
        max_length=EVENT_STREAM_NAME_MAX_LENGTH,
        required=required,
        help_text=_lazy("Name of the event stream"),
    )


def _status_field() -> StrictChoiceField:
    return StrictChoiceField(
        choices=tuple(EventStreamStatus.values),
        help_text=_lazy("Indicates whether the event stream is actively forwarding events"),
    )


# ``name`` is required here: Auth0's schema leaves it optional, but a stream needs a name to be told apart (in the
# admin, in the audit log), and inventing one would be a guess.
class CreateEventStreamRequestSerializer(StrictSerializer[NewEventStream]):
    name = _name_field(required=True)
    subscriptions = SubscriptionListField(help_text=_lazy("List of event types subscribed to in this stream"))
    destination = WebhookDestinationSerializer(required=True)
    status = _status_field()


class EventStreamChanges(TypedDict, total=False):
    """A body ``UpdateEventStreamRequestSerializer`` accepted."""

    name: str
    subscriptions: list[dict[str, str]]
    destination: Destination
    status: str


# Auth0's UpdateEventStreamRequestContent has no minProperties: an empty body changes nothing.
class UpdateEventStreamRequestSerializer(StrictSerializer[EventStreamChanges]):
    name = _name_field()
    subscriptions = SubscriptionListField(help_text=_lazy("List of event types subscribed to in this stream"))
    destination = WebhookDestinationPatchSerializer(required=False)
    status = _status_field()


class NewTestEvent(TypedDict, total=False):
    event_type: Required[str]
    data: dict[str, Any]


class CreateTestEventRequestSerializer(StrictSerializer[NewTestEvent]):
    event_type = EventTypeField(required=True, help_text=_lazy("The type of event this test event represents"))
    # DRF's metaclass moves declared fields out of the class, so this does not shadow Serializer.data.
    data = JSONObjectField(  # type: ignore[assignment]
        max_depth=10, help_text=_lazy("The raw payload of the test event")
    )


class DateField(StrictCharField):
    """Auth0's delivery date bounds: RFC 3339 in UTC without sub-seconds (``2025-07-25T00:00:00Z``)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=DATE_MAX_LENGTH, pattern=DATE_PATTERN, **kwargs)

    def to_internal_value(self, data: Any) -> datetime:  # type: ignore[override]
        text = super().to_internal_value(data)
        try:
            return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise fail(messages.format_mismatch("date-time", echo(text)), FieldCode.FORMAT) from None


class StatusListField(StrictField):
    """Delivery statuses: Auth0 knows ``failed``; ``pending`` and ``delivered`` are ours."""

    expected_type = "array"

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list):
            raise self.type_error(data)
        for item in data:
            if not isinstance(item, str):
                raise fail(messages.invalid_type("string", json_type(item)), FieldCode.INVALID_TYPE)
            check_text(item)
            if item not in DeliveryStatus.values:
                raise fail(messages.enum_mismatch(echo(item)), FieldCode.ENUM_MISMATCH)
        return list(dict.fromkeys(data))


class EventTypeListField(StrictField):
    expected_type = "array"

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list):
            raise self.type_error(data)
        field = EventTypeField()
        return list(dict.fromkeys(field.to_internal_value(item) for item in data))


class RedeliveryFilter(TypedDict, total=False):
    date_from: datetime
    date_to: datetime
    statuses: list[str]
    event_types: list[str]


class RedeliveryRequestSerializer(StrictSerializer[RedeliveryFilter]):
    date_from = DateField(help_text=_lazy("An RFC-3339 date-time for redelivery start, inclusive"))
    date_to = DateField(help_text=_lazy("An RFC-3339 date-time for redelivery end, exclusive"))
    statuses = StatusListField(help_text=_lazy("Filter by status"))
    event_types = EventTypeListField(help_text=_lazy("Filter by event type"))


class _CommaListField(StrictField):
    """A comma-separated list in the query string (Auth0's ``statuses``, ``event_types``), checked as the body's
    array of the same name."""

    expected_type = "string"
    list_field: type[StrictField]

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, str):
            raise self.type_error(data)
        check_text(data)
        return self.list_field().to_internal_value([item.strip() for item in data.split(",") if item.strip()])


class QueryStatusesField(_CommaListField):
    list_field = StatusListField


class QueryEventTypesField(_CommaListField):
    list_field = EventTypeListField


class ListEventStreamsQuerySerializer(StrictSerializer):
    take = QueryIntegerField(min_value=1, max_value=MAX_TAKE, help_text=_lazy("Number of results per page"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # "from" is a Python keyword: declared here rather than as a class attribute. An opaque cursor: ours are ids.
        self.fields["from"] = StrictCharField(
            max_length=CURSOR_MAX_LENGTH, help_text=_lazy("Optional Id from which to start selection")
        )


class ListDeliveriesQuerySerializer(ListEventStreamsQuerySerializer):
    statuses = QueryStatusesField(help_text=_lazy("Comma-separated list of statuses by which to filter"))
    event_types = QueryEventTypesField(help_text=_lazy("Comma-separated list of event types by which to filter"))
    date_from = DateField(help_text=_lazy("An RFC-3339 date-time for redelivery start, inclusive"))
    date_to = DateField(help_text=_lazy("An RFC-3339 date-time for redelivery end, exclusive"))
