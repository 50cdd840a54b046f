"""The bulk import's quick yes/no checks answer exactly as the checks that build errors.

``core.schema.storable_json`` answers the common case of ``JSONObjectField`` and of the import's ``check_storable``
(no container too deep, no NUL or lone surrogate in a key or a text, no infinite number) without building a path
or a message; ``users.metadata._has_marked_name`` answers ``check_field_names``' search for ``.`` and ``$`` the
same way. Each must say "clean" exactly when the full check finds nothing, or the import would accept what the
API refuses (or build errors for what it accepts)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import serializers

from core.schema import JSONObjectField, storable_json
from users.imports.validation import MAX_USER_DEPTH, check_storable
from users.metadata import InvalidMetadata, _has_marked_name, check_field_names


def _nested(depth: int, leaf: Any = 1) -> Any:
    """An object ``depth`` levels deep (the outer object is level 1) with ``leaf`` at the bottom."""
    value: Any = leaf
    for _ in range(depth):
        value = {"k": value}
    return value


def _listed(depth: int) -> Any:
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


VALUES: dict[str, Any] = {
    "plain": {"plan": "gold", "seq": 1, "roles": ["user"], "ok": True, "none": None, "ratio": 0.5},
    "non-ascii text": {"名前": "ジョン", "city": "Zürich"},
    "astral text": {"emoji": "\U0001f600"},
    "nul in a text": {"a": "x\x00y"},
    "nul in a key": {"a\x00": 1},
    "nul in a nested key": {"a": [{"b": {"c\x00d": 1}}]},
    "lone surrogate in a text": {"a": ["\ud800"]},
    "lone surrogate in a key": {"\udc00": 1},
    "lone surrogate deep in an array": {"a": [[["ok", "\udfff"]]]},
    "infinity": {"a": float("inf")},
    "minus infinity in an array": {"a": [1, float("-inf")]},
    "nan": {"a": {"b": float("nan")}},
    "large finite number": {"a": 1e308, "b": -1e308, "c": 10**40},
    "empty containers": {"a": {}, "b": [], "c": [{}]},
    "at the depth limit": _nested(10),
    "one beyond the depth limit": _nested(11),
    "arrays at the depth limit": {"a": _listed(9)},
    "arrays beyond the depth limit": {"a": _listed(10)},
    "an empty object beyond the limit": _nested(10, {}),
    "an empty array beyond the limit": _nested(10, []),
}


def _field_accepts(value: Any) -> bool:
    try:
        JSONObjectField(max_depth=10)._check(value, 1)
    except serializers.ValidationError:
        return False
    return True


@pytest.mark.parametrize("name", VALUES)
def test_storable_json_answers_as_the_metadata_field_does(name):
    value = VALUES[name]
    assert storable_json(value, 10) is _field_accepts(value)


@pytest.mark.parametrize("name", VALUES)
def test_the_metadata_field_still_refuses_what_the_quick_check_does_not_pass(name):
    value = VALUES[name]
    field = JSONObjectField(max_depth=10)
    if _field_accepts(value):
        assert field.to_internal_value(value) is value
    else:
        with pytest.raises(serializers.ValidationError):
            field.to_internal_value(value)


@pytest.mark.parametrize(
    ("record", "clean"),
    [
        ({"email": "a@example.com", "user_metadata": VALUES["plain"]}, True),
        ({"email": "a@example.com", "x\x00": 1}, False),
        ({"email": "a\ud800@example.com"}, False),
        ({"email": "a@example.com", "n": float("inf")}, False),
        (_nested(MAX_USER_DEPTH), True),  # the record itself is level 1
        (_nested(MAX_USER_DEPTH + 1), False),
        ({"a": _listed(MAX_USER_DEPTH - 1)}, True),
        ({"a": _listed(MAX_USER_DEPTH)}, False),
    ],
)
def test_check_storable_finds_nothing_exactly_when_the_quick_check_passes(record, clean):
    assert storable_json(record, MAX_USER_DEPTH) is clean
    assert (check_storable(record) == []) is clean


@pytest.mark.parametrize(
    ("value", "marked"),
    [
        ({"plan": "gold", "roles": ["a.b", "$x"]}, False),  # values may hold anything
        ({"a.b": 1}, True),
        ({"$set": 1}, True),
        ({"a": {"b": [{"c": {"d.e": 1}}]}}, True),
        ({"a": [[{"x$": 1}]]}, True),
        ({"a": [1, "two", None, 3.5, True, {"ok": {}}]}, False),
    ],
)
def test_the_quick_name_search_finds_what_check_field_names_refuses(value, marked):
    assert _has_marked_name(value) is marked
    if marked:
        with pytest.raises(InvalidMetadata):
            check_field_names("user_metadata", value)
    else:
        check_field_names("user_metadata", value)
