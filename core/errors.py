"""The error vocabulary every app raises, and the one wire envelope it becomes.

Domain errors are plain exceptions with an HTTP status, a stable ``code`` and a message; they know nothing
about response bodies. ``api.problems.exception_handler`` (DRF) and the plain-Django handlers in
``api.views`` both render them through :func:`error_body`, so the envelope lives in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# Boom's reason phrases (what Auth0 sends as ``error``); Python renamed some of them.
_REASONS = {
    413: "Request Entity Too Large",
    422: "Unprocessable Entity",
}


def reason_phrase(status: int) -> str:
    if status in _REASONS:
        return _REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


@dataclass(frozen=True)
class FieldError:
    """One entry of the ``errors`` array: which field, a stable code, a readable message."""

    field: str | None
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "code": self.code, "message": self.message}


class DomainError(Exception):
    """Base for errors a service raises; subclasses set ``status``, ``code`` and ``default_message``."""

    status: int = 400
    code: str = "bad_request"
    # A lazy translation, rendered in the request's language when the error is raised.
    default_message: str | Promise = _("Bad request.")

    def __init__(self, message: str | Promise | None = None, *, errors: list[FieldError] | None = None) -> None:
        self.message = str(message if message is not None else self.default_message)
        self.errors = list(errors or [])
        super().__init__(self.message)


class TemporarilyUnavailable(DomainError):
    """A dependency the request needs did not answer: 503 ``temporarily_unavailable``, try again shortly."""

    status = 503
    code = "temporarily_unavailable"
    default_message = _("The service is temporarily unavailable. Try again later.")


class DatabaseUnavailable(TemporarilyUnavailable):
    """The database could not answer in time (locked by another writer, unreachable): 503, try again.

    Raised by the API's error translation for Django's ``OperationalError``, so an outage is answered in each
    contract's envelope instead of a 500 or a worker killed mid-request.
    """


def as_domain_error(exc: Exception) -> Exception:
    """``exc``, or the ``DomainError`` it means: an ``OperationalError`` is a ``DatabaseUnavailable``."""
    from django.db import OperationalError

    if isinstance(exc, OperationalError):
        return DatabaseUnavailable()
    return exc


class PayloadValidationError(DomainError):
    status = 400
    code = "invalid_body"
    default_message = _("Payload validation error.")


class QueryValidationError(DomainError):
    status = 400
    code = "invalid_query_string"
    default_message = _("Query validation error.")


def error_body(
    status: int,
    message: str,
    code: str | None,
    errors: list[FieldError] | None = None,
) -> dict[str, Any]:
    """Auth0's management-API envelope plus our ``errors`` array."""
    body: dict[str, Any] = {
        "statusCode": status,
        "error": reason_phrase(status),
        "message": str(message),
    }
    if code:
        body["errorCode"] = code
    body["errors"] = [e.as_dict() for e in errors or []]
    return body
