"""Event streams and their deliveries in the admin: what each stream sends where, how its deliveries went.

Streams are created and changed through the management API (``/api/v2/event-streams``), whose schema and endpoint
check the admin would otherwise have to repeat; here they are listed and read, and *Enable*/*Disable* go through
``events.services.update_event_stream`` with an audit row, as the API's writes do. No secret is ever shown: the
encrypted token or password and the signing secret are not among the fields, and the authorization shows only its
method and username. The pages that list deliveries fan out the outbox's committed events first (``events.fanout``),
as the API does. *Pending events* lists the outbox's rows not fanned out yet, those the fan-out held among them
(their events could not be made), releases held ones once their cause is fixed, and discards (deletes, audited, after
a confirmation page) held ones that can never succeed. Django's own delete stays off: it would delete waiting rows
too, whose events are owed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.actors import admin_actor
from core.admin_lookups import HiddenFieldLookups
from core.errors import DomainError
from events.audit import record_stream_write
from events.fanout import fan_out
from events.models import Delivery, DeliveryAttempt, EventStream, EventStreamStatus, PendingEvents, listed_stream_ids
from events.services import discard_held_events, release_held_events, update_event_stream


def _latency(attempt: DeliveryAttempt) -> str:
    return "" if attempt.duration_ms is None else f"{attempt.duration_ms:.0f} ms"


class _ReadOnly:
    """Nothing added, changed or deleted from these pages."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DeliveryInline(_ReadOnly, admin.TabularInline):
    model = Delivery
    fields = ("event", "event_type", "status", "attempt_count", "last_status_code", "last_latency", "updated_at")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    max_num = 0
    show_change_link = True
    verbose_name_plural = _("deliveries (newest first)")

    @admin.display(description=_("last latency"))
    def last_latency(self, delivery: Delivery) -> str:
        attempt = delivery.attempts.order_by("-id").first()
        return "" if attempt is None else _latency(attempt)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        # The newest 50: a stream's history can be long, the Deliveries page has the rest.
        queryset = super().get_queryset(request)
        newest = list(queryset.order_by("-id").values_list("pk", flat=True)[:50])
        return queryset.filter(pk__in=newest)


@admin.register(EventStream)
class EventStreamAdmin(HiddenFieldLookups, _ReadOnly, admin.ModelAdmin):
    hidden_lookups = ("authorization_secret_encrypted", "signing_secret_encrypted")
    list_display = (
        "name",
        "id",
        "status",
        "disabled_reason",
        "endpoint_host",
        "event_type_list",
        "consecutive_failures",
        "failed_deliveries",
        "created_at",
    )
    list_filter = ("status", "disabled_reason")
    search_fields = ("id", "name", "webhook_endpoint")
    # Every field but the encrypted secrets.
    fields = (
        "id",
        "name",
        "status",
        "disabled_reason",
        "event_type_list",
        "destination_type",
        "webhook_endpoint",
        "authorization",
        "consecutive_failures",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = (DeliveryInline,)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        fan_out()
        return super().change_view(request, object_id, form_url, extra_context)

    actions = ("enable", "disable")

    def has_status_permission(self, request: HttpRequest) -> bool:
        """Enable/Disable: the operator's change permission on event streams (the pages stay read-only)."""
        return request.user.has_perm("events.change_eventstream")

    @admin.display(description=_("endpoint host"))
    def endpoint_host(self, stream: EventStream) -> str:
        try:
            return urlsplit(stream.webhook_endpoint).netloc
        except ValueError:
            return stream.webhook_endpoint

    @admin.display(description=_("subscriptions"))
    def event_type_list(self, stream: EventStream) -> str:
        return ", ".join(stream.event_types)

    @admin.display(description=_("authorization"))
    def authorization(self, stream: EventStream) -> str:
        if stream.authorization_username:
            return f"{stream.authorization_method} ({stream.authorization_username})"
        return stream.authorization_method

    @admin.display(description=_("failed deliveries"))
    def failed_deliveries(self, stream: EventStream) -> int:
        return stream.deliveries.filter(status="failed").count()

    @admin.action(description=_("Enable the selected event streams"), permissions=["status"])
    def enable(self, request: HttpRequest, queryset: QuerySet[EventStream]) -> None:
        self._set_status(request, queryset, EventStreamStatus.ENABLED)

    @admin.action(description=_("Disable the selected event streams"), permissions=["status"])
    def disable(self, request: HttpRequest, queryset: QuerySet[EventStream]) -> None:
        self._set_status(request, queryset, EventStreamStatus.DISABLED)

    def _set_status(self, request: HttpRequest, queryset: QuerySet[EventStream], status: str) -> None:
        actor = admin_actor(request)
        changed = 0
        for stream_id in queryset.values_list("pk", flat=True):
            try:
                with transaction.atomic():
                    update_event_stream(stream_id=stream_id, status=status, actor=actor)
                    record_stream_write("Update an Event Stream", stream_id=stream_id, actor=actor, fields=["status"])
            except DomainError as exc:  # e.g. too many failed deliveries to enable it (Auth0's rule)
                self.message_user(request, f"{stream_id}: {exc.message}", messages.ERROR)
                continue
            changed += 1
        if changed:
            message = ngettext(
                "%(count)d event stream set to %(status)s.", "%(count)d event streams set to %(status)s.", changed
            )
            self.message_user(request, message % {"count": changed, "status": status}, messages.SUCCESS)


class DeliveryAttemptInline(_ReadOnly, admin.TabularInline):
    model = DeliveryAttempt
    fields = ("timestamp", "status", "http_status", "latency", "error_message")
    readonly_fields = fields
    extra = 0
    max_num = 0

    @admin.display(description=_("latency"))
    def latency(self, attempt: DeliveryAttempt) -> str:
        return _latency(attempt)


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = (
        "event_id",
        "stream",
        "event_type",
        "subject",
        "status",
        "attempt_count",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
        "created_at",
    )
    list_filter = ("status", "event_type", "stream")
    search_fields = ("event__id", "subject", "stream__id", "stream__name")
    list_select_related = ("stream",)
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
        "updated_at",
        "delivered_at",
    )
    readonly_fields = fields
    inlines = (DeliveryAttemptInline,)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        fan_out()
        return super().changelist_view(request, extra_context)


