"""Sending deliveries: what the worker's ``deliver_stream`` task does.

For one stream, ``deliver_due`` claims the due pending deliveries whose subject has no earlier pending delivery on
that stream (so one user's events arrive in the order they were written), sends each as a CloudEvents JSON
request signed with Standard Webhooks (``webhook-id`` = the event id, ``webhook-timestamp``, ``webhook-signature``)
and carrying the stream's bearer or basic ``Authorization``, and records the attempt.

- 2xx: delivered.
- A network error, a timeout, 5xx or 429: tried again after an exponential backoff with jitter
  (``EVENT_STREAMS_RETRY_BASE_SECONDS`` x 2^(attempt-1), capped at ``EVENT_STREAMS_RETRY_MAX_SECONDS``, drawn
  between half and all of it), or after ``Retry-After`` when the answer says so (capped the same way); after
  ``EVENT_STREAMS_MAX_ATTEMPTS`` attempts the delivery is failed.
- Any other answer, or a refused address: failed at once (trying again would get the same).
- ``EVENT_STREAMS_DISABLE_AFTER_FAILURES`` failed attempts in a row (Auth0 disables a stream after 500
  consecutive failures: "Event Testing, Observability, and Failure Recovery") disable the stream
  (``disabled_reason="failures"``) and fail its pending deliveries; the redelivery API queues them again. So does
  a delivery that fails when the stream already holds ``EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES`` - 1 failed
  ones (Auth0: 5000 total failures).
- A stored secret no configured key opens (``SECRET_KEY`` changed without the old key in ``SECRET_KEY_FALLBACKS``):
  no attempt; the stream is disabled (``disabled_reason="undecryptable"``), its deliveries kept pending until the
  authorization is sent again and the stream enabled (``disable_for_unreadable_secret``).

The request goes to the address the guard checked (``events.endpoints``): the host is resolved once, every
address must be allowed, and the connection is made to that address with the original host name for SNI,
certificate checks and ``Host`` — a name that re-resolves elsewhere between check and connect gains nothing.
Redirects are not followed (a 3xx is a failed attempt). Connecting and the answer's status line and headers must
be done within twice ``EVENT_STREAMS_TIMEOUT_SECONDS`` (``AnswerDeadlines``), and its body (chunk-size and
trailer lines included) is read for one more, under a deadline as well.

The worker pays per task, not per event (issue 16): a claimed batch is sent in order over one kept-alive
connection (``Sender``; kept for the stream's next task when its host still resolves to the same checked address;
a request that the receiver's idle timeout cut on it is sent again at once on a new one) and recorded in one
transaction (``record_attempts``), and the per-task statements are plain SQL. A batch reads its stream again every
few requests (``send_batch``), so an operator's disable stops it within ``RECHECK_EVERY`` requests.

A claim lasts ``EVENT_STREAMS_CLAIM_SECONDS``; a worker killed mid-delivery leaves a claim that lapses, and the
worker's sweep (``events.recovery``) queues the stream again, so the delivery is sent again (at least once). A live
worker keeps its claim: a slow batch renews it, no request outlasts it (``Claim``, ``send_batch``), and an attempt
recorded after another worker took the delivery over leaves that one's state alone (``record_attempts``).
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import urllib3
from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from standardwebhooks.webhooks import Webhook
from urllib3.connection import HTTPConnection as BaseHTTPConnection

from core.crypto import SecretDecryptionError, decrypt_secret
from core.db import columns, fetch_instance, models_from_rows, read_models
from events.endpoints import Endpoint, insecure_endpoints_allowed, is_public_address, parse_endpoint, resolve
from events.envelope import structured_body
from events.errors import InvalidWebhookEndpoint, UnsafeDestination
from events.models import (
    AuthorizationMethod,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    DisabledReason,
    Event,
    EventStream,
    EventStreamStatus,
)

logger = logging.getLogger(__name__)

# Deliveries claimed at once: enough to amortise the claim, few enough that a dying worker strands little.
CLAIM_BATCH = 20
_USER_AGENT = "userdir-event-streams/1"
# Recorded error messages are cut here (a receiver's error page is not worth storing whole).
_ERROR_MAX = 500


def worker_name() -> str:
    """This process as recorded in a claim: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[:48]


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: ``delivered``; else whether trying again may help, and when at the earliest."""

    delivered: bool
    retryable: bool
    http_status: int | None
    error: str
    duration_ms: float
    retry_after: float | None = None


def _error_text(text: str) -> str:
    """An attempt's error as it is stored: cut at ``_ERROR_MAX``, each NUL replaced by U+FFFD. The text comes from the
    receiver (its answer's body, a status line quoted by an exception), and PostgreSQL's text refuses a NUL: the
    batch's record raised with it, its attempts unrecorded, its events sent again at each lapse of the claim."""
    return text.replace("\x00", "\ufffd")[:_ERROR_MAX]


def backoff_seconds(attempt: int) -> float:
    """The wait before attempt ``attempt + 1``: ``base x 2^(attempt-1)`` capped at the maximum, with "equal
    jitter" (uniformly between half and all of it) so retries of many deliveries do not arrive together."""
    base = float(settings.EVENT_STREAMS_RETRY_BASE_SECONDS)
    cap = float(settings.EVENT_STREAMS_RETRY_MAX_SECONDS)
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3) in seconds from ``now``: delay-seconds or an HTTP-date; ``None`` when
    absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    # ASCII digits only: ``str.isdigit`` also takes Latin-1's superscripts ("²", as http.client decodes a header's
    # bytes), which ``float`` refuses: the worker's task raised, the attempt unrecorded, the event sent again forever.
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def _pinned_address(host: str, port: int) -> str:
    """The address to connect to for ``host``; raises ``UnsafeDestination`` when any address it resolves to is not
    allowed (the same rule as ``check_webhook_endpoint``), ``OSError`` when it does not resolve."""
    addresses = resolve(host, port)
    if not addresses:
        raise OSError(f"{host} does not resolve")
    if not insecure_endpoints_allowed() and not all(is_public_address(a) for a in addresses):
        raise UnsafeDestination(f"{host} resolves to a non-public address")
    return str(addresses[0])


