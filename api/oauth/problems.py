"""Problems in OAuth's shape: ``{error, error_description}`` (RFC 6749 §5.2), for the token endpoint and the
middleware's refusals of ``/oauth/`` and ``/.well-known/`` paths.

An OAuth error and an outage are never cached (``Cache-Control: no-store``, ``Pragma: no-cache``, RFC 6749 §5.1) and
carry their ``Retry-After`` on a 429 and their challenge on a 401; a body the endpoint cannot read is
``invalid_request``.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from api.management import problems as management
from api.problems import Problem, ProblemCode, Rendered
from api.throttling import retry_after_header
from clients.errors import ClientErrorCode
from core.errors import ErrorCode

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

# Refusals of the HTTP layer this API has no body for (no authentication, an Accept header the endpoint does not
# serve, a missing route): answered in the management envelope, as they always were.
_MANAGEMENT_SHAPED = frozenset(
    {
        ProblemCode.MISSING_AUTHENTICATION,
        ProblemCode.INVALID_TOKEN,
        ProblemCode.INSUFFICIENT_SCOPE,
        ProblemCode.NOT_ACCEPTABLE,
        ProblemCode.NOT_FOUND,
    }
)
_UNREADABLE_BODY = frozenset({ProblemCode.MALFORMED_BODY, ProblemCode.UNSUPPORTED_MEDIA_TYPE})
# What the middleware refuses before any view reads the request (``api.middleware.refusal``).
_REFUSED_BEFORE_THE_VIEW = frozenset(
    {
        ProblemCode.LENGTH_REQUIRED,
        ProblemCode.INVALID_CONTENT_LENGTH,
        ErrorCode.PAYLOAD_TOO_LARGE,
        ProblemCode.INVALID_URI,
        ErrorCode.INVALID_QUERY_STRING,
        ProblemCode.UNSUPPORTED_CONTENT_ENCODING,
    }
)


def render(problem: Problem) -> Rendered:
    """``problem`` as an OAuth error response."""
    code = problem.code
    if code in _MANAGEMENT_SHAPED:
        return management.render(problem)
    if code in _UNREADABLE_BODY:
        return _error(400, ClientErrorCode.INVALID_REQUEST, _("The body must be JSON or form-encoded."), {})
    if code in (ErrorCode.INVALID_BODY, ProblemCode.METHOD_NOT_ALLOWED):  # DRF's words for a 405
        return _error(problem.status, ClientErrorCode.INVALID_REQUEST, problem.detail or problem.message, {})
    if code in _REFUSED_BEFORE_THE_VIEW:
        headers = {"Cache-Control": "no-store", **problem.headers}  # a 415's Accept-Encoding (RFC 7694 §3)
        return _error(problem.status, ClientErrorCode.INVALID_REQUEST, problem.message, headers)
    if code == ProblemCode.RATE_LIMITED:
        headers = {"Retry-After": retry_after_header(problem.retry_after)}
        return _error(429, ErrorCode.TOO_MANY_REQUESTS, _("Too many requests"), headers)
    headers = dict(NO_STORE)
    if problem.retry_after is not None:  # too many attempts (429), or a database to retry shortly (503)
        headers["Retry-After"] = retry_after_header(problem.retry_after)
    headers.update(problem.headers)
    return _error(problem.status, code, problem.message, headers)


def _error(status: int, error: str, description: str, headers: dict[str, str]) -> Rendered:
    return Rendered({"error": error, "error_description": description}, status, headers)
