"""The one DRF exception handler: every error leaves in Auth0's envelope.

Changing the wire format of management-API errors touches this file and ``core.errors`` only.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from api.parsers import FormParseError
from api.throttling import retry_after_header
from connections.password_policy import PasswordPolicyError
from core.errors import DatabaseUnavailable, DomainError, FieldError, as_domain_error, error_body

logger = logging.getLogger(__name__)

_AUTH_HEADER = 'Bearer realm="management-api"'


def _flatten(detail: Any, prefix: str | None = None) -> list[FieldError]:
    """DRF's nested ``detail`` as flat (field, code, message) entries."""
    if isinstance(detail, dict):
        out: list[FieldError] = []
        for key, value in detail.items():
            field = None if key in ("non_field_errors", "detail") else key
            name = f"{prefix}.{field}" if prefix and field else (field or prefix)
            out.extend(_flatten(value, name))
        return out
    if isinstance(detail, list):
        return [e for item in detail for e in _flatten(item, prefix)]
    return [FieldError(prefix, getattr(detail, "code", "invalid"), str(detail))]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    exc = as_domain_error(exc)
    if isinstance(exc, DatabaseUnavailable):
        headers["Retry-After"] = "1"
    if isinstance(exc, PasswordPolicyError):
        errors = [FieldError("password", code, message) for code, message in exc.failures]
        # The name stays as Auth0 sends it (clients match on it); the sentence follows the language.
        status, code, message = 400, "invalid_password", f"{exc.name}: {_(exc.message)}"
    elif isinstance(exc, DomainError):
        status, code, message, errors = exc.status, exc.code, exc.message, exc.errors
    elif isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        status, errors = 401, []
        code = getattr(exc, "error_code", None) or (
            "missing_authentication" if isinstance(exc, drf.NotAuthenticated) else "invalid_token"
        )
        message = str(exc.detail)
        headers["WWW-Authenticate"] = _AUTH_HEADER
    elif isinstance(exc, drf.PermissionDenied | PermissionDenied):
        status, errors = 403, []
        code = getattr(exc, "error_code", None) or "insufficient_scope"
        message = str(getattr(exc, "detail", "Forbidden"))
    elif isinstance(exc, drf.Throttled):
        status, code, errors = 429, "too_many_requests", []
        message = _("Global limit has been reached")
        wait = exc.wait  # type: ignore[attr-defined]  # DRF sets Throttled.wait; its stubs omit it
        if wait is not None:
            headers["Retry-After"] = retry_after_header(wait)
    elif isinstance(exc, drf.ParseError):
        status, code, errors = 400, "invalid_body", []
        message = str(exc.detail) if isinstance(exc, FormParseError) else _("Invalid request payload JSON format")
    elif isinstance(exc, drf.UnsupportedMediaType):
        status, code, errors = 415, "unsupported_media_type", []
        message = _("Unsupported Media Type: %(type)s") % {"type": exc.detail}
    elif isinstance(exc, drf.MethodNotAllowed):
        status, code, errors = 405, "method_not_allowed", []
        message = _('Method "%(method)s" not allowed.') % {"method": context["request"].method}
    elif isinstance(exc, drf.NotFound | Http404):
        status, code, errors = 404, "not_found", []
        message = _("Not Found")
    elif isinstance(exc, drf.ValidationError):
        errors = _flatten(exc.detail)
        status, code = 400, "invalid_body"
        message = " (also) ".join(f"Payload validation error: '{e.message}'." for e in errors)
    elif isinstance(exc, drf.APIException):
        status, code, errors = exc.status_code, exc.default_code, []
        message = str(exc.detail)
    else:
        return None  # a real bug: Django's handler500 answers in the same envelope and logs it
    set_rollback()
    return Response(error_body(status, message, code, errors), status=status, headers=headers)
