"""Errors raised by the events app: stable codes, messages in Auth0's words where it has them."""

from __future__ import annotations

from enum import StrEnum

from django.utils.translation import gettext_lazy as _

from core.errors import DomainError, ErrorCode, FieldCode, FieldError

AUTHORIZATION_FIELD = "destination.configuration.webhook_authorization"


class EventStreamErrorCode(StrEnum):
    """The codes this app answers with: ``errorCode`` values and its own field codes."""

    INVALID_BODY = ErrorCode.INVALID_BODY
    INEXISTENT_EVENT_STREAM = "inexistent_event_stream"
    INEXISTENT_DELIVERY = "inexistent_delivery"
    EVENT_STREAM_DISABLED = "event_stream_disabled"
    TOO_MANY_FAILED_DELIVERIES = "too_many_failed_deliveries"
    SECRET_UNREADABLE = "event_stream_secret_unreadable"  # noqa: S105 (an error code, not a secret)
    # Field code of ``destination.configuration.webhook_endpoint``: not https, or not a public address.
    INSECURE_ENDPOINT = "INSECURE_ENDPOINT"


class EventStreamNotFound(DomainError):
    status = 404
    code = EventStreamErrorCode.INEXISTENT_EVENT_STREAM
    default_message = _("The event stream does not exist")


class DeliveryNotFound(DomainError):
    status = 404
    code = EventStreamErrorCode.INEXISTENT_DELIVERY
    default_message = _("The delivery does not exist")


class EventStreamDisabled(DomainError):
    """A test event for a disabled stream: Auth0 "does not support sending events to disabled event streams"
    (Event Testing, Observability, and Failure Recovery)."""

    status = 400
    code = EventStreamErrorCode.EVENT_STREAM_DISABLED
    default_message = _("The event stream is disabled: enable it to send events to it")


class TooManyFailedDeliveries(DomainError):
    """Enabling a stream that holds ``EVENT_STREAMS_DISABLE_AFTER_TOTAL_FAILURES`` failed deliveries or more: Auth0
    "cannot be manually re-enabled until the total failure count drops below 5000" (Event Testing, Observability,
    and Failure Recovery). Redelivering them (allowed while disabled) lowers the count."""

    status = 400
    code = EventStreamErrorCode.TOO_MANY_FAILED_DELIVERIES
    default_message = _(
        "The event stream has too many failed deliveries to be enabled: redeliver them first, then enable it"
    )


class EventStreamSecretUnreadable(DomainError):
    """Enabling a stream whose stored webhook authorization or signing secret no configured key opens (the
    ``SECRET_KEY`` changed without the old key in ``SECRET_KEY_FALLBACKS``): it could send nothing. The PATCH that
    sends ``webhook_authorization`` with its secret again (and enables the stream, or precedes the enable) mends it
    (``events.services.update_event_stream``)."""

    status = 400
    code = EventStreamErrorCode.SECRET_UNREADABLE
    default_message = _(
        "The event stream's stored webhook authorization can no longer be decrypted (the service's secret key "
        "changed): send destination.configuration.webhook_authorization with its token or password to enable it"
    )

    def __init__(self) -> None:
        super().__init__()
        self.errors = [FieldError(AUTHORIZATION_FIELD, FieldCode.OBJECT_MISSING_REQUIRED_PROPERTY, self.message)]


class InvalidWebhookEndpoint(DomainError):
    """A webhook endpoint refused by ``events.endpoints.check_webhook_endpoint`` (400 ``invalid_body``, with a
    field error on ``destination.configuration.webhook_endpoint``)."""

    status = 400
    code = ErrorCode.INVALID_BODY
    default_message = _("The webhook endpoint is not allowed")


class UnsafeDestination(Exception):
    """At delivery time: the endpoint resolved or connected to an address that is not allowed (an attempt's
    error, never an HTTP answer of ours)."""
