"""Strict JSON-schema-style DRF fields and the payload validator every write endpoint uses.

DRF's stock fields coerce (``5`` becomes ``"5"``, ``"true"`` becomes ``True``) and trim whitespace; Auth0
validates bodies with z-schema, which does neither. These fields keep DRF's machinery (nesting, error
collection, drf-spectacular introspection) but check types as JSON Schema does and word their errors as
z-schema does, so ``Payload validation error: '...' on property x (...)`` reads like Auth0's.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, cast

from django.http import QueryDict
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant

from core import messages
from core.errors import FieldCode, FieldError, PayloadValidationError, QueryValidationError

_ECHO_LIMIT = 120
# Highest page index a list accepts: beyond it the offset overflows SQLite's integers (and is useless anyway).
MAX_PAGE = 100_000


def json_type(value: Any) -> str:
    """The JSON Schema type name of a parsed JSON value, as z-schema reports it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def echo(value: str) -> str:
    """A value quoted back in a message, cut short so a huge body cannot echo itself.

    NUL and lone surrogates are escaped: the message may be stored (audit log) and must encode as UTF-8.
    """
    value = value if len(value) <= _ECHO_LIMIT else value[:_ECHO_LIMIT] + "…"
    return storable_text(value)


def storable_text(value: str) -> str:
    """Text any database accepts and any response can encode: NUL and lone surrogates written as escapes."""
    return value.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def fail(message: str, code: str) -> serializers.ValidationError:
    return serializers.ValidationError(ErrorDetail(message, code=code))


def text_fault(value: str) -> str | None:
    """Why the databases cannot store ``value`` (a NUL, which PostgreSQL refuses; a lone surrogate, which is not
    UTF-8), as a translated sentence, or None when they can. The one text check of every input path: bodies,
    query strings and paths (``api.middleware``), OAuth parameters and credentials (``api.oauth.token``)."""
    if "\x00" in value:
        return messages.nul_character()
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return messages.lone_surrogate()
    return None


def _plain_text(value: str) -> bool:
    """``text_fault(value) is None``, answered at C speed for ASCII text (which cannot hold a lone surrogate)."""
    return (value.isascii() and "\x00" not in value) or text_fault(value) is None


def storable_json(value: Any, max_depth: int, depth: int = 1) -> bool:
    """Whether parsed JSON ``value`` (at level ``depth``) has nothing that ``JSONObjectField`` or the bulk import's
    ``check_storable`` would refuse: no object or array below level ``max_depth``, no text (keys included) that
    ``text_fault`` refuses, no infinite or NaN number. A yes/no answer for the common case, with no path or
    message built; the callers' own checks, which say what and where, run only on a no. Recursion stops below
    ``max_depth``, so no input can exhaust the stack.
    """
    if isinstance(value, str):
        return _plain_text(value)
    if isinstance(value, dict):
        if depth > max_depth:
            return False
        depth += 1
        for key, item in value.items():
            if isinstance(key, str) and not _plain_text(key):
                return False
            if not _storable_item(item, max_depth, depth):
                return False
        return True
    if isinstance(value, list):
        if depth > max_depth:
            return False
        depth += 1
        for item in value:  # noqa: SIM110 (a loop, not all() over a generator: this runs for every list)
            if not _storable_item(item, max_depth, depth):
                return False
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def _storable_item(item: Any, max_depth: int, depth: int) -> bool:
    """``storable_json`` of a member, with the JSON parser's own types answered without a call."""
    kind = type(item)
    if kind is str:
        return (item.isascii() and "\x00" not in item) or text_fault(item) is None
    if kind is int or kind is bool or item is None:
        return True
    return storable_json(item, max_depth, depth)


def check_text(value: str) -> None:
    """Raise a DRF ``ValidationError`` (code ``INVALID_CHARACTERS``) for text ``text_fault`` refuses."""
    fault = text_fault(value)
    if fault is not None:
        raise fail(fault, FieldCode.INVALID_CHARACTERS)


class StrictField(serializers.Field):
    """Base: ``null`` is a type error, not a silent ``None``."""

    expected_type = "string"

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None and not self.allow_null:
            raise fail(messages.invalid_type(self.expected_type, "null"), FieldCode.INVALID_TYPE)
        return super().validate_empty_values(data)

    def type_error(self, data: Any) -> serializers.ValidationError:
        return fail(messages.invalid_type(self.expected_type, json_type(data)), FieldCode.INVALID_TYPE)

    def to_representation(self, value: Any) -> Any:
        return value


