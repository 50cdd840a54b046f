"""One translation for every error, and the one DRF exception handler.

``translate`` turns any error a request can end in (a ``DomainError``, DRF's and Django's refusals, a database
that does not answer) into a ``Problem``: a status, a stable code, a message, field errors and what a contract may
need besides. It knows no response shape. Each wire contract has one renderer that writes a problem in its shape
(``api.management.problems``, ``api.authentication.problems``, ``api.oauth.problems``, ``api.v1.problems``); a view
names its contract with ``problem_renderer`` (management's by default), and ``api.views.exception_handler`` (DRF's
``EXCEPTION_HANDLER``) renders with it. So changing a wire format touches one renderer, and a new domain error
touches no renderer at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf
from rest_framework.request import Request

from api.bearer import BEARER_CHALLENGE
from api.parsers import FormParseError
from connections.password_policy import PasswordPolicyError
from core.errors import DatabaseUnavailable, DomainError, ErrorCode, FieldError

# The separators of DRF's JSONRenderer (``COMPACT_JSON``): answers written outside DRF (Django's error views, the
# edge's refusals, the health check) look like every other body, not ``json.dumps``'s ``", "``/``": "``.
JSON_DUMPS_PARAMS: dict[str, Any] = {"separators": (",", ":")}


class ProblemCode(StrEnum):
    """Codes of the problems the HTTP layer finds itself (DRF's, Django's and the middleware's refusals), beside
    the domain apps' own codes.

    Three have no wire spelling of their own: each contract names them (the management API says ``invalid_body``
    for ``MALFORMED_BODY`` and ``INVALID_CONTENT_LENGTH``, ``too_many_requests`` for ``RATE_LIMITED``), so a renderer
    can tell them from a domain error that shares the wire code.
    """

    MISSING_AUTHENTICATION = "missing_authentication"
    INVALID_TOKEN = "invalid_token"  # noqa: S105 - an error code, not a secret
    INSUFFICIENT_SCOPE = "insufficient_scope"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    UNSUPPORTED_CONTENT_ENCODING = "unsupported_content_encoding"  # a body in a content coding (RFC 7694 §3)
    MALFORMED_BODY = "malformed_body"
    RATE_LIMITED = "rate_limited"
    LENGTH_REQUIRED = "length_required"
    INVALID_CONTENT_LENGTH = "invalid_content_length"
    INVALID_URI = "invalid_uri"
    INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class PasswordPolicyFailure:
    """What Auth0's password errors carry beside the message: sheriff's error ``name``, its ``description`` (a
    rule report or a sentence) and the policy text."""

    name: str
    description: dict[str, Any] | str
    policy: str | None


@dataclass(frozen=True)
class Problem:
    """An error as every contract sees it.

    ``message`` is the service's own sentence, in the request's language; a renderer may word a code its own way.
    ``headers`` are the protocol's (a 401's ``WWW-Authenticate``); ``retry_after`` is seconds, rendered as each
    contract does. ``detail`` is DRF's own sentence for a DRF refusal, for a contract that answers with it.
    """

    status: int
    code: str
    message: str
    errors: tuple[FieldError, ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    detail: str | None = None
    password_policy: PasswordPolicyFailure | None = None


class Rendered(NamedTuple):
    """A problem in one contract's shape: the JSON body, the status and the headers to send."""

    body: dict[str, Any]
    status: int
    headers: dict[str, str]


ProblemRenderer = Callable[[Problem], Rendered]


def translate(exc: Exception, request: Request | None = None) -> Problem | None:
    """The problem ``exc`` means, or None for a real bug (Django's ``handler500`` answers and logs it).

    Also None for what Django answers itself: a ``SuspiciousOperation`` (too many fields, a request body over
    Django's limits) is logged to ``django.security`` and answered 400 by ``handler400``. ``request`` gives a 405 its
    method.
    """
    if isinstance(exc, OperationalError):  # locked or unreachable: try again, never a 500
        exc = DatabaseUnavailable()
    if isinstance(exc, PasswordPolicyError):
        return _password_problem(exc)
    if isinstance(exc, DomainError):
        headers = {"WWW-Authenticate": exc.challenge} if exc.challenge else {}
        return Problem(exc.status, exc.code, exc.message, tuple(exc.errors), headers, retry_after=exc.retry_after)
    if isinstance(exc, Http404):
        return Problem(404, ProblemCode.NOT_FOUND, _("Not Found"))
    if isinstance(exc, PermissionDenied):  # Django's: the view refused without saying why
        return Problem(403, ProblemCode.INSUFFICIENT_SCOPE, "Forbidden")
    if isinstance(exc, drf.APIException):
        return _drf_problem(exc, request)
    return None