class HeldFilter(admin.SimpleListFilter):
    title = _("held")
    parameter_name = "held"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Held")), ("no", _("Waiting"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PendingEvents]) -> QuerySet[PendingEvents]:
        if self.value() == "yes":
            return queryset.filter(held_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(held_at__isnull=True)
        return queryset


@admin.register(PendingEvents)
class PendingEventsAdmin(HiddenFieldLookups, _ReadOnly, admin.ModelAdmin):
    """The outbox's rows waiting for the fan-out; their events themselves (users' profiles) are not shown.

    *Release* needs ``events.change_pendingevents``, *Discard* ``events.delete_pendingevents``; Django's delete (the
    *Delete selected* action, the object's delete page) stays off for everyone, as on the other pages here: it would
    delete a waiting row as readily as a held one, without an audit row."""

    hidden_lookups = ("events", "render_args")  # users' e-mails and names

    list_display = ("id", "type", "time", "stream_list", "held_at", "held_reason")
    list_filter = (HeldFilter, "type")
    fields = ("id", "type", "source", "time", "purpose", "stream_list", "render", "held_at", "held_reason")
    readonly_fields = fields
    actions = ("release", "discard")

    def get_queryset(self, request: HttpRequest) -> QuerySet[PendingEvents]:
        return super().get_queryset(request).defer("events")  # megabytes per import batch

    def has_release_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("events.change_pendingevents")

    def has_discard_permission(self, request: HttpRequest) -> bool:
        """*Discard*: the operator's delete permission on pending events (Django's own delete stays off)."""
        return request.user.has_perm("events.delete_pendingevents")

    @admin.display(description=_("streams"))
    def stream_list(self, row: PendingEvents) -> str:
        return ", ".join(listed_stream_ids(row.stream_ids))

    @admin.action(description=_("Release the selected held rows (fan them out again)"), permissions=["release"])
    def release(self, request: HttpRequest, queryset: QuerySet[PendingEvents]) -> None:
        released = release_held_events(ids=list(queryset.values_list("pk", flat=True)), actor=admin_actor(request))
        message = ngettext("%(count)d held row released.", "%(count)d held rows released.", released)
        self.message_user(request, message % {"count": released}, messages.SUCCESS)

    @admin.action(description=_("Discard the selected held rows (their events are lost)"), permissions=["discard"])
    def discard(self, request: HttpRequest, queryset: QuerySet[PendingEvents]) -> HttpResponse | None:
        """First a confirmation page listing the selected held rows (as Django's *Delete selected* does), then, once
        confirmed, ``discard_held_events`` on the ids it listed: it deletes only those still held when it runs, so a
        row another operator released meanwhile stays, and is named. The ids are those posted, not the queryset's:
        the list's filter (*held: yes*) would leave a row released meanwhile out of it, unnamed."""
        if request.POST.get("post") == "yes":
            # Ids the key can hold: adminsite.sites.CheckedSelection answered any other post 400.
            ids = [int(pk) for pk in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)]
            outcome = discard_held_events(ids=ids, actor=admin_actor(request))
            if outcome.discarded:
                message = ngettext(
                    "%(count)d held row discarded: its events are lost.",
                    "%(count)d held rows discarded: their events are lost.",
                    len(outcome.discarded),
                )
                self.message_user(request, message % {"count": len(outcome.discarded)}, messages.SUCCESS)
            if outcome.not_held:
                message = gettext("Not discarded, not held (their events will be delivered): %(ids)s")
                self.message_user(request, message % {"ids": _id_list(outcome.not_held)}, messages.WARNING)
            if outcome.not_found:
                message = gettext("Not discarded, no longer there: %(ids)s")
                self.message_user(request, message % {"ids": _id_list(outcome.not_found)}, messages.WARNING)
            return None
        rows = list(queryset.defer("events", "render_args").order_by("pk"))
        held = [row for row in rows if row.held_at is not None]
        if not held:
            message = gettext("None of the selected rows is held: nothing to discard (their events will be delivered).")
            self.message_user(request, message, messages.WARNING)
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Discard held rows?"),
            "held": [(row, self.stream_list(row)) for row in held],
            "waiting": [row for row in rows if row.held_at is None],
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/events/pendingevents/discard_confirmation.html", context)


def _id_list(ids: list[int]) -> str:
    return ", ".join(str(pk) for pk in ids)
