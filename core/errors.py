"""The error vocabulary every app raises: ``DomainError`` with a stable code, ``FieldError`` entries, and the codes
shared across apps (``ErrorCode``) and z-schema's field codes (``FieldCode``).

Domain errors are plain exceptions with an HTTP status, a stable ``code`` and a message; they know nothing about
response bodies. ``api.problems.translate`` turns them (and every framework error) into a problem, and one renderer
per wire contract writes it; each app lists its own codes in its ``errors.py`` (``UserErrorCode``, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class ErrorCode(StrEnum):
    """Codes more than one app answers with (Auth0's ``errorCode`` values). A ``StrEnum``: members are the strings
    themselves, so they compare equal to them and serialise as them."""

    BAD_REQUEST = "bad_request"
    INVALID_BODY = "invalid_body"
    INVALID_PAGING = "invalid_paging"
    INVALID_QUERY_STRING = "invalid_query_string"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"
    TOO_MANY_REQUESTS = "too_many_requests"


class FieldCode(StrEnum):
    """z-schema's codes for one field's problem (the ``code`` of an ``errors`` entry), as Auth0 reports them."""

    ARRAY_LENGTH_LONG = "ARRAY_LENGTH_LONG"
    ARRAY_LENGTH_SHORT = "ARRAY_LENGTH_SHORT"
    ENUM_MISMATCH = "ENUM_MISMATCH"
    FORMAT = "FORMAT"
    INVALID_CHARACTERS = "INVALID_CHARACTERS"
    INVALID_NUMBER = "INVALID_NUMBER"
    INVALID_TYPE = "INVALID_TYPE"
    MAX_DEPTH = "MAX_DEPTH"
    MAX_LENGTH = "MAX_LENGTH"
    MAXIMUM = "MAXIMUM"
    MIN_LENGTH = "MIN_LENGTH"
    MINIMUM = "MINIMUM"
    OBJECT_ADDITIONAL_PROPERTIES = "OBJECT_ADDITIONAL_PROPERTIES"
    OBJECT_MISSING_REQUIRED_PROPERTY = "OBJECT_MISSING_REQUIRED_PROPERTY"
    OBJECT_PROPERTIES_MAXIMUM = "OBJECT_PROPERTIES_MAXIMUM"
    OBJECT_PROPERTIES_MINIMUM = "OBJECT_PROPERTIES_MINIMUM"
    # Auth0's bulk-import validator says OBJECT_REQUIRED where the API's z-schema says
    # OBJECT_MISSING_REQUIRED_PROPERTY.
    OBJECT_REQUIRED = "OBJECT_REQUIRED"
    PATTERN = "PATTERN"


@dataclass(frozen=True)
class FieldError:
    """One entry of the ``errors`` array: which field, a stable code, a readable message."""

    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.code, "message": self.message}


class DomainError(Exception):
    """Base of every error a service raises; subclasses set ``status``, ``code`` and ``default_message``.

    ``retry_after`` (seconds) says when trying again may succeed; ``challenge`` is the ``WWW-Authenticate`` value a
    401 carries (RFC 9110 §11.6.1). Both are ``None`` unless the error knows better.
    """

    status: int = 400
    code: str = ErrorCode.BAD_REQUEST
    # A lazy translation, rendered in the request's language when the error is raised.
    default_message: str | Promise = _("Bad request.")
    retry_after: int | None = None
    challenge: str | None = None

    def __init__(self, message: str | Promise | None = None, *, errors: list[FieldError] | None = None) -> None:
        self.message = str(message if message is not None else self.default_message)
        self.errors = list(errors or [])
        super().__init__(self.message)


class TemporarilyUnavailable(DomainError):
    """A dependency the request needs did not answer: 503 ``temporarily_unavailable``, try again shortly."""

    status = 503
    code = ErrorCode.TEMPORARILY_UNAVAILABLE
    default_message = _("The service is temporarily unavailable. Try again later.")


class DatabaseUnavailable(TemporarilyUnavailable):
    """The database could not answer in time (locked by another writer, unreachable): 503, try again in a second.

    What ``api.problems.translate`` makes of Django's ``OperationalError``, so an outage is answered in each
    contract's envelope instead of a 500 or a worker killed mid-request.
    """

    retry_after = 1


class QueryTimedOut(TemporarilyUnavailable):
    """A search ran past its time limit and was stopped (``core.db.time_limit``): 503 ``temporarily_unavailable``.
    Auth0 answers a search that does not finish within two seconds with 503 too ("User Search Best Practices":
    "Search queries time out (HTTP status code 503) if they're not completed in two seconds or less"). No
    ``Retry-After``: the same query is likely to take as long again."""

    default_message = _(
        "The search took too long and was stopped. Narrow the query (fewer terms, no leading wildcard) or try again "
        "later."
    )


class PayloadValidationError(DomainError):
    status = 400
    code = ErrorCode.INVALID_BODY
    default_message = _("Payload validation error.")


class QueryValidationError(DomainError):
    status = 400
    code = ErrorCode.INVALID_QUERY_STRING
    default_message = _("Query validation error.")


class PagingLimitExceeded(DomainError):
    """An offset page past the records a list lets one page through: 400 ``invalid_paging``. The message is the
    list's own (each of Auth0's lists words it differently), given by the management API's lists."""

    status = 400
    code = ErrorCode.INVALID_PAGING
    default_message = _("Requesting page exceeds the allowed maximum of 1000 records.")
