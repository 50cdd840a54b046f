"""The routes below a user, ``/api/v2/users/{id}/<name>``, when ``{id}`` itself may end in ``/<name>``.

Auth0's user ids may hold a ``/`` (its pattern is ``^\\S*$``): ``auth0|abc/logs`` is a user id, which the SDKs send
percent-encoded, ``/api/v2/users/auth0%7Cabc%2Flogs``. WSGI decodes the path before Django routes it, so Django sees
``users/auth0|abc/logs``, which is also how the logs of user ``auth0|abc`` are spelled. Every such route is made by
``user_subroute``, whose view decides between the sub-resource of ``X`` and the user ``X/<name>``:

1. When the server passes on the request target as the client sent it (gunicorn's ``RAW_URI``, the ``REQUEST_URI``
   of uWSGI, Apache and most others) and it decodes to the path Django routed, its last segment decides, for every
   method: a literal ``/<name>`` is the sub-resource of ``X`` (so ``DELETE .../logs`` is a 405, as documented), an
   escaped one (``%2F<name>``) ends the user id.
2. Without it (Django's runserver, the test client, ASGI, a target that is not the routed path), a method the
   sub-resource does not serve (the logs are GET only: PATCH, DELETE, ...) can only mean the user ``X/<name>``.
3. For the methods it serves (GET, HEAD, OPTIONS), still without it: the sub-resource of ``X`` when user ``X``
   exists, else the user ``X/<name>`` when that one exists, else the sub-resource of ``X`` (the logs of a deleted
   user stay readable, as Auth0 answers no 404 there). Only for a valid bearer token that may read users: any other
   request gets the sub-resource without a lookup, so its 401 or 403 (whose scopes name the view) tells nothing of
   which users exist, and a request with no valid token costs no query.

``users/<path:user_id>`` alone (``users/a/b`` is the user ``a/b``) and ``users-by-email`` are not sub-routes: nothing
here touches them.
"""

from __future__ import annotations

from functools import update_wrapper
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern, path
from django.utils.encoding import repercent_broken_unicode
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.views import APIView

from api.bearer import BearerTokenAuthentication
from api.management.users import UserDetailView
from users.selectors import user_exists

# Where WSGI servers put the request target as it arrived: gunicorn's RAW_URI first, then the CGI-style REQUEST_URI.
RAW_TARGET_KEYS = ("RAW_URI", "REQUEST_URI")


def raw_path(request: HttpRequest) -> str | None:
    """The path of ``request`` as the client sent it, still percent-encoded (``/api/v2/users/auth0%7Cabc%2Flogs``);
    ``None`` when the server passes on no request target, or one that does not decode to the path Django routed."""
    key = next((key for key in RAW_TARGET_KEYS if request.META.get(key)), None)
    if key is None:
        return None
    # Bytes, as the server's PATH_INFO: a conforming client sends ASCII, but a server may pass on other bytes.
    target = get_bytes_from_wsgi(request.META, key, "")
    # The origin form "/path?query", or the absolute form "http://host/path?query" (RFC 9112 §3.2); gunicorn passes on
    # a "#fragment" (which no client should send) too, and routes without it.
    raw = target.partition(b"?")[0].partition(b"#")[0] if target.startswith(b"/") else urlsplit(target).path
    # Decoded as Django decodes PATH_INFO: bytes that are not UTF-8 stay percent-encoded (%FF), as in request.path.
    if repercent_broken_unicode(unquote_to_bytes(raw)).decode() != request.path:
        return None
    return repercent_broken_unicode(raw).decode()


def user_subroute(name: str, view_class: type[APIView], *, url_name: str) -> URLPattern:
    """The route ``users/<path:user_id>/<name>``: ``view_class`` answers for the user ``user_id``, or
    ``UserDetailView`` for the user ``<user_id>/<name>``, by the module's rule."""
    sub_view = view_class.as_view()
    user_view = UserDetailView.as_view()
    served = _served_methods(view_class)

    def view(request: HttpRequest, user_id: str) -> HttpResponseBase:
        if _means_user(request, user_id=user_id, name=name, served=served):
            return user_view(request, user_id=f"{user_id}/{name}")
        return sub_view(request, user_id=user_id)

    # Carries the sub-resource view's cls and initkwargs (drf-spectacular documents the route as view_class's, GET
    # only) and csrf_exempt (as DRF's as_view() sets it).
    update_wrapper(view, sub_view)
    return path(f"users/<path:user_id>/{name}", view, name=url_name)


def _served_methods(view_class: type[APIView]) -> frozenset[str]:
    methods = {method for method in view_class.http_method_names if hasattr(view_class, method)}
    if "get" in methods:
        methods.add("head")  # Django's View.setup() answers HEAD with get()
    return frozenset(method.upper() for method in methods)


def _means_user(request: HttpRequest, *, user_id: str, name: str, served: frozenset[str]) -> bool:
    raw = raw_path(request)
    if raw is not None:
        return unquote(raw.rpartition("/")[2]) != name
    if request.method not in served:
        return True
    if not _may_read_users(request):
        return False
    if user_exists(user_id=user_id):
        return False
    return user_exists(user_id=f"{user_id}/{name}")


def _may_read_users(request: HttpRequest) -> bool:
    """Whether ``request`` carries a valid bearer token with a scope that reads users (which may learn whether a user
    exists anyway). The view authenticates the request again; this only decides which view."""
    try:
        found = BearerTokenAuthentication().authenticate(Request(request))
    except AuthenticationFailed:
        return False
    return found is not None and found[1].has_any_scope(UserDetailView.required_scopes["GET"])
