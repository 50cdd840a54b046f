"""Refuse bodies we will not read, before anything reads them.

DRF streams the request body straight into its parser, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE never sees
JSON bodies; this check on the declared length is what bounds them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from config.errors import error_body
from config.parsers import parse_form
from config.schema import text_fault


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.MAX_REQUEST_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH") or ""
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not declared:
            return JsonResponse(
                error_body(411, _("A Content-Length header is required."), "length_required"),
                status=411,
            )
        if declared:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                return JsonResponse(error_body(400, _("Invalid Content-Length header."), "invalid_body"), status=400)
            if length > limit:
                return JsonResponse(
                    error_body(
                        413,
                        _("Payload content length greater than maximum allowed: %(limit)s") % {"limit": limit},
                        "payload_too_large",
                    ),
                    status=413,
                )
        return self.get_response(request)


def _storable(text: str) -> bool:
    return text_fault(text) is None


class UnsafeCharactersMiddleware:
    """Refuse a NUL or invalid Unicode in the path or query string before any view looks it up.

    Such a character would reach the database as part of a lookup (``/users/{id}``, ``?email=``) and
    PostgreSQL answers it with an error, not an empty result: a 400 here keeps it from becoming a 500. A query
    string whose escapes are not UTF-8 ("%FF") is refused too: Django's ``request.GET`` would read it as U+FFFD.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _storable(request.path):
            return JsonResponse(
                error_body(400, _("The request path contains invalid characters."), "invalid_uri"), status=400
            )
        if not self._strict_utf8(request) or not all(
            _storable(item) for key in request.GET for item in (key, *request.GET.getlist(key))
        ):
            return JsonResponse(
                error_body(400, _("The query string contains invalid characters."), "invalid_query_string"),
                status=400,
            )
        return self.get_response(request)

    @staticmethod
    def _strict_utf8(request: HttpRequest) -> bool:
        try:
            parse_form(get_bytes_from_wsgi(request.META, "QUERY_STRING", ""), "utf-8")
        except UnicodeDecodeError:
            return False
        except ValueError:
            pass  # too many parameters: request.GET refuses them (TooManyFieldsSent, 400) as it always did
        return True