def _password_problem(exc: PasswordPolicyError) -> Problem:
    """Sheriff's name stays as Auth0 sends it (clients match on it); the sentence follows the language."""
    return Problem(
        exc.status,
        exc.code,
        _(exc.message),
        tuple(FieldError("password", code, message) for code, message in exc.failures),
        password_policy=PasswordPolicyFailure(exc.name, exc.description, exc.policy),
    )


def _drf_problem(exc: drf.APIException, request: Request | None) -> Problem:
    if isinstance(exc, drf.ValidationError):
        errors = _flatten(exc.detail)
        message = " (also) ".join(f"Payload validation error: '{e.message}'." for e in errors)
        return Problem(400, ErrorCode.INVALID_BODY, message, tuple(errors))
    detail = str(exc.detail)
    match exc:
        case drf.NotAuthenticated() | drf.AuthenticationFailed():
            # A failed authentication is 401 with a challenge, whatever DRF made of it (RFC 9110 §15.5.2).
            default = ProblemCode.MISSING_AUTHENTICATION
            if isinstance(exc, drf.AuthenticationFailed):
                default = ProblemCode.INVALID_TOKEN
            code = getattr(exc, "error_code", None) or default
            return Problem(401, code, detail, headers={"WWW-Authenticate": BEARER_CHALLENGE}, detail=detail)
        case drf.PermissionDenied():
            code = getattr(exc, "error_code", None) or ProblemCode.INSUFFICIENT_SCOPE
            return Problem(403, code, detail, detail=detail)
        case drf.Throttled():
            message = _("Global limit has been reached")
            wait = exc.wait  # type: ignore[attr-defined]  # DRF sets Throttled.wait; its stubs omit it
            return Problem(429, ProblemCode.RATE_LIMITED, message, retry_after=wait, detail=detail)
        case FormParseError():  # the form's own explanation (charset, text, field count) is for the client
            return Problem(400, ErrorCode.INVALID_BODY, detail, detail=detail)
        case drf.ParseError():
            return Problem(400, ProblemCode.MALFORMED_BODY, _("Invalid request payload JSON format"), detail=detail)
        case drf.UnsupportedMediaType():
            # DRF's detail quotes the request's Content-Type as sent: a control character in it is not echoed.
            detail = quoted(detail, limit=200, ascii_only=False)
            message = _("Unsupported Media Type: %(type)s") % {"type": detail}
            return Problem(415, ProblemCode.UNSUPPORTED_MEDIA_TYPE, message, detail=detail)
        case drf.MethodNotAllowed():
            method = request.method if request is not None else ""
            message = _('Method "%(method)s" not allowed.') % {"method": method}
            return Problem(405, ProblemCode.METHOD_NOT_ALLOWED, message, detail=detail)
        case drf.NotFound():
            return Problem(404, ProblemCode.NOT_FOUND, _("Not Found"), detail=detail)
        case _:  # NotAcceptable (ProblemCode.NOT_ACCEPTABLE: no renderer for the Accept header), or any other
            return Problem(exc.status_code, exc.default_code, detail, detail=detail)


def quoted(text: str, *, limit: int = 40, ascii_only: bool = True) -> str:
    """``text`` as an error message may quote it back: cut to ``limit`` characters (then "…"), and every character
    that is not printable (a NUL, a control or format character) written as a Python escape (``\\x00``), never echoed
    raw; with ``ascii_only`` (a header's value: WSGI hands its bytes over as Latin-1) every non-ASCII one too."""
    shown = "".join(
        char if char.isprintable() and (char <= "~" or not ascii_only) else ascii(char)[1:-1] for char in text[:limit]
    )
    return shown + ("…" if len(text) > limit else "")


def _flatten(detail: Any, prefix: str | None = None) -> list[FieldError]:
    """DRF's nested ``detail`` as flat (field, code, message) entries."""
    if isinstance(detail, dict):
        out: list[FieldError] = []
        for key, value in detail.items():
            own = None if key in ("non_field_errors", "detail") else key
            out.extend(_flatten(value, f"{prefix}.{own}" if prefix and own else (own or prefix)))
        return out
    if isinstance(detail, list):
        return [e for item in detail for e in _flatten(item, prefix)]
    return [FieldError(prefix, getattr(detail, "code", "invalid"), str(detail))]
