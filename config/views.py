"""Plain-Django error views, so even requests that never reach DRF get the JSON envelope."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils.translation import gettext as _

from config.errors import error_body


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(400, _("Bad Request"), "bad_request"), status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(403, _("Forbidden"), "forbidden"), status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body(404, _("Not Found"), "not_found"), status=404)


def server_error(request: HttpRequest) -> JsonResponse:
    return JsonResponse(error_body(500, _("An internal server error occurred"), "internal_error"), status=500)


def health(request: HttpRequest) -> JsonResponse:
    """Liveness and database reachability, for load balancers and start-up scripts."""
    from django.db import DatabaseError, connection

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse(error_body(503, _("Database unavailable"), "database_unavailable"), status=503)
    return JsonResponse({"status": "ok"})