class StrictCharField(StrictField):
    """A JSON string with length limits, an optional pattern and an optional named format check."""

    def __init__(
        self,
        *,
        min_length: int | None = None,
        max_length: int | None = None,
        pattern: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern
        self._regex = re.compile(pattern) if pattern else None
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            raise self.type_error(data)
        check_text(data)
        if self.min_length is not None and len(data) < self.min_length:
            raise fail(messages.too_short(len(data), self.min_length), FieldCode.MIN_LENGTH)
        if self.max_length is not None and len(data) > self.max_length:
            raise fail(messages.too_long(len(data), self.max_length), FieldCode.MAX_LENGTH)
        # Our patterns are anchored; fullmatch keeps Python's "$ before a final newline" from letting
        # "+123\n" pass as "^\+[0-9]{1,15}$".
        if self._regex is not None and not self._regex.fullmatch(data):
            raise fail(messages.pattern_mismatch(str(self.pattern), echo(data)), FieldCode.PATTERN)
        self.check_format(data)
        return data

    def check_format(self, value: str) -> None:
        """Subclasses check a named format (email, strict-uri, ...)."""


class StrictBooleanField(StrictField):
    expected_type = "boolean"

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            raise self.type_error(data)
        return data


class StrictIntegerField(StrictField):
    expected_type = "integer"

    def __init__(self, *, min_value: int | None = None, max_value: int | None = None, **kwargs: Any) -> None:
        self.min_value = min_value
        self.max_value = max_value
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise self.type_error(data)
        if isinstance(data, float):
            if not data.is_integer():
                raise self.type_error(data)
            data = int(data)
        if self.min_value is not None and data < self.min_value:
            raise fail(messages.below_minimum(data, self.min_value), FieldCode.MINIMUM)
        if self.max_value is not None and data > self.max_value:
            raise fail(messages.above_maximum(data, self.max_value), FieldCode.MAXIMUM)
        return data


class StrictChoiceField(StrictField):
    def __init__(self, *, choices: tuple[Any, ...], **kwargs: Any) -> None:
        self.choices = choices
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None and None in self.choices:
            return True, None
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or data not in self.choices:
            raise fail(messages.enum_mismatch(echo(json.dumps(data))), FieldCode.ENUM_MISMATCH)
        return data


class StrictStringListField(StrictField):
    """An array of strings, each within ``max_item_length``, at most ``max_items`` long."""

    expected_type = "array"

    def __init__(self, *, max_items: int, max_item_length: int, **kwargs: Any) -> None:
        self.max_items = max_items
        self.max_item_length = max_item_length
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list):
            raise self.type_error(data)
        if len(data) > self.max_items:
            raise fail(messages.array_too_long(len(data), self.max_items), FieldCode.ARRAY_LENGTH_LONG)
        for item in data:
            if not isinstance(item, str):
                raise fail(messages.invalid_type("string", json_type(item)), FieldCode.INVALID_TYPE)
            check_text(item)
            if len(item) > self.max_item_length:
                raise fail(messages.too_long(len(item), self.max_item_length), FieldCode.MAX_LENGTH)
        return data


class JSONObjectField(StrictField):
    """A JSON object of any content, bounded in depth, with text every database can store."""

    expected_type = "object"

    def __init__(self, *, max_depth: int = 10, **kwargs: Any) -> None:
        self.max_depth = max_depth
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.type_error(data)
        if not storable_json(data, self.max_depth):  # the common case answered without building any error
            self._check(data, 1)
        return data

    def _check(self, value: Any, depth: int) -> None:
        if isinstance(value, dict | list):
            if depth > self.max_depth:
                raise fail(messages.too_deep(self.max_depth), FieldCode.MAX_DEPTH)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str):
                    check_text(key)
                self._check(item, depth + 1)
        elif isinstance(value, str):
            check_text(value)
        elif isinstance(value, float) and not math.isfinite(value):
            # 1e400 parses as infinity; JSON cannot say that and the JSON columns refuse it.
            raise fail(messages.not_finite(), FieldCode.INVALID_NUMBER)


