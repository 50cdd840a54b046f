"""Problems in the ``/v1`` facade's shape: ``{"error": ..., "message": ...}`` (plus ``errors`` for field errors).

A malformed request of any kind is ``invalid_request``, a taken e-mail ``email_exists`` (409), a missing token or
scope ``unauthorized`` (401); every other refusal keeps its own code, never a generic one: a 409
``invalid_request`` for a key still in progress would read, on this contract, like ``email_exists``.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from api.bearer import BEARER_CHALLENGE
from api.management import problems as management
from api.problems import Problem, ProblemCode, Rendered
from api.throttling import retry_after_header
from connections.errors import ConnectionErrorCode
from core.errors import ErrorCode
from users.errors import UserErrorCode

# Refusals of the HTTP layer this facade has no body for (a method or Accept header it does not serve, a missing
# route): answered in the management envelope, as they always were.
_MANAGEMENT_SHAPED = frozenset({ProblemCode.METHOD_NOT_ALLOWED, ProblemCode.NOT_ACCEPTABLE, ProblemCode.NOT_FOUND})
_UNREADABLE_BODY = frozenset({ProblemCode.MALFORMED_BODY, ProblemCode.UNSUPPORTED_MEDIA_TYPE})
# 400s about the request's form rather than its meaning.
_INVALID_REQUEST = frozenset(
    {
        ErrorCode.INVALID_BODY,
        ErrorCode.INVALID_QUERY_STRING,
        ProblemCode.INVALID_CONTENT_LENGTH,
        ProblemCode.INVALID_URI,
    }
)
_INVALID_REQUEST_ERROR = "invalid_request"


def render(problem: Problem) -> Rendered:
    """``problem`` as the ``/v1`` facade answers it."""
    code = problem.code
    if code in _MANAGEMENT_SHAPED:
        return management.render(problem)
    if code == UserErrorCode.USER_EXISTS:
        return _error(409, "email_exists", _("A user with this email already exists."))
    if code == ConnectionErrorCode.INVALID_PASSWORD:
        # The facade ends the policy's short message as a sentence, with the language's own full stop.
        sentence = _("%(message)s.") % {"message": problem.message}
        return _error(400, _INVALID_REQUEST_ERROR, sentence, [e.as_dict() for e in problem.errors])
    if code == ConnectionErrorCode.INEXISTENT_CONNECTION:
        message = _("The connection for /v1/users is not configured on this server.")
        return _error(503, "service_unavailable", message)
    if code == ProblemCode.INSUFFICIENT_SCOPE:
        # One "unauthorized" for a missing token and a missing scope; a 401 must still carry a challenge (RFC 9110
        # §15.5.2), here RFC 6750's insufficient_scope.
        challenge = f'{BEARER_CHALLENGE}, error="insufficient_scope"'
        return _error(401, "unauthorized", problem.message, headers={"WWW-Authenticate": challenge})
    if problem.status == 401:
        return _error(401, "unauthorized", problem.message, headers=dict(problem.headers))
    if code in _UNREADABLE_BODY:
        return _error(400, _INVALID_REQUEST_ERROR, _("The body must be a JSON object."))
    if code == ProblemCode.RATE_LIMITED:
        headers = {"Retry-After": retry_after_header(problem.retry_after)}
        return _error(429, ErrorCode.TOO_MANY_REQUESTS, _("Too many requests. Try again later."), headers=headers)
    errors = [e.as_dict() for e in problem.errors] or None
    headers = dict(problem.headers)
    if problem.retry_after is not None:  # e.g. a database to retry shortly (503)
        headers["Retry-After"] = retry_after_header(problem.retry_after)
    if problem.status == 400 and code in _INVALID_REQUEST:
        return _error(400, _INVALID_REQUEST_ERROR, problem.message, errors, headers=headers)
    return _error(problem.status, code, problem.message, errors, headers=headers)


def _error(
    status: int,
    error: str,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Rendered:
    body: dict[str, Any] = {"error": error, "message": message}
    if errors is not None:
        body["errors"] = errors
    return Rendered(body, status, headers or {})