def unreadable_secrets(stream: EventStream) -> list[str]:
    """The names of the stream's stored secrets no configured key opens (``webhook_authorization``,
    ``signing_secret``), in that order; empty when both decrypt. Names only: a value is never logged."""
    stored = (
        ("webhook_authorization", stream.authorization_secret_encrypted),
        ("signing_secret", stream.signing_secret_encrypted),
    )
    unreadable = []
    for name, token in stored:
        try:
            decrypt_secret(token)
        except SecretDecryptionError:
            unreadable.append(name)
    return unreadable


def _authorization_header(stream: EventStream) -> str:
    secret = decrypt_secret(stream.authorization_secret_encrypted)
    if stream.authorization_method == AuthorizationMethod.BASIC:
        pair = f"{stream.authorization_username}:{secret}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")
    return f"Bearer {secret}"


class IdlePools:
    """Connection pools a finished ``Sender`` left open, by (scheme, host, port, checked address, timeout): a few,
    for a short while; one taker at a time (the worker runs one task at a time; the lock is for other threads)."""

    def __init__(self, size: int = 8, idle_seconds: float = 30.0) -> None:
        self.size, self.idle_seconds = size, idle_seconds
        self.pools: OrderedDict[tuple[object, ...], tuple[urllib3.HTTPConnectionPool, float]] = OrderedDict()
        self.lock = threading.Lock()

    def take(self, key: tuple[object, ...]) -> urllib3.HTTPConnectionPool | None:
        with self.lock:
            pool, since = self.pools.pop(key, (None, 0.0))
        if pool is not None and time.monotonic() - since > self.idle_seconds:
            pool.close()
            return None
        return pool

    def keep(self, key: tuple[object, ...], pool: urllib3.HTTPConnectionPool) -> None:
        with self.lock:
            if (old := self.pools.pop(key, None)) is not None:
                old[0].close()
            self.pools[key] = (pool, time.monotonic())
            while len(self.pools) > self.size:
                self.pools.popitem(last=False)[1][0].close()

    def close_all(self) -> None:
        with self.lock:
            while self.pools:
                self.pools.popitem()[1][0].close()


IDLE_POOLS = IdlePools()


class _ReuseAware:
    """A connection pool that notes the connection it handed out last (``current``, for ``AnswerDeadlines``) and
    whether it was already open (kept alive from an earlier request) or is new: urllib3 replaces a connection it
    finds closed before reusing it, but a receiver whose idle timeout fires as the request arrives closes it after
    that check."""

    reused = False
    current: BaseHTTPConnection | None = None

    def _get_conn(self, timeout: float | None = None) -> BaseHTTPConnection:
        conn: BaseHTTPConnection = super()._get_conn(timeout)  # type: ignore[misc]
        self.reused = not conn.is_closed
        self.current = conn
        return conn


class _HTTPPool(_ReuseAware, urllib3.HTTPConnectionPool):
    pass


class AnswerTimeout(TimeoutError):
    """The receiver had not sent its answer's status line and headers by the request's deadline."""


@dataclass(eq=False)  # each watch is itself: two alike must not be confused
class _Watch:
    pool: _ReuseAware
    deadline: float
    expired: bool = False
    shut: socket.socket | None = None  # the socket shut last (an expired watch shuts each one its pool hands out)


# How often an expired request that has not ended yet is looked at again (see ``AnswerDeadlines``).
_EXPIRED_POLL = 0.05


class AnswerDeadlines:
    """A deadline on each request's answer, kept by one daemon thread: once a request's deadline passes before
    ``unwatch``, the socket of the connection its pool handed out is shut down, so the read waiting on it ends at
    once (``watch(...).expired`` then says why). An expired watch is kept until ``unwatch``, and every
    ``_EXPIRED_POLL`` seconds shuts the socket its pool's connection has then, if another: a connection still
    connecting at the deadline (no socket yet: a TLS handshake the receiver held, or the new connection of a resend
    that began just before the deadline) would otherwise carry the request with no deadline at all.

    urllib3's timeouts bound each read, not the answer: a receiver that sends its status line and headers a byte at
    a time, each within the read timeout, held the worker (one task at a time, for every stream and mail) for as
    long as it liked. The socket is shut down through ``socket.socket.shutdown`` itself, also for a TLS socket,
    whose own ``shutdown`` would take its TLS state from under the thread reading it."""

    def __init__(self) -> None:
        self.start_afresh()

    def start_afresh(self) -> None:
        """Forget every watch and the thread (a forked child's start: see ``ANSWER_DEADLINES``)."""
        self._watches: list[_Watch] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        # When the thread wakes next (``time.monotonic()``; ``None``: when told). A new deadline later than that
        # needs no wake: a request's deadline is later than those before it, so the thread wakes about once per
        # deadline's length, not for every request (a wake per request cost each request about 50 µs).
        self._waiting_until: float | None = None

    def watch(self, pool: _ReuseAware, deadline: float) -> _Watch:
        """Watch the request ``pool`` is about to make (or is making) until ``deadline`` (``time.monotonic()``)."""
        watch = _Watch(pool, deadline)
        with self._changed:
            self._watches.append(watch)
            if self._thread is None or not self._thread.is_alive():
                self._waiting_until = None
                self._thread = threading.Thread(target=self._run, name="answer-deadlines", daemon=True)
                self._thread.start()
            if self._waiting_until is None or deadline < self._waiting_until:
                self._changed.notify()
        return watch

    def unwatch(self, watch: _Watch) -> None:
        with self._changed:
            if watch in self._watches:
                self._watches.remove(watch)

    def _run(self) -> None:
        with self._changed:
            while True:
                now = time.monotonic()
                for watch in [w for w in self._watches if w.deadline <= now]:
                    watch.expired = True
                    sock = getattr(watch.pool.current, "sock", None)
                    if isinstance(sock, socket.socket) and sock is not watch.shut:
                        watch.shut = sock
                        with contextlib.suppress(OSError):  # closed meanwhile
                            socket.socket.shutdown(sock, socket.SHUT_RDWR)
                waits = [_EXPIRED_POLL if w.expired else w.deadline - now for w in self._watches]
                self._waiting_until = now + min(waits) if waits else None
                self._changed.wait(timeout=min(waits) if waits else None)


