"""drf-spectacular extensions: the OpenAPI document describes exactly what the strict fields accept.

The strict fields are custom DRF fields, so drf-spectacular cannot guess their JSON Schema; these extensions
emit the same types, lengths, patterns and formats the fields enforce (and Auth0's ``strict-uri`` and
``email`` formats), ``additionalProperties: false`` for strict objects, and the bearer/OAuth2 security with
each operation's scopes taken from the view's ``required_scopes``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)

from clients.scopes import SCOPE_DESCRIPTIONS


def _strict_string(field: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if field.min_length is not None:
        schema["minLength"] = field.min_length
    if field.max_length is not None:
        schema["maxLength"] = field.max_length
    if field.pattern:
        schema["pattern"] = field.pattern
    return schema


def _nullable(field: Any, schema: dict[str, Any]) -> dict[str, Any]:
    if getattr(field, "allow_null", False):
        schema["nullable"] = True
    return schema


class StrictCharFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "core.schema.StrictCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = _strict_string(self.target)
        formats = {
            "EmailAddressField": "email",
            "StrictUriField": "strict-uri",
        }
        name = type(self.target).__name__
        if name in formats:
            schema["format"] = formats[name]
        if name == "PasswordField":
            schema["description"] = "At most 72 bytes of UTF-8 (bcrypt's limit)."
        if name == "PhoneNumberField":
            schema["description"] = "E.164, and a number that exists (checked with phonenumbers)."
        return _nullable(self.target, schema)


class StrictBooleanFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "core.schema.StrictBooleanField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return _nullable(self.target, {"type": "boolean"})


class StrictIntegerFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "core.schema.StrictIntegerField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        if self.target.min_value is not None:
            schema["minimum"] = self.target.min_value
        if self.target.max_value is not None:
            schema["maximum"] = self.target.max_value
        return schema


class StrictChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "core.schema.StrictChoiceField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        choices = [c for c in self.target.choices if c is not None]
        schema: dict[str, Any] = {"type": "string", "enum": choices}
        if None in self.target.choices:
            schema["nullable"] = True
        return schema


class StrictStringListFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "core.schema.StrictStringListField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {
            "type": "array",
            "maxItems": self.target.max_items,
            "items": {"type": "string", "maxLength": self.target.max_item_length},
        }


class ClientIdListFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "connections.serializers.ClientIdListField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string"}}


class QueryStringListFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "core.schema.QueryStringListField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "array", "items": {"type": "string"}}


def _event_type_schema() -> dict[str, Any]:
    from events.models import EventType

    return {"type": "string", "enum": list(EventType.values)}


def _delivery_status_schema() -> dict[str, Any]:
    from events.models import DeliveryStatus

    return {"type": "string", "enum": list(DeliveryStatus.values)}


class EventTypeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "events.serializers.EventTypeField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return _event_type_schema()


class SubscriptionListFieldExtension(OpenApiSerializerFieldExtension):
    """Auth0's ``subscriptions``: ``[{"event_type": ...}]``, at least one."""

    target_class = "events.serializers.SubscriptionListField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        item = {
            "type": "object",
            "properties": {"event_type": _event_type_schema()},
            "required": ["event_type"],
            "additionalProperties": False,
        }
        return {
            "type": "array",
            "minItems": self.target.min_items,
            "maxItems": self.target.max_items,
            "items": item,
        }


class EventTypeListFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "events.serializers.EventTypeListField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "array", "items": _event_type_schema()}


class StatusListFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "events.serializers.StatusListField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "array", "items": _delivery_status_schema()}


class CommaListFieldExtension(OpenApiSerializerFieldExtension):
    """``statuses`` and ``event_types`` in the deliveries list's query: comma-separated text."""

    target_class = "events.serializers._CommaListField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        return {"type": "string"}


class JSONObjectFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "core.schema.JSONObjectField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "additionalProperties": True}
        if type(self.target).__name__ == "SignupMetadataField":
            values = {"type": "string", "maxLength": 500}
            schema = {"type": "object", "maxProperties": 10, "additionalProperties": values}
        if type(self.target).__name__ == "ConnectionMetadataField":  # Auth0's ConnectionsMetadata
            from connections.options import CONNECTION_METADATA_MAX_PROPERTIES, CONNECTION_METADATA_MAX_VALUE

            values = {"type": "string", "maxLength": CONNECTION_METADATA_MAX_VALUE, "nullable": True}
            schema = {
                "type": "object",
                "maxProperties": CONNECTION_METADATA_MAX_PROPERTIES,
                "additionalProperties": values,
            }
        return _nullable(self.target, schema)


class StrictSerializerExtension(OpenApiSerializerExtension):
    """Strict request objects refuse unknown properties; say so."""

    target_class = "core.schema.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema


class BearerTokenAuthenticationExtension(OpenApiAuthenticationExtension):
    """An RS256 bearer token from ``/oauth/token``; each operation lists the scopes that suffice."""

    target_class = "api.bearer.BearerTokenAuthentication"
    name = ["bearerAuth", "oAuth2ClientCredentials"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[str]]]:
        scopes = list(getattr(auto_schema.view, "required_scopes", {}).get(auto_schema.method, ()))
        return [{"bearerAuth": []}, {"oAuth2ClientCredentials": scopes}]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            {
                "type": "oauth2",
                "flows": {
                    "clientCredentials": {
                        "tokenUrl": "/oauth/token",
                        "scopes": {scope: str(text) for scope, text in SCOPE_DESCRIPTIONS.items()},
                    }
                },
            },
        ]


def add_server_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """gunicorn itself answers 414 (text/html) to a request line over its limit, before the app sees it."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            operation["responses"].setdefault(
                "414",
                {
                    "description": "Request line too long: answered by the HTTP server, not the API.",
                    "content": {"text/html": {"schema": {"type": "string"}}},
                },
            )
    return result
