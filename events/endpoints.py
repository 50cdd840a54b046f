"""Which webhook endpoints may be called: the server-side request forgery guard.

By default an endpoint must be ``https`` and every address its host resolves to must be public (no loopback,
private, link-local, shared, multicast, reserved or unspecified address, IPv4 or IPv6, including IPv4-mapped and
NAT64 IPv6 addresses of such IPv4 addresses): a webhook must not become a way into the internal network.
``EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=true`` allows ``http`` and any address, for development and tests.

``check_webhook_endpoint`` runs when a stream is created or its endpoint changed; the delivery worker checks again
the address it actually connects to (``events.delivery``), so a name that later resolves elsewhere (DNS rebinding)
gains nothing. An endpoint must also be one a request can reach: a port from 1 to 65535 (``:0`` is no port: it
used to be taken for the scheme's default), a valid host name or IP address, no blank or control character.
``parse_endpoint`` is the part both share: the worker reads the stored endpoint with it, and an endpoint it refuses
is a failed attempt there, never a request to some other port.
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import FieldCode, FieldError
from events.errors import EventStreamErrorCode, InvalidWebhookEndpoint

ENDPOINT_FIELD = "destination.configuration.webhook_endpoint"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# No URL holds these (RFC 3986): a blank (any Unicode space) or a C0/C1 control character.
_BLANK_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
# One label of a DNS name in its ASCII (IDNA) form: 1 to 63 letters, digits, hyphens (not at either end) or
# underscores (which resolvers accept in names).
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)", re.IGNORECASE)
_MAX_HOST_LENGTH = 253


def insecure_endpoints_allowed() -> bool:
    """``settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS`` (read at call time)."""
    return bool(getattr(settings, "EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS", False))


# IPv6 addresses that carry an IPv4 address in their last 32 bits and may lead to it: NAT64's well-known prefix
# (RFC 6052: a NAT64 gateway, as clouds run for IPv6-only subnets, connects to the IPv4 address, private ones
# included), the deprecated IPv4-compatible addresses and SIIT's IPv4-translated ones. ``is_global`` takes them as
# global whatever they embed.
_EMBEDDING_IPV4 = tuple(ipaddress.IPv6Network(net) for net in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96"))


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable: ``ipaddress``'s ``is_global`` (IANA's special-purpose registries),
    and no multicast; an IPv4-mapped IPv6 address, and one of ``_EMBEDDING_IPV4``, is judged as the IPv4 address it
    carries."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif any(address in network for network in _EMBEDDING_IPV4):
            address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.is_global and not address.is_multicast


def _refuse(message: str, code: str = EventStreamErrorCode.INSECURE_ENDPOINT) -> InvalidWebhookEndpoint:
    return InvalidWebhookEndpoint(message, errors=[FieldError(ENDPOINT_FIELD, code, message)])


@dataclass(frozen=True)
class Endpoint:
    """A webhook endpoint's parts, as a request to it needs them."""

    secure: bool
    host: str
    port: int
    # The request target: the path ("/" when empty) and the query; a fragment is not sent.
    target: str
    # ``Host``: the URL's host (ASCII, as ``host``) and its port if one was written.
    host_header: str


