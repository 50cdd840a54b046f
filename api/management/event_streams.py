"""The event streams endpoints of the management API (Auth0's "Event Streams"): thin views over ``events.services``
and ``events.selectors``.

- ``POST /api/v2/event-streams`` (``create:event_streams``): 201 the stream;
- ``GET /api/v2/event-streams`` (``from``, ``take``; ``read:event_streams``): 200 ``{"eventStreams": [...], "next"}``;
- ``GET``, ``PATCH``, ``DELETE /api/v2/event-streams/{id}`` (``read:``, ``update:``, ``delete:event_streams``): 200
  the stream, 200 the stream, 204;
- ``POST /api/v2/event-streams/{id}/test`` (``update:event_streams``): 202 the test event's delivery;
- ``GET /api/v2/event-streams/{id}/deliveries`` (``read:event_streams`` or ``read:event_deliveries``): 200
  ``{"deliveries": [...], "next"}``; ``GET .../deliveries/{event_id}`` (``read:event_deliveries``): 200 the delivery;
- ``POST /api/v2/event-streams/{id}/redeliver`` and ``.../redeliver/{event_id}`` (``update:event_deliveries``): 202
  the filters applied, 202 without a body.

Paths, methods, statuses, scopes and bodies are Auth0's (its Management API OpenAPI document and auth0-python 6.8's
``event_streams`` clients, whose response types are the contract: the lists are objects with ``next``). A stream's
bearer token or basic password is accepted on create and update and never returned: in its place the
``webhook_authorization`` shows only ``method`` (and ``username`` for basic), as Auth0's responses do.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers as s
from rest_framework.request import Request
from rest_framework.response import Response

from api.base import ManagementAPIView
from api.bearer import client_actor
from api.docs import BODY_ERRORS, errors
from core import messages
from core.actors import Actor
from core.crypto import SecretDecryptionError
from core.errors import FieldCode, FieldError, PayloadValidationError, QueryValidationError
from core.schema import payload_message, validate_payload, validate_query
from events.audit import record_stream_write
from events.envelope import render_cloud_event
from events.errors import DeliveryNotFound, EventStreamNotFound
from events.models import AuthorizationMethod, Delivery, DeliveryAttempt, DeliveryStatus, EventStream
from events.selectors import get_delivery, get_event_stream, list_deliveries, list_event_streams
from events.serializers import (
    DEFAULT_TAKE,
    CreateEventStreamRequestSerializer,
    CreateTestEventRequestSerializer,
    ListDeliveriesQuerySerializer,
    ListEventStreamsQuerySerializer,
    RedeliveryRequestSerializer,
    UpdateEventStreamRequestSerializer,
)
from events.services import (
    WebhookAuthorization,
    authorization_secret,
    create_event_stream,
    delete_event_stream,
    redeliver,
    send_test_event,
    signing_secret,
    update_event_stream,
)
from users.profile import format_timestamp

CREATE = ("create:event_streams",)
READ = ("read:event_streams",)
UPDATE = ("update:event_streams",)
DELETE = ("delete:event_streams",)
# Auth0's OAS: get_event_deliveries takes "any of: read:event_streams, read:event_deliveries";
# get_deliveries_by_event_id read:event_deliveries; post_redeliver(_by_event_id) update:event_deliveries.
LIST_DELIVERIES = ("read:event_streams", "read:event_deliveries")
READ_DELIVERY = ("read:event_deliveries",)
REDELIVER = ("update:event_deliveries",)

# Auth0 lists failed deliveries only ("If an empty delivery failure array is returned, your event stream is running
# correctly": Event Testing, Observability, and Failure Recovery); ``statuses`` also takes ours.
DEFAULT_DELIVERY_STATUSES = (DeliveryStatus.FAILED,)

_STREAM_ID = OpenApiParameter(
    "stream_id", str, OpenApiParameter.PATH, description="Unique identifier for the event stream."
)
_EVENT_ID = OpenApiParameter("event_id", str, OpenApiParameter.PATH, description="Unique identifier for the event.")
_AUTHORIZATION = "destination.configuration.webhook_authorization"


# --- rendering -------------------------------------------------------------------------------------------------


def event_stream_as_json(stream: EventStream) -> dict[str, Any]:
    """Auth0's ``EventStreamWebhookResponseContent``. The token or password is never part of it: the authorization
    shows its ``method`` (and a basic ``username``), as Auth0's does."""
    authorization: dict[str, str] = {"method": stream.authorization_method}
    if stream.authorization_method == AuthorizationMethod.BASIC:
        authorization["username"] = stream.authorization_username
    return {
        "id": stream.id,
        "name": stream.name,
        "subscriptions": [{"event_type": event_type} for event_type in stream.event_types],
        "destination": {
            "type": stream.destination_type,
            "configuration": {
                "webhook_endpoint": stream.webhook_endpoint,
                "webhook_authorization": authorization,
            },
        },
        "status": stream.status,
        "created_at": format_timestamp(stream.created_at),
        "updated_at": format_timestamp(stream.updated_at),
    }


