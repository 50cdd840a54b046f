"""Problems in the management API's envelope, Auth0's ``{statusCode, error, message, errorCode}`` plus our
``errors`` array. The default contract: every view that names no other, and Django's own error pages."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from api.problems import Problem, ProblemCode, Rendered
from api.throttling import retry_after_header
from connections.errors import ConnectionErrorCode
from core.errors import ErrorCode

# Boom's reason phrases (what Auth0 sends as ``error``); Python renamed some of them.
_REASONS = {
    413: "Request Entity Too Large",
    422: "Unprocessable Entity",
}

# Problems Auth0 reports under a broader errorCode.
_ERROR_CODES: dict[str, str] = {
    ProblemCode.MALFORMED_BODY: ErrorCode.INVALID_BODY,
    ProblemCode.INVALID_CONTENT_LENGTH: ErrorCode.INVALID_BODY,
    ProblemCode.RATE_LIMITED: ErrorCode.TOO_MANY_REQUESTS,
}


def reason_phrase(status: int) -> str:
    """The reason phrase Auth0 (hapi's Boom) sends for ``status``, or ``"Error"`` for a status without one."""
    if status in _REASONS:
        return _REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def render(problem: Problem) -> Rendered:
    """``problem`` in the management envelope; ``Retry-After`` whenever the problem says when to try again."""
    message = problem.message
    if problem.code == ConnectionErrorCode.INVALID_PASSWORD and problem.password_policy is not None:
        message = f"{problem.password_policy.name}: {message}"  # Auth0 reports "<name>: <message>"
    body: dict[str, Any] = {
        "statusCode": problem.status,
        "error": reason_phrase(problem.status),
        "message": message,
        "errorCode": _ERROR_CODES.get(problem.code, problem.code),
        "errors": [error.as_dict() for error in problem.errors],
    }
    headers = dict(problem.headers)
    if problem.retry_after is not None:
        headers["Retry-After"] = retry_after_header(problem.retry_after)
    return Rendered(body, problem.status, headers)
