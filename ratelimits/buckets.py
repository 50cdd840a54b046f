"""Token buckets shared by every server process of an install: on Redis when ``REDIS_URL`` is set, else in the
database (``ratelimits.models.Bucket``), so a limit holds exactly with any number of gunicorn workers.

The model is Auth0's: a bucket holds ``limit`` tokens and refills at ``limit`` per ``period``; each request takes
one token and is refused when none is left. A client far from its limit is told its bucket is full again "now or
in a second" (``x-ratelimit-reset``), not at the end of a fixed window, so SDKs that sleep until the reset never
stall. A burst takes exactly ``limit`` requests; after it, one more passes every ``period / limit``.

Each bucket is one number, its theoretical arrival time (TAT, the generic cell rate algorithm of ITU-T I.371):
the moment the bucket is full again. Taking a token moves the TAT forward by one interval; the request passes
when the TAT would then lie at most ``limit`` intervals ahead of now. That read-test-write happens in one
atomic step: a Lua script on Redis, one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`` statement
on PostgreSQL and SQLite (>= 3.35), which both run it under the row's lock. (Django's cache API cannot do this:
``DatabaseCache.incr`` is a get followed by a set. django-ratelimit and ``limits`` count fixed or sliding
windows through such caches or Redis only; ``pyrate-limiter`` keeps a log per request outside Django's
database connections; none has a token bucket on both Redis and Django's database.)

Times are integer epoch milliseconds, taken from the calling process's clock. A store that cannot be reached
raises :class:`StoreUnavailable`; what that means (refuse or let through) is the caller's policy.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from core.errors import TemporarilyUnavailable
from ratelimits.models import Bucket

if TYPE_CHECKING:
    import redis

logger = logging.getLogger(__name__)

# One take in this many also deletes up to PURGE_BATCH buckets that are full again (rows that mean nothing).
PURGE_ONE_IN = 100
PURGE_BATCH = 500


class StoreUnavailable(TemporarilyUnavailable):
    """The shared store (Redis or the database) did not answer; ``reason`` says which, ``__cause__`` holds the
    driver's error.

    A ``TemporarilyUnavailable`` (503): the callers decide what an outage means (``api.throttling`` lets a request
    through or refuses it), and one a caller forgot still answers "try again", never a 500. ``reason`` names the
    backend, so it stays out of the message a response shows.
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