def _attempt_as_json(attempt: DeliveryAttempt) -> dict[str, Any]:
    body: dict[str, Any] = {"status": attempt.status, "timestamp": format_timestamp(attempt.timestamp)}
    if attempt.error_message:
        body["error_message"] = attempt.error_message
    if attempt.duration_ms is not None:
        body["duration"] = attempt.duration_ms
    return body


def delivery_as_json(delivery: Delivery) -> dict[str, Any]:
    """Auth0's ``EventStreamDelivery``: its ``id`` is the event's, ``attempts`` oldest first (``duration`` in
    milliseconds), ``event`` the CloudEvent as delivered."""
    return {
        "id": delivery.event_id,
        "event_stream_id": delivery.stream_id,
        "status": delivery.status,
        "event_type": delivery.event_type,
        "attempts": [_attempt_as_json(attempt) for attempt in delivery.attempts.all()],
        "event": render_cloud_event(delivery.event, stream_id=delivery.stream_id),
    }


# --- the request's parts, as the services take them ---------------------------------------------------------------


def _missing_secret(method: str) -> PayloadValidationError:
    name = "token" if method == AuthorizationMethod.BEARER else "password"
    error = FieldError(
        f"{_AUTHORIZATION}.{name}", FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY, messages.missing_property(name)
    )
    return PayloadValidationError(payload_message(UpdateEventStreamRequestSerializer(), [error]), errors=[error])


def _authorization(body: dict[str, Any], *, current: EventStream | None = None) -> WebhookAuthorization:
    """The service's ``WebhookAuthorization`` of a request's ``webhook_authorization``.

    On an update (``current``) the token or password may be left out to keep the stored one, when the method stays
    the same: Auth0's responses never show the secret, so a client that changes only the endpoint (the Terraform
    provider's write-only ``token_wo``, sent only when its version changes) cannot send it back. A new method needs
    its secret, and so does a stored one that no configured key opens any more: ``PayloadValidationError`` (missing
    property).
    """
    method = body["method"]
    secret = body.get("token") if method == AuthorizationMethod.BEARER else body.get("password")
    if secret is None:
        if current is None or current.authorization_method != method:
            raise _missing_secret(method)
        try:
            secret = authorization_secret(current)
        except SecretDecryptionError:
            # Stored under a SECRET_KEY no longer configured: there is nothing to keep, so it must be sent again.
            raise _missing_secret(method) from None
    if method == AuthorizationMethod.BEARER:
        return WebhookAuthorization(method=method, token=secret)
    return WebhookAuthorization(method=method, username=body["username"], password=secret)


def _audit(description: str, stream_id: str, actor: Actor, **details: Any) -> None:
    """A ``sapi`` audit row, as every management write records one, in the caller's transaction."""
    record_stream_write(description, stream_id=stream_id, actor=actor, **details)


# --- documentation bodies ---------------------------------------------------------------------------------------


class EventStreamSubscriptionDoc(s.Serializer):
    event_type = s.CharField()


class EventStreamAuthorizationDoc(s.Serializer):
    method = s.ChoiceField(choices=AuthorizationMethod.values)
    username = s.CharField(required=False, help_text="Basic only. The token or password is never returned.")


