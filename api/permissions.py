"""Scope checks: a view lists the scopes each method needs; any one of them suffices (Auth0's rule)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotAuthenticated, PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from clients.tokens import TokenPrincipal


class HasRequiredScopes(BasePermission):
    """Reads ``view.required_scopes = {"POST": ("create:users",), ...}``. A view without it is closed. ``HEAD``
    needs ``GET``'s scopes; ``OPTIONS`` (the view's description, no data) any valid token."""

    def has_permission(self, request: Request, view: Any) -> bool:
        method = request.method or ""
        if not hasattr(view, method.lower()):
            return True  # DRF answers 405 for a method the view does not handle
        if method == "HEAD":
            method = "GET"  # RFC 9110 §9.3.2: GET without the body, so GET's scopes (it was refused 403 to all)
        required = getattr(view, "required_scopes", {}).get(method)
        principal = request.auth
        if not isinstance(principal, TokenPrincipal):
            exc = NotAuthenticated(_("Missing authentication"))
            exc.error_code = "missing_authentication"  # type: ignore[attr-defined]
            raise exc
        if method == "OPTIONS":
            return True  # DRF's description of the view (its name and media types), no data: any valid token
        if not required:
            return False
        if not principal.has_any_scope(required):
            denied = PermissionDenied(
                _("Insufficient scope, expected any of: %(scopes)s") % {"scopes": ",".join(required)}
            )
            denied.error_code = "insufficient_scope"  # type: ignore[attr-defined]
            raise denied
        return True