@dataclass(frozen=True)
class Rate:
    """``limit`` tokens, refilled at ``limit`` per ``period`` seconds."""

    limit: int
    period: int

    @property
    def interval_ms(self) -> int:
        """How long one token takes to come back (at least 1 ms)."""
        return max(1, self.period * 1000 // self.limit)

    @property
    def capacity_ms(self) -> int:
        """How far ahead of now the TAT may lie: exactly ``limit`` intervals, so a burst takes ``limit``."""
        return self.interval_ms * self.limit


@dataclass(frozen=True)
class Decision:
    """The answer to one take and the bucket it left behind.

    ``remaining`` tokens are left; ``reset`` is the epoch time (seconds, fractional) when the bucket is full
    again; ``retry_after`` is how many seconds until one token is back (0.0 when one is there).
    """

    allowed: bool
    limit: int
    remaining: int
    reset: float
    retry_after: float


def _decision(rate: Rate, now_ms: int, tat_ms: int, allowed: bool) -> Decision:
    tat_ms = max(tat_ms, now_ms)
    ahead = tat_ms - now_ms  # how much of the bucket is used up, in milliseconds
    remaining = max(0, min(rate.limit, (rate.capacity_ms - ahead) // rate.interval_ms))
    retry_ms = max(0, ahead + rate.interval_ms - rate.capacity_ms)
    return Decision(allowed, rate.limit, remaining, tat_ms / 1000, retry_ms / 1000)


class Store(Protocol):
    def take(self, key: str, rate: Rate, now_ms: int) -> tuple[bool, int]:
        """Take one token if there is one: (taken, the TAT afterwards)."""
        ...

    def give_back(self, key: str, rate: Rate, now_ms: int) -> None:
        """Return one token taken earlier (a full bucket stays full)."""
        ...

    def clear(self, key: str) -> None:
        """Fill the bucket."""
        ...

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless the store answers."""
        ...


# --- the database --------------------------------------------------------------------------------------------

_TABLE = Bucket._meta.db_table
# The conditional upsert: a missing row is a full bucket (one token always passes, since limit >= 1); an existing
# row moves forward only when the WHERE holds, and RETURNING then gives the new TAT (no row when refused).
_TAKE_SQL = f"""
    INSERT INTO "{_TABLE}" AS b ("key", "tat") VALUES (%(key)s, %(now)s + %(interval)s)
    ON CONFLICT ("key") DO UPDATE SET "tat" = {{greatest}}(b."tat", %(now)s) + %(interval)s
    WHERE {{greatest}}(b."tat", %(now)s) + %(interval)s - %(now)s <= %(capacity)s
    RETURNING "tat"
"""  # noqa: S608 - the table name is ours; every value is a parameter


class DatabaseStore:
    """Buckets as rows of ``ratelimits_bucket`` in the default database (PostgreSQL or SQLite >= 3.35)."""

    def _sql(self) -> str:
        if connection.vendor == "postgresql":
            return _TAKE_SQL.format(greatest="GREATEST")
        if connection.vendor == "sqlite":
            return _TAKE_SQL.format(greatest="MAX")  # SQLite's two-argument MAX is a scalar function
        raise StoreUnavailable(f"rate limits need PostgreSQL or SQLite, not {connection.vendor}")

    def take(self, key: str, rate: Rate, now_ms: int) -> tuple[bool, int]:
        params: dict[str, str | int] = {
            "key": key,
            "now": now_ms,
            "interval": rate.interval_ms,
            "capacity": rate.capacity_ms,
        }
        try:
            # A savepoint when the caller is inside a transaction: a failure here must not break the caller's.
            with _short_lock_wait(), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(self._sql(), params)
                rows = cursor.fetchall()
            if secrets.randbelow(PURGE_ONE_IN) == 0:
                purge_full_buckets(now_ms)
        except DatabaseError as exc:
            raise StoreUnavailable("the database did not answer") from exc
        if rows:
            return True, int(rows[0][0])
        return False, self._tat(key)

    def _tat(self, key: str) -> int:
        """The bucket's TAT (0 for a full bucket), without changing it."""
        try:
            tat = Bucket.objects.filter(key=key).values_list("tat", flat=True).first()
        except DatabaseError as exc:
            raise StoreUnavailable("the database did not answer") from exc
        return tat or 0

    def give_back(self, key: str, rate: Rate, now_ms: int) -> None:
        from django.db.models import F

        try:
            with transaction.atomic():
                Bucket.objects.filter(key=key).update(tat=F("tat") - rate.interval_ms)
        except DatabaseError as exc:
            raise StoreUnavailable("the database did not answer") from exc

    def clear(self, key: str) -> None:
        try:
            with transaction.atomic():
                Bucket.objects.filter(key=key).delete()
        except DatabaseError as exc:
            raise StoreUnavailable("the database did not answer") from exc

    def ping(self) -> None:
        """A write that changes nothing: on SQLite it needs the database's write lock, as every take does."""
        try:
            with _short_lock_wait(), transaction.atomic():
                Bucket.objects.filter(key="").update(tat=0)
        except DatabaseError as exc:
            raise StoreUnavailable("the database did not answer") from exc


# How long a take waits for SQLite's write lock, in milliseconds: as long as Redis may take to answer (2 s), after
# which the outage policy applies (api.throttling) instead of the request waiting out the database's timeout.
SQLITE_LOCK_WAIT_MS = 2000


@contextlib.contextmanager
def _short_lock_wait() -> Iterator[None]:
    """On SQLite outside a transaction, wait at most ``SQLITE_LOCK_WAIT_MS`` for the write lock, then restore the
    connection's own busy timeout; elsewhere (PostgreSQL locks one row; a transaction already holds the lock)
    nothing changes."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    connection.ensure_connection()
    own_ms = int(connection.settings_dict.get("OPTIONS", {}).get("timeout", 5) * 1000)
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_LOCK_WAIT_MS}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {own_ms}")


def purge_full_buckets(now_ms: int, batch: int = PURGE_BATCH) -> int:
    """Delete up to ``batch`` rows whose bucket is full again (they mean the same as no row); return how many.

    Bounded so one request never pays for a long sweep; ``take`` calls it on one take in ``PURGE_ONE_IN``.
    """
    with transaction.atomic():
        stale = Bucket.objects.filter(tat__lt=now_ms).values("key")[:batch]
        deleted, _ = Bucket.objects.filter(key__in=list(stale.values_list("key", flat=True))).delete()
    return deleted


# --- Redis ---------------------------------------------------------------------------------------------------

# KEYS[1]: the bucket; ARGV: now, interval, capacity (ms). Lua numbers are doubles: epoch milliseconds are exact,
# and string.format("%d") keeps tostring's exponent notation out of the stored value. The key expires when the
# bucket is full again (plus a second), so Redis cleans up by itself.
_TAKE_LUA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < now then tat = now end
local new = tat + interval
if new - now > capacity then
  return {0, string.format('%d', tat)}
end
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', string.format('%d', new - now + 1000))
return {1, string.format('%d', new)}
"""
_GIVE_BACK_LUA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
local new = tat - interval
if new <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%d', new), 'PX', string.format('%d', new - now + 1000))
end
return 1
"""


@functools.lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    import redis

    # Short timeouts: a Redis that does not answer must not hold a request for long (see the outage policy).
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


class RedisStore:
    """Buckets as Redis strings under ``<CACHE_KEY_PREFIX>:rl:<key>``, updated by Lua scripts (atomic)."""

    def __init__(self, url: str, prefix: str) -> None:
        self.client = _redis_client(url)
        self.prefix = prefix
        self._take = self.client.register_script(_TAKE_LUA)
        self._give_back = self.client.register_script(_GIVE_BACK_LUA)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:rl:{key}"

    def take(self, key: str, rate: Rate, now_ms: int) -> tuple[bool, int]:
        import redis

        try:
            taken, tat = self._take(keys=[self._key(key)], args=[now_ms, rate.interval_ms, rate.capacity_ms])
        except redis.RedisError as exc:
            raise StoreUnavailable("Redis did not answer") from exc
        return bool(taken), int(tat)

    def give_back(self, key: str, rate: Rate, now_ms: int) -> None:
        import redis

        try:
            self._give_back(keys=[self._key(key)], args=[now_ms, rate.interval_ms])
        except redis.RedisError as exc:
            raise StoreUnavailable("Redis did not answer") from exc

    def clear(self, key: str) -> None:
        import redis

        try:
            self.client.delete(self._key(key))
        except redis.RedisError as exc:
            raise StoreUnavailable("Redis did not answer") from exc

    def ping(self) -> None:
        import redis

        try:
            self.client.ping()
        except redis.RedisError as exc:
            raise StoreUnavailable("Redis did not answer") from exc


# --- the API the throttles use -------------------------------------------------------------------------------


def get_store() -> Store:
    """Redis when ``settings.REDIS_URL`` is set, else the database; read at call time."""
    if settings.REDIS_URL:
        return RedisStore(settings.REDIS_URL, settings.CACHE_KEY_PREFIX)
    return DatabaseStore()


def bucket_key(scope: str, ident: str) -> str:
    """``<scope>:<sha256>``: identities (client ids, addresses, usernames) are never stored in clear."""
    digest = hashlib.sha256(ident.encode("utf-8", "backslashreplace")).hexdigest()[:40]
    return f"{scope[:50]}:{digest}"


def take(scope: str, ident: str, rate: Rate, *, now: float) -> Decision:
    """Take one token from ``ident``'s bucket in ``scope`` if one is left. Raises ``StoreUnavailable``."""
    now_ms = int(now * 1000)
    allowed, tat = get_store().take(bucket_key(scope, ident), rate, now_ms)
    return _decision(rate, now_ms, tat, allowed)


def give_back(scope: str, ident: str, rate: Rate, *, now: float) -> None:
    """Return a token taken by :func:`take` (the request turned out not to count). Raises ``StoreUnavailable``."""
    get_store().give_back(bucket_key(scope, ident), rate, int(now * 1000))


def clear(scope: str, ident: str) -> None:
    """Fill ``ident``'s bucket in ``scope``. Raises ``StoreUnavailable``."""
    get_store().clear(bucket_key(scope, ident))


def ping() -> None:
    """Raise ``StoreUnavailable`` unless the store answers (for ``/health``)."""
    get_store().ping()
