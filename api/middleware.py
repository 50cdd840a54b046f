"""Refuse requests no view should see (bodies too large, of unknown length or in a content coding, unsafe paths and
query strings), before anything reads them, in the error shape of the API the path belongs to; and answer ``HEAD``
without a body.

DRF streams the request body straight into its parser, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE never sees
JSON bodies; this check on the declared length is what bounds them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.conf import settings
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _

from api.authentication import problems as authentication
from api.authentication.pages import error_page, is_html_page
from api.management import problems as management
from api.oauth import problems as oauth
from api.parsers import parse_form
from api.problems import JSON_DUMPS_PARAMS, Problem, ProblemCode, ProblemRenderer, quoted
from api.v1 import problems as v1
from core.errors import ErrorCode
from core.schema import text_fault

# The APIs whose error shape is not the management API's, by path prefix (the only thing known before a view is
# chosen): OAuth's {error, error_description} (RFC 6749 §5.2), the Authentication API's {name, code,
# description, statusCode} and /v1's {error, message}.
_RENDERERS_BY_PREFIX: tuple[tuple[tuple[str, ...], ProblemRenderer], ...] = (
    (("/oauth/", "/.well-known/"), oauth.render),
    (("/dbconnections/",), authentication.render),
    (("/v1/",), v1.render),
)


def refusal(
    request: HttpRequest, status: int, message: str, code: str, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    """A refusal of ``request`` in the error shape of the API its path belongs to (the management API's for any
    other path). ``code`` is a ``ProblemCode`` or ``ErrorCode`` (``invalid_query_string``, ``payload_too_large``, ...);
    each contract's renderer spells it (OAuth names every such refusal ``invalid_request``, RFC 6749 §5.2).
    ``headers`` are the protocol's (a 415's ``Accept-Encoding``); every renderer sends them. The pages a person
    opens from an e-mail answer with their own HTML page instead (``api.authentication.pages``)."""
    if is_html_page(request):
        return error_page(request, status, message, headers)
    path = request.path_info
    render = next((render for prefixes, render in _RENDERERS_BY_PREFIX if path.startswith(prefixes)), management.render)
    body, status, sent = render(Problem(status, code, message, headers=headers or {}))
    return JsonResponse(body, status=status, headers=sent, json_dumps_params=JSON_DUMPS_PARAMS)


class BodySizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.MAX_REQUEST_BODY_BYTES
        declared = request.META.get("CONTENT_LENGTH") or ""
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not declared:
            return refusal(request, 411, _("A Content-Length header is required."), ProblemCode.LENGTH_REQUIRED)
        if declared:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                return refusal(request, 400, _("Invalid Content-Length header."), ProblemCode.INVALID_CONTENT_LENGTH)
            if length > limit:
                message = _("Payload content length greater than maximum allowed: %(limit)s") % {"limit": limit}
                return refusal(request, 413, message, ErrorCode.PAYLOAD_TOO_LARGE)
        return self.get_response(request)


# What ``Accept-Encoding`` names in a refusal of an encoded body (RFC 7694 §3): the body as it is, nothing else.
_ACCEPTED_CODINGS = "identity"
# How many of the refused codings a refusal names.
_NAMED_CODINGS = 5


class ContentEncodingMiddleware:
    """Refuse a request body in any content coding but ``identity``: 415 with ``Accept-Encoding: identity``
    (RFC 7694 §3), in the error shape of the API its path belongs to, before any parser or form reads it.

    Nothing here decompresses: a few kilobytes of gzip can expand to gigabytes after the size check, and the Auth0
    SDKs never encode a body. Without this, a gzipped JSON body reached the parser as it was (400 "Invalid request
    payload JSON format"), and a gzipped form body was read as form text. ``Content-Encoding`` is a list (RFC 9110
    §8.4): ``gzip, identity`` is gzip, an empty element or header is no coding, names are case-insensitive. A
    request without a body (no or a zero ``Content-Length``) has nothing encoded and passes. Runs after
    ``BodySizeLimitMiddleware``, so ``Content-Length`` is a number here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.META.get("HTTP_CONTENT_ENCODING")
        if header and _has_body(request):
            codings = [coding for coding in (item.strip(" \t") for item in header.split(",")) if coding]
            refused = [coding for coding in codings if coding.lower() != "identity"]
            if refused:
                # The first few named, each quoted: a header of thousands of short codings (a server joins repeated
                # lines into one) is not echoed whole.
                named = [quoted(coding) for coding in refused[:_NAMED_CODINGS]] + ["…"] * (
                    len(refused) > _NAMED_CODINGS
                )
                message = _("Unsupported Content-Encoding: %(codings)s. Send the body unencoded (identity).") % {
                    "codings": ", ".join(named)
                }
                headers = {"Accept-Encoding": _ACCEPTED_CODINGS}
                return refusal(request, 415, message, ProblemCode.UNSUPPORTED_CONTENT_ENCODING, headers)
        return self.get_response(request)


def _has_body(request: HttpRequest) -> bool:
    """Whether ``request`` declares a body: a positive ``Content-Length`` (a chunked body without one has been
    refused with a 411 already)."""
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0) > 0
    except ValueError:  # BodySizeLimitMiddleware has answered such a length first; if not, assume a body
        return True


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
            return refusal(request, 400, _("The request path contains invalid characters."), ProblemCode.INVALID_URI)
        if not self._strict_utf8(request) or not all(
            _storable(item) for key in request.GET for item in (key, *request.GET.getlist(key))
        ):
            message = _("The query string contains invalid characters.")
            return refusal(request, 400, message, ErrorCode.INVALID_QUERY_STRING)
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


class HeadWithoutBodyMiddleware:
    """A ``HEAD`` answer is ``GET``'s headers without its body (RFC 9110 §9.3.2).

    Django runs the ``GET`` view for ``HEAD`` and leaves dropping the body to the server (its test client and
    runserver drop it). gunicorn 27 drops it too, but logs a WARNING for every such answer ("WSGI app sent body
    bytes on a no-body response"), so a load balancer's ``HEAD /health`` every few seconds filled the log with
    warnings. The body goes here; ``Content-Length`` stays the one ``GET`` would send, as RFC 9110 §8.6 allows.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.method == "HEAD":
            if isinstance(response, StreamingHttpResponse):
                response.streaming_content = []  # the view's iterator is closed with the response
            elif isinstance(response, HttpResponse):
                response.content = b""
        return response