ANSWER_DEADLINES = AnswerDeadlines()
# A forked child has a copy of the lock as the fork found it (held, if the thread was at work) and no thread: its
# first request would wait for that lock for ever. It starts afresh, with none of the parent's watches (their
# requests are the parent's).
os.register_at_fork(after_in_child=ANSWER_DEADLINES.start_afresh)


class _HTTPSPool(_ReuseAware, urllib3.HTTPSConnectionPool):
    pass


# What a receiver closing a kept-alive connection under a request looks like before any byte of an answer: the
# status line never came (``RemoteDisconnected``, a ``ConnectionResetError``), the connection was reset or the
# request could not be written (``BrokenPipeError``). A timeout or a partial answer is not among them.
_CLOSED_UNDER_REQUEST = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)


def _closed_before_answer(exc: BaseException) -> bool:
    """Whether ``exc`` (urllib3 wraps the socket's error in a ``ProtocolError``) says the connection was closed
    before any byte of an answer arrived."""
    causes = [exc, *(arg for arg in exc.args if isinstance(arg, BaseException))]
    return any(isinstance(cause, _CLOSED_UNDER_REQUEST) for cause in causes)


# An answer's body is read up to this many bytes (an error's first ``_ERROR_MAX`` characters are kept).
_BODY_MAX = 64 * 1024


def _read_body(response: urllib3.BaseHTTPResponse, watch: _Watch) -> bytes:
    """``response``'s body: up to ``_BODY_MAX`` bytes, read until ``watch``'s deadline (``AnswerDeadlines`` shuts
    the connection then, so a read under way ends too). A receiver trickling a body, a chunk-size line or trailer
    lines without end (each within the read timeout; http.client reads trailer lines until an empty one, however
    many) would otherwise hold the worker, whose one task at a time serves every stream, as long as it liked, past
    the delivery's claim. What was read by the deadline is the body; a body left unread closes the connection (it
    cannot carry another request). Raises what a read raises before the deadline (a connection broken in the middle
    of the answer)."""
    body = bytearray()
    try:
        while len(body) < _BODY_MAX and not watch.expired:
            chunk = response.read1(_BODY_MAX - len(body), decode_content=False)
            if not chunk:
                return bytes(body)
            body += chunk
    except (OSError, urllib3.exceptions.HTTPError):
        if not watch.expired:
            raise
    response.close()
    return bytes(body)