class EventStreamConfigurationDoc(s.Serializer):
    webhook_endpoint = s.CharField()
    webhook_authorization = EventStreamAuthorizationDoc()


class EventStreamDestinationDoc(s.Serializer):
    type = s.ChoiceField(choices=["webhook"])
    configuration = EventStreamConfigurationDoc()


class EventStreamDoc(s.Serializer):
    id = s.CharField()
    name = s.CharField()
    subscriptions = EventStreamSubscriptionDoc(many=True)
    destination = EventStreamDestinationDoc()
    status = s.ChoiceField(choices=["enabled", "disabled"])
    created_at = s.DateTimeField()
    updated_at = s.DateTimeField()


class CreatedEventStreamDoc(EventStreamDoc):
    signing_secret = s.CharField(
        help_text="Ours, beside Auth0's body, in this answer only: the Standard Webhooks secret (`whsec_…`) whose "
        "signature (`webhook-signature`) each delivery carries. Keep it: it is never shown again."
    )


class UpdatedEventStreamDoc(EventStreamDoc):
    signing_secret = s.CharField(
        required=False,
        help_text="Ours, only when this update replaced a signing secret the service could no longer decrypt: the "
        "new Standard Webhooks secret (`whsec_…`). Give it to the receiver: it is never shown again.",
    )


class EventStreamListDoc(s.Serializer):
    eventStreams = EventStreamDoc(many=True)
    next = s.CharField(required=False, help_text="Pass as `from` for the next page; absent on the last one.")


class DeliveryAttemptDoc(s.Serializer):
    status = s.ChoiceField(choices=DeliveryStatus.values)
    timestamp = s.DateTimeField()
    error_message = s.CharField(required=False)
    duration = s.FloatField(required=False, help_text="Milliseconds.")


class CloudEventDoc(s.Serializer):
    id = s.CharField()
    # DRF's metaclass moves declared fields out of the class, so these do not shadow Field.source or
    # Serializer.data; the stubs cannot express that.
    source = s.CharField()  # type: ignore[assignment]
    specversion = s.CharField()
    type = s.CharField()
    time = s.DateTimeField()
    data = s.DictField(help_text='`{"object": <the user profile>}`.')  # type: ignore[assignment]


class DeliveryDoc(s.Serializer):
    id = s.CharField(help_text="The event's id (`evt_…`).")
    event_stream_id = s.CharField()
    status = s.ChoiceField(choices=DeliveryStatus.values)
    event_type = s.CharField()
    attempts = DeliveryAttemptDoc(many=True)
    event = CloudEventDoc()


class DeliveryListDoc(s.Serializer):
    deliveries = DeliveryDoc(many=True)
    next = s.CharField(required=False, help_text="Pass as `from` for the next page; absent on the last one.")


class RedeliveryDoc(s.Serializer):
    date_from = s.DateTimeField(required=False)
    date_to = s.DateTimeField(required=False)
    statuses = s.ListField(child=s.CharField(), required=False)
    event_types = s.ListField(child=s.CharField(), required=False)


# --- views ------------------------------------------------------------------------------------------------------


