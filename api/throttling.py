"""Rate limits of the management API, sign-up and the change-password request, and failure limits of logins,
client authentications and the reset page: token buckets shared by every server process of the install
(``ratelimits.buckets``: Redis with ``REDIS_URL``, else the database). Every setting they read is validated at start
(``RATE_SETTINGS``, ``check_rate_settings``).

Rates are written ``"<limit>/<period>"`` (``"1000/minute"``): a bucket of ``limit`` tokens refilled at ``limit``
per period, Auth0's model. Views publish Auth0's ``x-ratelimit-limit/remaining/reset`` headers from what the
throttle recorded on the request; ``x-ratelimit-reset`` is when the bucket is full again, ``Retry-After`` (on
429) when the next token is there.

Outage policy (the store does not answer), one rule: a limit that protects capacity lets the request through
with a logged warning (the management API's and sign-up's request rates: a Redis outage must not take the
directory down); a limit that protects passwords and secrets refuses with 503 ``temporarily_unavailable``
(:class:`FailureLimit`: brute force must not get unlimited guesses while the counter is down). ``/health`` says
503 during such an outage either way.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from clients.tokens import TokenPrincipal
from core.errors import TemporarilyUnavailable
from ratelimits import buckets
from ratelimits.buckets import Rate, StoreUnavailable
from users.emails import email_rate_limit_key

logger = logging.getLogger(__name__)

# Every setting a rate is read from, registered where a throttle or a failure limit names it (``TokenBucketThrottle``
# subclasses, ``FailureLimit``), so ``check_rate_settings`` validates them all at start (``api.apps``). Every
# throttle and limit is defined in this module: the registry is complete once it is imported.
RATE_SETTINGS: set[str] = set()

_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}
# One warning per process per this many seconds while the store is down, not one per request.
_WARN_EVERY_SECONDS = 60.0
_last_warning = 0.0


class LimiterUnavailable(TemporarilyUnavailable):
    """A failure limit could not be checked (its store is down): 503, the request is refused, never let through."""


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset: int  # epoch seconds when the bucket is full again

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(self.remaining),
            "x-ratelimit-reset": str(self.reset),
        }


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """``"100/minute"`` → (100, 60); empty, ``0`` or ``off`` → None (no limit). Raises ``ValueError`` otherwise."""
    if not rate or rate.strip().lower() in {"0", "off", "none"}:
        return None
    count, _sep, period = rate.strip().partition("/")
    seconds = _PERIODS.get(period.strip().lower())
    if seconds is None or not count.strip().isdigit() or int(count) < 1:
        raise ValueError(f"rate must look like '100/minute', got {rate!r}")
    return int(count), seconds


def check_rate_settings() -> None:
    """Parse every registered rate setting (``RATE_SETTINGS``); raises ``ValueError`` naming the first malformed
    one, so a bad value stops the start instead of failing the requests that read it later."""
    for name in sorted(RATE_SETTINGS):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from exc


def retry_after_header(wait: float | None) -> str:
    """``Retry-After`` for a wait in seconds: whole seconds, rounded up (the token is there by then), at least 1."""
    return str(max(1, math.ceil(wait or 0)))


def _warn_unenforced(scope: str) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= _WARN_EVERY_SECONDS:
        _last_warning = now
        logger.warning("rate limit %r not enforced: its store does not answer (requests are let through)", scope)


class TokenBucketThrottle(BaseThrottle):
    """A token bucket per identity; subclasses name the setting that holds the rate and the identity.

    Records a ``RateLimitState`` on ``request.rate_limit`` for the headers. Fails open: when the store does
    not answer the request passes, without headers, and a warning is logged.
    """

    rate_setting = ""
    scope = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.rate_setting:
            RATE_SETTINGS.add(cls.rate_setting)

    def identity(self, request: Request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request: Request, view: Any) -> bool:
        parsed = parse_rate(getattr(settings, self.rate_setting))
        ident = self.identity(request)
        self._wait = 0.0
        if parsed is None or ident is None:
            return True
        try:
            decision = buckets.take(self.scope, ident, Rate(*parsed), now=time.time())
        except StoreUnavailable:
            _warn_unenforced(self.scope)
            return True
        request.rate_limit = RateLimitState(  # type: ignore[attr-defined]
            decision.limit, decision.remaining, math.ceil(decision.reset)
        )
        self._wait = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return self._wait


class ClientRateThrottle(TokenBucketThrottle):
    """``settings.MANAGEMENT_API_RATE_LIMIT`` requests for each client (the token's ``azp``)."""

    rate_setting = "MANAGEMENT_API_RATE_LIMIT"
    scope = "client"

    def identity(self, request: Request) -> str | None:
        principal = request.auth
        return principal.client_id if isinstance(principal, TokenPrincipal) else None


class ClientIPRateThrottle(TokenBucketThrottle):
    """``settings.SIGNUP_RATE_LIMIT`` per client address (DRF's ``NUM_PROXIES`` decides which address)."""

    rate_setting = "SIGNUP_RATE_LIMIT"
    scope = "ip"

    def identity(self, request: Request) -> str | None:
        return self.get_ident(request)


class ChangePasswordIPThrottle(TokenBucketThrottle):
    """``settings.CHANGE_PASSWORD_RATE_LIMIT`` requests per client address (``NUM_PROXIES`` decides which), for
    ``POST /dbconnections/change_password``."""

    rate_setting = "CHANGE_PASSWORD_RATE_LIMIT"
    scope = "change-password-ip"

    def identity(self, request: Request) -> str | None:
        return self.get_ident(request)


class ChangePasswordEmailThrottle(TokenBucketThrottle):
    """``settings.CHANGE_PASSWORD_RATE_LIMIT_PER_EMAIL`` requests per e-mail address: one bucket for every spelling
    the user lookup reads as one address (any letter case) and for the domain's Unicode and IDNA forms
    (``users.emails.email_rate_limit_key``). The bucket key is a digest (``ratelimits.buckets``), never the
    address."""

    rate_setting = "CHANGE_PASSWORD_RATE_LIMIT_PER_EMAIL"
    scope = "change-password-email"

    def identity(self, request: Request) -> str | None:
        data = request.data
        email = data.get("email") if isinstance(data, Mapping) else None
        return email_rate_limit_key(email) if isinstance(email, str) and email else None


class FailureLimit:
    """Counts failures, not requests: ``settings.<rate_setting>`` failed attempts per identity (a token bucket).

    Exact across processes: :meth:`take` reserves a failure before the attempt is checked (so N concurrent
    guesses cannot all pass a check that none has counted yet); a success gives it back (:meth:`give_back`) or
    fills the bucket (:meth:`clear`). Identities are hashed into the key: no e-mail address, username
    or address is stored.

    Fails closed: ``take`` raises :class:`LimiterUnavailable` (503
    ``temporarily_unavailable``) when the store does not answer. ``give_back`` and ``clear`` only log: they
    run after a success, which the caller has already proved.
    """

    def __init__(self, rate_setting: str, scope: str) -> None:
        self.rate_setting = rate_setting
        self.scope = scope
        RATE_SETTINGS.add(rate_setting)

    def _rate(self) -> Rate | None:
        parsed = parse_rate(getattr(settings, self.rate_setting))
        return Rate(*parsed) if parsed is not None else None

    def take(self, ident: str) -> int | None:
        """Reserve one failure for an attempt about to be checked: None when reserved, else the seconds to wait."""
        rate = self._rate()
        if rate is None:
            return None
        try:
            decision = buckets.take(self.scope, ident, rate, now=time.time())
        except StoreUnavailable as exc:
            raise LimiterUnavailable() from exc
        return None if decision.allowed else int(retry_after_header(decision.retry_after))

    def give_back(self, ident: str) -> None:
        """Return a failure reserved by :meth:`take`: the attempt did not fail."""
        rate = self._rate()
        if rate is None:
            return
        try:
            buckets.give_back(self.scope, ident, rate, now=time.time())
        except StoreUnavailable:
            _warn_unenforced(self.scope)

    def clear(self, ident: str) -> None:
        """Forget the identity's failures (after a success)."""
        if self._rate() is None:
            return
        try:
            buckets.clear(self.scope, ident)
        except StoreUnavailable:
            _warn_unenforced(self.scope)


Reserved = list[tuple[FailureLimit, str]]
"""Failures reserved by ``reserve_failures``: each limit with the identity it was taken for."""


@dataclass(frozen=True)
class Spent:
    """The limit ``reserve_failures`` found spent: its position in the limits given, and the seconds to wait."""

    index: int
    retry_after: int


def reserve_failures(limits: list[tuple[FailureLimit, str]]) -> tuple[Reserved, Spent | None]:
    """Reserve one failure in each of ``limits`` (``(limit, identity)``, in order) for an attempt about to be
    checked: ``(reserved, None)``, or ``([], Spent)`` when a limit is spent. Reserving first is atomic across
    processes, so concurrent guesses cannot all pass, and a caller past a limit costs no check; the caller gives the
    reservations back (``give_back_failures``) when the attempt did not fail. Raises ``LimiterUnavailable`` when the
    store does not answer. Whatever was already reserved is given back before a spent limit or a raise."""
    reserved: Reserved = []
    for index, (limit, ident) in enumerate(limits):
        try:
            wait = limit.take(ident)
        except LimiterUnavailable:
            give_back_failures(reserved)
            raise
        if wait is not None:
            give_back_failures(reserved)
            return [], Spent(index=index, retry_after=wait)
        reserved.append((limit, ident))
    return reserved, None


def give_back_failures(reserved: Reserved) -> None:
    """Return the failures ``reserve_failures`` reserved: the attempt did not fail."""
    for limit, ident in reserved:
        limit.give_back(ident)


LOGIN_FAILURES_PER_IP = FailureLimit("LOGIN_FAILURES_PER_IP", "login-ip")
LOGIN_FAILURES_PER_USERNAME = FailureLimit("LOGIN_FAILURES_PER_USERNAME", "login-user")
# Failed client authentications at POST /oauth/token (wrong or unknown client id or secret), checked before bcrypt.
CLIENT_AUTH_FAILURES_PER_IP = FailureLimit("CLIENT_AUTH_FAILURES_PER_IP", "client-auth-ip")
CLIENT_AUTH_FAILURES_PER_CLIENT = FailureLimit("CLIENT_AUTH_FAILURES_PER_CLIENT", "client-auth-client")
# Refused submissions of the password-reset page (POST /lo/reset), checked before the policy and history are.
PASSWORD_RESET_FAILURES_PER_IP = FailureLimit("PASSWORD_RESET_FAILURES_PER_IP", "password-reset-ip")
PASSWORD_RESET_FAILURES_PER_TICKET = FailureLimit("PASSWORD_RESET_FAILURES_PER_TICKET", "password-reset-ticket")