class Sender:
    """Sends deliveries to one stream's endpoint as it is now, over one kept-alive connection.

    The endpoint's host is resolved and checked on the first attempt (and again after a resolution failure); the
    connection pool then reaches only that checked address (its one connection is re-opened to it when the
    receiver closes it) and never follows redirects. ``close`` leaves it to the next ``Sender`` whose check finds
    the same address (``IdlePools``: the next task of the stream skips the TCP and TLS handshakes). The secrets are
    decrypted once: ``core.crypto.SecretDecryptionError`` when no configured key opens them (the worker then
    disables the stream: ``disable_for_unreadable_secret``). ``matches(stream)`` says whether a (re-read) stream
    still has this endpoint and these secrets.

    A kept-alive connection the receiver closed under a request (its idle timeout, between two batches) is not the
    receiver's failure: a request on a *reused* connection that fails before any byte of an answer arrived is sent
    again at once, once, on a new connection to the same checked address (so the address check holds for it too);
    its outcome is the attempt's. A request on a new connection that fails so is an ordinary failed attempt.

    A stored endpoint that ``events.endpoints.parse_endpoint`` refuses (a port of 0, say, stored before that was
    refused) is never called: each attempt fails at once, as for a refused address.
    """

    def __init__(self, stream: EventStream) -> None:
        self.stream_id = stream.id
        self._config = _sender_config(stream)
        keys = (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))
        now = time.monotonic()
        forget_idle_prepared(now)
        prepared = _PREPARED.get(stream.id)
        if prepared is None or prepared[0] != (self._config, keys):
            prepared = ((self._config, keys), _prepare(stream), now)
            if len(_PREPARED) >= _PREPARED_MAX:
                _PREPARED.clear()
        if not prepared[1][1]:  # a refusal is worded in the language of the moment: made each time
            _PREPARED[stream.id] = (prepared[0], prepared[1], now)
        self.endpoint, self.refusal, self.authorization, self.webhook = prepared[1]
        self.pool: _HTTPPool | _HTTPSPool | None = None
        self._pool_key: tuple[object, ...] = ()

    def matches(self, stream: EventStream) -> bool:
        return _sender_config(stream) == self._config

    def close(self) -> None:
        if self.pool is not None:
            IDLE_POOLS.keep(self._pool_key, self.pool)
            self.pool = None

    def _connect(self, endpoint: Endpoint) -> _HTTPPool | _HTTPSPool:
        if self.pool is None:
            address = _pinned_address(endpoint.host, endpoint.port)
            timeout = float(settings.EVENT_STREAMS_TIMEOUT_SECONDS)
            self._pool_key = (endpoint.secure, endpoint.host, endpoint.port, address, timeout)
            kept = IDLE_POOLS.take(self._pool_key)
            if isinstance(kept, _HTTPPool | _HTTPSPool):
                self.pool = kept
                return kept
            pool_timeout = urllib3.Timeout(connect=timeout, read=timeout)
            # The pool connects to the checked address; the host name goes to SNI, the certificate check and Host.
            self.pool = (
                _HTTPSPool(
                    address,
                    endpoint.port,
                    timeout=pool_timeout,
                    retries=False,
                    maxsize=1,
                    server_hostname=endpoint.host,
                    assert_hostname=endpoint.host,
                )
                if endpoint.secure
                else _HTTPPool(address, endpoint.port, timeout=pool_timeout, retries=False, maxsize=1)
            )
        return self.pool

    def _post(
        self, endpoint: Endpoint, body: bytes, headers: dict[str, str], until: float | None
    ) -> tuple[urllib3.BaseHTTPResponse, bytes]:
        """One request, and its answer's body; a reused connection closed under it before any answer is replaced
        once (see the class). No part of it outlasts ``until`` (``time.monotonic()``: the end of the delivery's
        claim, ``Claim.until``), whatever the deadlines below would allow.

        The answer's body is read after that decision (``_read_body``): a connection reset once the status line
        and headers came (urllib3 reports it with the same ``ConnectionResetError``) is the attempt's failure, never
        a resend of a request the receiver got and began to answer."""

        def post(pool: _HTTPPool | _HTTPSPool) -> urllib3.BaseHTTPResponse:
            return pool.urlopen(
                "POST",
                endpoint.target,
                body=body,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
            )

        timeout = float(settings.EVENT_STREAMS_TIMEOUT_SECONDS)
        pool = self._connect(endpoint)
        # Connecting and answering get a timeout each, as urllib3's per-read timeouts allow an honest slow receiver.
        own = time.monotonic() + 2 * timeout
        deadline = own if until is None else min(own, until)
        watch = ANSWER_DEADLINES.watch(pool, deadline)
        response: urllib3.BaseHTTPResponse | None = None
        failure: BaseException | None = None
        try:
            try:
                response = post(pool)
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                if watch.expired or not (pool.reused and _closed_before_answer(exc)):
                    raise
                # urllib3 dropped the closed connection: the pool opens a new one, to the same checked address.
                response = post(self._connect(endpoint))
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            if not watch.expired:
                raise
            failure = exc
        finally:
            ANSWER_DEADLINES.unwatch(watch)
        if watch.expired or response is None:
            if response is not None:  # the shut socket ended the headers early: what was read is not an answer
                response.close()
                response.release_conn()
            why = f"within {2 * timeout:g} s" if deadline == own else "before the delivery's claim ran out"
            raise AnswerTimeout(f"no answer {why} (status line and headers)") from failure
        # The body gets one timeout more, as a deadline too (``_read_body``); never before the answer's own deadline,
        # which the deadlines' thread waits for already (an earlier one would wake it for every request).
        body_deadline = max(deadline, time.monotonic() + timeout)
        watch = ANSWER_DEADLINES.watch(pool, body_deadline if until is None else min(body_deadline, until))
        try:
            return response, _read_body(response, watch)
        finally:
            ANSWER_DEADLINES.unwatch(watch)
            response.release_conn()

    def send(self, delivery: Delivery, *, until: float | None = None) -> Outcome:
        """Make one attempt at ``delivery`` and say how it went (never raises for the receiver's or the network's
        failures); ``until``: the end of its claim, which the request does not outlast (``_post``)."""
        started = time.perf_counter()

        def elapsed() -> float:
            return round((time.perf_counter() - started) * 1000, 3)

        endpoint = self.endpoint
        if endpoint is None:
            return Outcome(False, False, None, self.refusal, elapsed())
        if not endpoint.secure and not insecure_endpoints_allowed():
            return Outcome(False, False, None, "the endpoint is not https", elapsed())
        body, content_type = structured_body(delivery.event, stream_id=self.stream_id)
        now = timezone.now()
        headers = {
            "Content-Type": content_type,
            "User-Agent": _USER_AGENT,
            "Authorization": self.authorization,
            "webhook-id": delivery.event_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.webhook.sign(delivery.event_id, now, body.decode("utf-8")),
            "Host": endpoint.host_header,
        }
        try:
            response, answer = self._post(endpoint, body, headers, until)
        except UnsafeDestination as exc:
            return Outcome(False, False, None, str(exc), elapsed())
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            return Outcome(False, True, None, self._error(f"{type(exc).__name__}: {exc}"), elapsed())
        status = response.status
        if 200 <= status < 300:
            return Outcome(True, False, status, "", elapsed())
        retryable = status == 429 or status >= 500
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=timezone.now()) if retryable else None
        text = answer.decode("utf-8", "replace").strip()
        # An answer without a body is "HTTP 401", not "HTTP 401:" (the deliveries list and the admin show it).
        error = f"HTTP {status}: {text}" if text else f"HTTP {status}"
        return Outcome(False, retryable, status, self._error(error), elapsed(), retry_after)

    def _error(self, text: str) -> str:
        """``text`` as an attempt records it: without the stream's credentials, then as ``_error_text`` makes it. An
        answer (and an error quoting one: a malformed status line, chunk size) may echo the request's headers, as a
        receiver's debugging error page does: its token or password would be listed in the deliveries list and the
        admin, which never show it."""
        scheme, _, credentials = self.authorization.partition(" ")
        secrets = [credentials]
        if scheme == "Basic":
            secrets.append(base64.b64decode(credentials).decode().partition(":")[2])
        for form in sorted({form for secret in secrets if secret for form in _echoed(secret)}, key=len, reverse=True):
            text = text.replace(form, "[redacted]")
        return _error_text(text)