class EventStreamCollectionView(ManagementAPIView):
    required_scopes = {"POST": CREATE, "GET": READ}

    @extend_schema(
        operation_id="post_event-streams",
        summary="Create an event stream",
        description=(
            "A webhook stream: `destination.configuration.webhook_endpoint` must be `https` and resolve to public "
            "addresses only (no loopback, private, link-local or other special address, IPv4 or IPv6) unless "
            "`EVENT_STREAMS_ALLOW_INSECURE_ENDPOINTS=true`; a refused endpoint is 400 `invalid_body` with the field "
            "code `INSECURE_ENDPOINT`. `webhook_authorization` is `{method: bearer, token}` or `{method: basic, "
            "username, password}`; the secret is stored encrypted and never returned. `subscriptions` name the "
            "event types this service emits: `user.created`, `user.updated`, `user.deleted`. `name` is required "
            "here (Auth0's schema leaves it optional). The answer alone carries `signing_secret`."
        ),
        request=CreateEventStreamRequestSerializer,
        responses={201: CreatedEventStreamDoc, **errors(400, 401, 403, 429, *BODY_ERRORS)},
    )
    def post(self, request: Request) -> Response:
        data = validate_payload(CreateEventStreamRequestSerializer, request.data)
        configuration = data["destination"]["configuration"]
        actor = client_actor(request)
        with transaction.atomic():
            stream = create_event_stream(
                name=data["name"],
                subscriptions=[item["event_type"] for item in data.get("subscriptions", [])],
                webhook_endpoint=configuration["webhook_endpoint"],
                authorization=_authorization(configuration["webhook_authorization"]),
                **({"status": data["status"]} if "status" in data else {}),
                actor=actor,
            )
            _audit("Create an Event Stream", stream.id, actor, name=stream.name)
        return Response({**event_stream_as_json(stream), "signing_secret": signing_secret(stream)}, status=201)

    @extend_schema(
        operation_id="get_event-streams",
        summary="Get event streams",
        description=(
            "Oldest first, by checkpoint: up to `take` streams (default 50, at most 100) and `next`, the `from` of "
            "the following page (absent on the last). A `from` that is no stream's id is 400 `invalid_query_string`."
        ),
        parameters=[ListEventStreamsQuerySerializer],
        responses={200: EventStreamListDoc, **errors(400, 401, 403, 429)},
    )
    def get(self, request: Request) -> Response:
        query = validate_query(ListEventStreamsQuerySerializer, request.query_params)
        take = query.get("take", DEFAULT_TAKE)
        streams = list_event_streams()
        if query.get("from"):
            streams = streams.filter(_from_stream(query["from"]))
        rows = list(streams[: take + 1])
        body: dict[str, Any] = {"eventStreams": [event_stream_as_json(stream) for stream in rows[:take]]}
        if len(rows) > take:
            body["next"] = rows[take].id
        return Response(body)


def _from_stream(stream_id: str) -> Q:
    """The streams from ``stream_id`` on (inclusive), in the list's order (``created_at``, then ``id``)."""
    anchor = EventStream.objects.filter(pk=stream_id).values_list("created_at", flat=True).first()
    if anchor is None:
        raise _unknown_from()
    return Q(created_at__gt=anchor) | Q(created_at=anchor, id__gte=stream_id)


def _unknown_from() -> QueryValidationError:
    message = _("The from parameter names no item of this list")
    error = FieldError("from", FieldCode.ENUM_MISMATCH, message)
    return QueryValidationError(messages.validation_error("Query", message, "from"), errors=[error])


