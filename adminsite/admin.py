"""Operators' accounts under their own name, and the audit log as one readable line per event.

The audit log's list is registered here rather than in ``audit`` because each line links to the user and the client
it names, which live in apps above ``audit``; a page of events looks them up in two queries (``_EventChangeList``).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.contrib.auth import admin as auth_admin  # registers auth's User and Group first, so they can be replaced
from django.contrib.auth.models import Group
from django.contrib.auth.models import User as OperatorAccount
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from adminsite.event_text import actor_kind_label, describe
from adminsite.models import Operator, OperatorGroup
from audit.models import Event
from clients.models import Client
from users.models import User

admin.site.unregister(OperatorAccount)
admin.site.unregister(Group)


@admin.register(Operator)
class OperatorAdmin(auth_admin.UserAdmin):
    """Django's user admin for the operators' own sign-in accounts."""


@admin.register(OperatorGroup)
class OperatorGroupAdmin(auth_admin.GroupAdmin):
    """Django's group admin for sets of operators' permissions."""


def _fill(template: str, **values: str) -> SafeString:
    """A translated phrase with its ``%(name)s`` places filled: the phrase and plain values escaped, HTML values
    (links built with ``format_html``) kept."""
    return mark_safe(conditional_escape(template) % {k: conditional_escape(v) for k, v in values.items()})  # noqa: S308


class ActorKindFilter(admin.SimpleListFilter):
    title = _("actor kind")
    parameter_name = "actor_kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(kind, str(actor_kind_label(kind))) for kind in ("client", "admin", "system", "anonymous")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        return queryset.filter(actor_kind=self.value()) if self.value() else queryset


class _EventChangeList(ChangeList):
    """A page of events with, on each, the admin page of its user (``_user_pk``) and its client's name
    (``_client_name``): one query for the page's users and one for its clients."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        events = list(self.result_list)
        user_ids = {e.user_id for e in events if e.user_id}
        client_ids = {e.actor_id for e in events if e.actor_kind == "client"}
        users = dict(User.objects.filter(user_id__in=user_ids).values_list("user_id", "pk")) if user_ids else {}
        clients = dict(Client.objects.filter(pk__in=client_ids).values_list("pk", "name")) if client_ids else {}
        for event in events:
            event._user_pk = users.get(event.user_id)
            event._client_name = clients.get(event.actor_id)
        self.result_list = events


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The audit log: read-only; each event one line saying what happened, to whom, where and by whom."""

    list_display = ("date", "line")
    list_display_links = None
    list_filter = ("type", ActorKindFilter, "connection")
    search_fields = ("user_id", "user_name", "actor_id", "description", "log_id")
    date_hierarchy = "date"
    readonly_fields = [f.name for f in Event._meta.fields]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _EventChangeList

    @admin.display(description=_("event"))
    def line(self, event: Event) -> SafeString:
        """``Type: description · user · in connection · by actor · from IP · details``, each part linked where it can
        be (the user's and the client's admin pages), every word in the operator's language."""
        parts = [
            format_html('<span class="event-type">{}</span>: {}', event.get_type_display(), describe(event.description))
        ]
        who = event.user_name or event.user_id
        if who:
            pk = getattr(event, "_user_pk", None)
            if pk is None:  # a deleted user, or one never created (a refused sign-up)
                parts.append(format_html("{}", who))
            else:
                parts.append(format_html('<a href="{}">{}</a>', reverse("admin:users_user_change", args=[pk]), who))
        if event.connection:
            parts.append(_fill(gettext("in %(connection)s"), connection=event.connection))
        parts.append(self._actor(event))
        if event.ip:
            parts.append(_fill(gettext("from %(ip)s"), ip=event.ip))
        parts.append(
            format_html('<a href="{}">{}</a>', reverse("admin:audit_event_change", args=[event.pk]), gettext("details"))
        )
        return format_html('<span class="event-line">{}</span>', format_html_join(" · ", "{}", ((p,) for p in parts)))

    def _actor(self, event: Event) -> SafeString:
        if event.actor_kind == "client":
            name = getattr(event, "_client_name", None) or event.actor_id
            link = format_html(
                '<a href="{}">{}</a>', reverse("admin:clients_client_change", args=[event.actor_id]), name
            )
            return _fill(gettext("by client %(client)s"), client=link)
        if event.actor_kind == "admin":
            return _fill(gettext("by operator %(operator)s"), operator=event.actor_id)
        if event.actor_kind == "system":
            return _fill(gettext("by the system"))
        return _fill(gettext("by an anonymous caller"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Event | None = None) -> bool:
        return False