def _echoed(secret: str) -> set[str]:
    """``secret`` as an answer may echo it: as it is, and escaped as a JSON string (non-ASCII kept or escaped, ``/``
    as ``\\/`` as PHP's ``json_encode`` writes it: a basic pair's base64 often holds one), URL-encoded, HTML-escaped
    (a token's or password's quotes, ``&``), or in a ``bytes`` repr (an exception quoting a line it read)."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        html.escape(secret),
        repr(secret.encode())[2:-1],
    }
    return forms | {form.replace("/", "\\/") for form in forms}


# What a ``Sender`` derives from its stream's row (the parsed endpoint or why it cannot be called, the Authorization
# header, the signing key), by stream, with the stream's endpoint and stored secrets and the keys that opened them:
# a stream's next task reuses them while none of those changed. Decrypting and parsing cost about a twentieth of a
# one-event delivery task (issue 16). Nothing here is more than the worker holds while it sends anyway (its
# SECRET_KEY opens every stored secret), but a stream not sent to for ``_PREPARED_IDLE_SECONDS`` (deleted, say) is
# forgotten: its decrypted secrets do not stay in memory for the life of the process. Each entry ends with when it
# was last used (``time.monotonic()``).
_PREPARED: dict[str, tuple[tuple[object, ...], tuple[Endpoint | None, str, str, Webhook], float]] = {}
_PREPARED_MAX = 1024
_PREPARED_IDLE_SECONDS = 600.0
_PREPARED_LOOKED_AT = [0.0]  # when idle entries were last looked for (at most once a minute)


def forget_idle_prepared(now: float | None = None) -> None:
    """Drop the ``_PREPARED`` entries unused for ``_PREPARED_IDLE_SECONDS`` (looked for once a minute at most).
    Each new ``Sender`` calls it, and so does the worker's housekeeping (``jobs.taskworker.housekeeping``): once the
    last stream it sent to is deleted, no ``Sender`` is made again to do it."""
    if now is None:
        now = time.monotonic()
    if now - _PREPARED_LOOKED_AT[0] < 60.0:
        return
    _PREPARED_LOOKED_AT[0] = now
    for stream_id, entry in list(_PREPARED.items()):
        if now - entry[2] > _PREPARED_IDLE_SECONDS:
            _PREPARED.pop(stream_id, None)


def _prepare(stream: EventStream) -> tuple[Endpoint | None, str, str, Webhook]:
    """The endpoint (``None`` when refused), the refusal, the ``Authorization`` value and the signer of ``stream``;
    ``SecretDecryptionError`` when a secret does not open."""
    endpoint: Endpoint | None = None
    refusal = ""
    try:
        endpoint = parse_endpoint(stream.webhook_endpoint)
    except InvalidWebhookEndpoint as exc:
        refusal = f"the webhook endpoint cannot be called: {exc.message}"[:_ERROR_MAX]
    return endpoint, refusal, _authorization_header(stream), Webhook(decrypt_secret(stream.signing_secret_encrypted))


def _sender_config(stream: EventStream) -> tuple[str, ...]:
    return (
        stream.webhook_endpoint,
        stream.authorization_method,
        stream.authorization_username,
        stream.authorization_secret_encrypted,
        stream.signing_secret_encrypted,
    )


# While a batch is sent, the stream's row is read again before the next request once this many requests were made,
# or once this many seconds passed, since it was last read: a stream disabled meanwhile (an operator's PATCH), given
# another endpoint or secrets, or deleted, stops the batch there. The bound: after the change commits, at most
# ``RECHECK_EVERY`` more requests start, none of them more than ``RECHECK_SECONDS`` after the last read (plus the
# request in flight, up to ``EVENT_STREAMS_TIMEOUT_SECONDS``). A full batch of fast sends costs
# ``CLAIM_BATCH // RECHECK_EVERY - 1`` reads of one row, not one per delivery.
RECHECK_EVERY = 5
RECHECK_SECONDS = 1.0


def send_batch(
    sender: Sender,
    batch: list[Delivery],
    *,
    consecutive_failures: int,
    claim: Claim | None = None,
    stop_at: float | None = None,
) -> list[Outcome]:
    """Attempt ``batch`` in order; stops after the attempt that brings the stream's run of failures (now
    ``consecutive_failures``) to ``EVENT_STREAMS_DISABLE_AFTER_FAILURES``: the stream is disabled there, and the
    rest is not sent. Stops too, within the bound ``RECHECK_EVERY`` describes, when the stream is no longer the
    enabled one ``sender`` was made for (``_still_sending``). Returns the outcomes of the attempts made, in order;
    ``record_attempts`` releases the rest, still pending.

    ``claim`` (the worker's; none in tests of the sending alone) is renewed on the whole batch (sent or not, none is
    recorded before the end) once a quarter of it has passed (``renew_claim``), and no request outlasts it: a batch
    of slow answers took longer than the claim, whose lapse let another worker's task claim the deliveries not yet
    recorded and send them at the same time, and a subject's next event before the first worker's copy of the one
    before it. Stops when a delivery is no longer ours.

    ``stop_at`` (``time.monotonic()``): no request starts after it but the first (the task's turn is over:
    ``events.tasks.deliver_due``)."""
    limit = int(settings.EVENT_STREAMS_DISABLE_AFTER_FAILURES)
    outcomes: list[Outcome] = []
    read_at, since_read = time.monotonic(), 0
    for delivery in batch:
        if outcomes and stop_at is not None and time.monotonic() >= stop_at:
            break
        if since_read >= RECHECK_EVERY or (outcomes and time.monotonic() - read_at >= RECHECK_SECONDS):
            if not _still_sending(sender):
                break
            read_at, since_read = time.monotonic(), 0
        until = None
        if claim is not None:
            if time.monotonic() >= claim.renew_at and not renew_claim(claim, [d.pk for d in batch]):
                break
            until = claim.until
        outcome = sender.send(delivery, until=until)
        outcomes.append(outcome)
        since_read += 1
        consecutive_failures = 0 if outcome.delivered else consecutive_failures + 1
        if consecutive_failures >= limit:
            break
    return outcomes


def _still_sending(sender: Sender) -> bool:
    """Whether the stream ``sender`` sends for is still enabled, with the endpoint and secrets ``sender`` has (one
    primary-key read)."""
    stream = get_stream(sender.stream_id)
    return stream is not None and stream.status == EventStreamStatus.ENABLED and sender.matches(stream)


def get_stream(stream_id: str, *, lock: bool = False) -> EventStream | None:
    """The stream's row, or ``None``; ``lock``: ``FOR UPDATE`` where the database locks rows (inside a transaction;
    SQLite's write transaction holds the whole database already). Plain SQL, read once or twice per task."""
    connection = connections[router.db_for_write(EventStream)]
    table = connection.ops.quote_name(EventStream._meta.db_table)
    locking = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    sql = f"SELECT {columns(EventStream)} FROM {table} WHERE id = %s{locking}"  # noqa: S608 (our names)
    return fetch_instance(EventStream, sql, [stream_id], connection)