# What ``validate_payload`` returns for a schema: a ``TypedDict`` of its fields where the schema names one
# (``class CreateUserRequestSerializer(StrictSerializer[NewUser])``), a plain dict otherwise.
_Validated = TypeVar("_Validated", bound=Mapping[str, Any])


# A JSON object with ``additionalProperties: false``. (A comment, not a docstring: drf-spectacular would show a
# docstring as the description of every request schema.) At run time ``StrictSerializer[X]`` is the class itself
# (DRF's ``__class_getitem__``); the parameter is for the type checker only.
class StrictSerializer(serializers.Serializer, Generic[_Validated]):
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {
                    api_settings.NON_FIELD_ERRORS_KEY: [
                        ErrorDetail(
                            messages.invalid_type("object", json_type(data)),
                            code=FieldCode.INVALID_TYPE,
                        )
                    ]
                }
            )
        unknown = [key for key in data if key not in self.fields]
        errors: dict[str, Any] = {}
        if unknown:
            errors[api_settings.NON_FIELD_ERRORS_KEY] = [
                ErrorDetail(
                    messages.additional_properties(echo(",".join(map(str, unknown)))),
                    code=FieldCode.OBJECT_ADDITIONAL_PROPERTIES,
                )
            ]
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Report every problem at once, as z-schema does, not just the unknown keys.
            # A serializer's field errors are always a mapping; anything else would be a non-field error.
            detail = exc.detail if isinstance(exc.detail, dict) else {api_settings.NON_FIELD_ERRORS_KEY: exc.detail}
            raise serializers.ValidationError({**errors, **detail}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None and not self.allow_null:
            raise fail(messages.invalid_type("object", "null"), FieldCode.INVALID_TYPE)
        return super().validate_empty_values(data)


def _describe(serializer: serializers.Serializer, path: list[str]) -> str | None:
    node: Any = serializer
    for part in path:
        fields = getattr(node, "fields", None)
        if fields is None or part not in fields:
            return None
        node = fields[part]
    text = str(getattr(node, "help_text", "") or "")
    return text.rstrip(".。") or None


def _collect(serializer: serializers.Serializer, detail: Any, path: list[str]) -> list[FieldError]:
    if isinstance(detail, dict):
        out: list[FieldError] = []
        for key, value in detail.items():
            sub = path if key == api_settings.NON_FIELD_ERRORS_KEY else [*path, str(key)]
            out.extend(_collect(serializer, value, sub))
        return out
    if isinstance(detail, list):
        return [e for item in detail for e in _collect(serializer, item, path)]
    code = getattr(detail, "code", "invalid")
    if code == "required":
        # z-schema reports a missing property on the object that lacks it.
        return [
            FieldError(
                ".".join(path),
                FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY,
                messages.missing_property(path[-1]),
            )
        ]
    return [FieldError(".".join(path) or None, code, str(detail))]


def payload_message(serializer: serializers.Serializer, errors: list[FieldError], kind: str = "Payload") -> str:
    """Auth0's wording: one ``Payload validation error: ...`` per problem, joined by ``(also)``."""
    parts = []
    for error in errors:
        owner = (error.field or "").split(".")
        if error.code == FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY:
            owner = owner[:-1]
        owner = [p for p in owner if p]
        if not owner:
            parts.append(messages.validation_error(kind, error.message))
            continue
        description = _describe(serializer, owner)
        parts.append(messages.validation_error(kind, error.message, ".".join(owner), description))
    return messages.joined(parts)


def _from_form(data: QueryDict, serializer: serializers.Serializer) -> dict[str, Any]:
    """A form body as the JSON object it stands for: booleans and objects are written as text there.

    A repeated field is an array, as a repeated query parameter is (``validate_query``): the field refuses it
    unless it takes an array, so no value is silently dropped (``QueryDict[key]`` would keep only the last).
    """
    out: dict[str, Any] = {}
    for key, values in data.lists():
        if len(values) > 1:
            out[key] = values
            continue
        value: Any = values[0]
        field = serializer.fields.get(key)
        if isinstance(field, StrictBooleanField) and value in ("true", "false"):
            value = value == "true"
        elif isinstance(field, JSONObjectField | StrictSerializer):
            # Left as text when it is not strict JSON (NaN, absurd nesting): the field reports the type.
            with contextlib.suppress(ValueError, RecursionError):
                value = json.loads(value, parse_constant=strict_constant)
        elif isinstance(field, StrictIntegerField):
            with contextlib.suppress(ValueError):
                value = int(value)
        out[key] = value
    return out


def validate_payload(
    serializer_class: type[StrictSerializer[_Validated]],
    data: Any,
    *,
    context: dict[str, Any] | None = None,
) -> _Validated:
    """Validate a request body against a strict serializer or raise ``PayloadValidationError``.

    Returns the validated body, typed as the serializer declares (``StrictSerializer[NewUser]``).
    """
    # Binding a serializer copies its fields, so the field-less instance is only made when needed (a form body
    # or a body that is no object at all): JSON objects, the common case, bind once.
    if isinstance(data, QueryDict):
        data = _from_form(data, serializer_class(context=context or {}))
    if not isinstance(data, Mapping):
        error = FieldError(None, FieldCode.INVALID_TYPE, messages.invalid_type("object", json_type(data)))
        raise PayloadValidationError(payload_message(serializer_class(), [error]), errors=[error])
    serializer = _take(serializer_class, data, context)
    try:
        if serializer.is_valid():
            return cast(_Validated, dict(serializer.validated_data))
        errors = _collect(serializer, serializer.errors, [])
        raise PayloadValidationError(payload_message(serializer, errors), errors=errors)
    finally:
        _give_back(serializer, context)


# Serializers bound once per thread, for the classes that say ``bind_once = True``.
_bound = threading.local()


def _take(
    serializer_class: type[serializers.Serializer], data: Any, context: dict[str, Any] | None
) -> serializers.Serializer:
    """A serializer holding ``data``: this thread's bound one when the class allows it, else a new one.

    Binding copies every declared field (``copy.deepcopy``), which cost more than validating a create body
    (about 180 of 290 µs); the fields keep no state between validations, so a class whose serializer keeps
    none either (no ``validate`` storing on ``self``, no per-request context) sets ``bind_once`` and each
    thread binds it once. Only module-level classes may: the cache holds one per class and thread.
    """
    if context or not getattr(serializer_class, "bind_once", False):
        return serializer_class(data=data, context=context or {})
    idle: dict[type, serializers.Serializer] = _bound.__dict__.setdefault("idle", {})
    serializer = idle.pop(serializer_class, None)  # taken: a nested call on this thread binds its own
    if serializer is None:
        return serializer_class(data=data, context={})
    serializer.initial_data = data
    return serializer


def _give_back(serializer: serializers.Serializer, context: dict[str, Any] | None) -> None:
    if context or not getattr(type(serializer), "bind_once", False):
        return
    for attribute in ("initial_data", "_validated_data", "_errors", "_data"):
        serializer.__dict__.pop(attribute, None)
    _bound.__dict__.setdefault("idle", {})[type(serializer)] = serializer


class QueryIntegerField(StrictIntegerField):
    """An integer written as text in the query string."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str) and data.isascii() and data.removeprefix("-").isdigit():
            data = int(data)  # "--1", " 1" and "1.0" stay text: the type check refuses them
        return super().to_internal_value(data)


class QueryBooleanField(StrictBooleanField):
    """``true`` or ``false`` in the query string."""

    def to_internal_value(self, data: Any) -> bool:
        if data in ("true", "false"):
            return data == "true"
        return super().to_internal_value(data)


class QueryStringListField(StrictField):
    """Several values of one parameter: repeated (``a=x&a=y``, as the SDKs send arrays) or comma-separated."""

    expected_type = "array"

    def to_internal_value(self, data: Any) -> list[str]:
        values = data if isinstance(data, list) else [data]
        if not all(isinstance(value, str) for value in values):
            raise self.type_error(data)
        for value in values:
            check_text(value)
        return [item for value in values for item in value.split(",") if item]


def validate_query(serializer_class: type[serializers.Serializer], params: QueryDict) -> dict[str, Any]:
    """Validate query parameters (a repeated one is an array, and refused); raise ``QueryValidationError``."""
    # A repeated parameter is an array, which no parameter here accepts: it is refused, not silently truncated.
    data = {key: (values if len(values) > 1 else values[0]) for key, values in params.lists()}
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return dict(serializer.validated_data)
    errors = _collect(serializer, serializer.errors, [])
    raise QueryValidationError(payload_message(serializer, errors, kind="Query"), errors=errors)