class EventStreamDetailView(ManagementAPIView):
    required_scopes = {"GET": READ, "PATCH": UPDATE, "DELETE": DELETE}

    @extend_schema(
        operation_id="get_event-streams_by_id",
        summary="Get an event stream by ID",
        parameters=[_STREAM_ID],
        responses={200: EventStreamDoc, **errors(401, 403, 404, 429)},
    )
    def get(self, request: Request, stream_id: str) -> Response:
        return Response(event_stream_as_json(get_event_stream(stream_id)))

    @extend_schema(
        operation_id="patch_event-streams_by_id",
        summary="Update an event stream",
        description=(
            "Changes the properties sent; `{}` changes nothing. A `destination` replaces the endpoint and the "
            "authorization; the token (bearer) or password (basic) may be left out to keep the stored one while the "
            "method stays the same. `status: enabled` re-enables a stream the service disabled after failures, "
            "unless it still holds `EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES` (5000) failed deliveries: 400 "
            "`too_many_failed_deliveries` (Auth0's rule; redeliver them first). A stream whose stored secrets the "
            "service can no longer decrypt (its `SECRET_KEY` changed without the old one among the fallbacks) is "
            "disabled by the worker, its deliveries kept pending; enabling it needs the `webhook_authorization` "
            "with its secret again (else 400 `event_stream_secret_unreadable`), and the answer that replaces the "
            "authorization then carries a new `signing_secret`, once."
        ),
        parameters=[_STREAM_ID],
        request=UpdateEventStreamRequestSerializer,
        responses={200: UpdatedEventStreamDoc, **errors(400, 401, 403, 404, 429, *BODY_ERRORS)},
    )
    def patch(self, request: Request, stream_id: str) -> Response:
        data = validate_payload(UpdateEventStreamRequestSerializer, request.data)
        actor = client_actor(request)
        changes: dict[str, Any] = {}
        if "name" in data:
            changes["name"] = data["name"]
        if "subscriptions" in data:
            changes["subscriptions"] = [item["event_type"] for item in data["subscriptions"]]
        if "status" in data:
            changes["status"] = data["status"]
        current: EventStream | None = None
        with transaction.atomic():
            if "destination" in data:
                # Locked first, so a secret kept from it is the one the update replaces, not a concurrent one.
                current = EventStream.objects.select_for_update().filter(pk=stream_id).first()
                if current is None:
                    raise EventStreamNotFound()
                configuration = data["destination"]["configuration"]
                changes["webhook_endpoint"] = configuration["webhook_endpoint"]
                changes["authorization"] = _authorization(configuration["webhook_authorization"], current=current)
            stream = update_event_stream(stream_id=stream_id, **changes, actor=actor)
            fields = sorted("destination" if key in ("webhook_endpoint", "authorization") else key for key in changes)
            _audit("Update an Event Stream", stream.id, actor, fields=sorted(set(fields)))
        body = event_stream_as_json(stream)
        if current is not None and stream.signing_secret_encrypted != current.signing_secret_encrypted:
            body["signing_secret"] = signing_secret(stream)  # a new one, in place of one no key opened: shown once
        return Response(body)

    @extend_schema(
        operation_id="delete_event-streams_by_id",
        summary="Delete an event stream",
        description="The stream and its deliveries; events other streams still owe stay.",
        parameters=[_STREAM_ID],
        responses={204: OpenApiResponse(description="The event stream was deleted."), **errors(401, 403, 404, 429)},
    )
    def delete(self, request: Request, stream_id: str) -> Response:
        actor = client_actor(request)
        with transaction.atomic():
            delete_event_stream(stream_id=stream_id, actor=actor)
            _audit("Delete an Event Stream", stream_id, actor)
        return Response(status=204)


class EventStreamTestView(ManagementAPIView):
    required_scopes = {"POST": UPDATE}

    @extend_schema(
        operation_id="post_test_event",
        summary="Send a test event to an event stream",
        description=(
            "Queues one event of `event_type` for this stream only (`a0purpose: test`), carrying `data` when given "
            '(`{"object": …}`), else a sample user profile; the answer is its delivery, pending. A disabled stream '
            "is 400 `event_stream_disabled` (Auth0 sends nothing to disabled streams)."
        ),
        parameters=[_STREAM_ID],
        request=CreateTestEventRequestSerializer,
        responses={202: DeliveryDoc, **errors(400, 401, 403, 404, 429, *BODY_ERRORS)},
    )
    def post(self, request: Request, stream_id: str) -> Response:
        data = validate_payload(CreateTestEventRequestSerializer, request.data)
        actor = client_actor(request)
        with transaction.atomic():
            delivery = send_test_event(
                stream_id=stream_id, event_type=data["event_type"], data=data.get("data"), actor=actor
            )
            _audit(
                "Send a Test Event to an Event Stream",
                stream_id,
                actor,
                event_id=delivery.event_id,
                event_type=delivery.event_type,
            )
        return Response(delivery_as_json(get_delivery(stream_id=stream_id, event_id=delivery.event_id)), status=202)