def next_retry_at(stream_id: str) -> datetime | None:
    """When the stream's earliest pending delivery that can be claimed then is due: of each subject's pending
    deliveries, only the first (``claim_due`` passes the others by until it is done), so a later delivery due now
    that waits on its subject's retry does not hide when that retry is due (``None``: none is pending)."""
    connection = connections[router.db_for_write(Delivery)]
    table = connection.ops.quote_name(Delivery._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN(next_attempt_at) FROM {table} d WHERE stream_id = %s AND status = %s"  # noqa: S608
            f" AND NOT EXISTS (SELECT 1 FROM {table} e WHERE e.stream_id = d.stream_id AND e.subject = d.subject"
            " AND e.status = %s AND e.id < d.id)",
            [stream_id, DeliveryStatus.PENDING, DeliveryStatus.PENDING],
        )
        (value,) = cursor.fetchone()
    if isinstance(value, str):  # SQLite's text, in UTC (USE_TZ)
        parsed = parse_datetime(value)
        return parsed if parsed is None or timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)
    return value


@dataclass
class Claim:
    """A worker's claim on a batch (``claim_due``): its ``token``; ``until``, when it runs out as this process sees
    it (``time.monotonic()``, counted from before the claim was written, less a margin for the clocks of other
    hosts' workers, which compare ``claimed_until`` with their own); ``renew_at``, when ``send_batch`` renews it."""

    token: str
    until: float
    renew_at: float

    @classmethod
    def starting(cls, token: str) -> Claim:
        """A claim about to be written, or renewed, now."""
        now, seconds = time.monotonic(), float(settings.EVENT_STREAMS_CLAIM_SECONDS)
        return cls(token, now + seconds - min(1.0, seconds / 10), now + seconds / 4)


def renew_claim(claim: Claim, delivery_ids: list[int]) -> bool:
    """Claim the deliveries ``delivery_ids`` for another ``EVENT_STREAMS_CLAIM_SECONDS`` from now, and ``claim``
    with them; ``False`` when one of them is no longer ``claim``'s (no longer pending, or claimed by another worker
    after a lapse: the batch stops there). One statement, made only by batches slower than a quarter of a claim."""
    renewed = Claim.starting(claim.token)
    until = timezone.now() + timedelta(seconds=float(settings.EVENT_STREAMS_CLAIM_SECONDS))
    kept = Delivery.objects.filter(pk__in=delivery_ids, claimed_by=claim.token, status=DeliveryStatus.PENDING).update(
        claimed_until=until
    )
    claim.until, claim.renew_at = renewed.until, renewed.renew_at
    return kept == len(delivery_ids)


