"""Where the frameworks hand us their errors: DRF's exception handler (each view's contract), Django's error views
(the management envelope whatever the path, as a request that never reached a view names no contract), and the
health check."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.translation import gettext as _
from django.views import View
from django.views.csrf import csrf_failure as django_csrf_failure
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularSwaggerView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import set_rollback

from api.authentication.pages import error_page, is_html_page
from api.management import problems as management
from api.problems import JSON_DUMPS_PARAMS, Problem, ProblemCode, translate
from core.errors import ErrorCode


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's ``EXCEPTION_HANDLER``: ``translate``, then render in the contract the view names (``problem_renderer``),
    the management API's when it names none. None for a real bug: Django's ``handler500`` (below) answers it."""
    problem = translate(exc, context.get("request"))
    if problem is None:
        return None
    set_rollback()
    render = getattr(context.get("view"), "problem_renderer", None) or management.render
    body, status, headers = render(problem)
    return Response(body, status=status, headers=headers)


def _page(request: HttpRequest, problem: Problem) -> HttpResponse:
    """``problem`` in the management envelope; on the pages a person opens from an e-mail, their HTML page."""
    if is_html_page(request):
        return error_page(request, problem.status, problem.message, problem.headers)
    body, status, headers = management.render(problem)
    return JsonResponse(body, status=status, headers=headers, json_dumps_params=JSON_DUMPS_PARAMS)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, Problem(400, ErrorCode.BAD_REQUEST, _("Bad Request")))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, Problem(403, ProblemCode.FORBIDDEN, _("Forbidden")))


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _page(request, Problem(404, ProblemCode.NOT_FOUND, _("Not Found")))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: a form of a page (``/lo/reset``'s, sent with an expired or missing CSRF cookie, or any
    PUT or DELETE there) refused with the pages' HTML page and headers, not Django's page without them (cacheable,
    no CSP, in English whatever the language); elsewhere (the admin) Django's page, which says why."""
    if is_html_page(request):
        message = _("This form has expired. Open the link from the e-mail again and send the form from that page.")
        return error_page(request, 403, message)
    return django_csrf_failure(request, reason)


def server_error(request: HttpRequest) -> HttpResponse:
    return _page(request, Problem(500, ProblemCode.INTERNAL_ERROR, _("An internal server error occurred")))


@csrf_exempt  # no session, no form: a POST is refused as any other method below, not with the CSRF page
def health(request: HttpRequest) -> HttpResponse:
    """Whether this process can serve, for load balancers and start-up scripts.

    ``{"status": "ok" | "unavailable", "checks": {"database": ..., "cache": ...}}``: each dependency is
    ``"ok"`` or ``"error: <kind of error>"`` (never a host, URL or password). ``cache`` is the rate-limit store
    (Redis when ``REDIS_URL`` is set, else the database's table). 200 when every check is ok, else 503: with the
    store down, password grants are refused (``api.throttling``'s outage policy), so the service is degraded.
    ``GET`` and ``HEAD`` only: any other method is 405 ``method_not_allowed`` in the management envelope.
    """
    if request.method not in ("GET", "HEAD"):
        # Any other method ran the checks (TRACE answered 200) or met the CSRF check's HTML page (POST, PUT).
        message = _('Method "%(method)s" not allowed.') % {"method": request.method}
        response = _page(request, Problem(405, ProblemCode.METHOD_NOT_ALLOWED, message))
        response["Allow"] = "GET, HEAD"
        return response
    checks = {"database": _check_database(), "cache": _check_rate_limit_store()}
    healthy = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
        json_dumps_params=JSON_DUMPS_PARAMS,
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


class ApiDocsView(SpectacularSwaggerView):
    """The API's Swagger UI page (``/api/v2/docs``), public as the document it shows."""

    def options(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:  # type: ignore[override]
        """The page's methods in ``Allow``, no body (Django's own answer to ``OPTIONS``). DRF's answer, its JSON
        description of the view, went to the page's HTML renderer, which has no template for it: a 500, and an ERROR
        in the log, for anyone who asked, no token needed."""
        return View.options(self, request, *args, **kwargs)