def parse_endpoint(url: str) -> Endpoint:
    """``url``'s parts. Raises ``InvalidWebhookEndpoint`` (field code ``INSECURE_ENDPOINT``) when it is not an
    absolute ``http(s)`` URL with a host or carries user information, and (``FORMAT``) when its port is not a number
    from 1 to 65535 (``urlsplit`` reads ``:0`` as port 0, which a caller's ``port or 443`` would turn into 443) or
    its host has no IDNA form or is bracketed but no IPv6 address. ``host`` and ``host_header`` are ASCII: http.client
    cannot write a Host header outside Latin-1 (an internationalised name raised out of the worker's attempt)."""
    not_a_url = _("The webhook endpoint must be an absolute http or https URL.")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise _refuse(not_a_url) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(not_a_url)
    if parts.username is not None or parts.password is not None:
        raise _refuse(_("The webhook endpoint must not contain credentials: use webhook_authorization."))
    try:
        port = parts.port
    except ValueError:  # not digits, or above 65535
        port = 0
    if port == 0:
        raise _refuse(_("The webhook endpoint's port must be a number from 1 to 65535."), FieldCode.FORMAT)
    # The host in its ASCII form, as DNS, TLS (SNI, the certificate's names) and the Host header need it: an
    # internationalised name (``bücher.example``) as IDNA (``xn--bcher-kva.example``); a bracketed one must be an
    # IPv6 address (no IPvFuture), its zone id left out of Host.
    bracketed = parts.netloc.rsplit("@", 1)[-1].startswith("[")
    try:
        host = parts.hostname.encode("idna").decode("ascii")
        if bracketed:
            ipaddress.IPv6Address(host)
    except (UnicodeError, ValueError):
        raise _refuse(
            _("The webhook endpoint's host is not a valid host name or IP address."), FieldCode.FORMAT
        ) from None
    secure = parts.scheme == "https"
    authority = f"[{host.split('%', 1)[0]}]" if bracketed else host
    return Endpoint(
        secure=secure,
        host=host,
        port=port or (443 if secure else 80),
        target=(parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        host_header=authority if port is None else f"{authority}:{port}",
    )


def _valid_host(host: str) -> bool:
    """Whether ``host`` (a URL's host, IPv6 brackets removed) is an IP address or a DNS name: labels as ``_LABEL``
    says once IDNA-encoded, at most 253 characters, an empty one only as the root's final dot."""
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        name = host.encode("idna").decode("ascii").removesuffix(".")
    except UnicodeError:  # an empty or overlong label
        return False
    return 0 < len(name) <= _MAX_HOST_LENGTH and all(_LABEL.fullmatch(label) for label in name.split("."))


# The threads resolutions run on, so that a caller can stop waiting (``resolve``): ``_RESOLVER_THREADS`` at most at
# once, one a resolution (a resolver that does not answer holds one until it gives up; a resolution waiting for a
# free one counts against its own deadline). Daemon threads: a process that stops (the worker after SIGTERM) does not
# wait for an unanswered one (a ``ThreadPoolExecutor``'s threads are joined at exit). The count of free ones is
# per process: a forked child has none of its parent's threads.
_RESOLVER_THREADS = 4
_resolver_slots: tuple[int, threading.BoundedSemaphore] | None = None
_resolver_slots_lock = threading.Lock()


def _free_resolvers() -> threading.BoundedSemaphore:
    global _resolver_slots
    with _resolver_slots_lock:
        if _resolver_slots is None or _resolver_slots[0] != os.getpid():
            _resolver_slots = (os.getpid(), threading.BoundedSemaphore(_RESOLVER_THREADS))
        return _resolver_slots[1]


def _getaddrinfo_within(host: str, port: int, timeout: float) -> list[tuple[Any, ...]]:
    """``socket.getaddrinfo(host, port)`` (TCP) on a resolver thread; ``TimeoutError`` once ``timeout`` passed."""
    deadline = time.monotonic() + timeout
    slots = _free_resolvers()
    if not slots.acquire(timeout=timeout):
        raise TimeoutError(f"{host} did not resolve within {timeout:g} s")
    answer: list[Any] = []
    done = threading.Event()

    def run() -> None:
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:  # handed to the caller, if it still waits
            answer.append(exc)
        finally:
            slots.release()
            done.set()

    try:
        threading.Thread(target=run, name="resolve", daemon=True).start()
    except BaseException:
        slots.release()
        raise
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise TimeoutError(f"{host} did not resolve within {timeout:g} s")
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return answer[0]


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (TCP), deduplicated, in the resolver's order. Raises ``OSError`` when it
    does not resolve, ``TimeoutError`` (an ``OSError``) when it has not within ``EVENT_STREAMS_TIMEOUT_SECONDS``.

    ``getaddrinfo`` has no deadline of its own and cannot be interrupted: a resolver that does not answer held the
    caller as long as the system's resolver timeouts and attempts added up to (``resolv.conf``: tens of seconds) —
    the worker, which serves every stream and mail one task at a time, or a request creating a stream. It runs on a
    resolver thread the caller stops waiting for; the thread ends when the system's resolver gives up. An IP address
    (without an IPv6 zone id, which ``getaddrinfo`` checks) is its own answer: it waits for no resolver thread, so
    unanswered resolutions holding every one fail no endpoint that is an address."""
    if "%" not in host:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
    infos = _getaddrinfo_within(host, port, float(settings.EVENT_STREAMS_TIMEOUT_SECONDS))
    seen: dict[str, IPAddress] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 scope id is not part of the address
        seen.setdefault(text, ipaddress.ip_address(text))
    return list(seen.values())


def check_webhook_endpoint(url: str) -> None:
    """Refuse an endpoint the service must not or cannot call: raises ``InvalidWebhookEndpoint`` (400
    ``invalid_body``, a field error on ``destination.configuration.webhook_endpoint``) when

    - it is not an absolute ``http(s)`` URL with a host, or carries user information (credentials belong in
      ``webhook_authorization``): field code ``INSECURE_ENDPOINT``;
    - it holds a blank or control character, its port is not a number from 1 to 65535 (``:0`` included), or its host
      is neither an IP address nor a valid DNS name: ``FORMAT``;
    - its scheme is not ``https`` and insecure endpoints are not allowed: ``INSECURE_ENDPOINT``;
    - its host does not resolve, or resolves to any address that is not public (``is_public_address``), unless
      insecure endpoints are allowed: ``INSECURE_ENDPOINT``.
    """
    endpoint = parse_endpoint(url)
    if _BLANK_OR_CONTROL.search(url):
        raise _refuse(_("The webhook endpoint must not contain blanks or control characters."), FieldCode.FORMAT)
    if not _valid_host(endpoint.host):
        raise _refuse(_("The webhook endpoint's host is not a valid host name or IP address."), FieldCode.FORMAT)
    if insecure_endpoints_allowed():
        return
    if not endpoint.secure:
        raise _refuse(_("The webhook endpoint must use https."))
    try:
        addresses = resolve(endpoint.host, endpoint.port)
    except (OSError, UnicodeError, ValueError):
        raise _refuse(_("The webhook endpoint's host does not resolve.")) from None
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise _refuse(_("The webhook endpoint must resolve to public addresses only."))