def claim_due(stream_id: str, token: str) -> list[Delivery]:
    """Claim up to ``CLAIM_BATCH`` due deliveries of the stream, in order, none of which has an earlier pending
    delivery of its subject; returns them with their events.

    One UPDATE picks and claims them, and one read adds their events. Racing workers take different deliveries:
    on SQLite the UPDATE holds the write lock; on PostgreSQL its pick (run once, before the update) locks the rows
    it picks ``FOR UPDATE SKIP LOCKED``, so a worker never waits on another's rows (updating rows picked without
    a lock, two workers could lock them in opposite orders: a deadlock). A delivery locked by another transaction
    is passed by: that one claims or changes it, else the caller's next look (``next_retry_at``) finds it due, or
    the sweep. Either way a row updated is one that was still claimable. A subject's later delivery still waits on
    a passed-by earlier one: the earlier one is pending in the pick's snapshot. Plain SQL: the worker runs this for
    every task, and building the ORM's queries cost more than running them (issue 16)."""
    now = timezone.now()
    connection = connections[router.db_for_write(Delivery)]
    table = connection.ops.quote_name(Delivery._meta.db_table)
    at = connection.ops.adapt_datetimefield_value
    # Pending and not claimed, or its claim lapsed.
    claimable = "status = %s AND (claimed_until IS NULL OR claimed_until < %s)"
    until = now + timedelta(seconds=float(settings.EVENT_STREAMS_CLAIM_SECONDS))
    # PostgreSQL: ``= ANY(ARRAY(...))`` makes the pick an InitPlan, run once (``IN`` may rescan it per row).
    picked = ("id = ANY(ARRAY(", " FOR UPDATE SKIP LOCKED))") if connection.vendor == "postgresql" else ("id IN (", ")")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET claimed_until = %s, claimed_by = %s WHERE {picked[0]}SELECT id FROM {table} d"  # noqa: S608
            f" WHERE stream_id = %s AND next_attempt_at <= %s AND {claimable}"
            f" AND NOT EXISTS (SELECT 1 FROM {table} e WHERE e.stream_id = d.stream_id AND e.subject = d.subject"
            f" AND e.status = %s AND e.id < d.id) ORDER BY d.id LIMIT %s{picked[1]} AND {claimable}"
            f" RETURNING {columns(Delivery)}",
            [
                at(until),
                token,
                stream_id,
                at(now),
                DeliveryStatus.PENDING,
                at(now),
                DeliveryStatus.PENDING,
                CLAIM_BATCH,
                DeliveryStatus.PENDING,
                at(now),
            ],
        )
        won = sorted(models_from_rows(Delivery, cursor.fetchall(), connection), key=lambda delivery: delivery.pk)
    if not won:
        return []
    event_ids = [delivery.event_id for delivery in won]
    events = {
        event.pk: event
        for event in read_models(
            Event,
            f"SELECT {columns(Event)} FROM {connection.ops.quote_name(Event._meta.db_table)}"  # noqa: S608
            f" WHERE id IN ({', '.join(['%s'] * len(event_ids))})",
            event_ids,
            connection,
        )
    }
    claimed = []
    for delivery in won:
        if delivery.event_id in events:  # always, but for a delivery deleted with its event meanwhile
            delivery.event = events[delivery.event_id]
            claimed.append(delivery)
    return claimed


def record_attempts(stream_id: str, token: str, batch: list[Delivery], outcomes: list[Outcome]) -> EventStream | None:
    """Store the attempts at ``batch[:len(outcomes)]`` (in order) and their consequences on the deliveries and the
    stream, in one transaction under the stream's row lock; the deliveries not attempted are released (claimed by
    ``token`` no more). A delivery another worker claimed meanwhile (``token``'s claim lapsed) keeps its state: only
    its attempt is stored. Returns the stream as it now is (``None`` when it was deleted meanwhile).

    The stream's run of failures is replayed attempt by attempt from its stored value, as one attempt at a time
    would: a success resets it, a failure adds one, and the failure that reaches
    ``EVENT_STREAMS_DISABLE_AFTER_FAILURES`` disables an enabled stream (its pending deliveries fail). So does a
    delivery failing for good that brings the stream's failed deliveries to
    ``EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES`` (Auth0's 5000 total failures). A few
    statements whatever the batch's size: one insert of the attempts, one update per group of alike deliveries
    (the delivered ones with the same HTTP status), one per delivery that failed.
    """
    now = timezone.now()
    attempted = batch[: len(outcomes)]
    connection = connections[router.db_for_write(Delivery)]
    quote, at = connection.ops.quote_name, connection.ops.adapt_datetimefield_value
    with transaction.atomic(using=connection.alias):
        stream = get_stream(stream_id, lock=True)
        if stream is None:
            return None
        columns = ", ".join(
            quote(name)
            for name in ("delivery_id", "status", "timestamp", "duration_ms", "http_status", "error_message")
        )
        released: dict[str, object] = {"claimed_until": None, "claimed_by": "", "updated_at": now}
        # Still ``token``'s, or released by a disable after failures meanwhile (a delivery it failed that was in
        # fact delivered is recorded so); not one another worker claimed after a lapse of ``token``'s claim: that
        # one's result is its own, and recording this one marked it delivered while it was sent again. A failure
        # leaves a delivered one alone: that worker delivered it and released it (it was marked failed, or retried).
        ours = Delivery.objects.filter(claimed_by__in=(token, "")).exclude(status=DeliveryStatus.DELIVERED)
        delivered: dict[int | None, list[int]] = {}
        ended_failed = False  # some delivery failed for good (no retry left): Auth0's total-failures rule applies
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {quote(DeliveryAttempt._meta.db_table)} ({columns})"  # noqa: S608 (our names)
                " VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (
                        delivery.pk,
                        DeliveryStatus.DELIVERED if outcome.delivered else DeliveryStatus.FAILED,
                        at(now),
                        outcome.duration_ms,
                        outcome.http_status,
                        outcome.error,
                    )
                    for delivery, outcome in zip(attempted, outcomes, strict=True)
                ],
            )
            for delivery, outcome in zip(attempted, outcomes, strict=True):
                if outcome.delivered:
                    delivered.setdefault(outcome.http_status, []).append(delivery.pk)
                else:
                    changes = _failed_fields(delivery, outcome, now)
                    updated = ours.filter(pk=delivery.pk).update(**released, **changes)
                    ended_failed = ended_failed or (updated == 1 and changes.get("status") == DeliveryStatus.FAILED)
            for http_status, pks in delivered.items():
                marks = ", ".join(["%s"] * len(pks))
                cursor.execute(
                    f"UPDATE {quote(Delivery._meta.db_table)} SET status = %s, delivered_at = %s,"  # noqa: S608
                    " attempt_count = attempt_count + 1, last_status_code = %s, last_error = '',"
                    f" claimed_until = NULL, claimed_by = '', updated_at = %s WHERE id IN ({marks})"
                    " AND claimed_by IN (%s, '')",
                    [DeliveryStatus.DELIVERED, at(now), http_status, at(now), *pks, token],
                )
        if unsent := [delivery.pk for delivery in batch[len(outcomes) :]]:
            Delivery.objects.filter(pk__in=unsent, claimed_by=token).update(**released)
        limit = int(settings.EVENT_STREAMS_DISABLE_AFTER_FAILURES)
        stored, reached = stream.consecutive_failures, False
        for outcome in outcomes:
            stream.consecutive_failures = 0 if outcome.delivered else stream.consecutive_failures + 1
            reached = reached or stream.consecutive_failures >= limit
        if stream.consecutive_failures != stored:
            EventStream.objects.filter(pk=stream.pk).update(consecutive_failures=stream.consecutive_failures)
        if reached and stream.status == EventStreamStatus.ENABLED:
            _disable_after_failures(stream, now, why=f"{limit} consecutive failures")
        if ended_failed and stream.status == EventStreamStatus.ENABLED and at_total_failure_limit(stream_id):
            _disable_after_failures(stream, now, why="the failed-deliveries limit")
    return stream


