"""The base of every management API view: bearer auth, scopes, per-client rate limit and its headers."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.throttling import ClientRateThrottle


class ManagementAPIView(APIView):
    # Names no problem_renderer: its errors are in the management envelope, the default (api.views.exception_handler).
    throttle_classes = [ClientRateThrottle]

    def check_permissions(self, request: Request) -> None:
        # DRF checks scopes before throttles; count first, so a refused scope is counted and carries the headers.
        self.check_throttles(request)
        super().check_permissions(request)

    def check_throttles(self, request: Request) -> None:
        if getattr(request, "_throttles_checked", False):
            return
        request._throttles_checked = True  # type: ignore[attr-defined]
        super().check_throttles(request)

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        state = getattr(request, "rate_limit", None)
        if state is not None:
            for name, value in state.headers().items():
                response[name] = value
        return super().finalize_response(request, response, *args, **kwargs)


def select_fields(profile: dict[str, Any], query: dict[str, Any]) -> dict[str, Any]:
    """Auth0's ``fields``/``include_fields``: keep (or drop) the named top-level fields."""
    names = {name.strip() for name in query.get("fields", "").split(",") if name.strip()}
    if not names:
        return profile
    include = query.get("include_fields", True)
    return {key: value for key, value in profile.items() if (key in names) == include}
