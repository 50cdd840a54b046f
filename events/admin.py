"""Event streams in the admin: read-only views of the streams (never their secrets), their deliveries and every
attempt, to follow what was sent and why it failed. Streams are managed through the API."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from events.models import Delivery, DeliveryAttempt, EventStream


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(EventStream)
class EventStreamAdmin(_ReadOnly):
    list_display = ("id", "name", "status", "disabled_reason", "webhook_endpoint", "consecutive_failures", "created_at")
    list_filter = ("status", "disabled_reason")
    search_fields = ("id", "name", "webhook_endpoint")
    # The encrypted secrets are left out: nothing in the admin needs them, even encrypted.
    fields = (
        "id",
        "name",
        "status",
        "disabled_reason",
        "subscriptions",
        "destination_type",
        "webhook_endpoint",
        "authorization_method",
        "authorization_username",
        "consecutive_failures",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("timestamp", "status", "http_status", "duration_ms", "error_message")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    list_display = ("event_id", "stream", "event_type", "subject", "status", "attempt_count", "next_attempt_at")
    list_filter = ("status", "event_type")
    search_fields = ("event__id", "subject", "stream__id")
    list_select_related = ("stream",)
    inlines = (DeliveryAttemptInline,)
    fields = (
        "event",
        "stream",
        "event_type",
        "subject",
        "status",
        "attempt_count",
        "next_attempt_at",
        "claimed_until",
        "claimed_by",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
    )
    readonly_fields = fields
