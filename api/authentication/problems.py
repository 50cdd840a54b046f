"""Problems in the Authentication API's shape: ``{name, code, description, statusCode}`` (Auth0's sign-up errors).

A password the connection's policy refuses is sheriff's own error (``name``, ``message``, ``description``,
``policy``); a taken e-mail or username is the generic ``invalid_signup`` unless ``SIGNUP_USER_EXISTS_ERROR`` is on,
so sign-up cannot be used to find out who has an account.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from api.management import problems as management
from api.problems import Problem, ProblemCode, Rendered
from api.throttling import retry_after_header
from connections.errors import ConnectionErrorCode
from core.errors import ErrorCode, FieldError
from users.errors import UserErrorCode

# Refusals of the HTTP layer this API has no body for (no authentication, a method or Accept header the endpoint
# does not serve, a missing route): answered in the management envelope, as they always were.
_MANAGEMENT_SHAPED = frozenset(
    {
        ProblemCode.MISSING_AUTHENTICATION,
        ProblemCode.INVALID_TOKEN,
        ProblemCode.INSUFFICIENT_SCOPE,
        ProblemCode.METHOD_NOT_ALLOWED,
        ProblemCode.NOT_ACCEPTABLE,
        ProblemCode.NOT_FOUND,
    }
)
_UNREADABLE_BODY = frozenset({ProblemCode.MALFORMED_BODY, ProblemCode.UNSUPPORTED_MEDIA_TYPE})
_CODES: dict[str, str] = {ProblemCode.INVALID_CONTENT_LENGTH: ErrorCode.INVALID_BODY}


def render(problem: Problem) -> Rendered:
    """``problem`` as Auth0's Authentication API answers it."""
    code, message, status = problem.code, problem.message, problem.status
    if code in _MANAGEMENT_SHAPED:
        return management.render(problem)
    if code == ConnectionErrorCode.INVALID_PASSWORD and problem.password_policy is not None:
        policy = problem.password_policy
        body: dict[str, Any] = {
            "name": policy.name,
            "message": message,
            "code": code,
            "description": policy.description,
        }
        if policy.policy is not None:
            body["policy"] = policy.policy
        body["statusCode"] = status
        return Rendered(body, status, {})
    if code == ProblemCode.RATE_LIMITED:
        body = {
            "name": "TooManyRequestsError",
            "code": ErrorCode.TOO_MANY_REQUESTS,
            "description": _("Too many sign-ups from this address. Try again later."),
            "statusCode": 429,
        }
        return Rendered(body, 429, {"Retry-After": retry_after_header(problem.retry_after)})
    if code == UserErrorCode.USER_EXISTS:
        if settings.SIGNUP_USER_EXISTS_ERROR:
            return _bad_request("user_exists", _("The user already exists."), 400)
        return _bad_request("invalid_signup", _("Invalid sign up"), 400)
    if code == ConnectionErrorCode.INEXISTENT_CONNECTION:
        return _bad_request(UserErrorCode.INVALID_CONNECTION, _("The connection does not exist."), 400)
    if code in _UNREADABLE_BODY:
        return _bad_request(ErrorCode.INVALID_BODY, _("The body must be a JSON object or form-encoded."), status)
    headers = dict(problem.headers)
    if problem.retry_after is not None:  # e.g. a database to retry shortly (503)
        headers["Retry-After"] = retry_after_header(problem.retry_after)
    return _bad_request(_CODES.get(code, code), message, status, problem.errors, headers)


def _bad_request(
    code: str,
    description: str,
    status: int,
    errors: tuple[FieldError, ...] = (),
    headers: Mapping[str, str] | None = None,
) -> Rendered:
    body: dict[str, Any] = {"name": "BadRequestError", "code": code, "description": description}
    if errors:
        body["errors"] = [error.as_dict() for error in errors]
    body["statusCode"] = status
    return Rendered(body, status, dict(headers or {}))
