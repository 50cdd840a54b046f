"""The pages a person opens from an e-mail (a verification link, a password reset link): their headers and error page.

Refusals made before any view runs (``api.middleware``: a body too large, a query string with a control character)
and Django's own error views (``api.views``) answer in the API's JSON envelope; on these pages a person with a
browser, not a program, reads the answer, so it is the pages' own HTML, with the same status and headers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

# Strict enough for a page of our own: no scripts, no frames, styles inline, images from nowhere.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'"

# The paths of api/authentication/urls.py that answer with HTML (``email_verification``, ``password_reset``).
HTML_PAGES = frozenset({"/email-verification", "/u/email-verification", "/lo/reset"})


def protect(response: HttpResponse, referrer_policy: str = "no-referrer") -> HttpResponse:
    """The headers of every answer that holds or leads on from a ticket: not cached, no Referer to other sites,
    nothing else loaded."""
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = referrer_policy
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def is_html_page(request: HttpRequest) -> bool:
    """Whether ``request`` is for one of ``HTML_PAGES`` (its exact path: a page has no sub-paths)."""
    return request.path_info in HTML_PAGES


def error_page(
    request: HttpRequest, status: int, message: str, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    """The pages' page for a request they cannot answer: ``status`` (4xx or 5xx), ``message`` (already translated,
    as the JSON answer would carry it) and the protocol's ``headers`` (a 415's ``Accept-Encoding``), sent like the
    pages themselves: not stored, no Referer, nothing loaded (``protect``)."""
    title = _("This page cannot be shown") if status < 500 else _("Something went wrong")
    context = {"title": title, "message": message, "success": False}
    page = render(request, "authentication/verification_result.html", context, status=status)
    for name, value in (headers or {}).items():
        page[name] = value
    return protect(page)


_View = Callable[[HttpRequest], HttpResponse]


def page_methods(*methods: str) -> Callable[[_View], _View]:
    """Like Django's ``require_http_methods``, but another method is refused with the pages' page (405, its
    ``Allow``), not an empty answer without the pages' headers."""

    def decorate(view: _View) -> _View:
        @functools.wraps(view)
        def checked(request: HttpRequest) -> HttpResponse:
            if request.method not in methods:
                message = _('Method "%(method)s" not allowed.') % {"method": request.method}
                return error_page(request, 405, message, {"Allow": ", ".join(methods)})
            return view(request)

        return checked

    return decorate
