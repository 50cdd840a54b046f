"""Plain-Django error views, so even requests that never reach DRF get the JSON envelope."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

from core.errors import error_body


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(400, _("Bad Request"), "bad_request"), status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(403, _("Forbidden"), "forbidden"), status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(404, _("Not Found"), "not_found"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body(500, _("An internal server error occurred"), "internal_error"), status=500)


def health(request: HttpRequest) -> JsonResponse:
    """Whether this process can serve, for load balancers and start-up scripts.

    ``{"status": "ok" | "unavailable", "checks": {"database": ..., "cache": ...}}``: each dependency is
    ``"ok"`` or ``"error: <kind of error>"`` (never a host, URL or password). ``cache`` is the rate-limit store
    (Redis when ``REDIS_URL`` is set, else the database's table). 200 when every check is ok, else 503: with the
    store down, password grants are refused (``api.throttling``'s outage policy), so the service is degraded.
    """
    checks = {"database": _check_database(), "cache": _check_rate_limit_store()}
    healthy = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )


def _check_database() -> str:
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return f"error: {type(exc).__name__}"
    return "ok"


def _check_rate_limit_store() -> str:
    from ratelimits.buckets import StoreUnavailable, ping

    try:
        ping()
    except StoreUnavailable as exc:
        return f"error: {type(exc.__cause__ or exc).__name__}"
    return "ok"