def _failed_fields(delivery: Delivery, outcome: Outcome, now: datetime) -> dict[str, object]:
    """A failed attempt's changes: a retry after the backoff (or ``Retry-After``, capped) while attempts are left
    and trying again may help, else the delivery fails."""
    attempts = delivery.attempt_count + 1
    fields: dict[str, object] = {
        "attempt_count": attempts,
        "last_status_code": outcome.http_status,
        "last_error": outcome.error,
    }
    if outcome.retryable and attempts < int(settings.EVENT_STREAMS_MAX_ATTEMPTS):
        wait = backoff_seconds(attempts)
        if outcome.retry_after is not None:
            wait = max(wait, min(outcome.retry_after, float(settings.EVENT_STREAMS_RETRY_MAX_SECONDS)))
        return fields | {"next_attempt_at": now + timedelta(seconds=wait)}
    return fields | {"status": DeliveryStatus.FAILED}


def at_total_failure_limit(stream_id: str) -> bool:
    """Whether the stream holds ``EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES`` failed deliveries or more (Auth0's
    "5000 total failures": the worker disables such a stream, and it cannot be enabled again until fewer remain).
    One index range scan."""
    limit = int(settings.EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES)
    return Delivery.objects.filter(stream_id=stream_id, status=DeliveryStatus.FAILED).count() >= limit


# The last error of the pending deliveries a disabled stream fails (``why`` goes to the log).
DISABLED_ERROR = "the event stream was disabled after failed deliveries"


def _disable_after_failures(stream: EventStream, now: datetime, *, why: str) -> None:
    stream.status = EventStreamStatus.DISABLED
    stream.disabled_reason = DisabledReason.FAILURES
    EventStream.objects.filter(pk=stream.pk).update(
        status=stream.status, disabled_reason=stream.disabled_reason, updated_at=now
    )
    failed = Delivery.objects.filter(stream=stream, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.FAILED,
        claimed_until=None,
        claimed_by="",
        last_error=DISABLED_ERROR,
        updated_at=now,
    )
    logger.warning("event stream disabled after %s id=%s (%s pending deliveries failed)", why, stream.pk, failed)


def disable_for_unreadable_secret(stream_id: str, token: str, batch: list[Delivery]) -> EventStream | None:
    """The worker's answer to a stream whose stored secret no configured key opens (``SECRET_KEY`` changed without
    the old key in ``SECRET_KEY_FALLBACKS``, or the value was altered): no request can be authorised or signed, and
    every task of the stream would fail alike while the recovery sweep queued it again, for ever.

    The outcome is bounded and says what to do: the stream is disabled (``disabled_reason="undecryptable"``) and
    one ERROR line names it and the unreadable fields (never a value); ``batch``'s claims (``token``'s) are released
    without an attempt. Its deliveries, and those fanned out later, stay *pending*, not failed: the receiver did
    nothing wrong, and nothing is lost while the operator mends it. The operator sends the authorization again (a
    PATCH of ``destination``, which replaces an unreadable signing secret too and shows the new one) and enables the
    stream (``events.services.update_event_stream`` refuses to enable it before); the pending deliveries go out
    then. Returns the stream as it now is (``None``: deleted meanwhile); one whose secrets were replaced meanwhile
    is left as it is.
    """
    now = timezone.now()
    connection = connections[router.db_for_write(EventStream)]
    with transaction.atomic(using=connection.alias):
        stream = get_stream(stream_id, lock=True)
        if stream is None:
            return None
        Delivery.objects.filter(pk__in=[delivery.pk for delivery in batch], claimed_by=token).update(
            claimed_until=None, claimed_by="", updated_at=now
        )
        unreadable = unreadable_secrets(stream)
        if not unreadable or stream.status != EventStreamStatus.ENABLED:
            return stream
        stream.status, stream.disabled_reason = EventStreamStatus.DISABLED, DisabledReason.UNDECRYPTABLE
        EventStream.objects.filter(pk=stream.pk).update(
            status=stream.status, disabled_reason=stream.disabled_reason, updated_at=now
        )
        waiting = Delivery.objects.filter(stream_id=stream_id, status=DeliveryStatus.PENDING).count()
    logger.error(
        "event stream disabled: its stored %s cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS id=%s"
        " (%s deliveries wait, pending: send the webhook_authorization again, then enable the stream)",
        " and ".join(unreadable),
        stream_id,
        waiting,
    )
    return stream
