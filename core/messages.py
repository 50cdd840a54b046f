"""The validation messages of every API, in z-schema's wording (Auth0's), each one translatable.

One function per message so the English text matches Auth0's exactly and the Japanese catalogue has one
entry per template; callers never build these sentences themselves.
"""

from __future__ import annotations

from django.utils.translation import gettext as _


def invalid_type(expected: str, found: str) -> str:
    return _("Expected type %(expected)s but found type %(found)s") % {"expected": expected, "found": found}


def too_short(length: int, minimum: int) -> str:
    return _("String is too short (%(length)s chars), minimum %(minimum)s") % {
        "length": length,
        "minimum": minimum,
    }


def too_long(length: int, maximum: int) -> str:
    return _("String is too long (%(length)s chars), maximum %(maximum)s") % {
        "length": length,
        "maximum": maximum,
    }


def too_many_bytes(size: int, maximum: int) -> str:
    return _("String is too long (%(size)s bytes), maximum %(maximum)s bytes") % {
        "size": size,
        "maximum": maximum,
    }


def pattern_mismatch(pattern: str, value: str) -> str:
    return _("String does not match pattern %(pattern)s: %(value)s") % {"pattern": pattern, "value": value}


def format_mismatch(format_name: str, value: str) -> str:
    return _("Object didn't pass validation for format %(format)s: %(value)s") % {
        "format": format_name,
        "value": value,
    }


def format_mismatch_hidden(format_name: str) -> str:
    """A value that must not be quoted back (a password hash, salt or key) failed its format."""
    return _("Object didn't pass validation for format %(format)s") % {"format": format_name}


def parameter_below_minimum(name: str, value: object, minimum: object) -> str:
    return _("Value %(value)s of %(name)s is less than minimum %(minimum)s") % {
        "name": name,
        "value": value,
        "minimum": minimum,
    }


def parameter_above_maximum(name: str, value: object, maximum: object) -> str:
    return _("Value %(value)s of %(name)s is greater than maximum %(maximum)s") % {
        "name": name,
        "value": value,
        "maximum": maximum,
    }


def memory_above_maximum(needed: int, maximum: int) -> str:
    return _("Memory needed (%(needed)s bytes) is greater than maximum %(maximum)s bytes") % {
        "needed": needed,
        "maximum": maximum,
    }


def not_power_of_two(name: str, value: int) -> str:
    return _("Value %(value)s of %(name)s is not a power of two greater than 1") % {"name": name, "value": value}


def not_allowed_with_algorithm(name: str, algorithm: str) -> str:
    return _("Property %(name)s is not allowed with algorithm %(algorithm)s") % {"name": name, "algorithm": algorithm}


def digest_unavailable(name: str) -> str:
    return _("Digest %(name)s is not available on this server") % {"name": name}


def below_minimum(value: object, minimum: object) -> str:
    return _("Value %(value)s is less than minimum %(minimum)s") % {"value": value, "minimum": minimum}


def above_maximum(value: object, maximum: object) -> str:
    return _("Value %(value)s is greater than maximum %(maximum)s") % {"value": value, "maximum": maximum}


def enum_mismatch(value: str) -> str:
    return _("No enum match for: %(value)s") % {"value": value}


def array_too_long(length: int, maximum: int) -> str:
    return _("Array is too long (%(length)s), maximum %(maximum)s") % {"length": length, "maximum": maximum}


def array_too_short(length: int, minimum: int) -> str:
    return _("Array is too short (%(length)s), minimum %(minimum)s") % {"length": length, "minimum": minimum}


def too_deep(maximum: int) -> str:
    return _("Object is nested too deeply (more than %(maximum)s levels)") % {"maximum": maximum}


def nul_character() -> str:
    return _("String must not contain NUL characters")


def lone_surrogate() -> str:
    return _("String contains invalid Unicode (lone surrogate)")


def not_encoded_as(charset: str) -> str:
    return _("String is not valid %(charset)s") % {"charset": charset}


def not_finite() -> str:
    return _("Number is out of range (not finite)")


def additional_properties(names: str) -> str:
    return _("Additional properties not allowed: %(names)s") % {"names": names}


def too_few_properties(count: int, minimum: int) -> str:
    return _("Too few properties defined (%(count)s), minimum %(minimum)s") % {"count": count, "minimum": minimum}


def missing_property(name: str) -> str:
    return _("Missing required property: %(name)s") % {"name": name}


def validation_error(kind: str, message: str, path: str | None = None, description: str | None = None) -> str:
    """``Payload validation error: '<message>' on property <path> (<description>).`` (or ``Query ...``)."""
    values = {"message": message, "property": path, "description": description}
    if kind == "Query":
        if path is None:
            return _("Query validation error: '%(message)s'.") % values
        if description is None:
            return _("Query validation error: '%(message)s' on property %(property)s.") % values
        return _("Query validation error: '%(message)s' on property %(property)s (%(description)s).") % values
    if path is None:
        return _("Payload validation error: '%(message)s'.") % values
    if description is None:
        return _("Payload validation error: '%(message)s' on property %(property)s.") % values
    return _("Payload validation error: '%(message)s' on property %(property)s (%(description)s).") % values


def joined(messages: list[str]) -> str:
    """Several problems in one message, as z-schema joins them."""
    return _(" (also) ").join(messages)
