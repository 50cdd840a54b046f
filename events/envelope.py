"""The CloudEvents 1.0 JSON of an event, as delivered and as the deliveries list shows it.

Built with the CloudEvents SDK (``cloudevents.core``): ``{"specversion": "1.0", "id", "source", "type", "time",
"data": {"object": ...}}`` plus Auth0's extensions ``a0tenant`` (the tenant), ``a0stream`` (the stream it was
delivered on) and ``a0purpose`` (``"test"`` for test events), as in Auth0's ``EventStreamCloudEvent*`` schemas.
"""

from __future__ import annotations

import json
from typing import Any

from cloudevents.core.bindings.http import to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from django.conf import settings

from events.models import Event

_FORMAT = JSONFormat()


def cloud_event(event: Event, *, stream_id: str | None) -> CloudEvent:
    """The CloudEvent of ``event`` as sent on ``stream_id`` (``None``: not tied to a stream)."""
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": event.time,
        "a0tenant": settings.EVENT_STREAMS_TENANT,
    }
    if stream_id:
        attributes["a0stream"] = stream_id
    if event.purpose:
        attributes["a0purpose"] = event.purpose
    return CloudEvent(attributes=attributes, data=event.data)


def structured_body(event: Event, *, stream_id: str) -> tuple[bytes, str]:
    """The HTTP body (structured mode, JSON) and its content type for one delivery."""
    message = to_structured(cloud_event(event, stream_id=stream_id), _FORMAT)
    return message.body, message.headers["content-type"]


def render_cloud_event(event: Event, *, stream_id: str | None) -> dict[str, Any]:
    """The event as a JSON object (what the deliveries list shows as ``event``); ``time`` in RFC 3339 with ``Z``."""
    parsed: dict[str, Any] = json.loads(_FORMAT.write(cloud_event(event, stream_id=stream_id)))
    return parsed
