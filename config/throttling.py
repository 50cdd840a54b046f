"""Per-client rate limits for the management API, shared by every server process through Django's cache.

A fixed window counted with the cache's atomic ``incr`` (Redis ``INCR`` when ``REDIS_URL`` is set), so
concurrent processes never lose a count the way a read-modify-write log would. The view publishes Auth0's
``x-ratelimit-*`` headers from what the throttle recorded on the request.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset: int  # epoch seconds when the window ends

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
        }


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"100/minute"`` → (100, 60); empty, ``0`` or ``off`` → None (no limit)."""
    if not rate or rate.strip().lower() in {"0", "off", "none"}:
        return None
    count, _, period = rate.strip().partition("/")
    seconds = _PERIODS.get(period.strip().lower())
    if seconds is None or not count.strip().isdigit():
        raise ValueError(f"rate must look like '100/minute', got {rate!r}")
    return int(count), seconds


class FixedWindowThrottle(BaseThrottle):
    """A fixed window per identity; subclasses name the setting that holds the rate and the identity."""

    rate_setting = ""
    scope = ""

    def identity(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        parsed = parse_rate(getattr(settings, self.rate_setting))
        ident = self.identity(request)
        if parsed is None or ident is None:
            return True
        limit, period = parsed
        now = time.time()
        window = int(now // period) * period
        self.reset = window + period
        self.now = now
        key = f"ratelimit:{self.scope}:{ident}:{period}:{window}"
        cache.add(key, 0, timeout=period + 1)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: start the window again
            cache.add(key, 1, timeout=period + 1)
            count = 1
        request.rate_limit = RateLimitState(limit, max(0, limit - count), self.reset)  # type: ignore[attr-defined]
        return count <= limit

    def wait(self) -> float | None:
        return max(0.0, self.reset - self.now)


class ClientRateThrottle(FixedWindowThrottle):
    """``settings.MANAGEMENT_API_RATE_LIMIT`` requests per window for each client (the token's ``azp``)."""

    rate_setting = "MANAGEMENT_API_RATE_LIMIT"
    scope = "client"

    def identity(self, request: Request) -> str | None:
        principal = request.auth
        return principal.client_id if principal is not None else None


class ClientIPRateThrottle(FixedWindowThrottle):
    """``settings.SIGNUP_RATE_LIMIT`` per client address (DRF's ``NUM_PROXIES`` decides which address)."""

    rate_setting = "SIGNUP_RATE_LIMIT"
    scope = "ip"

    def identity(self, request: Request) -> str | None:
        return self.get_ident(request)


class FailureLimit:
    """Counts failures, not requests: ``settings.<rate_setting>`` failed attempts per identity per window.

    The password grant asks ``retry_after`` before checking a password (so a locked-out guesser costs no
    bcrypt), calls ``add_failure`` after a wrong one and ``clear`` after a success. Identities are hashed
    into the cache key: no e-mail address or username is stored in Redis.
    """

    def __init__(self, rate_setting: str, scope: str) -> None:
        self.rate_setting = rate_setting
        self.scope = scope

    def _window(self, ident: str) -> tuple[str, int, float, float] | None:
        parsed = parse_rate(getattr(settings, self.rate_setting))
        if parsed is None:
            return None
        limit, period = parsed
        now = time.time()
        window = int(now // period) * period
        digest = hashlib.sha256(ident.encode("utf-8", "backslashreplace")).hexdigest()[:32]
        return f"failures:{self.scope}:{digest}:{period}:{window}", limit, now, window + period

    def retry_after(self, ident: str) -> int | None:
        """Seconds until the window ends when the identity has used up its failures, else None."""
        window = self._window(ident)
        if window is None:
            return None
        key, limit, now, end = window
        if (cache.get(key) or 0) < limit:
            return None
        return max(1, int(end - now) + 1)

    def add_failure(self, ident: str) -> None:
        window = self._window(ident)
        if window is None:
            return
        key, _limit, now, end = window
        timeout = int(end - now) + 2
        cache.add(key, 0, timeout=timeout)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=timeout)

    def clear(self, ident: str) -> None:
        window = self._window(ident)
        if window is not None:
            cache.delete(window[0])


LOGIN_FAILURES_PER_IP = FailureLimit("LOGIN_FAILURES_PER_IP", "login-ip")
LOGIN_FAILURES_PER_USERNAME = FailureLimit("LOGIN_FAILURES_PER_USERNAME", "login-user")
# Failed client authentications at POST /oauth/token (wrong or unknown client id or secret), checked before bcrypt.
CLIENT_AUTH_FAILURES_PER_IP = FailureLimit("CLIENT_AUTH_FAILURES_PER_IP", "client-auth-ip")
CLIENT_AUTH_FAILURES_PER_CLIENT = FailureLimit("CLIENT_AUTH_FAILURES_PER_CLIENT", "client-auth-client")