class DeliveryCollectionView(ManagementAPIView):
    required_scopes = {"GET": LIST_DELIVERIES}

    @extend_schema(
        operation_id="get_event_deliveries",
        summary="Get this event stream's delivery history",
        description=(
            "As on Auth0, the **failed** deliveries unless `statuses` names others (`failed`, and ours: `pending`, "
            "`delivered`); `event_types` and the event's time (`date_from` inclusive, `date_to` exclusive, "
            "`YYYY-MM-DDTHH:MM:SSZ`) narrow them. In the order they were queued, by checkpoint: up to `take` "
            "(default 50, at most 100) and `next`, the `from` of the following page. A `from` that is no delivery "
            "of this stream is 400 `invalid_query_string`."
        ),
        parameters=[ListDeliveriesQuerySerializer, _STREAM_ID],
        responses={200: DeliveryListDoc, **errors(400, 401, 403, 404, 429)},
    )
    def get(self, request: Request, stream_id: str) -> Response:
        query = validate_query(ListDeliveriesQuerySerializer, request.query_params)
        try:
            page = list_deliveries(
                stream_id=stream_id,
                statuses=query.get("statuses") or DEFAULT_DELIVERY_STATUSES,
                event_types=query.get("event_types") or None,
                date_from=query.get("date_from"),
                date_to=query.get("date_to"),
                from_event_id=query.get("from") or None,
                take=query.get("take", DEFAULT_TAKE),
            )
        except DeliveryNotFound:
            raise _unknown_from() from None
        body: dict[str, Any] = {"deliveries": [delivery_as_json(delivery) for delivery in page.deliveries]}
        if page.next is not None:
            body["next"] = page.next
        return Response(body)


class DeliveryDetailView(ManagementAPIView):
    required_scopes = {"GET": READ_DELIVERY}

    @extend_schema(
        operation_id="get_deliveries_by_event_id",
        summary="Get a specific event's delivery history",
        parameters=[_STREAM_ID, _EVENT_ID],
        responses={200: DeliveryDoc, **errors(401, 403, 404, 429)},
    )
    def get(self, request: Request, stream_id: str, event_id: str) -> Response:
        return Response(delivery_as_json(get_delivery(stream_id=stream_id, event_id=event_id)))


class RedeliveryView(ManagementAPIView):
    required_scopes = {"POST": REDELIVER}

    @extend_schema(
        operation_id="post_redeliver",
        summary="Redeliver failed events",
        description=(
            "Queues again the stream's deliveries that match every filter given: `statuses` (default `failed`; "
            "`delivered` ones may be sent again too; pending ones are already queued), `event_types`, and the "
            "event's time (`date_from` inclusive, `date_to` exclusive, `YYYY-MM-DDTHH:MM:SSZ`). Answers the filters. "
            "A disabled stream takes redeliveries too: they are sent once it is enabled again."
        ),
        parameters=[_STREAM_ID],
        request=RedeliveryRequestSerializer,
        responses={202: RedeliveryDoc, **errors(400, 401, 403, 404, 429, *BODY_ERRORS)},
    )
    def post(self, request: Request, stream_id: str) -> Response:
        data = validate_payload(RedeliveryRequestSerializer, request.data)
        actor = client_actor(request)
        with transaction.atomic():
            count = redeliver(stream_id=stream_id, **data, actor=actor)
            _audit("Redeliver Failed Events", stream_id, actor, redelivered=count)
        body: dict[str, Any] = {key: value for key, value in data.items() if key in ("statuses", "event_types")}
        for key in ("date_from", "date_to"):
            if key in data:
                # Four digits of year, as sent: strftime's %Y writes the year 1 as "1" on glibc, no date-time.
                body[key] = f"{data[key].year:04d}-{data[key]:%m-%dT%H:%M:%S}Z"
        return Response(body, status=202)


class RedeliveryByIdView(ManagementAPIView):
    required_scopes = {"POST": REDELIVER}

    @extend_schema(
        operation_id="post_redeliver_by_event_id",
        summary="Redeliver a single failed event by ID",
        description="Queues the event's delivery on this stream again (a pending one is left as it is). No body.",
        parameters=[_STREAM_ID, _EVENT_ID],
        request=None,
        responses={
            202: OpenApiResponse(description="Redelivery request accepted."),
            **errors(400, 401, 403, 404, 429),
        },
    )
    def post(self, request: Request, stream_id: str, event_id: str) -> Response:
        actor = client_actor(request)
        with transaction.atomic():
            redeliver(stream_id=stream_id, event_ids=[event_id], actor=actor)
            _audit("Redeliver a Single Failed Event by ID", stream_id, actor, event_id=event_id)
        return Response(status=202)
