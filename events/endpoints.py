"""Which webhook endpoints may be called: the server-side request forgery guard.

By default an endpoint must be ``https`` and every address its host resolves to must be public (no loopback,
private, link-local, shared, multicast, reserved or unspecified address, IPv4 or IPv6, including IPv4-mapped IPv6):
a webhook must not become a way into the internal network. ``EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=true`` allows
``http`` and any address, for development and tests.

``check_webhook_endpoint`` runs when a stream is created or its endpoint changed; the delivery worker checks again
the address it actually connects to (``events.delivery``), so a name that later resolves elsewhere (DNS rebinding)
gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import FieldError
from events.errors import EventStreamErrorCode, InvalidWebhookEndpoint

ENDPOINT_FIELD = "destination.configuration.webhook_endpoint"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def insecure_endpoints_allowed() -> bool:
    """``settings.EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS`` (read at call time)."""
    return bool(getattr(settings, "EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS", False))


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable: ``ipaddress``'s ``is_global`` (IANA's special-purpose registries),
    and no multicast; an IPv4-mapped IPv6 address is judged as the IPv4 address it maps."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _refuse(message: str) -> InvalidWebhookEndpoint:
    return InvalidWebhookEndpoint(
        message, errors=[FieldError(ENDPOINT_FIELD, EventStreamErrorCode.INSECURE_ENDPOINT, message)]
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (TCP), deduplicated, in the resolver's order. Raises ``OSError`` when it
    does not resolve."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, IPAddress] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]  # an IPv6 scope id is not part of the address
        seen.setdefault(text, ipaddress.ip_address(text))
    return list(seen.values())


def check_webhook_endpoint(url: str) -> None:
    """Refuse an endpoint the service must not call: raises ``InvalidWebhookEndpoint`` (400 ``invalid_body``, field
    code ``INSECURE_ENDPOINT`` on ``destination.configuration.webhook_endpoint``) when

    - it is not an absolute ``http(s)`` URL with a host, or carries user information (credentials belong in
      ``webhook_authorization``);
    - its scheme is not ``https`` and insecure endpoints are not allowed;
    - its host does not resolve, or resolves to any address that is not public (``is_public_address``), unless
      insecure endpoints are allowed.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refuse(_("The webhook endpoint must be an absolute http or https URL.")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse(_("The webhook endpoint must be an absolute http or https URL."))
    if parts.username is not None or parts.password is not None:
        raise _refuse(_("The webhook endpoint must not contain credentials: use webhook_authorization."))
    if insecure_endpoints_allowed():
        return
    if parts.scheme != "https":
        raise _refuse(_("The webhook endpoint must use https."))
    try:
        addresses = resolve(parts.hostname, port or 443)
    except (OSError, UnicodeError, ValueError):
        raise _refuse(_("The webhook endpoint's host does not resolve.")) from None
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise _refuse(_("The webhook endpoint must resolve to public addresses only."))
